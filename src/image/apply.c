/* The copy driver: an image's unpacked layers applied one after the other
 * into a snapshot's rootfs/, with overlayfs' meaning of whiteouts (char 0:0)
 * and opaque directories.  Runs sandboxed (as root of the store's user
 * namespace when rootless); every step goes from a directory fd to a child
 * with O_NOFOLLOW, so a symlink in a layer is copied, never followed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/util.h"

#define MAX_DEPTH 2048
#define XATTR_LIST_MAX_BYTES 65536

bool tree_is_whiteout(const struct stat *st) { return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0); }

bool tree_keep_xattr(const char *name)
{
    if (!strcmp(name, "security.capability"))
        return true;
    return moat_str_has_prefix(name, "user.") && !moat_str_has_prefix(name, "user.overlay.");
}

bool tree_is_opaque(int dirfd)
{
    char v[4];
    ssize_t n = fgetxattr(dirfd, MOAT_OPAQUE_XATTR, v, sizeof v);
    return n == 1 && v[0] == 'y';
}

/* user.* and security.capability from src to dst (both open fds). */
static int copy_xattrs(int src, int dst, const char *path, moat_error **err)
{
    char list[XATTR_LIST_MAX_BYTES];
    ssize_t n = flistxattr(src, list, sizeof list);
    if (n < 0)
        return errno == ENOTSUP ? 0 : moat_err_sys(err, "'%s': list xattrs", path);
    for (char *k = list; k < list + n; k += strlen(k) + 1) {
        if (!tree_keep_xattr(k))
            continue;
        char val[XATTR_LIST_MAX_BYTES];
        ssize_t vl = fgetxattr(src, k, val, sizeof val);
        if (vl < 0)
            continue;
        if (fsetxattr(dst, k, val, (size_t)vl, 0) < 0 && errno != ENOTSUP)
            return moat_err_sys(err, "'%s': set xattr %s", path, k);
    }
    return 0;
}

struct apply {
    int rootfd;        /* the destination root */
    char **link_paths; /* "dev:ino", path, ...: multiply-linked files copied from this layer */
};

static int copy_data(int in, int out, const char *path, moat_error **err)
{
    if (ioctl(out, FICLONE, in) == 0)
        return 0;
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
                return moat_err_sys(err, "'%s': copy", path);
            break;
        }
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "'%s': read", path);
        if (n == 0)
            return 0;
        if (moat_write_all(out, buf, (size_t)n) < 0)
            return moat_err_sys(err, "'%s': write", path);
    }
}

/* A non-directory from (src, name) to (dst, name). */
static int copy_node(struct apply *a, int src, int dst, const char *name, const struct stat *st, const char *path,
                     moat_error **err)
{
    if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
        /* a hardlink of a file copied earlier from this layer: link, don't copy */
        char key[64];
        snprintf(key, sizeof key, "%lu:%lu", (unsigned long)st->st_dev, (unsigned long)st->st_ino);
        for (size_t i = 0; a->link_paths && a->link_paths[i]; i += 2)
            if (!strcmp(a->link_paths[i], key) && linkat(a->rootfd, a->link_paths[i + 1], dst, name, 0) == 0)
                return 0;
        moat_strv_push(&a->link_paths, key);
        moat_strv_push(&a->link_paths, path + 1);
    }
    if (S_ISREG(st->st_mode)) {
        _cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (in < 0 || out < 0)
            return moat_err_sys(err, "'%s': open", path);
        if (copy_data(in, out, path, err) < 0 || copy_xattrs(in, out, path, err) < 0)
            return -1;
        if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)
            return moat_err_sys(err, "'%s': chown/chmod", path);
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        if (futimens(out, ts) < 0)
            return moat_err_sys(err, "'%s': set times", path);
        return 0;
    }
    if (S_ISLNK(st->st_mode)) {
        char target[4097];
        ssize_t n = readlinkat(src, name, target, sizeof target - 1);
        if (n < 0)
            return moat_err_sys(err, "'%s': readlink", path);
        target[n] = '\0';
        if (symlinkat(target, dst, name) < 0)
            return moat_err_sys(err, "'%s': symlink", path);
    } else if (mknodat(dst, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0) {
        return moat_err_sys(err, "'%s': mknod", path);
    }
    if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "'%s': chown", path);
    if (!S_ISLNK(st->st_mode) && fchmodat(dst, name, st->st_mode & 07777, 0) < 0)
        return moat_err_sys(err, "'%s': chmod", path);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "'%s': set times", path);
    return 0;
}

static int apply_dir(struct apply *a, int src, int dst, const char *path, int depth, moat_error **err);

static int apply_entry(struct apply *a, int src, int dst, const char *name, const char *path, int depth,
                       moat_error **err)
{
    struct stat st, cur;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "'%s': stat", path);
    bool exists = fstatat(dst, name, &cur, AT_SYMLINK_NOFOLLOW) == 0;
    if (tree_is_whiteout(&st))
        return exists ? moat_rm_rf_at(dst, name, err) : 0;
    if (!S_ISDIR(st.st_mode)) {
        if (exists && moat_rm_rf_at(dst, name, err) < 0)
            return -1;
        return copy_node(a, src, dst, name, &st, path, err);
    }
    _cleanup_close_ int sfd = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0)
        return moat_err_sys(err, "'%s': open", path);
    bool opaque = tree_is_opaque(sfd);
    if (exists && (!S_ISDIR(cur.st_mode) || opaque)) {
        if (moat_rm_rf_at(dst, name, err) < 0)
            return -1;
        exists = false;
    }
    if (!exists && mkdirat(dst, name, 0700) < 0)
        return moat_err_sys(err, "'%s': mkdir", path);
    _cleanup_close_ int dfd = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "'%s': open", path);
    if (fchown(dfd, st.st_uid, st.st_gid) < 0 || fchmod(dfd, 0700 | (st.st_mode & 07777)) < 0)
        return moat_err_sys(err, "'%s': chown", path);
    if (copy_xattrs(sfd, dfd, path, err) < 0 || apply_dir(a, sfd, dfd, path, depth + 1, err) < 0)
        return -1;
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (fchmod(dfd, st.st_mode & 07777) < 0 || futimens(dfd, ts) < 0)
        return moat_err_sys(err, "'%s': chmod/set times", path);
    return 0;
}

static int apply_dir(struct apply *a, int src, int dst, const char *path, int depth, moat_error **err)
{
    if (depth > MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': deeper than %d levels", path, MAX_DEPTH);
    int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return moat_err_sys(err, "'%s': open directory", path);
    }
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", *path == '/' && !path[1] ? "" : path, de->d_name);
        rc = apply_entry(a, src, dst, de->d_name, p, depth, err);
    }
    closedir(d);
    return rc;
}

struct copy_job {
    int layersfd, snapdir;
    char **diff_ids;
};

static int copy_job_run(void *arg, struct json_object **ret, moat_error **err)
{
    (void)ret;
    struct copy_job *j = arg;
    _cleanup_close_ int root = openat(j->snapdir, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return moat_err_sys(err, "open rootfs");
    for (size_t i = 0; j->diff_ids[i]; i++) {
        _cleanup_free_ char *p = xasprintf("%s/diff", moat_digest_hex(j->diff_ids[i]));
        _cleanup_close_ int src = openat(j->layersfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (src < 0)
            return moat_err_sys(err, "open layer %s", j->diff_ids[i]);
        struct apply a = {.rootfd = root};
        struct stat st;
        int rc = apply_dir(&a, src, root, "/", 0, err);
        /* the layer's root directory carries the rootfs' own mode and owner */
        if (rc == 0 && fstat(src, &st) == 0 && (fchown(root, st.st_uid, st.st_gid) < 0 || fchmod(root, st.st_mode & 07777) < 0))
            rc = moat_err_sys(err, "rootfs: chown/chmod");
        moat_strv_free(a.link_paths);
        if (rc < 0)
            return moat_err_wrap(err, "apply layer %s", j->diff_ids[i]);
    }
    return 0;
}

int snapshot_copy_layers(struct moat_store *s, int snapdir, const struct moat_image *img, moat_error **err)
{
    struct copy_job j = {s->layersfd, snapdir, img->config->diff_ids};
    struct sbx_opts o = {.userns = &s->ns, .write_fd = snapdir, .read_fds = {s->layersfd}, .n_read = 1,
                         .devices = !s->ns.enabled};
    return sbx_run(&o, copy_job_run, &j, NULL, err);
}
