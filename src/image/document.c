/* Image documents (see include/moat/image.h): OCI/Docker manifests, indexes,
 * image configs and docker-archive manifest.json, parsed with bounds.  Each
 * error names the JSON path; the caller's `what` prefixes it. */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "moat/digest.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/util.h"

#define MAX_STRV 65536
#define MAX_HISTORY 10000
#define MAX_ANNOTATIONS 1024

void moat_descriptor_clear(struct moat_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    moat_strv_free(d->annotations);
    free(d->platform.os);
    free(d->platform.architecture);
    free(d->platform.variant);
    memset(d, 0, sizeof(*d));
}

const char *moat_descriptor_annotation(const struct moat_descriptor *d, const char *key)
{
    for (size_t i = 0; d->annotations && d->annotations[i] && d->annotations[i + 1]; i += 2)
        if (!strcmp(d->annotations[i], key))
            return d->annotations[i + 1];
    return NULL;
}

static int digest_field(struct json_object *o, const char *where, const char *key, char **ret, moat_error **err)
{
    if (moat_json_str(o, where, key, true, ret, err) < 0)
        return -1;
    if (!moat_digest_valid(*ret)) {
        bool other = strchr(*ret, ':') && strncmp(*ret, "sha256:", 7) != 0;
        return moat_err(err, EINVAL, "%s/%s: %s '%.80s'", where, key,
                        other ? "unsupported digest algorithm in" : "invalid digest", *ret);
    }
    return 0;
}

static int string_map(struct json_object *o, const char *where, const char *key, char ***ret, moat_error **err)
{
    struct json_object *m = NULL;
    int r = moat_json_obj(o, where, key, false, &m, err);
    if (r <= 0)
        return r;
    if (json_object_object_length(m) > MAX_ANNOTATIONS)
        return moat_err(err, E2BIG, "%s/%s: more than %d entries", where, key, MAX_ANNOTATIONS);
    _cleanup_free_ char *p = moat_jpath(where, key);
    char **v = xcalloc((size_t)json_object_object_length(m) * 2 + 1, sizeof(char *));
    size_t n = 0;
    json_object_object_foreach(m, k, val)
    {
        _cleanup_free_ char *kp = moat_jpath(p, k);
        char *s = NULL;
        if (moat_json_val_str(val, kp, &s, err) < 0) {
            moat_strv_free(v);
            return -1;
        }
        v[n++] = xstrdup(k);
        v[n++] = s;
    }
    *ret = v;
    return 1;
}

static int descriptor_parse(struct json_object *o, const char *where, struct moat_descriptor *d, moat_error **err)
{
    if (!json_object_is_type(o, json_type_object))
        return moat_err(err, EINVAL, "%s: expected an object", where);
    if (moat_json_str(o, where, "mediaType", true, &d->media_type, err) < 0 ||
        digest_field(o, where, "digest", &d->digest, err) < 0 ||
        moat_json_i64(o, where, "size", true, 0, INT64_MAX, &d->size, err) < 0 ||
        string_map(o, where, "annotations", &d->annotations, err) < 0)
        return -1;
    struct json_object *urls = NULL;
    if (moat_json_arr(o, where, "urls", false, &urls, err) < 0)
        return -1;
    if (urls && json_object_array_length(urls) > 0)
        return moat_err(err, ENOTSUP, "%s/urls: foreign layers (fetched from URLs) are not supported", where);
    struct json_object *pf = NULL;
    int r = moat_json_obj(o, where, "platform", false, &pf, err);
    if (r < 0)
        return -1;
    if (r > 0) {
        _cleanup_free_ char *pw = moat_jpath(where, "platform");
        d->has_platform = true;
        if (moat_json_str(pf, pw, "os", false, &d->platform.os, err) < 0 ||
            moat_json_str(pf, pw, "architecture", false, &d->platform.architecture, err) < 0 ||
            moat_json_str(pf, pw, "variant", false, &d->platform.variant, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_doc(const char *buf, size_t len, const char *what, struct json_object **ret, moat_error **err)
{
    if (moat_json_parse(buf, len, MOAT_IMAGE_DOC_MAX, what, ret, err) < 0)
        return -1;
    if (!json_object_is_type(*ret, json_type_object)) {
        json_object_put(*ret);
        *ret = NULL;
        return moat_err(err, EINVAL, "%s: expected a JSON object", what);
    }
    return 0;
}

static int schema2(struct json_object *o, moat_error **err)
{
    int64_t v = 0;
    if (moat_json_i64(o, "", "schemaVersion", true, 0, 100, &v, err) < 0)
        return -1;
    if (v != 2)
        return moat_err(err, ENOTSUP, "/schemaVersion: %" PRId64 " is not supported (only 2)", v);
    return 0;
}

void moat_manifest_free(struct moat_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    moat_descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        moat_descriptor_clear(&m->layers[i]);
    free(m->layers);
    free(m);
}

static int manifest_fill(struct json_object *o, struct moat_manifest *m, moat_error **err)
{
    if (schema2(o, err) < 0 || moat_json_str(o, "", "mediaType", false, &m->media_type, err) < 0)
        return -1;
    if (!m->media_type)
        m->media_type = xstrdup(MOAT_MT_OCI_MANIFEST);
    if (!strcmp(m->media_type, MOAT_MT_OCI_INDEX) || !strcmp(m->media_type, MOAT_MT_DOCKER_LIST))
        return moat_err(err, EINVAL, "/mediaType: an index (%s), not an image manifest", m->media_type);
    if (strcmp(m->media_type, MOAT_MT_OCI_MANIFEST) != 0 && strcmp(m->media_type, MOAT_MT_DOCKER_MANIFEST) != 0)
        return moat_err(err, ENOTSUP, "/mediaType: unsupported manifest type '%.100s'", m->media_type);
    struct json_object *c = NULL, *layers = NULL;
    if (moat_json_obj(o, "", "config", true, &c, err) < 0 || descriptor_parse(c, "/config", &m->config, err) < 0 ||
        moat_json_arr(o, "", "layers", true, &layers, err) < 0)
        return -1;
    size_t n = json_object_array_length(layers);
    if (n > MOAT_IMAGE_MAX_LAYERS)
        return moat_err(err, E2BIG, "/layers: %zu layers is over the limit of %d", n, MOAT_IMAGE_MAX_LAYERS);
    m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = moat_jpath_idx("/layers", i);
        m->n_layers = i + 1;
        if (descriptor_parse(json_object_array_get_idx(layers, i), p, &m->layers[i], err) < 0)
            return -1;
    }
    return 0;
}

int moat_manifest_parse(const char *buf, size_t len, const char *what, struct moat_manifest **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (parse_doc(buf, len, what, &o, err) < 0)
        return -1;
    struct moat_manifest *m = xcalloc(1, sizeof(*m));
    if (manifest_fill(o, m, err) < 0) {
        moat_manifest_free(m);
        return moat_err_wrap(err, "%s", what);
    }
    *ret = m;
    return 0;
}

void moat_index_free(struct moat_index *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++)
        moat_descriptor_clear(&x->manifests[i]);
    free(x->manifests);
    free(x);
}

static int index_fill(struct json_object *o, struct moat_index *x, moat_error **err)
{
    _cleanup_free_ char *mt = NULL;
    if (schema2(o, err) < 0 || moat_json_str(o, "", "mediaType", false, &mt, err) < 0)
        return -1;
    if (mt && strcmp(mt, MOAT_MT_OCI_INDEX) != 0 && strcmp(mt, MOAT_MT_DOCKER_LIST) != 0)
        return moat_err(err, EINVAL, "/mediaType: '%.100s' is not an image index", mt);
    struct json_object *ms = NULL;
    if (moat_json_arr(o, "", "manifests", true, &ms, err) < 0)
        return -1;
    size_t n = json_object_array_length(ms);
    if (n > MOAT_IMAGE_MAX_MANIFESTS)
        return moat_err(err, E2BIG, "/manifests: %zu entries is over the limit of %d", n, MOAT_IMAGE_MAX_MANIFESTS);
    x->manifests = xcalloc(n ? n : 1, sizeof(*x->manifests));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = moat_jpath_idx("/manifests", i);
        x->n = i + 1;
        if (descriptor_parse(json_object_array_get_idx(ms, i), p, &x->manifests[i], err) < 0)
            return -1;
    }
    return 0;
}

int moat_index_parse(const char *buf, size_t len, const char *what, struct moat_index **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (parse_doc(buf, len, what, &o, err) < 0)
        return -1;
    struct moat_index *x = xcalloc(1, sizeof(*x));
    if (index_fill(o, x, err) < 0) {
        moat_index_free(x);
        return moat_err_wrap(err, "%s", what);
    }
    *ret = x;
    return 0;
}

void moat_image_config_free(struct moat_image_config *c)
{
    if (!c)
        return;
    if (c->json)
        json_object_put(c->json);
    free(c->architecture);
    free(c->os);
    free(c->variant);
    free(c->created);
    free(c->author);
    moat_strv_free(c->diff_ids);
    for (size_t i = 0; i < c->n_history; i++) {
        free(c->history[i].created);
        free(c->history[i].created_by);
        free(c->history[i].author);
        free(c->history[i].comment);
    }
    free(c->history);
    free(c->user);
    free(c->working_dir);
    free(c->stop_signal);
    moat_strv_free(c->env);
    moat_strv_free(c->cmd);
    moat_strv_free(c->entrypoint);
    free(c);
}

/* The "config" section: Docker's container config fields that an image sets. */
static int exec_config(struct json_object *o, struct moat_image_config *c, moat_error **err)
{
    struct json_object *cc = NULL, *tmp = NULL;
    int r = moat_json_obj(o, "", "config", false, &cc, err);
    if (r <= 0)
        return r;
    static const char *const objs[] = {"ExposedPorts", "Volumes", "Healthcheck"};
    for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
        if (moat_json_obj(cc, "/config", objs[i], false, &tmp, err) < 0)
            return -1;
    char **labels = NULL, **onbuild = NULL, **shell = NULL;
    bool b;
    if (moat_json_str(cc, "/config", "User", false, &c->user, err) < 0 ||
        moat_json_str(cc, "/config", "WorkingDir", false, &c->working_dir, err) < 0 ||
        moat_json_str(cc, "/config", "StopSignal", false, &c->stop_signal, err) < 0 ||
        moat_json_strv(cc, "/config", "Env", false, MAX_STRV, &c->env, err) < 0 ||
        moat_json_strv(cc, "/config", "Cmd", false, MAX_STRV, &c->cmd, err) < 0 ||
        moat_json_strv(cc, "/config", "Entrypoint", false, MAX_STRV, &c->entrypoint, err) < 0 ||
        moat_json_strv(cc, "/config", "OnBuild", false, MAX_STRV, &onbuild, err) < 0 ||
        moat_json_strv(cc, "/config", "Shell", false, 64, &shell, err) < 0 ||
        moat_json_bool(cc, "/config", "ArgsEscaped", false, &b, err) < 0 ||
        string_map(cc, "/config", "Labels", &labels, err) < 0) {
        moat_strv_free(onbuild);
        moat_strv_free(shell);
        return -1;
    }
    moat_strv_free(labels);
    moat_strv_free(onbuild);
    moat_strv_free(shell);
    return 0;
}

static int history_parse(struct json_object *o, struct moat_image_config *c, moat_error **err)
{
    struct json_object *h = NULL;
    int r = moat_json_arr(o, "", "history", false, &h, err);
    if (r <= 0)
        return r;
    size_t n = json_object_array_length(h);
    if (n > MAX_HISTORY)
        return moat_err(err, E2BIG, "/history: %zu entries is over the limit of %d", n, MAX_HISTORY);
    c->history = xcalloc(n ? n : 1, sizeof(*c->history));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(h, i);
        _cleanup_free_ char *p = moat_jpath_idx("/history", i);
        struct moat_history *hi = &c->history[i];
        c->n_history = i + 1;
        if (!json_object_is_type(e, json_type_object))
            return moat_err(err, EINVAL, "%s: expected an object", p);
        if (moat_json_str(e, p, "created", false, &hi->created, err) < 0 ||
            moat_json_str(e, p, "created_by", false, &hi->created_by, err) < 0 ||
            moat_json_str(e, p, "author", false, &hi->author, err) < 0 ||
            moat_json_str(e, p, "comment", false, &hi->comment, err) < 0 ||
            moat_json_bool(e, p, "empty_layer", false, &hi->empty_layer, err) < 0)
            return -1;
    }
    return 0;
}

static int config_fill(struct json_object *o, struct moat_image_config *c, moat_error **err)
{
    if (moat_json_str(o, "", "architecture", false, &c->architecture, err) < 0 ||
        moat_json_str(o, "", "os", false, &c->os, err) < 0 ||
        moat_json_str(o, "", "variant", false, &c->variant, err) < 0 ||
        moat_json_str(o, "", "created", false, &c->created, err) < 0 ||
        moat_json_str(o, "", "author", false, &c->author, err) < 0)
        return -1;
    if (c->os && strcmp(c->os, "linux") != 0)
        return moat_err(err, ENOTSUP, "/os: '%.40s' images cannot run here (only linux)", c->os);
    struct json_object *rootfs = NULL, *ids = NULL;
    _cleanup_free_ char *type = NULL;
    if (moat_json_obj(o, "", "rootfs", true, &rootfs, err) < 0 ||
        moat_json_str(rootfs, "/rootfs", "type", true, &type, err) < 0)
        return -1;
    if (strcmp(type, "layers") != 0)
        return moat_err(err, EINVAL, "/rootfs/type: '%.40s', expected 'layers'", type);
    if (moat_json_arr(rootfs, "/rootfs", "diff_ids", true, &ids, err) < 0)
        return -1;
    size_t n = json_object_array_length(ids);
    if (n > MOAT_IMAGE_MAX_LAYERS)
        return moat_err(err, E2BIG, "/rootfs/diff_ids: %zu layers is over the limit of %d", n, MOAT_IMAGE_MAX_LAYERS);
    c->diff_ids = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = moat_jpath_idx("/rootfs/diff_ids", i);
        if (moat_json_val_str(json_object_array_get_idx(ids, i), p, &c->diff_ids[i], err) < 0)
            return -1;
        c->n_diff_ids = i + 1;
        if (!moat_digest_valid(c->diff_ids[i]))
            return moat_err(err, EINVAL, "%s: invalid digest '%.80s'", p, c->diff_ids[i]);
    }
    return history_parse(o, c, err) < 0 ? -1 : exec_config(o, c, err);
}

int moat_image_config_parse(const char *buf, size_t len, const char *what, struct moat_image_config **ret,
                            moat_error **err)
{
    struct json_object *o = NULL;
    if (parse_doc(buf, len, what, &o, err) < 0)
        return -1;
    struct moat_image_config *c = xcalloc(1, sizeof(*c));
    c->json = o;
    if (config_fill(o, c, err) < 0) {
        moat_image_config_free(c);
        return moat_err_wrap(err, "%s", what);
    }
    *ret = c;
    return 0;
}

void moat_archive_entries_free(struct moat_archive_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].config);
        moat_strv_free(e[i].repo_tags);
        moat_strv_free(e[i].layers);
    }
    free(e);
}

int moat_archive_manifest_parse(const char *buf, size_t len, const char *what, struct moat_archive_entry **ret,
                                size_t *ret_n, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse(buf, len, MOAT_IMAGE_DOC_MAX, what, &o, err) < 0)
        return -1;
    if (!json_object_is_type(o, json_type_array))
        return moat_err(err, EINVAL, "%s: expected a JSON array", what);
    size_t n = json_object_array_length(o);
    if (n > MOAT_IMAGE_MAX_MANIFESTS)
        return moat_err(err, E2BIG, "%s: %zu images is over the limit of %d", what, n, MOAT_IMAGE_MAX_MANIFESTS);
    struct moat_archive_entry *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(o, i);
        _cleanup_free_ char *p = moat_jpath_idx("", i);
        if (!json_object_is_type(e, json_type_object)) {
            moat_archive_entries_free(v, n);
            return moat_err(err, EINVAL, "%s: %s: expected an object", what, p);
        }
        if (moat_json_str(e, p, "Config", true, &v[i].config, err) < 0 ||
            moat_json_strv(e, p, "RepoTags", false, MAX_STRV, &v[i].repo_tags, err) < 0 ||
            moat_json_strv(e, p, "Layers", true, MOAT_IMAGE_MAX_LAYERS, &v[i].layers, err) < 0) {
            moat_archive_entries_free(v, n);
            return moat_err_wrap(err, "%s", what);
        }
        v[i].n_layers = moat_strv_len(v[i].layers);
        if (!v[i].repo_tags)
            v[i].repo_tags = xcalloc(1, sizeof(char *));
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

char *moat_doc_media_type(const char *buf, size_t len)
{
    struct json_object *o = NULL;
    moat_error *err = NULL;
    if (moat_json_parse(buf, len, MOAT_IMAGE_DOC_MAX, "document", &o, &err) < 0) {
        moat_error_free(err);
        return NULL;
    }
    char *mt = NULL;
    if (json_object_is_type(o, json_type_object) && moat_json_str(o, "", "mediaType", false, &mt, &err) < 0)
        moat_error_free(err);
    json_object_put(o);
    return mt;
}

char *moat_image_json(struct json_object *obj) { return moat_json_dump(obj, false); }

struct json_object *moat_descriptor_json(const char *media_type, const char *digest, int64_t size)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "mediaType", json_object_new_string(media_type));
    json_object_object_add(d, "digest", json_object_new_string(digest));
    json_object_object_add(d, "size", json_object_new_int64(size));
    return d;
}

const char *moat_go_arch(void)
{
    static const struct {
        const char *uname, *go;
    } map[] = {{"x86_64", "amd64"}, {"aarch64", "arm64"}, {"armv7l", "arm"},   {"i686", "386"},
               {"i386", "386"},     {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"}};
    static char machine[65];
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (!strcmp(u.machine, map[i].uname))
            return map[i].go;
    snprintf(machine, sizeof machine, "%s", u.machine);
    return machine;
}
