/* moat import / moat image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]:
 * POST /images/create?fromSrc=- with the file (or stdin) as the body; the
 * answer's status message is the new image's ID. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "cli/img_api.h"
#include "moat/image.h"
#include "moat/util.h"

static void keep_status(void *ctx, struct json_object *msg)
{
    struct json_object *s = NULL;
    if (json_object_object_get_ex(msg, "status", &s) && json_object_is_type(s, json_type_string)) {
        free(*(char **)ctx);
        *(char **)ctx = xstrdup(json_object_get_string(s));
    }
}

/* path + "&key=value" (value query-encoded) */
static void add_query(char **path, const char *key, const char *value)
{
    _cleanup_free_ char *q = ctr_qenc(value);
    char *t = xasprintf("%s&%s=%s", *path, key, q);
    free(*path);
    *path = t;
}

int cmd_import(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"change", required_argument, NULL, 'c'},
                                         {"message", required_argument, NULL, 'm'},
                                         {"platform", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-c, --change list      Apply Dockerfile instruction to the created image",
                                       "-m, --message string   Set commit message for imported image",
                                       "    --platform string  Set platform if server is multi-platform capable",
                                       NULL};
    _cleanup_strv_ char **changes = NULL;
    const char *message = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":c:m:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", help);
        if (o == 'c')
            moat_strv_push(&changes, optarg);
        else if (o == 'm')
            message = optarg;
        else if (o == 'p') {
            _cleanup_free_ char *mine = xasprintf("linux/%s", moat_go_arch());
            if (strcmp(optarg, mine) != 0 && strcmp(optarg, moat_go_arch()) != 0)
                return moat_err(err, EINVAL, "--platform %s: only %s images can be imported here", optarg, mine);
        } else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_args_error(c, err, "requires at least 1 and at most 2 arguments");
    const char *src = argv[optind];
    if (strstr(src, "://"))
        return moat_err(err, ENOTSUP, "import from a URL (%s): moat has no network access for this yet; download "
                        "the file and import it", src);
    _cleanup_close_ int fd = -1;
    if (strcmp(src, "-") != 0 && (fd = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return moat_err_sys(err, "open %s", src);
    /* As Docker's CLI: the whole REPOSITORY[:TAG] as repo (the daemon parses it). */
    _cleanup_free_ char *path = xstrdup("/images/create?fromSrc=-");
    if (argc - optind == 2)
        add_query(&path, "repo", argv[optind + 1]);
    if (message)
        add_query(&path, "message", message);
    for (size_t i = 0; changes && changes[i]; i++)
        add_query(&path, "changes", changes[i]);
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *id = NULL;
    struct img_msgs m = {.on_msg = keep_status, .ctx = &id};
    if (img_upload_msgs(cl, path, "application/x-tar", fd >= 0 ? fd : STDIN_FILENO, &m, err) < 0)
        return -1;
    if (!id)
        return moat_err(err, EPROTO, "import: the daemon did not say which image it made");
    printf("%s\n", id);
    return 0;
}
