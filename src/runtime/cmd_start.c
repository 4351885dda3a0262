#include <getopt.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_start(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    if (getopt_long(argc, argv, "+", (const struct option[]){{NULL, 0, NULL, 0}}, NULL) != -1 ||
        cli_positional(argc, argv, 1, "ID", err) < 0)
        return *err ? -1 : moat_err(err, EINVAL, "usage: moat-runtime start ID");
    return moat_rt_start(&cli->rt, argv[optind], err) < 0 ? -1 : 0;
}
