/* Staging: every operation that adds content writes it under tmp/<name>/
 * (flock()ed while in use), then moves it into the store with the exclusive
 * lock held, just before index.json names it.  Blobs are verified while they
 * are written; layers are unpacked by the sandboxed unpacker. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"

#define COPY_BUF (256 * 1024)

int stage_begin(struct moat_store *s, struct stage *t, moat_error **err)
{
    memset(t, 0, sizeof(*t));
    t->s = s;
    t->fd = t->blobsfd = t->layersfd = -1;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)moat_now_ns();
    t->name = xasprintf("%d-%08x", (int)getpid(), rnd);
    if (mkdirat(s->tmpfd, t->name, 0700) < 0)
        return moat_err_sys(err, "create staging directory '%s/tmp/%s'", s->root, t->name);
    t->fd = openat(s->tmpfd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->fd < 0 || flock(t->fd, LOCK_EX) < 0 || mkdirat(t->fd, "blobs", 0700) < 0 ||
        mkdirat(t->fd, "layers", 0700) < 0) {
        moat_err_sys(err, "prepare staging directory '%s/tmp/%s'", s->root, t->name);
        stage_end(t);
        return -1;
    }
    t->blobsfd = openat(t->fd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    t->layersfd = openat(t->fd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->blobsfd < 0 || t->layersfd < 0) {
        moat_err_sys(err, "open staging directory '%s/tmp/%s'", s->root, t->name);
        stage_end(t);
        return -1;
    }
    return 0;
}

void stage_end(struct stage *t)
{
    if (!t->s)
        return;
    if (t->blobsfd >= 0)
        close(t->blobsfd);
    if (t->layersfd >= 0)
        close(t->layersfd);
    if (t->name) {
        moat_error *e = NULL;
        if (store_rm_tree(t->s, t->s->tmpfd, t->name, &e) < 0) {
            moat_log(MOAT_LOG_DEBUG, "remove staging directory %s: %s", t->name, e->msg);
            moat_error_free(e);
        }
    }
    if (t->fd >= 0)
        close(t->fd); /* releases its flock last */
    free(t->name);
    moat_strv_free(t->blobs);
    moat_strv_free(t->layers);
    memset(t, 0, sizeof(*t));
}

static void remember(char ***v, const char *digest)
{
    if (!moat_strv_contains(*v, digest))
        moat_strv_push(v, digest);
}

/* Finish a staged blob written to `incoming`: check, fsync, name it by digest. */
static int blob_finish(struct stage *t, int fd, const char *incoming, const char *digest, uint64_t size,
                       const char *expect_digest, int64_t expect_size, moat_error **err)
{
    if (expect_size >= 0 && size != (uint64_t)expect_size)
        return moat_err(err, EILSEQ, "blob %s: size mismatch: expected %" PRId64 " bytes, got %" PRIu64,
                        expect_digest ? expect_digest : digest, expect_size, size);
    if (expect_digest && strcmp(expect_digest, digest) != 0)
        return moat_err(err, EILSEQ, "blob %s: digest mismatch: the content hashes to %s", expect_digest, digest);
    if (fsync(fd) < 0)
        return moat_err_sys(err, "fsync blob %s", digest);
    if (renameat(t->blobsfd, incoming, t->blobsfd, moat_digest_hex(digest)) < 0)
        return moat_err_sys(err, "rename staged blob %s", digest);
    remember(&t->blobs, digest);
    return 0;
}

int stage_blob_fd(struct stage *t, int in_fd, const char *expect_digest, int64_t expect_size, uint64_t max,
                  char ret_digest[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err)
{
    char incoming[32];
    snprintf(incoming, sizeof incoming, "incoming-%u", t->counter++);
    _cleanup_close_ int fd = openat(t->blobsfd, incoming, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return moat_err_sys(err, "create staged blob");
    _cleanup_free_ char *buf = xmalloc(COPY_BUF);
    struct moat_sha256 h;
    moat_sha256_init(&h);
    int rc = 0;
    for (;;) {
        ssize_t n = read(in_fd, buf, COPY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = moat_err_sys(err, "read");
            break;
        }
        if (n == 0)
            break;
        if (h.size + (uint64_t)n > max) {
            rc = moat_err(err, EFBIG, "more than %" PRIu64 " bytes (limit layerBytes)", max);
            break;
        }
        if (expect_size >= 0 && h.size + (uint64_t)n > (uint64_t)expect_size) {
            rc = moat_err(err, EILSEQ, "blob %s: size mismatch: more than the expected %" PRId64 " bytes",
                          expect_digest ? expect_digest : "", expect_size);
            break;
        }
        moat_sha256_update(&h, buf, (size_t)n);
        if (moat_write_all(fd, buf, (size_t)n) < 0) {
            rc = moat_err_sys(err, "write staged blob");
            break;
        }
    }
    if (rc < 0) {
        moat_sha256_discard(&h);
        unlinkat(t->blobsfd, incoming, 0);
        return -1;
    }
    uint64_t size = h.size;
    char digest[MOAT_DIGEST_SIZE];
    moat_sha256_final(&h, digest);
    if (blob_finish(t, fd, incoming, digest, size, expect_digest, expect_size, err) < 0) {
        unlinkat(t->blobsfd, incoming, 0);
        return -1;
    }
    if (ret_digest)
        memcpy(ret_digest, digest, MOAT_DIGEST_SIZE);
    if (ret_size)
        *ret_size = size;
    return 0;
}

int stage_blob_buf(struct stage *t, const void *buf, size_t len, char ret_digest[MOAT_DIGEST_SIZE],
                   moat_error **err)
{
    char incoming[32];
    snprintf(incoming, sizeof incoming, "incoming-%u", t->counter++);
    _cleanup_close_ int fd = openat(t->blobsfd, incoming, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return moat_err_sys(err, "create staged blob");
    char digest[MOAT_DIGEST_SIZE];
    moat_sha256_buf(buf, len, digest);
    if (moat_write_all(fd, buf, len) < 0 || blob_finish(t, fd, incoming, digest, len, NULL, -1, err) < 0) {
        if (err && !*err)
            moat_err_sys(err, "write staged blob");
        unlinkat(t->blobsfd, incoming, 0);
        return -1;
    }
    if (ret_digest)
        memcpy(ret_digest, digest, MOAT_DIGEST_SIZE);
    return 0;
}

int stage_open_blob(struct stage *t, const char *digest, moat_error **err)
{
    if (!moat_digest_valid(digest))
        return moat_err(err, EINVAL, "invalid digest '%.80s'", digest);
    int fd = openat(t->blobsfd, moat_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    return blob_open(t->s, digest, NULL, err);
}

/* ---- layers ------------------------------------------------------------------ */

struct unpack_job {
    int in_fd, dir_fd;
    struct moat_unpack_opts o;
};

static int unpack_job_run(void *arg, struct json_object **ret, moat_error **err)
{
    struct unpack_job *j = arg;
    struct moat_unpack_result r;
    if (moat_layer_unpack(j->in_fd, j->dir_fd, &j->o, &r, err) < 0)
        return -1;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "diffID", json_object_new_string(r.diff_id));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)r.size));
    json_object_object_add(o, "tarBytes", json_object_new_int64((int64_t)r.tar_bytes));
    json_object_object_add(o, "compressedBytes", json_object_new_int64((int64_t)r.compressed_bytes));
    json_object_object_add(o, "entries", json_object_new_int64((int64_t)r.entries));
    json_object_object_add(o, "compression", json_object_new_string(moat_compression_name(r.compression)));
    *ret = o;
    return 0;
}

static enum moat_compression comp_from_name(const char *n)
{
    return !strcmp(n, "gzip") ? MOAT_COMP_GZIP : !strcmp(n, "zstd") ? MOAT_COMP_ZSTD : MOAT_COMP_NONE;
}

/* Run the unpacker (dir_fd < 0: verify only) in the sandbox. */
static int run_unpacker(struct stage *t, int in_fd, int dir_fd, const char *blob, const char *expect,
                        uint64_t image_before, struct layer_info *ret, struct json_object **ret_json, moat_error **err)
{
    struct moat_store *s = t->s;
    struct unpack_job job = {.in_fd = in_fd, .dir_fd = dir_fd};
    /* A blob this operation staged was hashed as it was written (stage_blob_fd,
     * verified against what was expected, fsync'ed, in our private staging
     * directory): a plain tar needn't be hashed again for its diff ID.  A blob
     * already in the store (written by an earlier operation) is hashed anew. */
    job.o.input_digest = blob && moat_strv_contains(t->blobs, blob) ? blob : NULL;
    job.o.limits = &s->limits;
    job.o.image_bytes_before = image_before;
    job.o.allow_devices = s->limits.allow_devices && !s->ns.enabled;
    job.o.expect_diff_id = expect;
    struct sbx_opts so = {.userns = &s->ns, .write_fd = dir_fd, .keep_fds = {in_fd}, .n_keep = 1,
                          .devices = job.o.allow_devices};
    struct json_object *res = NULL;
    if (sbx_run(&so, unpack_job_run, &job, &res, err) < 0)
        return -1;
    _cleanup_free_ char *diff = NULL, *comp = NULL;
    uint64_t size = 0, tar = 0;
    if (moat_json_str(res, "", "diffID", true, &diff, err) < 0 || moat_json_u64(res, "", "size", true, &size, err) < 0 ||
        moat_json_u64(res, "", "tarBytes", true, &tar, err) < 0 ||
        moat_json_str(res, "", "compression", true, &comp, err) < 0 || !moat_digest_valid(diff)) {
        json_object_put(res);
        if (err && !*err)
            moat_err(err, EIO, "unpacker result: invalid diff ID");
        return -1;
    }
    memcpy(ret->diff_id, diff, MOAT_DIGEST_SIZE);
    ret->size = size;
    ret->tar_bytes = tar;
    ret->compression = comp_from_name(comp);
    if (ret_json)
        *ret_json = res;
    else
        json_object_put(res);
    return 0;
}

static bool layer_staged(struct stage *t, const char *diff_id)
{
    if (!moat_strv_contains(t->layers, diff_id))
        return false;
    return true;
}

/* The layer exists: make sure this blob really is that layer. */
static int verify_existing(struct stage *t, int in_fd, const char *blob, const char *expect, uint64_t image_before,
                           struct layer_info *ret, moat_error **err)
{
    char head[8] = {0};
    ssize_t n = pread(in_fd, head, sizeof head, 0);
    enum moat_compression c = moat_compression_detect(head, n > 0 ? (size_t)n : 0);
    if (c == MOAT_COMP_NONE && !strcmp(blob, expect)) {
        memcpy(ret->diff_id, expect, MOAT_DIGEST_SIZE);
        ret->compression = c;
        struct stat st;
        ret->tar_bytes = fstat(in_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else if (run_unpacker(t, in_fd, -1, NULL, expect, image_before, ret, NULL, err) < 0) {
        return -1;
    }
    if (layer_size(t->s, expect, &ret->size, err) < 0) {
        _cleanup_free_ char *p = xasprintf("%s/layer.json", moat_digest_hex(expect));
        _cleanup_json_ struct json_object *o = NULL;
        moat_error_free(*err);
        *err = NULL;
        if (moat_json_parse_file_at(t->layersfd, p, 1 << 16, "layer.json", &o, err) < 0 ||
            moat_json_u64(o, "", "size", true, &ret->size, err) < 0)
            return -1;
    }
    return 0;
}

int stage_layer(struct stage *t, const char *blob, const char *expect, uint64_t image_before, struct layer_info *ret,
                moat_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_close_ int in_fd = stage_open_blob(t, blob, err);
    if (in_fd < 0)
        return -1;
    if (expect && (layer_exists(t->s, expect) || layer_staged(t, expect))) {
        if (verify_existing(t, in_fd, blob, expect, image_before, ret, err) < 0)
            return moat_err_wrap(err, "layer %s", blob);
        return 0;
    }
    char name[32];
    snprintf(name, sizeof name, "new-%u", t->counter++);
    if (mkdirat(t->layersfd, name, 0700) < 0)
        return moat_err_sys(err, "create staged layer");
    _cleanup_close_ int ldir = openat(t->layersfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int diff = -1;
    if (ldir < 0 || mkdirat(ldir, "diff", 0755) < 0 ||
        (diff = openat(ldir, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return moat_err_sys(err, "create staged layer");
    struct json_object *info = NULL;
    if (run_unpacker(t, in_fd, diff, blob, expect, image_before, ret, &info, err) < 0) {
        moat_error *e = NULL;
        /* the partial layer goes now, not at the end of the operation */
        if (store_rm_tree(t->s, t->layersfd, name, &e) < 0)
            moat_error_free(e);
        return moat_err_wrap(err, "layer %s", blob);
    }
    _cleanup_free_ char *text = moat_json_dump(info, true);
    json_object_put(info);
    const char *hex = moat_digest_hex(ret->diff_id);
    if (moat_write_file_atomic(ldir, "layer.json", text, strlen(text), 0600, err) < 0)
        return moat_err_wrap(err, "layer %s", blob);
    if (layer_staged(t, ret->diff_id) || renameat(t->layersfd, name, t->layersfd, hex) < 0) {
        /* the same layer twice in one operation: keep the first */
        moat_error *e = NULL;
        if (store_rm_tree(t->s, t->layersfd, name, &e) < 0)
            moat_error_free(e);
    }
    remember(&t->layers, ret->diff_id);
    return 0;
}

int stage_commit(struct stage *t, moat_error **err)
{
    struct moat_store *s = t->s;
    /* unpacked trees are many small files: one syncfs() makes them durable before they are named */
    if (t->layers && syncfs(t->fd) < 0)
        return moat_err_sys(err, "syncfs '%s'", s->root);
    for (size_t i = 0; t->blobs && t->blobs[i]; i++) {
        const char *hex = moat_digest_hex(t->blobs[i]);
        if (renameat2(t->blobsfd, hex, s->blobsfd, hex, RENAME_NOREPLACE) < 0 && errno != EEXIST)
            return moat_err_sys(err, "move blob %s into the store", t->blobs[i]);
    }
    if (fsync(s->blobsfd) < 0)
        return moat_err_sys(err, "fsync '%s/blobs/sha256'", s->root);
    for (size_t i = 0; t->layers && t->layers[i]; i++) {
        const char *hex = moat_digest_hex(t->layers[i]);
        if (renameat2(t->layersfd, hex, s->layersfd, hex, RENAME_NOREPLACE) < 0 && errno != EEXIST &&
            errno != ENOENT && errno != ENOTEMPTY)
            return moat_err_sys(err, "move layer %s into the store", t->layers[i]);
    }
    if (fsync(s->layersfd) < 0)
        return moat_err_sys(err, "fsync '%s/layers'", s->root);
    /* a later image of the same operation starts afresh (what moved is in the store now) */
    moat_strv_free(t->blobs);
    moat_strv_free(t->layers);
    t->blobs = t->layers = NULL;
    return 0;
}

int stage_check_image(struct moat_store *s, const char *manifest, moat_error **err)
{
    struct moat_image img;
    if (image_load(s, manifest, 0, &img, err) < 0)
        return moat_err_wrap(err, "content removed concurrently? try again");
    int rc = 0;
    for (size_t i = 0; i < img.mf->n_layers && rc == 0; i++)
        if (!blob_exists(s, img.mf->layers[i].digest))
            rc = moat_err(err, ENOENT, "image %s: blob %s is missing (removed concurrently? try again)", img.id,
                          img.mf->layers[i].digest);
    for (size_t i = 0; i < img.config->n_diff_ids && rc == 0; i++)
        if (!layer_exists(s, img.config->diff_ids[i]))
            rc = moat_err(err, ENOENT, "image %s: layer %s is missing (removed concurrently? try again)", img.id,
                          img.config->diff_ids[i]);
    if (rc == 0 && img.mf->n_layers != img.config->n_diff_ids)
        rc = moat_err(err, EINVAL, "image %s: %zu layers in the manifest, %zu in the config", img.id,
                      img.mf->n_layers, img.config->n_diff_ids);
    moat_image_clear(&img);
    return rc;
}
