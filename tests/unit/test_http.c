/* The HTTP server (src/api/http*.c): pure query/percent parsing, then a real
 * server on an event_base with a raw-bytes client on a socketpair or a unix
 * listening socket. */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "moat/http.h"
#include "moat/json.h"
#include "moat/util.h"
#include "unit.h"

/* ---- pure parsing ------------------------------------------------------------------ */

static void check_decode(const char *in, bool plus, const char *want)
{
    char *out = NULL;
    moat_error *err = NULL;
    int rc = moat_http_pct_decode(in, strlen(in), plus, &out, &err);
    if (want) {
        CHECK(rc == 0);
        CHECK_STR(out, want);
    } else {
        CHECK(rc < 0);
        CHECK(err && err->msg && err->errnum == EINVAL);
    }
    free(out);
    moat_error_free(err);
}

static void test_pct_decode(void)
{
    check_decode("a%20b", false, "a b");
    check_decode("a+b", false, "a+b");
    check_decode("a+b", true, "a b");
    check_decode("%2F%2f", false, "//");
    check_decode("%e2%82%AC", false, "\xe2\x82\xac");
    check_decode("", false, "");
    check_decode("%", false, NULL);
    check_decode("%2", false, NULL);
    check_decode("ab%2", false, NULL);
    check_decode("%zz", false, NULL);
    check_decode("%g0", false, NULL);
    check_decode("%00", false, NULL);
    check_decode("x%00y", true, NULL);
    /* A raw NUL inside the given length. */
    char *out = NULL;
    moat_error *err = NULL;
    CHECK(moat_http_pct_decode("a\0b", 3, false, &out, &err) < 0);
    CHECK_ERR_HAS(err, "NUL");
    moat_error_free(err);
    /* Only len bytes are read: "%4" followed by '1' outside the range is bad. */
    err = NULL;
    CHECK(moat_http_pct_decode("%41", 2, false, &out, &err) < 0);
    moat_error_free(err);
    err = NULL;
    CHECK(moat_http_pct_decode("%41", 3, false, &out, &err) == 0);
    CHECK_STR(out, "A");
    free(out);
}

static void check_query(const char *q, const char *const *want)
{
    char **v = NULL;
    moat_error *err = NULL;
    CHECK(moat_http_parse_query(q, strlen(q), &v, &err) == 0);
    size_t n = 0;
    for (; want[n]; n++)
        CHECK_STR(v ? v[n] : NULL, want[n]);
    CHECK(v && moat_strv_len(v) == n);
    moat_strv_free(v);
}

static void test_parse_query(void)
{
    check_query("a=1&b=x%20y&b=z", (const char *const[]){"a", "1", "b", "x y", "b", "z", NULL});
    check_query("", (const char *const[]){NULL});
    check_query("&&&", (const char *const[]){NULL});
    check_query("flag", (const char *const[]){"flag", "", NULL});
    check_query("a=&=b", (const char *const[]){"a", "", "", "b", NULL});
    check_query("a=b=c", (const char *const[]){"a", "b=c", NULL});
    check_query("f=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
                (const char *const[]){"f", "{\"label\":[\"a=b\"]}", NULL});
    check_query("q=a+b%2Bc", (const char *const[]){"q", "a b+c", NULL});
    char **v = NULL;
    moat_error *err = NULL;
    CHECK(moat_http_parse_query("ok=1&x=%zz", 10, &v, &err) < 0);
    CHECK_ERR_HAS(err, "query parameter 'x'");
    CHECK(v == NULL);
    moat_error_free(err);
    err = NULL;
    CHECK(moat_http_parse_query("k%00=1", 6, &v, &err) < 0);
    moat_error_free(err);
}

static void test_reason(void)
{
    CHECK_STR(moat_http_reason(404), "Not Found");
    CHECK_STR(moat_http_reason(200), "OK");
    CHECK_STR(moat_http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(moat_http_reason(799), "Unknown");
}

/* ---- a server and a raw client ------------------------------------------------------ */

struct ts {
    struct event_base *base;
    struct moat_http_server *srv;
    int cfd;
    char *in;
    size_t in_len;
    bool eof;
    struct moat_http_req *held;
    int closes;
    int nreq;
    struct event *timer;
    int hijack_fd;
    char *pend;
    size_t pend_len;
    bool head_flushed_at_hijack;
    int hijack_fd_flags, hijack_fd_fdflags;
    bool qb[8];
    char *qall;
    int pipe_rd;
    char *file_path;
    char dir[64];
    int fds_at_start;
    int drains;
};

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static const char *const default_headers[] = {"API-Version", "1.41", "OSType", "linux", NULL};

static void on_close_cb(struct moat_http_req *r, void *arg)
{
    struct ts *t = arg;
    (void)r;
    t->closes++;
    t->held = NULL;
}

static void drain_cb(struct moat_http_req *r, void *arg)
{
    struct ts *t = arg;
    CHECK(r == t->held);
    t->drains++;
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ts *t = arg;
    (void)fd;
    (void)what;
    if (t->held)
        moat_http_reply(t->held, 200, "text/plain", "late", 4);
    t->held = NULL;
}

static void h_echo(struct ts *t, struct moat_http_req *r)
{
    size_t bl = 0;
    const char *b = moat_http_body(r, &bl);
    const char *host = moat_http_header(r, "host");
    char *s = xasprintf("%s %s a=%s x=%s host=%s len=%zu body=%.*s", moat_http_method(r), moat_http_path(r),
                        moat_http_query(r, "a") ? moat_http_query(r, "a") : "-",
                        moat_http_header(r, "X-TEST") ? moat_http_header(r, "X-TEST") : "-",
                        host ? host : "(none)", bl, (int)bl, b ? b : "");
    (void)t;
    moat_http_add_header(r, "X-Echo", "yes");
    moat_http_add_header(r, "X-Bad", "a\r\nInjected: 1");
    moat_http_reply(r, 200, "text/plain", s, strlen(s));
    free(s);
}

static void h_query(struct ts *t, struct moat_http_req *r)
{
    const char *keys[] = {"t", "f", "n", "e", "sp", "zero", "absent", "yes"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        t->qb[i] = moat_http_query_bool(r, keys[i], i == 6);
    char *const *names = moat_http_query_all(r, "names");
    char *const *none = moat_http_query_all(r, "nope");
    free(t->qall);
    t->qall = xstrdup("");
    for (size_t i = 0; names && names[i]; i++) {
        char *n = xasprintf("%s%s;", t->qall, names[i]);
        free(t->qall);
        t->qall = n;
    }
    if (!none || none[0])
        t->qall[0] = '!';
    CHECK(moat_http_query_all(r, "names") == names); /* cached, owned by r */
    moat_http_reply_empty(r, 204);
}

static void h_hijack(struct ts *t, struct moat_http_req *r)
{
    moat_error *err = NULL;
    int rc = moat_http_hijack(r, moat_http_wants_upgrade(r), &t->hijack_fd, &t->pend, &t->pend_len, &err);
    CHECK(rc == 0);
    if (rc < 0)
        fprintf(stderr, "    hijack: %s\n", err->msg);
    moat_error_free(err);
    if (rc < 0)
        return;
    /* The head must already be in the client's socket, complete. */
    char buf[4096];
    ssize_t n = recv(t->cfd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
    t->head_flushed_at_hijack = n > 0 && memmem(buf, (size_t)n, "\r\n\r\n", 4) != NULL;
    t->hijack_fd_flags = fcntl(t->hijack_fd, F_GETFL);
    t->hijack_fd_fdflags = fcntl(t->hijack_fd, F_GETFD);
}

static void h_spool(struct ts *t, struct moat_http_req *r)
{
    (void)t;
    int fd = moat_http_body_fd(r);
    size_t ml = 7;
    const char *mem = moat_http_body(r, &ml);
    char *data = NULL;
    size_t len = 0;
    moat_error *err = NULL;
    if (fd < 0 || moat_read_fd_bounded(fd, 1 << 20, &data, &len, &err) < 0) {
        moat_error_free(err);
        moat_http_reply_error(r, 500, "no body fd");
        return;
    }
    char *s = xasprintf("mem=%s fdlen=%zu bodylen=%llu data=%s", mem ? "yes" : "no", len,
                        (unsigned long long)moat_http_body_len(r), data);
    moat_http_reply(r, 200, "text/plain", s, strlen(s));
    free(s);
    free(data);
}

static void handler(struct moat_http_req *r, void *ctx)
{
    struct ts *t = ctx;
    const char *p = moat_http_path(r);
    t->nreq++;
    if (strcmp(p, "/echo") == 0) {
        h_echo(t, r);
    } else if (strcmp(p, "/query") == 0) {
        h_query(t, r);
    } else if (strcmp(p, "/err") == 0) {
        moat_http_reply_error(r, 404, "no such container: %s", "abc");
    } else if (strcmp(p, "/json") == 0) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        json_object_object_add(o, "Path", json_object_new_string("/a/b"));
        moat_http_reply_json(r, 201, o);
    } else if (strcmp(p, "/delay") == 0 || strcmp(p, "/stream") == 0 || strcmp(p, "/pipe") == 0) {
        t->held = r;
        moat_http_on_close(r, on_close_cb, t);
        if (p[1] == 'd') {
            struct timeval tv = {0, 50000};
            evtimer_add(t->timer, &tv);
        } else if (p[1] == 's') {
            moat_http_stream_start(r, 200, "application/json");
        } else {
            moat_http_reply_fd(r, 200, "application/x-tar", t->pipe_rd);
            t->pipe_rd = -1;
        }
    } else if (strncmp(p, "/hijack", 7) == 0) {
        h_hijack(t, r);
    } else if (strncmp(p, "/spool", 6) == 0 || strcmp(p, "/memfd") == 0) {
        h_spool(t, r);
    } else if (strcmp(p, "/file") == 0) {
        moat_http_reply_fd(r, 200, "application/x-tar", open(t->file_path, O_RDONLY | O_CLOEXEC));
    } else if (strcmp(p, "/peer") == 0) {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        if (!moat_http_peer(r, &pid, &uid, &gid)) {
            moat_http_reply_error(r, 500, "no peer");
            return;
        }
        char *s = xasprintf("pid=%d uid=%u", (int)pid, (unsigned)uid);
        moat_http_reply(r, 200, "text/plain", s, strlen(s));
        free(s);
    } else {
        moat_http_reply_error(r, 404, "page not found");
    }
}

static enum moat_http_body_mode body_mode(struct moat_http_req *r, void *ctx, uint64_t *limit)
{
    const char *p = moat_http_path(r);
    (void)ctx;
    if (strncmp(p, "/spool", 6) == 0) {
        *limit = strcmp(p, "/spool-small") == 0 ? 16 : 1 << 20;
        return MOAT_HTTP_BODY_SPOOL;
    }
    if (strcmp(p, "/small") == 0) {
        *limit = 10;
        return MOAT_HTTP_BODY_MEMORY;
    }
    if (strcmp(p, "/reject") == 0)
        return MOAT_HTTP_BODY_REJECT;
    return MOAT_HTTP_BODY_MEMORY; /* *limit stays at the server's default */
}

static void ts_start(struct ts *t, const struct moat_http_limits *limits, bool listen_socket)
{
    memset(t, 0, sizeof(*t));
    t->fds_at_start = count_fds();
    t->cfd = t->hijack_fd = t->pipe_rd = -1;
    t->base = event_base_new();
    t->timer = evtimer_new(t->base, delay_cb, t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/moat-unit-http-XXXXXX");
    CHECK(mkdtemp(t->dir) != NULL);
    struct moat_http_server_opts o = {.base = t->base, .handler = handler, .body = body_mode, .ctx = t,
                                      .limits = limits, .spool_dir = t->dir, .default_headers = default_headers};
    moat_error *err = NULL;
    CHECK(moat_http_server_new(&o, &t->srv, &err) == 0);
    moat_error_free(err);
    if (!listen_socket) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK(moat_http_server_adopt_fd(t->srv, sv[0], &err) == 0);
        t->cfd = sv[1];
    } else {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", t->dir);
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        CHECK(listen(l, 16) == 0);
        CHECK(moat_http_server_listen_fd(t->srv, l, &err) == 0);
        t->cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(connect(t->cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    }
    fcntl(t->cfd, F_SETFL, fcntl(t->cfd, F_GETFL) | O_NONBLOCK);
}

static void ts_stop(struct ts *t)
{
    moat_http_server_free(t->srv);
    if (t->cfd >= 0)
        close(t->cfd);
    if (t->hijack_fd >= 0)
        close(t->hijack_fd);
    if (t->pipe_rd >= 0)
        close(t->pipe_rd);
    event_free(t->timer);
    event_base_free(t->base);
    free(t->in);
    free(t->pend);
    free(t->qall);
    if (t->file_path)
        unlink(t->file_path);
    free(t->file_path);
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/sock", t->dir);
    unlink(sock);
    rmdir(t->dir);
    CHECK(count_fds() == t->fds_at_start); /* no fd leaked by the server */
}

static void ts_read(struct ts *t)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(t->cfd, buf, sizeof(buf));
        if (n > 0) {
            t->in = xrealloc(t->in, t->in_len + (size_t)n + 1);
            memcpy(t->in + t->in_len, buf, (size_t)n);
            t->in_len += (size_t)n;
            t->in[t->in_len] = '\0';
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            t->eof = true;
        return;
    }
}

/* Run the loop and read the client side for ms, or until stop(t) holds. */
static bool ts_pump(struct ts *t, int ms, bool (*stop)(struct ts *, const void *), const void *arg)
{
    uint64_t end = moat_now_ns() + (uint64_t)ms * 1000000;
    do {
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        ts_read(t);
        if (stop && stop(t, arg))
            return true;
        struct pollfd pfd = {.fd = t->cfd, .events = POLLIN};
        poll(&pfd, 1, 1);
    } while (moat_now_ns() < end);
    return stop == NULL;
}

static void ts_send(struct ts *t, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(t->cfd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            ts_pump(t, 5, NULL, NULL);
        } else {
            CHECK(!"client write failed");
            return;
        }
    }
}
#define SEND(t, s) ts_send((t), (s), strlen(s))

static bool stop_has(struct ts *t, const void *s)
{
    return t->in && strstr(t->in, s) != NULL;
}
static bool stop_eof(struct ts *t, const void *unused)
{
    (void)unused;
    return t->eof;
}

/* Close the client end; the server must drop the connection (lingering close ends). */
static bool ts_close_client(struct ts *t)
{
    close(t->cfd);
    t->cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* something for the pump to poll */
    for (int i = 0; i < 200 && moat_http_server_connections(t->srv) > 0; i++)
        ts_pump(t, 5, NULL, NULL);
    return moat_http_server_connections(t->srv) == 0;
}

/* A parsed answer from the client's bytes. */
struct resp {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
};

static const char *resp_header(const struct resp *r, const char *name, char *buf, size_t size)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *p = strcasestr(r->head, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    size_t n = strcspn(p, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Parse one response at *off: 1 complete, 0 incomplete. */
static int parse_resp(struct ts *t, size_t *off, bool head_req, struct resp *out)
{
    const char *b = t->in ? t->in + *off : "";
    size_t len = t->in ? t->in_len - *off : 0;
    const char *e = memmem(b, len, "\r\n\r\n", 4);
    if (!e)
        return 0;
    size_t hl = (size_t)(e - b) + 4;
    memset(out, 0, sizeof(*out));
    snprintf(out->head, sizeof(out->head), "%.*s", (int)hl, b);
    out->status = atoi(b + 9);
    char v[64];
    size_t pos = hl;
    if (head_req || out->status < 200 || out->status == 204 || out->status == 304) {
        out->body = xstrdup("");
    } else if (resp_header(out, "Transfer-Encoding", v, sizeof(v))) {
        out->body = xmalloc(len + 1);
        for (;;) {
            const char *le = memmem(b + pos, len - pos, "\r\n", 2);
            if (!le)
                goto incomplete;
            size_t csize = strtoul(b + pos, NULL, 16);
            pos = (size_t)(le - b) + 2;
            if (len - pos < csize + 2)
                goto incomplete;
            memcpy(out->body + out->body_len, b + pos, csize);
            out->body_len += csize;
            pos += csize + 2;
            if (csize == 0)
                break;
        }
        out->body[out->body_len] = '\0';
    } else if (resp_header(out, "Content-Length", v, sizeof(v))) {
        size_t cl = strtoul(v, NULL, 10);
        if (len - pos < cl)
            return 0;
        out->body = xstrndup(b + pos, cl);
        out->body_len = cl;
        pos += cl;
    } else {
        if (!t->eof)
            return 0;
        out->body = xstrndup(b + pos, len - pos);
        out->body_len = len - pos;
        pos = len;
    }
    *off += pos;
    return 1;
incomplete:
    free(out->body);
    out->body = NULL;
    return 0;
}

/* Wait for the next complete response after *off. */
static bool next_resp(struct ts *t, size_t *off, bool head_req, struct resp *out)
{
    uint64_t end = moat_now_ns() + 10000ull * 1000000; /* generous: ASan builds on a loaded machine */
    size_t tried = (size_t)-1;
    while (moat_now_ns() < end) {
        if (tried != t->in_len && parse_resp(t, off, head_req, out) == 1)
            return true;
        tried = t->in_len;
        if (t->eof && parse_resp(t, off, head_req, out) != 1)
            return false;
        ts_pump(t, 2, NULL, NULL);
    }
    return false;
}

static void check_error_resp(const struct resp *r, int status, const char *needle)
{
    char v[128];
    CHECK(r->status == status);
    CHECK_STR(resp_header(r, "Content-Type", v, sizeof(v)), "application/json");
    CHECK_STR(resp_header(r, "API-Version", v, sizeof(v)), "1.41");
    CHECK(r->body && strstr(r->body, "{\"message\":\"") == r->body);
    CHECK(r->body && strstr(r->body, needle));
    _cleanup_json_ struct json_object *o = NULL;
    moat_error *err = NULL;
    CHECK(r->body && moat_json_parse(r->body, r->body_len, 4096, "error", &o, &err) == 0);
    moat_error_free(err);
}

/* ---- server tests ------------------------------------------------------------------------ */

static void test_keepalive_head_defaults(void)
{
    struct ts t;
    ts_start(&t, NULL, true);
    struct resp r;
    size_t off = 0;
    char v[128];
    SEND(&t, "GET /echo?a=1%202 HTTP/1.1\r\nHost: docker\r\nX-Test: hi\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 200);
    CHECK_STR(r.body, "GET /echo a=1 2 x=hi host=docker len=0 body=");
    CHECK_STR(resp_header(&r, "API-Version", v, sizeof(v)), "1.41");
    CHECK_STR(resp_header(&r, "OSType", v, sizeof(v)), "linux");
    CHECK_STR(resp_header(&r, "X-Echo", v, sizeof(v)), "yes");
    CHECK(!strstr(r.head, "Injected")); /* a header value with CR/LF is dropped */
    CHECK(!resp_header(&r, "Connection", v, sizeof(v)));
    CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(r.body);
    /* The same connection, a second request: HEAD has the length, not the body. */
    SEND(&t, "HEAD /echo HTTP/1.1\r\nHost: docker\r\n\r\n");
    CHECK(next_resp(&t, &off, true, &r));
    CHECK(r.status == 200);
    CHECK_STR(resp_header(&r, "Content-Length", v, sizeof(v)), "42"); /* "HEAD /echo a=- ..." */
    CHECK_STR(resp_header(&r, "OSType", v, sizeof(v)), "linux");
    free(r.body);
    ts_pump(&t, 30, NULL, NULL);
    CHECK(off == t.in_len); /* nothing after the HEAD answer's headers */
    /* A third, with Connection: close: answered, then closed. */
    SEND(&t, "GET /json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 201);
    CHECK_STR(resp_header(&r, "Content-Type", v, sizeof(v)), "application/json");
    CHECK_STR(resp_header(&r, "Connection", v, sizeof(v)), "close");
    CHECK_STR(r.body, "{\"Path\":\"/a/b\"}\n");
    free(r.body);
    CHECK(ts_pump(&t, 2000, stop_eof, NULL));
    CHECK(t.nreq == 3);
    CHECK(ts_close_client(&t));
    ts_stop(&t);
}

static void test_pipelined_and_empty_host(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /echo?a=x HTTP/1.1\r\nHost:\r\n\r\nGET /err HTTP/1.1\r\nHost: \r\n\r\n"
             "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "GET /echo a=x x=- host= len=0 body=");
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    check_error_resp(&r, 404, "no such container: abc");
    CHECK_STR(r.body, "{\"message\":\"no such container: abc\"}\n");
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "POST /echo a=- x=- host=(none) len=3 body=abc");
    free(r.body);
    CHECK(moat_http_server_connections(t.srv) == 1);
    ts_stop(&t);
}

static void test_query_bool_all(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /query?t=1&f=False&n=NONE&e=&sp=%20no%20&zero=0&yes=anything&names=a&x=1&names=b%2Fc&names=d+e "
             "HTTP/1.1\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 204);
    CHECK(!strstr(r.head, "Content-Length"));
    free(r.body);
    CHECK(t.qb[0] == true);  /* t=1 */
    CHECK(t.qb[1] == false); /* False */
    CHECK(t.qb[2] == false); /* NONE */
    CHECK(t.qb[3] == false); /* empty */
    CHECK(t.qb[4] == false); /* " no " */
    CHECK(t.qb[5] == false); /* 0 */
    CHECK(t.qb[6] == true);  /* absent, default true */
    CHECK(t.qb[7] == true);  /* anything */
    CHECK_STR(t.qall, "a;b/c;d e;");
    ts_stop(&t);
}

static void test_bodies(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    struct resp r;
    size_t off = 0;
    /* Chunked, split across writes and loop turns (the docker CLI's load/build). */
    SEND(&t, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwi");
    ts_pump(&t, 20, NULL, NULL);
    CHECK(t.nreq == 0);
    SEND(&t, "ki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "POST /echo a=- x=- host=x len=9 body=wikipedia");
    free(r.body);
    /* Spooled, chunked: read back through moat_http_body_fd. */
    SEND(&t, "PUT /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "mem=no fdlen=6 bodylen=6 data=abcdef");
    free(r.body);
    /* Spooled with Content-Length. */
    SEND(&t, "POST /spool HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "mem=no fdlen=5 bodylen=5 data=hello");
    free(r.body);
    /* An in-memory body also has a body fd (memfd). */
    SEND(&t, "POST /memfd HTTP/1.1\r\nContent-Length: 4\r\n\r\nwxyz");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "mem=yes fdlen=4 bodylen=4 data=wxyz");
    free(r.body);
    /* Expect: 100-continue gets its interim answer. */
    SEND(&t, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 100);
    free(r.body);
    SEND(&t, "ok");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "POST /echo a=- x=- host=(none) len=2 body=ok");
    free(r.body);
    /* Memory bodies are capped at limits.max_body_memory: still one connection. */
    CHECK(moat_http_server_connections(t.srv) == 1);
    ts_stop(&t);
}

/* A big spooled upload: past the bufferevent's first 4 KiB the server reads the
 * socket itself in big pieces (conn_pull_body); every byte must still reach
 * the spool in order, chunked framing decoded, and a request pipelined right
 * behind the body must survive (what the parser left goes back to the input). */
static void test_big_spooled_body(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    const size_t chunk = 300 * 1024, nchunks = 3, total = chunk * nchunks;
    char *data = xmalloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    SEND(&t, "PUT /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t k = 0; k < nchunks; k++) {
        char head[32];
        snprintf(head, sizeof head, "%zx\r\n", chunk);
        ts_send(&t, head, strlen(head));
        ts_send(&t, data + k * chunk, chunk);
        SEND(&t, "\r\n");
    }
    SEND(&t, "0\r\n\r\nPOST /spool HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    struct resp r;
    size_t off = 0;
    CHECK(next_resp(&t, &off, false, &r));
    char want[96];
    snprintf(want, sizeof want, "mem=no fdlen=%zu bodylen=%zu data=", total, total);
    size_t wl = strlen(want);
    CHECK(r.status == 200 && r.body_len == wl + total && !strncmp(r.body, want, wl) &&
          !memcmp(r.body + wl, data, total));
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "mem=no fdlen=5 bodylen=5 data=hello");
    free(r.body);
    CHECK(moat_http_server_connections(t.srv) == 1);
    free(data);
    ts_stop(&t);
}

static void expect_refusal(const char *req, const struct moat_http_limits *lim, int status, const char *needle,
                           int nreq)
{
    struct ts t;
    ts_start(&t, lim, false);
    struct resp r;
    size_t off = 0;
    char v[64];
    SEND(&t, req);
    CHECK(next_resp(&t, &off, false, &r));
    check_error_resp(&r, status, needle);
    CHECK_STR(resp_header(&r, "Connection", v, sizeof(v)), "close");
    free(r.body);
    CHECK(ts_pump(&t, 3000, stop_eof, NULL));
    CHECK(t.nreq == nreq);
    CHECK(ts_close_client(&t));
    ts_stop(&t);
}

static void test_refusals(void)
{
    struct moat_http_limits lim;
    moat_http_limits_default(&lim);
    lim.max_header_bytes = 1024;
    lim.max_headers = 5;
    /* Bodies over the route's limit: by Content-Length at once, by chunks as they come. */
    expect_refusal("POST /small HTTP/1.1\r\nContent-Length: 100\r\n\r\n", NULL, 413, "too large", 0);
    expect_refusal("POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n",
                   NULL, 413, "too large", 0);
    expect_refusal("POST /spool-small HTTP/1.1\r\nContent-Length: 17\r\n\r\n", NULL, 413, "limit 16", 0);
    expect_refusal("POST /reject HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", NULL, 413, "not accepted", 0);
    /* Head too large, too many headers. */
    char fill[2001], big[3000];
    memset(fill, 'a', sizeof(fill) - 1);
    fill[sizeof(fill) - 1] = '\0';
    snprintf(big, sizeof(big), "GET /echo HTTP/1.1\r\nX-Big: %s\r\n\r\n", fill);
    expect_refusal(big, &lim, 431, "too large", 0);
    expect_refusal("GET /echo HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\n\r\n", &lim, 431,
                   "too many", 0);
    /* Malformed. */
    expect_refusal("GARBAGE\r\n\r\n", NULL, 400, "malformed", 0);
    expect_refusal("GET /echo HTTP/1.1\r\nBad Header\r\n\r\n", NULL, 400, "malformed", 0);
    expect_refusal("GET /a%00b HTTP/1.1\r\n\r\n", NULL, 400, "invalid request path", 0);
    expect_refusal("GET /echo?x=%zz HTTP/1.1\r\n\r\n", NULL, 400, "invalid query", 0);
    expect_refusal("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", NULL, 400, "malformed",
                   0);
    /* The handler's answer is still sent before a refused pipelined request. */
    struct ts t;
    ts_start(&t, NULL, false);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /echo HTTP/1.1\r\n\r\nBLAH\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 200);
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    check_error_resp(&r, 400, "malformed");
    free(r.body);
    CHECK(ts_pump(&t, 3000, stop_eof, NULL));
    ts_stop(&t);
}

static void test_header_timeout(void)
{
    struct moat_http_limits lim;
    moat_http_limits_default(&lim);
    lim.header_timeout_s = 1;
    struct ts t;
    ts_start(&t, &lim, false);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /echo HTTP/1.1\r\nHost: slow");
    CHECK(next_resp(&t, &off, false, &r));
    check_error_resp(&r, 408, "timed out");
    free(r.body);
    CHECK(ts_pump(&t, 3000, stop_eof, NULL));
    CHECK(t.nreq == 0);
    ts_stop(&t);
    /* An idle keep-alive connection is closed after idle_timeout_s. */
    lim.header_timeout_s = 30;
    lim.idle_timeout_s = 1;
    ts_start(&t, &lim, false);
    off = 0;
    SEND(&t, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 200);
    free(r.body);
    uint64_t t0 = moat_now_ns();
    CHECK(ts_pump(&t, 3000, stop_eof, NULL));
    CHECK(moat_now_ns() - t0 > 800ull * 1000000);
    CHECK(moat_http_server_connections(t.srv) == 0);
    ts_stop(&t);
}

static void test_delayed_reply(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /delay HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    ts_pump(&t, 10, NULL, NULL);
    CHECK(t.held != NULL);
    CHECK(t.in_len == 0);
    CHECK(t.nreq == 1); /* the pipelined request waits for this answer */
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "late");
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "GET /echo a=- x=- host=(none) len=0 body=");
    free(r.body);
    CHECK(t.closes == 0);
    ts_stop(&t);
}

static void test_stream(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    SEND(&t, "POST /stream HTTP/1.1\r\nHost: d\r\n\r\n");
    /* Headers arrive before any body byte (trap T1). */
    CHECK(ts_pump(&t, 2000, stop_has, "\r\n\r\n"));
    CHECK(strncmp(t.in, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(t.in, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(t.in, "API-Version: 1.41\r\n") != NULL);
    CHECK(!strstr(t.in, "Content-Length"));
    size_t hl = (size_t)(strstr(t.in, "\r\n\r\n") - t.in) + 4;
    CHECK(t.in_len == hl);
    CHECK(t.held != NULL);
    moat_http_stream_write(t.held, "abc", 3);
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "StatusCode", json_object_new_int(0));
    moat_http_stream_json(t.held, o);
    CHECK(ts_pump(&t, 2000, stop_has, "\r\n{\"StatusCode\":0}\n\r\n"));
    CHECK_STR(t.in + hl, "3\r\nabc\r\n11\r\n{\"StatusCode\":0}\n\r\n");
    /* Back-pressure: a large chunk stays queued until the client reads it. */
    moat_http_on_drain(t.held, 1024, drain_cb, &t);
    size_t big = 4 * 1024 * 1024;
    char *blob = xmalloc(big);
    memset(blob, 'z', big);
    moat_http_stream_write(t.held, blob, big);
    free(blob);
    CHECK(moat_http_stream_pending(t.held) > 1024);
    CHECK(t.drains == 0);
    for (int i = 0; i < 2000 && t.drains == 0; i++)
        ts_pump(&t, 1, NULL, NULL);
    CHECK(t.drains == 1);
    CHECK(moat_http_stream_pending(t.held) <= 1024);
    moat_http_stream_end(t.held);
    t.held = NULL;
    CHECK(ts_pump(&t, 2000, stop_has, "\r\n0\r\n\r\n"));
    CHECK(t.in_len > big);
    CHECK(t.closes == 0);
    /* Keep-alive continues after a stream. */
    SEND(&t, "GET /echo HTTP/1.1\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "len=0 body="));
    ts_stop(&t);
}

static void test_stream_disconnect(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    SEND(&t, "GET /stream HTTP/1.1\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "\r\n\r\n"));
    moat_http_stream_write(t.held, "x", 1);
    ts_pump(&t, 10, NULL, NULL);
    CHECK(ts_close_client(&t));
    CHECK(t.closes == 1);
    CHECK(t.held == NULL);
    ts_pump(&t, 20, NULL, NULL);
    CHECK(t.closes == 1);
    ts_stop(&t);
    CHECK(t.closes == 1);

    /* A pending delayed request sees its close callback once when the server is freed. */
    ts_start(&t, NULL, false);
    SEND(&t, "GET /delay HTTP/1.1\r\n\r\n");
    ts_pump(&t, 10, NULL, NULL);
    CHECK(t.held != NULL);
    event_del(t.timer);
    moat_http_server_free(t.srv);
    t.srv = NULL;
    CHECK(t.closes == 1);
    ts_stop(&t);
}

static void test_http10_stream(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    SEND(&t, "GET /stream HTTP/1.0\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "\r\n\r\n"));
    CHECK(!strstr(t.in, "chunked"));
    CHECK(strstr(t.in, "Connection: close\r\n") != NULL);
    moat_http_stream_write(t.held, "raw bytes", 9);
    moat_http_stream_end(t.held);
    t.held = NULL;
    CHECK(ts_pump(&t, 3000, stop_eof, NULL));
    CHECK(strstr(t.in, "\r\n\r\nraw bytes") != NULL && t.in_len == (size_t)(strstr(t.in, "raw bytes") - t.in) + 9);
    ts_stop(&t);
    /* HTTP/1.0 with keep-alive gets a keep-alive Content-Length answer. */
    ts_start(&t, NULL, false);
    SEND(&t, "GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "/a/b\"}\n"));
    CHECK(strstr(t.in, "Connection: keep-alive\r\n") != NULL);
    CHECK(!t.eof);
    ts_stop(&t);
}

static void check_hijack(bool upgrade)
{
    struct ts t;
    ts_start(&t, NULL, false);
    /* Request, body and the first stdin bytes in one write (docker exec -i). */
    if (upgrade)
        SEND(&t, "POST /hijack HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                 "Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"Detach\":true}ls\r");
    else
        SEND(&t, "POST /hijack200 HTTP/1.1\r\nHost: api\r\n\r\nls\r");
    for (int i = 0; i < 200 && t.hijack_fd < 0; i++)
        ts_pump(&t, 2, NULL, NULL);
    CHECK(t.hijack_fd >= 0);
    CHECK(t.head_flushed_at_hijack);
    CHECK(t.pend_len == 3 && t.pend && memcmp(t.pend, "ls\r", 3) == 0);
    CHECK(!(t.hijack_fd_flags & O_NONBLOCK));
    CHECK(t.hijack_fd_fdflags & FD_CLOEXEC);
    CHECK(moat_http_server_connections(t.srv) == 0);
    ts_pump(&t, 10, NULL, NULL);
    if (upgrade) {
        CHECK(strncmp(t.in, "HTTP/1.1 101 UPGRADED\r\n", 23) == 0);
        CHECK(strstr(t.in, "\r\nConnection: Upgrade\r\n") && strstr(t.in, "\r\nUpgrade: tcp\r\n"));
    } else {
        CHECK(strncmp(t.in, "HTTP/1.1 200 OK\r\n", 17) == 0);
        CHECK(!strstr(t.in, "Upgrade"));
    }
    CHECK(strstr(t.in, "\r\nContent-Type: application/vnd.docker.raw-stream\r\n") != NULL);
    CHECK(strstr(t.in, "\r\nAPI-Version: 1.41\r\n") != NULL);
    size_t hl = (size_t)(strstr(t.in, "\r\n\r\n") - t.in) + 4;
    CHECK(t.in_len == hl);
    /* The fd is the raw connection, both ways; the server no longer reads it. */
    CHECK(write(t.hijack_fd, "out", 3) == 3);
    CHECK(ts_pump(&t, 2000, stop_has, "out"));
    SEND(&t, "more");
    char buf[16] = "";
    CHECK(read(t.hijack_fd, buf, sizeof(buf)) == 4);
    CHECK(memcmp(buf, "more", 4) == 0);
    close(t.hijack_fd);
    t.hijack_fd = -1;
    CHECK(ts_pump(&t, 2000, stop_eof, NULL));
    ts_stop(&t);
}

static void test_hijack(void)
{
    check_hijack(true);
    check_hijack(false);
}

static void test_reply_fd(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    /* A regular file larger than the output queue bound. */
    t.file_path = xasprintf("%s/blob", t.dir);
    size_t flen = 1024 * 1024 + 17; /* four times the output queue bound */
    char *data = xmalloc(flen);
    for (size_t i = 0; i < flen; i++)
        data[i] = (char)('a' + i % 23);
    int fd = open(t.file_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(moat_write_all(fd, data, flen) == (ssize_t)flen);
    close(fd);
    struct resp r;
    size_t off = 0;
    SEND(&t, "GET /file HTTP/1.1\r\n\r\n");
    ts_pump(&t, 5, NULL, NULL);
    CHECK(moat_http_server_connections(t.srv) == 1);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK(r.status == 200);
    CHECK(r.body_len == flen && memcmp(r.body, data, flen) == 0);
    free(r.body);
    free(data);
    /* A pipe: bytes go out as they come, the end of the pipe ends the body. */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    t.pipe_rd = p[0];
    CHECK(write(p[1], "first", 5) == 5);
    SEND(&t, "GET /pipe HTTP/1.1\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "5\r\nfirst\r\n"));
    CHECK(t.pipe_rd == -1);
    CHECK(write(p[1], "second", 6) == 6);
    CHECK(ts_pump(&t, 2000, stop_has, "6\r\nsecond\r\n"));
    close(p[1]);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "firstsecond");
    free(r.body);
    CHECK(t.closes == 0);
    /* HEAD of a file: headers only. */
    SEND(&t, "HEAD /file HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    CHECK(next_resp(&t, &off, true, &r));
    CHECK(r.status == 200);
    free(r.body);
    CHECK(next_resp(&t, &off, false, &r));
    CHECK_STR(r.body, "GET /echo a=- x=- host=(none) len=0 body=");
    free(r.body);
    ts_stop(&t);
}

static void test_peer(void)
{
    struct ts t;
    ts_start(&t, NULL, false);
    SEND(&t, "GET /peer HTTP/1.1\r\n\r\n");
    char want[64];
    snprintf(want, sizeof(want), "pid=%d uid=%u", (int)getpid(), (unsigned)getuid());
    CHECK(ts_pump(&t, 2000, stop_has, want));
    ts_stop(&t);
}

static void test_max_connections(void)
{
    struct moat_http_limits lim;
    moat_http_limits_default(&lim);
    lim.max_connections = 1;
    struct ts t;
    ts_start(&t, &lim, true);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", t.dir);
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ts_pump(&t, 10, NULL, NULL);
    CHECK(connect(c2, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ts_pump(&t, 20, NULL, NULL);
    char b;
    CHECK(read(c2, &b, 1) == 0); /* accepted and closed */
    close(c2);
    SEND(&t, "GET /json HTTP/1.1\r\n\r\n");
    CHECK(ts_pump(&t, 2000, stop_has, "/a/b"));
    ts_stop(&t);
}

static const struct unit_test http_tests[] = {
    UNIT_TEST(test_pct_decode),
    UNIT_TEST(test_parse_query),
    UNIT_TEST(test_reason),
    UNIT_TEST(test_keepalive_head_defaults),
    UNIT_TEST(test_pipelined_and_empty_host),
    UNIT_TEST(test_query_bool_all),
    UNIT_TEST(test_bodies), UNIT_TEST(test_big_spooled_body),
    UNIT_TEST(test_refusals),
    UNIT_TEST(test_header_timeout),
    UNIT_TEST(test_delayed_reply),
    UNIT_TEST(test_stream),
    UNIT_TEST(test_stream_disconnect),
    UNIT_TEST(test_http10_stream),
    UNIT_TEST(test_hijack),
    UNIT_TEST(test_reply_fd),
    UNIT_TEST(test_peer),
    UNIT_TEST(test_max_connections),
    UNIT_END,
};
UNIT_SUITE(http, http_tests);
