/* overlayfs by the new mount API (see include/moat/overlay.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "moat/overlay.h"
#include "moat/util.h"

/* The kernel explains a refused fsconfig in the fs context's log ("e overlay: ..."). */
static int fs_fail(int fsfd, const char *what, moat_error **err)
{
    int saved = errno;
    char buf[512];
    ssize_t n = read(fsfd, buf, sizeof(buf) - 1);
    if (n > 2) {
        buf[n] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        return moat_err(err, saved, "overlay: %s: %s (%s)", what, buf + 2, strerror(saved));
    }
    return moat_err_errno(err, saved, "overlay: %s", what);
}

/* by fd (kernel >= 6.13), else by path (lowerdir+ since 6.8); *by_path
 * remembers the first refusal so the rest go by path too. */
static int set_dir(int fsfd, const char *key, const struct moat_overlay_dir *d, bool *by_path, moat_error **err)
{
    if (!*by_path && d->fd >= 0) {
        if (fsconfig(fsfd, FSCONFIG_SET_FD, key, NULL, d->fd) == 0)
            return 0;
        if (errno != EINVAL)
            return fs_fail(fsfd, key, err);
        *by_path = true;
    }
    if (!d->path)
        return moat_err(err, EINVAL, "overlay: %s: no path to fall back on", key);
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, d->path, 0) < 0)
        return fs_fail(fsfd, key, err);
    return 0;
}

int moat_overlay_mount(const struct moat_overlay_dir *lower, size_t n, const struct moat_overlay_dir *upper,
                       const struct moat_overlay_dir *work, uint64_t attrs, int *ret_mnt_fd, moat_error **err)
{
    if (n == 0 || n > MOAT_OVERLAY_MAX_LAYERS)
        return moat_err(err, EINVAL, "overlay: %zu lower layers (1 to %d)", n, MOAT_OVERLAY_MAX_LAYERS);
    if (!upper != !work)
        return moat_err(err, EINVAL, "overlay: an upper directory needs a work directory and back");
    _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return moat_err_sys(err, "fsopen overlay");
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "moat", 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
        return fs_fail(fsfd, "userxattr", err);
    bool by_path = false;
    for (size_t i = 0; i < n; i++)
        if (set_dir(fsfd, "lowerdir+", &lower[i], &by_path, err) < 0)
            return -1;
    if (upper && (set_dir(fsfd, "upperdir", upper, &by_path, err) < 0 ||
                  set_dir(fsfd, "workdir", work, &by_path, err) < 0))
        return -1;
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fs_fail(fsfd, "create", err);
    int m = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs | (upper ? 0 : MOUNT_ATTR_RDONLY));
    if (m < 0)
        return moat_err_sys(err, "fsmount overlay");
    *ret_mnt_fd = m;
    return 0;
}
