/* moat image prune [-a] [-f] [--filter k=v]: POST /images/prune (-a is the
 * filter dangling=false, as Docker's CLI sends it). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

int cmd_image_prune(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'},   {"force", no_argument, NULL, 'f'},
                                         {"filter", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-a, --all             Remove all unused images, not just dangling ones",
                                       "    --filter filter   Provide filter values (e.g. 'until=<timestamp>')",
                                       "-f, --force           Do not prompt for confirmation", NULL};
    bool all = false, force = false;
    _cleanup_strv_ char **filters = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":afh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'a')
            all = true;
        else if (o == 'f')
            force = true;
        else if (o == 'F')
            moat_strv_push(&filters, optarg);
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    if (!force) {
        printf("WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ",
               all ? "images without at least one container associated to them" : "dangling images");
        fflush(stdout);
        char answer[16] = "";
        if (!fgets(answer, sizeof answer, stdin) || tolower((unsigned char)answer[0]) != 'y')
            return 0;
    }
    if (all)
        moat_strv_push(&filters, "dangling=false");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *q = ctr_filters_query(filters);
    _cleanup_free_ char *path = q ? xasprintf("/images/prune?filters=%s", q) : xstrdup("/images/prune");
    _cleanup_json_ struct json_object *ans = NULL;
    if (moat_client_json(cl, "POST", path, NULL, NULL, &ans, err) < 0)
        return -1;
    struct json_object *del = NULL, *space = NULL;
    if (ans && json_object_object_get_ex(ans, "ImagesDeleted", &del) && json_object_is_type(del, json_type_array) &&
        json_object_array_length(del)) {
        printf("Deleted Images:\n");
        for (size_t i = 0; i < json_object_array_length(del); i++) {
            struct json_object *d = json_object_array_get_idx(del, i), *v = NULL;
            if (json_object_object_get_ex(d, "Untagged", &v)) /* Docker's prune says "untagged:"/"deleted:" */
                printf("untagged: %s\n", json_object_get_string(v));
            else if (json_object_object_get_ex(d, "Deleted", &v))
                printf("deleted: %s\n", json_object_get_string(v));
        }
        printf("\n");
    }
    int64_t reclaimed = ans && json_object_object_get_ex(ans, "SpaceReclaimed", &space) ? json_object_get_int64(space) : 0;
    char size[32];
    cli_human_size(reclaimed > 0 ? (uint64_t)reclaimed : 0, 4, size, sizeof size);
    printf("Total reclaimed space: %s\n", size);
    return 0;
}
