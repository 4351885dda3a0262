/* moat create: POST /containers/create from run's flags; prints the ID. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"

int cmd_create(struct cli *c, int argc, char **argv, moat_error **err)
{
    struct run_opts o = {0};
    int r = run_opts_parse(&o, argc, argv, c->prog, err);
    if (r != 0) {
        run_opts_free(&o);
        return r < 0 ? -1 : 0;
    }
    struct moat_client *cl;
    _cleanup_free_ char *id = NULL;
    if (cli_client(c, &cl, err) < 0 || cli_create_container(cl, &o, &id, err) < 0) {
        run_opts_free(&o);
        r = cli_run_error(c->prog, *err);
        moat_error_free(*err);
        *err = NULL;
        return r;
    }
    run_opts_free(&o);
    printf("%s\n", id);
    return 0;
}
