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
#include "moat/subid.h"
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

/* newuidmap/newgidmap for a multi-range map (moat_idmap_helper). */
static int run_helper(const char *helper, pid_t pid, const struct oci_id_map *m, size_t n, moat_error **err)
{
    _cleanup_free_ struct moat_idmap *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (struct moat_idmap){m[i].container_id, m[i].host_id, m[i].size};
    return moat_idmap_helper(helper, pid, v, n, "a rootless container with more than one id mapped", err);
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

/* `id` looked up in an id map file (as the kernel shows it to us: the
 * outside column is in our own user namespace), or -1 when it isn't mapped. */
static int64_t map_lookup(const char *path, unsigned id)
{
    char buf[4096];
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        unsigned inside, outside, count;
        if (sscanf(line, "%u %u %u", &inside, &outside, &count) == 3 && id >= inside && id - inside < count)
            return (int64_t)outside + (id - inside);
    }
    return -1;
}

unsigned userns_host_uid(unsigned uid)
{
    int64_t r = map_lookup("/proc/self/uid_map", uid);
    return r < 0 ? uid : (unsigned)r;
}

int64_t userns_id_outside(pid_t pid, bool gid, unsigned id)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, gid ? "gid_map" : "uid_map");
    return map_lookup(path, id);
}
