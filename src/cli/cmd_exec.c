/* moat exec: inspect, POST /containers/{id}/exec, POST /exec/{id}/start
 * (hijacked unless -d), resize for -t, stream, GET /exec/{id}/json for the
 * exit code. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const exec_help[] = {
    "-d, --detach               Detached mode: run command in the background",
    "    --detach-keys string   Override the key sequence for detaching a container",
    "-e, --env list             Set environment variables",
    "    --env-file list        Read in a file of environment variables",
    "-i, --interactive          Keep STDIN open even if not attached",
    "    --privileged           Give extended privileges to the command",
    "-t, --tty                  Allocate a pseudo-TTY",
    "-u, --user string          Username or UID (format: <name|uid>[:<group|gid>])",
    "-w, --workdir string       Working directory inside the container",
    NULL,
};

struct exec_opts {
    bool detach, interactive, tty, privileged;
    const char *user, *workdir, *detach_keys;
    char **env;
};

static struct json_object *exec_body(const struct exec_opts *x, char **cmd, int ncmd)
{
    struct json_object *b = json_object_new_object();
    json_object_object_add(b, "User", json_object_new_string(x->user ? x->user : ""));
    json_object_object_add(b, "Privileged", json_object_new_boolean(x->privileged));
    json_object_object_add(b, "Tty", json_object_new_boolean(x->tty));
    json_object_object_add(b, "AttachStdin", json_object_new_boolean(x->interactive && !x->detach));
    json_object_object_add(b, "AttachStderr", json_object_new_boolean(!x->detach));
    json_object_object_add(b, "AttachStdout", json_object_new_boolean(!x->detach));
    json_object_object_add(b, "Detach", json_object_new_boolean(x->detach));
    json_object_object_add(b, "DetachKeys", json_object_new_string(x->detach_keys ? x->detach_keys : ""));
    struct json_object *env = NULL;
    if (x->env) {
        env = json_object_new_array();
        for (size_t i = 0; x->env[i]; i++)
            json_object_array_add(env, json_object_new_string(x->env[i]));
    }
    json_object_object_add(b, "Env", env);
    json_object_object_add(b, "WorkingDir", json_object_new_string(x->workdir ? x->workdir : ""));
    struct json_object *c = json_object_new_array();
    for (int i = 0; i < ncmd; i++)
        json_object_array_add(c, json_object_new_string(cmd[i]));
    json_object_object_add(b, "Cmd", c);
    return b;
}

static int exec_run(struct moat_client *cl, const char *name, const struct exec_opts *x, char **cmd, int ncmd,
                    moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *ctr = NULL, *body = exec_body(x, cmd, ncmd), *resp = NULL;
    if (cli_inspect_container(cl, name, &ctr, err) < 0)
        return -1;
    _cleanup_free_ char *e = cli_query_escape(name);
    _cleanup_free_ char *cpath = xasprintf("/containers/%s/exec", e);
    _cleanup_free_ char *eid = NULL;
    if (moat_client_json(cl, "POST", cpath, body, NULL, &resp, err) < 0)
        return moat_client_wrap_error(cl, err);
    if (moat_json_str(resp, "exec create", "Id", true, &eid, err) < 0)
        return -1;
    _cleanup_free_ char *spath = xasprintf("/exec/%s/start", eid);
    _cleanup_(moat_json_putp) struct json_object *sb = json_object_new_object();
    json_object_object_add(sb, "Detach", json_object_new_boolean(x->detach));
    json_object_object_add(sb, "Tty", json_object_new_boolean(x->tty));
    if (x->detach) {
        if (moat_client_json(cl, "POST", spath, sb, NULL, NULL, err) < 0)
            return moat_client_wrap_error(cl, err);
        return 0;
    }
    _cleanup_close_ int fd = -1;
    if (moat_client_hijack(cl, spath, sb, &fd, err) < 0)
        return moat_client_wrap_error(cl, err);
    _cleanup_free_ char *rpath = xasprintf("/exec/%s/resize", eid);
    if (x->tty)
        cli_stream_resize(cl, rpath);
    struct cli_stream s = {.fd = fd, .tty = x->tty, .stdin_on = x->interactive, .client = cl,
                           .resize_path = rpath, .detach_keys = x->detach_keys};
    if (cli_stream_run(&s, err) < 0)
        return -1;
    if (s.signaled)
        return 128 + s.signaled;
    if (s.detached)
        return 0;
    _cleanup_(moat_json_putp) struct json_object *info = NULL;
    _cleanup_free_ char *ipath = xasprintf("/exec/%s/json", eid);
    if (moat_client_json(cl, "GET", ipath, NULL, NULL, &info, err) < 0)
        return moat_client_wrap_error(cl, err);
    struct json_object *v;
    if (info && json_object_object_get_ex(info, "ExitCode", &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int(v);
    return 0;
}

int cmd_exec(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},           {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, 'F'}, {"user", required_argument, NULL, 'u'},
        {"workdir", required_argument, NULL, 'w'}, {"privileged", no_argument, NULL, 'P'},
        {"detach-keys", required_argument, NULL, 'K'}, {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct exec_opts x = {0};
    _cleanup_strv_ char **env = NULL, **files = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "+:dite:u:w:", longopts, NULL)) != -1) {
        switch (o) {
        case 'd': x.detach = true; break;
        case 'i': x.interactive = true; break;
        case 't': x.tty = true; break;
        case 'e': moat_strv_push(&env, optarg); break;
        case 'F': moat_strv_push(&files, optarg); break;
        case 'u': x.user = optarg; break;
        case 'w': x.workdir = optarg; break;
        case 'P': x.privileged = true; break;
        case 'K': x.detach_keys = optarg; break;
        case 'H': return cli_help(c, "[OPTIONS] CONTAINER COMMAND [ARG...]", exec_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (argc - optind < 2)
        return cli_args_error(c, err, "requires at least 2 arguments");
    _cleanup_strv_ char **all = NULL;
    for (size_t i = 0; files && files[i]; i++)
        if (run_read_env_file(files[i], &all, err) < 0)
            return -1;
    for (size_t i = 0; env && env[i]; i++) {
        _cleanup_free_ char *kv = run_env_value(env[i]);
        moat_strv_push(&all, kv);
    }
    x.env = all;
    if (!x.detach && x.tty && x.interactive && !isatty(STDIN_FILENO))
        return moat_err(err, ENOTTY, "the input device is not a TTY");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    return exec_run(cl, argv[optind], &x, argv + optind + 1, argc - optind - 1, err);
}
