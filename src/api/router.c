/* The Docker API router: version prefix, route tables, path parameters,
 * filters, error mapping.  See api.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "engine/engine.h"
#include "moat/audit.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"

const char *const api_default_headers[] = {
    "API-Version", MOAT_API_VERSION, "OSType", "linux", "Server", "moat/" MOAT_VERSION " (linux)",
    "Docker-Experimental", "false", NULL};

static const struct api_route *const tables[] = {api_routes_system, api_routes_images, api_routes_containers,
                                                 api_routes_ctr_extra, api_routes_ctr_io, api_routes_exec,
                                                 api_routes_volumes};

int api_errno_status(int errnum)
{
    switch (errnum) {
    case ENOENT: return 404;
    case EEXIST:
    case EBUSY:
    case ENOTEMPTY: return 409;
    case EINVAL:
    case E2BIG:
    case ENAMETOOLONG:
    case EBADMSG: return 400;
    case EPERM:
    case EACCES:
    case EROFS: return 403;
    case ENOSYS:
    case EOPNOTSUPP: return 501;
    case EALREADY: return 304;
    default: return 500;
    }
}

void api_error_reply(struct moat_http_req *r, const moat_error *e)
{
    int st = api_errno_status(e ? e->errnum : 0);
    if (st == 304) {
        moat_http_reply_empty(r, 304);
        return;
    }
    moat_http_reply_error(r, st, "%s", e && e->msg ? e->msg : "internal error");
}

/* "/v1.41/x" -> "/x" with minor 41; "/x" -> 41.  An unsupported version: -1 with the
 * 400 message in why (a static-size buffer). */
int api_strip_version(const char **path, unsigned *minor, char *why, size_t whysz)
{
    const char *p = *path;
    *minor = 41;
    if (p[0] != '/' || p[1] != 'v' || p[2] < '0' || p[2] > '9')
        return 0;
    const char *q = p + 2;
    unsigned major = 0, mi = 0;
    while (*q >= '0' && *q <= '9' && major < 1000)
        major = major * 10 + (unsigned)(*q++ - '0');
    if (*q != '.')
        return 0;
    q++;
    if (*q < '0' || *q > '9')
        return 0;
    while (*q >= '0' && *q <= '9' && mi < 1000)
        mi = mi * 10 + (unsigned)(*q++ - '0');
    if (*q != '/' && *q != '\0')
        return 0;
    if (major > 1 || (major == 1 && mi > 41)) {
        snprintf(why, whysz, "client version %u.%u is too new. Maximum supported API version is %s", major, mi,
                 MOAT_API_VERSION);
        return -1;
    }
    if (major < 1 || mi < 24) {
        snprintf(why, whysz, "client version %u.%u is too old. Minimum supported API version is %s, please "
                             "upgrade your client to a newer version",
                 major, mi, MOAT_API_MIN_VERSION);
        return -1;
    }
    *minor = mi;
    *path = *q ? q : "/";
    return 0;
}

/* Segment-wise match.  Captures point into buf (a writable copy of the path). */
static bool match(const char *pattern, char *buf, const char **params)
{
    char *segs[64];
    size_t n = 0;
    for (char *s = buf + 1; n < ARRAY_SIZE(segs);) {
        segs[n++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    /* Pattern segments. */
    char pat[256];
    size_t patlen = strlen(pattern);
    if (patlen >= sizeof pat)
        return false;
    memcpy(pat, pattern, patlen + 1);
    char *psegs[16];
    size_t pn = 0;
    for (char *s = pat + 1; pn < ARRAY_SIZE(psegs);) {
        psegs[pn++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    size_t np = 0, i = 0;
    for (size_t k = 0; k < pn; k++) {
        const char *ps = psegs[k];
        size_t plen = strlen(ps);
        if (plen > 3 && ps[0] == '{' && ps[plen - 2] == '*' && ps[plen - 1] == '}') {
            /* Greedy name: everything up to the literal suffix segments. */
            size_t suffix = pn - k - 1;
            if (n < i + suffix + 1)
                return false;
            size_t last = n - suffix; /* segs[i .. last-1] form the name */
            for (size_t j = i + 1; j < last; j++)
                segs[j][-1] = '/'; /* re-join */
            if (np < MOAT_API_MAX_PARAMS)
                params[np++] = segs[i];
            if (!segs[i][0])
                return false;
            i = last;
            continue;
        }
        if (i >= n)
            return false;
        if (ps[0] == '{') {
            if (!segs[i][0])
                return false;
            if (np < MOAT_API_MAX_PARAMS)
                params[np++] = segs[i];
        } else if (strcmp(ps, segs[i]) != 0) {
            return false;
        }
        i++;
    }
    return i == n;
}

struct found {
    const struct api_route *route;
    bool path_known;
};

static struct found lookup(const char *method, const char *path, char *buf, size_t bufsz, const char **params)
{
    struct found f = {0};
    for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
        for (const struct api_route *rt = tables[t]; rt && rt->method; rt++) {
            snprintf(buf, bufsz, "%s", path);
            const char *tmp[MOAT_API_MAX_PARAMS] = {0};
            if (!match(rt->pattern, buf, tmp))
                continue;
            f.path_known = true;
            bool ok = !strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"));
            if (!ok)
                continue;
            memcpy(params, tmp, sizeof tmp);
            f.route = rt;
            return f;
        }
    }
    return f;
}

const struct api_route *api_route_find(const char *method, const char *path, char *buf, size_t bufsz,
                                       const char **params, bool *path_known)
{
    struct found f = lookup(method, path, buf, bufsz, params);
    *path_known = f.path_known;
    return f.route;
}

struct route_data {
    char buf[8192];
};

/* ---- the audit log ---------------------------------------------------------------------- */
/* Recorded: every route that is not GET/HEAD, and a GET that evaluates policy (archive: cp out). */
static bool route_audited(const char *method, const struct api_route *rt)
{
    if (!strcmp(method, "HEAD"))
        return false;
    if (rt->readonly)
        return false;
    return strcmp(rt->method, "GET") != 0 || rt->policy;
}

static void set_identity(struct api_call *c)
{
    uid_t uid;
    if (c->req && moat_http_peer(c->req, NULL, &uid, NULL)) {
        snprintf(c->identity, sizeof c->identity, "uid:%u", (unsigned)uid);
        c->who.id.uid = uid;
        c->who.id_known = true;
    } else {
        snprintf(c->identity, sizeof c->identity, "unknown");
    }
    c->who.identity = c->identity;
}

int api_audit(struct api_call *c, const char *object, const char *decision, char *const *reasons, const char *policy)
{
    if (!c->identity[0])
        set_identity(c);
    _cleanup_free_ char *fallback = NULL;
    struct moat_caller who = c->who;
    if (!who.action)
        who.action = fallback = c->route ? xasprintf("%s %s", c->route->method, c->route->pattern) : xstrdup("unknown");
    who.identity = c->identity;
    who.object = object ? object : c->object;
    who.recorded = &c->audited;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_engine_audit(c->engine, &who, decision, reasons, policy, &err) < 0) {
        moat_http_reply_error(c->req, 500, "%s", err->msg);
        return -1;
    }
    return 0;
}

void api_audit_failure(struct api_call *c, const moat_error *e)
{
    /* Only after an "allow" is on the record: a denial is already recorded with its reasons,
     * and an audit failure cannot be recorded. */
    if (!c->audited || !e || e->errnum == EPERM || (e->msg && !strncmp(e->msg, "audit log:", 10)))
        return;
    char *const why[] = {e->msg ? e->msg : (char *)"failed", NULL};
    struct moat_caller who = c->who;
    who.recorded = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_engine_audit(c->engine, &who, "error", why, NULL, &err) < 0)
        moat_log(MOAT_LOG_ERROR, "%s", err->msg);
}

/* What the request acts on, for the router's own records: the path's {x}, else the name
 * given in the query (create, commit, pull) or volume create's JSON body. */
static char *audit_object(struct api_call *c)
{
    if (c->params[0])
        return xstrdup(c->params[0]);
    static const char *const keys[] = {"name", "container", "fromImage", "fromSrc", "repo"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *q = moat_http_query(c->req, keys[i]);
        if (q && q[0])
            return xstrdup(q);
    }
    /* Only volume create names its object in the body: other bodies (a create's, up to 4 MiB)
     * are not parsed a second time for the record. */
    if (!c->route || !c->route->action || strcmp(c->route->action, "volume.create"))
        return xstrdup("");
    size_t len = 0;
    const char *b = moat_http_body(c->req, &len);
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_error_ moat_error *e = NULL;
    struct json_object *v = NULL;
    if (b && len && moat_json_parse(b, len, 4u << 20, "body", &o, &e) == 0 && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "Name", &v) && json_object_is_type(v, json_type_string))
        return xstrdup(json_object_get_string(v));
    return xstrdup("");
}

enum moat_http_body_mode api_body_mode(struct moat_http_req *r, void *ctx, uint64_t *ret_limit)
{
    (void)ctx;
    const char *path = moat_http_path(r);
    unsigned minor;
    char buf[8192];
    const char *params[MOAT_API_MAX_PARAMS];
    *ret_limit = 4u << 20;
    if (strlen(path) >= sizeof buf)
        return MOAT_HTTP_BODY_REJECT;
    /* Versions are checked again (with an answer) in dispatch. */
    const char *p = path;
    if (p[0] == '/' && p[1] == 'v') {
        const char *q = strchr(p + 1, '/');
        p = q ? q : "/";
    }
    (void)minor;
    struct found f = lookup(moat_http_method(r), p, buf, sizeof buf, params);
    if (!f.route)
        return MOAT_HTTP_BODY_MEMORY; /* small; dispatch answers 404/405 */
    if (f.route->body_limit)
        *ret_limit = f.route->body_limit;
    return f.route->body;
}

void api_dispatch(struct moat_http_req *r, void *ctx)
{
    const char *path = moat_http_path(r);
    unsigned minor = 41;
    if (strlen(path) >= sizeof(((struct route_data *)0)->buf)) {
        moat_http_reply_error(r, 414, "request path too long");
        return;
    }
    char why[256];
    if (api_strip_version(&path, &minor, why, sizeof why) < 0) {
        moat_http_reply_error(r, 400, "%s", why);
        return;
    }
    struct route_data *rd = xmalloc(sizeof *rd);
    struct api_call c = {.engine = ctx, .req = r, .version_minor = minor};
    struct found f = lookup(moat_http_method(r), path, rd->buf, sizeof rd->buf, c.params);
    if (!f.route) {
        if (f.path_known)
            moat_http_reply_error(r, 405, "method %s not allowed on %s", moat_http_method(r), path);
        else
            moat_http_reply_error(r, 404, "page not found");
        free(rd);
        return;
    }
    /* The captured parameters point into rd->buf, which lives as long as the
     * request (handlers answering later keep what they need themselves). */
    c.route = f.route;
    set_identity(&c);
    bool audited = route_audited(moat_http_method(r), f.route);
    _cleanup_free_ char *object = audited ? audit_object(&c) : NULL;
    c.object = object;
    c.who.action = f.route->action;
    c.who.object = object ? object : c.params[0];
    c.who.recorded = &c.audited;
    /* Recorded before it executes; not executed when it cannot be recorded.  A route that
     * asks the policy is recorded by the engine with the decision. */
    if (audited && !f.route->policy && api_audit(&c, object, "allow", NULL, NULL) < 0) {
        free(rd);
        return;
    }
    f.route->fn(&c);
    if (audited && f.route->policy && !c.audited) {
        /* Answered before any policy decision (a bad body, no such container): still on the
         * record, best effort (the answer is already given). */
        static char *const why[] = {"the request was refused before a policy decision", NULL};
        _cleanup_error_ moat_error *err = NULL;
        if (moat_engine_audit(c.engine, &c.who, "error", why, NULL, &err) < 0)
            moat_log(MOAT_LOG_ERROR, "audit log: %s", err->msg);
    }
    free(rd);
}

struct json_object *api_body_json(struct api_call *c, bool allow_empty)
{
    size_t len = 0;
    const char *b = moat_http_body(c->req, &len);
    size_t i = 0;
    while (b && i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (!b || i == len) {
        if (allow_empty)
            return json_object_new_object();
        moat_http_reply_error(c->req, 400, "a JSON request body is required");
        return NULL;
    }
    _cleanup_error_ moat_error *e = NULL;
    struct json_object *o = NULL;
    if (moat_json_parse(b, len, 4u << 20, "request body", &o, &e) < 0) {
        moat_http_reply_error(c->req, 400, "%s", e->msg);
        return NULL;
    }
    if (json_object_is_type(o, json_type_null) && allow_empty) {
        json_object_put(o);
        return json_object_new_object();
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        moat_http_reply_error(c->req, 400, "request body: expected a JSON object");
        return NULL;
    }
    return o;
}

/* The filters= query (Docker's {"key": ["v", ...]} or the older {"key": {"v": true}}) as
 * {"key": ["v", ...]}; NULL and *bad (what is wrong) when it is not one. */
struct json_object *api_filters_parse(const char *q, char **bad)
{
    struct json_object *out = json_object_new_object();
    *bad = NULL;
    if (!q || !q[0])
        return out;
    _cleanup_error_ moat_error *e = NULL;
    _cleanup_json_ struct json_object *in = NULL;
    if (moat_json_parse(q, strlen(q), 64u << 10, "filters", &in, &e) < 0 || !json_object_is_type(in, json_type_object)) {
        json_object_put(out);
        *bad = xstrdup(q);
        return NULL;
    }
    json_object_object_foreach(in, key, val)
    {
        struct json_object *arr = json_object_new_array();
        if (json_object_is_type(val, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(val); i++) {
                struct json_object *v = json_object_array_get_idx(val, i);
                if (json_object_is_type(v, json_type_string))
                    json_object_array_add(arr, json_object_new_string(json_object_get_string(v)));
            }
        } else if (json_object_is_type(val, json_type_object)) {
            json_object_object_foreach(val, k2, v2)
            {
                if (json_object_get_boolean(v2))
                    json_object_array_add(arr, json_object_new_string(k2));
            }
        } else if (json_object_is_type(val, json_type_string)) {
            json_object_array_add(arr, json_object_new_string(json_object_get_string(val)));
        } else {
            json_object_put(arr);
            json_object_put(out);
            *bad = xstrdup(key);
            return NULL;
        }
        json_object_object_add(out, key, arr);
    }
    return out;
}

struct json_object *api_filters(struct api_call *c)
{
    _cleanup_free_ char *bad = NULL;
    struct json_object *out = api_filters_parse(moat_http_query(c->req, "filters"), &bad);
    if (!out)
        moat_http_reply_error(c->req, 400, "invalid filter '%s'", bad);
    return out;
}

char **api_filter_values(struct json_object *filters, const char *key)
{
    struct json_object *a = NULL;
    if (!filters || !json_object_object_get_ex(filters, key, &a))
        return NULL;
    size_t n = json_object_array_length(a);
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(json_object_get_string(json_object_array_get_idx(a, i)));
    return v;
}
