/* Removing things: rmi, prune, garbage collection; and checking the store
 * (system check) and measuring it (system df). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

/* ---- removing trees ------------------------------------------------------------- */

struct rm_job {
    int dirfd;
    char **names;
};

static int rm_job_run(void *arg, struct json_object **ret, moat_error **err)
{
    (void)ret;
    struct rm_job *j = arg;
    for (size_t i = 0; j->names[i]; i++)
        if (moat_rm_rf_at(j->dirfd, j->names[i], err) < 0)
            return moat_err_wrap(err, "remove '%s'", j->names[i]);
    return 0;
}

/* Rootless, layer trees hold files of the user's subordinate ids: only root
 * of the store's user namespace may remove them. */
static int rm_trees(struct moat_store *s, int dirfd, char **names, moat_error **err)
{
    if (!names || !names[0])
        return 0;
    struct rm_job j = {dirfd, names};
    if (!s->ns.enabled)
        return rm_job_run(&j, NULL, err);
    struct sbx_opts o = {.userns = &s->ns, .write_fd = dirfd};
    return sbx_run(&o, rm_job_run, &j, NULL, err);
}

int store_rm_tree(struct moat_store *s, int dirfd, const char *name, moat_error **err)
{
    char *names[] = {(char *)name, NULL};
    return rm_trees(s, dirfd, names, err);
}

/* ---- what is referenced ---------------------------------------------------------- */

struct refs {
    struct strset blobs, layers;
    bool incomplete; /* an image could not be read: what it needs is unknown */
};

static void refs_free(struct refs *r)
{
    strset_free(&r->blobs);
    strset_free(&r->layers);
}

static int collect_refs(struct moat_store *s, const struct store_index *x, struct refs *r, moat_error **err)
{
    for (size_t i = 0; i < x->n; i++) {
        if (strset_get(&r->blobs, x->v[i].digest, NULL))
            continue;
        strset_add(&r->blobs, x->v[i].digest, 1, NULL);
        struct moat_image img;
        moat_error *e = NULL;
        if (image_load(s, x->v[i].digest, x->v[i].size, &img, &e) < 0) {
            moat_error_free(e); /* unreadable: `system check` reports it, --repair drops it */
            r->incomplete = true;
            continue;
        }
        strset_add(&r->blobs, img.mf->config.digest, 1, NULL);
        for (size_t k = 0; k < img.mf->n_layers; k++)
            strset_add(&r->blobs, img.mf->layers[k].digest, 1, NULL);
        for (size_t k = 0; k < img.config->n_diff_ids; k++)
            strset_add(&r->layers, img.config->diff_ids[k], 1, NULL);
        moat_image_clear(&img);
    }
    return store_snapshot_layers(s, &r->layers, err);
}

static DIR *open_dir(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        close(fd);
    return d;
}

/* Staging directories whose owner is gone (their flock is free), and
 * temporary files of interrupted atomic writes. */
static int remove_stale_temp(struct moat_store *s, size_t *ret_n, moat_error **err)
{
    char **stale = NULL;
    DIR *d = open_dir(s->tmpfd);
    if (!d)
        return moat_err_sys(err, "open '%s/tmp'", s->root);
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        /* "<pid>-<random>": a live creator may not have taken its flock yet */
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (end && *end == '-' && pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM) && pid != getpid())
            continue;
        _cleanup_close_ int fd = openat(s->tmpfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            moat_strv_push(&stale, de->d_name);
    }
    closedir(d);
    size_t n = moat_strv_len(stale);
    int rc = rm_trees(s, s->tmpfd, stale, err);
    moat_strv_free(stale);
    if (rc < 0)
        return -1;
    /* snapshots half made or half removed by a process that died (creators
     * hold the shared lock, so with the exclusive one none is in progress) */
    stale = NULL;
    d = open_dir(s->snapfd);
    for (struct dirent *de; d && (de = readdir(d));)
        if (moat_str_has_prefix(de->d_name, ".new-") || moat_str_has_prefix(de->d_name, ".dead-"))
            moat_strv_push(&stale, de->d_name);
    if (d)
        closedir(d);
    n += moat_strv_len(stale);
    rc = rm_trees(s, s->snapfd, stale, err);
    moat_strv_free(stale);
    if (rc < 0)
        return -1;
    d = open_dir(s->rootfd);
    for (struct dirent *de; d && (de = readdir(d));) {
        /* ".index.json.tmp.<pid>": moat_write_file_atomic's temporary; writers hold the exclusive lock */
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp.") && unlinkat(s->rootfd, de->d_name, 0) == 0)
            n++;
    }
    if (d)
        closedir(d);
    if (ret_n)
        *ret_n = n;
    return 0;
}

int store_gc_locked(struct moat_store *s, struct moat_removal *r, moat_error **err)
{
    struct store_index x;
    if (index_load(s, &x, err) < 0)
        return -1;
    struct refs refs = {0};
    int rc = collect_refs(s, &x, &refs, err);
    index_free(&x);
    if (rc < 0) {
        refs_free(&refs);
        return -1;
    }
    if (refs.incomplete) {
        /* never delete content an unreadable image might need */
        refs_free(&refs);
        return remove_stale_temp(s, NULL, err);
    }
    char **dead = NULL;
    DIR *d = open_dir(s->layersfd);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
        if (strset_get(&refs.layers, digest, NULL))
            continue;
        uint64_t sz = 0;
        moat_error *e = NULL;
        if (layer_size(s, digest, &sz, &e) < 0)
            moat_error_free(e);
        r->reclaimed += sz;
        moat_strv_push(&dead, de->d_name);
        if (moat_digest_valid(digest))
            removal_add(r, "Deleted: %s", digest);
    }
    if (d)
        closedir(d);
    rc = rm_trees(s, s->layersfd, dead, err);
    moat_strv_free(dead);
    d = open_dir(s->blobsfd);
    for (struct dirent *de; rc == 0 && d && (de = readdir(d));) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
        if (strset_get(&refs.blobs, digest, NULL))
            continue;
        struct stat st;
        if (fstatat(s->blobsfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            r->reclaimed += (uint64_t)st.st_size;
        if (unlinkat(s->blobsfd, de->d_name, 0) < 0 && errno != ENOENT)
            rc = moat_err_sys(err, "remove blob %s", digest);
    }
    if (d)
        closedir(d);
    refs_free(&refs);
    if (rc == 0)
        rc = remove_stale_temp(s, NULL, err);
    return rc;
}

int moat_store_gc(struct moat_store *s, struct moat_removal *r, moat_error **err)
{
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    int rc = store_gc_locked(s, r, err);
    store_unlock(s);
    return rc;
}

/* ---- rmi and prune ------------------------------------------------------------- */

static char *short_id(const char *id) { return xstrndup(id + 7, 12); }

/* Remove every index entry of the image and say so. */
static void delete_image(struct store_index *x, const struct moat_image *img, struct moat_removal *r)
{
    for (size_t i = 0; img->names[i]; i++) {
        _cleanup_free_ char *fam = moat_ref_familiarize(img->names[i]);
        removal_add(r, "Untagged: %s", fam);
    }
    index_remove_manifest(x, img->manifest);
    removal_add(r, "Deleted: %s", img->id);
}

static int remove_locked(struct moat_store *s, const char *ref, bool force, struct moat_image *img,
                         struct moat_removal *r, moat_error **err)
{
    /* by name (one of its tags) or by ID? */
    _cleanup_free_ char *by_name = NULL;
    struct moat_ref pr;
    moat_error *pe = NULL;
    if (!moat_ref_is_full_id(ref) && moat_ref_parse(ref, &pr, &pe) == 0) {
        if (!pr.digest) {
            moat_ref_default_tag(&pr);
            _cleanup_free_ char *full = moat_ref_string(&pr);
            if (moat_strv_contains(img->names, full))
                by_name = TAKE_PTR(full);
        }
        moat_ref_clear(&pr);
    }
    moat_error_free(pe);
    _cleanup_free_ char *who = NULL;
    bool running = false;
    int used = store_image_in_use(s, img->id, &who, &running, err);
    if (used < 0)
        return -1;
    _cleanup_free_ char *sid = short_id(img->id);
    _cleanup_free_ char *swho = used ? xstrndup(who, 12) : NULL;
    struct store_index x;
    if (index_load(s, &x, err) < 0)
        return -1;
    /* Docker's rules (moby daemon/images/image_delete.go): a running container
     * is a hard conflict, a stopped one or other names a soft one (-f passes).
     * By name: the name alone goes when the image has others; else, unless
     * forced, a container using the image refuses it; forced, the name goes
     * and the image too, unless a running container uses it (then it stays,
     * dangling).  A stopped container keeps what it needs either way: its
     * snapshot holds the image's layers (garbage collection keeps them). */
    int rc = 0;
    bool several = moat_strv_len(img->names) > 1;
    if (by_name && (several || (used && force && running))) {
        index_remove_name(&x, by_name);
        _cleanup_free_ char *fam = moat_ref_familiarize(by_name);
        removal_add(r, "Untagged: %s", fam);
    } else if (by_name && used && !force) {
        rc = moat_err(err, EBUSY,
                      "conflict: unable to remove repository reference \"%s\" (must force) - container %s is using "
                      "its referenced image %s",
                      ref, swho, sid);
    } else if (!by_name && used && running) {
        rc = moat_err(err, EBUSY, "conflict: unable to delete %s (cannot be forced) - image is being used by running "
                      "container %s", sid, swho);
    } else if (!by_name && several && !force) {
        rc = moat_err(err, EBUSY, "conflict: unable to delete %s (must be forced) - image is referenced in multiple "
                      "repositories", sid);
    } else if (!by_name && used && !force) {
        rc = moat_err(err, EBUSY, "conflict: unable to delete %s (must be forced) - image is being used by stopped "
                      "container %s", sid, swho);
    } else {
        delete_image(&x, img, r);
    }
    if (rc == 0)
        rc = index_save(s, &x, err);
    index_free(&x);
    if (rc == 0)
        rc = store_gc_locked(s, r, err);
    return rc;
}

int moat_image_remove(struct moat_store *s, const char *ref, bool force, struct moat_removal *r, moat_error **err)
{
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    struct moat_image img;
    int rc = moat_image_lookup(s, ref, 0, &img, err);
    if (rc == 0) {
        rc = remove_locked(s, ref, force, &img, r, err);
        moat_image_clear(&img);
    }
    store_unlock(s);
    return rc;
}

int moat_images_prune(struct moat_store *s, bool all, struct moat_removal *r, moat_error **err)
{
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    struct moat_image *v = NULL;
    size_t n = 0;
    struct store_index x = {0};
    int rc = moat_images_list(s, &v, &n, err);
    if (rc == 0)
        rc = index_load(s, &x, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i].names[0] && !all)
            continue;
        _cleanup_free_ char *who = NULL;
        bool running;
        int used = store_image_in_use(s, v[i].id, &who, &running, err);
        if (used < 0)
            rc = -1;
        else if (!used)
            delete_image(&x, &v[i], r);
    }
    if (rc == 0)
        rc = index_save(s, &x, err);
    if (rc == 0)
        rc = store_gc_locked(s, r, err);
    index_free(&x);
    moat_images_free(v, n);
    store_unlock(s);
    return rc;
}

/* ---- system check ---------------------------------------------------------------- */

void moat_check_clear(struct moat_check *r)
{
    moat_strv_free(r->problems);
    memset(r, 0, sizeof(*r));
}

static void problem(struct moat_check *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct moat_check *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    moat_strv_push(&r->problems, s);
    free(s);
}

static void check_blobs(struct moat_store *s, bool repair, struct moat_check *r)
{
    DIR *d = open_dir(s->blobsfd);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
        _cleanup_close_ int fd = openat(s->blobsfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (!moat_digest_valid(digest) || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            problem(r, "blobs/sha256/%s: not a blob", de->d_name);
            continue;
        }
        char got[MOAT_DIGEST_SIZE];
        uint64_t size = 0;
        moat_error *e = NULL;
        if (moat_sha256_fd(fd, got, &size, &e) < 0) {
            problem(r, "blob %s: %s", digest, e->msg);
            moat_error_free(e);
            continue;
        }
        r->blobs++;
        r->bytes += size;
        if (strcmp(got, digest) != 0) {
            problem(r, "blob %s is corrupt: its content hashes to %s%s", digest, got, repair ? " (removed)" : "");
            if (repair)
                unlinkat(s->blobsfd, de->d_name, 0);
        }
    }
    if (d)
        closedir(d);
}

static void check_images(struct moat_store *s, struct store_index *x, bool repair, struct moat_check *r)
{
    char **done = NULL;
    for (size_t i = 0; i < x->n; i++) {
        if (moat_strv_contains(done, x->v[i].digest))
            continue;
        _cleanup_free_ char *digest = xstrdup(x->v[i].digest);
        const char *what = x->v[i].name ? x->v[i].name : x->v[i].digest;
        moat_strv_push(&done, digest);
        r->images++;
        struct moat_image img;
        moat_error *e = NULL;
        bool bad = false;
        if (image_load(s, digest, x->v[i].size, &img, &e) < 0) {
            problem(r, "image %s: %s", what, e->msg);
            moat_error_free(e);
            bad = true;
        } else {
            for (size_t k = 0; k < img.mf->n_layers; k++)
                if (!blob_exists(s, img.mf->layers[k].digest)) {
                    problem(r, "image %s: layer blob %s is missing", what, img.mf->layers[k].digest);
                    bad = true;
                }
            for (size_t k = 0; k < img.config->n_diff_ids; k++)
                if (!layer_exists(s, img.config->diff_ids[k])) {
                    problem(r, "image %s: unpacked layer %s is missing", what, img.config->diff_ids[k]);
                    bad = true;
                }
            if (img.mf->n_layers != img.config->n_diff_ids) {
                problem(r, "image %s: %zu layers in the manifest but %zu in the config", what, img.mf->n_layers,
                        img.config->n_diff_ids);
                bad = true;
            }
            moat_image_clear(&img);
        }
        if (bad && repair) {
            index_remove_manifest(x, digest);
            i = (size_t)-1; /* the index changed: start over (done[] skips what was seen) */
        }
    }
    moat_strv_free(done);
}

static void check_layers(struct moat_store *s, bool repair, struct moat_check *r)
{
    char **bad = NULL;
    DIR *d = open_dir(s->layersfd);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
        _cleanup_free_ char *diff = xasprintf("%s/diff", de->d_name);
        struct stat st;
        r->layers++;
        if (!moat_digest_valid(digest) || !layer_exists(s, digest) ||
            fstatat(s->layersfd, diff, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
            problem(r, "layers/%s: incomplete layer%s", de->d_name, repair ? " (removed)" : "");
            moat_strv_push(&bad, de->d_name);
        }
    }
    if (d)
        closedir(d);
    moat_error *e = NULL;
    if (repair && rm_trees(s, s->layersfd, bad, &e) < 0) {
        problem(r, "%s", e->msg);
        moat_error_free(e);
    }
    moat_strv_free(bad);
}

int moat_store_check(struct moat_store *s, bool repair, struct moat_check *r, moat_error **err)
{
    memset(r, 0, sizeof(*r));
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    int rc = remove_stale_temp(s, &r->removed_temp, err);
    struct store_index x = {0};
    if (rc == 0) {
        check_blobs(s, repair, r);
        rc = index_load(s, &x, err);
    }
    if (rc == 0) {
        check_images(s, &x, repair, r);
        check_layers(s, repair, r);
        struct strset snaps = {0};
        moat_error *e = NULL;
        if (store_snapshot_layers(s, &snaps, &e) < 0) {
            problem(r, "snapshots: %s", e->msg);
            moat_error_free(e);
        }
        for (size_t i = 0; i < snaps.cap; i++)
            if (snaps.keys[i] && !layer_exists(s, snaps.keys[i]))
                problem(r, "a snapshot needs layer %s, which is missing", snaps.keys[i]);
        r->snapshots = snapshot_count(s);
        strset_free(&snaps);
    }
    if (rc == 0 && repair) {
        struct moat_removal rem = {0};
        rc = index_save(s, &x, err);
        if (rc == 0)
            rc = store_gc_locked(s, &rem, err);
        moat_removal_clear(&rem);
    }
    index_free(&x);
    store_unlock(s);
    return rc;
}

/* ---- system df ------------------------------------------------------------------- */

int moat_store_df(struct moat_store *s, struct moat_df *r, moat_error **err)
{
    memset(r, 0, sizeof(*r));
    if (store_lock(s, LOCK_SH, err) < 0)
        return -1;
    struct moat_image *v = NULL;
    size_t n = 0;
    int rc = moat_images_list(s, &v, &n, err);
    struct strset all = {0}, active = {0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_free_ char *who = NULL;
        bool running;
        int used = store_image_in_use(s, v[i].id, &who, &running, err);
        if (used < 0) {
            rc = -1;
            break;
        }
        r->images++;
        r->images_active += used > 0;
        for (size_t k = 0; k < v[i].config->n_diff_ids; k++) {
            const char *id = v[i].config->diff_ids[k];
            uint64_t sz = 0;
            moat_error *e = NULL;
            if (strset_add(&all, id, 1, NULL) == 1) {
                if (layer_size(s, id, &sz, &e) < 0)
                    moat_error_free(e);
                r->images_size += sz;
            }
            if (used)
                strset_add(&active, id, 1, NULL);
        }
    }
    uint64_t active_size = 0;
    for (size_t i = 0; rc == 0 && i < active.cap; i++) {
        uint64_t sz = 0;
        moat_error *e = NULL;
        if (active.keys[i] && layer_size(s, active.keys[i], &sz, &e) < 0)
            moat_error_free(e);
        active_size += sz;
    }
    r->images_reclaimable = r->images_size - active_size;
    if (rc == 0)
        rc = snapshot_usage(s, &r->snapshots, &r->snapshots_size, err);
    strset_free(&all);
    strset_free(&active);
    moat_images_free(v, n);
    store_unlock(s);
    return rc;
}

static char **entries(int dfd)
{
    char **v = xcalloc(1, sizeof(char *));
    DIR *d = open_dir(dfd);
    for (struct dirent *de; d && (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            moat_strv_push(&v, de->d_name);
    if (d)
        closedir(d);
    return v;
}

int moat_store_reset(struct moat_store *s, moat_error **err)
{
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    struct store_index empty = {0};
    /* names first: whatever happens next, no image half exists */
    int rc = index_save(s, &empty, err);
    int dirs[] = {s->snapfd, s->layersfd, s->tmpfd, s->blobsfd};
    for (size_t i = 0; i < ARRAY_SIZE(dirs) && rc == 0; i++) {
        char **v = entries(dirs[i]);
        rc = rm_trees(s, dirs[i], v, err);
        moat_strv_free(v);
    }
    store_unlock(s);
    return rc;
}
