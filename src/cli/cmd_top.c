/* moat top CONTAINER [ps OPTIONS]: GET /containers/{id}/top[?ps_args=], the
 * Titles and Processes as a table (tabwriter minwidth 20, padding 3). */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static void push_row(char ***lines, struct json_object *arr)
{
    char *line = xstrdup("");
    for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr); i++) {
        const char *v = json_object_get_string(json_object_array_get_idx(arr, i));
        char *t = xasprintf("%s%s%s", line, i ? "\t" : "", v ? v : "");
        free(line);
        line = t;
    }
    moat_strv_push(lines, line);
    free(line);
}

int cmd_top(struct cli *c, int argc, char **argv, moat_error **err)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return cli_help(c, "CONTAINER [ps OPTIONS]", NULL);
    if (argc >= 2 && argv[1][0] == '-' && argv[1][1]) {
        optind = 2;
        return cli_flag_error(c, '?', argv, err);
    }
    if (argc < 2)
        return cli_args_error(c, err, "requires at least 1 argument");
    _cleanup_free_ char *args = xstrdup("");
    for (int i = 2; i < argc; i++) {
        char *t = xasprintf("%s%s%s", args, i > 2 ? " " : "", argv[i]);
        free(args);
        args = t;
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *id = ctr_qenc(argv[1]), *q = ctr_qenc(args);
    _cleanup_free_ char *path = *args ? xasprintf("/containers/%s/top?ps_args=%s", id, q)
                                      : xasprintf("/containers/%s/top", id);
    _cleanup_json_ struct json_object *top = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (ctr_get_json(cl, path, &status, &top, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *titles = NULL, *procs = NULL;
    if (!top || !json_object_object_get_ex(top, "Titles", &titles) ||
        !json_object_is_type(titles, json_type_array))
        return moat_err(err, EPROTO, "the daemon's process list has no Titles");
    _cleanup_strv_ char **lines = NULL;
    push_row(&lines, titles);
    if (json_object_object_get_ex(top, "Processes", &procs) && json_object_is_type(procs, json_type_array))
        for (size_t i = 0; i < json_object_array_length(procs); i++)
            push_row(&lines, json_object_array_get_idx(procs, i));
    ctr_print_tabbed(lines, moat_strv_len(lines), 20, stdout);
    return 0;
}
