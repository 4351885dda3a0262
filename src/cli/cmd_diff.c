/* moat diff CONTAINER: GET /containers/{id}/changes, "C /etc", "A /etc/x", "D /tmp/y". */
#include <errno.h>
#include <getopt.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

int cmd_diff(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "CONTAINER", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *id = ctr_qenc(argv[optind]);
    _cleanup_free_ char *path = xasprintf("/containers/%s/changes", id);
    _cleanup_json_ struct json_object *list = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (ctr_get_json(cl, path, &status, &list, &e) < 0)
        return ctr_fail(status, &e, err);
    if (list && !json_object_is_type(list, json_type_array))
        return moat_err(err, EPROTO, "the daemon's change list is not a JSON array");
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        struct json_object *ch = json_object_array_get_idx(list, i), *p = NULL, *k = NULL;
        json_object_object_get_ex(ch, "Path", &p);
        json_object_object_get_ex(ch, "Kind", &k);
        int kind = k ? json_object_get_int(k) : -1;
        const char *letter = kind == 0 ? "C" : kind == 1 ? "A" : kind == 2 ? "D" : "?";
        printf("%s %s\n", letter, p ? json_object_get_string(p) : "");
    }
    return 0;
}
