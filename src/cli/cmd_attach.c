/* moat attach: wait?condition= (pending), inspect (must be running),
 * attach, inspect again (it may have stopped meanwhile), stream, and exit
 * with the container's status. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const attach_help[] = {
    "    --detach-keys string   Override the key sequence for detaching a container",
    "    --no-stdin             Do not attach STDIN",
    "    --sig-proxy            Proxy all received signals to the process (default true)",
    NULL,
};

/* Docker's inspectContainerAndCheckState. */
static int check_state(struct moat_client *cl, const char *name, struct json_object **ret, moat_error **err)
{
    if (cli_inspect_container(cl, name, ret, err) < 0)
        return -1;
    struct json_object *st, *v;
    if (!json_object_object_get_ex(*ret, "State", &st))
        return 0;
    if (json_object_object_get_ex(st, "Running", &v) && !json_object_get_boolean(v))
        return moat_err(err, EINVAL, "You cannot attach to a stopped container, start it first");
    if (json_object_object_get_ex(st, "Paused", &v) && json_object_get_boolean(v))
        return moat_err(err, EINVAL, "You cannot attach to a paused container, unpause it first");
    if (json_object_object_get_ex(st, "Restarting", &v) && json_object_get_boolean(v))
        return moat_err(err, EINVAL, "You cannot attach to a restarting container, wait until it is running");
    return 0;
}

static int attach_run(struct moat_client *cl, const char *name, bool no_stdin, bool proxy, const char *keys,
                      moat_error **err)
{
    _cleanup_free_ char *e = cli_query_escape(name);
    _cleanup_free_ char *wpath = xasprintf("/containers/%s/wait?condition=", e);
    struct moat_client_req *w = NULL;
    if (moat_client_begin(cl, "POST", wpath, "text/plain", NULL, 0, &w, NULL, err) < 0)
        return -1;
    _cleanup_(moat_json_putp) struct json_object *ctr = NULL, *ctr2 = NULL;
    const char *id;
    bool tty, open_stdin;
    if (check_state(cl, name, &ctr, err) < 0 || cli_ctr_info(ctr, &id, &tty, &open_stdin, err) < 0) {
        moat_client_req_free(w);
        return -1;
    }
    bool in = !no_stdin && open_stdin;
    /* Docker attaches by the name the user gave. */
    _cleanup_free_ char *apath = NULL;
    cli_attach_path(name, in, keys, &apath);
    _cleanup_close_ int fd = -1;
    if (moat_client_hijack(cl, apath, NULL, &fd, err) < 0 || check_state(cl, name, &ctr2, err) < 0) {
        moat_client_req_free(w);
        return moat_client_wrap_error(cl, err);
    }
    if (tty) {
        _cleanup_free_ char *rpath = xasprintf("/containers/%s/resize", e);
        cli_stream_resize(cl, rpath);
    }
    int r = cli_stream_and_wait(cl, fd, w, name, tty, in, proxy && !tty, keys, err);
    moat_client_req_free(w);
    return r;
}

int cmd_attach(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"no-stdin", no_argument, NULL, 'n'}, {"sig-proxy", optional_argument, NULL, 's'},
        {"detach-keys", required_argument, NULL, 'K'}, {"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
    };
    bool no_stdin = false, proxy = true;
    const char *keys = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (o) {
        case 'n': no_stdin = true; break;
        case 's':
            if (!optarg || !strcmp(optarg, "true") || !strcmp(optarg, "1"))
                proxy = true;
            else if (!strcmp(optarg, "false") || !strcmp(optarg, "0"))
                proxy = false;
            else
                return moat_err(err, EINVAL, "invalid argument \"%s\" for \"--sig-proxy\" flag", optarg);
            break;
        case 'K': keys = optarg; break;
        case 'H': return cli_help(c, "[OPTIONS] CONTAINER", attach_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    return attach_run(cl, argv[optind], no_stdin, proxy, keys, err);
}
