/* Volume endpoints over include/moat/volume.h: list, create, inspect, remove, prune. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "api/routes_images.h"
#include "engine/engine.h"
#include "moat/json.h"
#include "moat/path.h"
#include "moat/util.h"
#include "moat/volume.h"

#define SIZE_MAX_DEPTH 128
#define SIZE_MAX_ENTRIES 1000000u

/* ---- usage (df, prune with filters) ---------------------------------------------- */

static int size_walk(int dfd, unsigned depth, size_t *entries, uint64_t *sum, moat_error **err)
{
    if (depth > SIZE_MAX_DEPTH)
        return moat_err(err, ELOOP, "directory tree deeper than %d levels", SIZE_MAX_DEPTH);
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return moat_err_sys(err, "dup");
    _cleanup_closedir_ DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return moat_err_sys(err, "fdopendir");
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (++*entries > SIZE_MAX_ENTRIES)
            return moat_err(err, E2BIG, "more than %u files", SIZE_MAX_ENTRIES);
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* removed meanwhile */
        if (!S_ISDIR(st.st_mode)) {
            *sum += (uint64_t)st.st_size;
            continue;
        }
        /* One component, no symlink anywhere: confined to the volume. */
        moat_error *oe = NULL;
        int sub = moat_open_in_root(dfd, de->d_name, O_RDONLY | O_DIRECTORY, 0, MOAT_RESOLVE_NO_SYMLINKS, &oe);
        if (sub < 0) {
            moat_error_free(oe);
            continue;
        }
        int rc = size_walk(sub, depth + 1, entries, sum, err);
        close(sub);
        if (rc < 0)
            return -1;
    }
    if (errno)
        return moat_err_sys(err, "readdir");
    return 0;
}

int api_dir_size(const char *dir, uint64_t *ret, moat_error **err)
{
    if (!dir || !*dir)
        return moat_err(err, EINVAL, "no directory");
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", dir);
    size_t entries = 0;
    *ret = 0;
    return size_walk(fd, 0, &entries, ret, err);
}

/* ---- list ----------------------------------------------------------------------------- */

struct vol_filter {
    char **names, **labels, **drivers;
    int dangling;
};

static bool vol_keep(struct moat_engine *e, const struct vol_filter *f, const struct moat_volume *v)
{
    if (f->names) {
        bool any = false;
        for (size_t i = 0; f->names[i] && !any; i++)
            any = strstr(v->name, f->names[i]) != NULL; /* Docker: a substring match */
        if (!any)
            return false;
    }
    if (f->drivers) {
        const char *drv = v->driver ? v->driver : "local";
        bool any = false;
        for (size_t i = 0; f->drivers[i] && !any; i++)
            any = !strcmp(f->drivers[i], drv);
        if (!any)
            return false;
    }
    if (f->labels && !api_labels_match(f->labels, v->labels))
        return false;
    if (f->dangling >= 0) {
        _cleanup_free_ char *who = NULL;
        _cleanup_error_ moat_error *err = NULL;
        int used = moat_engine_volume_in_use(e, v->name, &who, &err);
        if (used < 0)
            return false;
        if ((used == 0) != (f->dangling == 1))
            return false;
    }
    return true;
}

static int bool_value(struct moat_http_req *r, const char *key, char **vals, int *ret)
{
    for (size_t i = 0; vals && vals[i]; i++) {
        if (!strcasecmp(vals[i], "true") || !strcmp(vals[i], "1"))
            *ret = 1;
        else if (!strcasecmp(vals[i], "false") || !strcmp(vals[i], "0"))
            *ret = 0;
        else {
            moat_http_reply_error(r, 400, "invalid filter '%s=%s'", key, vals[i]);
            return -1;
        }
    }
    return 0;
}

static void h_list(struct api_call *c)
{
    static const char *const allowed[] = {"name", "label", "dangling", "driver", NULL};
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters || !api_filters_only(c->req, filters, allowed))
        return;
    _cleanup_strv_ char **names = api_fvals(filters, "name");
    _cleanup_strv_ char **labels = api_fvals(filters, "label");
    _cleanup_strv_ char **drivers = api_fvals(filters, "driver");
    _cleanup_strv_ char **dang = api_fvals(filters, "dangling");
    struct vol_filter f = {.names = names, .labels = labels, .drivers = drivers, .dangling = -1};
    if (bool_value(c->req, "dangling", dang, &f.dangling) < 0)
        return;
    struct moat_volume *v = NULL;
    size_t n = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_volume_list(c->engine->volumes, &v, &n, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        if (vol_keep(c->engine, &f, &v[i]))
            json_object_array_add(a, moat_volume_json(&v[i]));
    moat_volumes_free(v, n);
    json_object_object_add(o, "Volumes", a);
    json_object_object_add(o, "Warnings", NULL);
    moat_http_reply_json(c->req, 200, o);
}

/* ---- create, inspect, remove ------------------------------------------------------------- */

/* {"k":"v",...} -> k, v, ..., NULL; -1 after answering 400. */
static int kv_from(struct api_call *c, struct json_object *body, const char *key, char ***ret)
{
    struct json_object *o = NULL;
    *ret = NULL;
    if (!json_object_object_get_ex(body, key, &o) || json_object_is_type(o, json_type_null))
        return 0;
    if (!json_object_is_type(o, json_type_object)) {
        moat_http_reply_error(c->req, 400, "/%s: expected an object", key);
        return -1;
    }
    json_object_object_foreach(o, k, v)
    {
        if (!json_object_is_type(v, json_type_string)) {
            moat_strv_free(*ret);
            *ret = NULL;
            moat_http_reply_error(c->req, 400, "/%s/%s: expected a string", key, k);
            return -1;
        }
        moat_strv_push(ret, k);
        moat_strv_push(ret, json_object_get_string(v));
    }
    return 0;
}

static int str_from(struct api_call *c, struct json_object *body, const char *key, const char **ret)
{
    struct json_object *o = NULL;
    *ret = NULL;
    if (!json_object_object_get_ex(body, key, &o) || json_object_is_type(o, json_type_null))
        return 0;
    if (!json_object_is_type(o, json_type_string)) {
        moat_http_reply_error(c->req, 400, "/%s: expected a string", key);
        return -1;
    }
    *ret = json_object_get_string(o);
    return 0;
}

static void h_create(struct api_call *c)
{
    _cleanup_json_ struct json_object *body = api_body_json(c, true);
    if (!body)
        return;
    const char *name = NULL, *driver = NULL;
    _cleanup_strv_ char **labels = NULL, **opts = NULL;
    if (str_from(c, body, "Name", &name) < 0 || str_from(c, body, "Driver", &driver) < 0 ||
        kv_from(c, body, "Labels", &labels) < 0 || kv_from(c, body, "DriverOpts", &opts) < 0)
        return;
    if (driver && *driver && strcmp(driver, "local") != 0) {
        moat_http_reply_error(c->req, 404, "error looking up volume plugin %s: plugin \"%s\" not found", driver,
                              driver);
        return;
    }
    struct moat_volume v;
    _cleanup_error_ moat_error *e = NULL;
    /* No name: Docker 20.10 makes a named volume with a random 64-hex name
     * (moat_volume_create generates it for an empty name). */
    if (moat_volume_create(c->engine->volumes, name && *name ? name : NULL, labels, opts, false, &v, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_engine_event(c->engine, "volume", "create", v.name, (char *const[]){"driver", "local", NULL});
    _cleanup_json_ struct json_object *o = moat_volume_json(&v);
    moat_volume_clear(&v);
    moat_http_reply_json(c->req, 201, o);
}

static void h_inspect(struct api_call *c)
{
    struct moat_volume v;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_volume_get(c->engine->volumes, c->params[0], &v, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = moat_volume_json(&v);
    moat_volume_clear(&v);
    moat_http_reply_json(c->req, 200, o);
}

static void h_remove(struct api_call *c)
{
    bool force = moat_http_query_bool(c->req, "force", false);
    struct moat_volume v;
    _cleanup_error_ moat_error *e = NULL;
    bool existed = moat_volume_get(c->engine->volumes, c->params[0], &v, &e) == 0;
    if (existed)
        moat_volume_clear(&v);
    moat_error_freep(&e);
    if (moat_volume_remove(c->engine->volumes, c->params[0], force, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    if (existed)
        moat_engine_event(c->engine, "volume", "destroy", c->params[0], NULL);
    moat_http_reply_empty(c->req, 204);
}

/* ---- prune ---------------------------------------------------------------------------------- */

/* With label terms: remove each matching unused volume (anonymous ones only unless all). */
static int prune_labels(struct moat_engine *e, bool all, char **labels, char **nlabels, char ***names,
                        uint64_t *reclaimed, moat_error **err)
{
    struct moat_volume *v = NULL;
    size_t n = 0;
    if (moat_volume_list(e->volumes, &v, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((!all && !v[i].anonymous) || !api_labels_match(labels, v[i].labels))
            continue;
        bool excluded = false;
        for (size_t k = 0; nlabels && nlabels[k] && !excluded; k++)
            excluded = api_labels_match((char *const[]){nlabels[k], NULL}, v[i].labels);
        if (excluded)
            continue;
        uint64_t size = 0;
        moat_error *se = NULL;
        if (api_dir_size(v[i].mountpoint, &size, &se) < 0)
            moat_error_free(se), size = 0;
        moat_error *re = NULL;
        if (moat_volume_remove(e->volumes, v[i].name, false, &re) < 0) {
            bool skip = re->errnum == EBUSY || re->errnum == ENOENT;
            if (!skip) {
                *err = re;
                moat_volumes_free(v, n);
                return -1;
            }
            moat_error_free(re);
            continue;
        }
        moat_strv_push(names, v[i].name);
        *reclaimed += size;
    }
    moat_volumes_free(v, n);
    return 0;
}

static void h_prune(struct api_call *c)
{
    static const char *const allowed[] = {"label", "label!", "all", NULL};
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters || !api_filters_only(c->req, filters, allowed))
        return;
    _cleanup_strv_ char **labels = api_fvals(filters, "label");
    _cleanup_strv_ char **nlabels = api_fvals(filters, "label!");
    _cleanup_strv_ char **allv = api_fvals(filters, "all");
    /* Moby: API < 1.42 prunes named volumes too (all=true implied). */
    int all = c->version_minor < 42 ? 1 : 0;
    if (bool_value(c->req, "all", allv, &all) < 0)
        return;
    _cleanup_strv_ char **names = NULL;
    uint64_t reclaimed = 0;
    _cleanup_error_ moat_error *e = NULL;
    int rc = labels || nlabels ? prune_labels(c->engine, all == 1, labels, nlabels, &names, &reclaimed, &e)
                               : moat_volumes_prune(c->engine->volumes, all == 1, &names, &reclaimed, &e);
    if (rc < 0) {
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; names && names[i]; i++) {
        json_object_array_add(a, json_object_new_string(names[i]));
        moat_engine_event(c->engine, "volume", "destroy", names[i], NULL);
    }
    json_object_object_add(o, "VolumesDeleted", a);
    json_object_object_add(o, "SpaceReclaimed", json_object_new_int64((int64_t)reclaimed));
    moat_http_reply_json(c->req, 200, o);
}

const struct api_route api_routes_volumes[] = {
    {"GET", "/volumes", h_list, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/volumes/create", h_create, MOAT_HTTP_BODY_MEMORY, 1u << 20, "volume.create"},
    {"POST", "/volumes/prune", h_prune, MOAT_HTTP_BODY_MEMORY, 0, "volume.prune"},
    {"GET", "/volumes/{name}", h_inspect, MOAT_HTTP_BODY_MEMORY, 0},
    {"DELETE", "/volumes/{name}", h_remove, MOAT_HTTP_BODY_MEMORY, 0, "volume.delete"},
    {NULL, NULL, NULL, MOAT_HTTP_BODY_MEMORY, 0},
};
