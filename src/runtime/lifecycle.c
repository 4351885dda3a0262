/* start, run, state, kill, delete, pause/resume, list. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"

/* Load a container's state and saved config. */
struct loaded {
    int dirfd;
    struct container_state st;
    struct oci_spec *spec;
};

static void loaded_clear(struct loaded *l)
{
    if (l->dirfd >= 0)
        close(l->dirfd);
    container_state_clear(&l->st);
    oci_spec_free(l->spec);
    l->dirfd = -1;
    l->spec = NULL;
}

static int load(const struct moat_rt_opts *o, const char *id, bool want_spec, struct loaded *l, moat_error **err)
{
    memset(l, 0, sizeof(*l));
    l->dirfd = -1;
    if (state_dir_open(o, id, false, &l->dirfd, err) < 0)
        return -1;
    if (state_load(l->dirfd, id, &l->st, err) < 0) {
        loaded_clear(l);
        return -1;
    }
    if (want_spec && oci_spec_load(l->dirfd, "config.json", &l->spec, err) < 0) {
        loaded_clear(l);
        return moat_err_wrap(err, "saved config of '%s'", id);
    }
    return 0;
}

static int run_hooks_for(struct loaded *l, enum oci_hook_kind kind, const char *status, moat_error **err)
{
    if (!l->spec || !l->spec->hooks.n[kind])
        return 0;
    _cleanup_free_ char *json = state_to_oci_json(&l->st, status, false);
    return hooks_run(l->spec, kind, json, err);
}

int moat_rt_start(const struct moat_rt_opts *o, const char *id, moat_error **err)
{
    struct loaded l;
    if (load(o, id, true, &l, err) < 0)
        return -1;
    int rc = -1;
    _cleanup_close_ int fd = -1;
    _cleanup_error_ moat_error *hook_err = NULL;
    const char *status = state_status(l.dirfd, &l.st);
    if (strcmp(status, "created") != 0) {
        moat_err(err, EINVAL, "container '%s' is %s: only a created container can be started", id, status);
        goto out;
    }
    fd = openat(l.dirfd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        moat_err_errno(err, errno, "container '%s' can't be started (its process is gone)", id);
        goto out;
    }
    if (write(fd, "1", 1) != 1) {
        moat_err_sys(err, "start container '%s'", id);
        goto out;
    }
    unlinkat(l.dirfd, "exec.fifo", 0);
    if (run_hooks_for(&l, OCI_HOOK_POSTSTART, "running", &hook_err) < 0)
        moat_log(MOAT_LOG_WARN, "poststart hook: %s", hook_err->msg);
    rc = 0;
out:
    loaded_clear(&l);
    return rc;
}

int moat_rt_state_json(const struct moat_rt_opts *o, const char *id, char **ret, moat_error **err)
{
    struct loaded l;
    if (load(o, id, false, &l, err) < 0)
        return -1;
    *ret = state_to_oci_json(&l.st, state_status(l.dirfd, &l.st), true);
    loaded_clear(&l);
    return 0;
}

/* Signal every process of the container through its cgroup (cgroup.kill on
 * v2, else each pid).  -ENOENT when there is no cgroup to go through. */
static int signal_all(struct loaded *l, int sig, moat_error **err)
{
    if (!l->st.cgroup)
        return -ENOENT;
    if (moat_cgroup_kill(l->st.cgroup, sig, err) < 0) {
        moat_error_free(*err);
        *err = NULL;
        return -ENOENT;
    }
    return 0;
}

int moat_rt_kill(const struct moat_rt_opts *o, const char *id, int sig, bool all, moat_error **err)
{
    struct loaded l;
    if (load(o, id, false, &l, err) < 0)
        return -1;
    int rc = -1;
    int pfd = state_pidfd(&l.st);
    if (pfd < 0) {
        moat_err(err, ESRCH, "container '%s' is not running", id);
        goto out;
    }
    if (all && signal_all(&l, sig, err) == 0) {
        close(pfd);
        rc = 0;
        goto out;
    }
    if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) < 0) {
        moat_err_sys(err, "signal %d to container '%s'", sig, id);
        close(pfd);
        goto out;
    }
    close(pfd);
    rc = 0;
out:
    loaded_clear(&l);
    return rc;
}

/* Wait (bounded) until the pidfd reports the process gone. */
static bool wait_gone(int pfd, int ms)
{
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

static int kill_container(struct loaded *l, moat_error **err)
{
    int pfd = state_pidfd(&l->st);
    if (pfd < 0)
        return 0;
    bool frozen = false;
    _cleanup_error_ moat_error *e = NULL;
    if (l->st.cgroup && moat_cgroup_is_frozen(l->st.cgroup, &frozen, &e) == 0 && frozen)
        moat_cgroup_freeze(l->st.cgroup, false, &e); /* frozen tasks can't die */
    signal_all(l, SIGKILL, &e);
    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
    bool gone = wait_gone(pfd, 10000);
    close(pfd);
    if (!gone)
        return moat_err(err, ETIMEDOUT, "container '%s' did not die within 10 s of SIGKILL", l->st.id);
    return 0;
}

int moat_rt_delete(const struct moat_rt_opts *o, const char *id, bool force, moat_error **err)
{
    struct loaded l;
    if (load(o, id, true, &l, err) < 0) {
        if (force && *err && (*err)->errnum == ENOENT) {
            moat_error_free(*err);
            *err = NULL;
            return 0;
        }
        if (force && l.dirfd < 0 && *err && (*err)->errnum != ENOENT) {
            /* unreadable state: with --force, still remove what we can */
            state_remove_dir(o, id);
            moat_error_free(*err);
            *err = NULL;
            return 0;
        }
        return -1;
    }
    int rc = -1;
    _cleanup_error_ moat_error *e = NULL;
    const char *status = state_status(l.dirfd, &l.st);
    if (!force && (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0)) {
        moat_err(err, EBUSY, "container '%s' is %s: stop it first or use --force", id, status);
        goto out;
    }
    if (kill_container(&l, err) < 0)
        goto out;
    if (l.st.cgroup && moat_cgroup_destroy(l.st.cgroup, &e) < 0)
        moat_log(MOAT_LOG_WARN, "container '%s': %s", id, e->msg);
    if (run_hooks_for(&l, OCI_HOOK_POSTSTOP, "stopped", &e) < 0)
        moat_log(MOAT_LOG_WARN, "poststop hook: %s", e->msg);
    state_remove_dir(o, id);
    rc = 0;
out:
    loaded_clear(&l);
    return rc;
}

int moat_rt_pause(const struct moat_rt_opts *o, const char *id, bool pause, moat_error **err)
{
    struct loaded l;
    if (load(o, id, false, &l, err) < 0)
        return -1;
    int rc = -1;
    const char *status = state_status(l.dirfd, &l.st);
    if (pause ? strcmp(status, "running") != 0 : strcmp(status, "paused") != 0) {
        moat_err(err, EINVAL, "container '%s' is %s", id, status);
        goto out;
    }
    if (!l.st.cgroup) {
        moat_err(err, ENOTSUP, "container '%s' has no cgroup to freeze", id);
        goto out;
    }
    rc = moat_cgroup_freeze(l.st.cgroup, pause, err);
out:
    loaded_clear(&l);
    return rc;
}

/* Parse a LinuxResources object as /linux/resources of a config, so it gets
 * exactly the checks config.json gets. */
static int parse_resources_doc(const char *resources, size_t len, struct oci_spec **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *res = NULL;
    if (moat_json_parse(resources, len, OCI_MAX_CONFIG_BYTES, "resources", &res, err) < 0)
        return -1;
    if (!json_object_is_type(res, json_type_object))
        return moat_err(err, EINVAL, "resources: expected a JSON object (linux.resources of config.json)");
    _cleanup_json_ struct json_object *doc = json_object_new_object(), *lx = json_object_new_object();
    json_object_object_add(doc, "ociVersion", json_object_new_string(MOAT_OCI_VERSION));
    json_object_object_add(lx, "resources", json_object_get(res));
    json_object_object_add(doc, "linux", json_object_get(lx));
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    return oci_spec_parse(text, strlen(text), "resources", ret, err);
}

int moat_rt_update(const struct moat_rt_opts *o, const char *id, const char *resources, size_t len,
                   moat_error **err)
{
    struct oci_spec *spec = NULL;
    struct loaded l;
    if (parse_resources_doc(resources, len, &spec, err) < 0)
        return moat_err_wrap(err, "update container '%s'", id);
    if (load(o, id, false, &l, err) < 0) {
        oci_spec_free(spec);
        return -1;
    }
    int rc = -1;
    const char *status = state_status(l.dirfd, &l.st);
    if (!strcmp(status, "stopped"))
        moat_err(err, EINVAL, "container '%s' is stopped", id);
    else if (!l.st.cgroup)
        moat_err(err, ENOTSUP, "container '%s' has no cgroup", id);
    else if ((rc = moat_cgroup_update(l.st.cgroup, &spec->linux_.resources, err)) < 0)
        moat_err_wrap(err, "update container '%s'", id);
    loaded_clear(&l);
    oci_spec_free(spec);
    return rc;
}

int moat_rt_list_json(const struct moat_rt_opts *o, char **ret, moat_error **err)
{
    _cleanup_close_ int root = -1;
    _cleanup_json_ struct json_object *arr = json_object_new_array();
    if (state_root_open(o, false, &root, NULL, err) < 0) {
        if ((*err)->errnum != ENOENT)
            return -1;
        moat_error_free(*err);
        *err = NULL;
        *ret = moat_json_dump(arr, false);
        return 0;
    }
    _cleanup_closedir_ DIR *d = fdopendir(dup(root));
    if (!d)
        return moat_err_sys(err, "list containers");
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_error_ moat_error *e = NULL;
        _cleanup_free_ char *json = NULL;
        if (moat_rt_state_json(o, de->d_name, &json, &e) < 0)
            continue;
        struct json_object *obj = NULL;
        if (moat_json_parse(json, strlen(json), 1 << 20, "state", &obj, &e) == 0)
            json_object_array_add(arr, obj);
    }
    *ret = moat_json_dump(arr, false);
    return 0;
}

/* ---- run ------------------------------------------------------------------ */

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

/* Wait for the container to exit, forwarding signals to it. */
static int wait_container(pid_t pid, int sigfd, int *ret_status, moat_error **err)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sigfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si))
            return moat_err_sys(err, "read signalfd");
        if (si.ssi_signo == SIGCHLD) {
            int status;
            pid_t w;
            while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
                if (w == pid) {
                    *ret_status = status;
                    return 0;
                }
            }
        } else if (si.ssi_signo != SIGWINCH) {
            kill(pid, (int)si.ssi_signo);
        }
    }
}

int moat_rt_run(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co, bool detach,
                int *ret_status, moat_error **err)
{
    struct container_plan plan;
    container_plan_init(&plan);
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
        sigaddset(&mask, forwarded[i]);
    sigprocmask(SIG_BLOCK, &mask, &old);
    _cleanup_close_ int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    _cleanup_close_ int sock = -1, console_parent = -1, master = -1;
    pid_t pid = -1;
    int rc = -1, status = 0;
    struct moat_create_opts copts = *co;
    bool created = false;
    struct sync_msg *m = NULL;
    _cleanup_error_ moat_error *exec_err = NULL;

    /* A terminal without a console socket: we hold the pty ourselves. */
    struct oci_spec *peek = NULL;
    {
        _cleanup_free_ char *path = xasprintf("%s/config.json", co->bundle ? co->bundle : ".");
        _cleanup_error_ moat_error *e = NULL;
        if (oci_spec_load(AT_FDCWD, path, &peek, &e) == 0 && peek->process && peek->process->terminal &&
            !co->console_socket) {
            if (detach) {
                oci_spec_free(peek);
                sigprocmask(SIG_SETMASK, &old, NULL);
                return moat_err(err, EINVAL, "a detached container with a terminal needs --console-socket");
            }
            int sp[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
                console_parent = sp[0];
                plan.console_sock = sp[1];
            }
        }
        oci_spec_free(peek);
    }
    if (sigfd < 0) {
        moat_err_sys(err, "signalfd");
        goto out;
    }
    if (container_create(o, id, &copts, false, &plan, &sock, &pid, err) < 0)
        goto out;
    created = true;
    if (console_parent >= 0) {
        close(plan.console_sock);
        plan.console_sock = -1;
        if (console_recv_fd(console_parent, &master, err) < 0)
            goto out;
        console_copy_winsize(master); /* before the start: `stty size` may run at once */
    }
    if (sync_send(sock, SYNC_START, 0, NULL) < 0) {
        moat_err_sys(err, "start the container");
        goto out;
    }
    /* The container's end of the sync socket closes at execve (close-on-exec):
     * EOF means the program runs; an error message means it could not. */
    m = xmalloc(sizeof(*m));
    if (sync_recv(sock, m, &exec_err) < 0 && exec_err->errnum != EPIPE) {
        free(m);
        *err = TAKE_PTR(exec_err);
        goto reap;
    }
    free(m);
    {
        _cleanup_free_ char *state = NULL;
        _cleanup_error_ moat_error *he = NULL;
        if (plan.spec->hooks.n[OCI_HOOK_POSTSTART]) {
            struct container_state st = {.id = (char *)id, .bundle = plan.bundle, .rootfs = plan.rootfs,
                                         .pid = pid, .owner = geteuid()};
            state = state_to_oci_json(&st, "running", false);
            if (hooks_run(plan.spec, OCI_HOOK_POSTSTART, state, &he) < 0)
                moat_log(MOAT_LOG_WARN, "poststart hook: %s", he->msg);
        }
    }
    if (detach) {
        *ret_status = 0;
        rc = 0;
        created = false; /* it lives on */
        goto out;
    }
    if (master >= 0)
        rc = console_proxy(master, pid, sigfd, &status, err);
    else
        rc = wait_container(pid, sigfd, &status, err);
    if (rc == 0)
        *ret_status = exit_code(status);
    goto out;
reap:
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
out:
    container_plan_clear(&plan);
    if (created) {
        _cleanup_error_ moat_error *de = NULL;
        if (moat_rt_delete(o, id, true, &de) < 0 && rc == 0) {
            *err = TAKE_PTR(de);
            rc = -1;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc < 0 && *err)
        moat_err_wrap(err, "run container '%s'", id);
    return rc;
}
