/* moat stop [-t N] CONTAINER...: POST /containers/{id}/stop[?t=N]; moat
 * restart takes the same flag (cmd_restart.c). */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

int cli_stop_like(struct cli *c, int argc, char **argv, const char *verb, const char *time_help, moat_error **err)
{
    static const struct option opts[] = {{"time", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *const help[] = {time_help, NULL};
    const char *t = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER [CONTAINER...]", help);
        if (o != 't')
            return cli_flag_error(c, o, argv, err);
        int64_t v;
        if (moat_parse_i64(optarg, &v) < 0)
            return moat_err(err, EINVAL, "invalid argument \"%s\" for \"-t, --time\" flag: strconv.ParseInt: "
                                         "parsing \"%s\": invalid syntax", optarg, optarg);
        t = optarg;
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    _cleanup_free_ char *suffix = t ? xasprintf("/%s?t=%s", verb, t) : xasprintf("/%s", verb);
    return ctr_each(c, argv + optind, argc - optind, "POST", suffix, NULL, false, NULL, err);
}


int cmd_stop(struct cli *c, int argc, char **argv, moat_error **err)
{
    return cli_stop_like(c, argc, argv, "stop", "-t, --time int   Seconds to wait for stop before killing it (default 10)",
                         err);
}
