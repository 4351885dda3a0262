/* exec: run another process in a running container.  The runtime forks a
 * stage that joins the container's namespaces (user first), then clones the
 * process itself into its pid namespace; that process goes through the same
 * final steps as the container's first process (identity, capabilities,
 * no_new_privs, seccomp, Landlock, LSM label, cwd, fds). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

static int parse_user(const char *s, struct oci_user *u, moat_error **err)
{
    uint64_t uid, gid;
    _cleanup_free_ char *copy = xstrdup(s);
    char *colon = strchr(copy, ':');
    if (colon)
        *colon = '\0';
    if (moat_parse_u64(copy, &uid) < 0 || uid > UINT32_MAX || (colon && (moat_parse_u64(colon + 1, &gid) < 0 ||
                                                                         gid > UINT32_MAX)))
        return moat_err(err, EINVAL, "--user '%s': expected uid[:gid] as numbers", s);
    u->uid = (uint32_t)uid;
    if (colon)
        u->gid = (uint32_t)gid;
    return 0;
}

/* The process to run: a process.json, or the container's own process with
 * the command and the options replaced. */
static int build_process(const struct oci_spec *spec, const struct moat_exec_opts *eo, struct oci_process **ret,
                         moat_error **err)
{
    if (eo->process_file) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (moat_read_file_at(AT_FDCWD, eo->process_file, OCI_MAX_CONFIG_BYTES, &buf, &len, err) < 0)
            return -1;
        return oci_process_parse(buf, len, eo->process_file, ret, err);
    }
    if (!eo->args || !eo->args[0])
        return moat_err(err, EINVAL, "exec: no command given");
    const struct oci_process *b = spec->process;
    struct oci_process *p = xcalloc(1, sizeof(*p));
    p->args = moat_strv_dup(eo->args);
    p->env = moat_strv_dup(b->env);
    for (size_t i = 0; eo->env && eo->env[i]; i++) {
        if (!strchr(eo->env[i], '=')) {
            oci_process_free(p);
            return moat_err(err, EINVAL, "--env '%s': expected NAME=VALUE", eo->env[i]);
        }
        moat_strv_push(&p->env, eo->env[i]);
    }
    p->cwd = xstrdup(eo->cwd ? eo->cwd : b->cwd);
    p->user = b->user;
    p->user.username = NULL;
    p->user.additional_gids = NULL;
    if (b->user.n_additional_gids) {
        p->user.additional_gids = xcalloc(b->user.n_additional_gids, sizeof(uint32_t));
        memcpy(p->user.additional_gids, b->user.additional_gids, b->user.n_additional_gids * sizeof(uint32_t));
    }
    if (eo->user && parse_user(eo->user, &p->user, err) < 0) {
        oci_process_free(p);
        return -1;
    }
    p->caps = b->caps;
    for (size_t i = 0; eo->caps && eo->caps[i]; i++) {
        int cap = oci_cap_from_name(eo->caps[i]);
        if (cap < 0) {
            oci_process_free(p);
            return moat_err(err, EINVAL, "--cap: unknown capability '%s'", eo->caps[i]);
        }
        p->caps.bounding |= 1ull << cap;
        p->caps.effective |= 1ull << cap;
        p->caps.permitted |= 1ull << cap;
    }
    p->no_new_privileges = b->no_new_privileges || eo->no_new_privs;
    p->apparmor_profile = xstrdup_or_null(eo->apparmor ? eo->apparmor : b->apparmor_profile);
    p->selinux_label = xstrdup_or_null(eo->process_label ? eo->process_label : b->selinux_label);
    p->terminal = eo->tty;
    p->has_oom_score_adj = false;
    if (b->n_rlimits) {
        p->rlimits = xcalloc(b->n_rlimits, sizeof(*p->rlimits));
        for (size_t i = 0; i < b->n_rlimits; i++) {
            p->rlimits[i] = b->rlimits[i];
            p->rlimits[i].name = xstrdup(b->rlimits[i].name);
        }
        p->n_rlimits = b->n_rlimits;
    }
    *ret = p;
    return 0;
}

static int open_ns_fds(struct container_plan *plan, pid_t pid, moat_error **err)
{
    for (int k = 0; k < OCI_NS__COUNT; k++) {
        char theirs[64], ours[64];
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, oci_ns_proc_names[k]);
        snprintf(ours, sizeof(ours), "/proc/self/ns/%s", oci_ns_proc_names[k]);
        uint64_t a = ns_inode(theirs), b = ns_inode(ours);
        if (a == 0 || a == b)
            continue; /* shared with us (or not supported by the kernel) */
        plan->ns_fds[k] = open(theirs, O_RDONLY | O_CLOEXEC);
        if (plan->ns_fds[k] < 0)
            return moat_err_sys(err, "open '%s'", theirs);
    }
    return 0;
}

__attribute__((noreturn)) static void exec_process(struct container_plan *plan)
{
    moat_error *err = NULL;
    struct proc_ready ready;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (process_setup(plan, &ready, &err) < 0)
        sync_child_fail(plan->sync_fd, err);
    /* exec --detach returns as soon as the process runs: it must outlive us
     * (its reaper is our parent, e.g. conmon as a subreaper).  Should we die
     * before START, the sync socket's EOF still makes it exit. */
    if (plan->exec_detach)
        prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    process_wait_and_exec(plan, &ready);
}

__attribute__((noreturn)) static void exec_stage1(struct container_plan *plan, const struct moat_cgroup *cg,
                                                   pid_t parent)
{
    moat_error *err = NULL;
    int fd = plan->sync_fd;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent || sync_expect(fd, SYNC_GO, NULL, &err) < 0)
        _exit(1);
    /* the container's cgroups before its cgroup namespace (see stage1) */
    if (moat_cgroup_join_self(cg, plan->cg_in_v2, &err) < 0)
        sync_child_fail(fd, err);
    /* user first: it gives the capabilities needed to join the rest */
    static const int order[] = {OCI_NS_USER, OCI_NS_IPC, OCI_NS_UTS, OCI_NS_NET, OCI_NS_PID,
                                OCI_NS_CGROUP, OCI_NS_TIME, OCI_NS_MOUNT};
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        int k = order[i];
        if (plan->ns_fds[k] >= 0 && setns(plan->ns_fds[k], oci_ns_clone_flags[k]) < 0) {
            moat_err_sys(&err, "join the container's %s namespace", oci_ns_names[k]);
            sync_child_fail(fd, err);
        }
        if (k == OCI_NS_USER && plan->ns_fds[k] >= 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
            moat_err_sys(&err, "become root in the container's user namespace");
            sync_child_fail(fd, err);
        }
    }
    int gate[2];
    if (sync_gate_make(gate) < 0) {
        moat_err_sys(&err, "pipe");
        sync_child_fail(fd, err);
    }
    long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
    if (pid < 0) {
        moat_err_sys(&err, "clone the exec process");
        sync_child_fail(fd, err);
    }
    if (pid == 0) {
        sync_gate_wait(gate); /* until our pid has been reported */
        exec_process(plan);
    }
    sync_send(fd, SYNC_CHILD_PID, (int32_t)pid, NULL);
    _exit(0);
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

static int drive_exec(struct container_plan *plan, int sock, pid_t e1, pid_t *ret_pid, moat_error **err)
{
    pid_t e2 = -1; /* e1 moves itself into the container's cgroups */
    if (process_apply_rlimits(e1, plan->proc, oci_annotation_true(plan->spec, ANNOT_RLIMIT_CLAMP), err) < 0)
        return -1;
    if (plan->proc->has_oom_score_adj && process_write_oom_score_adj(e1, plan->proc->oom_score_adj, err) < 0)
        return -1;
    if (sync_send(sock, SYNC_GO, 0, NULL) < 0)
        return moat_err_sys(err, "start the exec stage");
    struct sync_msg *m = xmalloc(sizeof(*m));
    int rc = -1;
    for (;;) {
        if (sync_recv(sock, m, err) < 0)
            break;
        if (m->type == SYNC_CHILD_PID) {
            e2 = m->value;
            while (waitpid(e1, NULL, 0) < 0 && errno == EINTR)
                ;
            e1 = -1;
        } else if (m->type == SYNC_READY) {
            if (e2 <= 0) {
                moat_err(err, EPROTO, "the exec process was ready before its pid was reported");
                break;
            }
            if (process_fix_stdio_owner(e2, plan->proc, err) < 0)
                break;
            *ret_pid = e2;
            rc = 0;
            break;
        } else {
            moat_err(err, EPROTO, "unexpected message %u during exec", m->type);
            break;
        }
    }
    free(m);
    if (rc < 0) {
        if (e2 > 0) {
            kill(e2, SIGKILL);
            waitpid(e2, NULL, 0);
        }
        if (e1 > 0) {
            kill(e1, SIGKILL);
            waitpid(e1, NULL, 0);
        }
    }
    return rc;
}

static int exec_prepare(const struct moat_rt_opts *o, struct container_plan *plan, const struct container_state *st,
                        struct oci_spec *spec, struct oci_process *proc, moat_error **err)
{
    plan->id = st->id;
    plan->spec = spec;
    plan->proc = proc;
    plan->is_exec = true;
    plan->rootless = rt_rootless();
    plan->rootfs = xstrdup(st->rootfs ? st->rootfs : "");
    plan->bundle = xstrdup(st->bundle);
    plan->cap_last = oci_cap_last();
    if (moat_lsm_plan_make(spec, proc, &plan->lsm, err) < 0 || moat_landlock_prepare(spec, &plan->landlock, err) < 0)
        return -1;
    if (spec->linux_.seccomp) {
        _cleanup_close_ int cache = state_seccomp_cache_open(o);
        if (moat_seccomp_compile_cached(spec->linux_.seccomp, cache, &plan->seccomp, err) < 0)
            return moat_err_wrap(err, "seccomp");
    }
    return open_ns_fds(plan, st->pid, err);
}

int moat_rt_exec(const struct moat_rt_opts *o, const char *id, const struct moat_exec_opts *eo, int *ret_status,
                 moat_error **err)
{
    struct container_plan plan;
    container_plan_init(&plan);
    struct container_state st = {0};
    struct oci_process *proc = NULL;
    _cleanup_close_ int dirfd = -1, pfd = -1, sigfd = -1, console_parent = -1, master = -1;
    int socks[2] = {-1, -1}, rc = -1, status = 0;
    pid_t e1 = -1, e2 = -1, self = getpid();
    struct oci_spec *spec = NULL;
    sigset_t mask, old;
    sigemptyset(&mask);
    int fwd[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
        sigaddset(&mask, fwd[i]);
    sigprocmask(SIG_BLOCK, &mask, &old);

    if (state_dir_open(o, id, false, &dirfd, err) < 0 || state_load(dirfd, id, &st, err) < 0 ||
        oci_spec_load(dirfd, "config.json", &spec, err) < 0)
        goto out;
    pfd = state_pidfd(&st);
    if (pfd < 0) {
        moat_err(err, ESRCH, "container '%s' is not running", id);
        goto out;
    }
    /* A process joining a frozen cgroup freezes at once: exec would hang. */
    if (strcmp(state_status(dirfd, &st), "paused") == 0) {
        moat_err(err, EBUSY, "container '%s' is paused: resume it first", id);
        goto out;
    }
    if (build_process(spec, eo, &proc, err) < 0)
        goto out;
    if (exec_prepare(o, &plan, &st, spec, proc, err) < 0)
        goto out;
    plan.preserve_fds = eo->preserve_fds;
    plan.exec_detach = eo->detach;
    if (proc->terminal) {
        if (eo->console_socket) {
            if ((plan.console_sock = console_connect(eo->console_socket, err)) < 0)
                goto out;
        } else if (eo->detach) {
            moat_err(err, EINVAL, "exec --tty --detach needs --console-socket");
            goto out;
        } else {
            int sp[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                moat_err_sys(err, "socketpair");
                goto out;
            }
            console_parent = sp[0];
            plan.console_sock = sp[1];
        }
    }
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sigfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0) {
        moat_err_sys(err, "set up exec");
        goto out;
    }
    plan.sync_fd = socks[1];
    e1 = moat_cgroup_fork(st.cgroup, &plan.cg_in_v2);
    if (e1 < 0) {
        moat_err_sys(err, "fork");
        goto out;
    }
    if (e1 == 0) {
        close(socks[0]);
        exec_stage1(&plan, st.cgroup, self);
    }
    close(socks[1]);
    socks[1] = plan.sync_fd = -1;
    if (drive_exec(&plan, socks[0], e1, &e2, err) < 0)
        goto out;
    if (console_parent >= 0) {
        close(plan.console_sock);
        plan.console_sock = -1;
        if (console_recv_fd(console_parent, &master, err) < 0)
            goto kill;
        console_copy_winsize(master); /* before the start, as for run */
    }
    if (sync_send(socks[0], SYNC_START, 0, NULL) < 0) {
        moat_err_sys(err, "start the exec process");
        goto kill;
    }
    {
        struct sync_msg *m = xmalloc(sizeof(*m));
        _cleanup_error_ moat_error *xe = NULL;
        int r = sync_recv(socks[0], m, &xe);
        free(m);
        if (r < 0 && xe->errnum != EPIPE) {
            *err = TAKE_PTR(xe);
            goto kill;
        }
    }
    if (eo->pid_file) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)e2);
        if (moat_write_file_atomic(AT_FDCWD, eo->pid_file, buf, strlen(buf), 0644, err) < 0)
            goto kill;
    }
    if (eo->detach) {
        *ret_status = 0;
        rc = 0;
        goto out;
    }
    if (master >= 0) {
        rc = console_proxy(master, e2, sigfd, &status, err);
    } else {
        for (;;) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) != sizeof(si)) {
                if (errno == EINTR)
                    continue;
                moat_err_sys(err, "read signalfd");
                break;
            }
            if (si.ssi_signo == SIGCHLD) {
                if (waitpid(e2, &status, WNOHANG) == e2) {
                    rc = 0;
                    break;
                }
            } else if (si.ssi_signo != SIGWINCH) {
                kill(e2, (int)si.ssi_signo);
            }
        }
    }
    if (rc == 0)
        *ret_status = exit_code(status);
    goto out;
kill:
    if (e2 > 0) {
        kill(e2, SIGKILL);
        waitpid(e2, NULL, 0);
    }
out:
    if (socks[0] >= 0)
        close(socks[0]);
    if (socks[1] >= 0)
        close(socks[1]);
    plan.spec = NULL; /* freed below */
    container_plan_clear(&plan);
    oci_process_free(proc);
    oci_spec_free(spec);
    container_state_clear(&st);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        moat_err_wrap(err, "exec in container '%s'", id);
    return rc;
}
