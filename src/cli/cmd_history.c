/* moat history / moat image history [OPTIONS] IMAGE: GET /images/{name}/history. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/img_api.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

static int64_t int_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* Go's time.Unix(t, 0).Format(time.RFC3339), in local time. */
static void rfc3339(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm)) {
        snprintf(buf, len, "%" PRId64, t);
        return;
    }
    char base[40];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    if (off == 0)
        snprintf(buf, len, "%sZ", base);
    else
        snprintf(buf, len, "%s%c%02ld:%02ld", base, off < 0 ? '-' : '+', (off < 0 ? -off : off) / 3600,
                 ((off < 0 ? -off : off) % 3600) / 60);
}

/* A bool flag's optional value, as Go's strconv.ParseBool (-H, -H=false,
 * --human=0): NULL is true; -1 for anything else. */
static int parse_bool_flag(const char *v, bool *ret)
{
    if (!v) {
        *ret = true;
        return 0;
    }
    if (*v == '=') /* -H=false: getopt leaves the '=' of a short option's value */
        v++;
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (!strcmp(v, yes[i])) {
            *ret = true;
            return 0;
        }
        if (!strcmp(v, no[i])) {
            *ret = false;
            return 0;
        }
    }
    return -1;
}

int cmd_history(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"human", optional_argument, NULL, 'H'}, {"no-trunc", no_argument, NULL, 'n'},
                                         {"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-H, --human      Print sizes and dates in human readable format (default true)",
                                       "    --no-trunc   Don't truncate output",
                                       "-q, --quiet      Only show image IDs", NULL};
    bool human = true, no_trunc = false, quiet = false;
    int o;
    while ((o = getopt_long(argc, argv, ":H::qh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE", help);
        if (o == 'H') {
            if (parse_bool_flag(optarg, &human) < 0)
                return moat_err(err, EINVAL,
                                "invalid argument \"%s\" for \"-H, --human\" flag: strconv.ParseBool: parsing \"%s\": "
                                "invalid syntax",
                                optarg + (*optarg == '='), optarg + (*optarg == '='));
        } else if (o == 'n')
            no_trunc = true;
        else if (o == 'q')
            quiet = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    struct moat_client *cl;
    _cleanup_json_ struct json_object *a = NULL;
    int status = 0;
    if (cli_client(c, &cl, err) < 0 || img_get_json(cl, argv[optind], "/history", &status, &a, err) < 0)
        return -1;
    if (!a || !json_object_is_type(a, json_type_array))
        return moat_err(err, EPROTO, "history of %s: the daemon's answer is not a list", argv[optind]);
    struct cli_table t;
    cli_table_init(&t, 5, "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *row = json_object_array_get_idx(a, i);
        const char *rid = str_of(row, "Id");
        char id[80] = "<missing>", created[64], size[32];
        if (rid[0] && strcmp(rid, "<missing>") != 0) {
            if (no_trunc)
                snprintf(id, sizeof id, "%s", rid);
            else
                cli_short_id(rid, id);
        }
        if (quiet) {
            printf("%s\n", id);
            continue;
        }
        int64_t when = int_of(row, "Created"), sz = int_of(row, "Size");
        if (human) {
            cli_created_since(when, created, sizeof created);
            cli_human_size(sz > 0 ? (uint64_t)sz : 0, 3, size, sizeof size);
        } else {
            if (when)
                rfc3339(when, created, sizeof created);
            else
                created[0] = '\0';
            snprintf(size, sizeof size, "%" PRId64, sz);
        }
        char *by = xstrdup(str_of(row, "CreatedBy"));
        for (char *p = by; *p; p++)
            if (*p == '\t' || *p == '\n')
                *p = ' ';
        _cleanup_free_ char *shown = no_trunc ? xstrdup(by) : cli_ellipsis(by, 45);
        free(by);
        cli_table_row(&t, id, created, shown, size, str_of(row, "Comment"));
    }
    if (!quiet)
        cli_table_print(&t, stdout);
    cli_table_free(&t);
    return 0;
}
