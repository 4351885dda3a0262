/* Container filesystem archives: confined tree walks to and from tar (libarchive). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "engine/archive.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

#define MAX_DEPTH 512

/* ---- ids ------------------------------------------------------------------------------ */
int archive_idmap_parse(const char *text, struct archive_idmap *ret, size_t max, size_t *ret_n)
{
    size_t n = 0;
    const char *p = text;
    if (!text || !*text)
        return -1;
    while (*p) {
        unsigned long v[3];
        for (int i = 0; i < 3; i++) {
            char *end;
            if (*p < '0' || *p > '9')
                return -1;
            errno = 0;
            v[i] = strtoul(p, &end, 10);
            if (errno || v[i] > UINT32_MAX || (i < 2 && *end != ':') || (i == 2 && *end && *end != ','))
                return -1;
            p = *end ? end + 1 : end;
        }
        if (n == max || v[2] == 0 || v[0] + v[2] - 1 > UINT32_MAX || v[1] + v[2] - 1 > UINT32_MAX)
            return -1;
        ret[n++] = (struct archive_idmap){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2]};
        if (p > text && p[-1] == ',' && !*p)
            return -1;
    }
    *ret_n = n;
    return 0;
}

uint32_t archive_id_to_container(const struct archive_idmap *m, size_t n, uint32_t host)
{
    for (size_t i = 0; i < n; i++)
        if (host >= m[i].hid && host - m[i].hid < m[i].size)
            return m[i].cid + (host - m[i].hid);
    return host < 65536 ? host : 65534;
}

bool archive_id_to_host(const struct archive_idmap *m, size_t n, uint32_t cid, uint32_t *ret)
{
    for (size_t i = 0; i < n; i++)
        if (cid >= m[i].cid && cid - m[i].cid < m[i].size) {
            *ret = m[i].hid + (cid - m[i].cid);
            return true;
        }
    return false;
}

/* ---- the stat header ---------------------------------------------------------------------- */
uint32_t archive_go_mode(mode_t mode)
{
    uint32_t m = mode & 0777;
    switch (mode & S_IFMT) {
    case S_IFDIR: m |= 1u << 31; break;
    case S_IFLNK: m |= 1u << 27; break;
    case S_IFBLK: m |= 1u << 26; break;
    case S_IFCHR: m |= (1u << 26) | (1u << 21); break;
    case S_IFIFO: m |= 1u << 25; break;
    case S_IFSOCK: m |= 1u << 24; break;
    default: break;
    }
    if (mode & S_ISUID)
        m |= 1u << 23;
    if (mode & S_ISGID)
        m |= 1u << 22;
    if (mode & S_ISVTX)
        m |= 1u << 20;
    return m;
}

char *archive_base64(const void *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tbl[v >> 18], *o++ = tbl[(v >> 12) & 63], *o++ = tbl[(v >> 6) & 63], *o++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18], *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

char *archive_stat_header(const char *name, int64_t size, mode_t mode, const struct timespec *mtime,
                          const char *link_target)
{
    char ts[64], date[40];
    struct tm tm;
    time_t sec = mtime->tv_sec;
    gmtime_r(&sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    if (mtime->tv_nsec) {
        /* Go's RFC3339Nano: trailing zeros of the fraction dropped */
        char frac[16];
        snprintf(frac, sizeof frac, "%09ld", mtime->tv_nsec);
        for (size_t l = strlen(frac); l > 0 && frac[l - 1] == '0'; l--)
            frac[l - 1] = '\0';
        snprintf(ts, sizeof ts, "%s.%sZ", date, frac);
    } else {
        snprintf(ts, sizeof ts, "%sZ", date);
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "size", json_object_new_int64(size));
    json_object_object_add(o, "mode", json_object_new_int64(archive_go_mode(mode)));
    json_object_object_add(o, "mtime", json_object_new_string(ts));
    json_object_object_add(o, "linkTarget", json_object_new_string(link_target ? link_target : ""));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    return archive_base64(js, strlen(js));
}

/* ---- writing a tree ------------------------------------------------------------------------ */
struct hardlink {
    dev_t dev;
    ino_t ino;
    char *path;
};
struct wctx {
    struct archive *a;
    const struct archive_ids *ids;
    struct hardlink *links;
    size_t n_links;
    char buf[65536];
};

static int ar_fail(moat_error **err, struct archive *a, const char *what, const char *path)
{
    return moat_err(err, EIO, "%s '%s': %s", what, path, archive_error_string(a) ? archive_error_string(a) : "error");
}

static int copy_data(struct wctx *w, int fd, off_t size, const char *path, moat_error **err)
{
    off_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, w->buf, (size_t)(left < (off_t)sizeof w->buf ? left : (off_t)sizeof w->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "read '%s'", path);
        if (n == 0) /* shrank while we read: pad with zeros, the header is out */
            memset(w->buf, 0, sizeof w->buf), n = (ssize_t)(left < (off_t)sizeof w->buf ? left : (off_t)sizeof w->buf);
        if (archive_write_data(w->a, w->buf, (size_t)n) < 0)
            return ar_fail(err, w->a, "write", path);
        left -= n;
    }
    return 0;
}

static int write_dir_children(struct wctx *w, int dfd, const char *path, int depth, moat_error **err);

static int write_entry(struct wctx *w, int dirfd, const char *name, const char *path, int depth, moat_error **err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "stat '%s'", path);
    _cleanup_close_ int fd = -1;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
        if (fd < 0)
            return moat_err_sys(err, "open '%s'", path);
        if (fstat(fd, &st) < 0)
            return moat_err_sys(err, "stat '%s'", path);
    }
    struct archive_entry *en = archive_entry_new();
    archive_entry_copy_stat(en, &st);
    if (S_ISDIR(st.st_mode)) {
        _cleanup_free_ char *p = xasprintf("%s/", path);
        archive_entry_copy_pathname(en, p);
    } else {
        archive_entry_copy_pathname(en, path);
    }
    if (w->ids) {
        archive_entry_set_uid(en, archive_id_to_container(w->ids->uid, w->ids->n_uid, st.st_uid));
        archive_entry_set_gid(en, archive_id_to_container(w->ids->gid, w->ids->n_gid, st.st_gid));
    }
    bool data = S_ISREG(st.st_mode);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
        if (n < 0) {
            archive_entry_free(en);
            return moat_err_sys(err, "readlink '%s'", path);
        }
        target[n] = '\0';
        archive_entry_copy_symlink(en, target);
    } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        for (size_t i = 0; i < w->n_links; i++)
            if (w->links[i].dev == st.st_dev && w->links[i].ino == st.st_ino) {
                archive_entry_copy_hardlink(en, w->links[i].path);
                archive_entry_set_size(en, 0);
                data = false;
                break;
            }
        if (data) {
            w->links = xrealloc(w->links, (w->n_links + 1) * sizeof *w->links);
            w->links[w->n_links++] = (struct hardlink){st.st_dev, st.st_ino, xstrdup(path)};
        }
    } else if (S_ISSOCK(st.st_mode)) { /* tar has no sockets; Docker skips them too */
        archive_entry_free(en);
        return 0;
    }
    int r = archive_write_header(w->a, en);
    archive_entry_free(en);
    if (r < ARCHIVE_WARN)
        return ar_fail(err, w->a, "tar header for", path);
    if (data && copy_data(w, fd, st.st_size, path, err) < 0)
        return -1;
    if (S_ISDIR(st.st_mode))
        return write_dir_children(w, fd, path, depth, err);
    return 0;
}

static int write_dir_children(struct wctx *w, int dfd, const char *path, int depth, moat_error **err)
{
    if (depth >= MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': directories nested too deep", path);
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return moat_err_sys(err, "dup");
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return moat_err_sys(err, "opendir '%s'", path);
    }
    char **names = NULL;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            moat_strv_push(&names, de->d_name);
    int rc = errno ? moat_err_sys(err, "readdir '%s'", path) : 0;
    closedir(d);
    for (size_t i = 0; rc == 0 && names && names[i]; i++) {
        _cleanup_free_ char *child = strcmp(path, ".") ? xasprintf("%s/%s", path, names[i]) : xstrdup(names[i]);
        rc = write_entry(w, dfd, names[i], child, depth + 1, err);
    }
    moat_strv_free(names);
    return rc;
}

int archive_write_tree(int dirfd, const char *name, const char *top, const struct archive_ids *ids, int out_fd,
                       moat_error **err)
{
    struct wctx *w = xcalloc(1, sizeof *w);
    w->ids = ids;
    w->a = archive_write_new();
    int rc = 0;
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK || archive_write_open_fd(w->a, out_fd) != ARCHIVE_OK)
        rc = ar_fail(err, w->a, "tar writer for", top);
    if (rc == 0 && !strcmp(top, ".")) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = fd < 0 ? moat_err_sys(err, "open '%s'", name) : write_dir_children(w, fd, ".", 0, err);
    } else if (rc == 0) {
        rc = write_entry(w, dirfd, name, top, 0, err);
    }
    if (archive_write_close(w->a) != ARCHIVE_OK && rc == 0)
        rc = ar_fail(err, w->a, "finish tar of", top);
    archive_write_free(w->a);
    for (size_t i = 0; i < w->n_links; i++)
        free(w->links[i].path);
    free(w->links);
    free(w);
    return rc;
}

/* ---- extracting ----------------------------------------------------------------------------- */
struct xctx {
    const struct archive_extract_opts *o;
    int destfd;
    char **done; /* names extracted so far (cleaned), for hardlinks */
    size_t n_done, cap_done;
    char buf[65536];
};

/* "a/./b//c/" -> "a/b/c"; NULL for absolute names and "..". "" is the destination itself. */
static char *clean_entry_name(const char *name)
{
    if (!name || name[0] == '/')
        return NULL;
    _cleanup_free_ char *dup = xstrdup(name);
    char *out = xcalloc(1, strlen(name) + 1);
    size_t len = 0;
    for (char *save = NULL, *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            free(out);
            return NULL;
        }
        if (len)
            out[len++] = '/';
        memcpy(out + len, t, strlen(t));
        len += strlen(t);
    }
    out[len] = '\0';
    return out;
}

static bool was_extracted(struct xctx *x, const char *name)
{
    for (size_t i = 0; i < x->n_done; i++)
        if (!strcmp(x->done[i], name))
            return true;
    return false;
}

static void mark_extracted(struct xctx *x, const char *name)
{
    if (x->n_done == x->cap_done) {
        x->cap_done = x->cap_done ? x->cap_done * 2 : 64;
        x->done = xrealloc(x->done, x->cap_done * sizeof *x->done);
    }
    x->done[x->n_done++] = xstrdup(name);
}

static void owner_for(struct xctx *x, struct archive_entry *en, uid_t *u, gid_t *g)
{
    uint32_t cu = en && x->o->copy_uidgid ? (uint32_t)archive_entry_uid(en) : 0;
    uint32_t cg = en && x->o->copy_uidgid ? (uint32_t)archive_entry_gid(en) : 0;
    uint32_t hu, hg;
    if (!archive_id_to_host(x->o->ids->uid, x->o->ids->n_uid, cu, &hu) &&
        !archive_id_to_host(x->o->ids->uid, x->o->ids->n_uid, 0, &hu))
        hu = 0;
    if (!archive_id_to_host(x->o->ids->gid, x->o->ids->n_gid, cg, &hg) &&
        !archive_id_to_host(x->o->ids->gid, x->o->ids->n_gid, 0, &hg))
        hg = 0;
    *u = hu, *g = hg;
}

/* Open the parent directory of `name` (cleaned, not "") below destfd, creating
 * missing directories; a symlink or a non-directory on the way is refused. */
static int open_parent(struct xctx *x, const char *name, bool create, char **ret_base, moat_error **err)
{
    _cleanup_free_ char *dup = xstrdup(name);
    char *slash = strrchr(dup, '/');
    *ret_base = xstrdup(slash ? slash + 1 : dup);
    int cur = fcntl(x->destfd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0 || !slash)
        return cur < 0 ? moat_err_sys(err, "dup") : cur;
    *slash = '\0';
    for (char *save = NULL, *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        int nfd = openat(cur, t, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, t, 0755) < 0 && errno != EEXIST) {
                moat_err_sys(err, "'%s': mkdir '%s'", name, t);
                close(cur);
                return -1;
            }
            if (x->o->ids) {
                uid_t u;
                gid_t g;
                owner_for(x, NULL, &u, &g);
                if (fchownat(cur, t, u, g, AT_SYMLINK_NOFOLLOW) < 0) {
                    moat_err_sys(err, "'%s': chown '%s'", name, t);
                    close(cur);
                    return -1;
                }
            }
            nfd = openat(cur, t, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0) {
            int e = errno;
            close(cur);
            if (e == ELOOP || e == ENOTDIR)
                return moat_err(err, EINVAL, "'%s': '%s' on the way is a symlink or not a directory: refused", name, t);
            return moat_err_errno(err, e, "'%s': open '%s'", name, t);
        }
        close(cur);
        cur = nfd;
    }
    return cur;
}

/* Remove what is at base unless the rules forbid replacing it. */
static int make_room(struct xctx *x, int pfd, const char *base, const char *name, bool want_dir, bool *ret_exists_dir,
                     moat_error **err)
{
    struct stat st;
    *ret_exists_dir = false;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : moat_err_sys(err, "'%s': stat", name);
    if (S_ISDIR(st.st_mode)) {
        if (want_dir) {
            *ret_exists_dir = true;
            return 0;
        }
        return moat_err(err, EINVAL, "'%s': cannot overwrite directory with non-directory", name);
    }
    if (want_dir && x->o->no_overwrite_dir_non_dir)
        return moat_err(err, EINVAL, "'%s': cannot overwrite non-directory with directory", name);
    if (unlinkat(pfd, base, 0) < 0)
        return moat_err_sys(err, "'%s': remove the old entry", name);
    return 0;
}

static int write_file(struct xctx *x, struct archive *a, int pfd, const char *base, const char *name, int *ret_fd,
                      moat_error **err)
{
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return moat_err_sys(err, "'%s': create", name);
    for (;;) {
        ssize_t n = archive_read_data(a, x->buf, sizeof x->buf);
        if (n == 0)
            break;
        if (n < 0) {
            close(fd);
            return moat_err(err, EINVAL, "'%s': bad tar data: %s", name, archive_error_string(a));
        }
        if (moat_write_all(fd, x->buf, (size_t)n) < 0) {
            int e = errno;
            close(fd);
            return moat_err_errno(err, e, "'%s': write", name);
        }
    }
    *ret_fd = fd;
    return 0;
}

static int extract_one(struct xctx *x, struct archive *a, struct archive_entry *en, moat_error **err)
{
    const char *raw = archive_entry_pathname(en);
    _cleanup_free_ char *name = clean_entry_name(raw);
    if (!name)
        return moat_err(err, EINVAL, "'%s': absolute or '..' entry name refused", raw ? raw : "(none)");
    mode_t type = archive_entry_filetype(en);
    const char *hl = archive_entry_hardlink(en);
    if (!name[0])
        return 0; /* "./": the destination itself */
    if (!hl && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK))
        return moat_err(err, EINVAL, "'%s': device nodes and sockets are refused", name);
    if (hl || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFIFO)) {
        if (!hl)
            return moat_err(err, EINVAL, "'%s': unsupported entry type", name);
    }
    _cleanup_free_ char *base = NULL;
    _cleanup_close_ int pfd = open_parent(x, name, true, &base, err);
    if (pfd < 0)
        return -1;
    bool exists_dir;
    if (make_room(x, pfd, base, name, !hl && type == AE_IFDIR, &exists_dir, err) < 0)
        return -1;
    _cleanup_close_ int fd = -1;
    if (hl) {
        _cleanup_free_ char *target = clean_entry_name(hl);
        if (!target || !target[0] || !was_extracted(x, target))
            return moat_err(err, EINVAL, "'%s': hardlink to '%s', which is not part of this archive: refused", name, hl);
        _cleanup_free_ char *tbase = NULL;
        _cleanup_close_ int tfd = open_parent(x, target, false, &tbase, err);
        if (tfd < 0)
            return -1;
        if (linkat(tfd, tbase, pfd, base, 0) < 0)
            return moat_err_sys(err, "'%s': link to '%s'", name, hl);
        mark_extracted(x, name);
        return 0;
    }
    switch (type) {
    case AE_IFDIR:
        if (!exists_dir && mkdirat(pfd, base, 0700) < 0)
            return moat_err_sys(err, "'%s': mkdir", name);
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "'%s': open", name);
        break;
    case AE_IFREG:
        if (write_file(x, a, pfd, base, name, &fd, err) < 0)
            return -1;
        break;
    case AE_IFLNK:
        if (symlinkat(archive_entry_symlink(en) ? archive_entry_symlink(en) : "", pfd, base) < 0)
            return moat_err_sys(err, "'%s': symlink", name);
        break;
    default: /* AE_IFIFO */
        if (mkfifoat(pfd, base, 0600) < 0)
            return moat_err_sys(err, "'%s': mkfifo", name);
        break;
    }
    mode_t perm = archive_entry_perm(en) & 07777;
    if (x->o->ids) {
        uid_t u;
        gid_t g;
        owner_for(x, en, &u, &g);
        if ((fd >= 0 ? fchown(fd, u, g) : fchownat(pfd, base, u, g, AT_SYMLINK_NOFOLLOW)) < 0)
            return moat_err_sys(err, "'%s': chown", name);
    }
    if (type != AE_IFLNK && (fd >= 0 ? fchmod(fd, perm) : fchmodat(pfd, base, perm, AT_SYMLINK_NOFOLLOW)) < 0)
        return moat_err_sys(err, "'%s': chmod", name);
    struct timespec ts[2] = {{archive_entry_atime(en), archive_entry_atime_nsec(en)},
                             {archive_entry_mtime(en), archive_entry_mtime_nsec(en)}};
    if (!archive_entry_atime_is_set(en))
        ts[0] = ts[1];
    if (type != AE_IFDIR || !exists_dir)
        (void)(fd >= 0 ? futimens(fd, ts) : utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW));
    mark_extracted(x, name);
    return 0;
}

int archive_extract(int destfd, int in_fd, const struct archive_extract_opts *o, moat_error **err)
{
    struct xctx *x = xcalloc(1, sizeof *x);
    x->o = o;
    x->destfd = destfd;
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    int rc = 0;
    if (archive_read_open_fd(a, in_fd, 65536) != ARCHIVE_OK)
        rc = moat_err(err, EINVAL, "bad tar: %s", archive_error_string(a));
    struct archive_entry *en;
    while (rc == 0) {
        int r = archive_read_next_header(a, &en);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = moat_err(err, EINVAL, "bad tar: %s", archive_error_string(a));
            break;
        }
        rc = extract_one(x, a, en, err);
    }
    archive_read_free(a);
    for (size_t i = 0; i < x->n_done; i++)
        free(x->done[i]);
    free(x->done);
    free(x);
    return rc;
}
