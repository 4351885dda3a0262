/* One overlayfs mount, shared by the image store (snapshots, the driver
 * probe, the rootless view) and moat-runtime (a rootless container's root,
 * mounted inside its own user and mount namespaces).
 *
 * Always with the userxattr option (user.overlay.* xattrs), which is what
 * makes the same upper directory usable as root and inside a user namespace
 * (kernel >= 5.11).  Layers are handed over by fd (lowerdir+, kernel >= 6.13)
 * or, where the kernel refuses that, by path. */
#ifndef MOAT_OVERLAY_H
#define MOAT_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

#define MOAT_OVERLAY_MAX_LAYERS 500

struct moat_overlay_dir {
    int fd;           /* O_PATH directory, or -1: use path */
    const char *path; /* for messages, and for kernels without fd layers */
};

/* A detached overlay mount (for move_mount or openat) of lower[0..n) (top
 * first) with upper and work (both NULL: a read-only overlay), the mount
 * attributes attrs (MOUNT_ATTR_*).  Errors carry the kernel's own message. */
int moat_overlay_mount(const struct moat_overlay_dir *lower, size_t n, const struct moat_overlay_dir *upper,
                       const struct moat_overlay_dir *work, uint64_t attrs, int *ret_mnt_fd, moat_error **err);

#endif
