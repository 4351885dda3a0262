#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_state(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    if (getopt_long(argc, argv, "+", (const struct option[]){{NULL, 0, NULL, 0}}, NULL) != -1)
        return moat_err(err, EINVAL, "usage: moat-runtime state ID");
    if (cli_positional(argc, argv, 1, "ID", err) < 0)
        return -1;
    char *json = NULL;
    if (moat_rt_state_json(&cli->rt, argv[optind], &json, err) < 0)
        return -1;
    printf("%s\n", json);
    free(json);
    return 0;
}
