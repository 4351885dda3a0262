/* The image store: opening, locking, index.json, blobs, image records and
 * lookups (see include/moat/store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

#define INDEX_MAX (64u << 20)
#define ANN_TAG_TIME "run.moat.tag.time"

char *moat_store_default_root(void)
{
    if (geteuid() == 0)
        return xstrdup("/var/lib/moat");
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg == '/')
        return xasprintf("%s/moat", xdg);
    const char *home = getenv("HOME");
    return xasprintf("%s/.local/share/moat", home && *home ? home : "/");
}

const char *moat_store_root(const struct moat_store *s) { return s->root; }
bool moat_store_rootless(const struct moat_store *s) { return s->ns.enabled; }
const struct moat_limits *moat_store_limits(const struct moat_store *s) { return &s->limits; }

void moat_store_set_in_use_hook(struct moat_store *s, moat_image_in_use_fn fn, void *ctx)
{
    s->in_use = fn;
    s->in_use_ctx = ctx;
}

/* mkdir -p of the root; the last component 0700 (setuid files of images live below). */
static int make_root(const char *root, moat_error **err)
{
    _cleanup_free_ char *p = xstrdup(root);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return moat_err_sys(err, "create '%s'", p);
        *c = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return moat_err_sys(err, "create store root '%s'", p);
    return 0;
}

static int subdir(int dfd, const char *name, moat_error **err)
{
    if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
        return moat_err_sys(err, "create '%s'", name);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", name);
    return fd;
}

/* storage.json: how files were written.  A store made with another id
 * mapping would show wrong owners: refuse rather than mix. */
static int storage_meta(struct moat_store *s, moat_error **err)
{
    _cleanup_free_ char *um = image_userns_text(s->ns.uid, s->ns.n_uid);
    _cleanup_free_ char *gm = image_userns_text(s->ns.gid, s->ns.n_gid);
    _cleanup_json_ struct json_object *o = NULL;
    moat_error *e = NULL;
    if (moat_json_parse_file_at(s->rootfd, "storage.json", 1 << 16, "storage.json", &o, &e) == 0) {
        _cleanup_free_ char *ou = NULL, *og = NULL;
        bool rootless = false;
        if (moat_json_bool(o, "", "rootless", true, &rootless, err) < 0 ||
            moat_json_str(o, "", "uidmap", false, &ou, err) < 0 || moat_json_str(o, "", "gidmap", false, &og, err) < 0)
            return moat_err_wrap(err, "%s/storage.json", s->root);
        if (rootless != s->ns.enabled)
            return moat_err(err, EPERM, "store '%s' was made %s; use it %s (or another --data-root)", s->root,
                            rootless ? "by a normal user" : "as root", rootless ? "as that user" : "as root");
        if (rootless && ((ou && strcmp(ou, um)) || (og && strcmp(og, gm))))
            return moat_err(err, EPERM,
                            "store '%s' was made with uid map %s / gid map %s, but this user now maps %s / %s "
                            "(/etc/subuid or /etc/subgid changed): its files would show wrong owners",
                            s->root, ou ? ou : "-", og ? og : "-", um, gm);
        return 0;
    }
    if (e->errnum != ENOENT) {
        *err = e;
        return -1;
    }
    moat_error_free(e);
    _cleanup_json_ struct json_object *n = json_object_new_object();
    json_object_object_add(n, "version", json_object_new_int(1));
    json_object_object_add(n, "rootless", json_object_new_boolean(s->ns.enabled));
    if (s->ns.enabled) {
        json_object_object_add(n, "uidmap", json_object_new_string(um));
        json_object_object_add(n, "gidmap", json_object_new_string(gm));
    }
    _cleanup_free_ char *text = moat_json_dump(n, true);
    return moat_write_file_atomic(s->rootfd, "storage.json", text, strlen(text), 0600, err);
}

static int init_layout(struct moat_store *s, moat_error **err)
{
    if (faccessat(s->rootfd, "oci-layout", F_OK, 0) < 0) {
        const char *lay = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (moat_write_file_atomic(s->rootfd, "oci-layout", lay, strlen(lay), 0600, err) < 0)
            return -1;
    }
    if (faccessat(s->rootfd, "index.json", F_OK, 0) < 0) {
        struct store_index x = {0};
        if (index_save(s, &x, err) < 0)
            return -1;
    }
    return 0;
}

static int open_dirs(struct moat_store *s, const struct moat_store_opts *o, moat_error **err)
{
    if (moat_limits_load(o ? o->config_dir : NULL, &s->limits, err) < 0 || image_userns_default(&s->ns, err) < 0 ||
        make_root(s->root, err) < 0)
        return -1;
    s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->rootfd < 0)
        return moat_err_sys(err, "open store root '%s'", s->root);
    _cleanup_close_ int blobs = subdir(s->rootfd, "blobs", err);
    if (blobs < 0 || (s->blobsfd = subdir(blobs, "sha256", err)) < 0 ||
        (s->layersfd = subdir(s->rootfd, "layers", err)) < 0 || (s->snapfd = subdir(s->rootfd, "snapshots", err)) < 0 ||
        (s->tmpfd = subdir(s->rootfd, "tmp", err)) < 0)
        return -1;
    s->lockfd = openat(s->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->lockfd < 0)
        return moat_err_sys(err, "open '%s/lock'", s->root);
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    int rc = storage_meta(s, err) < 0 || init_layout(s, err) < 0 ? -1 : 0;
    store_unlock(s);
    return rc;
}

int moat_store_open(const struct moat_store_opts *o, struct moat_store **ret, moat_error **err)
{
    struct moat_store *s = xcalloc(1, sizeof(*s));
    s->rootfd = s->blobsfd = s->layersfd = s->snapfd = s->tmpfd = s->lockfd = -1;
    const char *env = getenv("MOAT_ROOT");
    if (o && o->root)
        s->root = xstrdup(o->root);
    else if (env && *env)
        s->root = xstrdup(env);
    else
        s->root = moat_store_default_root();
    if (s->root[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) {
            moat_store_close(s);
            return moat_err_sys(err, "getcwd");
        }
        char *abs = xasprintf("%s/%s", cwd, s->root);
        free(s->root);
        s->root = abs;
    }
    if (open_dirs(s, o, err) < 0) {
        moat_err_wrap(err, "image store '%s'", s->root);
        moat_store_close(s);
        return -1;
    }
    /* Its canonical path: the engine binds volumes and per-container files from here, and
     * moat-runtime opens bind sources refusing any symlink (run.moat.bind.nosymlinks). */
    char *real = realpath(s->root, NULL);
    if (real) {
        free(s->root);
        s->root = real;
    }
    *ret = s;
    return 0;
}

void moat_store_close(struct moat_store *s)
{
    if (!s)
        return;
    int fds[] = {s->rootfd, s->blobsfd, s->layersfd, s->snapfd, s->tmpfd, s->lockfd};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(s->root);
    free(s);
}

int store_lock(struct moat_store *s, int mode, moat_error **err)
{
    if (s->lock_depth > 0) {
        if (mode == LOCK_EX && s->lock_mode != LOCK_EX)
            return moat_err(err, EDEADLK, "store lock: cannot upgrade a shared lock");
        s->lock_depth++;
        return 0;
    }
    while (flock(s->lockfd, mode) < 0) {
        if (errno != EINTR)
            return moat_err_sys(err, "flock '%s/lock'", s->root);
    }
    s->lock_mode = mode;
    s->lock_depth = 1;
    return 0;
}

void store_unlock(struct moat_store *s)
{
    if (s->lock_depth > 0 && --s->lock_depth == 0) {
        flock(s->lockfd, LOCK_UN);
        s->lock_mode = 0;
    }
}

/* ---- index.json ------------------------------------------------------------ */

void index_free(struct store_index *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].digest);
        free(x->v[i].media_type);
        free(x->v[i].name);
        free(x->v[i].tag_time);
    }
    free(x->v);
    x->v = NULL;
    x->n = 0;
}

static void index_push(struct store_index *x, const char *digest, int64_t size, const char *mt, const char *name,
                       const char *tag_time)
{
    x->v = xrealloc(x->v, (x->n + 1) * sizeof(*x->v));
    x->v[x->n++] = (struct idx_entry){xstrdup(digest), xstrdup(mt), xstrdup_or_null(name), xstrdup_or_null(tag_time),
                                      size};
}

int index_load(struct moat_store *s, struct store_index *x, moat_error **err)
{
    memset(x, 0, sizeof(*x));
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (moat_read_file_at(s->rootfd, "index.json", INDEX_MAX, &buf, &len, err) < 0)
        return moat_err_wrap(err, "read '%s/index.json'", s->root);
    struct moat_index *idx = NULL;
    if (moat_index_parse(buf, len, "index.json", &idx, err) < 0)
        return -1;
    for (size_t i = 0; i < idx->n; i++) {
        struct moat_descriptor *d = &idx->manifests[i];
        const char *name = moat_descriptor_annotation(d, MOAT_ANN_IMAGE_NAME);
        index_push(x, d->digest, d->size, d->media_type, name, moat_descriptor_annotation(d, ANN_TAG_TIME));
    }
    moat_index_free(idx);
    return 0;
}

int index_save(struct moat_store *s, const struct store_index *x, moat_error **err)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "schemaVersion", json_object_new_int(2));
    json_object_object_add(o, "mediaType", json_object_new_string(MOAT_MT_OCI_INDEX));
    struct json_object *ms = json_object_new_array();
    json_object_object_add(o, "manifests", ms);
    for (size_t i = 0; i < x->n; i++) {
        struct json_object *d = moat_descriptor_json(x->v[i].media_type, x->v[i].digest, x->v[i].size);
        if (x->v[i].name) {
            struct json_object *ann = json_object_new_object();
            json_object_object_add(ann, MOAT_ANN_IMAGE_NAME, json_object_new_string(x->v[i].name));
            const char *colon = strrchr(x->v[i].name, ':');
            const char *slash = strrchr(x->v[i].name, '/');
            if (colon && (!slash || colon > slash))
                json_object_object_add(ann, MOAT_ANN_REF_NAME, json_object_new_string(colon + 1));
            if (x->v[i].tag_time)
                json_object_object_add(ann, ANN_TAG_TIME, json_object_new_string(x->v[i].tag_time));
            json_object_object_add(d, "annotations", ann);
        }
        json_object_array_add(ms, d);
    }
    _cleanup_free_ char *text = moat_json_dump(o, true);
    if (moat_write_file_atomic(s->rootfd, "index.json", text, strlen(text), 0600, err) < 0)
        return moat_err_wrap(err, "update '%s/index.json'", s->root);
    return 0;
}

static void drop_dangling(struct store_index *x, const char *digest)
{
    for (size_t i = 0; i < x->n;) {
        if (!x->v[i].name && !strcmp(x->v[i].digest, digest)) {
            free(x->v[i].digest);
            free(x->v[i].media_type);
            free(x->v[i].tag_time);
            memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof(*x->v));
            x->n--;
        } else {
            i++;
        }
    }
}

void index_add_image(struct store_index *x, const char *digest, int64_t size, const char *mt)
{
    for (size_t i = 0; i < x->n; i++)
        if (!strcmp(x->v[i].digest, digest))
            return;
    index_push(x, digest, size, mt, NULL, NULL);
}

void index_remove_name(struct store_index *x, const char *name)
{
    for (size_t i = 0; i < x->n; i++) {
        if (!x->v[i].name || strcmp(x->v[i].name, name) != 0)
            continue;
        struct idx_entry e = x->v[i];
        memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof(*x->v));
        x->n--;
        index_add_image(x, e.digest, e.size, e.media_type); /* stays, dangling, if nothing else names it */
        free(e.digest);
        free(e.media_type);
        free(e.name);
        free(e.tag_time);
        return;
    }
}

void index_set_name(struct store_index *x, const char *name, const char *digest, int64_t size, const char *mt)
{
    index_remove_name(x, name);
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    index_push(x, digest, size, mt, name, now);
    drop_dangling(x, digest);
}

void index_remove_manifest(struct store_index *x, const char *digest)
{
    for (size_t i = 0; i < x->n;) {
        if (!strcmp(x->v[i].digest, digest)) {
            free(x->v[i].digest);
            free(x->v[i].media_type);
            free(x->v[i].name);
            free(x->v[i].tag_time);
            memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof(*x->v));
            x->n--;
        } else {
            i++;
        }
    }
}

/* ---- blobs and layers --------------------------------------------------------- */

int blob_open(struct moat_store *s, const char *digest, uint64_t *ret_size, moat_error **err)
{
    if (!moat_digest_valid(digest))
        return moat_err(err, EINVAL, "invalid digest '%.80s'", digest);
    int fd = openat(s->blobsfd, moat_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "blob %s", digest);
    if (ret_size) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close(fd);
            return moat_err_sys(err, "stat blob %s", digest);
        }
        *ret_size = (uint64_t)st.st_size;
    }
    return fd;
}

bool blob_exists(struct moat_store *s, const char *digest)
{
    return moat_digest_valid(digest) && faccessat(s->blobsfd, moat_digest_hex(digest), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int blob_read_doc(struct moat_store *s, const char *digest, char **ret, size_t *ret_len, moat_error **err)
{
    _cleanup_close_ int fd = blob_open(s, digest, NULL, err);
    if (fd < 0)
        return -1;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (moat_read_fd_bounded(fd, MOAT_IMAGE_DOC_MAX, &buf, &len, err) < 0)
        return moat_err_wrap(err, "blob %s", digest);
    char d[MOAT_DIGEST_SIZE];
    moat_sha256_buf(buf, len, d);
    if (strcmp(d, digest) != 0)
        return moat_err(err, EILSEQ, "blob %s is corrupt: its content hashes to %s (run `moat system check`)", digest,
                        d);
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

bool layer_exists(struct moat_store *s, const char *diff_id)
{
    if (!moat_digest_valid(diff_id))
        return false;
    _cleanup_free_ char *p = xasprintf("%s/layer.json", moat_digest_hex(diff_id));
    return faccessat(s->layersfd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int layer_size(struct moat_store *s, const char *diff_id, uint64_t *ret, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/layer.json", moat_digest_hex(diff_id));
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse_file_at(s->layersfd, p, 1 << 16, "layer.json", &o, err) < 0)
        return moat_err_wrap(err, "layer %s", diff_id);
    if (moat_json_u64(o, "", "size", true, ret, err) < 0)
        return moat_err_wrap(err, "layer %s", diff_id);
    return 0;
}

/* ---- images -------------------------------------------------------------------- */

int64_t image_parse_time(const char *s)
{
    if (!s)
        return 0;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int64_t t = (int64_t)timegm(&tm);
    if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
        int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
        t += *p == '+' ? -off : off;
    }
    return t;
}

void moat_image_clear(struct moat_image *img)
{
    free(img->id);
    free(img->manifest);
    moat_strv_free(img->names);
    free(img->created);
    free(img->last_tag_time);
    moat_manifest_free(img->mf);
    moat_image_config_free(img->config);
    memset(img, 0, sizeof(*img));
}

void moat_images_free(struct moat_image *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        moat_image_clear(&v[i]);
    free(v);
}

int image_load(struct moat_store *s, const char *manifest, int64_t msize, struct moat_image *img, moat_error **err)
{
    (void)msize;
    memset(img, 0, sizeof(*img));
    _cleanup_free_ char *mbuf = NULL, *cbuf = NULL;
    size_t mlen, clen;
    if (blob_read_doc(s, manifest, &mbuf, &mlen, err) < 0 ||
        moat_manifest_parse(mbuf, mlen, "manifest", &img->mf, err) < 0)
        return moat_err_wrap(err, "image manifest %s", manifest);
    if (blob_read_doc(s, img->mf->config.digest, &cbuf, &clen, err) < 0 ||
        moat_image_config_parse(cbuf, clen, "image config", &img->config, err) < 0) {
        moat_image_clear(img);
        return moat_err_wrap(err, "image manifest %s", manifest);
    }
    img->id = xstrdup(img->mf->config.digest);
    img->manifest = xstrdup(manifest);
    img->created = xstrdup_or_null(img->config->created);
    img->created_unix = image_parse_time(img->created);
    img->names = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < img->config->n_diff_ids; i++) {
        uint64_t sz = 0;
        moat_error *e = NULL;
        if (layer_size(s, img->config->diff_ids[i], &sz, &e) < 0)
            moat_error_free(e); /* a missing layer: `moat system check` reports it */
        img->size += sz;
    }
    return 0;
}

/* All images (one per manifest), names in index order. */
static int list_locked(struct moat_store *s, struct moat_image **ret, size_t *ret_n, moat_error **err)
{
    struct store_index x;
    if (index_load(s, &x, err) < 0)
        return -1;
    struct moat_image *v = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < x.n && rc == 0; i++) {
        size_t j;
        for (j = 0; j < n && strcmp(v[j].manifest, x.v[i].digest) != 0; j++)
            ;
        if (j == n) {
            v = xrealloc(v, (n + 1) * sizeof(*v));
            if (image_load(s, x.v[i].digest, x.v[i].size, &v[n], err) < 0) {
                rc = -1;
                break;
            }
            n++;
        }
        if (x.v[i].name) {
            moat_strv_push(&v[j].names, x.v[i].name);
            if (x.v[i].tag_time && (!v[j].last_tag_time || strcmp(x.v[i].tag_time, v[j].last_tag_time) > 0)) {
                free(v[j].last_tag_time);
                v[j].last_tag_time = xstrdup(x.v[i].tag_time);
            }
        }
    }
    index_free(&x);
    if (rc < 0) {
        moat_images_free(v, n);
        return -1;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int moat_images_list(struct moat_store *s, struct moat_image **ret, size_t *ret_n, moat_error **err)
{
    if (store_lock(s, LOCK_SH, err) < 0)
        return -1;
    int rc = list_locked(s, ret, ret_n, err);
    store_unlock(s);
    return rc;
}

static void image_move(struct moat_image *dst, struct moat_image *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

/* Docker's lookup order over the listed images. */
static int lookup_in(struct moat_image *v, size_t n, const char *ref, struct moat_image *ret, moat_error **err)
{
    if (moat_ref_is_full_id(ref)) {
        _cleanup_free_ char *id = moat_str_has_prefix(ref, "sha256:") ? xstrdup(ref) : xasprintf("sha256:%s", ref);
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v[i].id, id)) {
                image_move(ret, &v[i]);
                return 0;
            }
        return moat_err(err, ENOENT, "No such image: %s", ref);
    }
    struct moat_ref r;
    if (moat_ref_parse(ref, &r, err) < 0)
        return -1;
    moat_ref_default_tag(&r);
    _cleanup_free_ char *fam = moat_ref_familiar_string(&r);
    _cleanup_free_ char *name = moat_ref_name(&r);
    _cleanup_free_ char *named_tag = r.tag ? xasprintf("%s:%s", name, r.tag) : NULL;
    char *digest = r.digest ? xstrdup(r.digest) : NULL;
    moat_ref_clear(&r);
    _cleanup_free_ char *dig = digest;
    for (size_t i = 0; i < n; i++) {
        bool hit = false;
        if (dig)
            hit = !strcmp(v[i].manifest, dig);
        for (size_t k = 0; !dig && v[i].names[k] && !hit; k++)
            hit = !strcmp(v[i].names[k], named_tag);
        if (hit) {
            image_move(ret, &v[i]);
            return 0;
        }
    }
    if (!dig && moat_ref_is_id_prefix(ref)) {
        const char *hex = moat_str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
        size_t found = n;
        for (size_t i = 0; i < n; i++) {
            if (!strncmp(v[i].id + 7, hex, strlen(hex))) {
                if (found != n && strcmp(v[found].id, v[i].id) != 0)
                    return moat_err(err, EINVAL, "multiple IDs found with provided prefix: %s", ref);
                found = i;
            }
        }
        if (found != n) {
            image_move(ret, &v[found]);
            return 0;
        }
    }
    return moat_err(err, ENOENT, "No such image: %s", fam);
}

int moat_image_lookup(struct moat_store *s, const char *ref, unsigned flags, struct moat_image *ret, moat_error **err)
{
    struct moat_image *v = NULL;
    size_t n = 0;
    if (moat_images_list(s, &v, &n, err) < 0)
        return -1;
    moat_error *e = NULL;
    int rc = lookup_in(v, n, ref, ret, &e);
    moat_images_free(v, n);
    if (rc == 0)
        return 0;
    if ((flags & MOAT_LOOKUP_BUILTIN) && e->errnum == ENOENT) {
        struct moat_ref r;
        moat_error *pe = NULL;
        bool builtin = false;
        if (moat_ref_parse(ref, &r, &pe) == 0) {
            moat_ref_default_tag(&r);
            _cleanup_free_ char *full = moat_ref_string(&r);
            builtin = !strcmp(full, MOAT_BUILTIN_BUSYBOX);
            moat_ref_clear(&r);
        }
        moat_error_free(pe);
        if (builtin) {
            moat_error_free(e);
            _cleanup_free_ char *id = NULL;
            if (moat_image_build_busybox(s, NULL, &id, err) < 0)
                return -1;
            return moat_image_lookup(s, ref, 0, ret, err);
        }
    }
    *err = e;
    return -1;
}

int moat_image_tag(struct moat_store *s, const char *source, const char *target, moat_error **err)
{
    struct moat_ref r;
    if (moat_ref_parse(target, &r, err) < 0)
        return -1;
    if (r.digest) {
        moat_ref_clear(&r);
        return moat_err(err, EINVAL, "refusing to create a tag with a digest reference");
    }
    moat_ref_default_tag(&r);
    _cleanup_free_ char *name = moat_ref_string(&r);
    moat_ref_clear(&r);
    struct moat_image img;
    if (moat_image_lookup(s, source, MOAT_LOOKUP_BUILTIN, &img, err) < 0)
        return -1;
    int rc = -1;
    struct store_index x = {0};
    if (store_lock(s, LOCK_EX, err) == 0) {
        if (index_load(s, &x, err) == 0 && stage_check_image(s, img.manifest, err) == 0) {
            /* the manifest's media type and size as listed */
            const char *mt = MOAT_MT_OCI_MANIFEST;
            int64_t size = 0;
            for (size_t i = 0; i < x.n; i++)
                if (!strcmp(x.v[i].digest, img.manifest)) {
                    mt = x.v[i].media_type;
                    size = x.v[i].size;
                    break;
                }
            _cleanup_free_ char *mtc = xstrdup(mt);
            index_set_name(&x, name, img.manifest, size, mtc);
            rc = index_save(s, &x, err);
        }
        index_free(&x);
        store_unlock(s);
    }
    moat_image_clear(&img);
    return rc;
}

void moat_removal_clear(struct moat_removal *r)
{
    moat_strv_free(r->lines);
    memset(r, 0, sizeof(*r));
}

void removal_add(struct moat_removal *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    moat_strv_push(&r->lines, s);
    free(s);
}
