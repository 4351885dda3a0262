/* moat commit [-a AUTHOR] [-c CHANGE]... [-m MSG] [-p=false] CONTAINER [REPO[:TAG]]:
 * POST /commit?container=&repo=&tag=&comment=&author=&changes=, prints the new ID. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static void add_q(char **q, const char *k, const char *v)
{
    if (!v || !*v)
        return;
    _cleanup_free_ char *e = ctr_qenc(v);
    char *t = xasprintf("%s&%s=%s", *q, k, e);
    free(*q);
    *q = t;
}

int cmd_commit(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"author", required_argument, NULL, 'a'}, {"change", required_argument, NULL, 'c'},
                                         {"message", required_argument, NULL, 'm'}, {"pause", optional_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    static const char *const help[] = {
        "-a, --author string    Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
        "-c, --change list      Apply Dockerfile instruction to the created image",
        "-m, --message string   Commit message", "-p, --pause            Pause container during commit (default true)",
        NULL};
    const char *author = NULL, *msg = NULL;
    _cleanup_strv_ char **changes = NULL;
    bool pause = true;
    int o;
    while ((o = getopt_long(argc, argv, ":a:c:m:ph", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", help);
        if (o == 'a')
            author = optarg;
        else if (o == 'c')
            moat_strv_push(&changes, optarg);
        else if (o == 'm')
            msg = optarg;
        else if (o == 'p')
            pause = !optarg || !(strcmp(optarg, "false") == 0 || strcmp(optarg, "0") == 0);
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_args_error(c, err, argc - optind < 1 ? "requires at least 1 argument"
                                                         : "requires at most 2 arguments");
    _cleanup_free_ char *repo = NULL, *tag = NULL;
    if (optind + 1 < argc) {
        const char *ref = argv[optind + 1];
        const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
        if (strchr(ref, '@'))
            return moat_err(err, EINVAL, "refusing to create a tag with a digest reference");
        if (colon && (!slash || colon > slash)) {
            repo = xstrndup(ref, (size_t)(colon - ref));
            tag = xstrdup(colon + 1);
        } else {
            repo = xstrdup(ref);
        }
    }
    _cleanup_free_ char *q = xstrdup("");
    add_q(&q, "author", author);
    for (size_t i = 0; changes && changes[i]; i++)
        add_q(&q, "changes", changes[i]);
    add_q(&q, "comment", msg);
    add_q(&q, "container", argv[optind]);
    if (!pause)
        add_q(&q, "pause", "0");
    add_q(&q, "repo", repo);
    add_q(&q, "tag", tag);
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *path = xasprintf("/commit?%s", q + 1);
    _cleanup_json_ struct json_object *ans = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (moat_client_json(cl, "POST", path, NULL, &status, &ans, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *id = NULL;
    if (!ans || !json_object_object_get_ex(ans, "Id", &id) || !json_object_is_type(id, json_type_string))
        return moat_err(err, EPROTO, "the daemon's commit answer has no Id");
    printf("%s\n", json_object_get_string(id));
    return 0;
}
