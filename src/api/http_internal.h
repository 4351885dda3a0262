/* Internals shared by http.c (connections, parsing), http_reply.c (answers,
 * hijack) and http_query.c.  Not a public interface. */
#ifndef MOAT_HTTP_INTERNAL_H
#define MOAT_HTTP_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <sys/socket.h>

#include "moat/http.h"

/* Output queue thresholds: stop feeding a file/pipe (and stop parsing
 * pipelined requests) above HIGH, resume at or below LOW. */
#define HTTP_OUT_HIGH (256u * 1024)
#define HTTP_OUT_LOW (64u * 1024)
#define HTTP_FD_CHUNK (64u * 1024)
#define HTTP_LINGER_S 2

enum http_conn_state {
    CONN_READ,    /* parsing a request (or waiting for one) */
    CONN_HANDLE,  /* the handler owns the request; input stays buffered */
    CONN_CLOSING, /* last response queued: flush, then linger */
    CONN_LINGER,  /* write side shut down; discard input until EOF or timeout */
};
enum http_resp_state { RESP_NONE, RESP_STREAM, RESP_FD, RESP_DONE };
enum http_pause { PAUSE_NONE, PAUSE_HEADERS, PAUSE_MESSAGE };

struct http_qall {
    char *key;
    char **values;
    struct http_qall *next;
};

struct moat_http_server {
    struct event_base *base;
    moat_http_handler_fn handler;
    moat_http_body_fn body;
    void *ctx;
    struct moat_http_limits limits;
    char *spool_dir;
    char **default_headers; /* name, value, ..., NULL */
    struct evconnlistener *listener;
    struct event *relisten;
    struct http_conn *conns;
    size_t nconns;
    http_parser_settings settings;
};

struct http_conn {
    struct moat_http_server *s;
    struct http_conn *prev, *next;
    struct bufferevent *bev;
    int fd;
    http_parser parser;
    enum http_conn_state state;
    enum http_pause pause;
    struct event *timer;
    struct moat_http_req *req;
    bool have_cred;
    struct ucred cred;
    unsigned busy;    /* inside a loop or user callback: defer conn_free */
    bool dead;        /* free once not busy */
    bool close_after; /* no further request on this connection */
    bool head_done;
    bool head_deadline; /* the head's timer is running */
    bool eof;
    size_t head_bytes;
    int err_status;   /* set by a parser callback that refused the request */
    const char *err_msg;
};

struct moat_http_req {
    struct http_conn *c;
    const char *method;
    char *url;
    size_t url_len;
    char *path;
    char **query; /* key, value, ..., NULL */
    struct http_qall *qall;
    char **hdr;   /* name, value, ..., NULL */
    size_t nhdr_str;
    size_t hdr_cap;
    bool last_was_value;
    bool head, http10, upgrade, dispatched, gone;
    enum moat_http_body_mode body_mode;
    uint64_t body_limit;
    char *body;
    size_t body_cap;
    uint64_t body_len;
    int body_fd;  /* memfd for an in-memory body, made on demand */
    int spool_fd;
    void *data;
    void (*on_close)(struct moat_http_req *r, void *arg);
    void *close_arg;
    void (*on_drain)(struct moat_http_req *r, void *arg);
    void *drain_arg;
    size_t low_water;
    bool above;
    char **extra_headers; /* name, value, ..., NULL */
    enum http_resp_state resp;
    bool chunked;
    int out_fd;
    bool out_pollable;
    struct event *out_ev;
    char *out_buf;
};

/* http.c */
void http_req_finish(struct moat_http_req *r); /* response fully queued */
void http_req_drop(struct moat_http_req *r);   /* free r, no callbacks (hijack) */
void http_conn_free(struct http_conn *c);
void http_conn_update_wm(struct http_conn *c);
/* Reply to a request the server refuses (r may be a fresh one) and close. */
void http_conn_fail(struct http_conn *c, int status, const char *msg);

/* http_reply.c */
void http_fd_pump(struct moat_http_req *r);
void http_resp_release(struct moat_http_req *r);

#endif
