/* docker save: one tar that is both a docker-archive (manifest.json, layers
 * and configs by path) and an OCI image layout (oci-layout, index.json,
 * blobs/sha256/), as Docker 25 writes it: manifest.json names the blobs. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

struct saved {
    struct moat_image img;
    char **tags; /* full names to record */
};

static la_ssize_t fd_write(struct archive *a, void *ud, const void *buf, size_t len)
{
    if (moat_write_all(*(int *)ud, buf, len) < 0) {
        archive_set_error(a, errno, "write: %s", strerror(errno));
        return -1;
    }
    return (la_ssize_t)len;
}

static int put_buf(struct archive *a, const char *name, const char *data, size_t len, moat_error **err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    int rc = 0;
    if (archive_write_header(a, e) < ARCHIVE_WARN || (len && archive_write_data(a, data, len) != (la_ssize_t)len))
        rc = moat_err(err, EIO, "save: write '%s': %s", name, archive_error_string(a));
    archive_entry_free(e);
    return rc;
}

static int put_dir(struct archive *a, const char *name, moat_error **err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    int rc = archive_write_header(a, e) < ARCHIVE_WARN ? moat_err(err, EIO, "save: '%s'", name) : 0;
    archive_entry_free(e);
    return rc;
}

static int put_blob(struct moat_store *s, struct archive *a, const char *digest, struct strset *done, moat_error **err)
{
    if (strset_add(done, digest, 1, NULL) == 0)
        return 0;
    uint64_t size;
    _cleanup_close_ int fd = blob_open(s, digest, &size, err);
    if (fd < 0)
        return -1;
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", moat_digest_hex(digest));
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    int rc = archive_write_header(a, e) < ARCHIVE_WARN ? moat_err(err, EIO, "save: %s", archive_error_string(a)) : 0;
    archive_entry_free(e);
    _cleanup_free_ char *buf = xmalloc(1 << 17);
    uint64_t left = size;
    while (rc == 0 && left > 0) {
        ssize_t n = read(fd, buf, left < (1 << 17) ? (size_t)left : (1 << 17));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = n < 0 ? moat_err_sys(err, "read blob %s", digest) : moat_err(err, EIO, "blob %s shrank", digest);
        else if (archive_write_data(a, buf, (size_t)n) != n)
            rc = moat_err(err, EIO, "save: %s", archive_error_string(a));
        else
            left -= (uint64_t)n;
    }
    return rc;
}

/* Docker's rules: a name without tag means every tag of that repository. */
static int collect(struct moat_store *s, char *const *refs, struct saved **ret, size_t *ret_n, moat_error **err)
{
    struct moat_image *all = NULL;
    size_t nall = 0;
    if (moat_images_list(s, &all, &nall, err) < 0)
        return -1;
    struct saved *v = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t r = 0; refs[r] && rc == 0; r++) {
        struct moat_ref pr;
        moat_error *pe = NULL;
        bool name_only = !moat_ref_is_full_id(refs[r]) && moat_ref_parse(refs[r], &pr, &pe) == 0 && !pr.tag &&
                         !pr.digest;
        _cleanup_free_ char *repo = name_only ? moat_ref_name(&pr) : NULL;
        if (!pe && !moat_ref_is_full_id(refs[r]))
            moat_ref_clear(&pr);
        moat_error_free(pe);
        bool found = false;
        for (size_t i = 0; repo && i < nall; i++)
            for (size_t k = 0; all[i].names[k]; k++) {
                const char *nm = all[i].names[k];
                if (strncmp(nm, repo, strlen(repo)) || nm[strlen(repo)] != ':')
                    continue;
                size_t j;
                for (j = 0; j < n && strcmp(v[j].img.id, all[i].id); j++)
                    ;
                if (j == n) {
                    v = xrealloc(v, (n + 1) * sizeof(*v));
                    memset(&v[n], 0, sizeof(v[n]));
                    rc = moat_image_lookup(s, all[i].id, 0, &v[n].img, err);
                    if (rc < 0)
                        break;
                    n++;
                }
                if (!moat_strv_contains(v[j].tags, nm))
                    moat_strv_push(&v[j].tags, nm);
                found = true;
            }
        if (found || rc < 0)
            continue;
        struct moat_image img;
        if ((rc = moat_image_lookup(s, refs[r], MOAT_LOOKUP_BUILTIN, &img, err)) < 0)
            break;
        size_t j;
        for (j = 0; j < n && strcmp(v[j].img.id, img.id); j++)
            ;
        if (j == n) {
            v = xrealloc(v, (n + 1) * sizeof(*v));
            memset(&v[n], 0, sizeof(v[n]));
            v[n++].img = img;
        } else {
            moat_image_clear(&img);
        }
        /* a tag given by name is recorded; an ID records no name */
        if (!moat_ref_is_id_prefix(refs[r]) || strchr(refs[r], ':')) {
            struct moat_ref tr;
            moat_error *te = NULL;
            if (!moat_ref_is_full_id(refs[r]) && moat_ref_parse(refs[r], &tr, &te) == 0) {
                moat_ref_default_tag(&tr);
                _cleanup_free_ char *full = moat_ref_string(&tr);
                if (!tr.digest && moat_strv_contains(v[j].img.names, full) && !moat_strv_contains(v[j].tags, full))
                    moat_strv_push(&v[j].tags, full);
                moat_ref_clear(&tr);
            }
            moat_error_free(te);
        }
    }
    moat_images_free(all, nall);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) {
            moat_image_clear(&v[i].img);
            moat_strv_free(v[i].tags);
        }
        free(v);
        return -1;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int write_archive(struct moat_store *s, struct archive *a, struct saved *v, size_t n, moat_error **err)
{
    struct strset done = {0};
    const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
    int rc = put_buf(a, "oci-layout", layout, strlen(layout), err);
    if (rc == 0)
        rc = put_dir(a, "blobs/", err);
    if (rc == 0)
        rc = put_dir(a, "blobs/sha256/", err);
    _cleanup_json_ struct json_object *index = json_object_new_object(), *mj = json_object_new_array();
    struct json_object *ms = json_object_new_array();
    json_object_object_add(index, "schemaVersion", json_object_new_int(2));
    json_object_object_add(index, "mediaType", json_object_new_string(MOAT_MT_OCI_INDEX));
    json_object_object_add(index, "manifests", ms);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct moat_image *img = &v[i].img;
        for (size_t k = 0; k < img->mf->n_layers && rc == 0; k++)
            rc = put_blob(s, a, img->mf->layers[k].digest, &done, err);
        if (rc == 0)
            rc = put_blob(s, a, img->id, &done, err);
        if (rc == 0)
            rc = put_blob(s, a, img->manifest, &done, err);
        uint64_t msize = 0;
        _cleanup_close_ int mfd = rc == 0 ? blob_open(s, img->manifest, &msize, err) : -1;
        if (mfd < 0)
            rc = -1;
        _cleanup_free_ char *mmt = NULL;
        if (rc == 0) {
            _cleanup_free_ char *mbuf = NULL;
            size_t mlen;
            if (blob_read_doc(s, img->manifest, &mbuf, &mlen, err) < 0)
                rc = -1;
            else
                mmt = moat_doc_media_type(mbuf, mlen);
        }
        struct json_object *tags = json_object_new_array();
        size_t ntags = moat_strv_len(v[i].tags);
        for (size_t t = 0; rc == 0 && t < (ntags ? ntags : 1); t++) {
            const char *name = ntags ? v[i].tags[t] : NULL;
            struct json_object *d = moat_descriptor_json(mmt ? mmt : MOAT_MT_OCI_MANIFEST, img->manifest,
                                                         (int64_t)msize);
            if (name) {
                struct json_object *ann = json_object_new_object();
                json_object_object_add(ann, MOAT_ANN_IMAGE_NAME, json_object_new_string(name));
                json_object_object_add(ann, MOAT_ANN_REF_NAME, json_object_new_string(strrchr(name, ':') + 1));
                json_object_object_add(d, "annotations", ann);
                _cleanup_free_ char *fam = moat_ref_familiarize(name);
                json_object_array_add(tags, json_object_new_string(fam));
            }
            json_object_array_add(ms, d);
        }
        struct json_object *e = json_object_new_object();
        _cleanup_free_ char *cfgp = xasprintf("blobs/sha256/%s", moat_digest_hex(img->id));
        json_object_object_add(e, "Config", json_object_new_string(cfgp));
        if (json_object_array_length(tags) > 0) {
            json_object_object_add(e, "RepoTags", tags);
        } else {
            json_object_put(tags);
            json_object_object_add(e, "RepoTags", NULL);
        }
        struct json_object *layers = json_object_new_array();
        for (size_t k = 0; k < img->mf->n_layers; k++) {
            _cleanup_free_ char *lp = xasprintf("blobs/sha256/%s", moat_digest_hex(img->mf->layers[k].digest));
            json_object_array_add(layers, json_object_new_string(lp));
        }
        json_object_object_add(e, "Layers", layers);
        json_object_array_add(mj, e);
    }
    _cleanup_free_ char *itext = moat_image_json(index), *mtext = moat_image_json(mj);
    if (rc == 0)
        rc = put_buf(a, "index.json", itext, strlen(itext), err);
    if (rc == 0)
        rc = put_buf(a, "manifest.json", mtext, strlen(mtext), err);
    strset_free(&done);
    return rc;
}

int moat_image_save(struct moat_store *s, char *const *refs, int out_fd, moat_error **err)
{
    if (!refs || !refs[0])
        return moat_err(err, EINVAL, "save: no image given");
    /* resolve first (this may build the built-in image), then read under the shared lock */
    struct saved *v = NULL;
    size_t n = 0;
    if (collect(s, refs, &v, &n, err) < 0)
        return -1;
    int rc = store_lock(s, LOCK_SH, err);
    if (rc == 0) {
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        int fd = out_fd;
        if (archive_write_open(a, &fd, NULL, fd_write, NULL) != ARCHIVE_OK)
            rc = moat_err(err, EIO, "save: %s", archive_error_string(a));
        if (rc == 0)
            rc = write_archive(s, a, v, n, err);
        if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
            rc = moat_err(err, EIO, "save: %s", archive_error_string(a));
        archive_write_free(a);
    }
    for (size_t i = 0; i < n; i++) {
        moat_image_clear(&v[i].img);
        moat_strv_free(v[i].tags);
    }
    free(v);
    if (s->lock_depth)
        store_unlock(s);
    return rc;
}
