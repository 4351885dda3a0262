/* moat run: create, attach (hijack), wait?condition=next-exit|removed,
 * start, stream, then the wait result is the exit status (README §3.1). */
#include <errno.h>
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

int cli_run_error(const char *prog, moat_error *err)
{
    const char *msg = err && err->msg ? err->msg : "failed";
    size_t n = strlen(msg);
    fprintf(stderr, "moat: %s%s\nSee '%s --help'.\n", msg, n && msg[n - 1] == '.' ? "" : ".", prog);
    return 125;
}

/* "alpine" -> "alpine:latest" (Docker's message names the normalised reference). */
static char *with_tag(const char *image)
{
    const char *slash = strrchr(image, '/');
    const char *last = slash ? slash + 1 : image;
    if (strchr(last, ':') || strchr(image, '@'))
        return xstrdup(image);
    return xasprintf("%s:latest", image);
}

static bool is_busybox(const char *image)
{
    return !strcmp(image, "busybox") || !strcmp(image, "busybox:latest") || !strcmp(image, "docker.io/library/busybox") ||
           !strcmp(image, "library/busybox") || !strcmp(image, "docker.io/library/busybox:latest");
}

int cli_create_container(struct moat_client *cl, const struct run_opts *o, char **ret_id, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *body = NULL, *resp = NULL;
    if (run_opts_body(o, &body, err) < 0)
        return -1;
    _cleanup_free_ char *name = o->name ? cli_query_escape(o->name) : NULL;
    _cleanup_free_ char *path = name ? xasprintf("/containers/create?name=%s", name) : xstrdup("/containers/create");
    int status = 0;
    if (moat_client_json(cl, "POST", path, body, &status, &resp, err) < 0) {
        if (status == 404 && strstr((*err)->msg, "No such image") && !is_busybox(o->image)) {
            _cleanup_free_ char *ref = with_tag(o->image);
            fprintf(stderr, "Unable to find image '%s' locally\n", ref);
        }
        return moat_client_wrap_error(cl, err);
    }
    _cleanup_free_ char *id = NULL;
    if (moat_json_str(resp, "create", "Id", true, &id, err) < 0)
        return -1;
    struct json_object *warn;
    if (json_object_object_get_ex(resp, "Warnings", &warn) && json_object_is_type(warn, json_type_array))
        for (size_t i = 0; i < json_object_array_length(warn); i++)
            fprintf(stderr, "WARNING: %s\n", json_object_get_string(json_object_array_get_idx(warn, i)));
    *ret_id = TAKE_PTR(id);
    return 0;
}

/* Docker's exit codes for a failed start (runStartContainerErr). */
static int start_failure(const char *prog, moat_error *err)
{
    const char *m = err && err->msg ? err->msg : "";
    int code = 125;
    if (strstr(m, "executable file not found") || strstr(m, "no such file or directory"))
        code = 127;
    else if (strstr(m, "permission denied"))
        code = 126;
    cli_run_error(prog, err);
    return code;
}

/* The wait result: StatusCode, and Error.Message printed. */
int cli_wait_result(struct moat_client_req *w, int *ret_code, moat_error **err)
{
    struct moat_client_resp resp = {0};
    if (moat_client_finish(w, &resp, err) < 0)
        return -1;
    int rc = 0;
    if (resp.status >= 400) {
        rc = moat_client_resp_error(&resp, err);
    } else {
        _cleanup_(moat_json_putp) struct json_object *o = NULL;
        int64_t code = 0;
        struct json_object *e, *m;
        if (moat_json_parse(resp.body ? resp.body : "", resp.len, 1 << 20, "wait", &o, err) < 0 ||
            moat_json_i64(o, "wait", "StatusCode", true, INT32_MIN, INT32_MAX, &code, err) < 0) {
            rc = -1;
        } else {
            if (json_object_object_get_ex(o, "Error", &e) && json_object_is_type(e, json_type_object) &&
                json_object_object_get_ex(e, "Message", &m) && *json_object_get_string(m))
                rc = moat_err(err, EIO, "%s", json_object_get_string(m));
            *ret_code = (int)code;
        }
    }
    moat_client_resp_clear(&resp);
    return rc;
}

int cli_attach_path(const char *id, bool in, const char *detach_keys, char **ret)
{
    _cleanup_free_ char *eid = cli_query_escape(id);
    _cleanup_free_ char *dk = detach_keys ? cli_query_escape(detach_keys) : NULL;
    *ret = xasprintf("/containers/%s/attach?%s%s%sstderr=1%s&stdout=1&stream=1", eid, dk ? "detachKeys=" : "",
                     dk ? dk : "", dk ? "&" : "", in ? "&stdin=1" : "");
    return 0;
}

static int run_attached(struct cli *c, struct moat_client *cl, struct run_opts *o, const char *id)
{
    moat_error *err = NULL;
    _cleanup_free_ char *eid = cli_query_escape(id);
    _cleanup_free_ char *apath = NULL;
    cli_attach_path(id, o->interactive, o->detach_keys, &apath);
    _cleanup_close_ int fd = -1;
    if (moat_client_hijack(cl, apath, NULL, &fd, &err) < 0) {
        moat_client_wrap_error(cl, &err);
        int r = cli_run_error(c->prog, err);
        moat_error_free(err);
        return r;
    }
    /* Like Docker, the terminal goes raw as soon as the stream is attached,
     * before start: early keystrokes reach the container, not the local echo. */
    _cleanup_(cli_raw_end) struct cli_raw_term rt = {0};
    if (o->tty && o->interactive)
        cli_raw_begin(&rt);
    _cleanup_free_ char *wpath = xasprintf("/containers/%s/wait?condition=%s", eid, o->rm ? "removed" : "next-exit");
    struct moat_client_req *w = NULL;
    if (moat_client_begin(cl, "POST", wpath, "text/plain", NULL, 0, &w, NULL, &err) < 0) {
        cli_raw_end(&rt);
        int r = cli_run_error(c->prog, err);
        moat_error_free(err);
        return r;
    }
    _cleanup_free_ char *spath = xasprintf("/containers/%s/start", eid);
    if (moat_client_json(cl, "POST", spath, NULL, NULL, NULL, &err) < 0) {
        moat_client_wrap_error(cl, &err);
        moat_client_req_free(w);
        cli_raw_end(&rt);
        int r = start_failure(c->prog, err);
        moat_error_free(err);
        return r;
    }
    _cleanup_free_ char *rpath = xasprintf("/containers/%s/resize", eid);
    _cleanup_free_ char *kpath = xasprintf("/containers/%s/kill", eid);
    if (o->tty)
        cli_stream_resize(cl, rpath);
    struct cli_stream s = {.fd = fd, .tty = o->tty, .stdin_on = o->interactive, .client = cl,
                           .resize_path = rpath, .kill_path = o->sig_proxy ? kpath : NULL,
                           .detach_keys = o->detach_keys, .raw_by_caller = true};
    int rc = cli_stream_run(&s, &err);
    cli_raw_end(&rt);
    if (rc == 0 && s.signaled) {
        moat_client_req_free(w);
        return 128 + s.signaled;
    }
    if (rc < 0 || s.detached) {
        moat_client_req_free(w);
        if (rc < 0) {
            fprintf(stderr, "moat: %s\n", err->msg);
            moat_error_free(err);
            return 1;
        }
        return 0;
    }
    int code = 0;
    rc = cli_wait_result(w, &code, &err);
    moat_client_req_free(w);
    if (rc < 0) {
        moat_client_wrap_error(cl, &err);
        fprintf(stderr, "moat: %s\n", err->msg);
        moat_error_free(err);
        return 125;
    }
    return code;
}

int cmd_run(struct cli *c, int argc, char **argv, moat_error **err)
{
    struct run_opts o = {0};
    int r = run_opts_parse(&o, argc, argv, c->prog, err);
    if (r != 0) {
        run_opts_free(&o);
        return r < 0 ? -1 : 0;
    }
    if (!o.detach && o.tty && o.interactive && !isatty(STDIN_FILENO)) {
        run_opts_free(&o);
        return moat_err(err, ENOTTY, "the input device is not a TTY");
    }
    struct moat_client *cl;
    _cleanup_free_ char *id = NULL;
    if (cli_client(c, &cl, err) < 0 || cli_create_container(cl, &o, &id, err) < 0) {
        r = cli_run_error(c->prog, *err);
        moat_error_free(*err);
        *err = NULL;
        run_opts_free(&o);
        return r;
    }
    if (!o.detach) {
        r = run_attached(c, cl, &o, id);
        run_opts_free(&o);
        return r;
    }
    bool rm = o.rm;
    run_opts_free(&o);
    /* -d: Docker sends the wait, starts, and hangs up on the wait. */
    _cleanup_free_ char *eid = cli_query_escape(id);
    _cleanup_free_ char *wpath = xasprintf("/containers/%s/wait?condition=%s", eid, rm ? "removed" : "next-exit");
    _cleanup_free_ char *spath = xasprintf("/containers/%s/start", eid);
    struct moat_client_req *w = NULL;
    if (moat_client_begin(cl, "POST", wpath, "text/plain", NULL, 0, &w, NULL, err) < 0 ||
        moat_client_json(cl, "POST", spath, NULL, NULL, NULL, err) < 0) {
        moat_client_wrap_error(cl, err);
        moat_client_req_free(w);
        r = start_failure(c->prog, *err);
        moat_error_free(*err);
        *err = NULL;
        return r;
    }
    moat_client_req_free(w);
    printf("%s\n", id);
    return 0;
}

int cli_inspect_container(struct moat_client *cl, const char *name, struct json_object **ret, moat_error **err)
{
    _cleanup_free_ char *e = cli_query_escape(name);
    _cleanup_free_ char *p = xasprintf("/containers/%s/json", e);
    if (moat_client_json(cl, "GET", p, NULL, NULL, ret, err) < 0) {
        if (moat_client_last_status(cl) == 404) { /* Docker's CLI says it this way */
            moat_error_freep(err);
            return moat_err(err, ENOENT, "Error: No such container: %s", name);
        }
        return moat_client_wrap_error(cl, err);
    }
    if (!*ret || !json_object_is_type(*ret, json_type_object))
        return moat_err(err, EPROTO, "inspect %s: not an object", name);
    return 0;
}

int cli_ctr_info(struct json_object *ctr, const char **id, bool *tty, bool *open_stdin, moat_error **err)
{
    struct json_object *v, *cfg, *x;
    if (!json_object_object_get_ex(ctr, "Id", &v) || !json_object_is_type(v, json_type_string))
        return moat_err(err, EPROTO, "container inspect: no Id");
    *id = json_object_get_string(v);
    *tty = *open_stdin = false;
    if (json_object_object_get_ex(ctr, "Config", &cfg) && json_object_is_type(cfg, json_type_object)) {
        if (json_object_object_get_ex(cfg, "Tty", &x))
            *tty = json_object_get_boolean(x);
        if (json_object_object_get_ex(cfg, "OpenStdin", &x))
            *open_stdin = json_object_get_boolean(x);
    }
    return 0;
}

int cli_stream_and_wait(struct moat_client *cl, int fd, struct moat_client_req *w, const char *id, bool tty, bool in,
                        bool sig_proxy, const char *detach_keys, moat_error **err)
{
    _cleanup_free_ char *eid = cli_query_escape(id);
    _cleanup_free_ char *rpath = xasprintf("/containers/%s/resize", eid);
    _cleanup_free_ char *kpath = xasprintf("/containers/%s/kill", eid);
    struct cli_stream s = {.fd = fd, .tty = tty, .stdin_on = in, .client = cl, .resize_path = rpath,
                           .kill_path = sig_proxy ? kpath : NULL, .detach_keys = detach_keys};
    if (cli_stream_run(&s, err) < 0)
        return -1;
    if (s.signaled)
        return 128 + s.signaled;
    if (s.detached)
        return 0;
    int code = 0;
    if (cli_wait_result(w, &code, err) < 0)
        return moat_client_wrap_error(cl, err);
    return code;
}
