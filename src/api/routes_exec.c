/* Exec endpoints: create, start (hijacked), resize, inspect. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "engine/container.h"
#include "moat/json.h"
#include "moat/util.h"

static void h_exec_create(struct api_call *c)
{
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_engine_find(c->engine, c->params[0], &ctr, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    size_t len = 0;
    const char *body = moat_http_body(c->req, &len);
    if (!body || !len) {
        moat_http_reply_error(c->req, 400, "a JSON request body is required");
        return;
    }
    _cleanup_free_ char *id = NULL;
    if (exec_create(ctr, &c->who, body, len, &id, &e) < 0) {
        api_audit_failure(c, e);
        api_error_reply(c->req, e);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", json_object_new_string(id));
    moat_http_reply_json(c->req, 201, o);
}

static struct moat_exec *find_exec(struct api_call *c)
{
    struct moat_exec *x = exec_find(c->engine, c->params[0]);
    if (!x)
        moat_http_reply_error(c->req, 404, "No such exec instance: %s", c->params[0]);
    return x;
}

static void h_exec_start(struct api_call *c)
{
    struct moat_exec *x = find_exec(c);
    if (x)
        exec_start(c->engine, x, c->req);
}

static void h_exec_json(struct api_call *c)
{
    struct moat_exec *x = find_exec(c);
    if (!x)
        return;
    _cleanup_json_ struct json_object *o = exec_inspect_json(x);
    moat_http_reply_json(c->req, 200, o);
}

static void h_exec_resize(struct api_call *c)
{
    struct moat_exec *x = find_exec(c);
    if (!x)
        return;
    const char *hs = moat_http_query(c->req, "h"), *ws = moat_http_query(c->req, "w");
    uint64_t h = 0, w = 0;
    if (!hs || !ws || moat_parse_u64(hs, &h) < 0 || moat_parse_u64(ws, &w) < 0 || !h || !w || h > 65535 ||
        w > 65535) {
        moat_http_reply_error(c->req, 400, "resize: invalid size");
        return;
    }
    _cleanup_error_ moat_error *e = NULL;
    if (exec_resize(x, (unsigned)h, (unsigned)w, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_http_reply(c->req, 200, "text/plain", "", 0);
}

const struct api_route api_routes_exec[] = {
    {"POST", "/containers/{id}/exec", h_exec_create, MOAT_HTTP_BODY_MEMORY, 1u << 20, "exec.create", true},
    {"POST", "/exec/{id}/start", h_exec_start, MOAT_HTTP_BODY_MEMORY, 65536, "exec.start"},
    {"POST", "/exec/{id}/resize", h_exec_resize, MOAT_HTTP_BODY_MEMORY, 0, "exec.resize", false, true},
    {"GET", "/exec/{id}/json", h_exec_json, MOAT_HTTP_BODY_MEMORY, 0},
    {NULL, NULL, NULL, 0, 0},
};
