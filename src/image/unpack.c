/* The layer unpacker: a hostile tar stream (gzip, zstd or plain) into a layer
 * directory, confined to it.  See include/moat/layer.h for the rules.
 *
 * Two libarchive readers are chained: the outer one only decompresses (raw
 * format) and counts compressed bytes; the inner one parses tar from the
 * outer's output, while we hash it (diff ID) and enforce the stream limits.
 * One pass over the input does everything. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/layer.h"
#include "moat/log.h"
#include "moat/path.h"
#include "moat/util.h"

#define BUF_SIZE (256 * 1024)
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

/* what the duplicate set records per path */
enum { SEEN_FILE = 1, SEEN_DIR = 2, SEEN_WHITEOUT = 3, SEEN_OPAQUE = 4 };

struct input {
    int fd;
    uint64_t bytes;
    char *buf;
};

struct stream {
    struct archive *outer;
    struct moat_sha256 hash;
    uint64_t total;
    uint64_t image_before;
    const struct moat_limits *lim;
    struct input *in;
    bool eof, checked_magic;
    bool hashed; /* false: a plain stream whose digest the caller already has (input_digest) */
    moat_error *err; /* a limit or input problem found inside a callback */
};

struct dirmeta {
    char *path;
    mode_t mode;
    struct timespec times[2];
    bool has_times;
};

struct unpack {
    const struct moat_unpack_opts *o;
    const struct moat_limits *lim;
    int rootfd;
    struct stream *st;
    struct strset seen;
    struct dirmeta *dirs;
    size_t n_dirs, cap_dirs;
    char *pcache;
    int pfd;
    uint64_t entries, size, dropped_xattrs;
};

static void human(uint64_t n, char *buf, size_t len) { moat_limits_human(n, buf, len); }

/* ---- the two stream layers ------------------------------------------------ */

static la_ssize_t input_read(struct archive *a, void *ud, const void **buf)
{
    struct input *in = ud;
    for (;;) {
        ssize_t n = read(in->fd, in->buf, BUF_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            archive_set_error(a, errno, "read: %s", strerror(errno));
            return -1;
        }
        in->bytes += (uint64_t)n;
        *buf = in->buf;
        return n;
    }
}

static int stream_limits(struct stream *s)
{
    const struct moat_limits *l = s->lim;
    char h[32];
    if (s->total > l->layer_bytes) {
        human(l->layer_bytes, h, sizeof h);
        return moat_err(&s->err, EFBIG, "the uncompressed layer exceeds limit layerBytes (%s) by at least %" PRIu64 " bytes",
                        h, s->total - l->layer_bytes);
    }
    if (s->image_before + s->total > l->image_bytes) {
        human(l->image_bytes, h, sizeof h);
        return moat_err(&s->err, EFBIG, "the uncompressed image exceeds limit imageBytes (%s) by at least %" PRIu64 " bytes",
                        h, s->image_before + s->total - l->image_bytes);
    }
    if (s->total > l->ratio_after) {
        uint64_t c = s->in->bytes ? s->in->bytes : 1;
        uint64_t ratio = s->total / c;
        if (ratio > l->compression_ratio)
            return moat_err(&s->err, EFBIG,
                            "compression ratio %" PRIu64 ":1 after %" PRIu64 " bytes exceeds limit compressionRatio (%" PRIu64
                            ":1) by %" PRIu64 " (a decompression bomb?)",
                            ratio, s->total, l->compression_ratio, ratio - l->compression_ratio);
    }
    return 0;
}

static la_ssize_t stream_read(struct archive *a, void *ud, const void **buf)
{
    struct stream *s = ud;
    if (s->eof || s->err)
        return s->err ? -1 : 0;
    const void *blk;
    size_t size;
    la_int64_t off;
    int r = archive_read_data_block(s->outer, &blk, &size, &off);
    if (r == ARCHIVE_EOF) {
        s->eof = true;
        return 0;
    }
    if (r < ARCHIVE_WARN) {
        const char *m = archive_error_string(s->outer);
        moat_err(&s->err, EINVAL, "decompress: %s", m ? m : "unknown error");
        archive_set_error(a, EINVAL, "decompress");
        return -1;
    }
    if (!s->checked_magic) {
        s->checked_magic = true;
        if (archive_filter_code(s->outer, 0) == ARCHIVE_FILTER_NONE &&
            moat_compression_detect(blk, size) == MOAT_COMP_UNSUPPORTED) {
            moat_err(&s->err, EINVAL, "unsupported compression: only gzip, zstd and plain tar layers are accepted");
            archive_set_error(a, EINVAL, "compression");
            return -1;
        }
    }
    if (s->hashed)
        moat_sha256_update(&s->hash, blk, size);
    s->total += size;
    if (stream_limits(s) < 0) {
        archive_set_error(a, EFBIG, "limit");
        return -1;
    }
    *buf = blk;
    return (la_ssize_t)size;
}

/* The error of a failed libarchive call on the tar reader. */
static int archive_fail(struct unpack *u, struct archive *a, moat_error **err, const char *ctx)
{
    if (u->st->err) {
        *err = TAKE_PTR(u->st->err);
        return ctx ? moat_err_wrap(err, "%s", ctx) : -1;
    }
    const char *m = archive_error_string(a);
    int e = archive_errno(a);
    return moat_err(err, e > 0 ? e : EINVAL, "%s%s%s", ctx ? ctx : "", ctx ? ": " : "",
                    m ? m : "malformed tar stream");
}

enum moat_compression moat_compression_detect(const void *head, size_t n)
{
    const unsigned char *p = head;
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return MOAT_COMP_GZIP;
    if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
        return MOAT_COMP_ZSTD;
    if ((n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6)) || (n >= 3 && !memcmp(p, "BZh", 3)) ||
        (n >= 4 && !memcmp(p, "\x04\x22\x4d\x18", 4)))
        return MOAT_COMP_UNSUPPORTED;
    return MOAT_COMP_NONE;
}

const char *moat_compression_name(enum moat_compression c)
{
    switch (c) {
    case MOAT_COMP_GZIP:
        return "gzip";
    case MOAT_COMP_ZSTD:
        return "zstd";
    case MOAT_COMP_NONE:
        return "none";
    default:
        return "unsupported";
    }
}

const char *moat_layer_media_type(enum moat_compression c, bool docker)
{
    if (docker)
        return c == MOAT_COMP_GZIP   ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
               : c == MOAT_COMP_ZSTD ? "application/vnd.docker.image.rootfs.diff.tar.zstd"
                                     : "application/vnd.docker.image.rootfs.diff.tar";
    return c == MOAT_COMP_GZIP   ? "application/vnd.oci.image.layer.v1.tar+gzip"
           : c == MOAT_COMP_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                 : "application/vnd.oci.image.layer.v1.tar";
}

/* ---- names ---------------------------------------------------------------- */

/* "./a//b/" -> "a/b"; "." -> "".  Absolute names and ".." are refused. */
static int clean_name(const char *raw, const char *what, char **ret, moat_error **err)
{
    if (raw[0] == '/')
        return moat_err(err, EPERM, "%s '%s': absolute path", what, raw);
    char *out = xmalloc(strlen(raw) + 1);
    size_t o = 0;
    const char *p = raw;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return moat_err(err, EPERM, "%s '%s': path escapes the layer ('..' component)", what, raw);
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    out[o] = '\0';
    *ret = out;
    return 0;
}

static void split(const char *path, char **ret_parent, const char **ret_base)
{
    const char *slash = strrchr(path, '/');
    *ret_parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    *ret_base = slash ? slash + 1 : path;
}

/* A directory fd (O_RDONLY) for `parent` inside the layer, creating missing
 * directories; never through a symlink.  The last one is cached. */
static int parent_fd(struct unpack *u, const char *parent, const char *entry, moat_error **err)
{
    if (u->pcache && !strcmp(u->pcache, parent))
        return u->pfd;
    free(u->pcache);
    u->pcache = NULL;
    if (u->pfd >= 0)
        close(u->pfd);
    u->pfd = -1;
    int fd;
    if (!*parent) {
        fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "entry '%s': open the layer directory", entry);
    } else {
        moat_error *e = NULL;
        _cleanup_close_ int p = moat_mkdirs_in_root(u->rootfd, parent, 0755, MOAT_RESOLVE_NO_SYMLINKS, &e);
        if (p < 0) {
            int en = e->errnum;
            moat_error_free(e);
            if (en == ELOOP)
                return moat_err(err, ELOOP, "entry '%s': parent directory '%s' is a symlink or goes through one",
                                entry, parent);
            if (en == ENOTDIR || en == EEXIST)
                return moat_err(err, ENOTDIR, "entry '%s': parent '%s' is not a directory", entry, parent);
            return moat_err_errno(err, en, "entry '%s': create parent directory '%s'", entry, parent);
        }
        fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "entry '%s': open parent directory '%s'", entry, parent);
    }
    u->pfd = fd;
    u->pcache = xstrdup(parent);
    return fd;
}

/* ---- metadata ----------------------------------------------------------- */

static bool keep_xattr(const char *name)
{
    if (!strcmp(name, "security.capability"))
        return true;
    return moat_str_has_prefix(name, "user.") && !moat_str_has_prefix(name, "user.overlay.");
}

static int set_xattrs(struct unpack *u, struct archive_entry *e, int fd, const char *path, moat_error **err)
{
    const char *name;
    const void *val;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
        if (!name || !keep_xattr(name)) {
            u->dropped_xattrs++;
            continue;
        }
        if (fd < 0) /* symlinks, fifos, devices: user.* xattrs are not allowed there */
            continue;
        if (fsetxattr(fd, name, val, size, 0) < 0) {
            if (errno == ENOTSUP || errno == EOPNOTSUPP) {
                u->dropped_xattrs++;
                continue;
            }
            return moat_err_sys(err, "entry '%s': set xattr '%s'", path, name);
        }
    }
    return 0;
}

static int owner_err(moat_error **err, const char *path, struct archive_entry *e)
{
    int en = errno;
    if (en == EINVAL || en == EOVERFLOW)
        return moat_err(err, en,
                        "entry '%s': uid %" PRId64 " / gid %" PRId64 " is not mapped in this user namespace "
                        "(rootless: the user's range in /etc/subuid and /etc/subgid is missing or too small)",
                        path, (int64_t)archive_entry_uid(e), (int64_t)archive_entry_gid(e));
    return moat_err_errno(err, en, "entry '%s': chown", path);
}

static void entry_times(struct archive_entry *e, struct timespec ts[2], bool *has)
{
    *has = archive_entry_mtime_is_set(e);
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
    if (ts[0].tv_nsec < 0 || ts[0].tv_nsec > 999999999)
        ts[0].tv_nsec = 0;
    if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
        ts[1].tv_nsec = 0;
}

/* ---- checks before anything is created ------------------------------------ */

static int precheck(struct unpack *u, struct archive *a, struct archive_entry *e, const char *raw, moat_error **err)
{
    const struct moat_limits *l = u->lim;
    char h[32];
    if (++u->entries > l->layer_entries)
        return moat_err(err, EFBIG, "more than %" PRIu64 " entries: exceeds limit layerEntries (%" PRIu64 ") by 1",
                        l->layer_entries, l->layer_entries);
    size_t plen = strlen(raw);
    if (plen > l->path_length)
        return moat_err(err, ENAMETOOLONG,
                        "entry '%.64s...': path of %zu bytes exceeds limit pathLength (%" PRIu64 ") by %" PRIu64, raw,
                        plen, l->path_length, (uint64_t)plen - l->path_length);
    const char *link = archive_entry_symlink(e);
    if (!link)
        link = archive_entry_hardlink(e);
    if (link && strlen(link) > l->path_length)
        return moat_err(err, ENAMETOOLONG,
                        "entry '%s': link target of %zu bytes exceeds limit pathLength (%" PRIu64 ") by %" PRIu64, raw,
                        strlen(link), l->path_length, (uint64_t)strlen(link) - l->path_length);
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 || gid >= (la_int64_t)UINT32_MAX)
        return moat_err(err, ERANGE, "entry '%s': uid %" PRId64 " / gid %" PRId64 " out of range", raw, (int64_t)uid,
                        (int64_t)gid);
    if (archive_entry_size_is_set(e) && archive_entry_filetype(e) == AE_IFREG) {
        la_int64_t sz = archive_entry_size(e);
        if (sz < 0)
            return moat_err(err, EINVAL, "entry '%s': negative size", raw);
        /* where this entry's data ends in the uncompressed stream */
        la_int64_t pos = archive_read_header_position(a);
        uint64_t end = (pos > 0 ? (uint64_t)pos : 0) + 512 + (uint64_t)sz;
        if ((uint64_t)sz > l->layer_bytes || end > l->layer_bytes) {
            human(l->layer_bytes, h, sizeof h);
            return moat_err(err, EFBIG, "entry '%s' of %" PRId64 " bytes exceeds limit layerBytes (%s) by %" PRIu64 " bytes",
                            raw, (int64_t)sz, h, end - l->layer_bytes);
        }
        if (u->st->image_before + end > l->image_bytes) {
            human(l->image_bytes, h, sizeof h);
            return moat_err(err, EFBIG, "entry '%s' of %" PRId64 " bytes exceeds limit imageBytes (%s) by %" PRIu64 " bytes",
                            raw, (int64_t)sz, h, u->st->image_before + end - l->image_bytes);
        }
    }
    /* pax archives may carry an xattr twice (SCHILY.xattr and LIBARCHIVE.xattr): count each name once */
    const char *name;
    const void *val;
    size_t size, n = 0;
    const char *names[256];
    uint64_t total = 0;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
        bool dup = false;
        for (size_t i = 0; name && i < n && !dup; i++)
            dup = !strcmp(names[i], name);
        if (dup)
            continue;
        if (n == ARRAY_SIZE(names))
            return moat_err(err, E2BIG, "entry '%s': more than %zu xattrs", raw, ARRAY_SIZE(names));
        names[n++] = name ? name : "";
        total += size + (name ? strlen(name) : 0);
    }
    if (total > l->xattr_bytes)
        return moat_err(err, EFBIG, "entry '%s': xattrs of %" PRIu64 " bytes exceed limit xattrBytes (%" PRIu64 ") by %" PRIu64
                        " bytes", raw, total, l->xattr_bytes, total - l->xattr_bytes);
    return 0;
}

/* Record `key`; a second entry for the same path is refused (a directory may
 * repeat: its metadata is simply set again). */
static int mark_seen(struct unpack *u, const char *key, unsigned char kind, const char *raw, moat_error **err)
{
    unsigned char old = 0;
    if (strset_add(&u->seen, key, kind, &old) == 0 && !(old == SEEN_DIR && kind == SEEN_DIR))
        return moat_err(err, EEXIST, "duplicate entry '%s' (the layer already has an entry for '%s')", raw,
                        *key ? key : ".");
    return 0;
}

/* ---- entry kinds ---------------------------------------------------------- */

static int write_data(struct archive *a, struct unpack *u, int fd, int64_t size, const char *path, moat_error **err)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    int64_t end = 0;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            _cleanup_free_ char *ctx = xasprintf("entry '%s': read data", path);
            return archive_fail(u, a, err, ctx);
        }
        if (off < 0 || (uint64_t)off + len > (uint64_t)size)
            return moat_err(err, EINVAL, "entry '%s': data beyond its declared size", path);
        size_t done = 0;
        while (done < len) {
            ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return moat_err_sys(err, "entry '%s': write", path);
            done += (size_t)n;
        }
        if (off + (int64_t)len > end)
            end = off + (int64_t)len;
    }
    if (end < size && ftruncate(fd, size) < 0)
        return moat_err_sys(err, "entry '%s': truncate", path);
    return 0;
}

static int make_file(struct archive *a, struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                     const char *path, moat_error **err)
{
    _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return moat_err(err, EEXIST, "entry '%s': a directory of that name was made for an earlier entry", path);
        return moat_err_sys(err, "entry '%s': create", path);
    }
    int64_t size = archive_entry_size(e);
    if (write_data(a, u, fd, size, path, err) < 0)
        return -1;
    u->size += (uint64_t)size;
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return owner_err(err, path, e);
    /* after chown, which clears setuid/setgid */
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return moat_err_sys(err, "entry '%s': chmod", path);
    if (set_xattrs(u, e, fd, path, err) < 0)
        return -1;
    struct timespec ts[2];
    bool has;
    entry_times(e, ts, &has);
    if (has && futimens(fd, ts) < 0)
        return moat_err_sys(err, "entry '%s': set times", path);
    return 0;
}

static int make_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *base, const char *path,
                    moat_error **err)
{
    _cleanup_close_ int fd = -1;
    if (!*path) {
        fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
            return moat_err_sys(err, "entry '%s': mkdir", path);
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return moat_err(err, EEXIST, "entry '%s': exists and is not a directory", path);
        return moat_err_sys(err, "entry '%s': open directory", path);
    }
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return owner_err(err, path, e);
    if (set_xattrs(u, e, fd, path, err) < 0)
        return -1;
    /* mode and times last: children are still to come */
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 64;
        u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
    }
    struct dirmeta *d = &u->dirs[u->n_dirs++];
    d->path = xstrdup(path);
    d->mode = archive_entry_perm(e) & 07777;
    entry_times(e, d->times, &d->has_times);
    return 0;
}

static int make_special(struct unpack *u, struct archive_entry *e, int pfd, const char *base, const char *path,
                        moat_error **err)
{
    mode_t type = archive_entry_filetype(e);
    const char *target = archive_entry_symlink_utf8(e);
    if (!target)
        target = archive_entry_symlink(e);
    if (type == AE_IFLNK) {
        if (!target || !*target)
            return moat_err(err, EINVAL, "entry '%s': symlink without a target", path);
        if (symlinkat(target, pfd, base) < 0)
            return errno == EEXIST ? moat_err(err, EEXIST, "entry '%s': a directory of that name was made for an "
                                                           "earlier entry", path)
                                   : moat_err_sys(err, "entry '%s': symlink", path);
        u->size += strlen(target);
    } else {
        dev_t dev = 0;
        mode_t kind = S_IFIFO;
        if (type == AE_IFCHR || type == AE_IFBLK) {
            kind = type == AE_IFCHR ? S_IFCHR : S_IFBLK;
            dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        }
        if (mknodat(pfd, base, kind | 0600, dev) < 0)
            return moat_err_sys(err, "entry '%s': mknod", path);
    }
    if (fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
        return owner_err(err, path, e);
    if (type != AE_IFLNK && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
        return moat_err_sys(err, "entry '%s': chmod", path);
    if (set_xattrs(u, e, -1, path, err) < 0)
        return -1;
    struct timespec ts[2];
    bool has;
    entry_times(e, ts, &has);
    if (has && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "entry '%s': set times", path);
    return 0;
}

static int make_hardlink(struct unpack *u, struct archive_entry *e, int pfd, const char *base, const char *path,
                         moat_error **err)
{
    const char *raw = archive_entry_hardlink_utf8(e);
    if (!raw)
        raw = archive_entry_hardlink(e);
    _cleanup_free_ char *target = NULL;
    if (clean_name(raw, "hardlink target", &target, err) < 0)
        return moat_err_wrap(err, "entry '%s'", path);
    unsigned char kind = 0;
    if (!strset_get(&u->seen, target, &kind) || kind != SEEN_FILE)
        return moat_err(err, ENOENT, "entry '%s': hardlink target '%s' is not an earlier file of this layer", path,
                        raw);
    _cleanup_free_ char *tparent = NULL;
    const char *tbase;
    split(target, &tparent, &tbase);
    moat_error *e2 = NULL;
    _cleanup_close_ int tfd =
        moat_open_in_root(u->rootfd, tparent, O_PATH | O_DIRECTORY, 0, MOAT_RESOLVE_NO_SYMLINKS, &e2);
    if (tfd < 0) {
        moat_error_free(e2);
        return moat_err(err, ELOOP, "entry '%s': hardlink target '%s' is not reachable without a symlink", path, raw);
    }
    if (linkat(tfd, tbase, pfd, base, 0) < 0)
        return moat_err_sys(err, "entry '%s': link to '%s'", path, target);
    return 0;
}

static int make_whiteout(struct unpack *u, int pfd, const char *parent, const char *base, const char *raw,
                         moat_error **err)
{
    if (!strcmp(base, WH_OPAQUE)) {
        _cleanup_free_ char *key = *parent ? xasprintf("%s/%s", parent, WH_OPAQUE) : xstrdup(WH_OPAQUE);
        if (mark_seen(u, key, SEEN_OPAQUE, raw, err) < 0)
            return -1;
        if (fsetxattr(pfd, MOAT_OPAQUE_XATTR, "y", 1, 0) < 0)
            return moat_err_sys(err, "entry '%s': mark '%s' opaque (xattr " MOAT_OPAQUE_XATTR ")", raw,
                                *parent ? parent : ".");
        return 0;
    }
    if (moat_str_has_prefix(base, WH_META))
        return 0; /* AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content */
    const char *name = base + strlen(WH_PREFIX);
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return moat_err(err, EINVAL, "entry '%s': whiteout of an invalid name", raw);
    _cleanup_free_ char *key = *parent ? xasprintf("%s/%s", parent, name) : xstrdup(name);
    if (mark_seen(u, key, SEEN_WHITEOUT, raw, err) < 0)
        return -1;
    if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
        return errno == EEXIST ? moat_err(err, EEXIST, "entry '%s': whiteout of '%s', which this layer also creates",
                                          raw, key)
                               : moat_err_sys(err, "entry '%s': create whiteout '%s' (char 0:0)", raw, key);
    return 0;
}

static int unpack_entry(struct archive *a, struct unpack *u, struct archive_entry *e, moat_error **err)
{
    const char *raw = archive_entry_pathname_utf8(e);
    if (!raw)
        raw = archive_entry_pathname(e);
    if (!raw)
        return moat_err(err, EINVAL, "an entry without a readable name");
    if (precheck(u, a, e, raw, err) < 0)
        return -1;
    _cleanup_free_ char *path = NULL;
    if (clean_name(raw, "entry", &path, err) < 0)
        return -1;
    mode_t type = archive_entry_filetype(e);
    bool hardlink = archive_entry_hardlink(e) != NULL;
    if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK) && !u->o->allow_devices)
        return moat_err(err, EPERM, "entry '%s': device nodes are not allowed in layers (%s %u:%u)", raw,
                        type == AE_IFCHR ? "char" : "block", (unsigned)archive_entry_rdevmajor(e),
                        (unsigned)archive_entry_rdevminor(e));
    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFIFO &&
        type != AE_IFCHR && type != AE_IFBLK) {
        if (type == AE_IFSOCK)
            return 0; /* a socket carries no content */
        return moat_err(err, EINVAL, "entry '%s': unknown entry type 0%o", raw, (unsigned)type);
    }
    _cleanup_free_ char *parent = NULL;
    const char *base;
    split(path, &parent, &base);
    if (!*path && (hardlink || type != AE_IFDIR))
        return moat_err(err, EINVAL, "entry '%s': the layer root must be a directory", raw);

    if (*path && moat_str_has_prefix(base, WH_PREFIX)) {
        int pfd = parent_fd(u, parent, raw, err);
        return pfd < 0 ? -1 : make_whiteout(u, pfd, parent, base, raw, err);
    }
    if (mark_seen(u, path, hardlink || type != AE_IFDIR ? SEEN_FILE : SEEN_DIR, raw, err) < 0)
        return -1;
    int pfd = parent_fd(u, parent, raw, err);
    if (pfd < 0)
        return -1;
    if (hardlink)
        return make_hardlink(u, e, pfd, base, path, err);
    switch (type) {
    case AE_IFREG:
        return make_file(a, u, e, pfd, base, path, err);
    case AE_IFDIR:
        return make_dir(u, e, pfd, base, path, err);
    default:
        return make_special(u, e, pfd, base, path, err);
    }
}

static int finish_dirs(struct unpack *u, moat_error **err)
{
    for (size_t i = u->n_dirs; i-- > 0;) {
        struct dirmeta *d = &u->dirs[i];
        _cleanup_close_ int fd = -1;
        if (!*d->path) {
            fd = openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
            moat_error *e = NULL;
            fd = moat_open_in_root(u->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0,
                                   MOAT_RESOLVE_NO_SYMLINKS, &e);
            moat_error_free(e);
        }
        if (fd < 0)
            return moat_err_sys(err, "directory '%s': reopen", d->path);
        if (fchmod(fd, d->mode) < 0)
            return moat_err_sys(err, "directory '%s': chmod", d->path);
        if (d->has_times && futimens(fd, d->times) < 0)
            return moat_err_sys(err, "directory '%s': set times", d->path);
    }
    return 0;
}

/* Read the rest of the decompressed stream (tar padding after the end
 * marker) so that the diff ID covers all of it. */
static int drain(struct stream *s, moat_error **err)
{
    while (!s->eof && !s->err) {
        const void *b;
        if (stream_read(s->outer, s, &b) < 0)
            break;
    }
    if (s->err) {
        *err = TAKE_PTR(s->err);
        return -1;
    }
    return 0;
}

static int run(struct unpack *u, struct archive *inner, moat_error **err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        abort();
    int rc = 0;
    for (;;) {
        int r = archive_read_next_header2(inner, e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = archive_fail(u, inner, err, u->entries ? "after the last good entry" : NULL);
            break;
        }
        if (u->rootfd < 0) {
            /* verify-only: the checks still apply, nothing is created */
            const char *raw = archive_entry_pathname(e);
            _cleanup_free_ char *p = NULL;
            if (!raw || precheck(u, inner, e, raw, err) < 0 || clean_name(raw, "entry", &p, err) < 0) {
                if (!raw)
                    moat_err(err, EINVAL, "an entry without a readable name");
                rc = -1;
                break;
            }
            if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
                u->size += (uint64_t)archive_entry_size(e);
            if (archive_read_data_skip(inner) < ARCHIVE_WARN) {
                rc = archive_fail(u, inner, err, "skip data");
                break;
            }
            continue;
        }
        if (unpack_entry(inner, u, e, err) < 0) {
            rc = -1;
            break;
        }
    }
    archive_entry_free(e);
    if (rc == 0 && u->rootfd >= 0)
        rc = finish_dirs(u, err);
    return rc;
}

static int unpack_stream(struct unpack *u, struct archive *outer, struct archive *inner,
                         struct moat_unpack_result *res, moat_error **err)
{
    const struct moat_unpack_opts *o = u->o;
    struct stream *st = u->st;
    if (o->image_bytes_before >= o->limits->image_bytes) {
        char h[32];
        human(o->limits->image_bytes, h, sizeof h);
        return moat_err(err, EFBIG, "the image's earlier layers already reach limit imageBytes (%s)", h);
    }
    archive_read_support_filter_gzip(outer);
    archive_read_support_filter_zstd(outer);
    archive_read_support_format_raw(outer);
    if (archive_read_open(outer, st->in, NULL, input_read, NULL) != ARCHIVE_OK)
        return moat_err(err, EINVAL, "open layer stream: %s", archive_error_string(outer) ?: "unreadable");
    struct archive_entry *raw_entry;
    int r = archive_read_next_header(outer, &raw_entry);
    if (r == ARCHIVE_EOF)
        return moat_err(err, EINVAL, "empty layer stream (not a tar archive)");
    if (r < ARCHIVE_WARN)
        return moat_err(err, EINVAL, "decompress: %s", archive_error_string(outer) ?: "unreadable");
    int fc = archive_filter_code(outer, 0);
    res->compression = fc == ARCHIVE_FILTER_GZIP   ? MOAT_COMP_GZIP
                       : fc == ARCHIVE_FILTER_ZSTD ? MOAT_COMP_ZSTD
                                                   : MOAT_COMP_NONE;
    /* a plain tar staged (and hashed) by the caller: its digest is the diff ID */
    st->hashed = !(res->compression == MOAT_COMP_NONE && o->input_digest && moat_digest_valid(o->input_digest));
    archive_read_support_format_tar(inner);
    if (archive_read_open(inner, st, NULL, stream_read, NULL) != ARCHIVE_OK)
        return archive_fail(u, inner, err, NULL);
    if (run(u, inner, err) < 0 || drain(st, err) < 0)
        return -1;
    char digest[MOAT_DIGEST_SIZE];
    if (st->hashed)
        moat_sha256_final(&st->hash, digest);
    else
        memcpy(digest, o->input_digest, MOAT_DIGEST_SIZE);
    if (o->expect_diff_id && strcmp(digest, o->expect_diff_id) != 0)
        return moat_err(err, EILSEQ, "content digest mismatch: the uncompressed layer is %s, the image says %s",
                        digest, o->expect_diff_id);
    memcpy(res->diff_id, digest, sizeof(digest));
    res->tar_bytes = st->total;
    res->compressed_bytes = st->in->bytes;
    res->entries = u->entries;
    res->size = u->size;
    if (u->dropped_xattrs)
        moat_log(MOAT_LOG_DEBUG, "layer %s: dropped %" PRIu64 " xattrs (only user.* and security.capability are kept)",
                 digest, u->dropped_xattrs);
    return 0;
}

int moat_layer_unpack(int in_fd, int dirfd, const struct moat_unpack_opts *o, struct moat_unpack_result *res,
                      moat_error **err)
{
    struct input in = {.fd = in_fd, .buf = xmalloc(BUF_SIZE)};
    struct stream st = {.lim = o->limits, .image_before = o->image_bytes_before, .in = &in, .hashed = true};
    struct unpack u = {.o = o, .lim = o->limits, .rootfd = dirfd, .st = &st, .pfd = -1};
    struct archive *outer = archive_read_new(), *inner = archive_read_new();
    if (!outer || !inner)
        abort();
    moat_sha256_init(&st.hash);
    st.outer = outer;
    int rc = unpack_stream(&u, outer, inner, res, err);
    moat_sha256_discard(&st.hash);
    moat_error_free(st.err);
    archive_read_free(inner);
    archive_read_free(outer);
    free(in.buf);
    strset_free(&u.seen);
    for (size_t i = 0; i < u.n_dirs; i++)
        free(u.dirs[i].path);
    free(u.dirs);
    free(u.pcache);
    if (u.pfd >= 0)
        close(u.pfd);
    return rc;
}
