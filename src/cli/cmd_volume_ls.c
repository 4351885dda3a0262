/* moat volume ls [-q] [--filter k=v] [--format T]: GET /volumes, Docker's
 * "DRIVER    VOLUME NAME" table or a Go template per volume. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static int cmp_name(const void *a, const void *b)
{
    struct json_object *x = *(struct json_object *const *)a, *y = *(struct json_object *const *)b;
    struct json_object *nx = NULL, *ny = NULL;
    json_object_object_get_ex(x, "Name", &nx);
    json_object_object_get_ex(y, "Name", &ny);
    const char *sx = nx ? json_object_get_string(nx) : "", *sy = ny ? json_object_get_string(ny) : "";
    return strcmp(sx ? sx : "", sy ? sy : "");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The --format view of a volume: its fields, Labels as "k=v,...", Label{} for {{.Label "k"}}. */
static struct json_object *row_of(struct json_object *v)
{
    struct json_object *row = json_object_new_object(), *x = NULL;
    static const char *const keys[] = {"Name", "Driver", "Scope", "Mountpoint", "CreatedAt"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *s = json_object_object_get_ex(v, keys[i], &x) ? json_object_get_string(x) : NULL;
        json_object_object_add(row, keys[i], json_object_new_string(s ? s : ""));
    }
    struct json_object *labels = NULL;
    char *text = xstrdup("");
    if (json_object_object_get_ex(v, "Labels", &labels) && json_object_is_type(labels, json_type_object)) {
        size_t n = (size_t)json_object_object_length(labels), i = 0;
        char **kv = xcalloc(n + 1, sizeof(char *));
        json_object_object_foreach(labels, k, lv) kv[i++] = xasprintf("%s=%s", k, lv ? json_object_get_string(lv) : "");
        qsort(kv, n, sizeof(char *), cmp_str);
        for (i = 0; i < n; i++) {
            char *t = xasprintf("%s%s%s", text, i ? "," : "", kv[i]);
            free(text);
            text = t;
        }
        moat_strv_free(kv);
        json_object_object_add(row, "Label", json_object_get(labels));
    } else {
        json_object_object_add(row, "Label", json_object_new_object());
    }
    json_object_object_add(row, "Labels", json_object_new_string(text));
    free(text);
    struct json_object *usage = NULL, *size = NULL, *refs = NULL;
    char sz[32] = "N/A", links[32] = "N/A";
    if (json_object_object_get_ex(v, "UsageData", &usage) && usage) {
        if (json_object_object_get_ex(usage, "Size", &size) && json_object_get_int64(size) >= 0)
            cli_human_size((uint64_t)json_object_get_int64(size), 3, sz, sizeof sz);
        if (json_object_object_get_ex(usage, "RefCount", &refs) && json_object_get_int64(refs) >= 0)
            snprintf(links, sizeof links, "%" PRId64, json_object_get_int64(refs));
    }
    json_object_object_add(row, "Size", json_object_new_string(sz));
    json_object_object_add(row, "Links", json_object_new_string(links));
    return row;
}

static struct json_object *header(void)
{
    struct json_object *h = json_object_new_object();
    static const char *const kv[][2] = {{"Name", "VOLUME NAME"}, {"Driver", "DRIVER"},   {"Scope", "SCOPE"},
                                        {"Mountpoint", "MOUNTPOINT"}, {"CreatedAt", "CREATED"}, {"Labels", "LABELS"},
                                        {"Size", "SIZE"},           {"Links", "LINKS"}};
    for (size_t i = 0; i < ARRAY_SIZE(kv); i++)
        json_object_object_add(h, kv[i][0], json_object_new_string(kv[i][1]));
    json_object_object_add(h, "Label", json_object_new_object());
    return h;
}

static int print_all(struct json_object **v, size_t n, const char *format, bool quiet, moat_error **err)
{
    const char *fmt = format ? format : quiet ? "{{.Name}}" : "table {{.Driver}}\t{{.Name}}";
    bool table = moat_str_has_prefix(fmt, "table");
    if (table)
        fmt += fmt[5] == ' ' ? 6 : 5;
    if (table && quiet)
        fmt = "{{.Name}}", table = false;
    char **lines = xcalloc(n + 2, sizeof(char *));
    size_t nl = 0;
    int rc = 0;
    if (table) {
        _cleanup_json_ struct json_object *h = header();
        if ((rc = cli_template_render(fmt, h, &lines[nl], err)) == 0)
            nl++;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_json_ struct json_object *row = row_of(v[i]);
        if ((rc = cli_template_render(fmt, row, &lines[nl], err)) == 0)
            nl++;
    }
    if (rc == 0 && table)
        ctr_print_tabbed(lines, nl, 10, stdout);
    else if (rc == 0)
        for (size_t i = 0; i < nl; i++)
            printf("%s\n", lines[i]);
    moat_strv_free(lines);
    return rc;
}

int cmd_volume_ls(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'}, {"filter", required_argument, NULL, 'f'},
                                         {"format", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --filter filter   Provide filter values (e.g. 'dangling=true')",
                                       "    --format string   Pretty-print volumes using a Go template",
                                       "-q, --quiet           Only display volume names", NULL};
    bool quiet = false;
    const char *format = NULL;
    _cleanup_strv_ char **filters = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":qf:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'q')
            quiet = true;
        else if (o == 'F')
            format = optarg;
        else if (o == 'f' && strchr(optarg, '='))
            moat_strv_push(&filters, optarg);
        else if (o == 'f')
            return moat_err(err, EINVAL, "bad format of filter (expected name=value)");
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *f = ctr_filters_query(filters);
    _cleanup_free_ char *path = f ? xasprintf("/volumes?filters=%s", f) : xstrdup("/volumes");
    _cleanup_json_ struct json_object *ans = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (ctr_get_json(cl, path, &status, &ans, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *vols = NULL, *warn = NULL;
    if (!ans || !json_object_object_get_ex(ans, "Volumes", &vols))
        return moat_err(err, EPROTO, "the daemon's volume list has no Volumes");
    size_t n = vols && json_object_is_type(vols, json_type_array) ? json_object_array_length(vols) : 0;
    _cleanup_free_ struct json_object **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_object_array_get_idx(vols, i);
    qsort(v, n, sizeof(*v), cmp_name);
    if (json_object_object_get_ex(ans, "Warnings", &warn) && json_object_is_type(warn, json_type_array))
        for (size_t i = 0; i < json_object_array_length(warn); i++)
            fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(warn, i)));
    return print_all(v, n, format, quiet, err) < 0 ? -1 : 0;
}
