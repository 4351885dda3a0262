/* moat ps / moat container ls [OPTIONS]: GET /containers/json, Docker's table
 * or a --format template per container. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const usage_text = "[OPTIONS]";
static const char *const option_help[] = {
    "-a, --all             Show all containers (default shows just running)",
    "-f, --filter filter   Filter output based on conditions provided",
    "    --format string   Pretty-print containers using a Go template",
    "-n, --last int        Show n last created containers (includes all states) (default -1)",
    "-l, --latest          Show the latest created container (includes all states)",
    "    --no-trunc        Don't truncate output",
    "-q, --quiet           Only display container IDs",
    "-s, --size            Display total file sizes",
    NULL};

struct ps_opts {
    bool all, latest, no_trunc, quiet, size;
    int64_t last;
    const char *format;
    char **filters;
};

static int parse(struct cli *c, int argc, char **argv, struct ps_opts *o, moat_error **err)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},       {"filter", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'}, {"last", required_argument, NULL, 'n'},
        {"latest", no_argument, NULL, 'l'},    {"no-trunc", no_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},     {"size", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, ":af:n:lqsh", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            return cli_help(c, usage_text, option_help) == 0 ? 1 : -1;
        case 'a':
            o->all = true;
            break;
        case 'f':
            if (!strchr(optarg, '='))
                return moat_err(err, EINVAL, "bad format of filter (expected name=value)");
            moat_strv_push(&o->filters, optarg);
            break;
        case 'F':
            o->format = optarg;
            break;
        case 'n':
            if (moat_parse_i64(optarg, &o->last) < 0)
                return moat_err(err, EINVAL, "invalid argument \"%s\" for \"-n, --last\" flag: strconv.ParseInt: "
                                             "parsing \"%s\": invalid syntax", optarg, optarg);
            break;
        case 'l':
            o->latest = true;
            break;
        case 'T':
            o->no_trunc = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 's':
            o->size = true;
            break;
        default:
            return cli_flag_error(c, ch, argv, err);
        }
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    return 0;
}

static char *list_path(const struct ps_opts *o)
{
    int64_t last = o->last;
    if (o->latest && last == -1)
        last = 1;
    bool size = o->size || (o->format && strstr(o->format, ".Size"));
    _cleanup_free_ char *f = ctr_filters_query(o->filters);
    char *q = xstrdup("");
    if (o->all) {
        char *t = xasprintf("%s&all=1", q);
        free(q);
        q = t;
    }
    if (last != -1) {
        char *t = xasprintf("%s&limit=%" PRId64, q, last);
        free(q);
        q = t;
    }
    if (size) {
        char *t = xasprintf("%s&size=1", q);
        free(q);
        q = t;
    }
    if (f) {
        char *t = xasprintf("%s&filters=%s", q, f);
        free(q);
        q = t;
    }
    char *path = xasprintf("/containers/json%s%s", *q ? "?" : "", *q ? q + 1 : "");
    free(q);
    return path;
}

/* The template for a row, and whether it is a table (headers, tabwriter). */
static const char *row_format(const struct ps_opts *o, bool *table)
{
    *table = true;
    if (o->format) {
        *table = moat_str_has_prefix(o->format, "table");
        if (!*table)
            return o->format;
        const char *t = o->format + 5;
        return *t == ' ' ? t + 1 : t;
    }
    if (o->quiet)
        return NULL;
    return o->size ? "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
                   : "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
}

static int print_rows(const struct ps_opts *o, struct json_object *list, moat_error **err)
{
    bool table;
    const char *fmt = row_format(o, &table);
    int64_t now = (int64_t)time(NULL);
    size_t n = json_object_array_length(list);
    if (!fmt) { /* -q */
        for (size_t i = 0; i < n; i++) {
            _cleanup_json_ struct json_object *row = cli_ps_row(json_object_array_get_idx(list, i), !o->no_trunc, now);
            printf("%s\n", json_object_get_string(json_object_object_get(row, "ID")));
        }
        return 0;
    }
    char **lines = xcalloc(n + 2, sizeof(char *));
    size_t nl = 0;
    int rc = 0;
    if (table) {
        _cleanup_json_ struct json_object *h = cli_ps_header();
        rc = cli_template_render(fmt, h, &lines[nl], err);
        if (rc == 0)
            nl++;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_json_ struct json_object *row = cli_ps_row(json_object_array_get_idx(list, i), !o->no_trunc, now);
        if ((rc = cli_template_render(fmt, row, &lines[nl], err)) == 0)
            nl++;
    }
    if (rc == 0 && table && !o->quiet)
        ctr_print_tabbed(lines, nl, 10, stdout);
    else if (rc == 0)
        for (size_t i = table ? 1 : 0; i < nl; i++)
            printf("%s\n", lines[i]);
    moat_strv_free(lines);
    return rc;
}

int cmd_ps(struct cli *c, int argc, char **argv, moat_error **err)
{
    struct ps_opts o = {.last = -1};
    int rc = parse(c, argc, argv, &o, err);
    if (rc != 0) {
        moat_strv_free(o.filters);
        return rc < 0 ? -1 : 0;
    }
    struct moat_client *cl;
    _cleanup_free_ char *path = list_path(&o);
    moat_strv_free(o.filters);
    o.filters = NULL;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *list = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (ctr_get_json(cl, path, &status, &list, &e) < 0)
        return ctr_fail(status, &e, err);
    if (!list || !json_object_is_type(list, json_type_array))
        return moat_err(err, EPROTO, "the daemon's container list is not a JSON array");
    /* -q with a --format: Docker's --quiet wins only without --format */
    if (o.quiet && o.format)
        o.quiet = false;
    return print_rows(&o, list, err) < 0 ? -1 : 0;
}
