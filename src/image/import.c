/* Making images from one new layer: import (a tar), add_layer (commit and
 * build: a layer on top of a base image) and the built-in busybox image. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

static char *full_name(const char *ref, moat_error **err)
{
    struct moat_ref r;
    if (moat_ref_parse(ref, &r, err) < 0)
        return NULL;
    if (r.digest) {
        moat_ref_clear(&r);
        moat_err(err, EINVAL, "refusing to name an image with a digest reference: %s", ref);
        return NULL;
    }
    moat_ref_default_tag(&r);
    char *s = moat_ref_string(&r);
    moat_ref_clear(&r);
    return s;
}

int image_commit_manifest(struct stage *t, const char *manifest, int64_t size, const char *media_type,
                          char *const *names, moat_error **err)
{
    struct moat_store *s = t->s;
    if (store_lock(s, LOCK_EX, err) < 0)
        return -1;
    struct store_index x = {0};
    int rc = stage_commit(t, err);
    if (rc == 0)
        rc = stage_check_image(s, manifest, err);
    if (rc == 0)
        rc = index_load(s, &x, err);
    if (rc == 0) {
        index_add_image(&x, manifest, size, media_type);
        for (size_t i = 0; names && names[i]; i++)
            index_set_name(&x, names[i], manifest, size, media_type);
        rc = index_save(s, &x, err);
    }
    index_free(&x);
    store_unlock(s);
    return rc;
}

int image_commit(struct stage *t, struct json_object *config, struct json_object *layer_descs, char *const *names,
                 char **ret_id, moat_error **err)
{
    struct moat_store *s = t->s;
    if ((uint64_t)json_object_array_length(layer_descs) > s->limits.image_layers)
        return moat_err(err, E2BIG, "%zu layers exceed limit imageLayers (%" PRIu64 ") by %" PRIu64,
                        json_object_array_length(layer_descs), s->limits.image_layers,
                        (uint64_t)json_object_array_length(layer_descs) - s->limits.image_layers);
    _cleanup_free_ char *ctext = moat_image_json(config);
    char cdig[MOAT_DIGEST_SIZE], mdig[MOAT_DIGEST_SIZE];
    if (stage_blob_buf(t, ctext, strlen(ctext), cdig, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *m = json_object_new_object();
    json_object_object_add(m, "schemaVersion", json_object_new_int(2));
    json_object_object_add(m, "mediaType", json_object_new_string(MOAT_MT_OCI_MANIFEST));
    json_object_object_add(m, "config", moat_descriptor_json(MOAT_MT_OCI_CONFIG, cdig, (int64_t)strlen(ctext)));
    json_object_object_add(m, "layers", json_object_get(layer_descs));
    _cleanup_free_ char *mtext = moat_image_json(m);
    if (stage_blob_buf(t, mtext, strlen(mtext), mdig, err) < 0 ||
        image_commit_manifest(t, mdig, (int64_t)strlen(mtext), MOAT_MT_OCI_MANIFEST, names, err) < 0)
        return -1;
    if (ret_id)
        *ret_id = xstrdup(cdig);
    return 0;
}

static struct json_object *history_entry(const char *created, const char *created_by, const char *author,
                                         const char *comment)
{
    struct json_object *h = json_object_new_object();
    json_object_object_add(h, "created", json_object_new_string(created));
    if (created_by)
        json_object_object_add(h, "created_by", json_object_new_string(created_by));
    if (author)
        json_object_object_add(h, "author", json_object_new_string(author));
    if (comment)
        json_object_object_add(h, "comment", json_object_new_string(comment));
    return h;
}

static struct json_object *new_config(const char *created)
{
    struct json_object *c = json_object_new_object();
    json_object_object_add(c, "architecture", json_object_new_string(moat_go_arch()));
    json_object_object_add(c, "os", json_object_new_string("linux"));
    json_object_object_add(c, "created", json_object_new_string(created));
    json_object_object_add(c, "config", json_object_new_object());
    struct json_object *rootfs = json_object_new_object();
    json_object_object_add(rootfs, "type", json_object_new_string("layers"));
    json_object_object_add(rootfs, "diff_ids", json_object_new_array());
    json_object_object_add(c, "rootfs", rootfs);
    json_object_object_add(c, "history", json_object_new_array());
    return c;
}

static int apply_changes(struct json_object *cfg, char **changes, moat_error **err)
{
    struct json_object *sec = NULL;
    if (!json_object_object_get_ex(cfg, "config", &sec) || !json_object_is_type(sec, json_type_object)) {
        sec = json_object_new_object();
        json_object_object_add(cfg, "config", sec);
    }
    for (size_t i = 0; changes && changes[i]; i++)
        if (moat_config_apply_change(sec, changes[i], err) < 0)
            return moat_err_wrap(err, "--change '%s'", changes[i]);
    return 0;
}

/* Stage the blob from fd and unpack it: one new layer. */
static int add_new_layer(struct stage *t, int fd, uint64_t before, struct new_layer *nl, moat_error **err)
{
    if (stage_blob_fd(t, fd, NULL, -1, t->s->limits.layer_bytes, nl->blob, &nl->blob_size, err) < 0)
        return moat_err_wrap(err, "read the layer");
    return stage_layer(t, nl->blob, NULL, before, &nl->info, err);
}

static void push_layer(struct json_object *cfg, struct json_object *descs, const struct new_layer *nl)
{
    struct json_object *rootfs, *ids;
    if (json_object_object_get_ex(cfg, "rootfs", &rootfs) && json_object_object_get_ex(rootfs, "diff_ids", &ids))
        json_object_array_add(ids, json_object_new_string(nl->info.diff_id));
    json_object_array_add(descs, moat_descriptor_json(moat_layer_media_type(nl->info.compression, false), nl->blob,
                                                      (int64_t)nl->blob_size));
}

static void push_history(struct json_object *cfg, struct json_object *h)
{
    struct json_object *hist;
    if (!json_object_object_get_ex(cfg, "history", &hist) || !json_object_is_type(hist, json_type_array)) {
        hist = json_object_new_array();
        json_object_object_add(cfg, "history", hist);
    }
    json_object_array_add(hist, h);
}

int moat_image_import(struct moat_store *s, int fd, const struct moat_import_opts *o, char **ret_id, moat_error **err)
{
    _cleanup_free_ char *name = NULL;
    if (o->ref && !(name = full_name(o->ref, err)))
        return -1;
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    _cleanup_json_ struct json_object *cfg = new_config(now);
    if (apply_changes(cfg, o->changes, err) < 0)
        return -1;
    struct stage t;
    if (stage_begin(s, &t, err) < 0)
        return -1;
    struct new_layer nl;
    _cleanup_json_ struct json_object *descs = json_object_new_array();
    int rc = add_new_layer(&t, fd, 0, &nl, err);
    if (rc == 0) {
        push_layer(cfg, descs, &nl);
        _cleanup_free_ char *comment = o->message ? xstrdup(o->message)
                                                  : xasprintf("Imported from %s", o->source ? o->source : "-");
        push_history(cfg, history_entry(now, NULL, NULL, comment));
        char *names[] = {name, NULL};
        rc = image_commit(&t, cfg, descs, name ? names : NULL, ret_id, err);
    }
    stage_end(&t);
    return rc < 0 ? moat_err_wrap(err, "import") : 0;
}

int moat_image_add_layer(struct moat_store *s, const char *base, int layer_fd, const struct moat_commit_opts *o,
                         char **ret_id, moat_error **err)
{
    _cleanup_free_ char *name = NULL;
    if (o->ref && !(name = full_name(o->ref, err)))
        return -1;
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    _cleanup_json_ struct json_object *cfg = NULL;
    _cleanup_json_ struct json_object *descs = json_object_new_array();
    uint64_t before = 0;
    if (base) {
        struct moat_image img;
        if (moat_image_lookup(s, base, MOAT_LOOKUP_BUILTIN, &img, err) < 0)
            return -1;
        cfg = json_object_get(img.config->json);
        for (size_t i = 0; i < img.mf->n_layers; i++) {
            const struct moat_descriptor *d = &img.mf->layers[i];
            json_object_array_add(descs, moat_descriptor_json(d->media_type, d->digest, d->size));
        }
        before = img.size;
        moat_image_clear(&img);
        /* a private copy: the config is edited below */
        _cleanup_free_ char *text = moat_image_json(cfg);
        json_object_put(cfg);
        cfg = NULL;
        if (moat_json_parse(text, strlen(text), MOAT_IMAGE_DOC_MAX, "base config", &cfg, err) < 0)
            return -1;
        json_object_object_add(cfg, "created", json_object_new_string(now));
    } else {
        cfg = new_config(now);
    }
    if (o->author)
        json_object_object_add(cfg, "author", json_object_new_string(o->author));
    if (apply_changes(cfg, o->changes, err) < 0)
        return -1;
    struct stage t;
    if (stage_begin(s, &t, err) < 0)
        return -1;
    struct new_layer nl;
    int rc = add_new_layer(&t, layer_fd, before, &nl, err);
    if (rc == 0) {
        push_layer(cfg, descs, &nl);
        push_history(cfg, history_entry(now, o->created_by, o->author, o->comment));
        char *names[] = {name, NULL};
        rc = image_commit(&t, cfg, descs, name ? names : NULL, ret_id, err);
    }
    stage_end(&t);
    return rc;
}
