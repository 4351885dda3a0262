#include <stdio.h>

#include "moat/json.h"
#include "moat/util.h"
#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"
#include "runtime/runtime_internal.h"

int cmd_features(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    (void)cli;
    (void)argv;
    if (argc != 1)
        return moat_err(err, EINVAL, "usage: moat-runtime features");
    _cleanup_json_ struct json_object *f = moat_features_json();
    _cleanup_free_ char *s = moat_json_dump(f, true);
    printf("%s\n", s);
    return 0;
}
