/* The CLI's side of the Docker API: HTTP/1.1 over the engine's unix socket
 * (responses parsed with http-parser, chunked bodies decoded), with the
 * hijacked streams of attach and exec.
 *
 * Endpoint: -H/--host, else $MOAT_HOST, else $DOCKER_HOST (unix:// only for
 * now), else the default socket (/run/moat/moat.sock as root,
 * $XDG_RUNTIME_DIR/moat/moat.sock or /tmp/moat-<uid>/moat.sock otherwise).
 * With no host given but a data root (--data-root DIR, $MOAT_ROOT) other than
 * the default one, the socket is that store's own engine's (see
 * moat_client_root_run_dir).  When nothing answers on such a default or
 * per-store socket, the client starts the user's moatd for it (the moatd next
 * to the moat binary, else in PATH; one starter at a time), waits for its
 * socket (up to 10 s), and goes on.  Every request carries the /v1.41 prefix. */
#ifndef MOAT_CLI_CLIENT_H
#define MOAT_CLI_CLIENT_H

#define MOAT_CLIENT_API_VERSION "1.41" /* the API version every request asks for */
#include <stdbool.h>
#include <stddef.h>

#include "moat/error.h"

struct json_object;
struct moat_client;

int moat_client_open(const char *host, struct moat_client **ret, moat_error **err);
/* The same with the data root the auto-started moatd gets (--data-root DIR;
 * NULL: $MOAT_ROOT when set, else moatd's default). */
struct moat_client_opts {
    const char *host;      /* NULL: $MOAT_HOST, $DOCKER_HOST, the default socket */
    const char *data_root; /* NULL: $MOAT_ROOT */
};
int moat_client_open_opts(const struct moat_client_opts *o, struct moat_client **ret, moat_error **err);
void moat_client_close(struct moat_client *c);
/* The socket path in use (for messages). */
const char *moat_client_endpoint(const struct moat_client *c);

struct moat_client_resp {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
    char *content_type;
    char *header_path_stat; /* X-Docker-Container-Path-Stat, when sent */
    char *header_error;     /* X-Moat-Error: a HEAD error's message (no body) */
};
void moat_client_resp_clear(struct moat_client_resp *r);

/* One request, whole response.  path includes the query ("/containers/json?all=1"),
 * without the version prefix.  body may be NULL. */
int moat_client_call(struct moat_client *c, const char *method, const char *path, const char *content_type,
                     const void *body, size_t len, struct moat_client_resp *ret, moat_error **err);
/* JSON in, JSON out; a status >= 400 becomes an error whose message is the
 * body's "message" (Docker's "Error response from daemon: ..." is the CLI's
 * job).  body may be NULL; *ret may be NULL for 204.  ret_status may be NULL. */
int moat_client_json(struct moat_client *c, const char *method, const char *path, struct json_object *body,
                     int *ret_status, struct json_object **ret, moat_error **err);
/* A request whose body is read from fd (load, import, PUT archive, build):
 * sent chunked. */
int moat_client_upload(struct moat_client *c, const char *method, const char *path, const char *content_type,
                       int fd, struct moat_client_resp *ret, moat_error **err);
/* A streamed response: on_data for each piece of the (de-chunked) body as it
 * arrives; return < 0 from it to stop.  Status >= 400 is an error as above.
 * out_fd >= 0 instead of on_data: copy the body there (export, save). */
typedef int (*moat_client_data_fn)(void *ctx, const char *buf, size_t len);
int moat_client_stream(struct moat_client *c, const char *method, const char *path, struct json_object *body,
                       moat_client_data_fn on_data, void *ctx, int *ret_status, moat_error **err);
/* Hijack (attach, exec start): sends Connection: Upgrade / Upgrade: tcp,
 * expects 101 (or 200), returns the raw socket on a fresh connection. */
int moat_client_hijack(struct moat_client *c, const char *path, struct json_object *body, int *ret_fd,
                       moat_error **err);

/* ---- additions (client.c) ---- */
/* The HTTP status of the last response read on c (0: none yet). */
int moat_client_last_status(const struct moat_client *c);
/* When the last response was a daemon error (>= 400), prefix *err with
 * Docker's "Error response from daemon: ".  Returns -1. */
int moat_client_wrap_error(struct moat_client *c, moat_error **err);
/* A request in two steps: begin sends it and returns once the response's
 * headers arrived (wait?condition= must be pending before start); finish reads
 * the body.  Free with moat_client_req_free. */
struct moat_client_req;
int moat_client_begin(struct moat_client *c, const char *method, const char *path, const char *content_type,
                      const void *body, size_t len, struct moat_client_req **ret, int *ret_status, moat_error **err);
int moat_client_finish(struct moat_client_req *r, struct moat_client_resp *ret, moat_error **err);
void moat_client_req_free(struct moat_client_req *r);
/* A response with status >= 400 as an error: the body's "message", else its text. */
int moat_client_resp_error(const struct moat_client_resp *r, moat_error **err);
/* The response parser on an fd holding one whole response (no request is sent): the unit
 * tests and fuzz_client_resp feed it what a hostile daemon could answer.  The fd stays open. */
int moat_client_read_response(int fd, const char *method, struct moat_client_resp *ret, moat_error **err);
/* The engine's run directory (/run/moat, $XDG_RUNTIME_DIR/moat, /tmp/moat-<uid>). */
char *moat_client_default_run_dir(void);
/* The run directory of the engine the CLI starts for a store of its own
 * (--data-root DIR, $MOAT_ROOT): <default run dir>/root-<16 hex of the
 * sha256 of its real path>, its socket <that>/moat.sock.  NULL for no data
 * root, or the default one (the default engine's, on the default socket). */
char *moat_client_root_run_dir(const char *data_root);
/* Stop the engine the CLI started for that data root (moatd on the socket of
 * moat_client_root_run_dir, checked by SO_PEERCRED to be a moatd of ours):
 * SIGTERM, then wait (up to 10 s) until it is gone.  Nothing to do (no such
 * engine, or the default data root) is success with *ret_stopped false. */
int moat_client_stop_root_engine(const char *data_root, bool *ret_stopped, moat_error **err);
/* "unix:///path" (or "/path") to the socket path. */
int moat_client_parse_host(const char *host, char **ret_sock, moat_error **err);
/* The request line and headers; kind 0 Content-Length, 1 chunked, 2 upgrade. */
char *moat_client_format_request(const char *method, const char *path, const char *ctype, size_t len, int kind);

/* Docker's 8-byte stream framing (non-tty attach, exec, logs): split a byte
 * stream into (stream, payload) pieces across reads. */
struct moat_demux {
    unsigned char hdr[8];
    size_t hdr_have;
    size_t left;   /* payload bytes left in the current frame */
    int stream;    /* 1 stdout, 2 stderr, 3 system error */
};
/* Feed bytes; out(stream, data, len) for each payload piece. */
int moat_demux_feed(struct moat_demux *d, const char *buf, size_t len,
                    int (*out)(void *ctx, int stream, const char *buf, size_t len), void *ctx);

#endif
