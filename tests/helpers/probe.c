/* probe: runs inside test containers and reports what it can and cannot do.
 * Each subcommand prints "ok" or "errno NAME" and exits 0 when the attempt
 * succeeded, 1 when it failed, 2 on a usage error.  Static, no dependencies. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

static int report(long r)
{
    if (r >= 0) {
        printf("ok\n");
        return 0;
    }
    const char *n = strerrorname_np(errno);
    printf("errno %s\n", n ? n : "?");
    return 1;
}

/* List fds other than 0-2 with what they point to (CVE-2024-21626 class). */
static int list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return report(-1);
    int me = dirfd(d), n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd <= 2 || fd == me)
            continue;
        char path[64], target[256] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t l = readlink(path, target, sizeof(target) - 1);
        if (l > 0)
            target[l] = 0;
        printf("fd %d %s\n", fd, target);
        n++;
    }
    closedir(d);
    printf("%d extra fds\n", n);
    return 0;
}

static int forkbomb(int max)
{
    int made = 0;
    for (int i = 0; i < max; i++) {
        pid_t p = fork();
        if (p < 0)
            break;
        if (p == 0) {
            pause();
            _exit(0);
        }
        made++;
    }
    printf("forked %d\n", made);
    kill(0, SIGKILL);
    return 0;
}

/* An abstract unix socket address for NAME (no leading NUL in NAME). */
static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strnlen(name, sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int abstract_socket(const char *name, int listen_too)
{
    struct sockaddr_un sa;
    socklen_t l = abstract_addr(&sa, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return report(-1);
    if (!listen_too)
        return report(connect(fd, (struct sockaddr *)&sa, l));
    if (bind(fd, (struct sockaddr *)&sa, l) < 0 || listen(fd, 16) < 0)
        return report(-1);
    report(0);
    fflush(stdout);
    for (;;) { /* until killed: accept and drop */
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            close(c);
    }
}

/* getpid through the i386 ABI (int $0x80, eax = 20): the compat layer. */
static long int80_getpid(void)
{
#if defined(__x86_64__)
    long r = 20;
    __asm__ volatile("int $0x80" : "+a"(r) : : "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
#else
    errno = ENOSYS;
    return -1;
#endif
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: probe COMMAND [ARGS]\n");
        return 2;
    }
    const char *c = argv[1];
    const char *a = argc > 2 ? argv[2] : "";
    if (!strcmp(c, "mount"))
        return report(mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(c, "unshare-user"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(c, "unshare-mount"))
        return report(unshare(CLONE_NEWNS));
    if (!strcmp(c, "clone-newns"))
        return report(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0) == 0 ? (_exit(0), 0) : -1);
    if (!strcmp(c, "clone3")) {
        struct { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args = {
            .exit_signal = SIGCHLD};
        long r = syscall(SYS_clone3, &args, sizeof(args));
        if (r == 0)
            _exit(0);
        if (r > 0)
            waitpid((pid_t)r, NULL, 0);
        return report(r);
    }
    if (!strcmp(c, "keyctl"))
        return report(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL));
    if (!strcmp(c, "ptrace")) { /* seize (no stop), then let go */
        long r = ptrace(PTRACE_SEIZE, atoi(a), 0, 0);
        if (r == 0)
            ptrace(PTRACE_DETACH, atoi(a), 0, 0);
        return report(r);
    }
    if (!strcmp(c, "socket")) /* socket FAMILY [TYPE [PROTOCOL]]: all 64 bits of FAMILY reach the kernel */
        return report(syscall(SYS_socket, strtoull(a, NULL, 0),
                              (argc > 3 ? strtoul(argv[3], NULL, 0) : SOCK_STREAM) | SOCK_CLOEXEC,
                              argc > 4 ? strtoul(argv[4], NULL, 0) : 0));
    if (!strcmp(c, "getcwd")) {
        char buf[4096];
        return report(getcwd(buf, sizeof(buf)) ? 0 : -1);
    }
    if (!strcmp(c, "process-vm-readv")) { /* read our own memory through the syscall */
        char src[8] = "x", dst[8];
        struct iovec l = {dst, sizeof(dst)}, r = {src, sizeof(src)};
        return report(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
    }
    if (!strcmp(c, "name-to-handle")) {
        struct { struct file_handle fh; unsigned char buf[128]; } h = {.fh.handle_bytes = 128};
        int mnt;
        return report(name_to_handle_at(AT_FDCWD, a, &h.fh, &mnt, 0));
    }
    if (!strcmp(c, "modify-ldt")) {
        char buf[16];
        return report(syscall(SYS_modify_ldt, 0, buf, sizeof(buf)));
    }
    if (!strcmp(c, "int80"))
        return report(int80_getpid());
    if (!strcmp(c, "abstract-connect"))
        return abstract_socket(a, 0);
    if (!strcmp(c, "abstract-listen"))
        return abstract_socket(a, 1);
    if (!strcmp(c, "io_uring_setup")) {
        char params[120] = {0};
        return report(syscall(SYS_io_uring_setup, 1, params));
    }
    if (!strcmp(c, "syscall"))
        return report(syscall(atol(a), 0, 0, 0, 0, 0, 0));
    if (!strcmp(c, "personality"))
        return report(personality(strtoul(a, NULL, 0)));
    if (!strcmp(c, "chroot"))
        return report(chroot("/"));
    if (!strcmp(c, "landlock-abi")) { /* the kernel's Landlock ABI version, 0 if none */
        long v = syscall(__NR_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
        return printf("%ld\n", v < 0 ? 0 : v), 0;
    }
    if (!strcmp(c, "openat")) /* openat FD PATH: relative to an inherited fd */
        return report(openat(atoi(a), argc > 3 ? argv[3] : ".", O_RDONLY | O_CLOEXEC));
    if (!strcmp(c, "open"))
        return report(open(a, O_RDONLY | O_CLOEXEC));
    if (!strcmp(c, "write"))
        return report(open(a, O_WRONLY | O_CLOEXEC));
    if (!strcmp(c, "mknod"))
        return report(mknod(a, S_IFCHR | 0600, makedev(1, 3)));
    if (!strcmp(c, "setuid"))
        return report(setuid(atoi(a)));
    if (!strcmp(c, "as-user") && argc > 3) { /* as-user UID PROG ARGS: drop to UID, then exec */
        uid_t u = (uid_t)atoi(a);
        if (setgroups(0, NULL) < 0 || setresgid(u, u, u) < 0 || setresuid(u, u, u) < 0)
            return report(-1);
        execv(argv[3], argv + 3);
        return report(-1);
    }
    if (!strcmp(c, "euid"))
        return printf("%u\n", (unsigned)geteuid()), 0;
    if (!strcmp(c, "fds"))
        return list_fds();
    if (!strcmp(c, "forkbomb"))
        return forkbomb(atoi(a));
    if (!strcmp(c, "nnp"))
        return printf("%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)), 0;
    if (!strcmp(c, "rlimit")) {
        struct rlimit r;
        getrlimit(RLIMIT_NOFILE, &r);
        printf("%llu %llu\n", (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);
        return 0;
    }
    if (!strcmp(c, "kill"))
        return report(kill(atoi(a), argc > 3 ? atoi(argv[3]) : 0));
    fprintf(stderr, "probe: unknown command '%s'\n", c);
    return 2;
}
