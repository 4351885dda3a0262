#include <getopt.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cli_create_opts(int argc, char **argv, struct moat_create_opts *co, bool *detach, moat_error **err);

int cmd_run(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    struct moat_create_opts co = {0};
    bool detach = false;
    int status = 0;
    if (cli_create_opts(argc, argv, &co, &detach, err) < 0 ||
        cli_positional(argc, argv, 1, "[--bundle DIR] [--detach] [--pid-file F] ID", err) < 0)
        return -1;
    if (moat_rt_run(&cli->rt, argv[optind], &co, detach, &status, err) < 0)
        return -1;
    return status;
}
