/* moat rm [-f] [-v] [-l] CONTAINER...: DELETE /containers/{id}[?force=1&v=1&link=1].
 * With -f a missing container is not an error (Docker 20.10). */
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

int cmd_rm(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"volumes", no_argument, NULL, 'v'},
                                         {"link", no_argument, NULL, 'l'},  {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --force     Force the removal of a running container (uses SIGKILL)",
                                       "-l, --link      Remove the specified link",
                                       "-v, --volumes   Remove anonymous volumes associated with the container",
                                       NULL};
    bool force = false, vols = false, link = false;
    int o;
    while ((o = getopt_long(argc, argv, ":fvlh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER [CONTAINER...]", help);
        if (o == 'f')
            force = true;
        else if (o == 'v')
            vols = true;
        else if (o == 'l')
            link = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    _cleanup_free_ char *q = xasprintf("%s%s%s", force ? "&force=1" : "", link ? "&link=1" : "", vols ? "&v=1" : "");
    _cleanup_free_ char *suffix = *q ? xasprintf("?%s", q + 1) : xstrdup("");
    return ctr_each(c, argv + optind, argc - optind, "DELETE", suffix, NULL, force, NULL, err);
}
