/* moat inspect [--type container|image|volume|network] [-f FORMAT] [-s] NAME...
 * and moat container inspect: Docker's lookup order (container, image,
 * network, volume), a JSON array indented by 4, or a Go template per object. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

enum { T_ANY, T_CONTAINER, T_IMAGE, T_NETWORK, T_VOLUME };

static const char *const kinds[] = {"object", "container", "image", "network", "volume"};

/* GET one object; 1 found, 0 not there (404), -1 error (printed as Docker's line when the daemon said it: rc 2). */
static int get_one(struct moat_client *cl, int type, const char *name, bool size, struct json_object **ret,
                   moat_error **err)
{
    _cleanup_free_ char *n = type == T_IMAGE ? ctr_penc(name) : ctr_qenc(name);
    _cleanup_free_ char *path = NULL;
    if (type == T_CONTAINER)
        path = xasprintf("/containers/%s/json%s", n, size ? "?size=1" : "");
    else if (type == T_IMAGE)
        path = xasprintf("/images/%s/json", n);
    else if (type == T_NETWORK)
        path = xasprintf("/networks/%s", n);
    else
        path = xasprintf("/volumes/%s", n);
    int status = 0;
    moat_error *e = NULL;
    if (ctr_get_json(cl, path, &status, ret, &e) == 0)
        return 1;
    if (status == 404 || (status == 400 && type == T_IMAGE)) { /* 400: not a valid reference */
        moat_error_free(e);
        return 0;
    }
    if (status >= 400) {
        ctr_fail(status, &e, err);
        return 2;
    }
    *err = e;
    return -1;
}

static int inspect(struct cli *c, int argc, char **argv, int type, moat_error **err)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {"type", required_argument, NULL, 't'},
                                         {"size", no_argument, NULL, 's'},         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --format string   Format the output using the given Go template",
                                       "-s, --size            Display total file sizes if the type is container",
                                       "    --type string     Return JSON for specified type", NULL};
    const char *format = NULL;
    bool size = false;
    int o;
    while ((o = getopt_long(argc, argv, ":f:sh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, type == T_ANY ? "[OPTIONS] NAME|ID [NAME|ID...]" : "[OPTIONS] CONTAINER [CONTAINER...]",
                            help);
        if (o == 'f')
            format = optarg;
        else if (o == 's')
            size = true;
        else if (o == 't' && type == T_ANY) {
            int t = -1;
            for (int k = 1; k < (int)ARRAY_SIZE(kinds); k++)
                if (!strcmp(optarg, kinds[k]))
                    t = k;
            if (t < 0)
                return moat_err(err, EINVAL, "\"%s\" is not a valid value for --type", optarg);
            type = t;
        } else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *all = json_object_new_array();
    _cleanup_strv_ char **outs = NULL, **errs = NULL;
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct json_object *j = NULL;
        int r = 0;
        for (int t = type == T_ANY ? T_CONTAINER : type; r == 0 && t <= (type == T_ANY ? T_VOLUME : type); t++)
            r = get_one(cl, t, argv[i], size, &j, err);
        if (r < 0)
            return -1;
        if (r == 2) {
            status = 1;
            continue;
        }
        if (r == 0) {
            _cleanup_free_ char *m = xasprintf("Error: No such %s: %s", kinds[type], argv[i]);
            moat_strv_push(&errs, m);
            status = 1;
            continue;
        }
        if (format) {
            _cleanup_free_ char *line = NULL;
            int x = cli_template_render(format, j, &line, err);
            json_object_put(j);
            if (x < 0)
                return -1;
            moat_strv_push(&outs, line);
        } else {
            json_object_array_add(all, j);
        }
    }
    if (format) {
        for (size_t i = 0; outs && outs[i]; i++)
            printf("%s\n", outs[i]);
    } else {
        _cleanup_free_ char *text = cli_json_indent(all);
        printf("%s\n", text);
    }
    fflush(stdout);
    for (size_t i = 0; errs && errs[i]; i++)
        fprintf(stderr, "%s\n", errs[i]);
    return status;
}

int cmd_inspect(struct cli *c, int argc, char **argv, moat_error **err) { return inspect(c, argc, argv, T_ANY, err); }

int cmd_container_inspect(struct cli *c, int argc, char **argv, moat_error **err)
{
    return inspect(c, argc, argv, T_CONTAINER, err);
}
