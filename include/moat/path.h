/* The one module that resolves paths inside a rootfs, layer or volume.
 *
 * Everything is relative to a directory fd treated as "/": openat2 with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, or, where openat2 is missing, a
 * user-space walk that resolves each symlink itself, never lets ".." climb
 * above the root and never asks the kernel to follow a link.  Symlinks an
 * image or a container planted can therefore only ever point back inside. */
#ifndef MOAT_PATH_H
#define MOAT_PATH_H

#include <stdbool.h>
#include <sys/types.h>

#include "moat/error.h"

enum {
    MOAT_RESOLVE_NO_SYMLINKS = 1 << 0, /* any symlink on the way is an error (ELOOP) */
    MOAT_RESOLVE_NO_FOLLOW_LAST = 1 << 1, /* do not follow a symlink in the last component */
};

/* Lexically clean a path into an absolute one: "//a/./b/../c" -> "/a/c".
 * ".." never climbs above "/". */
char *moat_path_clean(const char *path);
/* Split a cleaned absolute path into parent and last component. */
void moat_path_split(const char *clean, char **ret_parent, char **ret_base);

/* Open `path` inside rootfd.  flags are open(2) flags (O_CLOEXEC is added). */
int moat_open_in_root(int rootfd, const char *path, int flags, mode_t mode, unsigned mflags, moat_error **err);
/* mkdir -p inside rootfd; returns an O_PATH fd of the final directory. */
int moat_mkdirs_in_root(int rootfd, const char *path, mode_t mode, unsigned mflags, moat_error **err);
/* Make sure a mount target exists (a directory, or an empty regular file when
 * !dir) and return an O_PATH fd to it.  An existing target of the other kind
 * is an error, never replaced. */
int moat_ensure_in_root(int rootfd, const char *path, bool dir, mode_t mode, unsigned mflags, moat_error **err);

/* Tests: force the user-space fallback walk even where openat2 exists. */
void moat_path_force_fallback(bool on);

#endif
