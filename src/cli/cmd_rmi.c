/* moat rmi / moat image rm [OPTIONS] IMAGE [IMAGE...]: DELETE /images/{name}
 * for each, Docker's "Untagged: ..." / "Deleted: ..." lines. */
#include <getopt.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static void print_removal(struct json_object *a)
{
    for (size_t i = 0; a && json_object_is_type(a, json_type_array) && i < json_object_array_length(a); i++) {
        struct json_object *o = json_object_array_get_idx(a, i), *v = NULL;
        if (json_object_object_get_ex(o, "Untagged", &v))
            printf("Untagged: %s\n", json_object_get_string(v));
        else if (json_object_object_get_ex(o, "Deleted", &v))
            printf("Deleted: %s\n", json_object_get_string(v));
    }
}

int cmd_rmi(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"no-prune", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --force      Force removal of the image",
                                       "    --no-prune   Do not delete untagged parents", NULL};
    bool force = false, noprune = false;
    int o;
    while ((o = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE [IMAGE...]", help);
        if (o == 'f')
            force = true;
        else if (o == 'n')
            noprune = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    /* like Docker: go on with the other images, say what failed, fail at the end */
    int status = 0;
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *n = ctr_penc(argv[i]);
        _cleanup_free_ char *path =
            xasprintf("/images/%s?force=%d&noprune=%d", n, force ? 1 : 0, noprune ? 1 : 0);
        _cleanup_json_ struct json_object *a = NULL;
        int st = 0;
        moat_error *e = NULL;
        if (moat_client_json(cl, "DELETE", path, NULL, &st, &a, &e) < 0) {
            if (st < 400) { /* the daemon is gone: no point going on */
                *err = e;
                return -1;
            }
            fprintf(stderr, "moat: %s\n", e->msg);
            moat_error_free(e);
            status = 1;
            continue;
        }
        print_removal(a);
        fflush(stdout);
    }
    return status;
}
