/* moat kill [-s SIGNAL] CONTAINER...: POST /containers/{id}/kill?signal=S. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

int cmd_kill(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"signal", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-s, --signal string   Signal to send to the container (default \"KILL\")",
                                       NULL};
    const char *sig = "KILL";
    int o;
    while ((o = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER [CONTAINER...]", help);
        if (o != 's')
            return cli_flag_error(c, o, argv, err);
        sig = optarg;
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    _cleanup_free_ char *s = ctr_qenc(sig);
    _cleanup_free_ char *suffix = xasprintf("/kill?signal=%s", s);
    return ctr_each(c, argv + optind, argc - optind, "POST", suffix, NULL, false, NULL, err);
}
