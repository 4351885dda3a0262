/* moat events: GET /events (streamed newline-separated JSON), printed in
 * Docker's text line format or with --format. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

#define EVENT_LINE_MAX (1024 * 1024)

static const char *const events_help[] = {
    "-f, --filter filter     Filter output based on conditions provided",
    "    --format string     Format the output using the given Go template",
    "    --since string      Show all events created since timestamp",
    "    --until string      Stream events until this timestamp",
    NULL,
};

struct events_ctx {
    const char *format;
    char *line;
    size_t len;
    struct json_object *ev; /* the event being formatted */
    char scratch[64];
};

/* Go's rfc3339NanoFixed in local time: "2026-12-02T04:00:00.000000000Z". */
void cli_format_time_nano(int64_t ns, char *buf, size_t len)
{
    time_t s = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    struct tm tm;
    localtime_r(&s, &tm);
    char base[32], zone[48];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    if (off == 0)
        snprintf(zone, sizeof zone, "Z");
    else
        snprintf(zone, sizeof zone, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
    snprintf(buf, len, "%s.%09ld%s", base, frac, zone);
}

static const char *get_path(struct json_object *o, const char *key)
{
    _cleanup_free_ char *k = xstrdup(key);
    char *save = NULL;
    struct json_object *cur = o;
    for (char *part = strtok_r(k, ".", &save); part; part = strtok_r(NULL, ".", &save))
        if (!json_object_is_type(cur, json_type_object) || !json_object_object_get_ex(cur, part, &cur))
            return NULL;
    if (json_object_is_type(cur, json_type_null))
        return "";
    if (json_object_is_type(cur, json_type_string) || json_object_is_type(cur, json_type_int))
        return json_object_get_string(cur);
    return json_object_to_json_string_ext(cur, JSON_C_TO_STRING_PLAIN);
}

static const char *event_field(void *vctx, const char *key)
{
    struct events_ctx *x = vctx;
    if (!strcmp(key, "json .") || !strcmp(key, "json"))
        return json_object_to_json_string_ext(x->ev, JSON_C_TO_STRING_PLAIN);
    if (!strcmp(key, "ID"))
        key = "id";
    else if (!strcmp(key, "Status"))
        key = "status";
    else if (!strcmp(key, "From"))
        key = "from";
    else if (!strcmp(key, "Time"))
        key = "time";
    else if (!strcmp(key, "TimeNano"))
        key = "timeNano";
    else if (!strcmp(key, "Scope"))
        key = "scope";
    const char *v = get_path(x->ev, key);
    return v ? v : "";
}

static int attr_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Docker's text line: "<time> <type> <action> <actor id> (k=v, ...)". */
char *cli_event_line(struct json_object *ev)
{
    struct json_object *v, *actor = NULL, *attrs = NULL;
    int64_t ns = 0;
    if (json_object_object_get_ex(ev, "timeNano", &v))
        ns = json_object_get_int64(v);
    if (!ns && json_object_object_get_ex(ev, "time", &v))
        ns = json_object_get_int64(v) * 1000000000;
    char t[64] = "";
    if (ns)
        cli_format_time_nano(ns, t, sizeof t);
    const char *type = "", *action = "", *id = "";
    if (json_object_object_get_ex(ev, "Type", &v))
        type = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "Action", &v))
        action = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "Actor", &actor) && json_object_object_get_ex(actor, "ID", &v))
        id = json_object_get_string(v);
    char *line = xasprintf("%s%s%s %s %s", t, *t ? " " : "", type, action, id);
    if (actor && json_object_object_get_ex(actor, "Attributes", &attrs) &&
        json_object_is_type(attrs, json_type_object) && json_object_object_length(attrs)) {
        size_t n = (size_t)json_object_object_length(attrs), i = 0;
        char **kv = xcalloc(n + 1, sizeof *kv);
        json_object_object_foreach(attrs, k, av) kv[i++] = xasprintf("%s=%s", k, json_object_get_string(av));
        qsort(kv, i, sizeof *kv, attr_cmp);
        for (size_t j = 0; j < i; j++) {
            char *nl = xasprintf("%s%s%s%s", line, j ? ", " : " (", kv[j], j + 1 == i ? ")" : "");
            free(line);
            line = nl;
        }
        moat_strv_free(kv);
    }
    return line;
}

static int one_event(struct events_ctx *x, const char *text, size_t len)
{
    struct json_object *ev = NULL;
    moat_error *err = NULL;
    if (moat_json_parse(text, len, EVENT_LINE_MAX, "event", &ev, &err) < 0) {
        moat_error_free(err);
        return 0; /* Docker skips what it cannot decode */
    }
    char *out;
    if (x->format) {
        x->ev = ev;
        out = cli_format(x->format, event_field, x);
    } else {
        out = cli_event_line(ev);
    }
    printf("%s\n", out);
    fflush(stdout);
    free(out);
    json_object_put(ev);
    return 0;
}

static int events_data(void *ctx, const char *buf, size_t len)
{
    struct events_ctx *x = ctx;
    if (x->len + len > EVENT_LINE_MAX)
        return -1;
    x->line = xrealloc(x->line, x->len + len + 1);
    memcpy(x->line + x->len, buf, len);
    x->len += len;
    char *start = x->line, *nl;
    while ((nl = memchr(start, '\n', x->len - (size_t)(start - x->line)))) {
        if (nl > start)
            one_event(x, start, (size_t)(nl - start));
        start = nl + 1;
    }
    x->len -= (size_t)(start - x->line);
    memmove(x->line, start, x->len);
    return 0;
}

/* By key, then value: Go's encoding/json writes map keys sorted. */
static int filter_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t kx = strcspn(x, "="), ky = strcspn(y, "=");
    int c = strncmp(x, y, kx < ky ? kx : ky);
    if (c || kx == ky)
        return c ? c : strcmp(x + kx, y + ky);
    return kx < ky ? -1 : 1;
}

/* --filter k=v ... as {"k":{"v":true}} (sorted keys, like Go's json). */
char *cli_filters_json(char *const *in, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *f = json_object_new_object();
    _cleanup_strv_ char **filters = moat_strv_dup(in);
    qsort(filters, moat_strv_len(filters), sizeof *filters, filter_cmp);
    for (size_t i = 0; filters && filters[i]; i++) {
        const char *eq = strchr(filters[i], '=');
        if (!eq || eq == filters[i])
            return moat_err(err, EINVAL, "bad format of filter (expected name=value)"), NULL;
        _cleanup_free_ char *k = xstrndup(filters[i], (size_t)(eq - filters[i]));
        struct json_object *vals;
        if (!json_object_object_get_ex(f, k, &vals)) {
            vals = json_object_new_object();
            json_object_object_add(f, k, vals);
        }
        json_object_object_add(vals, eq + 1, json_object_new_boolean(true));
    }
    return xstrdup(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN));
}

int cmd_events(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
        {"since", required_argument, NULL, 'S'},  {"until", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'H'},         {NULL, 0, NULL, 0},
    };
    _cleanup_strv_ char **filters = NULL;
    const char *since = NULL, *until = NULL;
    struct events_ctx x = {0};
    int o;
    while ((o = getopt_long(argc, argv, ":f:", longopts, NULL)) != -1) {
        switch (o) {
        case 'f': moat_strv_push(&filters, optarg); break;
        case 'F': x.format = optarg; break;
        case 'S': since = optarg; break;
        case 'U': until = optarg; break;
        case 'H': return cli_help(c, "[OPTIONS]", events_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    _cleanup_free_ char *s = NULL, *u = NULL, *fj = NULL;
    if ((since && cli_parse_timestamp(since, &s, err) < 0) || (until && cli_parse_timestamp(until, &u, err) < 0))
        return -1;
    if (filters && !(fj = cli_filters_json(filters, err)))
        return -1;
    _cleanup_free_ char *ef = fj ? cli_query_escape(fj) : NULL;
    _cleanup_free_ char *es = s ? cli_query_escape(s) : NULL, *eu = u ? cli_query_escape(u) : NULL;
    _cleanup_free_ char *path = xasprintf("/events%s%s%s%s%s%s%s%s%s", ef || es || eu ? "?" : "",
                                          ef ? "filters=" : "", ef ? ef : "", ef && (es || eu) ? "&" : "",
                                          es ? "since=" : "", es ? es : "", es && eu ? "&" : "",
                                          eu ? "until=" : "", eu ? eu : "");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    int rc = moat_client_stream(cl, "GET", path, NULL, events_data, &x, NULL, err);
    free(x.line);
    if (rc < 0)
        return moat_client_wrap_error(cl, err);
    return 0;
}
