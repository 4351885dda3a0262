/* moat volume rm [-f] VOLUME...: DELETE /volumes/{name}[?force=1], each name
 * printed as given; failures in Docker's words, exit 1 if any. */
#include <getopt.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

int cmd_volume_rm(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --force   Force the removal of one or more volumes", NULL};
    bool force = false;
    int o;
    while ((o = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] VOLUME [VOLUME...]", help);
        if (o != 'f')
            return cli_flag_error(c, o, argv, err);
        force = true;
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *n = ctr_qenc(argv[i]);
        _cleanup_free_ char *path = xasprintf("/volumes/%s%s", n, force ? "?force=1" : "");
        moat_error *e = NULL;
        int status = 0;
        if (moat_client_json(cl, "DELETE", path, NULL, &status, NULL, &e) < 0) {
            if (ctr_fail(status, &e, err) < 0)
                return -1;
            rc = 1;
            continue;
        }
        printf("%s\n", argv[i]);
    }
    return rc;
}
