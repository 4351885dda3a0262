/* docker exec: an exec instance is a process spec waiting to be started; a
 * start runs it under a monitor of its own (exec mode), whose attach socket
 * the API connection is relayed to. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "api/api.h"
#include "engine/container.h"
#include "moat/policy.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/log.h"
#include "moat/monitor.h"
#include "moat/util.h"


enum exec_state { EXEC_CREATED, EXEC_RUNNING, EXEC_EXITED };

struct moat_exec {
    struct moat_exec *next;
    struct moat_engine *e;
    struct moat_container *c; /* NULL once the container is gone */
    char *id, *container_id, *dir;
    struct moat_exec_req *er;
    enum exec_state state;
    pid_t pid, monitor_pid;
    int exit_code;
    bool exit_known;
    bool relay_live; /* a relay holds x as its arg */
    int pidfd;
    struct event *ev;
};

/* The engine's exec instances (one engine per process). */
static struct moat_exec *execs;

static void exec_free(struct moat_exec *x)
{
    if (x->ev)
        event_free(x->ev);
    if (x->pidfd >= 0)
        close(x->pidfd);
    if (x->dir) {
        _cleanup_error_ moat_error *e = NULL;
        moat_rm_rf_at(AT_FDCWD, x->dir, &e);
    }
    free(x->id);
    free(x->container_id);
    free(x->dir);
    moat_exec_req_free(x->er);
    free(x);
}

/* Exited exec records are kept for inspect (Docker keeps them until the container goes),
 * but bounded: the newest EXEC_KEEP per container, and none of a removed container, once
 * no relay refers to them. */
#define EXEC_KEEP 64
static void exec_prune(struct moat_engine *e, struct moat_container *c)
{
    size_t seen = 0;
    for (struct moat_exec **p = &execs; *p;) { /* newest first */
        struct moat_exec *x = *p;
        bool done = x->e == e && x->state == EXEC_EXITED && !x->relay_live;
        if (x->e == e && x->c == c && x->state == EXEC_EXITED)
            seen++;
        if (done && (!x->c || (x->c == c && seen > EXEC_KEEP))) {
            *p = x->next;
            exec_free(x);
            continue;
        }
        p = &x->next;
    }
}

int exec_create(struct moat_container *c, const struct moat_caller *who, const char *body, size_t len,
                char **ret_id, moat_error **err)
{
    if (c->status != CTR_RUNNING)
        return moat_err(err, EEXIST, c->status == CTR_PAUSED ? "Container %s is paused, unpause the container before exec"
                                                             : "Container %s is not running",
                        c->id);
    struct moat_exec_req *er = NULL;
    if (moat_exec_req_parse(body, len, &er, err) < 0)
        return -1;
    if (!er->cmd || !er->cmd[0]) {
        moat_exec_req_free(er);
        return moat_err(err, EINVAL, "No exec command specified");
    }
    if (ctr_admit_op(c, who, POL_EXEC, er, NULL, err) < 0) {
        moat_exec_req_free(er);
        return -1;
    }
    exec_prune(c->e, c);
    struct moat_exec *x = xcalloc(1, sizeof *x);
    x->e = c->e;
    x->c = c;
    x->id = engine_random_hex(32);
    x->container_id = xstrdup(c->id);
    x->er = er;
    x->pidfd = -1;
    x->next = execs;
    execs = x;
    moat_engine_event(c->e, "container", "exec_create", c->id, (char *const[]){"execID", x->id, NULL});
    *ret_id = xstrdup(x->id);
    return 0;
}

struct moat_exec *exec_find(struct moat_engine *e, const char *id)
{
    size_t len = strlen(id);
    struct moat_exec *found = NULL;
    for (struct moat_exec *x = execs; x; x = x->next) {
        if (x->e != e)
            continue;
        if (!strcmp(x->id, id))
            return x;
        if (len >= 12 && !strncmp(x->id, id, len))
            found = x;
    }
    return found;
}

void exec_drop_container(struct moat_engine *e, struct moat_container *c)
{
    for (struct moat_exec **p = &execs; *p;) {
        struct moat_exec *x = *p;
        if (x->e == e && x->c == c) {
            if (x->state == EXEC_RUNNING || x->relay_live) {
                /* its monitor ends with the container, or a relay still refers to it: keep the
                 * record, orphaned (exec_prune frees it later) */
                x->c = NULL;
                p = &x->next;
                continue;
            }
            *p = x->next;
            exec_free(x);
            continue;
        }
        p = &x->next;
    }
}

static void record_exit(struct moat_exec *x, int code)
{
    if (x->exit_known)
        return;
    x->exit_known = true;
    x->exit_code = code;
    x->state = EXEC_EXITED;
    if (x->c) {
        char s[16];
        snprintf(s, sizeof s, "%d", code);
        moat_engine_event(x->e, "container", "exec_die", x->c->id,
                          (char *const[]){"execID", x->id, "exitCode", s, NULL});
    }
}

static void on_exit_frame(void *arg, int code)
{
    record_exit(arg, code);
}

static void on_relay_free(void *arg)
{
    ((struct moat_exec *)arg)->relay_live = false;
}


static void monitor_gone(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct moat_exec *x = arg;
    event_free(x->ev);
    x->ev = NULL;
    close(x->pidfd);
    x->pidfd = -1;
    _cleanup_free_ char *path = xasprintf("%s/exit.json", x->dir);
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_error_ moat_error *e = NULL;
    struct json_object *v;
    int code = 126;
    if (moat_json_parse_file_at(AT_FDCWD, path, 65536, "exit.json", &o, &e) == 0 &&
        json_object_object_get_ex(o, "ExitCode", &v))
        code = json_object_get_int(v);
    record_exit(x, code);
    x->state = EXEC_EXITED;
}

static int prepare(struct moat_exec *x, bool tty, moat_error **err)
{
    struct moat_container *c = x->c;
    _cleanup_free_ char *cfgpath = xasprintf("%s/bundle/config.json", c->dir);
    _cleanup_json_ struct json_object *cfg = NULL, *proc = NULL;
    if (moat_json_parse_file_at(AT_FDCWD, cfgpath, 16u << 20, "config.json", &cfg, err) < 0)
        return -1;
    x->er->tty = tty;
    if (x->er->user && x->er->user[0] && c->pid > 0 && ctr_rootfs_in_container(c)) {
        /* exec -u NAME: the names are in the container's own mount of its root
         * (the engine owns its user namespace, so /proc/PID/root is open to it) */
        struct json_object *root = NULL;
        if (json_object_object_get_ex(cfg, "root", &root) && json_object_is_type(root, json_type_object)) {
            _cleanup_free_ char *p = xasprintf("/proc/%d/root", (int)c->pid);
            json_object_object_add(root, "path", json_object_new_string(p));
        }
    }
    if (moat_spec_exec_process(cfg, x->er, &proc, err) < 0)
        return -1;
    char *dir = xasprintf("%s/exec-%.12s", c->run_dir, x->id);
    if (mkdir(dir, 0700) < 0) {
        int saved = errno;
        free(dir);
        return moat_err_errno(err, saved, "create the exec directory in '%s'", c->run_dir);
    }
    free(x->dir);
    x->dir = dir;
    _cleanup_close_ int dfd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", x->dir);
    const char *s = json_object_to_json_string_ext(proc, JSON_C_TO_STRING_PLAIN);
    return moat_write_file_atomic(dfd, "process.json", s, strlen(s), 0600, err);
}

void exec_start(struct moat_engine *e, struct moat_exec *x, struct moat_http_req *req)
{
    _cleanup_error_ moat_error *err = NULL;
    if (x->state != EXEC_CREATED) {
        moat_http_reply_error(req, 409, "exec %s has already been started", x->id);
        return;
    }
    if (!x->c || x->c->status != CTR_RUNNING) {
        moat_http_reply_error(req, 409, "Container %s is not running", x->container_id);
        return;
    }
    _cleanup_json_ struct json_object *body = NULL;
    size_t len = 0;
    const char *b = moat_http_body(req, &len);
    bool detach = false, tty = x->er->tty;
    if (b && len) {
        _cleanup_error_ moat_error *pe = NULL;
        if (moat_json_parse(b, len, 65536, "exec start body", &body, &pe) < 0) {
            moat_http_reply_error(req, 400, "%s", pe->msg);
            return;
        }
        struct json_object *v;
        if (json_object_object_get_ex(body, "Detach", &v))
            detach = json_object_get_boolean(v);
        if (json_object_object_get_ex(body, "Tty", &v))
            tty = json_object_get_boolean(v) || tty;
    }
    if (!detach && relay_check_room(e, &err) < 0) {
        moat_http_reply_error(req, 503, "%s", err->msg);
        return;
    }
    if (prepare(x, tty, &err) < 0) {
        api_error_reply(req, err);
        return;
    }
    _cleanup_free_ char *proc = xasprintf("%s/process.json", x->dir);
    _cleanup_free_ char *exitf = xasprintf("%s/exit.json", x->dir);
    _cleanup_free_ char *logf = xasprintf("%s/exec.log", x->dir);
    struct spawn s = {.mode_flag = "--exec", .mode_arg = proc, .run_dir = x->dir, .exit_file = exitf,
                      .log_file = logf, .tty = tty, .in = x->er->attach_stdin && !detach, .stdin_once = true};
    if (engine_spawn_monitor(e, x->c->id, &s, &x->monitor_pid, &x->pid, &err) < 0) {
        api_error_reply(req, err);
        return;
    }
    x->state = EXEC_RUNNING;
    x->pidfd = (int)syscall(SYS_pidfd_open, x->monitor_pid, 0);
    if (x->pidfd >= 0) {
        x->ev = event_new(e->base, x->pidfd, EV_READ, monitor_gone, x);
        event_add(x->ev, NULL);
    }
    moat_engine_event(e, "container", "exec_start", x->c->id, (char *const[]){"execID", x->id, NULL});
    _cleanup_free_ char *sock = xasprintf("%s/attach.sock", x->dir);
    if (detach) {
        if (monitor_send(sock, MOAT_MON_START, NULL, 0, &err) < 0) {
            api_error_reply(req, err);
            return;
        }
        moat_http_reply(req, 200, "application/json", "", 0);
        return;
    }
    struct relay_opts o = {.in = x->er->attach_stdin, .out = true, .err = true, .tty = tty, .is_exec = true,
                           .send_start = true, .close_stdin_on_eof = true, .detach_keys = x->er->detach_keys,
                           .on_free = on_relay_free};
    int fd = -1;
    char *pending = NULL;
    size_t plen = 0;
    if (moat_http_hijack(req, moat_http_wants_upgrade(req), &fd, &pending, &plen, &err) < 0)
        return;
    x->relay_live = true; /* relay_new frees the relay on failure, which clears it again */
    if (relay_new(e, x->c, fd, pending, plen, &o, sock, on_exit_frame, x, &err) < 0) {
        moat_log(MOAT_LOG_WARN, "exec %.12s: %s", x->id, err->msg);
        monitor_send(sock, MOAT_MON_START, NULL, 0, NULL);
    }
}

struct json_object *exec_inspect_json(struct moat_exec *x)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ID", json_object_new_string(x->id));
    json_object_object_add(o, "Running", json_object_new_boolean(x->state == EXEC_RUNNING && !x->exit_known));
    json_object_object_add(o, "ExitCode", x->exit_known ? json_object_new_int(x->exit_code) : NULL);
    struct json_object *pc = json_object_new_object();
    json_object_object_add(pc, "tty", json_object_new_boolean(x->er->tty));
    json_object_object_add(pc, "entrypoint", json_object_new_string(x->er->cmd[0]));
    struct json_object *args = json_object_new_array();
    for (size_t i = 1; x->er->cmd[i]; i++)
        json_object_array_add(args, json_object_new_string(x->er->cmd[i]));
    json_object_object_add(pc, "arguments", args);
    json_object_object_add(pc, "privileged", json_object_new_boolean(false));
    json_object_object_add(pc, "user", json_object_new_string(x->er->user ? x->er->user : ""));
    json_object_object_add(o, "ProcessConfig", pc);
    json_object_object_add(o, "OpenStdin", json_object_new_boolean(x->er->attach_stdin));
    json_object_object_add(o, "OpenStderr", json_object_new_boolean(x->er->attach_stderr));
    json_object_object_add(o, "OpenStdout", json_object_new_boolean(x->er->attach_stdout));
    json_object_object_add(o, "CanRemove", json_object_new_boolean(false));
    json_object_object_add(o, "ContainerID", json_object_new_string(x->container_id));
    json_object_object_add(o, "DetachKeys", json_object_new_string(x->er->detach_keys ? x->er->detach_keys : ""));
    json_object_object_add(o, "Pid", json_object_new_int(x->pid));
    return o;
}

int exec_resize(struct moat_exec *x, unsigned h, unsigned w, moat_error **err)
{
    if (x->state != EXEC_RUNNING || !x->dir)
        return moat_err(err, EEXIST, "exec %s is not running", x->id);
    unsigned char p[4] = {(unsigned char)(h >> 8), (unsigned char)h, (unsigned char)(w >> 8), (unsigned char)w};
    _cleanup_free_ char *sock = xasprintf("%s/attach.sock", x->dir);
    return monitor_send(sock, MOAT_MON_RESIZE, p, sizeof p, err);
}
