/* Run store work on untrusted bytes (layer tars) or untrusted trees (layer
 * and snapshot directories) in a child process that has given up everything
 * it does not need before it reads the first byte (STYLE habit 8, OpenSSH's
 * privilege separation).  See image_internal.h for the list. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cap-ng.h>
#include <grp.h>
#include <sched.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#define LL_FS_ABI1 ((1ULL << 13) - 1)
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#define RESULT_MAX (4u << 20)

/* ---- in the child ------------------------------------------------------- */

static int landlock_apply(const struct sbx_opts *o, moat_error **err)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        moat_log(MOAT_LOG_DEBUG, "sandbox: Landlock unavailable, relying on seccomp and capabilities");
        return 0;
    }
    uint64_t fs = LL_FS_ABI1 | (abi >= 2 ? LL_FS_REFER : 0) | (abi >= 3 ? LL_FS_TRUNCATE : 0) |
                  (abi >= 5 ? LL_FS_IOCTL_DEV : 0);
    struct ll_ruleset_attr attr = {
        .handled_access_fs = fs,
        .handled_access_net = abi >= 4 ? LL_NET_BIND_TCP | LL_NET_CONNECT_TCP : 0,
        .scoped = abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL : 0,
    };
    _cleanup_close_ int rfd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rfd < 0)
        return moat_err_sys(err, "landlock_create_ruleset");
    if (o->write_fd >= 0) {
        struct landlock_path_beneath_attr b = {.allowed_access = fs, .parent_fd = o->write_fd};
        if (syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &b, 0) < 0)
            return moat_err_sys(err, "landlock_add_rule (write)");
    }
    for (size_t i = 0; i < o->n_read; i++) {
        struct landlock_path_beneath_attr b = {.allowed_access = LL_READ, .parent_fd = o->read_fds[i]};
        if (syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &b, 0) < 0)
            return moat_err_sys(err, "landlock_add_rule (read)");
    }
    if (syscall(__NR_landlock_restrict_self, rfd, 0) < 0)
        return moat_err_sys(err, "landlock_restrict_self");
    return 0;
}

static const char *const mount_calls[] = {"mount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick",
                                          "move_mount", "open_tree", "mount_setattr"};

static bool is_mount_call(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(mount_calls); i++)
        if (!strcmp(name, mount_calls[i]))
            return true;
    return false;
}

static int seccomp_apply(const struct sbx_opts *o, moat_error **err)
{
    static const char *const deny[] = {
        "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv", "process_vm_writev",
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
        "perf_event_open", "keyctl", "add_key", "request_key", "unshare", "setns", "execve", "execveat",
        "open_by_handle_at", "name_to_handle_at", "userfaultfd", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
        "mount_setattr", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime",
        "adjtimex", "acct", "quotactl", "syslog", "ioperm", "iopl", "socket", "socketpair", "connect",
        "bind", "listen", "accept", "accept4", "sethostname", "setdomainname", "personality", "clone",
        "fork", "vfork", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
        "capset", "prctl", "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
        "lookup_dcookie", "vmsplice", "memfd_secret", "pidfd_getfd", "kcmp",
    };
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return moat_err(err, ENOMEM, "seccomp_init");
    int rc = 0;
    for (size_t i = 0; i < ARRAY_SIZE(deny) && rc == 0; i++) {
        if (o->mount_ns && is_mount_call(deny[i]))
            continue;
        int nr = seccomp_syscall_resolve_name(deny[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone3 answers ENOSYS (its flags can't be inspected) */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc == 0 && !o->devices) {
        /* whiteouts (char 0:0) and fifos only: no real device node, whatever the layer says */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknodat), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK));
        if (rc == 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknodat), 2,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR), SCMP_A3(SCMP_CMP_NE, 0, 0));
        if (rc == 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknod), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK));
        if (rc == 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknod), 2,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR), SCMP_A2(SCMP_CMP_NE, 0, 0));
    }
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return moat_err_errno(err, -rc, "seccomp filter for the sandbox");
    return 0;
}

static int caps_apply(bool mount, moat_error **err)
{
    /* what creating a tree with its owners, modes, whiteouts and file
     * capabilities takes; nothing else (no CAP_SYS_ADMIN: overlay xattrs are user.*) */
    capng_clear(CAPNG_SELECT_BOTH);
    capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                  CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SETFCAP, -1);
    if (mount)
        capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN);
    if (capng_apply(CAPNG_SELECT_BOTH) < 0)
        return moat_err(err, EPERM, "capng_apply: cannot drop capabilities");
    return 0;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void close_others(const struct sbx_opts *o, int res_fd, int sync_fd)
{
    int keep[16];
    size_t n = 0;
    keep[n++] = 0;
    keep[n++] = 1;
    keep[n++] = 2;
    keep[n++] = res_fd;
    if (sync_fd >= 0)
        keep[n++] = sync_fd;
    if (o->write_fd >= 0)
        keep[n++] = o->write_fd;
    for (size_t i = 0; i < o->n_read; i++)
        keep[n++] = o->read_fds[i];
    for (size_t i = 0; i < o->n_keep; i++)
        keep[n++] = o->keep_fds[i];
    qsort(keep, n, sizeof(int), cmp_int);
    int from = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] > from)
            syscall(SYS_close_range, (unsigned)from, (unsigned)keep[i] - 1, 0);
        if (keep[i] + 1 > from)
            from = keep[i] + 1;
    }
    syscall(SYS_close_range, (unsigned)from, ~0u, 0);
}

static void report(int fd, int rc, struct json_object *res, moat_error *err)
{
    char *text;
    if (rc < 0)
        text = xasprintf("E%d\n%s", err && err->errnum ? err->errnum : EIO, err && err->msg ? err->msg : "failed");
    else if (res)
        text = xasprintf("O%s", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
    else
        text = xstrdup("O");
    moat_write_all(fd, text, strlen(text));
    free(text);
}

static void child(const struct sbx_opts *o, int res_fd, int sync_fd, sbx_fn fn, void *arg)
{
    moat_error *err = NULL;
    struct json_object *res = NULL;
    int rc = 0;
    bool userns = o->userns && o->userns->enabled;
    if (userns) {
        char c = 'U';
        if (unshare(CLONE_NEWUSER) < 0) {
            rc = moat_err_sys(&err, "unshare(CLONE_NEWUSER)");
            c = 'X';
        }
        if (write(sync_fd, &c, 1) != 1 || rc < 0 || read(sync_fd, &c, 1) != 1 || c != 'O') {
            if (rc == 0)
                rc = moat_err(&err, EPERM, "user namespace set-up failed");
            goto out;
        }
    }
    if (sync_fd >= 0)
        close(sync_fd);
    close_others(o, res_fd, -1);
    if (setgroups(0, NULL) < 0 && errno != EPERM) {
        rc = moat_err_sys(&err, "setgroups");
        goto out;
    }
    if (o->mount_ns && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
        rc = moat_err_sys(&err, "sandbox: private mount namespace");
        goto out;
    }
    /* Landlock forbids mounting: a mount-namespace job relies on the rest */
    if (caps_apply(o->mount_ns, &err) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        (!o->mount_ns && landlock_apply(o, &err) < 0) || seccomp_apply(o, &err) < 0) {
        if (!err)
            moat_err_sys(&err, "prctl(PR_SET_NO_NEW_PRIVS)");
        rc = moat_err_wrap(&err, "sandbox");
        goto out;
    }
    rc = fn(arg, &res, &err);
out:
    report(res_fd, rc, res, err);
    _exit(0); /* no atexit handlers, no stdio flush of the parent's buffers */
}

/* ---- in the parent -------------------------------------------------------- */

static int parse_report(const char *buf, size_t len, struct json_object **ret, moat_error **err)
{
    if (len == 0)
        return moat_err(err, EIO, "sandboxed child ended without a result");
    if (buf[0] == 'E') {
        const char *nl = memchr(buf, '\n', len);
        int e = atoi(buf + 1);
        return moat_err(err, e > 0 ? e : EIO, "%.*s", nl ? (int)(len - (size_t)(nl + 1 - buf)) : 0, nl ? nl + 1 : "");
    }
    if (buf[0] != 'O')
        return moat_err(err, EIO, "sandboxed child: malformed result");
    if (len == 1 || !ret)
        return 0;
    return moat_json_parse(buf + 1, len - 1, RESULT_MAX, "sandbox result", ret, err);
}

int sbx_run(const struct sbx_opts *o, sbx_fn fn, void *arg, struct json_object **ret, moat_error **err)
{
    bool userns = o->userns && o->userns->enabled;
    int res[2], sync[2] = {-1, -1};
    if (pipe2(res, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    if (userns && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0) {
        close(res[0]);
        close(res[1]);
        return moat_err_sys(err, "socketpair");
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(res[0]);
        close(res[1]);
        if (sync[0] >= 0) {
            close(sync[0]);
            close(sync[1]);
        }
        return moat_err_sys(err, "fork");
    }
    if (pid == 0) {
        /* a killed moat takes its sandboxed work with it: nothing keeps writing into the store */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(1);
        close(res[0]);
        if (sync[0] >= 0)
            close(sync[0]);
        child(o, res[1], sync[1], fn, arg);
    }
    close(res[1]);
    int rc = 0;
    if (userns) {
        close(sync[1]);
        char c = 0;
        if (read(sync[0], &c, 1) == 1 && c == 'U') {
            rc = image_userns_write(pid, o->userns, err);
            c = rc == 0 ? 'O' : 'X';
            if (write(sync[0], &c, 1) != 1 && rc == 0)
                rc = moat_err_sys(err, "sandbox sync");
        }
        close(sync[0]);
    }
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    moat_error *rerr = NULL;
    int rr = moat_read_fd_bounded(res[0], RESULT_MAX, &buf, &len, &rerr);
    close(res[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        moat_error_free(rerr);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        moat_error_free(rerr);
        return moat_err(err, EIO, "sandboxed child killed by signal %d (%s)", WTERMSIG(status),
                        strsignal(WTERMSIG(status)));
    }
    if (rr < 0) {
        *err = rerr;
        return moat_err_wrap(err, "sandbox result");
    }
    return parse_report(buf ? buf : "", len, ret, err);
}
