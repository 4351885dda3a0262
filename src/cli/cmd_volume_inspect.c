/* moat volume inspect [-f FORMAT] VOLUME...: GET /volumes/{name}. */
#include <getopt.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

int cmd_volume_inspect(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --format string   Format the output using the given Go template", NULL};
    const char *format = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] VOLUME [VOLUME...]", help);
        if (o != 'f')
            return cli_flag_error(c, o, argv, err);
        format = optarg;
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *all = json_object_new_array();
    _cleanup_strv_ char **outs = NULL, **errs = NULL;
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *n = ctr_qenc(argv[i]);
        _cleanup_free_ char *path = xasprintf("/volumes/%s", n);
        struct json_object *v = NULL;
        moat_error *e = NULL;
        int status = 0;
        if (ctr_get_json(cl, path, &status, &v, &e) < 0) {
            if (status < 400) {
                *err = e;
                return -1;
            }
            _cleanup_free_ char *m = status == 404 ? xasprintf("Error: No such volume: %s", argv[i])
                                                   : xasprintf("Error response from daemon: %s", e->msg);
            moat_error_free(e);
            moat_strv_push(&errs, m);
            rc = 1;
            continue;
        }
        if (format) {
            _cleanup_free_ char *line = NULL;
            int x = cli_template_render(format, v, &line, err);
            json_object_put(v);
            if (x < 0)
                return -1;
            moat_strv_push(&outs, line);
        } else {
            json_object_array_add(all, v);
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
    return rc;
}
