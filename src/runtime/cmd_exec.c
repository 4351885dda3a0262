#include <getopt.h>

#include "moat/util.h"
#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_exec(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"console-socket", required_argument, NULL, 'C'},
                                         {"cwd", required_argument, NULL, 'w'},
                                         {"env", required_argument, NULL, 'e'},
                                         {"tty", no_argument, NULL, 't'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"process", required_argument, NULL, 'p'},
                                         {"detach", no_argument, NULL, 'd'},
                                         {"pid-file", required_argument, NULL, 'P'},
                                         {"process-label", required_argument, NULL, 'L'},
                                         {"apparmor", required_argument, NULL, 'A'},
                                         {"no-new-privs", no_argument, NULL, 'n'},
                                         {"cap", required_argument, NULL, 'c'},
                                         {"preserve-fds", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    struct moat_exec_opts eo = {0};
    _cleanup_strv_ char **env = NULL, **caps = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+w:e:tu:p:dc:", opts, NULL)) != -1) {
        switch (c) {
        case 'C': eo.console_socket = optarg; break;
        case 'w': eo.cwd = optarg; break;
        case 'e': moat_strv_push(&env, optarg); break;
        case 't': eo.tty = true; break;
        case 'u': eo.user = optarg; break;
        case 'p': eo.process_file = optarg; break;
        case 'd': eo.detach = true; break;
        case 'P': eo.pid_file = optarg; break;
        case 'L': eo.process_label = optarg; break;
        case 'A': eo.apparmor = optarg; break;
        case 'n': eo.no_new_privs = true; break;
        case 'c': moat_strv_push(&caps, optarg); break;
        case 'f': {
            uint64_t n;
            if (moat_parse_u64(optarg, &n) < 0 || n > 1000)
                return moat_err(err, EINVAL, "--preserve-fds: '%s' is not a small number", optarg);
            eo.preserve_fds = (int)n;
            break;
        }
        default:
            return moat_err(err, EINVAL, "usage: moat-runtime exec [options] ID [COMMAND ARGS...]");
        }
    }
    if (optind >= argc)
        return moat_err(err, EINVAL, "usage: moat-runtime exec [options] ID [COMMAND ARGS...]");
    const char *id = argv[optind];
    eo.args = argv + optind + 1;
    eo.env = env;
    eo.caps = caps;
    if (!eo.process_file && !eo.args[0])
        return moat_err(err, EINVAL, "exec: give a command or --process FILE");
    int status = 0;
    if (moat_rt_exec(&cli->rt, id, &eo, &status, err) < 0)
        return -1;
    return status;
}
