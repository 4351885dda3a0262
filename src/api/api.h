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

struct moat_engine;

#define MOAT_API_VERSION "1.41"
#define MOAT_API_MIN_VERSION "1.24"
#define MOAT_API_MAX_PARAMS 4

struct api_call {
    struct moat_engine *engine;
    struct moat_http_req *req;
    const char *params[MOAT_API_MAX_PARAMS]; /* captured {x} segments, decoded */
    unsigned version_minor;                  /* 41 for /v1.41 */
};

typedef void (*api_handler_fn)(struct api_call *c);

struct api_route {
    const char *method;  /* "GET" (also serves HEAD), "POST", "PUT", "DELETE", "HEAD" */
    const char *pattern;
    api_handler_fn fn;
    enum moat_http_body_mode body; /* MEMORY (limit below, 0: 4 MiB) or SPOOL (uploads) */
    uint64_t body_limit;
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

/* Answer with the error's message and the status its errno maps to. */
void api_error_reply(struct moat_http_req *r, const moat_error *e);
int api_errno_status(int errnum);
/* Parse the JSON body (bounded); on failure answer 400 and return NULL. */
struct json_object *api_body_json(struct api_call *c, bool allow_empty);
/* Docker's filters query parameter, both shapes (T12): {"label":{"a=b":true}}
 * and {"label":["a=b"]}.  Returns an object key -> array of strings (empty
 * object when absent), or NULL after answering 400. */
struct json_object *api_filters(struct api_call *c);
/* Values of one filter key (NULL-terminated copies: moat_strv_free), or NULL when absent. */
char **api_filter_values(struct json_object *filters, const char *key);

#endif
