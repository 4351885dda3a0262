#include <getopt.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_delete(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        if (c != 'f')
            return moat_err(err, EINVAL, "usage: moat-runtime delete [--force] ID");
        force = true;
    }
    if (cli_positional(argc, argv, 1, "[--force] ID", err) < 0)
        return -1;
    return moat_rt_delete(&cli->rt, argv[optind], force, err) < 0 ? -1 : 0;
}
