/* moat rename CONTAINER NEW_NAME: POST /containers/{id}/rename?name=. */
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

int cmd_rename(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "CONTAINER NEW_NAME", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 2)
        return cli_args_error(c, err, "requires exactly 2 arguments");
    const char *old = argv[optind], *new = argv[optind + 1];
    while (*new == ' ')
        new++;
    if (!*new || !*old) {
        fprintf(stderr, "Error: Neither old nor new names may be empty\n");
        return 1;
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *id = ctr_qenc(old), *name = ctr_qenc(new);
    _cleanup_free_ char *path = xasprintf("/containers/%s/rename?name=%s", id, name);
    moat_error *e = NULL;
    int status = 0;
    if (moat_client_json(cl, "POST", path, NULL, &status, NULL, &e) < 0) {
        if (status >= 400) {
            fprintf(stderr, "Error response from daemon: %s\nError: failed to rename container named %s\n",
                    e && e->msg ? e->msg : "", old);
            moat_error_free(e);
            return 1;
        }
        *err = e;
        return -1;
    }
    return 0;
}
