/* libFuzzer target: the HTTP server (src/api/http*.c) end to end.  The input
 * is what a client sends on one connection: it goes through a socketpair into
 * the real server (bufferevents, http-parser, the limits, body modes, replies,
 * streams, delayed answers and hijack), and the answers are read back until
 * the server closes.  Any crash, leak, sanitizer report or hang is a bug;
 * a connection the server never closes after the client's EOF traps. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "moat/http.h"
#include "moat/json.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct moat_http_server *srv;
static struct event *delay_ev;
static struct moat_http_req *held;

struct client {
    int fd;
    const uint8_t *data;
    size_t size, off;
    bool eof;
    struct event *rd, *wr;
};

static void held_gone(struct moat_http_req *r, void *arg)
{
    (void)r;
    (void)arg;
    held = NULL;
    event_del(delay_ev);
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (held)
        moat_http_reply(held, 200, "text/plain", "late", 4);
    held = NULL;
}

static void answer(struct moat_http_req *r)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Method", json_object_new_string(moat_http_method(r)));
    json_object_object_add(o, "Path", json_object_new_string(moat_http_path(r)));
    const char *a = moat_http_query(r, "a");
    json_object_object_add(o, "A", a ? json_object_new_string(a) : NULL);
    json_object_object_add(o, "B", json_object_new_boolean(moat_http_query_bool(r, "b", true)));
    struct json_object *all = json_object_new_array();
    for (char *const *v = moat_http_query_all(r, "a"); v && *v; v++)
        json_object_array_add(all, json_object_new_string(*v));
    json_object_object_add(o, "All", all);
    const char *h = moat_http_header(r, "X-Test");
    json_object_object_add(o, "X", h ? json_object_new_string(h) : NULL);
    json_object_object_add(o, "Upgrade", json_object_new_boolean(moat_http_wants_upgrade(r)));
    size_t len = 0;
    const char *body = moat_http_body(r, &len);
    int fd = moat_http_body_fd(r);
    if (fd >= 0) {
        char buf[64];
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        if (n < 0 || (body && (size_t)n != (len < sizeof(buf) ? len : sizeof(buf))))
            __builtin_trap();
    }
    if ((body != NULL) != (len > 0) || (fd >= 0) != (moat_http_body_len(r) > 0))
        __builtin_trap();
    json_object_object_add(o, "Len", json_object_new_int64((int64_t)moat_http_body_len(r)));
    moat_http_add_header(r, "X-Reply", moat_http_path(r));
    moat_http_reply_json(r, 200, o);
}

static void handler(struct moat_http_req *r, void *ctx)
{
    (void)ctx;
    const char *p = moat_http_path(r);
    if (moat_str_has_prefix(p, "/h")) {
        int fd = -1;
        char *pend = NULL;
        size_t plen = 0;
        moat_error *err = NULL;
        if (moat_http_hijack(r, moat_http_wants_upgrade(r), &fd, &pend, &plen, &err) == 0) {
            if (plen)
                (void)!write(fd, pend, plen);
            close(fd);
        }
        free(pend);
        moat_error_free(err);
    } else if (moat_str_has_prefix(p, "/s")) {
        moat_http_stream_start(r, 200, "application/json");
        size_t len = 0;
        const char *b = moat_http_body(r, &len);
        moat_http_stream_write(r, b ? b : "x", b ? len : 1);
        moat_http_stream_end(r);
    } else if (moat_str_has_prefix(p, "/d") && !held) {
        held = r;
        moat_http_on_close(r, held_gone, NULL);
        struct timeval tv = {0, 0};
        evtimer_add(delay_ev, &tv);
    } else if (moat_str_has_prefix(p, "/f")) {
        int fd = memfd_create("fuzz", MFD_CLOEXEC);
        size_t len = 0;
        const char *b = moat_http_body(r, &len);
        if (fd >= 0 && b)
            (void)!write(fd, b, len);
        if (fd >= 0)
            lseek(fd, 0, SEEK_SET);
        moat_http_reply_fd(r, 200, "application/x-tar", fd);
    } else if (moat_str_has_prefix(p, "/e")) {
        moat_http_reply_error(r, 404, "no such object: %s", p);
    } else {
        answer(r);
    }
}

static enum moat_http_body_mode body_mode(struct moat_http_req *r, void *ctx, uint64_t *limit)
{
    (void)ctx;
    const char *p = moat_http_path(r);
    if (moat_str_has_prefix(p, "/sp")) {
        *limit = 4096;
        return MOAT_HTTP_BODY_SPOOL;
    }
    if (moat_str_has_prefix(p, "/r"))
        return MOAT_HTTP_BODY_REJECT;
    *limit = 4096;
    return MOAT_HTTP_BODY_MEMORY;
}

static void init(void)
{
    static const char *const hdrs[] = {"API-Version", "1.41", "OSType", "linux", NULL};
    struct moat_http_limits lim;
    moat_http_limits_default(&lim);
    lim.max_header_bytes = 2048;
    lim.max_headers = 16;
    lim.max_body_memory = 8192;
    base = event_base_new();
    delay_ev = evtimer_new(base, delay_cb, NULL);
    struct moat_http_server_opts o = {.base = base, .handler = handler, .body = body_mode, .limits = &lim,
                                      .spool_dir = "/tmp", .default_headers = hdrs};
    moat_error *err = NULL;
    if (!base || !delay_ev || moat_http_server_new(&o, &srv, &err) < 0)
        abort();
}

static void client_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)what;
    while (c->off < c->size) {
        ssize_t n = write(fd, c->data + c->off, c->size - c->off);
        if (n > 0) {
            c->off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        c->off = c->size; /* the server closed early */
    }
    shutdown(fd, SHUT_WR);
    event_del(c->wr);
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    char buf[65536];
    (void)what;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        c->eof = true;
        event_base_loopbreak(base);
        return;
    }
}

static void hang_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    __builtin_trap(); /* the server kept a connection after the client's EOF */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base)
        init();
    if (size > 256 * 1024)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        abort();
    moat_error *err = NULL;
    if (moat_http_server_adopt_fd(srv, sv[0], &err) < 0)
        abort();
    struct client c = {.fd = sv[1], .data = data, .size = size};
    c.rd = event_new(base, c.fd, EV_READ | EV_PERSIST, client_read_cb, &c);
    c.wr = event_new(base, c.fd, EV_WRITE | EV_PERSIST, client_write_cb, &c);
    struct event *hang = evtimer_new(base, hang_cb, NULL);
    struct timeval tv = {.tv_sec = 5};
    event_add(c.rd, NULL);
    event_add(c.wr, NULL);
    event_add(hang, &tv);
    while (!c.eof)
        event_base_loop(base, EVLOOP_ONCE);
    /* The server closes its end once its last answer is flushed (lingering
     * close: it waits for our EOF, which it has); let it finish. */
    while (moat_http_server_connections(srv) > 0)
        event_base_loop(base, EVLOOP_ONCE);
    if (held)
        __builtin_trap();
    event_free(hang);
    event_free(c.rd);
    event_free(c.wr);
    close(c.fd);
    return 0;
}
