/* moat system reset [-f]: remove every image, layer and snapshot of the store
 * (podman's command; rootless, the store's files can't be removed with rm). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

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
    struct moat_store *s;
    if (cli_store(c, &s, err) < 0)
        return -1;
    if (!force) {
        printf("WARNING! This will remove all images and container file systems in %s.\n"
               "Are you sure you want to continue? [y/N] ",
               moat_store_root(s));
        fflush(stdout);
        char answer[16] = "";
        if (!fgets(answer, sizeof answer, stdin) || tolower((unsigned char)answer[0]) != 'y')
            return 0;
    }
    return moat_store_reset(s, err) < 0 ? -1 : 0;
}
