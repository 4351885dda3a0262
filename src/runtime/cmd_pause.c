#include <getopt.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

static int pause_resume(struct rt_cli *cli, int argc, char **argv, bool pause, moat_error **err)
{
    if (getopt_long(argc, argv, "+", (const struct option[]){{NULL, 0, NULL, 0}}, NULL) != -1 ||
        cli_positional(argc, argv, 1, "ID", err) < 0)
        return *err ? -1 : moat_err(err, EINVAL, "usage: moat-runtime %s ID", argv[0]);
    return moat_rt_pause(&cli->rt, argv[optind], pause, err) < 0 ? -1 : 0;
}

int cmd_pause(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    return pause_resume(cli, argc, argv, true, err);
}

int cmd_resume(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    return pause_resume(cli, argc, argv, false, err);
}
