/* The rootless store's user namespace (see image_internal.h).  Maps beyond
 * "0 -> my uid" go through the setuid helpers newuidmap/newgidmap (Debian's
 * uidmap package), which check /etc/subuid and /etc/subgid. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/subid.h"
#include "moat/util.h"

#define RANGE 65536 /* ids a container gets (moat-runtime's template) */

int image_userns_default(struct image_userns *u, moat_error **err)
{
    memset(u, 0, sizeof(*u));
    if (geteuid() == 0)
        return 0;
    u->enabled = true;
    u->uid[0] = (struct image_idmap){0, geteuid(), 1};
    u->gid[0] = (struct image_idmap){0, getegid(), 1};
    u->n_uid = u->n_gid = 1;
    struct passwd *pw = getpwuid(geteuid());
    unsigned long us, uc, gs, gc;
    int r = pw ? moat_subid_first_range(pw->pw_name, true, &us, &uc, err) : 0;
    if (r > 0)
        r = moat_subid_first_range(pw->pw_name, false, &gs, &gc, err);
    if (r < 0)
        return -1;
    if (r > 0) {
        u->uid[1] = (struct image_idmap){1, (uint32_t)us, (uint32_t)(uc < RANGE - 1 ? uc : RANGE - 1)};
        u->gid[1] = (struct image_idmap){1, (uint32_t)gs, (uint32_t)(gc < RANGE - 1 ? gc : RANGE - 1)};
        u->n_uid = u->n_gid = 2;
    }
    return 0;
}

char *image_userns_text(const struct image_idmap *m, size_t n)
{
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%u:%u:%u", s, i ? "," : "", m[i].cid, m[i].hid, m[i].size);
        free(s);
        s = t;
    }
    return s;
}

static int write_proc(pid_t pid, const char *file, const char *text, moat_error **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", path);
    if (moat_write_all(fd, text, strlen(text)) < 0)
        return moat_err_sys(err, "write '%s'", path);
    return 0;
}

static int run_helper(const char *helper, pid_t pid, const struct image_idmap *m, size_t n, moat_error **err)
{
    static const char *const dirs[] = {"/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"};
    _cleanup_free_ char *exe = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(dirs) && !exe; i++) {
        char *p = xasprintf("%s%s", dirs[i], helper);
        if (access(p, X_OK) == 0)
            exe = p;
        else
            free(p);
    }
    if (!exe)
        return moat_err(err, ENOENT, "%s not found: a rootless image store needs Debian's 'uidmap' package", helper);
    char *argv[2 + 3 * 2 + 1] = {(char *)helper};
    char num[1 + 3 * 2][16];
    snprintf(num[0], sizeof num[0], "%d", (int)pid);
    argv[1] = num[0];
    for (size_t i = 0; i < n && i < 2; i++) {
        snprintf(num[1 + 3 * i], 16, "%u", m[i].cid);
        snprintf(num[2 + 3 * i], 16, "%u", m[i].hid);
        snprintf(num[3 + 3 * i], 16, "%u", m[i].size);
        argv[2 + 3 * i] = num[1 + 3 * i];
        argv[3 + 3 * i] = num[2 + 3 * i];
        argv[4 + 3 * i] = num[3 + 3 * i];
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t child = fork();
    if (child < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return moat_err_sys(err, "fork %s", helper);
    }
    if (child == 0) {
        dup2(pfd[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        execve(exe, argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    char msg[512];
    ssize_t len = moat_read_all(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    msg[len > 0 ? len : 0] = '\0';
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = '\0';
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return moat_err(err, EPERM, "%s failed%s%s (check this user's entries in /etc/sub%cid)", helper,
                        msg[0] ? ": " : "", msg, helper[3] == 'u' ? 'u' : 'g');
    return 0;
}

int image_userns_write(pid_t pid, const struct image_userns *u, moat_error **err)
{
    if (u->n_uid == 1) {
        _cleanup_free_ char *t = xasprintf("%u %u %u\n", u->uid[0].cid, u->uid[0].hid, u->uid[0].size);
        if (write_proc(pid, "uid_map", t, err) < 0)
            return -1;
    } else if (run_helper("newuidmap", pid, u->uid, u->n_uid, err) < 0) {
        return -1;
    }
    if (u->n_gid == 1) {
        _cleanup_free_ char *t = xasprintf("%u %u %u\n", u->gid[0].cid, u->gid[0].hid, u->gid[0].size);
        if (write_proc(pid, "setgroups", "deny", err) < 0 || write_proc(pid, "gid_map", t, err) < 0)
            return -1;
    } else if (run_helper("newgidmap", pid, u->gid, u->n_gid, err) < 0) {
        return -1;
    }
    return 0;
}
