/* docker load: a docker-archive (manifest.json) or an OCI image layout
 * (index.json + blobs/), as a tar stream (maybe compressed: an oci-archive)
 * or as a directory.
 *
 * A tar is read once: every regular member is copied into the staging
 * directory under a number, hashed on the way; member names are only keys of
 * that table, never paths, so nothing in the archive can name a place on
 * disk.  Then the documents are parsed (bounded) and every blob is checked
 * against its digest and size before use; layers go through the sandboxed
 * unpacker, which checks them against the config's diff IDs. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/path.h"
#include "moat/reference.h"
#include "moat/util.h"

#define MAX_MEMBERS 100000
#define MAX_LINK_HOPS 8

struct member {
    char *name;
    char *link; /* a symlink member: its target (cleaned, archive-relative) */
    char digest[MOAT_DIGEST_SIZE];
    uint64_t size;
    unsigned idx;
    bool adopted;
};

struct input {
    struct stage *t;
    int mdir;   /* staged members (tar) */
    int layout; /* an OCI layout directory, or -1 */
    struct member *v;
    size_t n;
    uint64_t total;
};

static void input_free(struct input *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->v[i].name);
        free(in->v[i].link);
    }
    free(in->v);
    if (in->mdir >= 0)
        close(in->mdir);
}

/* "./a//b" -> "a/b"; NULL for names that could never be a member we use. */
static char *member_key(const char *raw)
{
    if (!raw || !*raw)
        return NULL;
    _cleanup_free_ char *c = moat_path_clean(raw);
    return c[1] ? xstrdup(c + 1) : NULL;
}

static int copy_member(struct archive *a, struct input *in, struct member *m, moat_error **err)
{
    char name[32];
    snprintf(name, sizeof name, "%u", m->idx);
    _cleanup_close_ int fd = openat(in->mdir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return moat_err_sys(err, "stage archive member");
    struct moat_sha256 h;
    moat_sha256_init(&h);
    const void *buf;
    size_t len;
    la_int64_t off;
    int rc = 0;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = moat_err(err, EINVAL, "member '%s': %s", m->name, archive_error_string(a) ?: "read error");
            break;
        }
        if (in->total + len > in->t->s->limits.image_bytes) {
            rc = moat_err(err, EFBIG, "the archive exceeds limit imageBytes (%" PRIu64 " bytes)",
                          in->t->s->limits.image_bytes);
            break;
        }
        in->total += len;
        if ((uint64_t)off != h.size) {
            rc = moat_err(err, EINVAL, "member '%s': sparse members are not supported", m->name);
            break;
        }
        moat_sha256_update(&h, buf, len);
        if (moat_write_all(fd, buf, len) < 0) {
            rc = moat_err_sys(err, "stage archive member");
            break;
        }
    }
    if (rc < 0) {
        moat_sha256_discard(&h);
        return -1;
    }
    m->size = h.size;
    moat_sha256_final(&h, m->digest);
    return 0;
}

static int members_from_tar(struct input *in, int fd, moat_error **err)
{
    if (mkdirat(in->t->fd, "members", 0700) < 0 ||
        (in->mdir = openat(in->t->fd, "members", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return moat_err_sys(err, "stage archive members");
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_format_tar(a);
    int rc = 0;
    if (archive_read_open_fd(a, fd, 1 << 17) != ARCHIVE_OK)
        rc = moat_err(err, EINVAL, "not a tar archive: %s", archive_error_string(a) ?: "unreadable");
    struct archive_entry *e;
    while (rc == 0) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = moat_err(err, EINVAL, "archive: %s", archive_error_string(a) ?: "malformed");
            break;
        }
        mode_t type = archive_entry_filetype(e);
        char *key = member_key(archive_entry_pathname(e));
        if (!key || (type != AE_IFREG && type != AE_IFLNK) || archive_entry_hardlink(e)) {
            free(key);
            continue; /* directories and the like carry nothing we read */
        }
        if (in->n >= MAX_MEMBERS) {
            free(key);
            rc = moat_err(err, E2BIG, "archive: more than %d members", MAX_MEMBERS);
            break;
        }
        in->v = xrealloc(in->v, (in->n + 1) * sizeof(*in->v));
        struct member *m = &in->v[in->n++];
        memset(m, 0, sizeof(*m));
        m->name = key;
        m->idx = (unsigned)in->n;
        if (type == AE_IFLNK) {
            /* legacy docker-archives link duplicate layers: "x/layer.tar -> ../y/layer.tar" */
            const char *tgt = archive_entry_symlink(e);
            const char *slash = strrchr(key, '/');
            _cleanup_free_ char *j = tgt && tgt[0] == '/' ? xstrdup(tgt)
                                     : xasprintf("%.*s/%s", slash ? (int)(slash - key) : 0, key, tgt ? tgt : "");
            m->link = member_key(j);
            continue;
        }
        rc = copy_member(a, in, m, err);
    }
    archive_read_free(a);
    return rc;
}

static struct member *member_find(struct input *in, const char *raw)
{
    _cleanup_free_ char *key = member_key(raw);
    for (int hop = 0; key && hop < MAX_LINK_HOPS; hop++) {
        struct member *m = NULL;
        for (size_t i = in->n; i-- > 0;) /* the last of duplicate names wins, as in tar */
            if (!strcmp(in->v[i].name, key)) {
                m = &in->v[i];
                break;
            }
        if (!m || !m->link)
            return m;
        free(key);
        key = xstrdup(m->link);
    }
    return NULL;
}

/* A member (tar) or file (layout) as a staged blob, checked when expected. */
static int member_blob(struct input *in, const char *name, const char *expect, int64_t expect_size,
                       char ret_digest[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err)
{
    struct stage *t = in->t;
    if (in->layout >= 0) {
        _cleanup_close_ int fd = moat_open_in_root(in->layout, name, O_RDONLY | O_NOFOLLOW, 0,
                                                   MOAT_RESOLVE_NO_SYMLINKS, err);
        if (fd < 0)
            return -1;
        return stage_blob_fd(t, fd, expect, expect_size, t->s->limits.layer_bytes, ret_digest, ret_size, err);
    }
    struct member *m = member_find(in, name);
    if (!m)
        return moat_err(err, ENOENT, "the archive has no '%s'", name);
    if (expect_size >= 0 && m->size != (uint64_t)expect_size)
        return moat_err(err, EILSEQ, "'%s': size mismatch: expected %" PRId64 " bytes, got %" PRIu64, name,
                        expect_size, m->size);
    if (expect && strcmp(expect, m->digest) != 0)
        return moat_err(err, EILSEQ, "'%s': digest mismatch: expected %s, the content hashes to %s", name, expect,
                        m->digest);
    if (!m->adopted && !moat_strv_contains(t->blobs, m->digest)) {
        char idx[32];
        snprintf(idx, sizeof idx, "%u", m->idx);
        if (renameat(in->mdir, idx, t->blobsfd, moat_digest_hex(m->digest)) < 0)
            return moat_err_sys(err, "stage blob %s", m->digest);
        moat_strv_push(&t->blobs, m->digest);
        m->adopted = true;
    }
    memcpy(ret_digest, m->digest, MOAT_DIGEST_SIZE);
    if (ret_size)
        *ret_size = m->size;
    return 0;
}

static int member_doc(struct input *in, const char *name, const char *expect, int64_t size, char **ret,
                      size_t *ret_len, char ret_digest[MOAT_DIGEST_SIZE], moat_error **err)
{
    char d[MOAT_DIGEST_SIZE];
    uint64_t sz;
    if (member_blob(in, name, expect, size, d, &sz, err) < 0)
        return -1;
    if (sz > MOAT_IMAGE_DOC_MAX)
        return moat_err(err, EFBIG, "'%s': %" PRIu64 " bytes is too large for a JSON document", name, sz);
    _cleanup_close_ int fd = stage_open_blob(in->t, d, err);
    if (fd < 0 || moat_read_fd_bounded(fd, MOAT_IMAGE_DOC_MAX, ret, ret_len, err) < 0)
        return -1;
    if (ret_digest)
        memcpy(ret_digest, d, MOAT_DIGEST_SIZE);
    return 0;
}

static char *blob_path(const char *digest) { return xasprintf("blobs/sha256/%s", moat_digest_hex(digest)); }

static void loaded(char ***lines, char *const *names, const char *id)
{
    for (size_t i = 0; names && names[i]; i++) {
        _cleanup_free_ char *fam = moat_ref_familiarize(names[i]);
        _cleanup_free_ char *l = xasprintf("Loaded image: %s", fam);
        moat_strv_push(lines, l);
    }
    if (!names || !names[0]) {
        _cleanup_free_ char *l = xasprintf("Loaded image ID: %s", id);
        moat_strv_push(lines, l);
    }
}

/* Unpack the layers of a config; descs (docker-archive) gets their descriptors. */
static int load_layers(struct input *in, const struct moat_image_config *cfg, char **layer_names,
                       const struct moat_descriptor *layer_descs, size_t n, struct json_object *descs,
                       moat_error **err)
{
    if (n != cfg->n_diff_ids)
        return moat_err(err, EINVAL, "%zu layers, but the image config lists %zu", n, cfg->n_diff_ids);
    uint64_t before = 0;
    for (size_t i = 0; i < n; i++) {
        char d[MOAT_DIGEST_SIZE];
        uint64_t size;
        _cleanup_free_ char *path = layer_descs ? blob_path(layer_descs[i].digest) : xstrdup(layer_names[i]);
        if (member_blob(in, path, layer_descs ? layer_descs[i].digest : NULL, layer_descs ? layer_descs[i].size : -1,
                        d, &size, err) < 0)
            return moat_err_wrap(err, "layer %zu", i + 1);
        struct layer_info li;
        if (stage_layer(in->t, d, cfg->diff_ids[i], before, &li, err) < 0)
            return -1;
        before += li.tar_bytes;
        if (descs)
            json_object_array_add(descs, moat_descriptor_json(moat_layer_media_type(li.compression, false), d,
                                                              (int64_t)size));
    }
    return 0;
}

static char **full_names(char *const *refs, moat_error **err)
{
    char **v = xcalloc(1, sizeof(char *));
    for (size_t i = 0; refs && refs[i]; i++) {
        struct moat_ref r;
        if (moat_ref_parse(refs[i], &r, err) < 0) {
            moat_strv_free(v);
            return NULL;
        }
        moat_ref_default_tag(&r);
        char *s = moat_ref_string(&r);
        moat_strv_push(&v, s);
        free(s);
        moat_ref_clear(&r);
    }
    return v;
}

static int load_docker(struct input *in, char ***lines, moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    char d[MOAT_DIGEST_SIZE];
    if (member_doc(in, "manifest.json", NULL, -1, &buf, &len, d, err) < 0)
        return -1;
    struct moat_archive_entry *ents = NULL;
    size_t n = 0;
    if (moat_archive_manifest_parse(buf, len, "manifest.json", &ents, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        _cleanup_free_ char *cbuf = NULL;
        size_t clen;
        char cd[MOAT_DIGEST_SIZE];
        struct moat_image_config *cfg = NULL;
        _cleanup_strv_ char **names = full_names(ents[i].repo_tags, err);
        _cleanup_json_ struct json_object *descs = json_object_new_array();
        if (!names || member_doc(in, ents[i].config, NULL, -1, &cbuf, &clen, cd, err) < 0 ||
            moat_image_config_parse(cbuf, clen, ents[i].config, &cfg, err) < 0 ||
            load_layers(in, cfg, ents[i].layers, NULL, ents[i].n_layers, descs, err) < 0) {
            rc = -1;
        } else {
            /* the manifest a registry would have: config as it is, layers as they are */
            _cleanup_json_ struct json_object *m = json_object_new_object();
            json_object_object_add(m, "schemaVersion", json_object_new_int(2));
            json_object_object_add(m, "mediaType", json_object_new_string(MOAT_MT_OCI_MANIFEST));
            json_object_object_add(m, "config", moat_descriptor_json(MOAT_MT_OCI_CONFIG, cd, (int64_t)clen));
            json_object_object_add(m, "layers", json_object_get(descs));
            _cleanup_free_ char *mtext = moat_image_json(m);
            char md[MOAT_DIGEST_SIZE];
            rc = stage_blob_buf(in->t, mtext, strlen(mtext), md, err);
            if (rc == 0)
                rc = image_commit_manifest(in->t, md, (int64_t)strlen(mtext), MOAT_MT_OCI_MANIFEST, names, err);
            if (rc == 0)
                loaded(lines, names, cd);
        }
        moat_image_config_free(cfg);
        if (rc < 0)
            moat_err_wrap(err, "image %zu of manifest.json", i + 1);
    }
    moat_archive_entries_free(ents, n);
    return rc;
}

/* Names an OCI index entry gives its image. */
static char **oci_names(const struct moat_descriptor *d)
{
    const char *full = moat_descriptor_annotation(d, MOAT_ANN_IMAGE_NAME);
    const char *ref = moat_descriptor_annotation(d, MOAT_ANN_REF_NAME);
    char **v = xcalloc(1, sizeof(char *));
    const char *cand = full ? full : ref && (strchr(ref, '/') || strchr(ref, ':')) ? ref : NULL;
    struct moat_ref r;
    moat_error *e = NULL;
    if (cand && moat_ref_parse(cand, &r, &e) == 0) {
        if (!r.digest) {
            moat_ref_default_tag(&r);
            char *s = moat_ref_string(&r);
            moat_strv_push(&v, s);
            free(s);
        }
        moat_ref_clear(&r);
    }
    moat_error_free(e);
    return v;
}

static int load_oci_manifest(struct input *in, const struct moat_descriptor *d, char **names, char ***lines,
                             int depth, moat_error **err);

/* A nested index: the manifest for this machine. */
static int load_oci_index(struct input *in, const char *buf, size_t len, char **names, char ***lines, int depth,
                          moat_error **err)
{
    struct moat_index *x = NULL;
    if (moat_index_parse(buf, len, "image index", &x, err) < 0)
        return -1;
    const struct moat_descriptor *pick = NULL;
    for (size_t i = 0; i < x->n && !pick; i++) {
        const struct moat_descriptor *m = &x->manifests[i];
        if (!m->has_platform || (m->platform.os && !strcmp(m->platform.os, "linux") && m->platform.architecture &&
                                 !strcmp(m->platform.architecture, moat_go_arch())))
            pick = m;
    }
    int rc = pick ? load_oci_manifest(in, pick, names, lines, depth + 1, err)
                  : moat_err(err, ENOENT, "no image for linux/%s in the index", moat_go_arch());
    moat_index_free(x);
    return rc;
}

static int load_oci_manifest(struct input *in, const struct moat_descriptor *d, char **names, char ***lines,
                             int depth, moat_error **err)
{
    if (depth > 4)
        return moat_err(err, ELOOP, "indexes nested too deep");
    _cleanup_free_ char *mpath = blob_path(d->digest), *mbuf = NULL;
    size_t mlen;
    char md[MOAT_DIGEST_SIZE];
    if (member_doc(in, mpath, d->digest, d->size, &mbuf, &mlen, md, err) < 0)
        return -1;
    if (!strcmp(d->media_type, MOAT_MT_OCI_INDEX) || !strcmp(d->media_type, MOAT_MT_DOCKER_LIST))
        return load_oci_index(in, mbuf, mlen, names, lines, depth, err);
    struct moat_manifest *m = NULL;
    struct moat_image_config *cfg = NULL;
    _cleanup_free_ char *cpath = NULL, *cbuf = NULL;
    size_t clen;
    char cd[MOAT_DIGEST_SIZE];
    int rc = moat_manifest_parse(mbuf, mlen, md, &m, err);
    if (rc == 0) {
        cpath = blob_path(m->config.digest);
        rc = member_doc(in, cpath, m->config.digest, m->config.size, &cbuf, &clen, cd, err);
    }
    if (rc == 0)
        rc = moat_image_config_parse(cbuf, clen, m->config.digest, &cfg, err);
    if (rc == 0)
        rc = load_layers(in, cfg, NULL, m->layers, m->n_layers, NULL, err);
    if (rc == 0 && m->n_layers > in->t->s->limits.image_layers)
        rc = moat_err(err, E2BIG, "%zu layers exceed limit imageLayers (%" PRIu64 ")", m->n_layers,
                      in->t->s->limits.image_layers);
    if (rc == 0)
        rc = image_commit_manifest(in->t, md, (int64_t)mlen, m->media_type, names, err);
    if (rc == 0)
        loaded(lines, names, cd);
    moat_manifest_free(m);
    moat_image_config_free(cfg);
    return rc < 0 ? moat_err_wrap(err, "image %s", d->digest) : 0;
}

static int load_oci(struct input *in, char ***lines, moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    char d[MOAT_DIGEST_SIZE];
    if (member_doc(in, "index.json", NULL, -1, &buf, &len, d, err) < 0)
        return -1;
    struct moat_index *x = NULL;
    if (moat_index_parse(buf, len, "index.json", &x, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < x->n && rc == 0; i++) {
        _cleanup_strv_ char **names = oci_names(&x->manifests[i]);
        /* entries of the same manifest (one per tag) load once, with all their names */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(x->manifests[j].digest, x->manifests[i].digest);
        if (seen)
            continue;
        for (size_t j = i + 1; j < x->n; j++)
            if (!strcmp(x->manifests[j].digest, x->manifests[i].digest)) {
                char **more = oci_names(&x->manifests[j]);
                for (size_t k = 0; more[k]; k++)
                    moat_strv_push(&names, more[k]);
                moat_strv_free(more);
            }
        rc = load_oci_manifest(in, &x->manifests[i], names, lines, 0, err);
    }
    moat_index_free(x);
    return rc;
}

int moat_image_load(struct moat_store *s, int fd, const char *dir, char ***ret_lines, moat_error **err)
{
    struct stage t;
    if (stage_begin(s, &t, err) < 0)
        return -1;
    struct input in = {.t = &t, .mdir = -1, .layout = -1};
    char **lines = xcalloc(1, sizeof(char *));
    int rc = 0;
    bool docker, oci;
    if (dir) {
        in.layout = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (in.layout < 0)
            rc = moat_err_sys(err, "open '%s'", dir);
        docker = false;
        oci = rc == 0 && faccessat(in.layout, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    } else {
        rc = members_from_tar(&in, fd, err);
        docker = member_find(&in, "manifest.json") != NULL;
        oci = member_find(&in, "index.json") != NULL;
    }
    if (rc == 0 && !docker && !oci)
        rc = moat_err(err, EINVAL, "neither a docker-archive (manifest.json) nor an OCI layout (index.json)");
    if (rc == 0)
        rc = docker ? load_docker(&in, &lines, err) : load_oci(&in, &lines, err);
    if (in.layout >= 0)
        close(in.layout);
    input_free(&in);
    stage_end(&t);
    if (rc < 0) {
        moat_strv_free(lines);
        return moat_err_wrap(err, "load");
    }
    *ret_lines = lines;
    return 0;
}
