/* moat image inspect [-f FORMAT] IMAGE [IMAGE...]: GET /images/{name}/json
 * for each, Docker's JSON array, or one line per image from a --format of
 * {{.Path.To.Field}} and {{json .Path}} actions.  (moat inspect, any object
 * with an image fallback, is cmd_ctr_inspect.c.) */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/img_api.h"
#include "moat/json.h"
#include "moat/util.h"

/* Go's fmt of a JSON value: strings raw, arrays "[a b]", objects "map[k:v]". */
static void go_print(struct json_object *v, char **out)
{
    char *add = NULL;
    if (!v) {
        add = xstrdup("<no value>");
    } else if (json_object_is_type(v, json_type_string)) {
        add = xstrdup(json_object_get_string(v));
    } else if (json_object_is_type(v, json_type_array)) {
        char *s = xstrdup("[");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            char *e = xstrdup("");
            go_print(json_object_array_get_idx(v, i), &e);
            char *t = xasprintf("%s%s%s", s, i ? " " : "", e);
            free(s);
            free(e);
            s = t;
        }
        add = xasprintf("%s]", s);
        free(s);
    } else if (json_object_is_type(v, json_type_object)) {
        char *s = xstrdup("map[");
        bool first = true;
        json_object_object_foreach(v, k, val)
        {
            char *e = xstrdup("");
            go_print(val, &e);
            char *t = xasprintf("%s%s%s:%s", s, first ? "" : " ", k, e);
            free(s);
            free(e);
            s = t;
            first = false;
        }
        add = xasprintf("%s]", s);
        free(s);
    } else if (json_object_is_type(v, json_type_null)) {
        add = xstrdup("<nil>");
    } else {
        add = xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
    char *t = xasprintf("%s%s", *out, add);
    free(*out);
    free(add);
    *out = t;
}

static struct json_object *walk(struct json_object *o, const char *path)
{
    _cleanup_free_ char *p = xstrdup(path);
    char *save = NULL;
    for (char *k = strtok_r(p, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        struct json_object *v = NULL;
        o = json_object_object_get_ex(o, k, &v) ? v : NULL;
    }
    return o;
}

static int render(const char *fmt, struct json_object *o, char **ret, moat_error **err)
{
    char *out = xstrdup("");
    for (const char *p = fmt; *p;) {
        const char *e = p[0] == '{' && p[1] == '{' ? strstr(p, "}}") : NULL;
        if (!e) {
            char *t = p[0] == '\\' && p[1] == 'n' ? xasprintf("%s\n", out) : xasprintf("%s%c", out, *p);
            p += p[0] == '\\' && p[1] == 'n' ? 2 : 1;
            free(out);
            out = t;
            continue;
        }
        _cleanup_free_ char *act = xstrndup(p + 2, (size_t)(e - p - 2));
        char *a = act;
        while (*a == ' ')
            a++;
        for (size_t n = strlen(a); n && a[n - 1] == ' '; n--)
            a[n - 1] = '\0';
        bool json = moat_str_has_prefix(a, "json ");
        if (json)
            for (a += 5; *a == ' '; a++)
                ;
        if (a[0] != '.') {
            free(out);
            return moat_err(err, EINVAL, "template: only {{.Field}} and {{json .Field}} are supported, not '{{%s}}'",
                            act);
        }
        struct json_object *v = a[1] ? walk(o, a + 1) : o;
        if (json) {
            _cleanup_free_ char *j = v ? moat_json_dump(v, false) : xstrdup("null");
            char *t = xasprintf("%s%s", out, j);
            free(out);
            out = t;
        } else {
            go_print(v, &out);
        }
        p = e + 2;
    }
    *ret = out;
    return 0;
}

int cmd_image_inspect(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {"type", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --format string   Format output using {{.Field}} and {{json .Field}}", NULL};
    const char *format = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE [IMAGE...]", help);
        if (o == 'f')
            format = optarg;
        else if (o == 't') {
            if (strcmp(optarg, "image") != 0)
                return moat_err(err, EINVAL, "--type %s: only images exist yet", optarg);
        } else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *all = json_object_new_array();
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct json_object *j = NULL;
        moat_error *e = NULL;
        int st = 0;
        if (img_get_json(cl, argv[i], "/json", &st, &j, &e) < 0) {
            if (st != 404) {
                *err = e;
                return -1;
            }
            fprintf(stderr, "moat: Error: No such image: %s\n", argv[i]);
            moat_error_free(e);
            status = 1;
            continue;
        }
        if (format) {
            _cleanup_free_ char *line = NULL;
            int r = render(format, j, &line, err);
            json_object_put(j);
            if (r < 0)
                return -1;
            printf("%s\n", line);
        } else {
            json_object_array_add(all, j);
        }
    }
    if (!format) {
        _cleanup_free_ char *text = json_object_array_length(all) ? moat_json_dump(all, true) : xstrdup("[]");
        printf("%s\n", text);
    }
    return status;
}
