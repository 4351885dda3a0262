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
#include <time.h>
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

static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

/* One write attempt on FD's file through PATH (a /proc magic link): open it
 * for writing (never O_TRUNC) and, if that works, write a marker at offset 0.
 * Prints "LABEL open ok|errno X" and "LABEL write ok|errno X"; counts a write. */
static int try_overwrite(const char *label, const char *path, int *written)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("%s open errno %s\n", label, errname(errno));
        return 0;
    }
    printf("%s open ok\n", label);
    static const char marker[] = "MOAT-CVE-2019-5736-OVERWRITTEN";
    ssize_t n = pwrite(fd, marker, sizeof(marker) - 1, 0);
    if (n > 0) {
        printf("%s write ok\n", label);
        (*written)++;
    } else {
        printf("%s write errno %s\n", label, errname(n < 0 ? errno : EIO));
    }
    close(fd);
    return 1;
}

/* exe-attack FIFO SECONDS: the CVE-2019-5736 attack from inside a container.
 * Wait (up to SECONDS) for another process whose /proc/PID/exe is a
 * moat-runtime, i.e. the runtime re-run inside the container through a
 * `#!/proc/self/exe --log=FIFO` script, held there while it opens FIFO for
 * writing.  Then try to open its exe for writing directly, keep an O_PATH
 * handle, let it go (open FIFO for reading), and once it has exited try again
 * through the handle, as the published exploits do.  Prints each attempt and
 * "exe-attack reached N written M"; exits 0 only if nothing was written. */
static int exe_attack(const char *fifo, int seconds)
{
    char self[16];
    snprintf(self, sizeof(self), "%d", (int)getpid());
    int reached = 0, written = 0;
    for (long tick = 0; tick < (long)seconds * 1000 && !reached; tick++) {
        DIR *d = opendir("/proc");
        if (!d)
            return report(-1);
        struct dirent *de;
        while ((de = readdir(d)) && !reached) {
            if (de->d_name[0] < '1' || de->d_name[0] > '9' || !strcmp(de->d_name, self))
                continue;
            char path[300], exe[256] = "";
            snprintf(path, sizeof(path), "/proc/%s/exe", de->d_name);
            ssize_t l = readlink(path, exe, sizeof(exe) - 1);
            if (l <= 0)
                continue;
            exe[l] = 0;
            if (!strstr(exe, "moat-runtime"))
                continue;
            reached = 1;
            printf("target pid %s exe %s\n", de->d_name, exe);
            try_overwrite("running", path, &written);
            int h = open(path, O_PATH | O_CLOEXEC);
            printf("o_path %s\n", h >= 0 ? "ok" : errname(errno));
            if (h >= 0) {
                char hp[64];
                snprintf(hp, sizeof(hp), "/proc/self/fd/%d", h);
                try_overwrite("running-via-o_path", hp, &written);
            }
            fflush(stdout);
            /* let the runtime go on and exit, then retry through the handle */
            int r = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            char stat[300];
            snprintf(stat, sizeof(stat), "/proc/%s/stat", de->d_name);
            for (int i = 0; i < 5000 && access(stat, F_OK) == 0; i++)
                usleep(1000);
            printf("target exited %s\n", access(stat, F_OK) == 0 ? "no" : "yes");
            if (h >= 0) {
                /* The file stays busy (ETXTBSY) while anything still runs it, e.g. the
                 * `moat-runtime exec` on the host whose copy it is: wait for that too. */
                char hp[64];
                snprintf(hp, sizeof(hp), "/proc/self/fd/%d", h);
                int fd = -1;
                for (int i = 0; i < 5000; i++) {
                    fd = open(hp, O_WRONLY | O_CLOEXEC);
                    if (fd >= 0 || errno != ETXTBSY)
                        break;
                    usleep(1000);
                }
                if (fd >= 0)
                    close(fd);
                try_overwrite("exited-via-o_path", hp, &written);
                close(h);
            }
            if (r >= 0)
                close(r);
        }
        closedir(d);
        if (!reached)
            usleep(1000);
    }
    printf("exe-attack reached %d written %d\n", reached, written);
    return written ? 1 : 0;
}

/* exe-scan SECONDS: for SECONDS, open /proc/PID/exe for writing (no O_TRUNC)
 * of every other process in sight, over and over, as processes enter the
 * container (`moat-runtime exec`).  Any file that opens gets a marker written
 * at offset 0.  Prints "exe-scan tries N seen-runtime R opened O written W"
 * and the errno of every failure with its count; exits 0 if nothing was written. */
static int exe_scan(int seconds)
{
    char self[16];
    snprintf(self, sizeof(self), "%d", (int)getpid());
    long tries = 0, runtime = 0, opened = 0;
    int written = 0;
    long counts[160] = {0};
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        DIR *d = opendir("/proc");
        if (!d)
            return report(-1);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '1' || de->d_name[0] > '9' || !strcmp(de->d_name, self) || !strcmp(de->d_name, "1"))
                continue;
            char path[300], exe[256] = "";
            snprintf(path, sizeof(path), "/proc/%s/exe", de->d_name);
            ssize_t l = readlink(path, exe, sizeof(exe) - 1);
            if (l > 0) {
                exe[l] = 0;
                runtime += strstr(exe, "moat-runtime") != NULL;
            }
            tries++;
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0) {
                counts[errno > 0 && errno < 160 ? errno : 0]++;
                continue;
            }
            opened++;
            static const char marker[] = "MOAT-CVE-2019-5736-OVERWRITTEN";
            if (pwrite(fd, marker, sizeof(marker) - 1, 0) > 0)
                written++;
            close(fd);
        }
        closedir(d);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < seconds);
    printf("exe-scan tries %ld seen-runtime %ld opened %ld written %d\n", tries, runtime, opened, written);
    for (int e = 0; e < 160; e++)
        if (counts[e])
            printf("errno %s %ld\n", e ? errname(e) : "?", counts[e]);
    return written ? 1 : 0;
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
    if (!strcmp(c, "exe-scan"))
        return exe_scan(atoi(a));
    if (!strcmp(c, "exe-attack") && argc > 3)
        return exe_attack(a, atoi(argv[3]));
    fprintf(stderr, "probe: unknown command '%s'\n", c);
    return 2;
}
