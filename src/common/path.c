/* Confined path resolution: see include/moat/path.h.  This is the only file
 * that walks paths inside a rootfs, layer or volume. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "moat/path.h"
#include "moat/util.h"

#define MAX_SYMLINKS 40
#define MAX_DEPTH 256

static bool force_fallback;
static int have_openat2 = -1; /* -1 unknown, 0 no, 1 yes */

void moat_path_force_fallback(bool on) { force_fallback = on; }

char *moat_path_clean(const char *path)
{
    /* out is always "/" or "/a/b" (no trailing slash) */
    size_t len = strlen(path);
    char *out = xmalloc(len + 2);
    size_t o = 1;
    out[0] = '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--; /* the slash itself */
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    return out;
}

void moat_path_split(const char *clean, char **ret_parent, char **ret_base)
{
    const char *slash = strrchr(clean, '/');
    if (!slash || slash == clean) {
        *ret_parent = xstrdup("/");
        *ret_base = xstrdup(slash ? slash + 1 : clean);
        return;
    }
    *ret_parent = xstrndup(clean, (size_t)(slash - clean));
    *ret_base = xstrdup(slash + 1);
}

/* ---- user-space walk (used where openat2 is missing, and in tests) ---------- */

static int walk_fallback(int rootfd, const char *clean, int flags, mode_t mode, unsigned mflags)
{
    int stack[MAX_DEPTH];
    int depth = 0, links = 0, ret = -1, saved;
    stack[0] = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (stack[0] < 0)
        return -errno;
    _cleanup_free_ char *rest = xstrdup(clean);
    char *cur = rest;

    for (;;) {
        while (*cur == '/')
            cur++;
        if (!*cur)
            break;
        char *slash = strchr(cur, '/');
        bool last;
        if (slash) {
            *slash = '\0';
            char *after = slash + 1;
            while (*after == '/')
                after++;
            last = *after == '\0';
        } else {
            last = true;
        }
        char *comp = cur;
        char *next = slash ? slash + 1 : cur + strlen(cur);

        if (strcmp(comp, ".") == 0) {
            cur = next;
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            if (depth > 0)
                close(stack[depth--]);
            cur = next;
            continue;
        }
        int top = stack[depth];
        struct stat st;
        int fd;
        if (last) {
            bool is_link = fstatat(top, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
            if (!is_link || (mflags & MOAT_RESOLVE_NO_FOLLOW_LAST)) {
                if (is_link && !(flags & O_PATH)) {
                    ret = -ELOOP;
                    goto out;
                }
                fd = openat(top, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd >= 0 && !is_link && (flags & O_PATH) && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
                    close(fd); /* swapped for a symlink under us */
                    fd = -1;
                    errno = ELOOP;
                }
                ret = fd >= 0 ? fd : -errno;
                goto out;
            }
            if (mflags & MOAT_RESOLVE_NO_SYMLINKS) {
                ret = -ELOOP;
                goto out;
            }
        } else {
            fd = openat(top, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                ret = -errno;
                goto out;
            }
            if (fstat(fd, &st) < 0) {
                saved = errno;
                close(fd);
                ret = -saved;
                goto out;
            }
            if (!S_ISLNK(st.st_mode)) {
                if (!S_ISDIR(st.st_mode)) {
                    close(fd);
                    ret = -ENOTDIR;
                    goto out;
                }
                if (depth + 1 >= MAX_DEPTH) {
                    close(fd);
                    ret = -ENAMETOOLONG;
                    goto out;
                }
                stack[++depth] = fd;
                cur = next;
                continue;
            }
            close(fd);
            if (mflags & MOAT_RESOLVE_NO_SYMLINKS) {
                ret = -ELOOP;
                goto out;
            }
        }
        /* A symlink: read it ourselves and splice its target in front of the rest. */
        if (++links > MAX_SYMLINKS) {
            ret = -ELOOP;
            goto out;
        }
        char target[4096];
        ssize_t n = readlinkat(top, comp, target, sizeof(target) - 1);
        if (n < 0) {
            ret = -errno;
            goto out;
        }
        target[n] = '\0';
        if (target[0] == '/') {
            while (depth > 0)
                close(stack[depth--]);
        }
        char *spliced = xasprintf("%s/%s", target, last ? "" : next);
        free(rest);
        rest = spliced;
        cur = rest;
    }
    /* Whole path consumed: the result is the directory on top of the stack. */
    if ((flags & O_PATH) || (flags & O_ACCMODE) == O_RDONLY) {
        ret = openat(stack[depth], ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
        if (ret < 0)
            ret = -errno;
    } else {
        ret = -EISDIR;
    }
out:
    while (depth >= 0)
        close(stack[depth--]);
    return ret;
}

static int open_raw(int rootfd, const char *clean, int flags, mode_t mode, unsigned mflags)
{
    if (!force_fallback && have_openat2 != 0) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        if (mflags & MOAT_RESOLVE_NO_SYMLINKS)
            how.resolve |= RESOLVE_NO_SYMLINKS;
        if (mflags & MOAT_RESOLVE_NO_FOLLOW_LAST)
            how.flags |= O_NOFOLLOW;
        const char *rel = clean[1] ? clean + 1 : ".";
        for (int tries = 0; tries < 16; tries++) {
            long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
            if (fd >= 0) {
                have_openat2 = 1;
                return (int)fd;
            }
            if (errno == EAGAIN || errno == EINTR)
                continue; /* a concurrent rename raced ".." resolution: retry */
            if (errno == ENOSYS || (errno == EINVAL && have_openat2 < 0)) {
                have_openat2 = 0;
                break;
            }
            return -errno;
        }
        if (have_openat2 != 0)
            return -EAGAIN;
    }
    return walk_fallback(rootfd, clean, flags, mode, mflags);
}

int moat_open_in_root(int rootfd, const char *path, int flags, mode_t mode, unsigned mflags, moat_error **err)
{
    _cleanup_free_ char *clean = moat_path_clean(path);
    int fd = open_raw(rootfd, clean, flags, mode, mflags);
    if (fd < 0)
        return moat_err_errno(err, -fd, "open '%s' inside the root", clean);
    return fd;
}

static int mkdirs_raw(int rootfd, const char *clean_in, mode_t mode, unsigned mflags)
{
    unsigned rflags = mflags & ~MOAT_RESOLVE_NO_FOLLOW_LAST;
    int fd = open_raw(rootfd, clean_in, O_PATH | O_DIRECTORY, 0, rflags);
    if (fd >= 0 || fd != -ENOENT)
        return fd;
    /* Create one component at a time, each time re-resolving inside the root
     * so that a symlink swapped in concurrently is still confined.  A dangling
     * symlink on the way is resolved by hand (inside the root) and the
     * directories are created where it points, as `mkdir -p` in a chroot would. */
    _cleanup_free_ char *path = xstrdup(clean_in);
    int links = 0;
restart:;
    size_t len = strlen(path);
    _cleanup_free_ char *prefix = xstrdup(path);
    int parent = open_raw(rootfd, "/", O_PATH | O_DIRECTORY, 0, 0);
    if (parent < 0)
        return parent;
    for (size_t i = 1; i <= len; i++) {
        if (i != len && path[i] != '/')
            continue;
        prefix[i] = '\0';
        int cfd = open_raw(rootfd, prefix, O_PATH | O_DIRECTORY, 0, rflags);
        if (cfd == -ENOENT) {
            const char *base = strrchr(prefix, '/') + 1;
            if (mkdirat(parent, base, mode) == 0) {
                cfd = open_raw(rootfd, prefix, O_PATH | O_DIRECTORY, 0, rflags);
            } else if (errno != EEXIST) {
                cfd = -errno;
            } else {
                /* EEXIST yet unresolvable: a dangling symlink. */
                char target[4096];
                ssize_t n = readlinkat(parent, base, target, sizeof(target) - 1);
                if (n < 0 || (rflags & MOAT_RESOLVE_NO_SYMLINKS) || ++links > MAX_SYMLINKS) {
                    close(parent);
                    return n < 0 ? -ENOENT : -ELOOP;
                }
                target[n] = '\0';
                prefix[i - strlen(base) - 1] = '\0'; /* dirname */
                char *joined = target[0] == '/' ? xasprintf("%s/%s", target, path + i)
                                                : xasprintf("%s/%s/%s", prefix, target, path + i);
                free(path);
                path = moat_path_clean(joined);
                free(joined);
                free(prefix);
                prefix = NULL;
                close(parent);
                goto restart;
            }
        }
        if (cfd < 0) {
            close(parent);
            return cfd;
        }
        close(parent);
        parent = cfd;
        if (i != len)
            prefix[i] = '/';
    }
    return parent;
}

int moat_mkdirs_in_root(int rootfd, const char *path, mode_t mode, unsigned mflags, moat_error **err)
{
    _cleanup_free_ char *clean = moat_path_clean(path);
    int fd = mkdirs_raw(rootfd, clean, mode, mflags);
    if (fd < 0)
        return moat_err_errno(err, -fd, "create directory '%s' inside the root", clean);
    return fd;
}

int moat_ensure_in_root(int rootfd, const char *path, bool dir, mode_t mode, unsigned mflags, moat_error **err)
{
    _cleanup_free_ char *clean = moat_path_clean(path);
    if (dir)
        return moat_mkdirs_in_root(rootfd, clean, mode, mflags, err);

    int fd = open_raw(rootfd, clean, O_PATH, 0, mflags);
    for (int links = 0; fd == -ENOENT; links++) {
        _cleanup_free_ char *parent = NULL, *base = NULL;
        moat_path_split(clean, &parent, &base);
        if (!*base)
            return moat_err(err, EISDIR, "mount target '%s' must be a file", clean);
        _cleanup_close_ int pfd = mkdirs_raw(rootfd, parent, 0755, mflags);
        if (pfd < 0)
            return moat_err_errno(err, -pfd, "create directory '%s' inside the root", parent);
        /* O_PATH parent fds can't be used with openat(O_CREAT); reopen it as a directory. */
        _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return moat_err_sys(err, "open directory '%s' inside the root", parent);
        int cfd = openat(dfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
        if (cfd >= 0) {
            close(cfd);
        } else if (errno != EEXIST) {
            return moat_err_sys(err, "create '%s' inside the root", clean);
        } else if (!(mflags & (MOAT_RESOLVE_NO_SYMLINKS | MOAT_RESOLVE_NO_FOLLOW_LAST))) {
            /* A dangling symlink: create the file where it points, inside the root. */
            char target[4096];
            ssize_t n = readlinkat(dfd, base, target, sizeof(target) - 1);
            if (n >= 0) {
                if (links >= MAX_SYMLINKS)
                    return moat_err(err, ELOOP, "mount target '%s': too many symlinks", path);
                target[n] = '\0';
                char *next = target[0] == '/' ? moat_path_clean(target) : NULL;
                if (!next) {
                    _cleanup_free_ char *j = xasprintf("%s/%s", parent, target);
                    next = moat_path_clean(j);
                }
                free(clean);
                clean = next;
            }
        }
        fd = open_raw(rootfd, clean, O_PATH, 0, mflags);
    }
    if (fd < 0)
        return moat_err_errno(err, -fd, "open '%s' inside the root", clean);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return moat_err_errno(err, e, "stat '%s' inside the root", clean);
    }
    if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
        close(fd);
        return moat_err(err, S_ISDIR(st.st_mode) ? EISDIR : ELOOP, "mount target '%s' is a %s, not a file",
                        clean, S_ISDIR(st.st_mode) ? "directory" : "symlink");
    }
    return fd;
}
