/* probe: runs inside test containers and reports what it can and cannot do.
 * Each subcommand prints "ok" or "errno NAME" and exits 0 when the attempt
 * succeeded, 1 when it failed, 2 on a usage error.  Static, no dependencies. */
#include <errno.h>
#include <fcntl.h>
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
    if (!strcmp(c, "ptrace"))
        return report(ptrace(PTRACE_ATTACH, atoi(a), 0, 0));
    if (!strcmp(c, "socket")) /* socket FAMILY [TYPE] */
        return report(socket(atoi(a), (argc > 3 ? atoi(argv[3]) : SOCK_STREAM) | SOCK_CLOEXEC, 0));
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
