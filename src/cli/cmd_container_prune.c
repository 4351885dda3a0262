/* moat container prune [-f] [--filter k=v]: POST /containers/prune. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

int cmd_container_prune(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"filter", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0}};
    static const char *const help[] = {"    --filter filter   Provide filter values (e.g. 'until=<timestamp>')",
                                       "-f, --force           Do not prompt for confirmation", NULL};
    bool force = false;
    _cleanup_strv_ char **filters = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'f')
            force = true;
        else if (o == 'F' && strchr(optarg, '='))
            moat_strv_push(&filters, optarg);
        else if (o == 'F')
            return moat_err(err, EINVAL, "bad format of filter (expected name=value)");
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    if (!force && !ctr_confirm("WARNING! This will remove all stopped containers."))
        return 0;
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *f = ctr_filters_query(filters);
    _cleanup_free_ char *path = f ? xasprintf("/containers/prune?filters=%s", f) : xstrdup("/containers/prune");
    _cleanup_json_ struct json_object *ans = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (moat_client_json(cl, "POST", path, NULL, &status, &ans, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *del = NULL, *space = NULL;
    uint64_t reclaimed = 0;
    if (ans && json_object_object_get_ex(ans, "ContainersDeleted", &del) && json_object_is_type(del, json_type_array) &&
        json_object_array_length(del)) {
        printf("Deleted Containers:\n");
        for (size_t i = 0; i < json_object_array_length(del); i++)
            printf("%s\n", json_object_get_string(json_object_array_get_idx(del, i)));
        printf("\n");
        if (json_object_object_get_ex(ans, "SpaceReclaimed", &space))
            reclaimed = (uint64_t)json_object_get_int64(space);
    }
    char sz[32];
    cli_human_size(reclaimed, 4, sz, sizeof sz);
    printf("Total reclaimed space: %s\n", sz);
    return 0;
}
