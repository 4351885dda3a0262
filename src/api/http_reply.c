/* Answers: complete responses, chunked streams, files and pipes copied as the
 * socket drains, and the hijack hand-off.  Nothing here blocks the loop except
 * the hijack's header flush, which the contract makes synchronous (T10). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/http_internal.h"
#include "moat/json.h"
#include "moat/util.h"

static bool usable(const struct moat_http_req *r)
{
    return r && !r->gone && r->resp == RESP_NONE;
}

static bool header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

static void add_header_lines(struct evbuffer *out, char *const *v)
{
    for (size_t i = 0; v && v[i] && v[i + 1]; i += 2)
        if (header_safe(v[i]) && header_safe(v[i + 1]))
            evbuffer_add_printf(out, "%s: %s\r\n", v[i], v[i + 1]);
}

/* Status line and headers.  clen < 0: no Content-Length. */
static void write_head(struct moat_http_req *r, int status, const char *ctype, int64_t clen, bool chunked)
{
    struct http_conn *c = r->c;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char date[64] = "";
    struct tm tm;
    time_t t = time(NULL);
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, moat_http_reason(status));
    add_header_lines(out, c->s->default_headers);
    add_header_lines(out, r->extra_headers);
    if (ctype && header_safe(ctype))
        evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (date[0])
        evbuffer_add_printf(out, "Date: %s\r\n", date);
    if (chunked)
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
    else if (clen >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)clen);
    if (c->close_after)
        evbuffer_add_printf(out, "Connection: close\r\n");
    else if (r->http10)
        evbuffer_add_printf(out, "Connection: keep-alive\r\n");
    evbuffer_add(out, "\r\n", 2);
}

void moat_http_add_header(struct moat_http_req *r, const char *name, const char *value)
{
    if (!usable(r) || !name || !value)
        return;
    if (!r->extra_headers)
        r->extra_headers = xcalloc(1, sizeof(char *));
    moat_strv_push(&r->extra_headers, name);
    moat_strv_push(&r->extra_headers, value);
}

void moat_http_reply(struct moat_http_req *r, int status, const char *content_type, const void *body, size_t len)
{
    if (!usable(r))
        return;
    bool no_body = status < 200 || status == 204 || status == 304;
    write_head(r, status, content_type, no_body ? -1 : (int64_t)len, false);
    if (!r->head && !no_body && len)
        evbuffer_add(bufferevent_get_output(r->c->bev), body, len);
    r->resp = RESP_DONE;
    http_req_finish(r);
}

static char *json_line(struct json_object *o, size_t *len)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = strlen(s);
    char *buf = xmalloc(n + 2);
    memcpy(buf, s, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    *len = n + 1;
    return buf;
}

void moat_http_reply_json(struct moat_http_req *r, int status, struct json_object *o)
{
    if (!usable(r))
        return;
    size_t len;
    _cleanup_free_ char *buf = json_line(o, &len);
    moat_http_reply(r, status, "application/json", buf, len);
}

void moat_http_reply_error(struct moat_http_req *r, int status, const char *fmt, ...)
{
    if (!usable(r))
        return;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    /* A HEAD answer has no body: the message goes in a header too (moat's client shows it;
     * CR, LF and other controls become spaces so it stays one header line). */
    if (r->head && msg) {
        _cleanup_free_ char *h = xstrndup(msg, 1024);
        for (char *p = h; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
        moat_http_add_header(r, "X-Moat-Error", h);
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(msg ? msg : moat_http_reason(status)));
    moat_http_reply_json(r, status, o);
}

void moat_http_reply_empty(struct moat_http_req *r, int status)
{
    moat_http_reply(r, status, NULL, NULL, 0);
}

/* ---- streams ------------------------------------------------------------------------ */

void moat_http_stream_start(struct moat_http_req *r, int status, const char *content_type)
{
    if (!usable(r))
        return;
    r->chunked = !r->http10;
    if (r->http10)
        r->c->close_after = true; /* the body ends when the connection does */
    write_head(r, status, content_type, -1, r->chunked);
    r->resp = RESP_STREAM;
}

static bool streaming(const struct moat_http_req *r)
{
    return r && !r->gone && (r->resp == RESP_STREAM || r->resp == RESP_FD);
}

void moat_http_stream_write(struct moat_http_req *r, const void *buf, size_t len)
{
    if (!streaming(r) || r->head || len == 0)
        return;
    struct evbuffer *out = bufferevent_get_output(r->c->bev);
    if (r->chunked) {
        evbuffer_add_printf(out, "%zx\r\n", len);
        evbuffer_add(out, buf, len);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, buf, len);
    }
    if (r->on_drain && evbuffer_get_length(out) > r->low_water)
        r->above = true;
}

void moat_http_stream_json(struct moat_http_req *r, struct json_object *o)
{
    if (!streaming(r))
        return;
    size_t len;
    _cleanup_free_ char *buf = json_line(o, &len);
    moat_http_stream_write(r, buf, len);
}

void moat_http_stream_end(struct moat_http_req *r)
{
    if (!streaming(r))
        return;
    if (r->chunked && !r->head)
        evbuffer_add(bufferevent_get_output(r->c->bev), "0\r\n\r\n", 5);
    r->resp = RESP_DONE;
    http_req_finish(r);
}

size_t moat_http_stream_pending(const struct moat_http_req *r)
{
    if (!r || r->gone)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(r->c->bev));
}

void moat_http_on_drain(struct moat_http_req *r, size_t low_water, void (*cb)(struct moat_http_req *r, void *arg),
                        void *arg)
{
    if (!r || r->gone)
        return;
    r->on_drain = cb;
    r->drain_arg = arg;
    r->low_water = low_water;
    r->above = cb && moat_http_stream_pending(r) > low_water;
    http_conn_update_wm(r->c);
}

/* ---- files and pipes ------------------------------------------------------------------- */

void http_resp_release(struct moat_http_req *r)
{
    if (r->out_ev)
        event_free(r->out_ev);
    r->out_ev = NULL;
    if (r->out_fd >= 0)
        close(r->out_fd);
    r->out_fd = -1;
    free(r->out_buf);
    r->out_buf = NULL;
}

/* Move bytes from the fd to the socket's queue until the queue is full, the
 * pipe is empty or the fd ends. */
void http_fd_pump(struct moat_http_req *r)
{
    struct evbuffer *out = bufferevent_get_output(r->c->bev);
    while (evbuffer_get_length(out) < HTTP_OUT_HIGH) {
        ssize_t n = read(r->out_fd, r->out_buf, HTTP_FD_CHUNK);
        if (n > 0) {
            moat_http_stream_write(r, r->out_buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (r->out_ev)
                event_add(r->out_ev, NULL);
            return;
        }
        if (n < 0) {
            /* A read error after the 200: cut the body short (no final
             * chunk) so the client sees a truncated answer, not a whole one. */
            r->c->close_after = true;
            r->chunked = false;
        }
        moat_http_stream_end(r);
        return;
    }
    if (r->out_ev)
        event_del(r->out_ev); /* the write callback re-arms it below HTTP_OUT_LOW */
}

static void fd_readable_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_fd_pump(arg);
}

void moat_http_reply_fd(struct moat_http_req *r, int status, const char *content_type, int fd)
{
    if (!usable(r)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (fd < 0) {
        moat_http_reply_error(r, 500, "no data to send");
        return;
    }
    moat_http_stream_start(r, status, content_type);
    r->resp = RESP_FD;
    r->out_fd = fd;
    if (r->head) {
        moat_http_stream_end(r);
        return;
    }
    struct stat st;
    r->out_pollable = !(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
    int fl = fcntl(fd, F_GETFL);
    if (r->out_pollable && fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        r->out_ev = event_new(r->c->s->base, fd, EV_READ | EV_PERSIST, fd_readable_cb, r);
        if (!r->out_ev || event_add(r->out_ev, NULL) < 0) {
            /* Not pollable after all (epoll refuses it): read it like a file. */
            if (r->out_ev)
                event_free(r->out_ev);
            r->out_ev = NULL;
            r->out_pollable = false;
            fcntl(fd, F_SETFL, fl);
        }
    } else {
        r->out_pollable = false;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    r->out_buf = xmalloc(HTTP_FD_CHUNK);
    http_fd_pump(r);
}

/* ---- hijack --------------------------------------------------------------------------- */

int moat_http_hijack(struct moat_http_req *r, bool upgrade, int *ret_fd, char **ret_pending, size_t *ret_pending_len,
                     moat_error **err)
{
    *ret_fd = -1;
    *ret_pending = NULL;
    *ret_pending_len = 0;
    if (!usable(r))
        return moat_err(err, EINVAL, "hijack: the request was already answered or its client is gone");
    struct http_conn *c = r->c;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Type: application/vnd.docker.raw-stream\r\n",
                        upgrade ? "101 UPGRADED" : "200 OK");
    if (upgrade)
        evbuffer_add_printf(out, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
    add_header_lines(out, c->s->default_headers);
    add_header_lines(out, r->extra_headers);
    evbuffer_add(out, "\r\n", 2);

    /* Synchronous flush (with any earlier answer still queued ahead of it):
     * the caller's first stream byte must not share a read with the head. */
    int fd = c->fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        http_req_drop(r);
        http_conn_free(c);
        return moat_err_errno(err, e, "hijack: make the socket blocking");
    }
    evbuffer_unfreeze(out, 1); /* bufferevent_socket freezes its output's start */
    while (evbuffer_get_length(out) > 0) {
        int n = evbuffer_write(out, fd);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EPIPE;
            http_req_drop(r);
            http_conn_free(c);
            return moat_err_errno(err, e, "hijack: write the response head");
        }
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    if (len) {
        char *buf = xmalloc(len);
        if (evbuffer_remove(in, buf, len) != (int)len) {
            free(buf);
            http_req_drop(r);
            http_conn_free(c);
            return moat_err(err, EIO, "hijack: cannot take the buffered input");
        }
        *ret_pending = buf;
        *ret_pending_len = len;
    }
    c->fd = -1; /* the caller's now; http_conn_free must not close it */
    http_req_drop(r);
    http_conn_free(c);
    *ret_fd = fd;
    return 0;
}
