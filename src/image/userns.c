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
    u->uid[0] = (struct moat_idmap){0, geteuid(), 1};
    u->gid[0] = (struct moat_idmap){0, getegid(), 1};
    u->n_uid = u->n_gid = 1;
    struct passwd *pw = getpwuid(geteuid());
    unsigned long us, uc, gs, gc;
    int r = pw ? moat_subid_first_range(pw->pw_name, true, &us, &uc, err) : 0;
    if (r > 0)
        r = moat_subid_first_range(pw->pw_name, false, &gs, &gc, err);
    if (r < 0)
        return -1;
    if (r > 0) {
        u->uid[1] = (struct moat_idmap){1, (uint32_t)us, (uint32_t)(uc < RANGE - 1 ? uc : RANGE - 1)};
        u->gid[1] = (struct moat_idmap){1, (uint32_t)gs, (uint32_t)(gc < RANGE - 1 ? gc : RANGE - 1)};
        u->n_uid = u->n_gid = 2;
    }
    return 0;
}

char *image_userns_text(const struct moat_idmap *m, size_t n)
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

int image_userns_write(pid_t pid, const struct image_userns *u, moat_error **err)
{
    if (u->n_uid == 1) {
        _cleanup_free_ char *t = xasprintf("%u %u %u\n", u->uid[0].cid, u->uid[0].hid, u->uid[0].size);
        if (write_proc(pid, "uid_map", t, err) < 0)
            return -1;
    } else if (moat_idmap_helper("newuidmap", pid, u->uid, u->n_uid, "a rootless image store", err) < 0) {
        return -1;
    }
    if (u->n_gid == 1) {
        _cleanup_free_ char *t = xasprintf("%u %u %u\n", u->gid[0].cid, u->gid[0].hid, u->gid[0].size);
        if (write_proc(pid, "setgroups", "deny", err) < 0 || write_proc(pid, "gid_map", t, err) < 0)
            return -1;
    } else if (moat_idmap_helper("newgidmap", pid, u->gid, u->n_gid, "a rootless image store", err) < 0) {
        return -1;
    }
    return 0;
}
