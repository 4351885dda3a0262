/* Image endpoints over the image store (include/moat/store.h): list, inspect,
 * history, tag, remove, prune, save, load, import, and the built-in busybox
 * as the one image `pull` can produce before registries arrive.
 *
 * Save, load, import and pull run in a forked child (its own store handle:
 * the store's flock lives on an fd that must not be shared) that writes into
 * a pipe the server streams to the client (moat_http_reply_fd), so the loop
 * never blocks on the store or on a slow client.  The child is reaped from a
 * SIGCHLD event (waitpid of its own pid only); what it did (the names it
 * loaded, the ID it imported) comes back through a memfd and becomes events. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "api/api.h"
#include "api/routes_images.h"
#include "engine/container.h"
#include "engine/engine.h"
#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/store.h"
#include "moat/util.h"

#define UPLOAD_LIMIT ((uint64_t)64 << 30) /* the store's own limits apply while unpacking */
#define SIDE_MAX (1u << 20)

/* ---- small shared helpers ----------------------------------------------------------- */

char **api_fvals(struct json_object *filters, const char *key)
{
    struct json_object *a = NULL;
    if (!filters || !json_object_object_get_ex(filters, key, &a) || !json_object_is_type(a, json_type_array))
        return NULL;
    char **v = xcalloc(json_object_array_length(a) + 1, sizeof *v);
    for (size_t i = 0; i < json_object_array_length(a); i++)
        v[i] = xstrdup(json_object_get_string(json_object_array_get_idx(a, i)));
    return v;
}

bool api_filters_only(struct moat_http_req *r, struct json_object *filters, const char *const *allowed)
{
    json_object_object_foreach(filters, key, val)
    {
        (void)val;
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(allowed[i], key);
        if (!ok) {
            moat_http_reply_error(r, 400, "invalid filter '%s'", key);
            return false;
        }
    }
    return true;
}

bool api_labels_match(char *const *terms, char *const *kv)
{
    for (size_t i = 0; terms && terms[i]; i++) {
        const char *eq = strchr(terms[i], '=');
        size_t klen = eq ? (size_t)(eq - terms[i]) : strlen(terms[i]);
        bool hit = false;
        for (size_t k = 0; kv && kv[k] && kv[k + 1] && !hit; k += 2)
            hit = strlen(kv[k]) == klen && !strncmp(kv[k], terms[i], klen) && (!eq || !strcmp(kv[k + 1], eq + 1));
        if (!hit)
            return false;
    }
    return true;
}

static struct json_object *image_labels_json(const struct moat_image *img)
{
    struct json_object *cfg = NULL, *labels = NULL;
    if (img->config && json_object_object_get_ex(img->config->json, "config", &cfg) &&
        json_object_object_get_ex(cfg, "Labels", &labels) && json_object_is_type(labels, json_type_object))
        return labels;
    return NULL;
}

static char **image_labels(const struct moat_image *img)
{
    char **kv = NULL;
    struct json_object *labels = image_labels_json(img);
    if (!labels)
        return NULL;
    json_object_object_foreach(labels, k, v)
    {
        moat_strv_push(&kv, k);
        moat_strv_push(&kv, json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "");
    }
    return kv;
}

static struct json_object *strv_json(char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

/* Familiar tags and repo digests, as moat_image_inspect computes them. */
static void image_names(const struct moat_image *img, char ***tags, char ***digests)
{
    for (size_t i = 0; img->names[i]; i++) {
        _cleanup_free_ char *fam = moat_ref_familiarize(img->names[i]);
        moat_strv_push(tags, fam);
        char *colon = strrchr(fam, ':'), *slash = strrchr(fam, '/');
        if (colon && (!slash || colon > slash))
            *colon = '\0';
        _cleanup_free_ char *dig = xasprintf("%s@%s", fam, img->manifest);
        if (!moat_strv_contains(*digests, dig))
            moat_strv_push(digests, dig);
    }
    if (!img->names[0]) { /* Docker 20.10's dangling image */
        moat_strv_push(tags, "<none>:<none>");
        moat_strv_push(digests, "<none>@<none>");
    }
}

static bool ref_matches(const char *pattern, const char *familiar);

/* refs: the reference filter's patterns; Docker then lists only the matching names. */
static struct json_object *image_summary(const struct moat_image *img, int64_t shared, int64_t containers,
                                         char *const *refs)
{
    struct json_object *o = json_object_new_object();
    _cleanup_strv_ char **tags = NULL, **digests = NULL;
    image_names(img, &tags, &digests);
    if (refs && img->names[0]) {
        _cleanup_strv_ char **t2 = NULL, **d2 = NULL;
        for (size_t i = 0; tags[i]; i++) {
            bool hit = false;
            for (size_t k = 0; refs[k] && !hit; k++)
                hit = ref_matches(refs[k], tags[i]);
            if (!hit)
                continue;
            moat_strv_push(&t2, tags[i]);
            _cleanup_free_ char *repo = xstrdup(tags[i]);
            char *colon = strrchr(repo, ':'), *slash = strrchr(repo, '/');
            if (colon && (!slash || colon > slash))
                *colon = '\0';
            _cleanup_free_ char *dig = xasprintf("%s@%s", repo, img->manifest);
            if (!moat_strv_contains(d2, dig))
                moat_strv_push(&d2, dig);
        }
        moat_strv_free(tags);
        moat_strv_free(digests);
        tags = t2 ? TAKE_PTR(t2) : xcalloc(1, sizeof(char *));
        digests = d2 ? TAKE_PTR(d2) : xcalloc(1, sizeof(char *));
    }
    json_object_object_add(o, "Containers", json_object_new_int64(containers));
    json_object_object_add(o, "Created", json_object_new_int64(img->created_unix));
    json_object_object_add(o, "Id", json_object_new_string(img->id));
    struct json_object *labels = image_labels_json(img);
    json_object_object_add(o, "Labels", labels ? json_object_get(labels) : NULL);
    json_object_object_add(o, "ParentId", json_object_new_string(""));
    json_object_object_add(o, "RepoDigests", strv_json(digests));
    json_object_object_add(o, "RepoTags", strv_json(tags));
    json_object_object_add(o, "SharedSize", json_object_new_int64(shared));
    json_object_object_add(o, "Size", json_object_new_int64((int64_t)img->size));
    json_object_object_add(o, "VirtualSize", json_object_new_int64((int64_t)img->size));
    return o;
}

static int64_t containers_using(struct moat_engine *e, const char *image_id)
{
    int64_t n = 0;
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (e->ctrs[i]->image_id && !strcmp(e->ctrs[i]->image_id, image_id))
            n++;
    return n;
}

/* How many images use the layer (by diff ID). */
static size_t layer_users(const struct moat_image *v, size_t n, const char *diff_id)
{
    size_t users = 0;
    for (size_t i = 0; i < n; i++) {
        bool has = false;
        for (size_t k = 0; v[i].config && k < v[i].config->n_diff_ids && !has; k++)
            has = !strcmp(v[i].config->diff_ids[k], diff_id);
        users += has;
    }
    return users;
}

/* Sizes are the unpacked layers' (what Size counts): layer_size() of the
 * image library (src/image/image_internal.h; worth a place in store.h). */
struct json_object *api_images_df(struct moat_engine *e, const struct moat_image *v, size_t n, uint64_t *ret_layers)
{
    struct json_object *a = json_object_new_array();
    _cleanup_strv_ char **seen = NULL;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t shared = 0;
        for (size_t k = 0; v[i].config && k < v[i].config->n_diff_ids; k++) {
            const char *id = v[i].config->diff_ids[k];
            uint64_t sz = 0;
            moat_error *le = NULL;
            if (layer_size(e->store, id, &sz, &le) < 0)
                moat_error_free(le); /* a missing layer counts 0, as in Size */
            if (layer_users(v, n, id) > 1)
                shared += (int64_t)sz;
            if (!moat_strv_contains(seen, id)) {
                moat_strv_push(&seen, id);
                total += sz;
            }
        }
        json_object_array_add(a, image_summary(&v[i], shared, containers_using(e, v[i].id), NULL));
    }
    *ret_layers = total;
    return a;
}

static void lookup_fail(struct api_call *c, moat_error *e)
{
    api_error_reply(c->req, e);
}

/* ---- GET /images/json ------------------------------------------------------------ */

struct img_filter {
    int dangling; /* -1 any */
    char **labels, **refs;
    int64_t before, since; /* 0: none */
    bool has_before, has_since;
};

static void img_filter_clear(struct img_filter *f)
{
    moat_strv_free(f->labels);
    moat_strv_free(f->refs);
}

static int parse_bool_filter(struct moat_http_req *r, char **vals, const char *key, int *ret)
{
    if (!vals)
        return 0;
    for (size_t i = 0; vals[i]; i++) {
        int b;
        if (!strcasecmp(vals[i], "true") || !strcmp(vals[i], "1"))
            b = 1;
        else if (!strcasecmp(vals[i], "false") || !strcmp(vals[i], "0"))
            b = 0;
        else {
            moat_http_reply_error(r, 400, "Invalid filter '%s=%s'", key, vals[i]);
            return -1;
        }
        if (*ret >= 0 && *ret != b) {
            moat_http_reply_error(r, 400, "Invalid filter '%s'", key);
            return -1;
        }
        *ret = b;
    }
    return 0;
}

/* before/since name an image: its creation time is the bound. */
static int time_of_image(struct api_call *c, char **vals, int64_t *ret, bool *has)
{
    for (size_t i = 0; vals && vals[i]; i++) {
        struct moat_image img;
        _cleanup_error_ moat_error *e = NULL;
        if (moat_image_lookup(c->engine->store, vals[i], 0, &img, &e) < 0) {
            lookup_fail(c, e);
            return -1;
        }
        *ret = img.created_unix;
        *has = true;
        moat_image_clear(&img);
    }
    return 0;
}

static int img_filter_parse(struct api_call *c, struct json_object *filters, struct img_filter *f)
{
    static const char *const allowed[] = {"dangling", "label", "reference", "before", "since", NULL};
    memset(f, 0, sizeof *f);
    f->dangling = -1;
    if (!api_filters_only(c->req, filters, allowed))
        return -1;
    _cleanup_strv_ char **dang = api_fvals(filters, "dangling");
    _cleanup_strv_ char **before = api_fvals(filters, "before");
    _cleanup_strv_ char **since = api_fvals(filters, "since");
    f->labels = api_fvals(filters, "label");
    f->refs = api_fvals(filters, "reference");
    if (parse_bool_filter(c->req, dang, "dangling", &f->dangling) < 0 ||
        time_of_image(c, before, &f->before, &f->has_before) < 0 ||
        time_of_image(c, since, &f->since, &f->has_since) < 0) {
        img_filter_clear(f);
        return -1;
    }
    return 0;
}

static bool ref_matches(const char *pattern, const char *familiar)
{
    _cleanup_free_ char *repo = xstrdup(familiar);
    char *colon = strrchr(repo, ':'), *slash = strrchr(repo, '/');
    if (colon && (!slash || colon > slash))
        *colon = '\0';
    return fnmatch(pattern, repo, FNM_PATHNAME) == 0 || fnmatch(pattern, familiar, FNM_PATHNAME) == 0;
}

static bool img_keep(const struct img_filter *f, const struct moat_image *img)
{
    bool dangling = !img->names[0];
    if (f->dangling >= 0 && dangling != (f->dangling == 1))
        return false;
    if (f->has_before && img->created_unix >= f->before)
        return false;
    if (f->has_since && img->created_unix <= f->since)
        return false;
    if (f->labels) {
        _cleanup_strv_ char **kv = image_labels(img);
        if (!api_labels_match(f->labels, kv))
            return false;
    }
    if (f->refs) {
        bool any = false;
        for (size_t k = 0; img->names[k] && !any; k++) {
            _cleanup_free_ char *fam = moat_ref_familiarize(img->names[k]);
            for (size_t i = 0; f->refs[i] && !any; i++)
                any = ref_matches(f->refs[i], fam);
        }
        if (!any)
            return false;
    }
    return true;
}

static void h_list(struct api_call *c)
{
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters)
        return;
    struct img_filter f;
    if (img_filter_parse(c, filters, &f) < 0)
        return;
    struct moat_image *v = NULL;
    size_t n = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_images_list(c->engine->store, &v, &n, &e) < 0) {
        img_filter_clear(&f);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        if (img_keep(&f, &v[i]))
            json_object_array_add(a, image_summary(&v[i], -1, -1, f.refs));
    moat_images_free(v, n);
    img_filter_clear(&f);
    moat_http_reply_json(c->req, 200, a);
}

/* ---- inspect, history --------------------------------------------------------------- */

static int find_image(struct api_call *c, const char *ref, struct moat_image *img)
{
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_lookup(c->engine->store, ref, 0, img, &e) < 0) {
        lookup_fail(c, e);
        return -1;
    }
    return 0;
}

/* T7: compose 1.29 reads ContainerConfig.Volumes.  The image's own
 * container_config when it has one, else Docker's empty shape. */
static struct json_object *container_config(const struct moat_image *img)
{
    struct json_object *cc = NULL;
    if (img->config && json_object_object_get_ex(img->config->json, "container_config", &cc) &&
        json_object_is_type(cc, json_type_object)) {
        struct json_object *copy = NULL;
        if (json_object_deep_copy(cc, &copy, NULL) == 0) {
            if (!json_object_object_get_ex(copy, "Volumes", NULL))
                json_object_object_add(copy, "Volumes", NULL);
            return copy;
        }
    }
    struct json_object *o = json_object_new_object();
    const char *strs[] = {"Hostname", "Domainname", "User"};
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
        json_object_object_add(o, strs[i], json_object_new_string(""));
    const char *bools[] = {"AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"};
    for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
        json_object_object_add(o, bools[i], json_object_new_boolean(0));
    json_object_object_add(o, "Env", NULL);
    json_object_object_add(o, "Cmd", NULL);
    json_object_object_add(o, "Image", json_object_new_string(""));
    json_object_object_add(o, "Volumes", NULL);
    json_object_object_add(o, "WorkingDir", json_object_new_string(""));
    json_object_object_add(o, "Entrypoint", NULL);
    json_object_object_add(o, "OnBuild", NULL);
    json_object_object_add(o, "Labels", NULL);
    return o;
}

static void h_inspect(struct api_call *c)
{
    struct moat_image img;
    if (find_image(c, c->params[0], &img) < 0)
        return;
    _cleanup_error_ moat_error *e = NULL;
    _cleanup_json_ struct json_object *o = NULL;
    /* GraphDriver.Name: the driver this engine's containers get (docker info's Driver) */
    _cleanup_free_ char *driver = NULL, *why = NULL;
    _cleanup_error_ moat_error *de = NULL;
    moat_engine_rootfs_driver(c->engine, &driver, &why, &de);
    if (moat_image_inspect(c->engine->store, &img, driver, &o, &e) < 0) {
        moat_image_clear(&img);
        api_error_reply(c->req, e);
        return;
    }
    if (!json_object_object_get_ex(o, "ContainerConfig", NULL))
        json_object_object_add(o, "ContainerConfig", container_config(&img));
    if (!json_object_object_get_ex(o, "Container", NULL))
        json_object_object_add(o, "Container", json_object_new_string(""));
    moat_image_clear(&img);
    moat_http_reply_json(c->req, 200, o);
}

static void h_history(struct api_call *c)
{
    struct moat_image img;
    if (find_image(c, c->params[0], &img) < 0)
        return;
    struct moat_history_row *rows = NULL;
    size_t n = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_history(c->engine->store, &img, &rows, &n, &e) < 0) {
        moat_image_clear(&img);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_strv_ char **tags = NULL, **digests = NULL;
    if (img.names[0])
        image_names(&img, &tags, &digests);
    _cleanup_json_ struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "Comment", json_object_new_string(rows[i].comment ? rows[i].comment : ""));
        json_object_object_add(o, "Created", json_object_new_int64(rows[i].created_unix));
        json_object_object_add(o, "CreatedBy", json_object_new_string(rows[i].created_by ? rows[i].created_by : ""));
        json_object_object_add(o, "Id", json_object_new_string(rows[i].id ? rows[i].id : "<missing>"));
        json_object_object_add(o, "Size", json_object_new_int64((int64_t)rows[i].size));
        json_object_object_add(o, "Tags", rows[i].id && tags ? strv_json(tags) : NULL);
        json_object_array_add(a, o);
    }
    moat_history_free(rows, n);
    moat_image_clear(&img);
    moat_http_reply_json(c->req, 200, a);
}

/* ---- tag, remove, prune -------------------------------------------------------------- */

static char *familiar_of(const char *ref)
{
    struct moat_ref r;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_ref_parse(ref, &r, &e) < 0)
        return xstrdup(ref);
    moat_ref_default_tag(&r);
    char *s = moat_ref_familiar_string(&r);
    moat_ref_clear(&r);
    return s;
}

static void h_tag(struct api_call *c)
{
    const char *repo = moat_http_query(c->req, "repo"), *tag = moat_http_query(c->req, "tag");
    if (!repo || !*repo) {
        moat_http_reply_error(c->req, 400, "repository name (repo) is required");
        return;
    }
    struct moat_image img;
    if (find_image(c, c->params[0], &img) < 0)
        return;
    _cleanup_free_ char *target = tag && *tag ? xasprintf("%s:%s", repo, tag) : xstrdup(repo);
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_tag(c->engine->store, c->params[0], target, &e) < 0) {
        moat_image_clear(&img);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_free_ char *fam = familiar_of(target);
    moat_engine_event(c->engine, "image", "tag", img.id, (char *const[]){"name", fam, NULL});
    moat_image_clear(&img);
    moat_http_reply_empty(c->req, 201);
}

/* Docker's [{"Untagged": ref}, {"Deleted": id}] from the store's lines; and
 * the untag/delete events (image_id: the image a removal by name started from). */
static struct json_object *removal_json(struct moat_engine *e, const struct moat_removal *r, const char *image_id)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; r->lines && r->lines[i]; i++) {
        const char *l = r->lines[i];
        const char *key = NULL, *val = NULL;
        if (moat_str_has_prefix(l, "Untagged: "))
            key = "Untagged", val = l + 10;
        else if (moat_str_has_prefix(l, "Deleted: "))
            key = "Deleted", val = l + 9;
        else
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, key, json_object_new_string(val));
        json_object_array_add(a, o);
        if (key[0] == 'U' && image_id)
            moat_engine_event(e, "image", "untag", image_id, (char *const[]){"name", (char *)image_id, NULL});
        else if (key[0] == 'D' && (!image_id || !strcmp(val, image_id)))
            moat_engine_event(e, "image", "delete", val, (char *const[]){"name", (char *)val, NULL});
    }
    return a;
}

static void h_remove(struct api_call *c)
{
    struct moat_image img;
    if (find_image(c, c->params[0], &img) < 0)
        return;
    bool force = moat_http_query_bool(c->req, "force", false);
    struct moat_removal r = {0};
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_remove(c->engine->store, c->params[0], force, &r, &e) < 0) {
        moat_image_clear(&img);
        moat_removal_clear(&r);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *a = removal_json(c->engine, &r, img.id);
    moat_removal_clear(&r);
    moat_image_clear(&img);
    moat_http_reply_json(c->req, 200, a);
}

int api_parse_time(const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (!errno && end != s && !*end) {
        *ret = (int64_t)d;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        rest = strptime(s, "%Y-%m-%d", &tm);
    if (rest && (!*rest || *rest == 'Z' || *rest == '.' || *rest == '+' || *rest == '-')) {
        *ret = (int64_t)timegm(&tm);
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        double unit;
        if (*p == 'h')
            unit = 3600, p++;
        else if (*p == 'm' && p[1] == 's')
            unit = 0.001, p += 2;
        else if (*p == 'm')
            unit = 60, p++;
        else if (*p == 's')
            unit = 1, p++;
        else
            return -1;
        total += v * unit;
    }
    if (p == s)
        return -1;
    *ret = (int64_t)time(NULL) - (int64_t)total;
    return 0;
}

/* Prune with label/until terms: remove each candidate by its names (never
 * forced), skipping what containers use. */
static int prune_filtered(struct api_call *c, bool all, char **labels, char **nlabels, bool has_until, int64_t until,
                          struct moat_removal *out, moat_error **err)
{
    struct moat_image *v = NULL;
    size_t n = 0;
    if (moat_images_list(c->engine->store, &v, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!all && v[i].names[0])
            continue;
        if (has_until && v[i].created_unix >= until)
            continue;
        _cleanup_strv_ char **kv = image_labels(&v[i]);
        if (!api_labels_match(labels, kv))
            continue;
        bool excluded = false;
        for (size_t k = 0; nlabels && nlabels[k] && !excluded; k++)
            excluded = api_labels_match((char *const[]){nlabels[k], NULL}, kv);
        if (excluded || containers_using(c->engine, v[i].id) > 0)
            continue;
        _cleanup_strv_ char **refs = v[i].names[0] ? moat_strv_dup(v[i].names) : NULL;
        if (!refs)
            moat_strv_push(&refs, v[i].id);
        for (size_t k = 0; refs[k]; k++) {
            struct moat_removal r = {0};
            moat_error *e = NULL;
            if (moat_image_remove(c->engine->store, refs[k], false, &r, &e) < 0) {
                moat_removal_clear(&r);
                if (e->errnum == EBUSY || e->errnum == ENOENT) {
                    moat_error_free(e);
                    break;
                }
                *err = e;
                moat_images_free(v, n);
                return -1;
            }
            for (size_t l = 0; r.lines && r.lines[l]; l++)
                moat_strv_push(&out->lines, r.lines[l]);
            out->reclaimed += r.reclaimed;
            moat_removal_clear(&r);
        }
    }
    moat_images_free(v, n);
    return 0;
}

static void h_prune(struct api_call *c)
{
    static const char *const allowed[] = {"dangling", "label", "label!", "until", NULL};
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters || !api_filters_only(c->req, filters, allowed))
        return;
    _cleanup_strv_ char **dang = api_fvals(filters, "dangling");
    _cleanup_strv_ char **labels = api_fvals(filters, "label");
    _cleanup_strv_ char **nlabels = api_fvals(filters, "label!");
    _cleanup_strv_ char **untils = api_fvals(filters, "until");
    int dangling = -1;
    if (parse_bool_filter(c->req, dang, "dangling", &dangling) < 0)
        return;
    int64_t until = 0;
    bool has_until = untils && untils[0];
    if (has_until && api_parse_time(untils[0], &until) < 0) {
        moat_http_reply_error(c->req, 400, "invalid filter 'until=%s'", untils[0]);
        return;
    }
    bool all = dangling == 0;
    struct moat_removal r = {0};
    _cleanup_error_ moat_error *e = NULL;
    int rc = labels || nlabels || has_until
                 ? prune_filtered(c, all, labels, nlabels, has_until, until, &r, &e)
                 : moat_images_prune(c->engine->store, all, &r, &e);
    if (rc < 0) {
        moat_removal_clear(&r);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *del = removal_json(c->engine, &r, NULL);
    json_object_object_add(o, "ImagesDeleted", del);
    json_object_object_add(o, "SpaceReclaimed", json_object_new_int64((int64_t)r.reclaimed));
    moat_removal_clear(&r);
    moat_http_reply_json(c->req, 200, o);
}

/* ---- jobs: forked children streaming into a pipe ---------------------------------------- */

struct job_args {
    char **refs;         /* save; pull: [ref] */
    char *ref, *message; /* import */
    char **changes;
};

typedef int (*job_work_fn)(struct moat_store *s, const struct job_args *a, int in_fd, int out_fd, int side_fd);
struct img_job;
typedef void (*job_done_fn)(struct img_job *j, int status, char **lines);

struct img_job {
    struct moat_engine *e;
    struct img_job *next; /* e->img_jobs */
    pid_t pid;
    struct event *ev;
    int side_fd;
    job_done_fn done;
};

static void job_free(struct img_job *j)
{
    for (struct img_job **p = &j->e->img_jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    if (j->ev)
        event_free(j->ev);
    if (j->side_fd >= 0)
        close(j->side_fd);
    free(j);
}

static char **side_lines(int fd)
{
    char **lines = NULL;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || moat_read_fd_bounded(fd, SIDE_MAX, &buf, &len, &e) < 0)
        return NULL;
    char *save = NULL;
    for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        moat_strv_push(&lines, t);
    return lines;
}

static void job_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct img_job *j = arg;
    int status = 0;
    pid_t p = waitpid(j->pid, &status, WNOHANG);
    if (p == 0 || (p < 0 && errno == EINTR))
        return; /* another child's SIGCHLD */
    if (p < 0) /* ECHILD: someone reaped it; its side channel still tells */
        status = 0;
    if (j->done) {
        _cleanup_strv_ char **lines = side_lines(j->side_fd);
        j->done(j, status, lines);
    }
    job_free(j);
}

/* In the child: keep fds (moved to 3, 4, 5, ...; -1 entries leave their slot
 * closed) and close every other descriptor, so no client connection or
 * listener of the server stays open in here. */
static int child_keep_fds(int *fds, int n)
{
    int tmp[8];
    for (int i = 0; i < n; i++) {
        tmp[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD, 3 + n) : -1;
        if (fds[i] >= 0 && tmp[i] < 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        if (tmp[i] >= 0) {
            if (dup2(tmp[i], 3 + i) < 0)
                return -1;
            fds[i] = 3 + i;
        } else {
            close(3 + i);
        }
    }
    if (syscall(SYS_close_range, 3 + n, ~0U, 0) == 0)
        return 0;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3 + n; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
    return 0;
}

static void write_json_line(int fd, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    moat_write_all(fd, s, strlen(s));
    moat_write_all(fd, "\n", 1);
}

static void write_status(int fd, const char *key, const char *val, const char *id)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, key, json_object_new_string(val));
    if (id)
        json_object_object_add(o, "id", json_object_new_string(id));
    write_json_line(fd, o);
}

/* The stream's failure object: errorDetail for the CLI and compose, error for docker-py. */
static void write_error(int fd, const char *msg)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "message", json_object_new_string(msg));
    json_object_object_add(o, "errorDetail", d);
    json_object_object_add(o, "error", json_object_new_string(msg));
    write_json_line(fd, o);
}

static __attribute__((noreturn)) void job_child(const char *root, job_work_fn work, const struct job_args *a,
                                                int in_fd, int out_fd, int side_fd)
{
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        signal(sigs[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a client gone: EPIPE, and the work fails */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fds[3] = {in_fd, out_fd, side_fd};
    if (child_keep_fds(fds, 3) < 0)
        _exit(2);
    struct moat_store_opts so = {.root = root};
    struct moat_store *s = NULL;
    moat_error *e = NULL;
    if (moat_store_open(&so, &s, &e) < 0) {
        if (fds[1] >= 0)
            write_error(fds[1], e->msg);
        _exit(1);
    }
    int rc = work(s, a, fds[0], fds[1], fds[2]);
    moat_store_close(s);
    _exit(rc < 0 ? 1 : 0);
}

/* Fork the work; *ret_out is the read end of its output pipe. */
static int job_spawn(struct moat_engine *e, job_work_fn work, const struct job_args *a, int in_fd, bool side,
                     job_done_fn done, int *ret_out, moat_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t pid;
    struct img_job *j = xcalloc(1, sizeof *j);
    j->e = e;
    j->done = done;
    j->side_fd = side ? memfd_create("moat-image-job", MFD_CLOEXEC) : -1;
    if (side && j->side_fd < 0) {
        moat_err_sys(err, "memfd_create");
        goto fail;
    }
    /* Installed before the fork: a child that exits at once is still seen. */
    j->ev = evsignal_new(e->base, SIGCHLD, job_sigchld, j);
    if (!j->ev || event_add(j->ev, NULL) < 0) {
        moat_err(err, EIO, "image job: cannot watch SIGCHLD");
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        moat_err_sys(err, "fork");
        goto fail;
    }
    if (pid == 0)
        job_child(e->store_root, work, a, in_fd, p[1], j->side_fd);
    j->pid = pid;
    j->next = e->img_jobs;
    e->img_jobs = j;
    close(p[1]);
    *ret_out = p[0];
    return 0;
fail:
    close(p[0]);
    close(p[1]);
    job_free(j);
    return -1;
}

void api_images_shutdown(struct moat_engine *e)
{
    while (e->img_jobs) {
        struct img_job *j = e->img_jobs;
        kill(j->pid, SIGKILL);
        int st;
        while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
            ;
        job_free(j);
    }
}

static void spawn_reply(struct api_call *c, job_work_fn work, const struct job_args *a, int in_fd, bool side,
                        job_done_fn done, const char *content_type)
{
    int out = -1;
    _cleanup_error_ moat_error *e = NULL;
    if (job_spawn(c->engine, work, a, in_fd, side, done, &out, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply_fd(c->req, 200, content_type, out);
}

/* ---- save ------------------------------------------------------------------------------ */

static int work_save(struct moat_store *s, const struct job_args *a, int in_fd, int out_fd, int side_fd)
{
    (void)in_fd, (void)side_fd;
    _cleanup_error_ moat_error *e = NULL;
    return moat_image_save(s, a->refs, out_fd, &e);
}

static void save_refs(struct api_call *c, char *const *refs)
{
    if (!refs || !refs[0]) {
        moat_http_reply_error(c->req, 400, "no image names given (names=)");
        return;
    }
    for (size_t i = 0; refs[i]; i++) { /* a missing name is a 404 before the stream */
        struct moat_image img;
        if (find_image(c, refs[i], &img) < 0)
            return;
        moat_image_clear(&img);
    }
    struct job_args a = {.refs = (char **)refs};
    spawn_reply(c, work_save, &a, -1, false, NULL, "application/x-tar");
}

static void h_save_many(struct api_call *c)
{
    save_refs(c, moat_http_query_all(c->req, "names"));
}

static void h_save_one(struct api_call *c)
{
    save_refs(c, (char *const[]){(char *)c->params[0], NULL});
}

/* ---- load ------------------------------------------------------------------------------ */

static int work_load(struct moat_store *s, const struct job_args *a, int in_fd, int out_fd, int side_fd)
{
    (void)a;
    _cleanup_strv_ char **lines = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_load(s, in_fd, NULL, &lines, &e) < 0) {
        write_error(out_fd, e->msg);
        return -1;
    }
    for (size_t i = 0; lines && lines[i]; i++) {
        _cleanup_free_ char *l = xasprintf("%s\n", lines[i]);
        write_status(out_fd, "stream", l, NULL);
        moat_write_all(side_fd, l, strlen(l));
    }
    return 0;
}

static void event_for_ref(struct moat_engine *e, const char *action, const char *ref, const char *name)
{
    struct moat_image img;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_image_lookup(e->store, ref, 0, &img, &err) < 0)
        return;
    moat_engine_event(e, "image", action, img.id, (char *const[]){"name", (char *)(name ? name : img.id), NULL});
    moat_image_clear(&img);
}

static void load_done(struct img_job *j, int status, char **lines)
{
    (void)status;
    for (size_t i = 0; lines && lines[i]; i++) {
        const char *l = lines[i];
        if (moat_str_has_prefix(l, "Loaded image ID: "))
            event_for_ref(j->e, "load", l + 17, NULL);
        else if (moat_str_has_prefix(l, "Loaded image: "))
            event_for_ref(j->e, "load", l + 14, l + 14);
    }
}

static int body_fd(struct api_call *c)
{
    int fd = moat_http_body_fd(c->req);
    if (fd < 0 || moat_http_body_len(c->req) == 0) {
        moat_http_reply_error(c->req, 400, "the request has no body (an archive was expected)");
        return -1;
    }
    return fd;
}

static void h_load(struct api_call *c)
{
    int fd = body_fd(c);
    if (fd < 0)
        return;
    struct job_args a = {0};
    spawn_reply(c, work_load, &a, fd, true, load_done, "application/json");
}

/* ---- create: import and pull -------------------------------------------------------------- */

static int work_import(struct moat_store *s, const struct job_args *a, int in_fd, int out_fd, int side_fd)
{
    struct moat_import_opts o = {.ref = a->ref, .changes = a->changes, .message = a->message, .source = "-"};
    _cleanup_free_ char *id = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_image_import(s, in_fd, &o, &id, &e) < 0) {
        write_error(out_fd, e->msg);
        return -1;
    }
    write_status(out_fd, "status", id, NULL);
    _cleanup_free_ char *l = xasprintf("%s\n%s\n", id, a->ref ? a->ref : "");
    moat_write_all(side_fd, l, strlen(l));
    return 0;
}

static void import_done(struct img_job *j, int status, char **lines)
{
    (void)status;
    if (!lines || !lines[0])
        return;
    moat_engine_event(j->e, "image", "import", lines[0], (char *const[]){"name", lines[0], NULL});
    if (lines[1]) {
        _cleanup_free_ char *fam = familiar_of(lines[1]);
        moat_engine_event(j->e, "image", "tag", lines[0], (char *const[]){"name", fam, NULL});
    }
}

static void do_import(struct api_call *c, const char *src)
{
    if (strcmp(src, "-") != 0) {
        moat_http_reply_error(c->req, 501, "import from '%s': only an uploaded archive (fromSrc=-) is supported", src);
        return;
    }
    int fd = body_fd(c);
    if (fd < 0)
        return;
    const char *repo = moat_http_query(c->req, "repo"), *tag = moat_http_query(c->req, "tag");
    _cleanup_free_ char *ref = NULL;
    if (repo && *repo)
        ref = tag && *tag ? xasprintf("%s:%s", repo, tag) : xstrdup(repo);
    const char *msg = moat_http_query(c->req, "message");
    struct job_args a = {.ref = ref,
                         .message = msg && *msg ? (char *)msg : NULL,
                         .changes = (char **)moat_http_query_all(c->req, "changes")};
    if (a.changes && !a.changes[0])
        a.changes = NULL;
    spawn_reply(c, work_import, &a, fd, true, import_done, "application/json");
}

static int work_pull_busybox(struct moat_store *s, const struct job_args *a, int in_fd, int out_fd, int side_fd)
{
    (void)a, (void)in_fd;
    write_status(out_fd, "status", "Pulling from library/busybox", "latest");
    struct moat_image img;
    moat_error *e = NULL;
    bool had = moat_image_lookup(s, "busybox:latest", 0, &img, &e) == 0;
    if (!had) {
        moat_error_free(e);
        e = NULL;
        if (moat_image_lookup(s, "busybox:latest", MOAT_LOOKUP_BUILTIN, &img, &e) < 0) {
            write_error(out_fd, e->msg);
            moat_error_free(e);
            return -1;
        }
    }
    _cleanup_free_ char *dig = xasprintf("Digest: %s", img.manifest);
    write_status(out_fd, "status", dig, NULL);
    write_status(out_fd, "status",
                 had ? "Status: Image is up to date for busybox:latest"
                     : "Status: Downloaded newer image for busybox:latest",
                 NULL);
    moat_write_all(side_fd, img.id, strlen(img.id));
    moat_image_clear(&img);
    return 0;
}

static void pull_done(struct img_job *j, int status, char **lines)
{
    (void)status;
    if (lines && lines[0])
        moat_engine_event(j->e, "image", "pull", "busybox:latest", (char *const[]){"name", "busybox", NULL});
}

static void do_pull(struct api_call *c, const char *from)
{
    const char *tag = moat_http_query(c->req, "tag");
    _cleanup_free_ char *s = NULL;
    if (tag && *tag)
        s = moat_str_has_prefix(tag, "sha256:") ? xasprintf("%s@%s", from, tag) : xasprintf("%s:%s", from, tag);
    else
        s = xstrdup(from);
    struct moat_ref r;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_ref_parse(s, &r, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_ref_default_tag(&r);
    _cleanup_free_ char *name = moat_ref_name(&r);
    _cleanup_free_ char *fam = moat_ref_familiar_name(&r);
    bool builtin = !strcmp(name, "docker.io/library/busybox") && !r.digest && r.tag && !strcmp(r.tag, "latest");
    moat_ref_clear(&r);
    if (!builtin) {
        moat_http_reply_error(c->req, 404,
                              "pull access denied for %s, repository does not exist or may require 'docker login': "
                              "registries arrive with the registry issue",
                              fam);
        return;
    }
    struct job_args a = {0};
    spawn_reply(c, work_pull_busybox, &a, -1, true, pull_done, "application/json");
}

static void h_create(struct api_call *c)
{
    const char *from = moat_http_query(c->req, "fromImage"), *src = moat_http_query(c->req, "fromSrc");
    if (from && *from)
        do_pull(c, from);
    else if (src && *src)
        do_import(c, src);
    else
        moat_http_reply_error(c->req, 400, "fromImage or fromSrc is required");
}

/* Literal paths before the {name*} patterns ("/images/get" is not image "get"'s json). */
const struct api_route api_routes_images[] = {
    {"GET", "/images/json", h_list, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/images/get", h_save_many, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/images/load", h_load, MOAT_HTTP_BODY_SPOOL, UPLOAD_LIMIT, "image.load"},
    {"POST", "/images/create", h_create, MOAT_HTTP_BODY_SPOOL, UPLOAD_LIMIT, "image.create"},
    {"POST", "/images/prune", h_prune, MOAT_HTTP_BODY_MEMORY, 0, "image.prune"},
    {"GET", "/images/{name*}/json", h_inspect, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/images/{name*}/history", h_history, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/images/{name*}/get", h_save_one, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/images/{name*}/tag", h_tag, MOAT_HTTP_BODY_MEMORY, 0, "image.tag"},
    {"DELETE", "/images/{name*}", h_remove, MOAT_HTTP_BODY_MEMORY, 0, "image.delete"},
    {NULL, NULL, NULL, MOAT_HTTP_BODY_MEMORY, 0},
};
