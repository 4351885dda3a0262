/* The engine's HTTP/1.1 server: libevent bufferevents for the connections,
 * Node's http-parser for the bytes.  Everything a client sends is untrusted:
 * request line, headers and body are bounded (struct moat_http_limits), a
 * slow client is timed out, a malformed request gets a 400 and the connection
 * is closed; nothing a client sends can crash or block the loop.
 *
 * One request at a time per connection (keep-alive: the next request is
 * parsed once the current response is complete).  A handler answers at once
 * or later (wait, logs -f, events): the request object lives until its
 * response is finished or the client goes away, whichever comes first.
 *
 * Hijacking (Docker's attach and exec start): the handler calls
 * moat_http_hijack(), which writes the 101 (or 200) header block, flushes it
 * on its own (trap T10 in ../shared/reference/docker-api/README.md), and hands
 * the raw socket and any bytes already read past the request to the caller.
 * The server forgets the connection then. */
#ifndef MOAT_HTTP_H
#define MOAT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

struct event_base;
struct json_object;
struct moat_http_server;
struct moat_http_req;

struct moat_http_limits {
    size_t max_header_bytes;   /* request line + headers: 64 KiB */
    size_t max_headers;        /* 100 */
    size_t max_body_memory;    /* bodies kept in memory up to this: 8 MiB */
    unsigned header_timeout_s; /* a request's head must arrive within this: 30 s */
    unsigned idle_timeout_s;   /* keep-alive connection with no request: 300 s */
    size_t max_connections;    /* 1024; more are accepted and closed at once */
};
void moat_http_limits_default(struct moat_http_limits *l);

/* How a request's body is received; decided by the server's body_fn once the
 * headers are in (route and size known).  MEMORY: up to `limit` bytes in
 * memory (moat_http_body); SPOOL: up to `limit` bytes into an unlinked file
 * in the spool directory (moat_http_body_fd), for uploads (load, import,
 * PUT archive, build); REJECT: answer 413/400 with `limit` meaningless. */
enum moat_http_body_mode { MOAT_HTTP_BODY_MEMORY, MOAT_HTTP_BODY_SPOOL, MOAT_HTTP_BODY_REJECT };
typedef enum moat_http_body_mode (*moat_http_body_fn)(struct moat_http_req *r, void *ctx, uint64_t *ret_limit);
/* Called once the whole request (with its body) is in. */
typedef void (*moat_http_handler_fn)(struct moat_http_req *r, void *ctx);

struct moat_http_server_opts {
    struct event_base *base;
    moat_http_handler_fn handler;
    moat_http_body_fn body; /* NULL: MEMORY with limits.max_body_memory */
    void *ctx;
    const struct moat_http_limits *limits; /* NULL: defaults */
    const char *spool_dir;                 /* for SPOOL bodies (O_TMPFILE); NULL: /var/tmp */
    /* Added to every response, e.g. {"API-Version", "1.41", "OSType", "linux", NULL}. */
    const char *const *default_headers;
};
int moat_http_server_new(const struct moat_http_server_opts *o, struct moat_http_server **ret, moat_error **err);
/* Serve a listening socket (already bound and listening, nonblocking or not;
 * the server takes ownership). */
int moat_http_server_listen_fd(struct moat_http_server *s, int listen_fd, moat_error **err);
/* Serve one already-connected socket (tests, socket activation). */
int moat_http_server_adopt_fd(struct moat_http_server *s, int fd, moat_error **err);
/* Connections currently open (tests, fuzzing, metrics). */
size_t moat_http_server_connections(const struct moat_http_server *s);
/* Close every connection and listener; pending requests see their close callback. */
void moat_http_server_free(struct moat_http_server *s);

/* ---- the request ------------------------------------------------------------- */
const char *moat_http_method(const struct moat_http_req *r); /* "GET", "HEAD", "POST", ... */
/* The path, percent-decoded, without the query ("/v1.41/containers/json").
 * A path that decodes to a NUL byte is refused with 400 before a handler sees it. */
const char *moat_http_path(const struct moat_http_req *r);
/* The first value of a query parameter (decoded, '+' as space), NULL when absent. */
const char *moat_http_query(const struct moat_http_req *r, const char *key);
/* Every value of a repeated parameter (names=a&names=b): NULL-terminated, owned by r
 * (an empty vector, never NULL, when the key is absent). */
char *const *moat_http_query_all(const struct moat_http_req *r, const char *key);
/* Moby's boolean rule: absent -> def; "", "0", "no", "false", "none" (any case) -> false; else true. */
bool moat_http_query_bool(const struct moat_http_req *r, const char *key, bool def);
/* A header value (name case-insensitive), NULL when absent. */
const char *moat_http_header(const struct moat_http_req *r, const char *name);
/* The body kept in memory (NUL-terminated; *len without the NUL), or NULL
 * when there is none or it was spooled. */
const char *moat_http_body(const struct moat_http_req *r, size_t *len);
/* The body as a readable fd positioned at 0 (a memfd for in-memory bodies,
 * the spool file otherwise); owned by r: dup() it to keep it. -1: no body. */
int moat_http_body_fd(struct moat_http_req *r);
uint64_t moat_http_body_len(const struct moat_http_req *r);
/* Client asked `Connection: Upgrade` + `Upgrade: tcp`. */
bool moat_http_wants_upgrade(const struct moat_http_req *r);
/* Peer credentials of a unix-socket client (SO_PEERCRED); false for other transports. */
bool moat_http_peer(const struct moat_http_req *r, pid_t *pid, uid_t *uid, gid_t *gid);
/* Per-request data for handlers that answer later. */
void moat_http_set_data(struct moat_http_req *r, void *data);
void *moat_http_get_data(const struct moat_http_req *r);
/* Called once if the client goes away before the response is finished (the
 * request is freed right after the callback returns; don't touch r later).
 * A handler that keeps r past its return must set this.  Answering calls
 * made on r from inside the callback are ignored. */
void moat_http_on_close(struct moat_http_req *r, void (*cb)(struct moat_http_req *r, void *arg), void *arg);

/* ---- answering ----------------------------------------------------------------- */
/* Extra header for this response (before the reply/stream starts). */
void moat_http_add_header(struct moat_http_req *r, const char *name, const char *value);
/* A complete response with Content-Length.  HEAD requests get the headers only. */
void moat_http_reply(struct moat_http_req *r, int status, const char *content_type, const void *body, size_t len);
void moat_http_reply_json(struct moat_http_req *r, int status, struct json_object *o); /* o not consumed */
/* {"message":"..."} with Content-Type exactly "application/json" (trap T5). */
void moat_http_reply_error(struct moat_http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 204 and friends: status line and headers only. */
void moat_http_reply_empty(struct moat_http_req *r, int status);

/* Streaming (chunked transfer encoding): the status and headers are written
 * and flushed at once (trap T1: wait), each write is one chunk, sent as soon
 * as the socket takes it.  Writes after the client went away are dropped. */
void moat_http_stream_start(struct moat_http_req *r, int status, const char *content_type);
void moat_http_stream_write(struct moat_http_req *r, const void *buf, size_t len);
/* One JSON object + "\n" as a chunk (o not consumed). */
void moat_http_stream_json(struct moat_http_req *r, struct json_object *o);
void moat_http_stream_end(struct moat_http_req *r);
/* Bytes queued to the client and not yet sent (for back-pressure in long streams). */
size_t moat_http_stream_pending(const struct moat_http_req *r);
/* Called when the output queue drops below low_water after having been above it. */
void moat_http_on_drain(struct moat_http_req *r, size_t low_water, void (*cb)(struct moat_http_req *r, void *arg),
                        void *arg);

/* Copy everything from fd (a file or pipe; the server takes ownership) as the
 * chunked body of a 200 response, then end it (export, save, GET archive). */
void moat_http_reply_fd(struct moat_http_req *r, int status, const char *content_type, int fd);

/* Hijack: write "HTTP/1.1 101 UPGRADED" (upgrade true) or "200 OK", with
 * Content-Type application/vnd.docker.raw-stream (Connection/Upgrade headers
 * for 101) and the default headers, flush it synchronously, and give the raw
 * socket to the caller (*ret_fd, blocking mode, close-on-exec) with the bytes
 * the client already sent past the request (*ret_pending, malloc'd, may be
 * NULL with *ret_pending_len 0).  The request is freed; r is invalid after. */
int moat_http_hijack(struct moat_http_req *r, bool upgrade, int *ret_fd, char **ret_pending, size_t *ret_pending_len,
                     moat_error **err);

/* Status reason phrases ("Not Found"). */
const char *moat_http_reason(int status);

/* ---- pure parsing (also the fuzz target's entry) ---------------------------------- */
/* Split "a=1&b=x%20y&b=z" into key, value, key, value, ..., NULL (decoded). */
int moat_http_parse_query(const char *q, size_t len, char ***ret, moat_error **err);
/* Percent-decode (plus_as_space for queries); refuses bad escapes and NUL bytes. */
int moat_http_pct_decode(const char *s, size_t len, bool plus_as_space, char **ret, moat_error **err);

#endif
