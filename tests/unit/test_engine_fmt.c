/* The engine's Docker shapes (src/engine/inspect.c, logs.c, events.c): status
 * text, ps and inspect objects, json-file lines, tail selection, timestamps,
 * the event filter matcher; then GET .../logs and GET /events streams served
 * for real over a socketpair (HTTP server on an event_base). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/container.h"
#include "moat/http.h"
#include "moat/json.h"
#include "moat/monitor.h"
#include "moat/util.h"
#include "unit.h"

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *ago(int64_t secs)
{
    char b[40];
    logs_format_time(wall_ns() - secs * 1000000000LL, b);
    return xstrdup(b);
}

static const char BODY[] = "{\"Image\":\"busybox\",\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Labels\":{\"com.x\":\"1\"},"
                           "\"Tty\":false,\"Env\":[\"A=1\"],"
                           "\"HostConfig\":{\"LogConfig\":{\"Type\":\"none\",\"Config\":{}},\"NetworkMode\":\"default\","
                           "\"RestartPolicy\":{\"Name\":\"\",\"MaximumRetryCount\":0},\"AutoRemove\":true}}";

static struct moat_container *ctr_new(struct moat_engine *e, const char *body, const char *dir)
{
    struct moat_container *c = xcalloc(1, sizeof *c);
    c->e = e;
    c->id = xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    c->name = xstrdup("web");
    c->image_ref = xstrdup("busybox");
    c->image_id = xstrdup("sha256:1111111111111111111111111111111111111111111111111111111111111111");
    c->created = ago(10);
    c->dir = xstrdup(dir);
    c->monitor_pidfd = -1;
    moat_error *err = NULL;
    CHECK(moat_json_parse(body, strlen(body), 1 << 20, "body", &c->body, &err) == 0);
    CHECK(moat_create_req_parse(body, strlen(body), &c->req, &err) == 0);
    moat_error_free(err);
    return c;
}

static void ctr_del(struct moat_container *c)
{
    logs_free_container(c);
    free(c->id);
    free(c->name);
    free(c->image_ref);
    free(c->image_id);
    free(c->created);
    free(c->started_at);
    free(c->finished_at);
    free(c->dir);
    if (c->body)
        json_object_put(c->body);
    moat_create_req_free(c->req);
    free(c);
}

static const char *jpath_str(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v = o;
    if (a && !json_object_object_get_ex(v, a, &v))
        return NULL;
    if (b && !json_object_object_get_ex(v, b, &v))
        return NULL;
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* ---- status text, ps, inspect ------------------------------------------------------- */

static void test_status_text(void)
{
    struct moat_engine e = {0};
    struct moat_container *c = ctr_new(&e, BODY, "/nonexistent-moat-dir");
    char *s = ctr_status_text(c);
    CHECK_STR(s, "Created");
    free(s);
    c->status = CTR_RUNNING;
    c->started_at = ago(2);
    s = ctr_status_text(c);
    CHECK_STR(s, "Up 2 seconds");
    free(s);
    c->status = CTR_PAUSED;
    s = ctr_status_text(c);
    CHECK_STR(s, "Up 2 seconds (Paused)");
    free(s);
    c->status = CTR_EXITED;
    c->exit_code = 3;
    c->finished_at = ago(3 * 3600);
    s = ctr_status_text(c);
    CHECK_STR(s, "Exited (3) 3 hours ago");
    free(s);
    free(c->finished_at);
    c->finished_at = ago(90);
    c->status = CTR_RESTARTING;
    s = ctr_status_text(c);
    CHECK_STR(s, "Restarting (3) About a minute ago");
    free(s);
    free(c->finished_at);
    c->finished_at = ago(0);
    c->status = CTR_EXITED;
    s = ctr_status_text(c);
    CHECK_STR(s, "Exited (3) Less than a second ago");
    free(s);
    free(c->finished_at);
    c->finished_at = ago(86400 * 20);
    s = ctr_status_text(c);
    CHECK_STR(s, "Exited (3) 2 weeks ago");
    free(s);
    c->status = CTR_REMOVING;
    s = ctr_status_text(c);
    CHECK_STR(s, "Removal In Progress");
    free(s);
    c->status = CTR_DEAD;
    s = ctr_status_text(c);
    CHECK_STR(s, "Dead");
    free(s);
    ctr_del(c);
}

static void test_summary(void)
{
    struct moat_engine e = {0};
    struct moat_container *c = ctr_new(&e, BODY, "/nonexistent-moat-dir");
    c->status = CTR_EXITED;
    c->started_at = ago(20);
    c->finished_at = ago(5);
    struct json_object *o = ctr_summary_json(c, false);
    CHECK_STR(jpath_str(o, "Id", NULL), c->id);
    struct json_object *names = json_object_object_get(o, "Names");
    CHECK(names && json_object_array_length(names) == 1);
    CHECK_STR(json_object_get_string(json_object_array_get_idx(names, 0)), "/web");
    CHECK_STR(jpath_str(o, "Image", NULL), "busybox");
    CHECK_STR(jpath_str(o, "ImageID", NULL), c->image_id);
    CHECK_STR(jpath_str(o, "Command", NULL), "sh -c echo hi");
    CHECK_STR(jpath_str(o, "State", NULL), "exited");
    CHECK_STR(jpath_str(o, "Status", NULL), "Exited (0) 5 seconds ago");
    CHECK_STR(jpath_str(o, "Labels", "com.x"), "1");
    CHECK_STR(jpath_str(o, "HostConfig", "NetworkMode"), "none");
    int64_t created = json_object_get_int64(json_object_object_get(o, "Created"));
    CHECK(created > 0 && llabs(created + 10 - wall_ns() / 1000000000LL) <= 2);
    struct json_object *nets = json_object_object_get(json_object_object_get(o, "NetworkSettings"), "Networks");
    CHECK(nets && json_object_object_get(nets, "none") != NULL);
    CHECK(json_object_array_length(json_object_object_get(o, "Ports")) == 0);
    CHECK(json_object_object_get(o, "SizeRw") == NULL);
    json_object_put(o);
    ctr_del(c);
}

static void test_inspect(void)
{
    struct moat_engine e = {0};
    char dir[] = "/tmp/moat-unit-fmt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct moat_container *c = ctr_new(&e, BODY, dir);
    c->id_slice = 2;
    struct json_object *o = ctr_inspect_json(c, false);
    CHECK_STR(jpath_str(o, "Name", NULL), "/web");
    CHECK_STR(jpath_str(o, "Path", NULL), "sh");
    struct json_object *args = json_object_object_get(o, "Args");
    CHECK(args && json_object_array_length(args) == 2);
    CHECK_STR(json_object_get_string(json_object_array_get_idx(args, 1)), "echo hi");
    CHECK_STR(jpath_str(o, "HostConfig", "NetworkMode"), "none");
    struct json_object *hc = json_object_object_get(o, "HostConfig");
    CHECK_STR(jpath_str(hc, "LogConfig", "Type"), "json-file"); /* trap T8, though "none" was asked */
    CHECK_STR(jpath_str(hc, "RestartPolicy", "Name"), "no");
    CHECK(json_object_get_boolean(json_object_object_get(hc, "AutoRemove")));
    CHECK_STR(jpath_str(o, "State", "Status"), "created");
    CHECK_STR(jpath_str(o, "State", "StartedAt"), "0001-01-01T00:00:00Z");
    CHECK_STR(jpath_str(o, "State", "FinishedAt"), "0001-01-01T00:00:00Z");
    CHECK_STR(jpath_str(o, "Config", "Hostname"), "0123456789ab");
    CHECK_STR(jpath_str(o, "Config", "Image"), "busybox");
    CHECK(jpath_str(o, "Config", "Labels") == NULL); /* an object, not a string */
    CHECK_STR(jpath_str(json_object_object_get(o, "Config"), "Labels", "com.x"), "1");
    struct json_object *env = json_object_object_get(json_object_object_get(o, "Config"), "Env");
    CHECK(env && json_object_array_length(env) == 1);
    CHECK_STR(json_object_get_string(json_object_array_get_idx(env, 0)), "A=1");
    struct json_object *cfg = json_object_object_get(o, "Config");
    CHECK(json_object_get_boolean(json_object_object_get(cfg, "Tty")) == false);
    CHECK(json_object_array_length(json_object_object_get(cfg, "Cmd")) == 3);
    char *lp = xasprintf("%s/container.log", dir);
    CHECK_STR(jpath_str(o, "LogPath", NULL), lp);
    free(lp);
    uint32_t ub, gb, sz;
    engine_slice_range(2, &ub, &gb, &sz);
    char *range = xasprintf("%u:%u", ub, sz);
    CHECK_STR(jpath_str(o, "Moat", "IdRange"), range);
    free(range);
    struct json_object *nets = json_object_object_get(json_object_object_get(o, "NetworkSettings"), "Networks");
    CHECK_STR(jpath_str(nets, "none", "IPAddress"), "");
    json_object_put(o);

    /* A started container: Path/Args/Env from the bundle's config.json. */
    char *bundle = xasprintf("%s/bundle", dir);
    CHECK(mkdir(bundle, 0700) == 0);
    char *cfgp = xasprintf("%s/config.json", bundle);
    const char spec[] = "{\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"x\"],\"env\":[\"PATH=/bin\",\"A=1\"]}}";
    int fd = open(cfgp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && write(fd, spec, sizeof spec - 1) == (ssize_t)(sizeof spec - 1));
    close(fd);
    c->status = CTR_RUNNING;
    c->pid = 42;
    c->started_at = ago(1);
    o = ctr_inspect_json(c, true);
    CHECK_STR(jpath_str(o, "Path", NULL), "/bin/sh");
    env = json_object_object_get(json_object_object_get(o, "Config"), "Env");
    CHECK(env && json_object_array_length(env) == 2);
    CHECK(json_object_get_boolean(json_object_object_get(json_object_object_get(o, "State"), "Running")));
    CHECK(json_object_get_int(json_object_object_get(json_object_object_get(o, "State"), "Pid")) == 42);
    CHECK(json_object_object_get(o, "SizeRw") != NULL);
    json_object_put(o);
    unlink(cfgp);
    rmdir(bundle);
    rmdir(dir);
    free(cfgp);
    free(bundle);
    ctr_del(c);
}

/* ---- json-file lines, time, tail ---------------------------------------------------- */

static void test_parse_line(void)
{
    struct logs_line l;
    const char *ok = "{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":\"2026-12-02T04:00:10.5Z\"}\n";
    CHECK(logs_parse_line(ok, strlen(ok), &l) == 0);
    CHECK_STR(l.log, "hi\n");
    CHECK(l.log_len == 3 && l.stream == 2);
    char ts[40];
    logs_format_time(l.time_ns, ts);
    CHECK_STR(ts, "2026-12-02T04:00:10.500000000Z");
    logs_line_clear(&l);
    const char *bad[] = {"", "not json", "{\"log\":1,\"stream\":\"stdout\",\"time\":\"2026-12-02T04:00:10Z\"}",
                         "{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"2026-12-02T04:00:10Z\"}",
                         "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"yesterday\"}",
                         "{\"log\":\"x\",\"stream\":\"stdout\"}", "[1,2]",
                         "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2026-12-02T04:00:10Z\"} trailing"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        CHECK(logs_parse_line(bad[i], strlen(bad[i]), &l) < 0);
    /* A NUL inside the payload survives (log_len, not strlen). */
    const char *nul = "{\"log\":\"a\\u0000b\",\"stream\":\"stdout\",\"time\":\"2026-12-02T04:00:10Z\"}";
    CHECK(logs_parse_line(nul, strlen(nul), &l) == 0);
    CHECK(l.log_len == 3 && l.log[2] == 'b');
    logs_line_clear(&l);
    /* Over the bound: refused without parsing. */
    size_t big = LOGS_LINE_MAX + 10;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    CHECK(logs_parse_line(huge, big, &l) < 0);
    free(huge);
}

static void test_time(void)
{
    int64_t ns;
    CHECK(logs_parse_time("1970-01-01T00:00:01Z", &ns) == 0 && ns == 1000000000LL);
    CHECK(logs_parse_time("1970-01-01T01:00:01+01:00", &ns) == 0 && ns == 1000000000LL);
    CHECK(logs_parse_time("2026-12-02T04:00:10.123456789123Z", &ns) == 0 && ns % 1000000000LL == 123456789);
    CHECK(logs_parse_time("2026-12-02T04:00:10.Z", &ns) < 0);
    CHECK(logs_parse_time("2026-13-02T04:00:10Z", &ns) < 0);
    CHECK(logs_parse_time("2026-12-02T04:00:10", &ns) < 0);
    CHECK(logs_parse_time("2026-12-02T04:00:10Zx", &ns) < 0);
    char b[40];
    logs_format_time(1764648010LL * 1000000000LL, b);
    CHECK_STR(b, "2025-12-02T04:00:10.000000000Z");
    logs_format_time(7, b);
    CHECK_STR(b, "1970-01-01T00:00:00.000000007Z");
}

static void test_tail(void)
{
    struct logs_tail t;
    struct logs_pos p;
    logs_tail_init(&t, 3);
    CHECK(!logs_tail_start(&t, &p));
    for (uint64_t i = 0; i < 10; i++)
        logs_tail_push(&t, (struct logs_pos){i / 4, i * 100});
    CHECK(logs_tail_start(&t, &p) && p.off == 700 && p.file == 1);
    logs_tail_free(&t);
    logs_tail_init(&t, 100); /* fewer lines than asked: from the first */
    for (uint64_t i = 0; i < 70; i++)
        logs_tail_push(&t, (struct logs_pos){0, i});
    CHECK(logs_tail_start(&t, &p) && p.off == 0);
    CHECK(t.cap <= 100);
    logs_tail_free(&t);
    logs_tail_init(&t, 0); /* tail=0: nothing */
    logs_tail_push(&t, (struct logs_pos){0, 5});
    CHECK(!logs_tail_start(&t, &p));
    logs_tail_free(&t);
}

/* ---- event filters ------------------------------------------------------------------ */

static struct json_object *ev(const char *type, const char *action, const char *id, const char *attrs_json)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Type", json_object_new_string(type));
    json_object_object_add(o, "Action", json_object_new_string(action));
    json_object_object_add(o, "scope", json_object_new_string("local"));
    struct json_object *actor = json_object_new_object();
    json_object_object_add(actor, "ID", json_object_new_string(id));
    json_object_object_add(actor, "Attributes", json_tokener_parse(attrs_json));
    json_object_object_add(o, "Actor", actor);
    return o;
}

static bool match(const char *filters, struct json_object *e)
{
    struct json_object *f = json_tokener_parse(filters);
    bool r = events_match(f, e);
    json_object_put(f);
    return r;
}

static void test_event_filters(void)
{
    struct json_object *start = ev("container", "start", "abcdef123456",
                                   "{\"name\":\"web\",\"image\":\"busybox:latest\",\"com.docker.compose.project\":\"p\","
                                   "\"com.docker.compose.oneoff\":\"False\"}");
    struct json_object *vol = ev("volume", "create", "data", "{\"driver\":\"local\"}");
    struct json_object *exec = ev("container", "exec_start: sh -c true", "abcdef123456", "{\"name\":\"web\"}");
    CHECK(events_match(NULL, start));
    CHECK(match("{}", start));
    CHECK(match("{\"type\":{\"container\":true}}", start));
    CHECK(!match("{\"type\":{\"container\":true}}", vol));
    CHECK(match("{\"type\":[\"container\",\"volume\"]}", vol));
    CHECK(match("{\"event\":[\"start\",\"die\"]}", start));
    CHECK(!match("{\"event\":[\"die\"]}", start));
    CHECK(match("{\"event\":[\"exec_start\"]}", exec)); /* moby's fuzzy rule for exec_start */
    CHECK(!match("{\"event\":[\"exec_create\"]}", exec));
    CHECK(match("{\"container\":[\"web\"]}", start));
    CHECK(match("{\"container\":[\"abcdef\"]}", start)); /* an ID prefix */
    CHECK(!match("{\"container\":[\"db\"]}", start));
    CHECK(!match("{\"container\":[\"web\"]}", vol)); /* not a container event */
    CHECK(match("{\"volume\":[\"data\"]}", vol));
    CHECK(match("{\"image\":[\"busybox\"]}", start)); /* tag stripped */
    CHECK(match("{\"image\":[\"busybox:latest\"]}", start));
    CHECK(!match("{\"image\":[\"alpine\"]}", start));
    CHECK(match("{\"label\":[\"com.docker.compose.project=p\",\"com.docker.compose.oneoff=False\"]}", start));
    CHECK(match("{\"label\":{\"com.docker.compose.project\":true}}", start));
    CHECK(!match("{\"label\":[\"com.docker.compose.project=p\",\"com.docker.compose.oneoff=True\"]}", start));
    CHECK(!match("{\"label\":[\"missing\"]}", start));
    CHECK(match("{\"type\":[\"container\"],\"event\":[\"start\"],\"label\":[\"com.docker.compose.project=p\"]}",
                start));
    CHECK(!match("{\"type\":[\"container\"],\"event\":[\"stop\"],\"label\":[\"com.docker.compose.project=p\"]}",
                 start));
    json_object_put(start);
    json_object_put(vol);
    json_object_put(exec);
}

/* ---- streams over a real HTTP server ---------------------------------------------------- */

struct srv {
    struct event_base *base;
    struct moat_http_server *s;
    struct moat_engine e;
    struct moat_container *c;
    struct logs_opts lo;
    bool events;
    int64_t since, until;
    struct json_object *filters;
    int cfd;
    char *in;
    size_t in_len, in_cap;
};

static void srv_handler(struct moat_http_req *r, void *ctx)
{
    struct srv *t = ctx;
    if (t->events)
        events_serve(&t->e, r, t->since, t->until, t->filters);
    else
        logs_serve(t->c, r, &t->lo);
}

static void srv_start(struct srv *t)
{
    t->base = event_base_new();
    t->e.base = t->base;
    struct moat_http_server_opts o = {.base = t->base, .handler = srv_handler, .ctx = t};
    moat_error *err = NULL;
    CHECK(moat_http_server_new(&o, &t->s, &err) == 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(moat_http_server_adopt_fd(t->s, sv[0], &err) == 0);
    moat_error_free(err);
    t->cfd = sv[1];
    fcntl(t->cfd, F_SETFL, fcntl(t->cfd, F_GETFL) | O_NONBLOCK);
    const char req[] = "GET /x HTTP/1.1\r\nHost: docker\r\n\r\n";
    CHECK(write(t->cfd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
}

static void srv_stop(struct srv *t)
{
    moat_http_server_free(t->s);
    close(t->cfd);
    event_base_free(t->base);
    free(t->in);
    t->in = NULL;
    t->in_len = t->in_cap = 0;
}

static bool srv_done(const struct srv *t)
{
    return t->in && t->in_len >= 5 && !memcmp(t->in + t->in_len - 5, "0\r\n\r\n", 5) &&
           memmem(t->in, t->in_len, "\r\n0\r\n\r\n", 7); /* frames hold NUL bytes: not strstr */
}

/* Run the loop for up to ms, or until the chunked body has ended. */
static bool srv_pump(struct srv *t, int ms)
{
    uint64_t end = moat_now_ns() + (uint64_t)ms * 1000000;
    do {
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        char buf[65536];
        ssize_t n;
        while ((n = read(t->cfd, buf, sizeof buf)) > 0) {
            if (t->in_len + (size_t)n + 1 > t->in_cap) { /* geometric: ASan's realloc always copies */
                t->in_cap = (t->in_len + (size_t)n + 1) * 2;
                t->in = xrealloc(t->in, t->in_cap);
            }
            memcpy(t->in + t->in_len, buf, (size_t)n);
            t->in_len += (size_t)n;
            t->in[t->in_len] = 0;
        }
        if (srv_done(t))
            return true;
        struct pollfd pfd = {.fd = t->cfd, .events = POLLIN};
        poll(&pfd, 1, 2);
    } while (moat_now_ns() < end);
    if (getenv("UNIT_DEBUG"))
        fprintf(stderr, "    not ended: %.*s\n", (int)t->in_len, t->in ? t->in : "");
    return false;
}

/* The de-chunked body. */
static char *srv_body(const struct srv *t, size_t *ret_len)
{
    const char *p = t->in ? strstr(t->in, "\r\n\r\n") : NULL;
    char *out = xmalloc(t->in_len + 1);
    size_t n = 0;
    if (p) {
        p += 4;
        const char *end = t->in + t->in_len;
        while (p < end) {
            char *e;
            unsigned long len = strtoul(p, &e, 16);
            if (e == p || e + 2 > end || len == 0 || e + 2 + len > end)
                break;
            memcpy(out + n, e + 2, len);
            n += len;
            p = e + 2 + len + 2;
        }
    }
    out[n] = 0;
    *ret_len = n;
    return out;
}

/* Frames -> "1:text|2:text|" for easy checks. */
static char *frames(const char *b, size_t len)
{
    char *out = xcalloc(1, len * 2 + 1);
    size_t o = 0;
    for (size_t i = 0; i + MOAT_MON_HDR <= len;) {
        uint32_t n = moat_mon_hdr_len((const uint8_t *)b + i);
        if (i + MOAT_MON_HDR + n > len)
            break;
        out[o++] = (char)('0' + b[i]);
        out[o++] = ':';
        memcpy(out + o, b + i + MOAT_MON_HDR, n);
        o += n;
        out[o++] = '|';
        i += MOAT_MON_HDR + n;
    }
    return out;
}

static void append_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
    close(fd);
}

static char *logline(const char *text, const char *stream, int sec)
{
    return xasprintf("{\"log\":\"%s\\n\",\"stream\":\"%s\",\"time\":\"2026-12-02T04:00:%02d.000000001Z\"}\n", text,
                     stream, sec);
}

static void write_logs(const char *dir)
{
    char *p2 = xasprintf("%s/container.log.2", dir), *p1 = xasprintf("%s/container.log.1", dir),
         *p0 = xasprintf("%s/container.log", dir);
    const char *files[] = {p2, p1, p0};
    int sec = 0;
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 3; i++) {
            char text[16];
            snprintf(text, sizeof text, "l%d", sec);
            char *l = logline(text, sec % 3 == 2 ? "stderr" : "stdout", sec);
            append_file(files[f], l);
            free(l);
            if (f == 1 && i == 0)
                append_file(files[f], "garbage that is not json\n");
            sec++;
        }
    free(p2);
    free(p1);
    free(p0);
}

static void clean_dir(const char *dir)
{
    const char *names[] = {"container.log", "container.log.1", "container.log.2"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

static char *run_logs(struct srv *t, const struct logs_opts *o)
{
    t->lo = *o;
    t->in = NULL;
    t->in_len = t->in_cap = 0;
    srv_start(t);
    CHECK(srv_pump(t, 3000));
    size_t len;
    char *b = srv_body(t, &len);
    char *f = t->c->req->tty ? xstrdup(b) : frames(b, len);
    free(b);
    srv_stop(t);
    return f;
}

static void test_logs_stream(void)
{
    struct srv t = {0};
    char dir[] = "/tmp/moat-unit-logs-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    write_logs(dir);
    t.c = ctr_new(&t.e, BODY, dir);
    t.c->status = CTR_EXITED;
    struct logs_opts all = {.out = true, .err = true, .tail = -1};
    char *s = run_logs(&t, &all); /* across the rotated files, oldest first; garbage skipped */
    CHECK_STR(s, "1:l0\n|1:l1\n|2:l2\n|1:l3\n|1:l4\n|2:l5\n|1:l6\n|1:l7\n|2:l8\n|");
    free(s);
    struct logs_opts o = {.out = true, .err = false, .tail = 3};
    s = run_logs(&t, &o); /* tail counts the selected lines only, across files */
    CHECK_STR(s, "1:l4\n|1:l6\n|1:l7\n|");
    free(s);
    o = (struct logs_opts){.out = true, .err = true, .tail = 2, .timestamps = true};
    s = run_logs(&t, &o);
    CHECK_STR(s, "1:2026-12-02T04:00:07.000000001Z l7\n|2:2026-12-02T04:00:08.000000001Z l8\n|");
    free(s);
    int64_t base;
    CHECK(logs_parse_time("2026-12-02T04:00:00Z", &base) == 0);
    o = (struct logs_opts){.out = true, .err = true, .tail = -1, .since_ns = base + 3000000000LL,
                           .until_ns = base + 5500000000LL};
    s = run_logs(&t, &o);
    CHECK_STR(s, "1:l3\n|1:l4\n|2:l5\n|");
    free(s);
    o = (struct logs_opts){.out = true, .err = true, .tail = 0};
    s = run_logs(&t, &o);
    CHECK_STR(s, "");
    free(s);
    /* tty: raw bytes, no frames */
    ctr_del(t.c);
    t.c = ctr_new(&t.e, "{\"Image\":\"busybox\",\"Tty\":true}", dir);
    t.c->status = CTR_EXITED;
    o = (struct logs_opts){.out = true, .err = true, .tail = 2};
    s = run_logs(&t, &o);
    CHECK_STR(s, "l7\nl8\n");
    free(s);
    ctr_del(t.c);
    clean_dir(dir);
}

static void test_logs_follow(void)
{
    struct srv t = {0};
    char dir[] = "/tmp/moat-unit-logf-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *live = xasprintf("%s/container.log", dir), *rot = xasprintf("%s/container.log.1", dir);
    char *l = logline("a", "stdout", 1);
    append_file(live, l);
    free(l);
    t.c = ctr_new(&t.e, BODY, dir);
    t.c->status = CTR_RUNNING;
    t.lo = (struct logs_opts){.out = true, .err = true, .tail = -1, .follow = true};
    srv_start(&t);
    CHECK(!srv_pump(&t, 300)); /* still open */
    l = logline("b", "stderr", 2);
    append_file(live, l);
    free(l);
    CHECK(!srv_pump(&t, 400));
    CHECK(rename(live, rot) == 0); /* the monitor rotates */
    l = logline("c", "stdout", 3);
    append_file(live, l);
    free(l);
    CHECK(!srv_pump(&t, 400));
    t.c->status = CTR_EXITED;
    logs_container_exited(t.c);
    CHECK(srv_pump(&t, 2000)); /* drained, then ended */
    CHECK(t.c->followers == NULL);
    size_t len;
    char *b = srv_body(&t, &len), *f = frames(b, len);
    CHECK_STR(f, "1:a\n|2:b\n|1:c\n|");
    free(b);
    free(f);
    srv_stop(&t);

    /* Removal ends a follower; a client that goes away frees its state. */
    t.c->status = CTR_RUNNING;
    srv_start(&t);
    CHECK(!srv_pump(&t, 300));
    CHECK(t.c->followers != NULL);
    logs_free_container(t.c);
    CHECK(t.c->followers == NULL);
    CHECK(srv_pump(&t, 1000));
    srv_stop(&t);
    srv_start(&t);
    CHECK(!srv_pump(&t, 300));
    CHECK(t.c->followers != NULL);
    shutdown(t.cfd, SHUT_RDWR);
    srv_pump(&t, 300);
    CHECK(t.c->followers == NULL);
    srv_stop(&t);
    ctr_del(t.c);
    unlink(rot);
    free(live);
    free(rot);
    clean_dir(dir);
}

/* ~12 MiB of log with an over-long line in the middle, read by a client that
 * reads slowly: every line arrives once, in order; the long one is skipped. */
static void test_logs_big(void)
{
    struct srv t = {0};
    char dir[] = "/tmp/moat-unit-logb-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *live = xasprintf("%s/container.log", dir);
    int fd = open(live, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    char pad[501];
    memset(pad, 'x', 500);
    pad[500] = 0;
    const int n = 24000;
    for (int i = 0; i < n; i++) {
        char *l = xasprintf("{\"log\":\"%06d %s\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-02T04:00:00Z\"}\n", i, pad);
        CHECK(write(fd, l, strlen(l)) == (ssize_t)strlen(l));
        free(l);
        if (i == n / 2) { /* 1.5 MiB in one line */
            size_t big = 3u << 19;
            char *b = xmalloc(big);
            memset(b, 'y', big);
            CHECK(write(fd, b, big) == (ssize_t)big && write(fd, "\n", 1) == 1);
            free(b);
        }
    }
    close(fd);
    t.c = ctr_new(&t.e, BODY, dir);
    t.c->status = CTR_EXITED;
    t.lo = (struct logs_opts){.out = true, .err = true, .tail = -1};
    srv_start(&t);
    /* Don't read for a while: the server must not block, and keeps its queue bounded. */
    for (int i = 0; i < 50; i++)
        event_base_loop(t.base, EVLOOP_NONBLOCK);
    CHECK(srv_pump(&t, 20000));
    size_t len;
    char *b = srv_body(&t, &len);
    size_t frames_n = 0, off = 0;
    bool order = true;
    while (off + MOAT_MON_HDR <= len) {
        uint32_t fl = moat_mon_hdr_len((const uint8_t *)b + off);
        char num[7];
        memcpy(num, b + off + MOAT_MON_HDR, 6);
        num[6] = 0;
        order = order && atoi(num) == (int)frames_n && fl == 508;
        frames_n++;
        off += MOAT_MON_HDR + fl;
    }
    CHECK(off == len);
    CHECK(order);
    CHECK(frames_n == (size_t)n);
    if (frames_n != (size_t)n)
        fprintf(stderr, "    frames %zu of %d, %zu bytes\n", frames_n, n, len);
    free(b);
    srv_stop(&t);
    ctr_del(t.c);
    unlink(live);
    free(live);
    clean_dir(dir);
}

static void test_events_stream(void)
{
    struct srv t = {0};
    t.events = true;
    char dir[] = "/tmp/moat-unit-ev-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct moat_container *c = ctr_new(&t.e, BODY, dir);
    engine_add(&t.e, c);
    t.base = NULL;
    moat_engine_event(&t.e, "container", "create", c->id, NULL);
    moat_engine_event(&t.e, "volume", "create", "v1", (char *const[]){"driver", "local", NULL});
    moat_engine_event(&t.e, "container", "die", c->id, (char *const[]){"exitCode", "3", NULL});
    /* since=1, until in the future: the replay, a live event, then the timer ends it. */
    t.since = 1;
    t.until = wall_ns() / 1000000000LL + 2;
    t.filters = json_tokener_parse("{\"type\":{\"container\":true}}");
    srv_start(&t);
    CHECK(!srv_pump(&t, 200));
    moat_engine_event(&t.e, "container", "destroy", c->id, NULL);
    moat_engine_event(&t.e, "volume", "destroy", "v1", NULL);
    CHECK(srv_pump(&t, 4000)); /* the until timer closed it */
    CHECK(t.e.subs == NULL);
    size_t len;
    char *b = srv_body(&t, &len);
    char *saveptr = NULL;
    const char *want[] = {"create", "die", "destroy"};
    size_t n = 0;
    for (char *line = strtok_r(b, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr), n++) {
        struct json_object *o = json_tokener_parse(line);
        CHECK(o != NULL);
        if (n < ARRAY_SIZE(want))
            CHECK_STR(jpath_str(o, "status", NULL), want[n]);
        CHECK_STR(jpath_str(o, "Type", NULL), "container");
        CHECK_STR(jpath_str(o, "from", NULL), "busybox");
        CHECK_STR(jpath_str(o, "scope", NULL), "local");
        struct json_object *attrs = json_object_object_get(json_object_object_get(o, "Actor"), "Attributes");
        CHECK_STR(jpath_str(attrs, "name", NULL), "web");
        CHECK_STR(jpath_str(attrs, "image", NULL), "busybox");
        CHECK_STR(jpath_str(attrs, "com.x", NULL), "1");
        if (n == 1)
            CHECK_STR(jpath_str(attrs, "exitCode", NULL), "3");
        int64_t tn = json_object_get_int64(json_object_object_get(o, "timeNano"));
        CHECK(json_object_get_int64(json_object_object_get(o, "time")) == tn / 1000000000LL);
        json_object_put(o);
    }
    CHECK(n == 3);
    free(b);
    srv_stop(&t);
    json_object_put(t.filters);
    t.filters = NULL;
    /* until in the past: replay and close at once (here: nothing that old). */
    t.since = 0;
    t.until = 1000;
    srv_start(&t);
    CHECK(srv_pump(&t, 1000));
    b = srv_body(&t, &len);
    CHECK(len == 0);
    free(b);
    srv_stop(&t);
    /* A listener that goes away is dropped. */
    t.until = 0;
    srv_start(&t);
    CHECK(!srv_pump(&t, 100));
    CHECK(t.e.subs != NULL);
    shutdown(t.cfd, SHUT_RDWR);
    srv_pump(&t, 200);
    CHECK(t.e.subs == NULL);
    srv_stop(&t);
    events_free_all(&t.e);
    free(t.e.ctrs);
    ctr_del(c);
    rmdir(dir);
}

static const struct unit_test engine_fmt_tests[] = {
    UNIT_TEST(test_status_text),   UNIT_TEST(test_summary), UNIT_TEST(test_inspect),
    UNIT_TEST(test_parse_line),    UNIT_TEST(test_time),    UNIT_TEST(test_tail),
    UNIT_TEST(test_event_filters), UNIT_TEST(test_logs_stream), UNIT_TEST(test_logs_follow),
    UNIT_TEST(test_logs_big),
    UNIT_TEST(test_events_stream), UNIT_END,
};
UNIT_SUITE(engine_fmt, engine_fmt_tests);
