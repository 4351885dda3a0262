/* moat restart [-t N] CONTAINER...: POST /containers/{id}/restart[?t=N]
 * (the flags and the loop are stop's: cli_stop_like in cmd_stop.c). */
#include "cli/ctr_cmds.h"

int cmd_restart(struct cli *c, int argc, char **argv, moat_error **err)
{
    return cli_stop_like(c, argc, argv, "restart",
                         "-t, --time int   Seconds to wait for stop before killing the container (default 10)", err);
}
