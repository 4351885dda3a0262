/* The engine's HTTP/1.1 server: connections (libevent bufferevents), request
 * parsing (http-parser), limits and timeouts.  Answers are in http_reply.c,
 * the pure parsers in http_query.c.
 *
 * The parser is paused at the end of the request head (to choose the body
 * mode and enforce the size limits before any body byte is taken) and at the
 * end of each request: whatever follows (a pipelined request, hijacked stdin)
 * stays in the bufferevent's input until the response is complete. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http_internal.h"
#include "moat/util.h"

void moat_http_limits_default(struct moat_http_limits *l)
{
    l->max_header_bytes = 64 * 1024;
    l->max_headers = 100;
    l->max_body_memory = 8 * 1024 * 1024;
    l->header_timeout_s = 30;
    l->idle_timeout_s = 300;
    l->max_connections = 1024;
}

/* ---- requests ------------------------------------------------------------------ */

static struct moat_http_req *req_new(struct http_conn *c)
{
    struct moat_http_req *r = xcalloc(1, sizeof(*r));
    r->c = c;
    r->method = "GET";
    r->body_fd = -1;
    r->spool_fd = -1;
    r->out_fd = -1;
    r->hdr_cap = 8;
    r->hdr = xcalloc(r->hdr_cap, sizeof(char *));
    return r;
}

static void req_free(struct moat_http_req *r)
{
    if (!r)
        return;
    http_resp_release(r);
    free(r->url);
    free(r->path);
    moat_strv_free(r->query);
    while (r->qall) {
        struct http_qall *q = r->qall;
        r->qall = q->next;
        free(q->key);
        free(q->values);
        free(q);
    }
    moat_strv_free(r->hdr);
    moat_strv_free(r->extra_headers);
    free(r->body);
    if (r->body_fd >= 0)
        close(r->body_fd);
    if (r->spool_fd >= 0)
        close(r->spool_fd);
    free(r);
}

/* The client went away (or the server is shutting down) while a handler owns r. */
static void req_gone(struct moat_http_req *r)
{
    r->gone = true;
    if (r->on_close) {
        void (*cb)(struct moat_http_req *, void *) = r->on_close;
        r->on_close = NULL;
        cb(r, r->close_arg);
    }
}

/* ---- connections --------------------------------------------------------------- */

static void conn_process(struct http_conn *c);

static void conn_set_timer(struct http_conn *c, unsigned secs)
{
    if (!secs) {
        event_del(c->timer);
        return;
    }
    struct timeval tv = {.tv_sec = secs};
    event_add(c->timer, &tv);
}

void http_conn_free(struct http_conn *c)
{
    if (c->busy) {
        c->dead = true;
        return;
    }
    struct moat_http_server *s = c->s;
    if (c->req) {
        struct moat_http_req *r = c->req;
        if (r->dispatched && !r->gone) {
            c->busy++;
            req_gone(r);
            c->busy--;
        }
        c->req = NULL;
        req_free(r);
    }
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    if (c->fd >= 0)
        close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c);
}

/* Drop the busy mark; true when the connection was freed meanwhile. */
static bool conn_unbusy(struct http_conn *c)
{
    if (--c->busy == 0 && c->dead) {
        http_conn_free(c);
        return true;
    }
    return false;
}

void http_conn_update_wm(struct http_conn *c)
{
    size_t low = HTTP_OUT_LOW;
    if (c->req && c->req->on_drain && c->req->low_water > low)
        low = c->req->low_water;
    bufferevent_setwatermark(c->bev, EV_WRITE, low, 0);
}

static void conn_linger(struct http_conn *c)
{
    if (c->eof) {
        http_conn_free(c);
        return;
    }
    /* Shut the write side and read until the client closes, so that unread
     * request bytes don't turn our close into a reset that loses the answer. */
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
    conn_set_timer(c, HTTP_LINGER_S);
}

static void conn_start_close(struct http_conn *c)
{
    c->state = CONN_CLOSING;
    conn_set_timer(c, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && !c->busy)
        conn_linger(c);
}

void http_req_drop(struct moat_http_req *r)
{
    r->c->req = NULL;
    req_free(r);
}

/* After a request is freed: when the heap holds more than RELEASE_MIN free
 * (an image built, pulled or loaded, a container's records, leave free
 * blocks between blocks that stay), give its free pages back to the kernel.
 * glibc by itself only trims the top of the heap. */
#define RELEASE_MIN (256u << 10)
static void heap_release(void)
{
    if (mallinfo2().fordblks > RELEASE_MIN)
        malloc_trim(0);
}

void http_req_finish(struct moat_http_req *r)
{
    struct http_conn *c = r->c;
    c->req = NULL;
    req_free(r);
    heap_release();
    c->head_done = false;
    c->head_deadline = false;
    c->head_bytes = 0;
    if (c->close_after) {
        conn_start_close(c);
        return;
    }
    c->state = CONN_READ;
    conn_set_timer(c, c->s->limits.idle_timeout_s); /* keep-alive: until the next request begins */
    conn_process(c);
}

void http_conn_fail(struct http_conn *c, int status, const char *msg)
{
    if (!c->req)
        c->req = req_new(c);
    struct moat_http_req *r = c->req;
    r->dispatched = true; /* now answered like any request */
    c->close_after = true;
    c->state = CONN_HANDLE;
    moat_http_reply_error(r, status, "%s", msg);
}

/* ---- http-parser callbacks -------------------------------------------------------- */

/* The head's deadline runs from its first byte and is never extended. */
static void conn_head_deadline(struct http_conn *c)
{
    if (c->head_deadline)
        return;
    c->head_deadline = true;
    conn_set_timer(c, c->s->limits.header_timeout_s);
}

static int cb_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    if (!c->req)
        c->req = req_new(c);
    conn_head_deadline(c);
    return 0;
}

static int refuse(struct http_conn *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return 1;
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct moat_http_req *r = c->req;
    if (r->url_len + len > c->s->limits.max_header_bytes)
        return refuse(c, 414, "request URI too long");
    r->url = xrealloc(r->url, r->url_len + len + 1);
    memcpy(r->url + r->url_len, at, len);
    r->url_len += len;
    r->url[r->url_len] = '\0';
    return 0;
}

static void hdr_append(struct moat_http_req *r, size_t idx, const char *at, size_t len)
{
    size_t old = r->hdr[idx] ? strlen(r->hdr[idx]) : 0;
    r->hdr[idx] = xrealloc(r->hdr[idx], old + len + 1);
    memcpy(r->hdr[idx] + old, at, len);
    r->hdr[idx][old + len] = '\0';
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct moat_http_req *r = c->req;
    if (r->nhdr_str == 0 || r->last_was_value) {
        if (r->nhdr_str / 2 >= c->s->limits.max_headers)
            return refuse(c, 431, "too many request headers");
        if (r->nhdr_str + 3 > r->hdr_cap) {
            r->hdr_cap *= 2;
            r->hdr = xrealloc(r->hdr, r->hdr_cap * sizeof(char *));
        }
        r->hdr[r->nhdr_str] = xstrdup("");
        r->hdr[r->nhdr_str + 1] = xstrdup("");
        r->hdr[r->nhdr_str + 2] = NULL;
        r->nhdr_str += 2;
        r->last_was_value = false;
    }
    hdr_append(r, r->nhdr_str - 2, at, len);
    return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct moat_http_req *r = c->req;
    if (r->nhdr_str == 0)
        return refuse(c, 400, "header value without a name");
    r->last_was_value = true;
    hdr_append(r, r->nhdr_str - 1, at, len);
    return 0;
}

static int cb_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    c->pause = PAUSE_HEADERS;
    http_parser_pause(p, 1);
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct moat_http_req *r = c->req;
    if (r->body_len + len > r->body_limit)
        return refuse(c, 413, "request body too large");
    if (r->body_mode == MOAT_HTTP_BODY_SPOOL) {
        if (moat_write_all(r->spool_fd, at, len) < 0)
            return refuse(c, 500, errno == ENOSPC ? "spooling request body: no space left on device"
                                                  : "spooling request body failed");
    } else {
        if (r->body_len + len + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + len + 1)
                cap *= 2;
            if (cap > r->body_limit + 1)
                cap = r->body_limit + 1;
            r->body = xrealloc(r->body, cap);
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, at, len);
        r->body[r->body_len + len] = '\0';
    }
    r->body_len += len;
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    c->pause = PAUSE_MESSAGE;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- request head ------------------------------------------------------------------ */

/* Does a comma-separated header value contain `token` (case-insensitive)? */
static bool header_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t e = n;
        while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == tl && strncasecmp(v, token, tl) == 0)
            return true;
        v += n;
    }
    return false;
}

static int open_spool(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    _cleanup_free_ char *tmpl = xasprintf("%s/moat-http-spool-XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        unlink(tmpl);
    return fd;
}

/* The head is in: parse the target, pick the body mode, check the limits.
 * Returns false after answering with an error. */
static bool conn_headers_done(struct http_conn *c)
{
    struct moat_http_server *s = c->s;
    struct moat_http_req *r = c->req;
    http_parser *p = &c->parser;
    _cleanup_error_ moat_error *err = NULL;
    char msg[256];

    c->head_done = true;
    r->method = http_method_str((enum http_method)p->method);
    r->head = p->method == HTTP_HEAD;
    r->http10 = p->http_major < 1 || (p->http_major == 1 && p->http_minor == 0);
    c->close_after = !http_should_keep_alive(p);

    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!r->url || http_parser_parse_url(r->url, r->url_len, p->method == HTTP_CONNECT, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        http_conn_fail(c, 400, "malformed request target");
        return false;
    }
    if (moat_http_pct_decode(r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, false, &r->path,
                             &err) < 0) {
        snprintf(msg, sizeof(msg), "invalid request path: %s", err->msg);
        http_conn_fail(c, 400, msg);
        return false;
    }
    const char *q = u.field_set & (1 << UF_QUERY) ? r->url + u.field_data[UF_QUERY].off : "";
    size_t qlen = u.field_set & (1 << UF_QUERY) ? u.field_data[UF_QUERY].len : 0;
    if (moat_http_parse_query(q, qlen, &r->query, &err) < 0) {
        snprintf(msg, sizeof(msg), "invalid query string: %s", err->msg);
        http_conn_fail(c, 400, msg);
        return false;
    }
    r->upgrade = header_has_token(moat_http_header(r, "Connection"), "upgrade") &&
                 header_has_token(moat_http_header(r, "Upgrade"), "tcp");

    bool chunked = p->flags & F_CHUNKED;
    bool has_len = !chunked && p->content_length != ULLONG_MAX && p->content_length > 0;
    bool has_body = chunked || has_len;
    r->body_mode = MOAT_HTTP_BODY_MEMORY;
    r->body_limit = s->limits.max_body_memory;
    if (s->body)
        r->body_mode = s->body(r, s->ctx, &r->body_limit);
    if (r->body_mode == MOAT_HTTP_BODY_REJECT) {
        http_conn_fail(c, has_body ? 413 : 400, has_body ? "request body not accepted" : "request refused");
        return false;
    }
    if (r->body_mode == MOAT_HTTP_BODY_MEMORY && r->body_limit > s->limits.max_body_memory)
        r->body_limit = s->limits.max_body_memory;
    if (has_len && p->content_length > r->body_limit) {
        snprintf(msg, sizeof(msg), "request body too large (%llu bytes, limit %llu)",
                 (unsigned long long)p->content_length, (unsigned long long)r->body_limit);
        http_conn_fail(c, 413, msg);
        return false;
    }
    if (has_body && r->body_mode == MOAT_HTTP_BODY_SPOOL) {
        r->spool_fd = open_spool(s->spool_dir);
        if (r->spool_fd < 0) {
            snprintf(msg, sizeof(msg), "cannot spool request body in '%s': %s", s->spool_dir, strerror(errno));
            http_conn_fail(c, 500, msg);
            return false;
        }
    }
    const char *expect = moat_http_header(r, "Expect");
    if (expect && has_body && !r->http10 && strcasecmp(expect, "100-continue") == 0)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    /* The body: an inactivity timeout instead of the head's deadline. */
    conn_set_timer(c, s->limits.idle_timeout_s);
    return true;
}

static void conn_dispatch(struct http_conn *c)
{
    struct moat_http_req *r = c->req;
    if (r->spool_fd >= 0 && lseek(r->spool_fd, 0, SEEK_SET) < 0) {
        http_conn_fail(c, 500, "rewinding spooled request body failed");
        return;
    }
    if (c->parser.upgrade)
        c->close_after = true; /* what follows is not HTTP: hijack or close */
    c->state = CONN_HANDLE;
    conn_set_timer(c, 0);
    r->dispatched = true;
    c->s->handler(r, c->s->ctx);
}

static void conn_parse_error(struct http_conn *c, enum http_errno e)
{
    char msg[200];
    if (c->err_status) {
        http_conn_fail(c, c->err_status, c->err_msg);
    } else if (e == HPE_HEADER_OVERFLOW) {
        http_conn_fail(c, 431, "request header block too large");
    } else {
        snprintf(msg, sizeof(msg), "malformed HTTP request: %s", http_errno_description(e));
        http_conn_fail(c, 400, msg);
    }
}

/* libevent 2.1 reads at most 4 KiB per read callback (EVBUFFER_MAX_READ):
 * an upload of a few hundred MB (import, load, PUT archive) took an event
 * loop turn and four syscalls (epoll_wait, FIONREAD, readv, the spool's
 * write) per 4 KiB.  While a spooled body streams in and everything buffered
 * has been parsed, read the socket here in big pieces instead (the
 * bufferevent's input can't be added to: its end is frozen), up to PULL_MAX
 * per callback so other connections still get their turn.  The bytes go to
 * the same parser: limits, chunked decoding and the 413 are unchanged; what
 * the parser leaves (a pipelined next request) goes back to the input
 * buffer's front.  EOF and errors are left for the bufferevent to see. */
#define PULL_CHUNK (256 * 1024)
#define PULL_MAX (4u << 20)

static ssize_t conn_pull_body(struct http_conn *c, char **buf, size_t *pulled)
{
    struct moat_http_req *r = c->req;
    if (!c->head_done || !r || r->dispatched || r->body_mode != MOAT_HTTP_BODY_SPOOL || c->eof ||
        *pulled >= PULL_MAX)
        return 0;
    if (!*buf)
        *buf = xmalloc(PULL_CHUNK);
    ssize_t n;
    do
        n = read(c->fd, *buf, PULL_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 0; /* EAGAIN: wait for the next callback; EOF or an error: the bufferevent reports it */
    *pulled += (size_t)n;
    return n;
}

/* Feed buffered input to the parser while the connection is reading. */
static void conn_process(struct http_conn *c)
{
    if (c->busy)
        return; /* the running loop below picks up the new state */
    c->busy++;
    size_t max_head = c->s->limits.max_header_bytes, pulled = 0;
    _cleanup_free_ char *pull = NULL;
    while (!c->dead && c->state == CONN_READ) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) > HTTP_OUT_HIGH)
            break; /* the client isn't reading its answers: wait for the write callback */
        struct evbuffer_iovec v;
        bool direct = false;
        if (evbuffer_get_length(in) == 0) {
            ssize_t got = conn_pull_body(c, &pull, &pulled);
            if (got <= 0)
                break;
            v.iov_base = pull;
            v.iov_len = (size_t)got;
            direct = true;
        } else if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }
        size_t n = v.iov_len;
        if (!c->head_done && n > max_head + 1 - c->head_bytes)
            n = max_head + 1 - c->head_bytes;
        c->pause = PAUSE_NONE;
        size_t done = http_parser_execute(&c->parser, &c->s->settings, v.iov_base, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (!direct)
            evbuffer_drain(in, done);
        else if (done < v.iov_len && evbuffer_prepend(in, (char *)v.iov_base + done, v.iov_len - done) < 0) {
            http_conn_fail(c, 500, "out of memory");
            break;
        }
        if (!c->head_done)
            c->head_bytes += done + (c->pause == PAUSE_HEADERS);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (c->pause == PAUSE_HEADERS && c->head_bytes > max_head)
                http_conn_fail(c, 431, "request header block too large");
            else if (c->pause == PAUSE_HEADERS)
                conn_headers_done(c);
            else if (c->pause == PAUSE_MESSAGE)
                conn_dispatch(c);
        } else if (e != HPE_OK) {
            conn_parse_error(c, e);
        } else if (!c->head_done && c->head_bytes > max_head) {
            http_conn_fail(c, 431, "request header block too large");
        }
    }
    if (!conn_unbusy(c) && c->state == CONN_CLOSING)
        conn_start_close(c);
}

/* ---- bufferevent callbacks --------------------------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    if (c->state == CONN_LINGER) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->state == CONN_READ) {
        if (c->head_done)
            conn_set_timer(c, c->s->limits.idle_timeout_s); /* body progress */
        else
            conn_head_deadline(c);
        conn_process(c);
    }
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    c->busy++;
    struct moat_http_req *r = c->req;
    if (r && c->state == CONN_HANDLE && r->on_drain && r->above && pending <= r->low_water) {
        r->above = false;
        r->on_drain(r, r->drain_arg);
    }
    r = c->req;
    if (!c->dead && r && c->state == CONN_HANDLE && r->resp == RESP_FD && !r->out_pollable &&
        pending <= HTTP_OUT_LOW)
        http_fd_pump(r);
    else if (!c->dead && r && c->state == CONN_HANDLE && r->resp == RESP_FD && r->out_pollable &&
             pending <= HTTP_OUT_LOW && r->out_ev)
        event_add(r->out_ev, NULL);
    if (conn_unbusy(c))
        return;
    pending = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == CONN_CLOSING && pending == 0)
        conn_linger(c);
    else if (c->state == CONN_READ && pending <= HTTP_OUT_LOW)
        conn_process(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)bev;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        c->eof = true;
        /* A finished exchange whose answer is still queued: flush it first. */
        if (c->state == CONN_CLOSING)
            return;
        if (c->state == CONN_READ && !c->req && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
            conn_start_close(c);
            return;
        }
    }
    http_conn_free(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CONN_READ && c->head_deadline && !c->head_done)
        http_conn_fail(c, 408, "timed out waiting for the request");
    else if (c->state == CONN_READ && !c->req)
        http_conn_free(c); /* idle keep-alive connection */
    else
        http_conn_free(c); /* stalled body, or lingering close */
}

/* ---- the server ------------------------------------------------------------------ */

static int conn_new(struct moat_http_server *s, int fd, moat_error **err)
{
    if (s->nconns >= s->limits.max_connections) {
        close(fd);
        return 0;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        return moat_err_errno(err, e, "http: set up connection fd");
    }
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->fd = fd;
    c->bev = bufferevent_socket_new(s->base, fd, 0);
    c->timer = evtimer_new(s->base, conn_timer_cb, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->timer)
            event_free(c->timer);
        free(c);
        close(fd);
        return moat_err(err, ENOMEM, "http: cannot create a bufferevent");
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    socklen_t cl = sizeof(c->cred);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &cl) == 0)
        c->have_cred = true;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    /* libevent writes 16 KiB per callback by default: too little for exports. */
    bufferevent_set_max_single_write(c->bev, HTTP_OUT_HIGH);
    /* Bound what piles up in the input while a handler runs. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, s->limits.max_header_bytes + 64 * 1024);
    http_conn_update_wm(c);
    struct timeval wt = {.tv_sec = s->limits.idle_timeout_s};
    bufferevent_set_timeouts(c->bev, NULL, s->limits.idle_timeout_s ? &wt : NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_set_timer(c, s->limits.idle_timeout_s);
    return 0;
}

static void listener_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    moat_error *err = NULL;
    if (conn_new(arg, fd, &err) < 0)
        moat_error_free(err);
}

static void relisten_cb(evutil_socket_t fd, short what, void *arg)
{
    struct moat_http_server *s = arg;
    (void)fd;
    (void)what;
    if (s->listener)
        evconnlistener_enable(s->listener);
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
    struct moat_http_server *s = arg;
    /* EMFILE and friends: pause accepting for a moment instead of spinning. */
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        struct timeval tv = {.tv_sec = 1};
        evconnlistener_disable(l);
        event_add(s->relisten, &tv);
    }
}

int moat_http_server_new(const struct moat_http_server_opts *o, struct moat_http_server **ret, moat_error **err)
{
    if (!o || !o->base || !o->handler)
        return moat_err(err, EINVAL, "http server: an event base and a handler are required");
    struct moat_http_server *s = xcalloc(1, sizeof(*s));
    s->base = o->base;
    s->handler = o->handler;
    s->body = o->body;
    s->ctx = o->ctx;
    if (o->limits)
        s->limits = *o->limits;
    else
        moat_http_limits_default(&s->limits);
    s->spool_dir = xstrdup(o->spool_dir ? o->spool_dir : "/var/tmp");
    s->default_headers = xcalloc(1, sizeof(char *));
    for (size_t i = 0; o->default_headers && o->default_headers[i] && o->default_headers[i + 1]; i += 2) {
        moat_strv_push(&s->default_headers, o->default_headers[i]);
        moat_strv_push(&s->default_headers, o->default_headers[i + 1]);
    }
    s->relisten = evtimer_new(s->base, relisten_cb, s);
    s->settings.on_message_begin = cb_message_begin;
    s->settings.on_url = cb_url;
    s->settings.on_header_field = cb_header_field;
    s->settings.on_header_value = cb_header_value;
    s->settings.on_headers_complete = cb_headers_complete;
    s->settings.on_body = cb_body;
    s->settings.on_message_complete = cb_message_complete;
    /* A client that goes away mid-answer must cost an EPIPE, not the process.
     * (libevent writes with writev, which has no MSG_NOSIGNAL.) */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    *ret = s;
    return 0;
}

int moat_http_server_listen_fd(struct moat_http_server *s, int listen_fd, moat_error **err)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(listen_fd);
        return moat_err_errno(err, e, "http: set up listening socket");
    }
    if (s->listener) {
        close(listen_fd);
        return moat_err(err, EBUSY, "http: the server already has a listener");
    }
    s->listener = evconnlistener_new(s->base, listener_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
                                     listen_fd);
    if (!s->listener) {
        close(listen_fd);
        return moat_err(err, ENOMEM, "http: cannot listen");
    }
    evconnlistener_set_error_cb(s->listener, listener_error_cb);
    return 0;
}

int moat_http_server_adopt_fd(struct moat_http_server *s, int fd, moat_error **err)
{
    return conn_new(s, fd, err);
}

size_t moat_http_server_connections(const struct moat_http_server *s)
{
    return s->nconns;
}

void moat_http_server_free(struct moat_http_server *s)
{
    if (!s)
        return;
    if (s->listener)
        evconnlistener_free(s->listener);
    s->listener = NULL;
    while (s->conns) {
        struct http_conn *c = s->conns;
        c->busy = 0;
        http_conn_free(c);
    }
    if (s->relisten)
        event_free(s->relisten);
    moat_strv_free(s->default_headers);
    free(s->spool_dir);
    free(s);
}

/* ---- request accessors ------------------------------------------------------------ */

const char *moat_http_method(const struct moat_http_req *r) { return r->method; }
const char *moat_http_path(const struct moat_http_req *r) { return r->path ? r->path : "/"; }

const char *moat_http_query(const struct moat_http_req *r, const char *key)
{
    for (size_t i = 0; r->query && r->query[i]; i += 2)
        if (strcmp(r->query[i], key) == 0)
            return r->query[i + 1];
    return NULL;
}

char *const *moat_http_query_all(const struct moat_http_req *r, const char *key)
{
    struct moat_http_req *w = (struct moat_http_req *)r; /* the cache is not observable state */
    for (struct http_qall *q = w->qall; q; q = q->next)
        if (strcmp(q->key, key) == 0)
            return q->values;
    struct http_qall *q = xcalloc(1, sizeof(*q));
    size_t n = 0;
    for (size_t i = 0; r->query && r->query[i]; i += 2)
        n += strcmp(r->query[i], key) == 0;
    q->key = xstrdup(key);
    q->values = xcalloc(n + 1, sizeof(char *));
    n = 0;
    for (size_t i = 0; r->query && r->query[i]; i += 2)
        if (strcmp(r->query[i], key) == 0)
            q->values[n++] = r->query[i + 1]; /* borrowed from r->query */
    q->next = w->qall;
    w->qall = q;
    return q->values;
}

bool moat_http_query_bool(const struct moat_http_req *r, const char *key, bool def)
{
    const char *v = moat_http_query(r, key);
    if (!v)
        return def;
    while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' || v[n - 1] == '\r'))
        n--;
    static const char *const falsy[] = {"0", "no", "false", "none"};
    if (n == 0)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(falsy); i++)
        if (strlen(falsy[i]) == n && strncasecmp(v, falsy[i], n) == 0)
            return false;
    return true;
}

const char *moat_http_header(const struct moat_http_req *r, const char *name)
{
    for (size_t i = 0; r->hdr && r->hdr[i]; i += 2)
        if (strcasecmp(r->hdr[i], name) == 0)
            return r->hdr[i + 1];
    return NULL;
}

const char *moat_http_body(const struct moat_http_req *r, size_t *len)
{
    if (r->body_mode == MOAT_HTTP_BODY_SPOOL || !r->body || r->body_len == 0) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->body_len;
    return r->body;
}

int moat_http_body_fd(struct moat_http_req *r)
{
    if (r->body_len == 0)
        return -1;
    if (r->body_mode == MOAT_HTTP_BODY_SPOOL)
        return r->spool_fd;
    if (r->body_fd >= 0)
        return r->body_fd;
    int fd = memfd_create("moat-http-body", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (moat_write_all(fd, r->body, r->body_len) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    r->body_fd = fd;
    return fd;
}

uint64_t moat_http_body_len(const struct moat_http_req *r) { return r->body_len; }
bool moat_http_wants_upgrade(const struct moat_http_req *r) { return r->upgrade; }

bool moat_http_peer(const struct moat_http_req *r, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (!r->c || !r->c->have_cred)
        return false;
    if (pid)
        *pid = r->c->cred.pid;
    if (uid)
        *uid = r->c->cred.uid;
    if (gid)
        *gid = r->c->cred.gid;
    return true;
}

void moat_http_set_data(struct moat_http_req *r, void *data) { r->data = data; }
void *moat_http_get_data(const struct moat_http_req *r) { return r->data; }

void moat_http_on_close(struct moat_http_req *r, void (*cb)(struct moat_http_req *r, void *arg), void *arg)
{
    r->on_close = cb;
    r->close_arg = arg;
}
