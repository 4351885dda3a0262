/* docker image inspect and docker history, in Docker's shapes. */
#include <errno.h>
#include <string.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) && !json_object_is_type(v, json_type_null) ? v : NULL;
}

static struct json_object *copy_or(struct json_object *o, const char *key, struct json_object *dflt)
{
    struct json_object *v = get(o, key);
    if (!v)
        return dflt;
    json_object_put(dflt);
    struct json_object *c = NULL;
    json_object_deep_copy(v, &c, NULL);
    return c;
}

/* Docker's container config with its defaults for the fields an image leaves out. */
static struct json_object *docker_config(struct json_object *cfg)
{
    struct json_object *cc = get(cfg, "config");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Hostname", json_object_new_string(""));
    json_object_object_add(o, "Domainname", json_object_new_string(""));
    json_object_object_add(o, "User", copy_or(cc, "User", json_object_new_string("")));
    json_object_object_add(o, "AttachStdin", json_object_new_boolean(0));
    json_object_object_add(o, "AttachStdout", json_object_new_boolean(0));
    json_object_object_add(o, "AttachStderr", json_object_new_boolean(0));
    if (get(cc, "ExposedPorts"))
        json_object_object_add(o, "ExposedPorts", copy_or(cc, "ExposedPorts", NULL));
    json_object_object_add(o, "Tty", json_object_new_boolean(0));
    json_object_object_add(o, "OpenStdin", json_object_new_boolean(0));
    json_object_object_add(o, "StdinOnce", json_object_new_boolean(0));
    json_object_object_add(o, "Env", copy_or(cc, "Env", NULL));
    json_object_object_add(o, "Cmd", copy_or(cc, "Cmd", NULL));
    if (get(cc, "Healthcheck"))
        json_object_object_add(o, "Healthcheck", copy_or(cc, "Healthcheck", NULL));
    if (get(cc, "ArgsEscaped"))
        json_object_object_add(o, "ArgsEscaped", copy_or(cc, "ArgsEscaped", NULL));
    json_object_object_add(o, "Image", json_object_new_string(""));
    json_object_object_add(o, "Volumes", copy_or(cc, "Volumes", NULL));
    json_object_object_add(o, "WorkingDir", copy_or(cc, "WorkingDir", json_object_new_string("")));
    json_object_object_add(o, "Entrypoint", copy_or(cc, "Entrypoint", NULL));
    json_object_object_add(o, "OnBuild", copy_or(cc, "OnBuild", NULL));
    json_object_object_add(o, "Labels", copy_or(cc, "Labels", NULL));
    if (get(cc, "StopSignal"))
        json_object_object_add(o, "StopSignal", copy_or(cc, "StopSignal", NULL));
    if (get(cc, "Shell"))
        json_object_object_add(o, "Shell", copy_or(cc, "Shell", NULL));
    return o;
}

static struct json_object *strs(char **v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

int moat_image_inspect(struct moat_store *s, const struct moat_image *img, const char *driver, struct json_object **ret,
                       moat_error **err)
{
    (void)err;
    struct json_object *cfg = img->config->json;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", json_object_new_string(img->id));
    char **tags = NULL, **digests = NULL;
    for (size_t i = 0; img->names[i]; i++) {
        char *fam = moat_ref_familiarize(img->names[i]);
        moat_strv_push(&tags, fam);
        char *colon = strrchr(fam, ':'), *slash = strrchr(fam, '/');
        if (colon && (!slash || colon > slash))
            *colon = '\0';
        char *dig = xasprintf("%s@%s", fam, img->manifest);
        if (!moat_strv_contains(digests, dig))
            moat_strv_push(&digests, dig);
        free(dig);
        free(fam);
    }
    json_object_object_add(o, "RepoTags", strs(tags));
    json_object_object_add(o, "RepoDigests", strs(digests));
    moat_strv_free(tags);
    moat_strv_free(digests);
    json_object_object_add(o, "Parent", json_object_new_string(""));
    json_object_object_add(o, "Comment", copy_or(cfg, "comment", json_object_new_string("")));
    json_object_object_add(o, "Created", json_object_new_string(img->created ? img->created : ""));
    json_object_object_add(o, "DockerVersion", copy_or(cfg, "docker_version", json_object_new_string("")));
    json_object_object_add(o, "Author", json_object_new_string(img->config->author ? img->config->author : ""));
    json_object_object_add(o, "Config", docker_config(cfg));
    json_object_object_add(o, "Architecture",
                           json_object_new_string(img->config->architecture ? img->config->architecture : ""));
    if (img->config->variant)
        json_object_object_add(o, "Variant", json_object_new_string(img->config->variant));
    json_object_object_add(o, "Os", json_object_new_string(img->config->os ? img->config->os : "linux"));
    json_object_object_add(o, "Size", json_object_new_int64((int64_t)img->size));
    struct json_object *gd = json_object_new_object(), *data = json_object_new_object();
    size_t n = img->config->n_diff_ids;
    if (n) {
        _cleanup_free_ char *upper = xasprintf("%s/layers/%s/diff", s->root, moat_digest_hex(img->config->diff_ids[n - 1]));
        char *lower = xstrdup("");
        for (size_t i = n - 1; i-- > 0;) {
            char *t = xasprintf("%s%s%s/layers/%s/diff", lower, *lower ? ":" : "", s->root,
                                moat_digest_hex(img->config->diff_ids[i]));
            free(lower);
            lower = t;
        }
        if (*lower)
            json_object_object_add(data, "LowerDir", json_object_new_string(lower));
        json_object_object_add(data, "UpperDir", json_object_new_string(upper));
        free(lower);
    }
    json_object_object_add(gd, "Data", data);
    json_object_object_add(gd, "Name", json_object_new_string(driver ? driver : "overlay"));
    json_object_object_add(o, "GraphDriver", gd);
    struct json_object *rootfs = json_object_new_object();
    json_object_object_add(rootfs, "Type", json_object_new_string("layers"));
    json_object_object_add(rootfs, "Layers", strs(img->config->diff_ids));
    json_object_object_add(o, "RootFS", rootfs);
    struct json_object *meta = json_object_new_object();
    json_object_object_add(meta, "LastTagTime",
                           json_object_new_string(img->last_tag_time ? img->last_tag_time : "0001-01-01T00:00:00Z"));
    json_object_object_add(o, "Metadata", meta);
    *ret = o;
    return 0;
}

void moat_history_free(struct moat_history_row *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].created);
        free(v[i].created_by);
        free(v[i].comment);
    }
    free(v);
}

int moat_image_history(struct moat_store *s, const struct moat_image *img, struct moat_history_row **ret,
                       size_t *ret_n, moat_error **err)
{
    (void)err;
    const struct moat_image_config *c = img->config;
    size_t n = c->n_history;
    if (n == 0) {
        /* no history in the config: one row per layer, as Docker shows it */
        n = c->n_diff_ids;
        struct moat_history_row *v = xcalloc(n ? n : 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
            struct moat_history_row *r = &v[n - 1 - i];
            r->created = xstrdup_or_null(img->created);
            r->created_unix = img->created_unix;
            r->created_by = xstrdup("");
            r->comment = xstrdup("");
            moat_error *e = NULL;
            if (layer_size(s, c->diff_ids[i], &r->size, &e) < 0)
                moat_error_free(e);
        }
        if (n)
            v[0].id = xstrdup(img->id);
        *ret = v;
        *ret_n = n;
        return 0;
    }
    struct moat_history_row *v = xcalloc(n ? n : 1, sizeof(*v));
    size_t layer = 0;
    /* the config lists history oldest first; each non-empty entry made the next layer */
    for (size_t i = 0; i < n; i++) {
        struct moat_history_row *r = &v[n - 1 - i];
        const struct moat_history *h = &c->history[i];
        r->created = xstrdup_or_null(h->created);
        r->created_unix = image_parse_time(h->created);
        r->created_by = xstrdup(h->created_by ? h->created_by : "");
        r->comment = xstrdup(h->comment ? h->comment : "");
        if (!h->empty_layer && layer < c->n_diff_ids) {
            moat_error *e = NULL;
            if (layer_size(s, c->diff_ids[layer], &r->size, &e) < 0)
                moat_error_free(e);
            layer++;
        }
    }
    if (n)
        v[0].id = xstrdup(img->id);
    *ret = v;
    *ret_n = n;
    return 0;
}
