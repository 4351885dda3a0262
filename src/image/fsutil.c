/* File-tree helpers for layer and snapshot directories: removal that never
 * follows a symlink and works on trees whose directories deny writing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/layer.h"
#include "moat/util.h"

#define MAX_DEPTH 4096

static int rm_children(int dfd, int depth, moat_error **err);

static int rm_one(int dfd, const char *name, unsigned char type, int depth, moat_error **err)
{
    if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return errno == ENOENT ? 0 : moat_err_sys(err, "stat '%s'", name);
        type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
    }
    if (type == DT_DIR) {
        int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
            cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
            return errno == ENOENT ? 0 : moat_err_sys(err, "open directory '%s'", name);
        int r = rm_children(cfd, depth + 1, err);
        close(cfd);
        if (r < 0)
            return moat_err_wrap(err, "%s", name);
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return moat_err_sys(err, "rmdir '%s'", name);
        return 0;
    }
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return moat_err_sys(err, "unlink '%s'", name);
    return 0;
}

static int rm_children(int dfd, int depth, moat_error **err)
{
    if (depth > MAX_DEPTH)
        return moat_err(err, ELOOP, "directory tree deeper than %d levels", MAX_DEPTH);
    /* a directory we may not write into (mode 0555 in an image): make it writable first */
    struct stat st;
    if (fstat(dfd, &st) == 0 && (st.st_mode & 0700) != 0700)
        (void)fchmod(dfd, st.st_mode | 0700);
    int fd2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd2 < 0)
        return moat_err_sys(err, "open directory");
    DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return moat_err_sys(err, "fdopendir");
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = moat_err_sys(err, "readdir");
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (rm_one(dfd, de->d_name, de->d_type, depth, err) < 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

int moat_rm_rf_at(int dirfd, const char *name, moat_error **err)
{
    if (!name || !*name)
        return rm_children(dirfd, 0, err);
    return rm_one(dirfd, name, DT_UNKNOWN, 0, err);
}
