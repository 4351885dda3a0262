/* Snapshots: records, creation and removal, the overlay mount, and the probe
 * that decides between overlay and copy (see include/moat/snapshot.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/overlay.h"
#include "moat/snapshot.h"
#include "moat/util.h"

#define SNAP_JSON "snapshot.json"

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128 || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z') ||
                               (id[0] >= '0' && id[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
              id[i] == '_' || id[i] == '.' || id[i] == '-'))
            return false;
    return true;
}

void moat_snapshot_free(struct moat_snapshot *sn)
{
    if (!sn)
        return;
    free(sn->id);
    free(sn->image_id);
    free(sn->owner);
    free(sn->driver);
    free(sn->dir);
    moat_strv_free(sn->lower);
    moat_strv_free(sn->diff_ids);
    free(sn->upper);
    free(sn->work);
    free(sn->rootfs);
    free(sn);
}

static int snapshot_read(struct moat_store *s, const char *id, struct moat_snapshot **ret, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/" SNAP_JSON, id);
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse_file_at(s->snapfd, p, 1 << 20, SNAP_JSON, &o, err) < 0)
        return moat_err_wrap(err, "snapshot %s", id);
    struct moat_snapshot *sn = xcalloc(1, sizeof(*sn));
    if (moat_json_str(o, "", "image", true, &sn->image_id, err) < 0 ||
        moat_json_str(o, "", "owner", false, &sn->owner, err) < 0 ||
        moat_json_str(o, "", "driver", true, &sn->driver, err) < 0 ||
        moat_json_strv(o, "", "layers", true, MOAT_IMAGE_MAX_LAYERS, &sn->diff_ids, err) < 0) {
        moat_snapshot_free(sn);
        return moat_err_wrap(err, "snapshot %s", id);
    }
    sn->id = xstrdup(id);
    sn->dir = xasprintf("%s/snapshots/%s", s->root, id);
    size_t n = moat_strv_len(sn->diff_ids);
    sn->lower = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (!moat_digest_valid(sn->diff_ids[i])) {
            moat_snapshot_free(sn);
            return moat_err(err, EINVAL, "snapshot %s: invalid layer '%.80s'", id, sn->diff_ids[i]);
        }
        sn->lower[n - 1 - i] = xasprintf("%s/layers/%s/diff", s->root, moat_digest_hex(sn->diff_ids[i]));
    }
    sn->upper = xasprintf("%s/upper", sn->dir);
    sn->work = xasprintf("%s/work", sn->dir);
    sn->rootfs = xasprintf("%s/rootfs", sn->dir);
    *ret = sn;
    return 0;
}

int moat_snapshot_get(struct moat_store *s, const char *id, struct moat_snapshot **ret, moat_error **err)
{
    if (!valid_id(id))
        return moat_err(err, EINVAL, "invalid snapshot id '%.140s'", id);
    return snapshot_read(s, id, ret, err);
}

int moat_snapshot_list(struct moat_store *s, char ***ret, moat_error **err)
{
    int fd = openat(s->snapfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return moat_err_sys(err, "open '%s/snapshots'", s->root);
    }
    char **v = xcalloc(1, sizeof(char *));
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.' && valid_id(de->d_name))
            moat_strv_push(&v, de->d_name);
    closedir(d);
    *ret = v;
    return 0;
}

size_t snapshot_count(struct moat_store *s)
{
    char **v = NULL;
    moat_error *e = NULL;
    if (moat_snapshot_list(s, &v, &e) < 0) {
        moat_error_free(e);
        return 0;
    }
    size_t n = moat_strv_len(v);
    moat_strv_free(v);
    return n;
}

int store_snapshot_layers(struct moat_store *s, struct strset *ret, moat_error **err)
{
    _cleanup_strv_ char **ids = NULL;
    if (moat_snapshot_list(s, &ids, err) < 0)
        return -1;
    for (size_t i = 0; ids[i]; i++) {
        struct moat_snapshot *sn = NULL;
        if (snapshot_read(s, ids[i], &sn, err) < 0)
            return -1;
        for (size_t k = 0; sn->diff_ids[k]; k++)
            strset_add(ret, sn->diff_ids[k], 1, NULL);
        moat_snapshot_free(sn);
    }
    return 0;
}

int store_image_in_use(struct moat_store *s, const char *image_id, char **ret_who, bool *ret_running,
                       moat_error **err)
{
    *ret_running = false;
    if (s->in_use) {
        int r = s->in_use(s->in_use_ctx, image_id, ret_who, ret_running, err);
        if (r != 0)
            return r;
    }
    _cleanup_strv_ char **ids = NULL;
    if (moat_snapshot_list(s, &ids, err) < 0)
        return -1;
    for (size_t i = 0; ids[i]; i++) {
        struct moat_snapshot *sn = NULL;
        if (snapshot_read(s, ids[i], &sn, err) < 0)
            return -1;
        bool hit = !strcmp(sn->image_id, image_id);
        if (hit)
            *ret_who = xstrdup(sn->owner ? sn->owner : sn->id);
        moat_snapshot_free(sn);
        if (hit)
            return 1;
    }
    return 0;
}

/* ---- disk usage ------------------------------------------------------------------- */

static uint64_t du_at(int dfd, int depth)
{
    if (depth > 4096)
        return 0;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    uint64_t total = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd >= 0) {
                total += du_at(cfd, depth + 1);
                close(cfd);
            }
        } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
            total += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return total;
}

static int du_job(void *arg, struct json_object **ret, moat_error **err)
{
    (void)err;
    int snapfd = *(int *)arg;
    uint64_t total = 0;
    int fd = openat(snapfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        static const char *const parts[] = {"upper", "rootfs"};
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
            _cleanup_free_ char *p = xasprintf("%s/%s", de->d_name, parts[i]);
            int cfd = openat(snapfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd >= 0) {
                total += du_at(cfd, 0);
                close(cfd);
            }
        }
    }
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "bytes", json_object_new_int64((int64_t)total));
    return 0;
}

int snapshot_usage(struct moat_store *s, size_t *ret_n, uint64_t *ret_bytes, moat_error **err)
{
    *ret_n = snapshot_count(s);
    *ret_bytes = 0;
    if (*ret_n == 0)
        return 0;
    struct sbx_opts o = {.userns = &s->ns, .write_fd = -1, .read_fds = {s->snapfd}, .n_read = 1};
    struct json_object *res = NULL;
    if (sbx_run(&o, du_job, &s->snapfd, &res, err) < 0)
        return -1;
    int rc = moat_json_u64(res, "", "bytes", true, ret_bytes, err);
    json_object_put(res);
    return rc < 0 ? -1 : 0;
}

/* ---- the overlay mount ------------------------------------------------------------- */

/* Open a layer directory, id-mapped into userns_fd when asked.  overlayfs
 * clones each layer's mount and refuses a detached one, so an id-mapped
 * layer is attached first on <snapshot>/idmap-N (in the caller's mount
 * namespace; detached again once the overlay holds it). */
static int layer_fd(const struct moat_snapshot *sn, size_t i, int userns_fd, char **ret_attached, moat_error **err)
{
    const char *path = sn->lower[i];
    int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open layer '%s'", path);
    if (userns_fd < 0)
        return fd;
    int t = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    close(fd);
    if (t < 0)
        return moat_err_sys(err, "open_tree '%s'", path);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, .userns_fd = (uint64_t)userns_fd};
    if (mount_setattr(t, "", AT_EMPTY_PATH, &a, sizeof a) < 0) {
        int e = errno;
        close(t);
        return moat_err_errno(err, e, "id-map layer '%s'", path);
    }
    char *at = xasprintf("%s/idmap-%zu", sn->dir, i);
    if ((mkdir(at, 0700) < 0 && errno != EEXIST) || move_mount(t, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        int e = errno;
        close(t);
        free(at);
        return moat_err_errno(err, e, "attach id-mapped layer '%s'", path);
    }
    close(t);
    fd = open(at, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        umount2(at, MNT_DETACH);
        free(at);
        return moat_err_errno(err, e, "open id-mapped layer '%s'", path);
    }
    *ret_attached = at;
    return fd;
}

static void detach_all(char **attached)
{
    for (size_t i = 0; attached && attached[i]; i++) {
        umount2(attached[i], MNT_DETACH);
        rmdir(attached[i]);
    }
    moat_strv_free(attached);
}

static int overlay_mount(const struct moat_snapshot *sn, const struct moat_snapshot_mount_opts *o, int *ret,
                         moat_error **err)
{
    size_t n = moat_strv_len(sn->lower);
    if (n > MOAT_OVERLAY_MAX_LAYERS)
        return moat_err(err, E2BIG, "snapshot %s: %zu layers", sn->id, n);
    struct moat_overlay_dir lower[MOAT_OVERLAY_MAX_LAYERS];
    size_t k = 0;
    char **attached = NULL;
    int rc = 0;
    /* the same layer twice: only its topmost place counts */
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(sn->lower[j], sn->lower[i]);
        if (dup)
            continue;
        char *at = NULL;
        int fd = layer_fd(sn, i, o ? o->userns_fd : -1, &at, err);
        if (at) {
            moat_strv_push(&attached, at);
            free(at);
        }
        if (fd < 0)
            rc = -1;
        else
            lower[k++] = (struct moat_overlay_dir){fd, sn->lower[i]};
    }
    _cleanup_close_ int ufd = -1, wfd = -1;
    bool rw = !o || !o->read_only;
    if (rc == 0 && rw) {
        ufd = open(sn->upper, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        wfd = open(sn->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ufd < 0 || wfd < 0)
            rc = moat_err_sys(err, "open upper/work of snapshot %s", sn->id);
    }
    struct moat_overlay_dir up = {ufd, sn->upper}, wk = {wfd, sn->work};
    if (rc == 0)
        rc = moat_overlay_mount(lower, k, rw ? &up : NULL, rw ? &wk : NULL, MOUNT_ATTR_NODEV, ret, err);
    for (size_t i = 0; i < k; i++)
        close(lower[i].fd);
    detach_all(attached); /* the overlay holds its own clones of the layers */
    return rc;
}

int moat_snapshot_mount(struct moat_store *s, const struct moat_snapshot *sn, const struct moat_snapshot_mount_opts *o,
                        int *ret, moat_error **err)
{
    (void)s;
    if (!strcmp(sn->driver, "copy")) {
        int fd = open_tree(AT_FDCWD, sn->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "open_tree '%s'", sn->rootfs);
        if (o && o->userns_fd >= 0) {
            struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)o->userns_fd};
            if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof a) < 0) {
                close(fd);
                return moat_err_sys(err, "id-map '%s'", sn->rootfs);
            }
        }
        *ret = fd;
        return 0;
    }
    if (overlay_mount(sn, o, ret, err) < 0)
        return moat_err_wrap(err, "mount snapshot %s", sn->id);
    return 0;
}

/* ---- a read-only view, and work on a private mount ------------------------------------- */

/* The snapshot as its container sees it, read-only: its upper directory as
 * the top layer (no work directory: nothing is written). */
static int view_mount(const struct moat_snapshot *sn, int *ret, moat_error **err)
{
    size_t n = moat_strv_len(sn->lower);
    char **lower = xcalloc(n + 2, sizeof(char *));
    lower[0] = sn->upper;
    for (size_t i = 0; i < n; i++)
        lower[i + 1] = sn->lower[i];
    struct moat_snapshot v = *sn;
    v.lower = lower;
    struct moat_snapshot_mount_opts o = {.userns_fd = -1, .read_only = true};
    int rc = overlay_mount(&v, &o, ret, err);
    free(lower);
    return rc;
}

struct view_arg {
    const struct moat_snapshot *sn;
    int sock;
};

static int view_job(void *argp, struct json_object **ret, moat_error **err)
{
    (void)ret;
    struct view_arg *a = argp;
    _cleanup_close_ int m = -1;
    if (view_mount(a->sn, &m, err) < 0)
        return -1;
    return moat_send_fd(a->sock, m, "view", err);
}

int moat_snapshot_view(struct moat_store *s, const struct moat_snapshot *sn, int *ret_fd, moat_error **err)
{
    if (!strcmp(sn->driver, "copy")) {
        int fd = open(sn->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? moat_err_sys(err, "open '%s'", sn->rootfs) : (*ret_fd = fd, 0);
    }
    if (!s->ns.enabled) /* root: the engine's own mount namespace may hold a detached mount */
        return view_mount(sn, ret_fd, err) < 0 ? moat_err_wrap(err, "view of snapshot %s", sn->id) : 0;
    /* Rootless: the overlay can only be made inside the store's user
     * namespace; the detached mount comes back over a socket and stays
     * usable here (its files are read with the caller's own rights). */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return moat_err_sys(err, "socketpair");
    struct view_arg a = {sn, sv[1]};
    struct sbx_opts o = {.userns = &s->ns, .write_fd = -1, .mount_ns = true, .keep_fds = {sv[1]}, .n_keep = 1};
    int rc = store_lock(s, LOCK_SH, err);
    if (rc == 0) {
        rc = sbx_run(&o, view_job, &a, NULL, err);
        store_unlock(s);
    }
    close(sv[1]);
    if (rc == 0)
        rc = moat_recv_fd(sv[0], ret_fd, err);
    close(sv[0]);
    return rc < 0 ? moat_err_wrap(err, "view of snapshot %s", sn->id) : 0;
}

struct run_arg {
    struct moat_store *s;
    const struct moat_snapshot *sn;
    moat_snapshot_fn fn;
    void *arg;
};

static int run_job(void *argp, struct json_object **ret, moat_error **err)
{
    (void)ret;
    struct run_arg *a = argp;
    _cleanup_close_ int m = -1;
    if (moat_snapshot_mount(a->s, a->sn, NULL, &m, err) < 0)
        return -1;
    return a->fn(m, a->arg, err);
}

int moat_snapshot_run(struct moat_store *s, const struct moat_snapshot *sn, const int *keep_fds, size_t n_keep,
                      moat_snapshot_fn fn, void *arg, moat_error **err)
{
    struct sbx_opts o = {.userns = &s->ns, .write_fd = -1, .mount_ns = true};
    if (n_keep > ARRAY_SIZE(o.keep_fds))
        return moat_err(err, EINVAL, "moat_snapshot_run: %zu fds to keep", n_keep);
    for (size_t i = 0; i < n_keep; i++)
        o.keep_fds[o.n_keep++] = keep_fds[i];
    struct run_arg a = {s, sn, fn, arg};
    /* no store lock: the snapshot's record keeps its layers from garbage
     * collection, and the caller may have closed the lock's fd */
    return sbx_run(&o, run_job, &a, NULL, err);
}

/* ---- the driver probe -------------------------------------------------------------- */

struct probe_arg {
    int dirfd;
    char *path;
};

/* In a private mount namespace (rootless: the store's user namespace): an
 * overlay of lower/ (a file, a whiteout, an opaque directory) with upper/,
 * mounted the way snapshots are, must show exactly what overlay promises. */
static int probe_job(void *argp, struct json_object **ret, moat_error **err)
{
    (void)ret;
    struct probe_arg *a = argp;
    int d = a->dirfd;
    if (mkdirat(d, "l1", 0755) < 0 || mkdirat(d, "l2", 0755) < 0 || mkdirat(d, "upper", 0755) < 0 ||
        mkdirat(d, "work", 0755) < 0 || mkdirat(d, "mnt", 0755) < 0 || mkdirat(d, "l1/opq", 0755) < 0 ||
        mkdirat(d, "l2/opq", 0755) < 0)
        return moat_err_sys(err, "probe layout");
    int f = openat(d, "l1/gone", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    int g = openat(d, "l1/opq/hidden", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    int h = openat(d, "l1/kept", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (f >= 0)
        close(f);
    if (g >= 0)
        close(g);
    if (h >= 0)
        close(h);
    if (mknodat(d, "l2/gone", S_IFCHR, 0) < 0)
        return moat_err_sys(err, "whiteout (mknod char 0:0)");
    _cleanup_close_ int opq = openat(d, "l2/opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (opq < 0 || fsetxattr(opq, MOAT_OPAQUE_XATTR, "y", 1, 0) < 0)
        return moat_err_sys(err, "user xattrs (" MOAT_OPAQUE_XATTR ")");
    struct moat_snapshot sn = {.id = "probe", .driver = "overlay"};
    char *lower[3] = {xasprintf("%s/l2", a->path), xasprintf("%s/l1", a->path), NULL};
    sn.lower = lower;
    sn.upper = xasprintf("%s/upper", a->path);
    sn.work = xasprintf("%s/work", a->path);
    int m = -1;
    int rc = overlay_mount(&sn, NULL, &m, err);
    free(lower[0]);
    free(lower[1]);
    free(sn.upper);
    free(sn.work);
    if (rc < 0)
        return -1;
    struct stat st;
    bool ok = fstatat(m, "kept", &st, 0) == 0 && fstatat(m, "gone", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
              fstatat(m, "opq/hidden", &st, 0) < 0;
    int w = openat(m, "written", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ok = ok && w >= 0;
    if (w >= 0)
        close(w);
    close(m);
    if (!ok)
        return moat_err(err, EIO, "overlay mounted but whiteouts or opaque directories did not work");
    return 0;
}

static const char *fs_name(long type)
{
    switch (type) {
    case EXT4_SUPER_MAGIC:
        return "extfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case TMPFS_MAGIC:
        return "tmpfs";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    case NFS_SUPER_MAGIC:
        return "nfs";
    default:
        return "unknown";
    }
}

static int probe_driver(struct moat_store *s, char **ret_driver, char **ret_reason, moat_error **err)
{
    struct stage t;
    if (stage_begin(s, &t, err) < 0)
        return -1;
    struct probe_arg a = {.dirfd = t.fd, .path = xasprintf("%s/tmp/%s", s->root, t.name)};
    struct sbx_opts o = {.userns = &s->ns, .write_fd = t.fd, .mount_ns = true};
    moat_error *e = NULL;
    if (sbx_run(&o, probe_job, &a, NULL, &e) == 0) {
        *ret_driver = xstrdup("overlay");
        *ret_reason = NULL;
    } else {
        *ret_driver = xstrdup("copy");
        *ret_reason = xstrdup(e->msg);
        moat_error_free(e);
    }
    free(a.path);
    stage_end(&t);
    return 0;
}

void moat_store_info_clear(struct moat_store_info *r)
{
    free(r->driver);
    free(r->reason);
    free(r->backing_fs);
    free(r->uidmap);
    free(r->gidmap);
    memset(r, 0, sizeof(*r));
}

/* The driver, probed once and recorded in storage.json. */
int moat_store_driver(struct moat_store *s, char **ret_driver, char **ret_reason, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse_file_at(s->rootfd, "storage.json", 1 << 16, "storage.json", &o, err) < 0)
        return -1;
    char *driver = NULL, *reason = NULL;
    if (moat_json_str(o, "", "driver", false, &driver, err) < 0 || moat_json_str(o, "", "reason", false, &reason, err) < 0)
        return -1;
    if (driver) {
        *ret_driver = driver;
        *ret_reason = reason;
        return 0;
    }
    if (probe_driver(s, &driver, &reason, err) < 0)
        return -1;
    json_object_object_add(o, "driver", json_object_new_string(driver));
    if (reason)
        json_object_object_add(o, "reason", json_object_new_string(reason));
    _cleanup_free_ char *text = moat_json_dump(o, true);
    if (store_lock(s, LOCK_EX, err) < 0 ||
        moat_write_file_atomic(s->rootfd, "storage.json", text, strlen(text), 0600, err) < 0) {
        free(driver);
        free(reason);
        if (s->lock_depth)
            store_unlock(s);
        return -1;
    }
    store_unlock(s);
    *ret_driver = driver;
    *ret_reason = reason;
    return 0;
}

int moat_store_info(struct moat_store *s, struct moat_store_info *r, moat_error **err)
{
    memset(r, 0, sizeof(*r));
    if (moat_store_driver(s, &r->driver, &r->reason, err) < 0)
        return -1;
    struct statfs sf;
    r->backing_fs = xstrdup(fstatfs(s->rootfd, &sf) == 0 ? fs_name((long)sf.f_type) : "unknown");
    /* d_type: readdir of the store root must report DT_DIR for blobs/ */
    int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    for (struct dirent *de; d && (de = readdir(d));)
        if (!strcmp(de->d_name, "blobs"))
            r->d_type = de->d_type == DT_DIR;
    if (d)
        closedir(d);
    r->userxattr = true;
    r->rootless = s->ns.enabled;
    if (s->ns.enabled) {
        r->uidmap = image_userns_text(s->ns.uid, s->ns.n_uid);
        r->gidmap = image_userns_text(s->ns.gid, s->ns.n_gid);
    }
    return 0;
}

/* ---- create and remove ------------------------------------------------------------- */

static int write_record(int dfd, const char *id, const struct moat_image *img, const char *driver, const char *owner,
                        moat_error **err)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "image", json_object_new_string(img->id));
    if (owner)
        json_object_object_add(o, "owner", json_object_new_string(owner));
    json_object_object_add(o, "driver", json_object_new_string(driver));
    json_object_object_add(o, "created", json_object_new_string(now));
    struct json_object *l = json_object_new_array();
    for (size_t i = 0; i < img->config->n_diff_ids; i++)
        json_object_array_add(l, json_object_new_string(img->config->diff_ids[i]));
    json_object_object_add(o, "layers", l);
    _cleanup_free_ char *text = moat_json_dump(o, true);
    return moat_write_file_atomic(dfd, SNAP_JSON, text, strlen(text), 0600, err);
}

static int prepare_dirs(struct moat_store *s, int dfd, const char *driver, const struct moat_image *img,
                        const struct moat_snapshot_opts *o, moat_error **err)
{
    if (mkdirat(dfd, "rootfs", 0755) < 0)
        return moat_err_sys(err, "create rootfs");
    if (!strcmp(driver, "copy"))
        return snapshot_copy_layers(s, dfd, img, err);
    if (mkdirat(dfd, "upper", 0755) < 0 || mkdirat(dfd, "work", 0700) < 0)
        return moat_err_sys(err, "create upper/work");
    if (o && o->chown_upper && !s->ns.enabled &&
        (fchownat(dfd, "upper", o->uid, o->gid, 0) < 0 || fchownat(dfd, "work", o->uid, o->gid, 0) < 0))
        return moat_err_sys(err, "chown upper/work to %u:%u", (unsigned)o->uid, (unsigned)o->gid);
    return 0;
}

int moat_snapshot_create(struct moat_store *s, const char *id, const char *image_ref,
                         const struct moat_snapshot_opts *o, struct moat_snapshot **ret, moat_error **err)
{
    if (!valid_id(id))
        return moat_err(err, EINVAL, "invalid snapshot id '%.140s'", id);
    _cleanup_free_ char *driver = NULL, *reason = NULL;
    if (o && o->copy)
        driver = xstrdup("copy");
    else if (moat_store_driver(s, &driver, &reason, err) < 0)
        return -1;
    struct moat_image img;
    if (moat_image_lookup(s, image_ref, MOAT_LOOKUP_BUILTIN, &img, err) < 0)
        return -1;
    /* shared lock: garbage collection (exclusive) can't take the layers away meanwhile */
    int rc = store_lock(s, LOCK_SH, err);
    if (rc < 0) {
        moat_image_clear(&img);
        return -1;
    }
    for (size_t i = 0; i < img.config->n_diff_ids && rc == 0; i++)
        if (!layer_exists(s, img.config->diff_ids[i]))
            rc = moat_err(err, ENOENT, "image %s: layer %s is missing", img.id, img.config->diff_ids[i]);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)moat_now_ns();
    _cleanup_free_ char *tmpname = xasprintf(".new-%s-%08x", id, rnd);
    _cleanup_close_ int dfd = -1;
    if (rc == 0 && faccessat(s->snapfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        rc = moat_err(err, EEXIST, "snapshot %s exists", id);
    if (rc == 0 && (mkdirat(s->snapfd, tmpname, 0700) < 0 ||
                    (dfd = openat(s->snapfd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0))
        rc = moat_err_sys(err, "create snapshot directory");
    if (rc == 0)
        rc = write_record(dfd, id, &img, driver, o ? o->owner : NULL, err);
    if (rc == 0)
        rc = prepare_dirs(s, dfd, driver, &img, o, err);
    if (rc == 0 && renameat2(s->snapfd, tmpname, s->snapfd, id, RENAME_NOREPLACE) < 0)
        rc = errno == EEXIST || errno == ENOTEMPTY ? moat_err(err, EEXIST, "snapshot %s exists", id)
                                                   : moat_err_sys(err, "rename snapshot %s into place", id);
    if (rc < 0 && dfd >= 0) {
        moat_error *e = NULL;
        if (store_rm_tree(s, s->snapfd, tmpname, &e) < 0)
            moat_error_free(e);
    }
    store_unlock(s);
    moat_image_clear(&img);
    if (rc < 0)
        return moat_err_wrap(err, "create snapshot %s", id);
    return ret ? snapshot_read(s, id, ret, err) : 0;
}

int moat_snapshot_remove(struct moat_store *s, const char *id, moat_error **err)
{
    if (!valid_id(id))
        return moat_err(err, EINVAL, "invalid snapshot id '%.140s'", id);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)moat_now_ns();
    _cleanup_free_ char *dead = xasprintf(".dead-%s-%08x", id, rnd);
    if (store_lock(s, LOCK_SH, err) < 0)
        return -1;
    int rc = 0;
    if (renameat(s->snapfd, id, s->snapfd, dead) < 0)
        rc = errno == ENOENT ? moat_err(err, ENOENT, "no such snapshot: %s", id)
                             : moat_err_sys(err, "remove snapshot %s", id);
    if (rc == 0)
        rc = store_rm_tree(s, s->snapfd, dead, err);
    store_unlock(s);
    return rc;
}
