/* moat system reset [-f]: remove every image, layer and snapshot of the store
 * (podman's command; rootless, the store's files can't be removed with rm).
 * Local, not a request: Docker's API has no such call, and the engine of the
 * store must not run on while its store goes, so the engine the CLI started
 * for this data root (client.h, moat_client_stop_root_engine) is stopped first. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "moat/util.h"

int cmd_system_reset(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --force   Do not prompt for confirmation", NULL};
    bool force = false;
    int o;
    while ((o = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'f')
            force = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    const char *root = c->data_root && *c->data_root ? c->data_root : getenv("MOAT_ROOT");
    if (!force) {
        _cleanup_free_ char *def = root && *root ? NULL : moat_store_default_root();
        printf("WARNING! This will remove all images and container file systems in %s.\n"
               "Are you sure you want to continue? [y/N] ",
               def ? def : root);
        fflush(stdout);
        char answer[16] = "";
        if (!fgets(answer, sizeof answer, stdin) || tolower((unsigned char)answer[0]) != 'y')
            return 0;
    }
    /* The engine first: even a store that no longer opens (a bad limits.json) loses it. */
    bool stopped = false;
    if (moat_client_stop_root_engine(root, &stopped, err) < 0)
        return moat_err_wrap(err, "reset");
    struct moat_store *s;
    if (cli_store(c, &s, err) < 0)
        return -1;
    return moat_store_reset(s, err) < 0 ? -1 : 0;
}
