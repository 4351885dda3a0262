/* moat start [-a] [-i] CONTAINER...: POST start for each; with -a (one
 * container): inspect, attach, wait?condition=next-exit, start, stream, and
 * exit with the container's status. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const start_help[] = {
    "-a, --attach               Attach STDOUT/STDERR and forward signals",
    "    --detach-keys string   Override the key sequence for detaching a container",
    "-i, --interactive          Attach container's STDIN",
    NULL,
};

static int start_attached(struct cli *c, struct moat_client *cl, const char *name, bool interactive,
                          const char *detach_keys, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *ctr = NULL;
    const char *id;
    bool tty, open_stdin;
    if (cli_inspect_container(cl, name, &ctr, err) < 0 || cli_ctr_info(ctr, &id, &tty, &open_stdin, err) < 0)
        return -1;
    bool in = interactive && open_stdin;
    _cleanup_free_ char *apath = NULL;
    cli_attach_path(id, in, detach_keys, &apath);
    _cleanup_close_ int fd = -1;
    if (moat_client_hijack(cl, apath, NULL, &fd, err) < 0)
        return moat_client_wrap_error(cl, err);
    _cleanup_free_ char *eid = cli_query_escape(id);
    _cleanup_free_ char *wpath = xasprintf("/containers/%s/wait?condition=next-exit", eid);
    _cleanup_free_ char *spath = xasprintf("/containers/%s/start", eid);
    struct moat_client_req *w = NULL;
    if (moat_client_begin(cl, "POST", wpath, "text/plain", NULL, 0, &w, NULL, err) < 0)
        return -1;
    if (moat_client_json(cl, "POST", spath, NULL, NULL, NULL, err) < 0) {
        moat_client_req_free(w);
        return moat_client_wrap_error(cl, err);
    }
    if (tty) {
        _cleanup_free_ char *rpath = xasprintf("/containers/%s/resize", eid);
        cli_stream_resize(cl, rpath);
    }
    (void)c;
    int r = cli_stream_and_wait(cl, fd, w, id, tty, in, !tty, detach_keys, err);
    moat_client_req_free(w);
    return r;
}

int cmd_start(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"attach", no_argument, NULL, 'a'}, {"interactive", no_argument, NULL, 'i'},
        {"detach-keys", required_argument, NULL, 'K'}, {"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
    };
    bool attach = false, interactive = false;
    const char *detach_keys = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":ai", longopts, NULL)) != -1) {
        switch (o) {
        case 'a': attach = true; break;
        case 'i': interactive = true; break;
        case 'K': detach_keys = optarg; break;
        case 'H': return cli_help(c, "[OPTIONS] CONTAINER [CONTAINER...]", start_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    if (attach || interactive) {
        if (argc - optind > 1)
            return moat_err(err, EINVAL, "you cannot start and attach multiple containers at once");
        return start_attached(c, cl, argv[optind], interactive, detach_keys, err);
    }
    _cleanup_strv_ char **failed = NULL;
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *e = cli_query_escape(argv[i]);
        _cleanup_free_ char *p = xasprintf("/containers/%s/start", e);
        moat_error *e2 = NULL;
        if (moat_client_json(cl, "POST", p, NULL, NULL, NULL, &e2) < 0) {
            moat_client_wrap_error(cl, &e2);
            fprintf(stderr, "%s\n", e2->msg);
            moat_error_free(e2);
            moat_strv_push(&failed, argv[i]);
            continue;
        }
        printf("%s\n", argv[i]);
    }
    if (failed) {
        _cleanup_free_ char *list = xstrdup(failed[0]);
        for (size_t i = 1; failed[i]; i++) {
            char *n = xasprintf("%s, %s", list, failed[i]);
            free(list);
            list = n;
        }
        return moat_err(err, EIO, "failed to start containers: %s", list);
    }
    return 0;
}
