/* GET /containers/{id}/logs: read the json-file log the monitor writes
 * (<dir>/container.log plus rotated container.log.1, .2, ..., older = higher
 * number) and stream it in Docker's shape: 8-byte frames for containers
 * without a tty, raw bytes with one.
 *
 * Every log file is opened when the request arrives (so a rotation while we
 * read doesn't shift names under us), read with a bounded buffer in slices
 * of at most PUMP_BUDGET bytes per loop turn, and the client's output queue
 * is watched: above PENDING_MAX we stop reading until it drains.  tail=N is
 * a first pass that keeps a ring of the last N selected lines' offsets.
 * follow polls the live file every POLL_MS: a new inode at the path means
 * the monitor rotated (finish the old fd, open the new file), a size below
 * our offset means it truncated.  The stream ends when the container is not
 * running any more and everything is sent, when the container is removed,
 * or (the client went away) silently. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "engine/container.h"
#include "moat/http.h"
#include "moat/json.h"
#include "moat/monitor.h"
#include "moat/util.h"

#define READ_CHUNK (64u << 10)
#define PUMP_BUDGET (1u << 20)   /* input bytes per loop turn */
#define PENDING_MAX (4u << 20)   /* pause reading above this much queued output */
#define PENDING_LOW (1u << 20)   /* resume below this */
#define POLL_MS 200
#define EXIT_GRACE_MS 50
#define MAX_ROTATED 64

/* ---- pure helpers ------------------------------------------------------------------ */

static int digits(const char *s, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int logs_parse_time(const char *s, int64_t *ret_ns)
{
    int Y, M, D, h, m, sec;
    if (!s || strlen(s) < 20 || digits(s, 4, &Y) < 0 || s[4] != '-' || digits(s + 5, 2, &M) < 0 || s[7] != '-' ||
        digits(s + 8, 2, &D) < 0 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, 2, &h) < 0 ||
        s[13] != ':' || digits(s + 14, 2, &m) < 0 || s[16] != ':' || digits(s + 17, 2, &sec) < 0)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
    time_t t = timegm(&tm);
    *ret_ns = ((int64_t)t - off) * 1000000000LL + frac;
    return 0;
}

void logs_format_time(int64_t ns, char buf[static 40])
{
    int64_t secs = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, 28, "%Y-%m-%dT%H:%M:%S", &tm); /* 19 bytes for years 0..9999 */
    buf[n++] = '.';
    for (int i = 8; i >= 0; i--, frac /= 10)
        buf[n + (size_t)i] = (char)('0' + frac % 10);
    n += 9;
    buf[n++] = 'Z';
    buf[n] = 0;
}

void logs_line_clear(struct logs_line *l)
{
    free(l->log);
    *l = (struct logs_line){0};
}

int logs_parse_line(const char *buf, size_t len, struct logs_line *ret)
{
    *ret = (struct logs_line){0};
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0 || len > LOGS_LINE_MAX)
        return -1;
    struct json_tokener *tok = json_tokener_new_ex(8);
    if (!tok)
        return -1;
    struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    bool whole = o && json_tokener_get_error(tok) == json_tokener_success &&
                 (size_t)json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    _cleanup_json_ struct json_object *obj = o;
    struct json_object *lg, *st, *tm;
    if (!whole || !json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, "log", &lg) ||
        !json_object_is_type(lg, json_type_string) || !json_object_object_get_ex(obj, "stream", &st) ||
        !json_object_is_type(st, json_type_string) || !json_object_object_get_ex(obj, "time", &tm) ||
        !json_object_is_type(tm, json_type_string))
        return -1;
    const char *sname = json_object_get_string(st);
    int stream = !strcmp(sname, "stdout") ? 1 : !strcmp(sname, "stderr") ? 2 : 0;
    int64_t ns;
    if (!stream || logs_parse_time(json_object_get_string(tm), &ns) < 0)
        return -1;
    size_t n = (size_t)json_object_get_string_len(lg);
    ret->log = xmalloc(n + 1);
    memcpy(ret->log, json_object_get_string(lg), n);
    ret->log[n] = 0;
    ret->log_len = n;
    ret->stream = stream;
    ret->time_ns = ns;
    return 0;
}

void logs_tail_init(struct logs_tail *t, int64_t n)
{
    *t = (struct logs_tail){.n = n < 0 ? 0 : n};
}

void logs_tail_push(struct logs_tail *t, struct logs_pos p)
{
    if (t->n <= 0)
        return;
    if (t->count < (uint64_t)t->n && t->count == t->cap) { /* still filling: grow */
        size_t cap = t->cap ? t->cap * 2 : 64;
        if ((uint64_t)cap > (uint64_t)t->n)
            cap = (size_t)t->n;
        t->ring = xrealloc(t->ring, cap * sizeof *t->ring);
        t->cap = cap;
    }
    if (t->count < t->cap) {
        t->ring[t->count++] = p; /* head stays 0 until full */
        return;
    }
    t->ring[t->head] = p; /* full: overwrite the oldest */
    t->head = (t->head + 1) % t->cap;
}

bool logs_tail_start(const struct logs_tail *t, struct logs_pos *ret)
{
    if (t->count == 0)
        return false;
    *ret = t->ring[t->head];
    return true;
}

void logs_tail_free(struct logs_tail *t)
{
    free(t->ring);
    *t = (struct logs_tail){0};
}

/* ---- the stream -------------------------------------------------------------------- */

struct logs_follow {
    struct logs_follow *next;
    struct moat_container *c;
    struct moat_http_req *req;
    struct logs_opts o;
    bool tty;
    bool follow;   /* keep the stream open at the end of the live file */
    bool exited;   /* the container exited: drain, then end */
    bool paused;   /* waiting for the client's queue to drain */
    bool skipping; /* dropping the rest of an over-long line */
    int *fds;      /* oldest first; the last one is container.log (or -1) */
    size_t n_fds, cur;
    dev_t dev;     /* the live file's identity, to notice rotation */
    ino_t ino;
    uint64_t off;  /* bytes read from fds[cur] */
    uint64_t line_off;
    char *line;    /* the current partial line */
    size_t line_len, line_cap;
    struct event *tick;
    char *live_path;
};

static void follow_free(struct logs_follow *f)
{
    for (size_t i = 0; i < f->n_fds; i++)
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    free(f->fds);
    free(f->line);
    free(f->live_path);
    if (f->tick)
        event_free(f->tick);
    free(f);
}

static void follow_unlink(struct logs_follow *f)
{
    if (!f->c)
        return; /* detached: its container is gone */
    for (struct logs_follow **pp = &f->c->followers; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

/* End the response and drop the state. */
static void follow_finish(struct logs_follow *f)
{
    struct moat_http_req *req = f->req;
    moat_http_on_close(req, NULL, NULL);
    moat_http_on_drain(req, 0, NULL, NULL);
    follow_unlink(f);
    follow_free(f);
    moat_http_stream_end(req);
}

static void on_client_gone(struct moat_http_req *req, void *arg)
{
    (void)req;
    struct logs_follow *f = arg;
    follow_unlink(f);
    follow_free(f);
}

static bool selected(const struct logs_follow *f, const struct logs_line *l)
{
    if ((l->stream == 1 && !f->o.out) || (l->stream == 2 && !f->o.err))
        return false;
    if (f->o.since_ns && l->time_ns < f->o.since_ns)
        return false;
    if (f->o.until_ns && l->time_ns > f->o.until_ns)
        return false;
    return true;
}

static void emit(struct logs_follow *f, const struct logs_line *l)
{
    char ts[40];
    size_t tlen = 0;
    if (f->o.timestamps) {
        logs_format_time(l->time_ns, ts);
        tlen = strlen(ts);
        ts[tlen++] = ' ';
    }
    size_t hdr = f->tty ? 0 : MOAT_MON_HDR, n = tlen + l->log_len;
    _cleanup_free_ uint8_t *buf = xmalloc(hdr + n);
    if (hdr)
        moat_mon_hdr(buf, (uint8_t)l->stream, (uint32_t)n);
    memcpy(buf + hdr, ts, tlen);
    memcpy(buf + hdr + tlen, l->log, l->log_len);
    moat_http_stream_write(f->req, buf, hdr + n);
}

static void line_done(struct logs_follow *f)
{
    if (!f->skipping && f->line_len > 0) {
        struct logs_line l;
        if (logs_parse_line(f->line, f->line_len, &l) == 0) {
            if (selected(f, &l))
                emit(f, &l);
            logs_line_clear(&l);
        }
    }
    f->skipping = false;
    f->line_len = 0;
}

static void line_append(struct logs_follow *f, const char *p, size_t n)
{
    if (f->skipping)
        return;
    if (f->line_len + n > LOGS_LINE_MAX) {
        f->skipping = true; /* over 1 MiB: not a line the monitor writes; drop it */
        f->line_len = 0;
        return;
    }
    if (f->line_len + n > f->line_cap) {
        size_t cap = f->line_cap ? f->line_cap : 4096;
        while (cap < f->line_len + n)
            cap *= 2;
        f->line = xrealloc(f->line, cap);
        f->line_cap = cap;
    }
    memcpy(f->line + f->line_len, p, n);
    f->line_len += n;
}

static void feed(struct logs_follow *f, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        line_append(f, p, nl ? take - 1 : take);
        if (nl)
            line_done(f);
        p += take;
        n -= take;
    }
}

static void schedule(struct logs_follow *f, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(f->tick, &tv);
}

static bool ctr_live(const struct moat_container *c)
{
    return c && (c->status == CTR_RUNNING || c->status == CTR_PAUSED || c->status == CTR_RESTARTING);
}

/* At EOF of the live file: true when the path now names another file (rotated)
 * or the file shrank (truncated); fds[cur] is then repositioned. */
static bool live_moved(struct logs_follow *f)
{
    struct stat st;
    if (stat(f->live_path, &st) < 0)
        return false;
    int fd = f->fds[f->cur];
    if (fd < 0 || st.st_dev != f->dev || st.st_ino != f->ino) {
        int nfd = open(f->live_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat nst;
        if (nfd < 0 || fstat(nfd, &nst) < 0) {
            if (nfd >= 0)
                close(nfd);
            return false;
        }
        line_done(f); /* a partial last line of the old file */
        if (fd >= 0)
            close(fd);
        f->fds[f->cur] = nfd;
        f->dev = nst.st_dev;
        f->ino = nst.st_ino;
        f->off = 0;
        return true;
    }
    if ((uint64_t)st.st_size < f->off) {
        f->line_len = 0;
        f->skipping = false;
        f->off = 0;
        lseek(fd, 0, SEEK_SET);
        return true;
    }
    return false;
}

static void pump(struct logs_follow *f);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_drain(struct moat_http_req *req, void *arg)
{
    (void)req;
    struct logs_follow *f = arg;
    if (f->paused) {
        f->paused = false;
        schedule(f, 0);
    }
}

/* Read what there is, within the budget; end or reschedule. */
static void pump(struct logs_follow *f)
{
    _cleanup_free_ char *buf = xmalloc(READ_CHUNK);
    size_t budget = PUMP_BUDGET;
    for (;;) {
        if (moat_http_stream_pending(f->req) > PENDING_MAX) {
            f->paused = true; /* on_drain resumes */
            return;
        }
        if (budget == 0) {
            schedule(f, 0);
            return;
        }
        bool live = f->cur + 1 >= f->n_fds;
        int fd = f->fds[f->cur];
        ssize_t n = fd >= 0 ? read(fd, buf, READ_CHUNK) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            f->off += (uint64_t)n;
            feed(f, buf, (size_t)n);
            budget = (size_t)n > budget ? 0 : budget - (size_t)n;
            continue;
        }
        if (!live) { /* a rotated file is finished */
            line_done(f);
            f->cur++;
            f->off = 0;
            continue;
        }
        if (f->follow && live_moved(f))
            continue;
        bool until_passed = f->o.until_ns && (int64_t)time(NULL) * 1000000000LL > f->o.until_ns;
        if (!f->follow || n < 0 || until_passed || f->exited || !ctr_live(f->c)) {
            line_done(f);
            follow_finish(f);
            return;
        }
        schedule(f, POLL_MS);
        return;
    }
}

static int open_log(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && st && fstat(fd, st) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Open container.log.K ... .1, container.log (oldest first). */
static void open_files(struct logs_follow *f)
{
    size_t k = 0;
    while (k < MAX_ROTATED) {
        _cleanup_free_ char *p = xasprintf("%s.%zu", f->live_path, k + 1);
        if (access(p, F_OK) < 0)
            break;
        k++;
    }
    f->fds = xcalloc(k + 1, sizeof *f->fds);
    for (size_t i = 0; i < k; i++) {
        _cleanup_free_ char *p = xasprintf("%s.%zu", f->live_path, k - i);
        f->fds[f->n_fds++] = open_log(p, NULL);
    }
    struct stat st;
    int fd = open_log(f->live_path, &st);
    if (fd >= 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
    }
    f->fds[f->n_fds++] = fd;
}

/* Does the line count for tail?  Without a stream or time filter every line
 * does (no JSON parse needed). */
static bool tail_counts(const struct logs_follow *f, const char *line, size_t len)
{
    if (f->o.out && f->o.err && !f->o.since_ns && !f->o.until_ns)
        return len > 0;
    struct logs_line l;
    if (logs_parse_line(line, len, &l) < 0)
        return false;
    bool ok = selected(f, &l);
    logs_line_clear(&l);
    return ok;
}

/* First pass for tail=N: find where the last N selected lines start, and
 * position the fds there.  Lines over LOGS_LINE_MAX are not counted. */
static void tail_seek(struct logs_follow *f)
{
    struct logs_tail t;
    logs_tail_init(&t, f->o.tail);
    _cleanup_free_ char *buf = xmalloc(READ_CHUNK);
    _cleanup_free_ char *line = xmalloc(LOGS_LINE_MAX + 1);
    for (size_t i = 0; i < f->n_fds; i++) {
        if (f->fds[i] < 0)
            continue;
        uint64_t off = 0, start = 0;
        size_t len = 0;
        bool skip = false;
        ssize_t n;
        while ((n = pread(f->fds[i], buf, READ_CHUNK, (off_t)off)) > 0 || (n < 0 && errno == EINTR)) {
            for (ssize_t j = 0; j < n; j++) {
                if (buf[j] == '\n') {
                    if (!skip && tail_counts(f, line, len))
                        logs_tail_push(&t, (struct logs_pos){i, start});
                    start = off + (uint64_t)j + 1;
                    len = 0;
                    skip = false;
                } else if (!skip) {
                    if (len >= LOGS_LINE_MAX)
                        skip = true;
                    else
                        line[len++] = buf[j];
                }
            }
            if (n > 0)
                off += (uint64_t)n;
        }
        if (len > 0 && !skip && tail_counts(f, line, len)) /* last line without '\n' */
            logs_tail_push(&t, (struct logs_pos){i, start});
    }
    struct logs_pos p;
    if (!logs_tail_start(&t, &p)) { /* nothing selected: start at the end of everything */
        p.file = f->n_fds - 1;
        p.off = 0;
        int fd = f->fds[p.file];
        if (fd >= 0) {
            off_t end = lseek(fd, 0, SEEK_END);
            p.off = end > 0 ? (uint64_t)end : 0;
        }
    }
    logs_tail_free(&t);
    for (size_t i = 0; i < p.file; i++) {
        close(f->fds[i]);
        f->fds[i] = -1;
    }
    f->cur = p.file;
    if (f->fds[p.file] >= 0)
        lseek(f->fds[p.file], (off_t)p.off, SEEK_SET);
    f->off = p.off;
}

void logs_serve(struct moat_container *c, struct moat_http_req *req, const struct logs_opts *o)
{
    if (!o->out && !o->err) {
        moat_http_reply_error(req, 400, "You must choose at least one stream");
        return;
    }
    struct logs_follow *f = xcalloc(1, sizeof *f);
    f->c = c;
    f->req = req;
    f->o = *o;
    f->tty = c->req && c->req->tty;
    f->follow = o->follow && ctr_live(c);
    f->live_path = xasprintf("%s/container.log", c->dir);
    f->tick = evtimer_new(c->e->base, on_tick, f);
    open_files(f);
    if (o->tail >= 0)
        tail_seek(f);
    f->next = c->followers;
    c->followers = f;
    moat_http_on_close(req, on_client_gone, f);
    moat_http_on_drain(req, PENDING_LOW, on_drain, f);
    moat_http_stream_start(req, 200, f->tty ? "text/plain; charset=utf-8" : "application/vnd.docker.raw-stream");
    schedule(f, 0); /* the headers go out first (trap T1), the lines on the next turn */
}

void logs_container_exited(struct moat_container *c)
{
    for (struct logs_follow *f = c->followers; f; f = f->next) {
        f->exited = true;
        if (!f->paused) /* a paused one ends once it drains and reaches the end */
            schedule(f, EXIT_GRACE_MS);
    }
}

/* The container is removed (--rm right after its exit, or rm -f).  Its log
 * files stay open here, so each stream is detached from the container and
 * still sends what is left in them before it ends: docker-py's
 * containers.run(remove=True) follows the logs of a container that exits and
 * is removed before the next poll would have read its last lines. */
void logs_free_container(struct moat_container *c)
{
    while (c->followers) {
        struct logs_follow *f = c->followers;
        c->followers = f->next;
        f->next = NULL;
        f->c = NULL;
        f->follow = false;
        f->exited = true;
        if (!f->paused)
            schedule(f, 0);
    }
}
