#include <getopt.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_kill(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
    bool all = false;
    int c;
    while ((c = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
        if (c != 'a')
            return moat_err(err, EINVAL, "usage: moat-runtime kill [--all] ID [SIGNAL]");
        all = true;
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return moat_err(err, EINVAL, "usage: moat-runtime kill [--all] ID [SIGNAL]");
    int sig = 15;
    if (n == 2 && (sig = moat_signal_parse(argv[optind + 1])) < 0)
        return moat_err(err, EINVAL, "kill: unknown signal '%s'", argv[optind + 1]);
    return moat_rt_kill(&cli->rt, argv[optind], sig, all, err) < 0 ? -1 : 0;
}
