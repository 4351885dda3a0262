/* User namespace id maps.  As root the maps are written directly; as a normal
 * user a single "container id -> my own id" line can be written directly too,
 * and anything else (subordinate ranges) goes through the setuid helpers
 * newuidmap/newgidmap from Debian's uidmap package, which check /etc/subuid. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

extern char **environ;

static char *map_text(const struct oci_id_map *m, size_t n)
{
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%u %u %u\n", s, m[i].container_id, m[i].host_id, m[i].size);
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

/* Run newuidmap/newgidmap PID cid hid size ...; its stderr becomes the error text. */
static int run_helper(const char *helper, pid_t pid, const struct oci_id_map *m, size_t n, moat_error **err)
{
    const char *dirs[] = {"/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"};
    _cleanup_free_ char *exe = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(dirs) && !exe; i++) {
        char *p = xasprintf("%s%s", dirs[i], helper);
        if (access(p, X_OK) == 0)
            exe = p;
        else
            free(p);
    }
    if (!exe)
        return moat_err(err, ENOENT,
                        "%s not found: a rootless container with more than one id mapped needs Debian's "
                        "'uidmap' package",
                        helper);
    size_t argc = 2 + 3 * n + 1;
    _cleanup_free_ char **argv = xcalloc(argc, sizeof(char *));
    _cleanup_strv_ char **owned = xcalloc(argc, sizeof(char *));
    argv[0] = (char *)helper;
    owned[0] = xasprintf("%d", (int)pid);
    argv[1] = owned[0];
    for (size_t i = 0; i < n; i++) {
        owned[1 + 3 * i] = xasprintf("%u", m[i].container_id);
        owned[2 + 3 * i] = xasprintf("%u", m[i].host_id);
        owned[3 + 3 * i] = xasprintf("%u", m[i].size);
        argv[2 + 3 * i] = owned[1 + 3 * i];
        argv[3 + 3 * i] = owned[2 + 3 * i];
        argv[4 + 3 * i] = owned[3 + 3 * i];
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t child = fork();
    if (child < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return moat_err_sys(err, "fork %s", helper);
    }
    if (child == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        execve(exe, argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    char msg[1024];
    ssize_t len = moat_read_all(pipefd[0], msg, sizeof(msg) - 1);
    close(pipefd[0]);
    msg[len > 0 ? len : 0] = '\0';
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = '\0';
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return moat_err(err, EPERM, "%s failed%s%s (are there entries for this user in /etc/sub%cid?)", helper,
                        msg[0] ? ": " : "", msg, helper[3] == 'u' ? 'u' : 'g');
    return 0;
}

static bool single_self_map(const struct oci_id_map *m, size_t n, unsigned self)
{
    return n == 1 && m[0].size == 1 && m[0].host_id == self;
}

int userns_write_maps(pid_t pid, const struct oci_linux *lx, bool rootless, moat_error **err)
{
    if (!rootless) {
        _cleanup_free_ char *u = map_text(lx->uid_mappings, lx->n_uid_mappings);
        _cleanup_free_ char *g = map_text(lx->gid_mappings, lx->n_gid_mappings);
        if (write_proc(pid, "uid_map", u, err) < 0 || write_proc(pid, "gid_map", g, err) < 0)
            return moat_err_wrap(err, "write user namespace maps");
        return 0;
    }
    if (single_self_map(lx->uid_mappings, lx->n_uid_mappings, geteuid())) {
        _cleanup_free_ char *u = map_text(lx->uid_mappings, lx->n_uid_mappings);
        if (write_proc(pid, "uid_map", u, err) < 0)
            return moat_err_wrap(err, "write user namespace maps");
    } else if (run_helper("newuidmap", pid, lx->uid_mappings, lx->n_uid_mappings, err) < 0) {
        return -1;
    }
    if (single_self_map(lx->gid_mappings, lx->n_gid_mappings, getegid())) {
        /* an unprivileged gid_map write needs setgroups denied first */
        _cleanup_free_ char *g = map_text(lx->gid_mappings, lx->n_gid_mappings);
        if (write_proc(pid, "setgroups", "deny", err) < 0 || write_proc(pid, "gid_map", g, err) < 0)
            return moat_err_wrap(err, "write user namespace maps");
    } else if (run_helper("newgidmap", pid, lx->gid_mappings, lx->n_gid_mappings, err) < 0) {
        return -1;
    }
    return 0;
}

static unsigned map_root(const struct oci_id_map *m, size_t n, unsigned fallback)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].container_id == 0)
            return m[i].host_id;
    return fallback;
}

void userns_root_ids(const struct oci_linux *lx, uid_t *ret_uid, gid_t *ret_gid)
{
    if (!lx->ns[OCI_NS_USER].present || lx->ns[OCI_NS_USER].path) {
        *ret_uid = geteuid();
        *ret_gid = getegid();
        return;
    }
    *ret_uid = map_root(lx->uid_mappings, lx->n_uid_mappings, 65534);
    *ret_gid = map_root(lx->gid_mappings, lx->n_gid_mappings, 65534);
}

/* The initial user namespace's inode number is fixed (PROC_USER_INIT_INO). */
#define USERNS_INIT_INO 0xEFFFFFFDu

bool userns_nested(void)
{
    uint64_t ino = ns_inode("/proc/self/ns/user");
    return ino != 0 && ino != USERNS_INIT_INO;
}

bool rt_rootless(void)
{
    return geteuid() != 0 || userns_nested();
}

unsigned userns_host_uid(unsigned uid)
{
    char buf[4096];
    _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return uid;
    buf[n] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        unsigned inside, outside, count;
        if (sscanf(line, "%u %u %u", &inside, &outside, &count) == 3 && uid >= inside && uid - inside < count)
            return outside + (uid - inside);
    }
    return uid;
}
