/* Container endpoints: create, start, stop, kill, restart, pause, rm, rename,
 * wait, attach, resize, inspect, list. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "engine/container.h"
#include "moat/json.h"
#include "moat/monitor.h"
#include "moat/runtime.h"
#include "moat/util.h"

static struct moat_container *find(struct api_call *c)
{
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_engine_find(c->engine, c->params[0], &ctr, &e) < 0) {
        api_error_reply(c->req, e);
        return NULL;
    }
    return ctr;
}

static void h_create(struct api_call *c)
{
    size_t len = 0;
    const char *body = moat_http_body(c->req, &len);
    if (!body || !len) {
        moat_http_reply_error(c->req, 400, "a JSON request body is required");
        return;
    }
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_create(c->engine, &c->who, moat_http_query(c->req, "name"), body, len, &ctr, NULL, &e) < 0) {
        api_audit_failure(c, e);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", json_object_new_string(ctr->id));
    json_object_object_add(o, "Warnings", json_object_new_array());
    moat_http_reply_json(c->req, 201, o);
}

/* POST /moat/policy/check: a create body evaluated as create would (parse, image, the
 * caller's policy, the builder's checks), nothing made.  200 {"Allowed", "Reasons",
 * "Policy", "Digest", "Image"}; a bad body or an unknown image as create answers them. */
static void h_policy_check(struct api_call *c)
{
    size_t len = 0;
    const char *body = moat_http_body(c->req, &len);
    if (!body || !len) {
        moat_http_reply_error(c->req, 400, "a JSON request body is required");
        return;
    }
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_check(c->engine, &c->who, body, len, &o, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply_json(c->req, 200, o);
}

static void h_start(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_start(ctr, &c->who, &e) < 0) {
        api_audit_failure(c, e);
        api_error_reply(c->req, e);
        if (e->errnum != EALREADY)
            ctr_start_failed(ctr);
        return;
    }
    moat_http_reply_empty(c->req, 204);
}

static int query_int(struct api_call *c, const char *key, int def)
{
    const char *v = moat_http_query(c->req, key);
    int64_t n;
    if (!v || !v[0] || moat_parse_i64(v, &n) < 0 || n < -1 || n > 86400 * 365)
        return def;
    return (int)n;
}

static void h_stop(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_stop(ctr, query_int(c, "t", -1), &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    ctr_add_waiter(ctr, c->req, WAIT_STOP, false);
}

static void h_restart(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_stop(ctr, query_int(c, "t", -1), &e) < 0) {
        if (e->errnum != EALREADY) {
            api_error_reply(c->req, e);
            return;
        }
        moat_error_freep(&e);
        if (ctr_start(ctr, &c->who, &e) < 0) {
            api_audit_failure(c, e);
            api_error_reply(c->req, e);
            return;
        }
        moat_http_reply_empty(c->req, 204);
        return;
    }
    ctr_add_restart_waiter(ctr, c->req, &c->who);
}

static void h_kill(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    const char *s = moat_http_query(c->req, "signal");
    int sig = s && s[0] ? moat_signal_parse(s) : SIGKILL;
    if (sig <= 0) {
        moat_http_reply_error(c->req, 400, "Invalid signal: %s", s);
        return;
    }
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_kill(ctr, sig, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    /* docker kill is not a stop: restart policies still apply (moby restarts "always" after a kill) */
    moat_http_reply_empty(c->req, 204);
}

static void h_pause(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    bool pause = strstr(moat_http_path(c->req), "/unpause") == NULL;
    if (ctr_pause(ctr, pause, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply_empty(c->req, 204);
}

static void h_rename(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_rename(ctr, moat_http_query(c->req, "name"), &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply_empty(c->req, 204);
}

static void h_delete(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    bool force = moat_http_query_bool(c->req, "force", false);
    bool vols = moat_http_query_bool(c->req, "v", false);
    _cleanup_error_ moat_error *e = NULL;
    bool live = ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED;
    if (live && !force) {
        moat_http_reply_error(c->req, 409,
                              "You cannot remove a %s container %s. Stop the container before attempting removal or "
                              "force remove",
                              ctr_status_name(ctr->status), ctr->id);
        return;
    }
    if (live) {
        if (ctr_kill(ctr, SIGKILL, &e) < 0) {
            api_error_reply(c->req, e);
            return;
        }
        ctr->removing = true;
        ctr->manual_stop = true;
        ctr_add_waiter(ctr, c->req, WAIT_REMOVE, vols);
        return;
    }
    if (ctr->status == CTR_RESTARTING) {
        _cleanup_error_ moat_error *e2 = NULL;
        ctr_stop(ctr, 0, &e2);
    }
    if (ctr_remove(ctr, vols, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    engine_drop(c->engine, ctr);
    ctr_free(ctr);
    moat_http_reply_empty(c->req, 204);
}

static void h_wait(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    const char *cond = moat_http_query(c->req, "condition");
    enum waiter_kind k = WAIT_NOT_RUNNING;
    if (cond && !strcmp(cond, "next-exit"))
        k = WAIT_NEXT_EXIT;
    else if (cond && !strcmp(cond, "removed"))
        k = WAIT_REMOVED;
    else if (cond && cond[0] && strcmp(cond, "not-running")) {
        moat_http_reply_error(c->req, 400, "invalid condition: \"%s\"", cond);
        return;
    }
    /* Headers at once, the body at the exit (trap T1). */
    moat_http_stream_start(c->req, 200, "application/json");
    bool running = ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED || ctr->status == CTR_RESTARTING;
    if (k == WAIT_NOT_RUNNING && !running) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        json_object_object_add(o, "StatusCode", json_object_new_int(ctr->exit_code));
        json_object_object_add(o, "Error", NULL);
        moat_http_stream_json(c->req, o);
        moat_http_stream_end(c->req);
        return;
    }
    ctr_add_waiter(ctr, c->req, k, false);
}

static void h_attach(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    if (!moat_http_query_bool(c->req, "stream", false) && !moat_http_query_bool(c->req, "logs", false)) {
        moat_http_reply_error(c->req, 400, "attach: either stream or logs must be set");
        return;
    }
    struct relay_opts o = {.in = moat_http_query_bool(c->req, "stdin", false),
                           .out = moat_http_query_bool(c->req, "stdout", false),
                           .err = moat_http_query_bool(c->req, "stderr", false),
                           .tty = ctr->req->tty,
                           .close_stdin_on_eof = !ctr->req->tty};
    _cleanup_free_ char *keys = xstrdup_or_null(moat_http_query(c->req, "detachKeys"));
    o.detach_keys = keys;
    _cleanup_free_ char *sock = xasprintf("%s/attach.sock", ctr->run_dir);
    bool upgrade = moat_http_wants_upgrade(c->req);
    int fd = -1;
    char *pending = NULL;
    size_t plen = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (relay_check_room(c->engine, &e) < 0) {
        moat_http_reply_error(c->req, 503, "%s", e->msg);
        return;
    }
    if (moat_http_hijack(c->req, upgrade, &fd, &pending, &plen, &e) < 0)
        return;
    moat_engine_event(c->engine, "container", "attach", ctr->id, NULL);
    /* On failure the relay has closed the client's socket: after the hijack there is no answer left. */
    relay_new(c->engine, ctr, fd, pending, plen, &o, sock, NULL, NULL, &e);
}

static void h_resize(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    int h = query_int(c, "h", 0), w = query_int(c, "w", 0);
    if (h <= 0 || w <= 0 || h > 65535 || w > 65535) {
        moat_http_reply_error(c->req, 400, "resize: invalid size %dx%d", h, w);
        return;
    }
    if (ctr->status != CTR_RUNNING && ctr->status != CTR_PAUSED) {
        moat_http_reply_error(c->req, 409, "Container %s is not running", ctr->id);
        return;
    }
    unsigned char p[4] = {(unsigned char)(h >> 8), (unsigned char)h, (unsigned char)(w >> 8), (unsigned char)w};
    _cleanup_free_ char *sock = xasprintf("%s/attach.sock", ctr->run_dir);
    _cleanup_error_ moat_error *e = NULL;
    if (monitor_send(sock, MOAT_MON_RESIZE, p, sizeof p, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply(c->req, 200, "text/plain", "", 0);
}

static void h_inspect(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_json_ struct json_object *o = ctr_inspect_json(ctr, moat_http_query_bool(c->req, "size", false));
    moat_http_reply_json(c->req, 200, o);
}

static void h_logs(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    struct logs_opts o = {.out = moat_http_query_bool(c->req, "stdout", false),
                          .err = moat_http_query_bool(c->req, "stderr", false),
                          .follow = moat_http_query_bool(c->req, "follow", false),
                          .timestamps = moat_http_query_bool(c->req, "timestamps", false),
                          .tail = -1};
    if (!o.out && !o.err) {
        moat_http_reply_error(c->req, 400, "Bad parameters: you must choose at least one stream");
        return;
    }
    const char *tail = moat_http_query(c->req, "tail");
    int64_t n;
    if (tail && tail[0] && strcmp(tail, "all") && moat_parse_i64(tail, &n) == 0 && n >= 0)
        o.tail = n;
    const char *since = moat_http_query(c->req, "since"), *until = moat_http_query(c->req, "until");
    if (since && since[0])
        o.since_ns = (int64_t)(strtod(since, NULL) * 1e9);
    if (until && until[0])
        o.until_ns = (int64_t)(strtod(until, NULL) * 1e9);
    logs_serve(ctr, c->req, &o);
}

/* ---- GET /containers/json ---------------------------------------------------------------- */
static bool label_match(struct moat_container *ctr, const char *f)
{
    const char *eq = strchr(f, '=');
    size_t klen = eq ? (size_t)(eq - f) : strlen(f);
    for (char **l = ctr->req->labels; l && l[0]; l += 2)
        if (strlen(l[0]) == klen && !strncmp(l[0], f, klen) && (!eq || !strcmp(l[1] ? l[1] : "", eq + 1)))
            return true;
    return false;
}

static bool any_match(char **vals, bool (*fn)(struct moat_container *, const char *), struct moat_container *ctr,
                      bool all)
{
    if (!vals)
        return true;
    for (size_t i = 0; vals[i]; i++) {
        bool m = fn(ctr, vals[i]);
        if (all && !m)
            return false;
        if (!all && m)
            return true;
    }
    return all;
}

static bool status_match(struct moat_container *ctr, const char *v)
{
    return !strcmp(ctr_status_name(ctr->status), v);
}
static bool name_match(struct moat_container *ctr, const char *v)
{
    return strstr(ctr->name, v[0] == '/' ? v + 1 : v) != NULL;
}
static bool id_match(struct moat_container *ctr, const char *v)
{
    return !strncmp(ctr->id, v, strlen(v));
}
static bool ancestor_match(struct moat_container *ctr, const char *v)
{
    return !strcmp(ctr->image_ref, v) || (ctr->image_id && (!strcmp(ctr->image_id, v) ||
                                                            !strncmp(ctr->image_id + 7, v, strlen(v))));
}
static bool volume_match(struct moat_container *ctr, const char *v)
{
    for (size_t i = 0; i < ctr->n_vols; i++)
        if ((ctr->vols[i].name && !strcmp(ctr->vols[i].name, v)) || !strcmp(ctr->vols[i].destination, v))
            return true;
    return false;
}
static bool exited_match(struct moat_container *ctr, const char *v)
{
    int64_t n;
    return ctr->status == CTR_EXITED && moat_parse_i64(v, &n) == 0 && n == ctr->exit_code;
}

static int cmp_created(const void *a, const void *b)
{
    const struct moat_container *x = *(struct moat_container *const *)a, *y = *(struct moat_container *const *)b;
    return strcmp(y->created, x->created); /* newest first (RFC 3339 UTC sorts as text) */
}

static void h_list(struct api_call *c)
{
    bool all = moat_http_query_bool(c->req, "all", false), size = moat_http_query_bool(c->req, "size", false);
    int limit = query_int(c, "limit", -1);
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters)
        return;
    char **labels = api_filter_values(filters, "label"), **status = api_filter_values(filters, "status");
    char **names = api_filter_values(filters, "name"), **ids = api_filter_values(filters, "id");
    char **anc = api_filter_values(filters, "ancestor"), **vols = api_filter_values(filters, "volume");
    char **exited = api_filter_values(filters, "exited");
    struct moat_engine *e = c->engine;
    struct moat_container **v = xcalloc(e->n_ctrs + 1, sizeof *v);
    if (e->n_ctrs)
        memcpy(v, e->ctrs, e->n_ctrs * sizeof *v);
    qsort(v, e->n_ctrs, sizeof *v, cmp_created);
    _cleanup_json_ struct json_object *out = json_object_new_array();
    if (limit > 0)
        all = true;
    for (size_t i = 0; i < e->n_ctrs; i++) {
        struct moat_container *ctr = v[i];
        bool live = ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED || ctr->status == CTR_RESTARTING;
        if (!all && !live && !status)
            continue;
        if (!any_match(labels, label_match, ctr, true) || !any_match(status, status_match, ctr, false) ||
            !any_match(names, name_match, ctr, false) || !any_match(ids, id_match, ctr, false) ||
            !any_match(anc, ancestor_match, ctr, false) || !any_match(vols, volume_match, ctr, false) ||
            !any_match(exited, exited_match, ctr, false))
            continue;
        if (limit > 0 && json_object_array_length(out) >= (size_t)limit)
            break;
        json_object_array_add(out, ctr_summary_json(ctr, size));
    }
    free(v);
    moat_strv_free(labels);
    moat_strv_free(status);
    moat_strv_free(names);
    moat_strv_free(ids);
    moat_strv_free(anc);
    moat_strv_free(vols);
    moat_strv_free(exited);
    moat_http_reply_json(c->req, 200, out);
}

const struct api_route api_routes_containers[] = {
    {"POST", "/containers/create", h_create, MOAT_HTTP_BODY_MEMORY, MOAT_CREATE_MAX_BODY, "container.create", true},
    {"GET", "/containers/json", h_list, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/moat/policy/check", h_policy_check, MOAT_HTTP_BODY_MEMORY, MOAT_CREATE_MAX_BODY, "policy.check", true},
    {"GET", "/containers/{id}/json", h_inspect, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/containers/{id}/start", h_start, MOAT_HTTP_BODY_MEMORY, 0, "container.start", true},
    {"POST", "/containers/{id}/stop", h_stop, MOAT_HTTP_BODY_MEMORY, 0, "container.stop"},
    {"POST", "/containers/{id}/restart", h_restart, MOAT_HTTP_BODY_MEMORY, 0, "container.restart"},
    {"POST", "/containers/{id}/kill", h_kill, MOAT_HTTP_BODY_MEMORY, 0, "container.kill"},
    {"POST", "/containers/{id}/pause", h_pause, MOAT_HTTP_BODY_MEMORY, 0, "container.pause"},
    {"POST", "/containers/{id}/unpause", h_pause, MOAT_HTTP_BODY_MEMORY, 0, "container.unpause"},
    {"POST", "/containers/{id}/rename", h_rename, MOAT_HTTP_BODY_MEMORY, 0, "container.rename"},
    {"POST", "/containers/{id}/wait", h_wait, MOAT_HTTP_BODY_MEMORY, 0, "container.wait", false, true},
    {"POST", "/containers/{id}/attach", h_attach, MOAT_HTTP_BODY_MEMORY, 0, "container.attach"},
    {"POST", "/containers/{id}/resize", h_resize, MOAT_HTTP_BODY_MEMORY, 0, "container.resize", false, true},
    {"GET", "/containers/{id}/logs", h_logs, MOAT_HTTP_BODY_MEMORY, 0},
    {"DELETE", "/containers/{id}", h_delete, MOAT_HTTP_BODY_MEMORY, 0, "container.delete"},
    {NULL, NULL, NULL, 0, 0},
};
