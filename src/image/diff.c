/* What a container changed (docker diff), and those changes as a layer tar
 * (commit, build).
 *
 * Both compare two "views" of a tree: a list of directories, top first, read
 * with overlayfs' rules (a whiteout hides what is below, an opaque directory
 * stops the lookup).  The old view is the image's layers; the new one is the
 * snapshot's upper/ over them (overlay) or its rootfs/ alone (copy).  With
 * overlay, whatever the new view finds below upper/ is the same inode as in
 * the old one, so untouched subtrees are skipped; with copy every file is
 * compared by metadata, as Docker's naive differ does. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/snapshot.h"
#include "moat/util.h"

#define MAX_VIEW (MOAT_IMAGE_MAX_LAYERS + 1)
#define MAX_DEPTH 2048
#define MAX_CHANGES 1000000

struct view {
    int *fds;
    size_t n;
};

struct hit {
    int layer; /* -1: absent */
    struct stat st;
};

static void view_close(struct view *v)
{
    for (size_t i = 0; i < v->n; i++)
        close(v->fds[i]);
    free(v->fds);
    v->fds = NULL;
    v->n = 0;
}

static void lookup(const struct view *v, const char *name, struct hit *h)
{
    h->layer = -1;
    for (size_t i = 0; i < v->n; i++) {
        struct stat st;
        if (fstatat(v->fds[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (tree_is_whiteout(&st))
            return;
        h->layer = (int)i;
        h->st = st;
        return;
    }
}

/* The directories that make up `name` (a directory found at h->layer). */
static int subview(const struct view *v, const char *name, const struct hit *h, struct view *ret, moat_error **err)
{
    ret->fds = xcalloc(v->n ? v->n : 1, sizeof(int));
    ret->n = 0;
    for (size_t i = (size_t)h->layer; i < v->n; i++) {
        struct stat st;
        if (fstatat(v->fds[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISDIR(st.st_mode))
            break; /* a whiteout or a file hides the rest */
        int fd = openat(v->fds[i], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            view_close(ret);
            return moat_err_sys(err, "open directory '%s'", name);
        }
        ret->fds[ret->n++] = fd;
        if (tree_is_opaque(fd))
            break;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted union of the names in the view's directories. */
static int view_names(const struct view *v, char ***ret, moat_error **err)
{
    struct strset seen = {0};
    char **names = xcalloc(1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++) {
        int fd = openat(v->fds[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
            if (fd >= 0)
                close(fd);
            strset_free(&seen);
            moat_strv_free(names);
            return moat_err_sys(err, "read directory");
        }
        for (struct dirent *de; (de = readdir(d));) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (strset_add(&seen, de->d_name, 1, NULL) == 1) {
                names = xrealloc(names, (n + 2) * sizeof(char *));
                names[n++] = xstrdup(de->d_name);
                names[n] = NULL;
            }
        }
        closedir(d);
    }
    strset_free(&seen);
    qsort(names, n, sizeof(char *), cmp_str);
    *ret = names;
    return 0;
}

struct changes {
    struct moat_change *v;
    size_t n, cap;
};

static int add_change(struct changes *c, char kind, const char *path, moat_error **err)
{
    if (c->n >= MAX_CHANGES)
        return moat_err(err, E2BIG, "more than %d changes", MAX_CHANGES);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (struct moat_change){kind, xstrdup(path)};
    return 0;
}

void moat_changes_free(struct moat_change *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

static bool link_differs(int a, int b, const char *name)
{
    char x[4097], y[4097];
    ssize_t nx = readlinkat(a, name, x, sizeof x - 1), ny = readlinkat(b, name, y, sizeof y - 1);
    return nx != ny || nx < 0 || memcmp(x, y, (size_t)nx) != 0;
}

static bool changed(const struct view *nv, const struct hit *hn, const struct view *ov, const struct hit *ho,
                    const char *name)
{
    const struct stat *a = &hn->st, *b = &ho->st;
    if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) || (a->st_mode & 07777) != (b->st_mode & 07777) ||
        a->st_uid != b->st_uid || a->st_gid != b->st_gid || a->st_rdev != b->st_rdev ||
        a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
        return true;
    if (!S_ISDIR(a->st_mode) && a->st_size != b->st_size)
        return true;
    return S_ISLNK(a->st_mode) && link_differs(nv->fds[hn->layer], ov->fds[ho->layer], name);
}

static int compare(const struct view *nv, const struct view *ov, const char *path, int depth, struct changes *c,
                   moat_error **err);

/* Everything below a new directory is new. */
static int all_added(const struct view *nv, const struct hit *hn, const char *name, const char *path, int depth,
                     struct changes *c, moat_error **err)
{
    struct view sub, empty = {0};
    if (subview(nv, name, hn, &sub, err) < 0)
        return -1;
    int rc = compare(&sub, &empty, path, depth + 1, c, err);
    view_close(&sub);
    return rc;
}

static int compare_entry(const struct view *nv, const struct view *ov, const char *name, const char *path, int depth,
                         struct changes *c, moat_error **err)
{
    struct hit hn, ho;
    lookup(nv, name, &hn);
    lookup(ov, name, &ho);
    if (hn.layer < 0)
        return ho.layer < 0 ? 0 : add_change(c, 'D', path, err);
    if (ho.layer < 0) {
        if (add_change(c, 'A', path, err) < 0)
            return -1;
        return S_ISDIR(hn.st.st_mode) ? all_added(nv, &hn, name, path, depth, c, err) : 0;
    }
    if (hn.st.st_dev == ho.st.st_dev && hn.st.st_ino == ho.st.st_ino)
        return 0; /* the same inode: untouched, and so is everything below it */
    if (changed(nv, &hn, ov, &ho, name) && add_change(c, 'C', path, err) < 0)
        return -1;
    if (!S_ISDIR(hn.st.st_mode))
        return 0;
    if (!S_ISDIR(ho.st.st_mode))
        return all_added(nv, &hn, name, path, depth, c, err);
    struct view ns, os;
    if (subview(nv, name, &hn, &ns, err) < 0)
        return -1;
    if (subview(ov, name, &ho, &os, err) < 0) {
        view_close(&ns);
        return -1;
    }
    int rc = compare(&ns, &os, path, depth + 1, c, err);
    view_close(&ns);
    view_close(&os);
    return rc;
}

static int compare(const struct view *nv, const struct view *ov, const char *path, int depth, struct changes *c,
                   moat_error **err)
{
    if (depth > MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': deeper than %d levels", path, MAX_DEPTH);
    _cleanup_strv_ char **names = NULL;
    struct view both = {.fds = xcalloc(nv->n + ov->n + 1, sizeof(int)), .n = 0};
    for (size_t i = 0; i < nv->n; i++)
        both.fds[both.n++] = nv->fds[i];
    for (size_t i = 0; i < ov->n; i++)
        both.fds[both.n++] = ov->fds[i];
    int rc = view_names(&both, &names, err);
    free(both.fds);
    for (size_t i = 0; rc == 0 && names[i]; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", path, names[i]);
        rc = compare_entry(nv, ov, names[i], p, depth, c, err);
    }
    return rc;
}

/* ---- the views of a snapshot ---------------------------------------------------- */

static int open_views(int layersfd, int snapdir, const char *driver, char **diff_ids, struct view *nv, struct view *ov,
                      moat_error **err)
{
    size_t n = moat_strv_len(diff_ids);
    if (n + 1 > MAX_VIEW)
        return moat_err(err, E2BIG, "too many layers");
    /* each level of a deep tree holds a directory fd per layer */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ov->fds = xcalloc(n + 1, sizeof(int));
    nv->fds = xcalloc(n + 2, sizeof(int));
    int top = openat(snapdir, !strcmp(driver, "copy") ? "rootfs" : "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                                             O_CLOEXEC);
    if (top < 0)
        return moat_err_sys(err, "open the snapshot's %s", !strcmp(driver, "copy") ? "rootfs" : "upper");
    nv->fds[nv->n++] = top;
    for (size_t i = n; i-- > 0;) {
        _cleanup_free_ char *p = xasprintf("%s/diff", moat_digest_hex(diff_ids[i]));
        int fd = openat(layersfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "open layer %s", diff_ids[i]);
        ov->fds[ov->n++] = fd;
        if (strcmp(driver, "copy") != 0) {
            int fd2 = dup(fd);
            if (fd2 < 0)
                return moat_err_sys(err, "dup");
            nv->fds[nv->n++] = fd2;
        }
    }
    return 0;
}

struct diff_job {
    int layersfd, snapdir, out_fd;
    const char *driver;
    char **diff_ids;
};

static int cmp_change(const void *a, const void *b)
{
    return strcmp(((const struct moat_change *)a)->path, ((const struct moat_change *)b)->path);
}

static int run_diff(struct diff_job *j, struct view *nv, struct view *ov, struct changes *c, moat_error **err)
{
    if (open_views(j->layersfd, j->snapdir, j->driver, j->diff_ids, nv, ov, err) < 0 ||
        compare(nv, ov, "", 0, c, err) < 0)
        return -1;
    if (c->n)
        qsort(c->v, c->n, sizeof(*c->v), cmp_change);
    return 0;
}

static int diff_job_run(void *arg, struct json_object **ret, moat_error **err)
{
    struct diff_job *j = arg;
    struct view nv = {0}, ov = {0};
    struct changes c = {0};
    int rc = run_diff(j, &nv, &ov, &c, err);
    view_close(&nv);
    view_close(&ov);
    if (rc == 0) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < c.n; i++) {
            char k[2] = {c.v[i].kind, 0};
            struct json_object *e = json_object_new_array();
            json_object_array_add(e, json_object_new_string(k));
            json_object_array_add(e, json_object_new_string(c.v[i].path));
            json_object_array_add(a, e);
        }
        *ret = a;
    }
    moat_changes_free(c.v, c.n);
    return rc;
}

static int snapshot_job(struct moat_store *s, const struct moat_snapshot *sn, int out_fd, sbx_fn fn,
                        struct json_object **ret, moat_error **err)
{
    _cleanup_close_ int sdir = openat(s->snapfd, sn->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sdir < 0)
        return moat_err_sys(err, "open snapshot %s", sn->id);
    struct diff_job j = {s->layersfd, sdir, out_fd, sn->driver, sn->diff_ids};
    struct sbx_opts o = {.userns = &s->ns, .write_fd = -1, .read_fds = {s->layersfd, sdir}, .n_read = 2,
                         .keep_fds = {out_fd}, .n_keep = out_fd >= 0 ? 1 : 0};
    if (store_lock(s, LOCK_SH, err) < 0)
        return -1;
    int rc = sbx_run(&o, fn, &j, ret, err);
    store_unlock(s);
    return rc;
}

int moat_snapshot_diff(struct moat_store *s, const struct moat_snapshot *sn, struct moat_change **ret, size_t *ret_n,
                       moat_error **err)
{
    struct json_object *res = NULL;
    if (snapshot_job(s, sn, -1, diff_job_run, &res, err) < 0)
        return moat_err_wrap(err, "diff snapshot %s", sn->id);
    size_t n = json_object_array_length(res);
    struct moat_change *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(res, i);
        v[i].kind = json_object_get_string(json_object_array_get_idx(e, 0))[0];
        v[i].path = xstrdup(json_object_get_string(json_object_array_get_idx(e, 1)));
    }
    json_object_put(res);
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- the changes as a layer tar -------------------------------------------------- */

struct out {
    int fd;
    struct moat_sha256 h;
};

static la_ssize_t out_write(struct archive *a, void *ud, const void *buf, size_t len)
{
    struct out *o = ud;
    if (moat_write_all(o->fd, buf, len) < 0) {
        archive_set_error(a, errno, "write: %s", strerror(errno));
        return -1;
    }
    moat_sha256_update(&o->h, buf, len);
    return (la_ssize_t)len;
}

/* Find `path` ("/a/b") in a view: its directory fd (borrowed from *walk) and stat. */
static int resolve(const struct view *root, const char *path, struct view *walk, struct hit *h, char **ret_base,
                   moat_error **err)
{
    _cleanup_free_ char *p = xstrdup(path + 1);
    struct view cur = {.fds = xcalloc(root->n + 1, sizeof(int)), .n = root->n};
    for (size_t i = 0; i < root->n; i++)
        cur.fds[i] = dup(root->fds[i]);
    char *save = NULL, *comp = strtok_r(p, "/", &save);
    for (char *next; comp; comp = next) {
        next = strtok_r(NULL, "/", &save);
        lookup(&cur, comp, h);
        if (h->layer < 0) {
            view_close(&cur);
            return moat_err(err, ENOENT, "'%s' vanished", path);
        }
        if (!next) {
            *ret_base = xstrdup(comp);
            *walk = cur;
            return 0;
        }
        struct view sub;
        if (!S_ISDIR(h->st.st_mode) || subview(&cur, comp, h, &sub, err) < 0) {
            view_close(&cur);
            return err && *err ? -1 : moat_err(err, ENOTDIR, "'%s': not a directory", path);
        }
        view_close(&cur);
        cur = sub;
    }
    view_close(&cur);
    return moat_err(err, EINVAL, "empty path");
}

static void add_xattrs(struct archive_entry *e, int fd)
{
    char list[65536];
    ssize_t n = flistxattr(fd, list, sizeof list);
    for (char *k = list; n > 0 && k < list + n; k += strlen(k) + 1) {
        if (!tree_keep_xattr(k))
            continue;
        char val[65536];
        ssize_t vl = fgetxattr(fd, k, val, sizeof val);
        if (vl >= 0)
            archive_entry_xattr_add_entry(e, k, val, (size_t)vl);
    }
}

static int write_entry(struct archive *a, const struct view *root, const char *path, struct strset *links,
                       char ***link_paths, moat_error **err)
{
    struct view w = {0};
    struct hit h;
    _cleanup_free_ char *base = NULL;
    if (resolve(root, path, &w, &h, &base, err) < 0)
        return -1;
    int dfd = w.fds[h.layer];
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path + 1);
    archive_entry_copy_stat(e, &h.st);
    archive_entry_set_uname(e, "");
    archive_entry_set_gname(e, "");
    archive_entry_set_atime(e, 0, 0);
    archive_entry_unset_atime(e);
    archive_entry_unset_ctime(e);
    archive_entry_unset_birthtime(e);
    _cleanup_close_ int fd = -1;
    int rc = 0;
    if (S_ISREG(h.st.st_mode) || S_ISDIR(h.st.st_mode)) {
        fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(h.st.st_mode) ? O_DIRECTORY : 0));
        if (fd < 0)
            rc = moat_err_sys(err, "open '%s'", path);
        else
            add_xattrs(e, fd);
    }
    if (rc == 0 && S_ISLNK(h.st.st_mode)) {
        char target[4097];
        ssize_t n = readlinkat(dfd, base, target, sizeof target - 1);
        if (n < 0)
            rc = moat_err_sys(err, "readlink '%s'", path);
        else {
            target[n] = '\0';
            archive_entry_set_symlink(e, target);
        }
    }
    bool data = S_ISREG(h.st.st_mode);
    if (rc == 0 && data && h.st.st_nlink > 1) {
        char key[64];
        snprintf(key, sizeof key, "%lu:%lu", (unsigned long)h.st.st_dev, (unsigned long)h.st.st_ino);
        for (size_t i = 0; *link_paths && (*link_paths)[i]; i += 2)
            if (!strcmp((*link_paths)[i], key)) {
                archive_entry_set_hardlink(e, (*link_paths)[i + 1]);
                archive_entry_set_size(e, 0);
                data = false;
                break;
            }
        if (data && strset_add(links, key, 1, NULL) == 1) {
            moat_strv_push(link_paths, key);
            moat_strv_push(link_paths, path + 1);
        }
    }
    if (rc == 0 && archive_write_header(a, e) < ARCHIVE_WARN)
        rc = moat_err(err, EIO, "tar '%s': %s", path, archive_error_string(a));
    char buf[1 << 16];
    for (ssize_t n; rc == 0 && data && (n = read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || archive_write_data(a, buf, (size_t)n) != n)
            rc = n < 0 ? moat_err_sys(err, "read '%s'", path) : moat_err(err, EIO, "tar '%s'", path);
    }
    archive_entry_free(e);
    view_close(&w);
    return rc;
}

static int write_whiteout(struct archive *a, const char *path, moat_error **err)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *name = xasprintf("%.*s.wh.%s", (int)(slash - path), path + 1, slash + 1);
    if (slash == path) {
        free(name);
        name = xasprintf(".wh.%s", slash + 1);
    }
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0);
    archive_entry_set_size(e, 0);
    int rc = archive_write_header(a, e) < ARCHIVE_WARN ? moat_err(err, EIO, "tar whiteout '%s'", path) : 0;
    archive_entry_free(e);
    return rc;
}

static int export_job_run(void *arg, struct json_object **ret, moat_error **err)
{
    struct diff_job *j = arg;
    struct view nv = {0}, ov = {0};
    struct changes c = {0};
    struct out out = {.fd = j->out_fd};
    moat_sha256_init(&out.h);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    struct strset links = {0};
    char **link_paths = NULL;
    int rc = run_diff(j, &nv, &ov, &c, err);
    if (rc == 0 && archive_write_open(a, &out, NULL, out_write, NULL) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "tar: %s", archive_error_string(a));
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        rc = c.v[i].kind == 'D' ? write_whiteout(a, c.v[i].path, err)
                                : write_entry(a, &nv, c.v[i].path, &links, &link_paths, err);
    if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "tar: %s", archive_error_string(a));
    archive_write_free(a);
    if (rc == 0) {
        struct json_object *o = json_object_new_object();
        char d[MOAT_DIGEST_SIZE];
        uint64_t size = out.h.size;
        moat_sha256_final(&out.h, d);
        json_object_object_add(o, "diffID", json_object_new_string(d));
        json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
        *ret = o;
    }
    moat_sha256_discard(&out.h);
    strset_free(&links);
    moat_strv_free(link_paths);
    moat_changes_free(c.v, c.n);
    view_close(&nv);
    view_close(&ov);
    return rc;
}

int moat_snapshot_export_layer(struct moat_store *s, const struct moat_snapshot *sn, int out_fd,
                               char ret_diff_id[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err)
{
    struct json_object *res = NULL;
    if (snapshot_job(s, sn, out_fd, export_job_run, &res, err) < 0)
        return moat_err_wrap(err, "export snapshot %s", sn->id);
    _cleanup_free_ char *d = NULL;
    uint64_t size = 0;
    int rc = moat_json_str(res, "", "diffID", true, &d, err) < 0 || moat_json_u64(res, "", "size", true, &size, err) < 0
                 ? -1
                 : 0;
    json_object_put(res);
    if (rc < 0 || !moat_digest_valid(d))
        return rc < 0 ? -1 : moat_err(err, EIO, "export: invalid diff ID");
    if (ret_diff_id)
        memcpy(ret_diff_id, d, MOAT_DIGEST_SIZE);
    if (ret_size)
        *ret_size = size;
    return 0;
}

int moat_snapshot_commit(struct moat_store *s, const char *id, const struct moat_commit_opts *o, char **ret_image_id,
                         moat_error **err)
{
    struct moat_snapshot *sn = NULL;
    if (moat_snapshot_get(s, id, &sn, err) < 0)
        return -1;
    struct stage t;
    if (stage_begin(s, &t, err) < 0) {
        moat_snapshot_free(sn);
        return -1;
    }
    int rc = 0;
    _cleanup_close_ int fd = openat(t.fd, "layer.tar", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = moat_err_sys(err, "create staged layer tar");
    if (rc == 0)
        rc = moat_snapshot_export_layer(s, sn, fd, NULL, NULL, err);
    if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
        rc = moat_err_sys(err, "lseek");
    struct moat_commit_opts co = o ? *o : (struct moat_commit_opts){0};
    if (!co.created_by)
        co.created_by = "moat commit";
    if (rc == 0)
        rc = moat_image_add_layer(s, sn->image_id, fd, &co, ret_image_id, err);
    stage_end(&t);
    moat_snapshot_free(sn);
    return rc < 0 ? moat_err_wrap(err, "commit snapshot %s", id) : 0;
}
