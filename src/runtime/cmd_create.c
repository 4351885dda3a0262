#include <getopt.h>
#include <stdlib.h>

#include "moat/util.h"
#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

/* Options shared by create and run. */
int cli_create_opts(int argc, char **argv, struct moat_create_opts *co, bool *detach, moat_error **err);

int cli_create_opts(int argc, char **argv, struct moat_create_opts *co, bool *detach, moat_error **err)
{
    static const struct option opts[] = {{"bundle", required_argument, NULL, 'b'},
                                         {"pid-file", required_argument, NULL, 'p'},
                                         {"console-socket", required_argument, NULL, 'c'},
                                         {"preserve-fds", required_argument, NULL, 'f'},
                                         {"detach", no_argument, NULL, 'd'},
                                         {"no-pivot", no_argument, NULL, 'P'},
                                         {"no-new-keyring", no_argument, NULL, 'k'},
                                         {"keep", no_argument, NULL, 'K'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+b:d", opts, NULL)) != -1) {
        switch (c) {
        case 'b': co->bundle = optarg; break;
        case 'p': co->pid_file = optarg; break;
        case 'c': co->console_socket = optarg; break;
        case 'f': {
            uint64_t n;
            if (moat_parse_u64(optarg, &n) < 0 || n > 1000)
                return moat_err(err, EINVAL, "--preserve-fds: '%s' is not a small number", optarg);
            co->preserve_fds = (int)n;
            break;
        }
        case 'd':
            if (!detach)
                return moat_err(err, EINVAL, "%s: --detach is only for run", argv[0]);
            *detach = true;
            break;
        case 'P':
            return moat_err(err, ENOTSUP, "--no-pivot is not supported: moat-runtime always uses pivot_root");
        case 'k': /* no session keyring is ever created (keyctl is refused by seccomp anyway) */
        case 'K':
            break;
        default:
            return moat_err(err, EINVAL, "%s: unknown option (see moat-runtime --help)", argv[0]);
        }
    }
    return 0;
}

int cmd_create(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    struct moat_create_opts co = {0};
    if (cli_create_opts(argc, argv, &co, NULL, err) < 0 ||
        cli_positional(argc, argv, 1, "[--bundle DIR] [--pid-file F] [--console-socket S] ID", err) < 0)
        return -1;
    return moat_rt_create(&cli->rt, argv[optind], &co, err) < 0 ? -1 : 0;
}
