/* Creating a container.
 *
 *   runtime (host) ──fork──> stage 1 ──clone(CLONE_PARENT)──> container process
 *
 * The runtime does the host-side steps on stage 1 before letting it go (cgroup,
 * oom score, rlimits) and writes its id maps when asked.  Stage 1 joins the
 * namespaces given by path, creates the user namespace, then the others, and
 * forks the container process (pid 1 of the new pid namespace, a child of the
 * runtime).  The container process sets up its mounts, pivots, drops
 * everything, reports READY and waits: on the exec fifo (create/start) or on
 * the sync socket (run).  Errors anywhere come back as one line. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/log.h"
#include "moat/util.h"

uint64_t ns_inode(const char *proc_path)
{
    struct stat st;
    return stat(proc_path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

void container_plan_init(struct container_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->exec_fifo = p->console_sock = p->sync_fd = p->rootfs_fd = -1;
    for (int i = 0; i < OCI_NS__COUNT; i++)
        p->ns_fds[i] = -1;
}

void container_plan_clear(struct container_plan *p)
{
    for (size_t i = 0; p->bind_fds && p->spec && i < p->spec->n_mounts; i++)
        if (p->bind_fds[i] >= 0)
            close(p->bind_fds[i]);
    free(p->bind_fds);
    p->bind_fds = NULL;
    rootfs_overlay_free(p->overlay);
    oci_spec_free(p->spec);
    free(p->bundle);
    free(p->rootfs);
    moat_seccomp_prog_free(p->seccomp);
    moat_lsm_plan_clear(&p->lsm);
    moat_landlock_free(p->landlock);
    moat_cgroup_free(p->cgroup);
    if (p->exec_fifo >= 0)
        close(p->exec_fifo);
    if (p->console_sock >= 0)
        close(p->console_sock);
    if (p->rootfs_fd >= 0)
        close(p->rootfs_fd);
    for (int i = 0; i < OCI_NS__COUNT; i++)
        if (p->ns_fds[i] >= 0)
            close(p->ns_fds[i]);
    container_plan_init(p);
}

static int read_cap_last(void)
{
    char buf[16] = "";
    _cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
        return oci_cap_last();
    int v = atoi(buf);
    return v > 0 && v < oci_cap_last() ? v : oci_cap_last();
}

/* Everything that can be checked or computed before any process exists. */
int container_plan_prepare(struct container_plan *plan, const struct moat_rt_opts *o, const char *id,
                           struct oci_spec *spec, const char *bundle, moat_error **err)
{
    plan->id = id;
    plan->spec = spec;
    plan->proc = spec->process;
    plan->rootless = rt_rootless();
    plan->cap_last = read_cap_last();
    plan->host_netns_ino = ns_inode("/proc/self/ns/net");
    plan->host_pidns_ino = ns_inode("/proc/self/ns/pid");
    plan->host_ipcns_ino = ns_inode("/proc/self/ns/ipc");
    plan->bundle = xstrdup(bundle);
    const struct oci_linux *lx = &spec->linux_;

    if (!spec->process)
        return moat_err(err, EINVAL, "config.json has no process: nothing to run");
    if (!spec->process->args || !spec->process->args[0])
        return moat_err(err, EINVAL, "config.json: /process/args: at least one argument is required");
    if (!spec->root_path)
        return moat_err(err, EINVAL, "config.json: /root/path: required");
    if (!lx->ns[OCI_NS_MOUNT].present || lx->ns[OCI_NS_MOUNT].path)
        return moat_err(err, EINVAL,
                        "config.json: /linux/namespaces: moat-runtime needs a new mount namespace (type 'mount' "
                        "without a path)");
    if (geteuid() != 0 && !lx->ns[OCI_NS_USER].present)
        return moat_err(err, EPERM,
                        "running as a normal user needs a user namespace in config.json (see `moat-runtime spec "
                        "--rootless`)");
    _cleanup_free_ char *joined = spec->root_path[0] == '/' ? xstrdup(spec->root_path)
                                                             : xasprintf("%s/%s", bundle, spec->root_path);
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(joined, real) || stat(real, &st) < 0)
        return moat_err_sys(err, "rootfs '%s'", joined);
    if (!S_ISDIR(st.st_mode))
        return moat_err(err, ENOTDIR, "rootfs '%s' is not a directory", real);
    if (strcmp(real, "/") == 0)
        return moat_err(err, EINVAL, "the host's / can't be a container's rootfs");
    plan->rootfs = xstrdup(real);
    plan->rootfs_fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (plan->rootfs_fd < 0)
        return moat_err_sys(err, "open rootfs '%s'", real);
    if (rootfs_overlay_prepare(spec, &plan->overlay, err) < 0)
        return -1;

    if (moat_lsm_plan_make(spec, spec->process, &plan->lsm, err) < 0 ||
        moat_landlock_prepare(spec, &plan->landlock, err) < 0)
        return -1;
    if (lx->seccomp) {
        _cleanup_close_ int cache = state_seccomp_cache_open(o);
        if (moat_seccomp_compile_cached(lx->seccomp, cache, &plan->seccomp, err) < 0)
            return moat_err_wrap(err, "seccomp");
    }
    struct moat_cgroup_opts co = {
        .id = id, .systemd = o->systemd_cgroup, .disabled = o->cgroup_disabled, .rootless = plan->rootless};
    if (moat_cgroup_resolve(spec, &co, &plan->cgroup, err) < 0)
        return moat_err_wrap(err, "cgroup");
    return 0;
}

/* ---- stage 1 and the container process ---------------------------------- */

static int join_ns(const struct oci_linux *lx, int k, moat_error **err)
{
    _cleanup_close_ int fd = open(lx->ns[k].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open %s namespace '%s'", oci_ns_names[k], lx->ns[k].path);
    if (setns(fd, oci_ns_clone_flags[k]) < 0)
        return moat_err_sys(err, "join %s namespace '%s'", oci_ns_names[k], lx->ns[k].path);
    return 0;
}

static int write_time_offsets(const struct oci_linux *lx, moat_error **err)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "monotonic %" PRId64 " %u\nboottime %" PRId64 " %u\n", lx->monotonic_secs,
             lx->monotonic_nsecs, lx->boottime_secs, lx->boottime_nsecs);
    return moat_write_file_at(AT_FDCWD, "/proc/self/timens_offsets", buf, err);
}

static int hooks_in_container(struct container_plan *plan, moat_error **err)
{
    const struct oci_hooks *h = &plan->spec->hooks;
    if (!h->n[OCI_HOOK_PRESTART] && !h->n[OCI_HOOK_CREATE_RUNTIME] && !h->n[OCI_HOOK_CREATE_CONTAINER])
        return 0;
    /* createRuntime (and the deprecated prestart) run on the host side. */
    struct sync_msg *m = xmalloc(sizeof(*m));
    int r = sync_send(plan->sync_fd, SYNC_HOOKS_REQ, 0, NULL);
    if (r < 0 || sync_expect(plan->sync_fd, SYNC_HOOKS_ACK, m, err) < 0) {
        free(m);
        return r < 0 ? moat_err_errno(err, -r, "sync") : -1;
    }
    r = h->n[OCI_HOOK_CREATE_CONTAINER] ? hooks_run(plan->spec, OCI_HOOK_CREATE_CONTAINER, m->text, err) : 0;
    free(m);
    return r;
}

__attribute__((noreturn)) static void container_process(struct container_plan *plan)
{
    moat_error *err = NULL;
    struct proc_ready ready;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Until exec, nothing in the container may ptrace or open /proc/1/... of us. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const struct oci_spec *spec = plan->spec;
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        moat_err_sys(&err, "sethostname '%s'", spec->hostname);
        sync_child_fail(plan->sync_fd, err);
    }
    if (spec->domainname && setdomainname(spec->domainname, strlen(spec->domainname)) < 0) {
        moat_err_sys(&err, "setdomainname '%s'", spec->domainname);
        sync_child_fail(plan->sync_fd, err);
    }
    if (rootfs_setup(plan, hooks_in_container, &err) < 0 || process_setup(plan, &ready, &err) < 0)
        sync_child_fail(plan->sync_fd, err);
    /* `create` exits once we are READY: we must outlive it. */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    process_wait_and_exec(plan, &ready);
}

__attribute__((noreturn)) static void stage1(struct container_plan *plan, pid_t parent)
{
    moat_error *err = NULL;
    int fd = plan->sync_fd;
    const struct oci_linux *lx = &plan->spec->linux_;
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
        _exit(1);
    if (sync_expect(fd, SYNC_GO, NULL, &err) < 0)
        _exit(1);
    /* Into the container's cgroups first: all that follows is accounted and
     * limited there, and the cgroup namespace made below is rooted there. */
    if (moat_cgroup_join_self(plan->cgroup, plan->cg_in_v2, &err) < 0)
        sync_child_fail(fd, err);
    /* Stand in the rootfs while still holding the runtime's credentials: the
     * container's root may not be able to walk the path to it, and the
     * namespace changes below carry the working directory along. */
    if (fchdir(plan->rootfs_fd) < 0) {
        moat_err_sys(&err, "chdir into the rootfs '%s'", plan->rootfs);
        sync_child_fail(fd, err);
    }

    /* Join namespaces given by path: the user namespace first, so that the
     * others (owned by it) can be joined; then create the new ones. */
    if (lx->ns[OCI_NS_USER].present && lx->ns[OCI_NS_USER].path && join_ns(lx, OCI_NS_USER, &err) < 0)
        sync_child_fail(fd, err);
    for (int k = 0; k < OCI_NS__COUNT; k++)
        if (k != OCI_NS_USER && lx->ns[k].present && lx->ns[k].path && join_ns(lx, k, &err) < 0)
            sync_child_fail(fd, err);
    if (lx->ns[OCI_NS_USER].present && !lx->ns[OCI_NS_USER].path) {
        if (unshare(CLONE_NEWUSER) < 0) {
            moat_err_sys(&err, "create the user namespace");
            sync_child_fail(fd, err);
        }
        if (sync_send(fd, SYNC_USERMAP_REQ, 0, NULL) < 0 || sync_expect(fd, SYNC_USERMAP_ACK, NULL, &err) < 0)
            _exit(1);
    }
    if (lx->ns[OCI_NS_USER].present) {
        /* Become root of the user namespace (full capabilities inside it). */
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
            moat_err_sys(&err, "become root in the user namespace (is container id 0 mapped?)");
            sync_child_fail(fd, err);
        }
        /* The id change made us non-dumpable, which would make our own /proc
         * files (timens_offsets) belong to host root. */
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    int flags = 0;
    for (int k = 0; k < OCI_NS__COUNT; k++)
        if (k != OCI_NS_USER && lx->ns[k].present && !lx->ns[k].path)
            flags |= oci_ns_clone_flags[k];
    if (flags && unshare(flags) < 0) {
        moat_err_sys(&err, "create namespaces");
        sync_child_fail(fd, err);
    }
    if (lx->has_time_offsets && write_time_offsets(lx, &err) < 0)
        sync_child_fail(fd, err);
    /* The container process becomes a child of the runtime, not of stage 1.
     * It waits at the gate until its pid has been reported. */
    int gate[2];
    if (sync_gate_make(gate) < 0) {
        moat_err_sys(&err, "pipe");
        sync_child_fail(fd, err);
    }
    long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
    if (pid < 0) {
        moat_err_sys(&err, "clone the container process");
        sync_child_fail(fd, err);
    }
    if (pid == 0) {
        sync_gate_wait(gate);
        container_process(plan);
    }
    sync_send(fd, SYNC_CHILD_PID, (int32_t)pid, NULL);
    _exit(0);
}

/* ---- the runtime's side --------------------------------------------------- */

static char *hook_state_json(struct container_plan *plan, pid_t pid, const char *status)
{
    struct container_state st = {.id = (char *)plan->id, .bundle = plan->bundle, .rootfs = plan->rootfs, .pid = pid,
                                 .annotations = plan->spec->annotations, .n_annotations = plan->spec->n_annotations,
                                 .owner = geteuid()};
    return state_to_oci_json(&st, status, false);
}

static void kill_and_reap(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Drive stage 1 and the container process to READY. */
static int drive(struct container_plan *plan, int sock, pid_t s1, pid_t *ret_pid, moat_error **err)
{
    const struct oci_spec *spec = plan->spec;
    const struct oci_process *proc = spec->process;
    pid_t s2 = -1;
    struct sync_msg *m = NULL;
    /* Host-side steps, before stage 1 creates its namespaces (the cgroups
     * exist already: stage 1 moves itself in). */
    if (proc->has_oom_score_adj && process_write_oom_score_adj(s1, proc->oom_score_adj, err) < 0)
        goto fail;
    if (process_apply_rlimits(s1, proc, oci_annotation_true(spec, ANNOT_RLIMIT_CLAMP), err) < 0)
        goto fail;
    if (sync_send(sock, SYNC_GO, 0, NULL) < 0) {
        moat_err_sys(err, "start stage 1");
        goto fail;
    }
    m = xmalloc(sizeof(*m));
    for (;;) {
        if (sync_recv(sock, m, err) < 0)
            break;
        if (m->type == SYNC_USERMAP_REQ) {
            if (userns_write_maps(s1, &spec->linux_, geteuid() != 0, err) < 0 ||
                rootfs_idmap_binds(plan, s1, err) < 0)
                break;
            sync_send(sock, SYNC_USERMAP_ACK, 0, NULL);
        } else if (m->type == SYNC_CHILD_PID) {
            s2 = m->value;
            while (waitpid(s1, NULL, 0) < 0 && errno == EINTR)
                ;
            s1 = -1;
        } else if (m->type == SYNC_HOOKS_REQ) {
            _cleanup_free_ char *state = hook_state_json(plan, s2, "creating");
            if (hooks_run(spec, OCI_HOOK_PRESTART, state, err) < 0 ||
                hooks_run(spec, OCI_HOOK_CREATE_RUNTIME, state, err) < 0)
                break;
            sync_send(sock, SYNC_HOOKS_ACK, 0, state);
        } else if (m->type == SYNC_READY) {
            if (s2 <= 0) {
                moat_err(err, EPROTO, "the container process was ready before its pid was reported");
                break;
            }
            if (process_fix_stdio_owner(s2, proc, err) < 0)
                break;
            if (spec->hooks.n[OCI_HOOK_START_CONTAINER]) {
                /* startContainer hooks run in the container: the pid they are
                 * given is the one seen there (OCI runtime spec, state). */
                _cleanup_free_ char *state = hook_state_json(plan, m->value > 0 ? m->value : s2, "created");
                if (sync_send(sock, SYNC_STATE, 0, state) < 0) {
                    moat_err_sys(err, "send the state to the container process");
                    break;
                }
            }
            free(m);
            *ret_pid = s2;
            return 0;
        } else {
            moat_err(err, EPROTO, "unexpected message %u during set-up", m->type);
            break;
        }
    }
    free(m);
fail:
    kill_and_reap(s2);
    kill_and_reap(s1);
    return -1;
}

void state_remove_dir(const struct moat_rt_opts *o, const char *id)
{
    _cleanup_close_ int root = -1;
    _cleanup_error_ moat_error *e = NULL;
    if (state_root_open(o, false, &root, NULL, &e) < 0)
        return;
    _cleanup_close_ int d = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d >= 0) {
        _cleanup_closedir_ DIR *dir = fdopendir(dup(d));
        struct dirent *de;
        while (dir && (de = readdir(dir)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(d, de->d_name, 0);
    }
    unlinkat(root, id, AT_REMOVEDIR);
}

/* Create: plan, state directory, processes, state.json.  On return the
 * container process is READY and waiting; *ret_sock is the runtime's end of
 * the sync socket (for run) and *ret_pid the container's pid. */
int container_create(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co, bool use_fifo,
                     struct container_plan *plan, int *ret_sock, pid_t *ret_pid, moat_error **err)
{
    _cleanup_free_ char *cfg = NULL;
    size_t cfg_len = 0;
    char bundle[PATH_MAX];
    _cleanup_close_ int sdir = -1;
    int socks[2] = {-1, -1};
    pid_t s1 = -1, s2 = -1, self = getpid();
    struct oci_spec *spec = NULL;
    struct container_state st = {0};
    char created[64];

    if (valid_container_id(id, err) < 0)
        return -1;
    if (!realpath(co->bundle ? co->bundle : ".", bundle))
        return moat_err_sys(err, "bundle '%s'", co->bundle ? co->bundle : ".");
    _cleanup_close_ int bfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return moat_err_sys(err, "open bundle '%s'", bundle);
    if (moat_read_file_at(bfd, "config.json", OCI_MAX_CONFIG_BYTES, &cfg, &cfg_len, err) < 0 ||
        oci_spec_parse(cfg, cfg_len, "config.json", &spec, err) < 0)
        return -1;
    if (container_plan_prepare(plan, o, id, spec, bundle, err) < 0)
        return -1;
    plan->preserve_fds = co->preserve_fds;
    if (spec->process->terminal && co->console_socket &&
        (plan->console_sock = console_connect(co->console_socket, err)) < 0)
        return -1;
    if (spec->process->terminal && plan->console_sock < 0 && use_fifo)
        return moat_err(err, EINVAL, "process.terminal is true: `create` needs --console-socket");

    if (!plan->rootless && rootfs_preopen_binds(plan, err) < 0)
        return -1;
    if (state_dir_open(o, id, true, &sdir, err) < 0)
        return -1;
    if (moat_write_file_atomic(sdir, "config.json", cfg, cfg_len, 0600, err) < 0)
        goto fail;
    if (use_fifo) {
        if (mkfifoat(sdir, "exec.fifo", 0600) < 0) {
            moat_err_sys(err, "create the exec fifo");
            goto fail;
        }
        /* O_RDWR: never blocks here; the container holds it and waits for a byte. */
        plan->exec_fifo = openat(sdir, "exec.fifo", O_RDWR | O_CLOEXEC);
        if (plan->exec_fifo < 0) {
            moat_err_sys(err, "open the exec fifo");
            goto fail;
        }
    }
    /* the cgroups, with their limits, before stage 1 exists: it is born in
     * them (cgroup2) or moves itself in (v1), both without the grace period
     * a move of another process waits for */
    if (moat_cgroup_enter(plan->cgroup, &spec->linux_, 0, oci_annotation_true(spec, ANNOT_CGROUP_OPTIONAL), err) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0) {
        moat_err_sys(err, "socketpair");
        goto fail;
    }
    plan->sync_fd = socks[1];
    s1 = moat_cgroup_fork(plan->cgroup, &plan->cg_in_v2);
    if (s1 < 0) {
        moat_err_sys(err, "fork");
        goto fail;
    }
    if (s1 == 0) {
        close(socks[0]);
        stage1(plan, self);
    }
    close(socks[1]);
    plan->sync_fd = -1;
    if (drive(plan, socks[0], s1, &s2, err) < 0)
        goto fail;

    st = (struct container_state){.id = (char *)id, .bundle = bundle, .rootfs = plan->rootfs, .pid = s2,
                                  .owner = geteuid(), .rootless = plan->rootless, .cgroup = plan->cgroup,
                                  .annotations = spec->annotations, .n_annotations = spec->n_annotations};
    moat_rfc3339_now(created, sizeof(created));
    st.created = created;
    if (proc_start_time(s2, &st.pid_start) < 0) {
        moat_err(err, ESRCH, "the container process vanished during set-up");
        goto fail;
    }
    if (state_save(sdir, &st, err) < 0)
        goto fail;
    if (co->pid_file) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)s2);
        if (moat_write_file_atomic(AT_FDCWD, co->pid_file, buf, strlen(buf), 0644, err) < 0) {
            moat_err_wrap(err, "pid file");
            goto fail;
        }
    }
    if (plan->exec_fifo >= 0) {
        close(plan->exec_fifo);
        plan->exec_fifo = -1;
    }
    *ret_sock = socks[0];
    *ret_pid = s2;
    return 0;
fail:
    if (s2 > 0)
        kill_and_reap(s2);
    if (socks[0] >= 0)
        close(socks[0]);
    if (plan->cgroup) {
        _cleanup_error_ moat_error *e = NULL;
        moat_cgroup_destroy(plan->cgroup, &e);
    }
    state_remove_dir(o, id);
    return -1;
}

int moat_rt_create(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co, moat_error **err)
{
    struct container_plan plan;
    container_plan_init(&plan);
    int sock = -1;
    pid_t pid;
    int r = container_create(o, id, co, true, &plan, &sock, &pid, err);
    if (sock >= 0)
        close(sock);
    container_plan_clear(&plan);
    if (r < 0)
        return moat_err_wrap(err, "create container '%s'", id);
    return 0;
}
