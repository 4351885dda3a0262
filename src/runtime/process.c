/* The last steps of a container process, in the order that keeps each one
 * possible and the window between privilege and exec short:
 *   terminal -> personality/ioprio/umask -> LSM exec label -> Landlock -> cwd
 *   -> (seccomp, when no_new_privs is off: it needs CAP_SYS_ADMIN)
 *   -> groups/gid/uid -> capabilities -> no_new_privs -> chdir -> exec lookup
 *   -> fds -> READY -> wait for start -> (seccomp) -> execve */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cap-ng.h>

#include "runtime/runtime_internal.h"
#include "moat/log.h"
#include "moat/path.h"
#include "moat/util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- host side ---------------------------------------------------------- */

int process_apply_rlimits(pid_t pid, const struct oci_process *proc, bool clamp, moat_error **err)
{
    for (size_t i = 0; i < proc->n_rlimits; i++) {
        const struct oci_rlimit *r = &proc->rlimits[i];
        struct rlimit want = {.rlim_cur = r->soft, .rlim_max = r->hard}, cur;
        if (prlimit(pid, r->resource, &want, NULL) == 0)
            continue;
        int e = errno;
        if (e != EPERM || prlimit(pid, r->resource, NULL, &cur) < 0)
            return moat_err_errno(err, e, "setrlimit %s soft=%" PRIu64 " hard=%" PRIu64, r->name, r->soft, r->hard);
        if (!clamp)
            return moat_err(err, EPERM,
                            "setrlimit %s soft=%" PRIu64 " hard=%" PRIu64 ": the hard limit can't be raised above %llu "
                            "without CAP_SYS_RESOURCE, which this runtime lacks (lower it in the config, or set "
                            "the annotation " ANNOT_RLIMIT_CLAMP "=true to clamp)",
                            r->name, r->soft, r->hard, (unsigned long long)cur.rlim_max);
        struct rlimit cl = {.rlim_max = cur.rlim_max < r->hard ? cur.rlim_max : r->hard};
        cl.rlim_cur = r->soft < cl.rlim_max ? r->soft : cl.rlim_max;
        if (prlimit(pid, r->resource, &cl, NULL) < 0)
            return moat_err_sys(err, "setrlimit %s (clamped)", r->name);
        moat_log(MOAT_LOG_WARN, "%s clamped to soft=%llu hard=%llu (asked for %" PRIu64 "/%" PRIu64 ")", r->name,
                 (unsigned long long)cl.rlim_cur, (unsigned long long)cl.rlim_max, r->soft, r->hard);
    }
    return 0;
}

int process_write_oom_score_adj(pid_t pid, int value, moat_error **err)
{
    char path[64], buf[16];
    snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
    snprintf(buf, sizeof(buf), "%d", value);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", path);
    if (write(fd, buf, strlen(buf)) < 0) {
        if (errno == EACCES || errno == EPERM)
            return moat_err(err, errno,
                            "oomScoreAdj %d: lowering the OOM score needs CAP_SYS_RESOURCE, which this runtime lacks",
                            value);
        return moat_err_sys(err, "write oomScoreAdj %d", value);
    }
    return 0;
}

/* The container's stdio when it is one of our pipes (a shell's `| cat`, the
 * monitor's, bats'): an anonymous pipe belongs to whoever made it, with mode
 * 0600, so a container process of another uid could write to fd 1 but not
 * open /dev/stdout (/proc/self/fd/1) again: "Permission denied".  Like runc's
 * fixStdioPermissions, the pipe is given to the process's user, by whichever
 * side may: the host side when the runtime is host root (the pipe's owner,
 * host root, is unmapped in the container), the container side while it is
 * still root of its user namespace when the owner is mapped there (rootless:
 * the user who made the pipe is the container's root).  EPERM and EINVAL (an
 * id unmapped on that side) just mean "not ours to fix".
 *
 * Only anonymous pipes (pipefs): they exist for this process tree alone.  A
 * regular file, a named FIFO or a terminal is a host object with a life of its
 * own (a log file, a user's tty): handing it to a subordinate uid would change
 * it on the host for good, so it keeps its owner, and the container writes to
 * it through the fd it was given.  /dev/null and other devices are never
 * touched. */
#ifndef PIPEFS_MAGIC
#define PIPEFS_MAGIC 0x50495045
#endif
static int fix_stdio_owner(uid_t uid, gid_t gid, moat_error **err)
{
    for (int fd = 0; fd < 3; fd++) {
        struct stat st;
        struct statfs sf;
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || fstatfs(fd, &sf) < 0 || sf.f_type != PIPEFS_MAGIC)
            continue;
        uid_t u = uid == (uid_t)-1 || st.st_uid == uid ? (uid_t)-1 : uid;
        gid_t g = gid == (gid_t)-1 || st.st_gid == gid ? (gid_t)-1 : gid;
        if (u == (uid_t)-1 && g == (gid_t)-1)
            continue;
        if (fchown(fd, u, g) < 0 && errno != EINVAL && errno != EPERM)
            return moat_err_sys(err, "give the stdio pipe (fd %d) to uid %u gid %u", fd, (unsigned)uid,
                                (unsigned)gid);
    }
    return 0;
}

int process_fix_stdio_owner(pid_t pid, const struct oci_process *proc, moat_error **err)
{
    if (proc->terminal) /* stdio is the container's own pty */
        return 0;
    int64_t uid = userns_id_outside(pid, false, proc->user.uid);
    int64_t gid = userns_id_outside(pid, true, proc->user.gid);
    return fix_stdio_owner(uid < 0 ? (uid_t)-1 : (uid_t)uid, gid < 0 ? (gid_t)-1 : (gid_t)gid, err);
}

/* ---- container side ----------------------------------------------------- */

static int setup_terminal(struct container_plan *plan, moat_error **err)
{
    const struct oci_process *p = plan->proc;
    if (plan->console_sock < 0)
        return moat_err(err, EINVAL, "process.terminal is set but there is no console socket to send it to");
    _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return moat_err_sys(err, "open /dev/ptmx (is /dev/pts mounted?)");
    int unlock = 0, num = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &num) < 0)
        return moat_err_sys(err, "unlock the pty");
    _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return moat_err_sys(err, "open the pty peer");
    if (p->console_height && p->console_width) {
        struct winsize ws = {.ws_row = (unsigned short)p->console_height, .ws_col = (unsigned short)p->console_width};
        ioctl(slave, TIOCSWINSZ, &ws);
    }
    if (!plan->is_exec) {
        /* /dev/console is a file we create in the container's /dev and then
         * bind the pty onto: never whatever an image put there. */
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_error_ moat_error *e = NULL;
        _cleanup_close_ int cfd = moat_ensure_in_root(root, "/dev/console", false, 0600,
                                                      MOAT_RESOLVE_NO_SYMLINKS | MOAT_RESOLVE_NO_FOLLOW_LAST, &e);
        if (cfd < 0)
            return moat_err(err, e->errnum, "/dev/console: %s", e->msg);
        _cleanup_close_ int mfd = open_tree(slave, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
        if (mfd < 0 || move_mount(mfd, "", cfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return moat_err_sys(err, "bind the pty onto /dev/console");
    }
    char name[32];
    snprintf(name, sizeof(name), "/dev/pts/%d", num);
    if (console_send_fd(plan->console_sock, master, name, err) < 0)
        return -1;
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return moat_err_sys(err, "make the pty the controlling terminal");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return moat_err_sys(err, "dup2 the pty");
    return 0;
}

static int setup_identity(struct container_plan *plan, moat_error **err)
{
    const struct oci_process *p = plan->proc;
    const struct oci_caps *c = &p->caps;

    capng_clear(CAPNG_SELECT_ALL);
    int last = plan->cap_last > 0 ? plan->cap_last : oci_cap_last();
    for (int cap = 0; cap <= last; cap++) {
        uint64_t bit = 1ull << cap;
        if (c->bounding & bit)
            capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, cap);
        if (c->effective & bit)
            capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, cap);
        if (c->permitted & bit)
            capng_update(CAPNG_ADD, CAPNG_PERMITTED, cap);
        if (c->inheritable & bit)
            capng_update(CAPNG_ADD, CAPNG_INHERITABLE, cap);
        if (c->ambient & bit)
            capng_update(CAPNG_ADD, CAPNG_AMBIENT, cap);
    }
    /* The bounding set goes first, while we still hold CAP_SETPCAP. */
    if (capng_apply(CAPNG_SELECT_BOUNDS) < 0)
        return moat_err(err, EPERM, "drop capabilities from the bounding set");

    bool setgroups_denied = false;
    char buf[16] = "";
    _cleanup_close_ int sg = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (sg >= 0 && read(sg, buf, sizeof(buf) - 1) > 0)
        setgroups_denied = moat_str_has_prefix(buf, "deny");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return moat_err_sys(err, "prctl PR_SET_KEEPCAPS");
    if (setgroups_denied) {
        if (p->user.n_additional_gids)
            return moat_err(err, EPERM,
                            "additionalGids need setgroups, which this user namespace denies (rootless with a "
                            "single mapped group)");
    } else if (setgroups(p->user.n_additional_gids, (const gid_t *)p->user.additional_gids) < 0) {
        return moat_err_sys(err, "setgroups");
    }
    if (setresgid(p->user.gid, p->user.gid, p->user.gid) < 0)
        return moat_err_sys(err, "setgid %u (is it mapped in the user namespace?)", p->user.gid);
    if (setresuid(p->user.uid, p->user.uid, p->user.uid) < 0)
        return moat_err_sys(err, "setuid %u (is it mapped in the user namespace?)", p->user.uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return moat_err_sys(err, "prctl PR_SET_KEEPCAPS");
    if (capng_apply(CAPNG_SELECT_CAPS) < 0)
        return moat_err(err, EPERM, "set the effective, permitted and inheritable capabilities");
    if (c->ambient && capng_apply(CAPNG_SELECT_AMBIENT) < 0)
        return moat_err(err, EPERM, "raise ambient capabilities (they must also be permitted and inheritable)");
    return 0;
}

int process_find_exec(const char *arg0, char *const *env, char **ret, moat_error **err)
{
    struct stat st;
    if (!arg0 || !*arg0)
        return moat_err(err, EINVAL, "process.args is empty: nothing to run");
    if (strchr(arg0, '/')) {
        if (stat(arg0, &st) < 0)
            return moat_err_sys(err, "exec '%s'", arg0);
        if (S_ISDIR(st.st_mode))
            return moat_err(err, EACCES, "exec '%s': is a directory", arg0);
        if (access(arg0, X_OK) < 0)
            return moat_err_sys(err, "exec '%s'", arg0);
        *ret = xstrdup(arg0);
        return 0;
    }
    const char *path = DEFAULT_PATH;
    for (size_t i = 0; env && env[i]; i++)
        if (moat_str_has_prefix(env[i], "PATH="))
            path = env[i] + 5;
    _cleanup_free_ char *copy = xstrdup(path);
    int saw_eacces = 0;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *cand = xasprintf("%s/%s", *dir ? dir : ".", arg0);
        if (stat(cand, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (access(cand, X_OK) < 0) {
            saw_eacces = 1;
            continue;
        }
        *ret = TAKE_PTR(cand);
        return 0;
    }
    if (saw_eacces)
        return moat_err(err, EACCES, "exec \"%s\": permission denied", arg0);
    return moat_err(err, ENOENT, "exec \"%s\": executable file not found in $PATH", arg0);
}

static int setup_fds(struct container_plan *plan, moat_error **err)
{
    /* Nothing of ours may reach the container (CVE-2024-21626 class): every fd
     * past the preserved ones becomes close-on-exec. */
    for (int fd = 3; fd < 3 + plan->preserve_fds; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0)
            return moat_err_sys(err, "preserved fd %d", fd);
        fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (moat_cloexec_from(3 + plan->preserve_fds) < 0)
        return moat_err_sys(err, "mark fds close-on-exec");
    return 0;
}

static int open_cwd(const char *cwd, moat_error **err)
{
    /* The root is the container's now: resolve inside it, no magic links
     * (a cwd of /proc/self/fd/N must not reach a leaked host directory). */
    _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return moat_err_sys(err, "open /");
    return moat_mkdirs_in_root(root, cwd, 0755, 0, err);
}

int process_setup(struct container_plan *plan, struct proc_ready *ready, moat_error **err)
{
    const struct oci_process *p = plan->proc;
    const struct oci_linux *lx = &plan->spec->linux_;
    ready->cwd_fd = -1;
    ready->exec_path = NULL;

    if ((!plan->is_exec || p->terminal) && setsid() < 0 && errno != EPERM)
        return moat_err_sys(err, "setsid");
    if (p->terminal && setup_terminal(plan, err) < 0)
        return -1;
    if (!plan->is_exec && lx->has_personality && personality(lx->personality) < 0)
        return moat_err_sys(err, "personality");
    if (p->has_io_priority &&
        syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (p->io_priority_class << 13) | p->io_priority) < 0)
        return moat_err_sys(err, "ioprio_set");
    umask(p->user.has_umask ? p->user.umask : 022);
    /* the container side of the stdio pipes' hand-over (see fix_stdio_owner),
     * while we are still root of the user namespace */
    if (!p->terminal && fix_stdio_owner(p->user.uid, p->user.gid, err) < 0)
        return -1;
    if (moat_lsm_apply_exec(&plan->lsm, err) < 0)
        return -1;
    if (plan->landlock) {
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0 || moat_landlock_apply(plan->landlock, root, err) < 0)
            return root < 0 ? moat_err_sys(err, "open /") : -1;
    }
    /* The working directory is resolved and checked before any filter is
     * loaded: the container's profile may refuse what the runtime uses here
     * (openat2, getcwd), and it binds the container, not its set-up. */
    ready->cwd_fd = open_cwd(p->cwd, err);
    if (ready->cwd_fd < 0)
        return moat_err_wrap(err, "working directory");
    char buf[16];
    if (fchdir(ready->cwd_fd) < 0)
        return moat_err_sys(err, "chdir to '%s'", p->cwd);
    if (!getcwd(buf, sizeof(buf)) && errno != ERANGE)
        return moat_err_sys(err, "working directory '%s' is outside the container", p->cwd);
    /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN (in our user
     * namespace): load it now, before the capabilities go. */
    if (plan->seccomp && !p->no_new_privileges) {
        int nfd = -1;
        if (moat_seccomp_load(plan->seccomp, &nfd, err) < 0)
            return -1;
        if (nfd >= 0)
            close(nfd);
    }
    if (setup_identity(plan, err) < 0)
        return -1;
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return moat_err_sys(err, "prctl PR_SET_NO_NEW_PRIVS");
    /* chdir again as the container user, so its permissions apply. */
    if (fchdir(ready->cwd_fd) < 0)
        return moat_err_sys(err, "chdir to '%s'", p->cwd);
    if (process_find_exec(p->args ? p->args[0] : NULL, p->env, &ready->exec_path, err) < 0)
        return -1;
    return setup_fds(plan, err);
}

void process_wait_and_exec(struct container_plan *plan, struct proc_ready *ready)
{
    const struct oci_process *p = plan->proc;
    moat_error *err = NULL;
    _cleanup_free_ char *state = NULL;
    bool start_hooks = !plan->is_exec && plan->spec->hooks.n[OCI_HOOK_START_CONTAINER];
    sync_send(plan->sync_fd, SYNC_READY, (int32_t)getpid(), NULL);
    if (start_hooks) {
        /* the state for the startContainer hooks' stdin, sent right after READY */
        struct sync_msg *m = xmalloc(sizeof(*m));
        int r = sync_expect(plan->sync_fd, SYNC_STATE, m, &err);
        state = r < 0 ? NULL : xstrdup(m->text);
        free(m);
        if (r < 0)
            _exit(1);
    }
    if (plan->exec_fifo >= 0) {
        /* create/start: block until `start` writes to the fifo. */
        char c;
        ssize_t n;
        do
            n = read(plan->exec_fifo, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            _exit(1);
    } else if (sync_expect(plan->sync_fd, SYNC_START, NULL, &err) < 0) {
        _exit(1);
    }
    if (start_hooks && hooks_run(plan->spec, OCI_HOOK_START_CONTAINER, state, &err) < 0)
        goto fail;
    if (plan->seccomp && p->no_new_privileges) {
        int nfd = -1;
        if (moat_seccomp_load(plan->seccomp, &nfd, &err) < 0)
            goto fail;
        if (nfd >= 0)
            close(nfd);
    }
    execve(ready->exec_path, p->args, p->env ? p->env : (char *[]){NULL});
    moat_err_sys(&err, "exec '%s'", ready->exec_path);
fail:
    if (err) {
        char line[2200];
        snprintf(line, sizeof(line), "moat-runtime: %s\n", err->msg);
        (void)!write(STDERR_FILENO, line, strlen(line));
    }
    sync_send(plan->sync_fd, SYNC_ERROR, err ? err->errnum : EIO, err ? err->msg : "exec failed");
    _exit(127);
}
