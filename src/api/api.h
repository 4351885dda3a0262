/* The Docker Engine API (v1.41 subset) over include/moat/http.h.
 *
 * router.c strips and checks the version prefix (/v1.24 .. /v1.41, or none:
 * 1.41), matches the method and path against the route tables of the
 * routes_*.c files, and calls the handler with the captured path parameters.
 * Patterns: literal segments and "{x}" (one segment); a trailing "{x*}"
 * segment followed by literal suffix segments matches image names with '/'
 * in them (moby's {name:.*}): "/images/{name*}/json".
 *
 * Handlers answer through moat_http_reply*; errors with Docker's status codes
 * and {"message": ...} bodies (api_error_reply maps a moat_error's errno:
 * ENOENT 404, EEXIST/EBUSY 409, EINVAL 400, EPERM/EACCES 403, ENOSYS 501,
 * EALREADY 304, anything else 500). */
#ifndef MOAT_API_H
#define MOAT_API_H

#include <stdbool.h>
#include <stdint.h>

#include "moat/error.h"
#include "moat/http.h"
#include "engine/engine.h"

struct moat_engine;

#define MOAT_API_VERSION "1.41"
#define MOAT_API_MIN_VERSION "1.24"
#define MOAT_API_MAX_PARAMS 4

struct api_call {
    struct moat_engine *engine;
    struct moat_http_req *req;
    const char *params[MOAT_API_MAX_PARAMS]; /* captured {x} segments, decoded */
    unsigned version_minor;                  /* 41 for /v1.41 */
    const struct api_route *route;           /* the matched route (its audit action) */
    bool audited;                            /* this request is on the audit log */
    char identity[32];                       /* "uid:N" from SO_PEERCRED, set before the handler */
    char *object;                            /* what it names, for the audit record */
    struct moat_caller who;                  /* the above for the engine (policy scopes, audit) */
};

typedef void (*api_handler_fn)(struct api_call *c);

struct api_route {
    const char *method;  /* "GET" (also serves HEAD), "POST", "PUT", "DELETE", "HEAD" */
    const char *pattern;
    api_handler_fn fn;
    enum moat_http_body_mode body; /* MEMORY (limit below, 0: 4 MiB) or SPOOL (uploads) */
    uint64_t body_limit;
    /* The audit log (include/moat/audit.h).  Every route that is not GET/HEAD, and GET
     * /containers/{id}/archive, is recorded before it executes; `action` names it there
     * ("container.create"; NULL: "<METHOD> <pattern>").  The router records it ("allow", no
     * policy) before calling the handler, and answers 500 without calling it when the log
     * cannot be written. */
    const char *action;
    /* The route evaluates policy (create, start, exec, cp, commit, update, policy check):
     * the engine records the decision itself (ctr_admit with c->who) before it acts, so the
     * router records nothing first; a handler that returns without a record (a 400 before
     * any decision, a path without a policy question) gets an "error" record, unless it
     * called api_audit() itself. */
    bool policy;
    /* A POST that changes nothing (wait, attach, resize): not on the audit log. */
    bool readonly;
};

/* Route tables, each ended by a {NULL} entry. */
extern const struct api_route api_routes_system[];     /* routes_system.c: _ping, version, info, events, system/df, auth */
extern const struct api_route api_routes_images[];     /* routes_images.c */
extern const struct api_route api_routes_containers[]; /* routes_containers.c: lifecycle, attach, wait, list */
extern const struct api_route api_routes_ctr_extra[];  /* routes_ctr_extra.c: top, changes, commit, prune, update */
extern const struct api_route api_routes_ctr_io[];     /* routes_ctr_io.c: stats, export, archive (cp) */
extern const struct api_route api_routes_exec[];       /* routes_exec.c */
extern const struct api_route api_routes_volumes[];    /* routes_volumes.c */

/* The http server callbacks (router.c); ctx is the engine. */
enum moat_http_body_mode api_body_mode(struct moat_http_req *r, void *ctx, uint64_t *ret_limit);
void api_dispatch(struct moat_http_req *r, void *ctx);
/* Headers on every response: API-Version, OSType, Server, Docker-Experimental. */
extern const char *const api_default_headers[];

/* Append this request to the audit log: action from c->route, identity from the peer's
 * credentials, decision "allow"|"deny"|"error", reasons (NULL-terminated, or NULL), the policy
 * source (or NULL).  Marks the request audited.  0 once the record is on disk; -1 after
 * answering 500 {"message":"audit log: <reason>; the request was not executed"}: the caller
 * must then return without acting. */
int api_audit(struct api_call *c, const char *object, const char *decision, char *const *reasons, const char *policy);

/* The request was allowed (on the record) and then failed: an "error" record with the
 * message follows, so the log does not read as if it had happened.  Best effort. */
void api_audit_failure(struct api_call *c, const moat_error *e);

/* At shutdown (moatd's loop has ended): end the image jobs still running
 * (save, load, import, pull children: SIGKILL, which they are built to
 * survive, like a crash) and reap them, so that nothing writes to the store
 * once the engine is gone (a `moat system reset` waits for that). */
void api_images_shutdown(struct moat_engine *e);

/* Answer with the error's message and the status its errno maps to. */
void api_error_reply(struct moat_http_req *r, const moat_error *e);
int api_errno_status(int errnum);
/* Parse the JSON body (bounded); on failure answer 400 and return NULL. */
struct json_object *api_body_json(struct api_call *c, bool allow_empty);
/* Docker's filters query parameter, both shapes (T12): {"label":{"a=b":true}}
 * and {"label":["a=b"]}.  Returns an object key -> array of strings (empty
 * object when absent), or NULL after answering 400. */
struct json_object *api_filters(struct api_call *c);
/* The router's parsing without a request (also what fuzz/fuzz_router.c drives): the version
 * prefix, the route tables, the filters= query. */
int api_strip_version(const char **path, unsigned *minor, char *why, size_t whysz);
const struct api_route *api_route_find(const char *method, const char *path, char *buf, size_t bufsz,
                                       const char **params, bool *path_known);
struct json_object *api_filters_parse(const char *q, char **bad);
/* Values of one filter key (NULL-terminated copies: moat_strv_free), or NULL when absent. */
char **api_filter_values(struct json_object *filters, const char *key);

#endif
