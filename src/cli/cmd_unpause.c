/* moat unpause CONTAINER...: POST /containers/{id}/unpause. */
#include <getopt.h>

#include "cli/ctr_cmds.h"

int cmd_unpause(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "CONTAINER [CONTAINER...]", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    return ctr_each(c, argv + optind, argc - optind, "POST", "/unpause", NULL, false, NULL, err);
}
