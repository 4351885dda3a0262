/* The container log in Docker's json-file format: one JSON object a line,
 *   {"log":"text\n","stream":"stdout","time":"2026-12-02T04:00:00.123456789Z"}
 * Lines are cut at '\n'; a line longer than MON_LOG_LINE_MAX (16 KiB) is
 * written in pieces, and a partial line is written at EOF (like dockerd).
 * Invalid UTF-8 becomes U+FFFD, so every line is valid JSON.  Rotation is
 * rename-based: once the file reaches max_size, container.log.(N-2) ->
 * .(N-1), ..., container.log -> .1, and a fresh container.log is opened
 * (with max_files 1 the file is truncated instead). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/util.h"
#include "monitor/monitor_internal.h"

size_t mon_buf_pending(const struct mon_buf *b) { return b->len - b->off; }

void mon_buf_append(struct mon_buf *b, const void *p, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off > 0) { /* compact first */
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            b->data = xrealloc(b->data, cap);
            b->cap = cap;
        }
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void mon_buf_consume(struct mon_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len) {
        b->off = b->len = 0;
        if (b->cap > (64u << 10)) { /* give a burst's memory back */
            free(b->data);
            b->data = NULL;
            b->cap = 0;
        }
    }
}

void mon_buf_free(struct mon_buf *b)
{
    free(b->data);
    *b = (struct mon_buf){0};
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid/truncated. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

char *mon_log_entry(const char *data, size_t len, int stream, size_t *ret_len)
{
    /* worst case every byte becomes a 3-byte U+FFFD */
    _cleanup_free_ char *clean = xmalloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq((const unsigned char *)data + i, len - i);
        if (k == 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, data + i, k);
            o += k;
            i += k;
        }
    }
    char ts[48];
    moat_rfc3339_now(ts, sizeof(ts));
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "log", json_object_new_string_len(clean, (int)o));
    json_object_object_add(obj, "stream", json_object_new_string(stream == MOAT_MON_STDERR ? "stderr" : "stdout"));
    json_object_object_add(obj, "time", json_object_new_string(ts));
    size_t n;
    const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *line = xmalloc(n + 2);
    memcpy(line, s, n);
    line[n] = '\n';
    line[n + 1] = 0;
    json_object_put(obj);
    *ret_len = n + 1;
    return line;
}

static int log_reopen(struct mon_log *l, int extra_flags, moat_error **err)
{
    int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | extra_flags, 0640);
    if (fd < 0)
        return moat_err_sys(err, "open log file '%s'", l->path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return moat_err_sys(err, "stat log file '%s'", l->path);
    }
    l->fd = fd;
    l->size = (uint64_t)st.st_size;
    return 0;
}

int mon_log_open(struct mon_log *l, const char *path, uint64_t max_size, unsigned max_files, moat_error **err)
{
    *l = (struct mon_log){.fd = -1, .max_size = max_size, .max_files = max_files ? max_files : 1};
    l->path = xstrdup(path);
    return log_reopen(l, 0, err);
}

static void log_rotate(struct mon_log *l)
{
    _cleanup_error_ moat_error *err = NULL;
    close(l->fd);
    l->fd = -1;
    if (l->max_files <= 1) {
        if (log_reopen(l, O_TRUNC, &err) < 0)
            l->failed = true;
        return;
    }
    for (unsigned i = l->max_files - 1; i >= 1; i--) {
        _cleanup_free_ char *to = xasprintf("%s.%u", l->path, i);
        _cleanup_free_ char *from = i == 1 ? xstrdup(l->path) : xasprintf("%s.%u", l->path, i - 1);
        if (rename(from, to) < 0 && errno != ENOENT) {
            l->failed = true;
            return;
        }
    }
    if (log_reopen(l, O_TRUNC, &err) < 0)
        l->failed = true;
}

static void log_entry(struct mon_log *l, int stream, const char *data, size_t len)
{
    if (l->failed || l->fd < 0 || len == 0)
        return;
    if (l->max_size && l->size >= l->max_size)
        log_rotate(l);
    if (l->failed)
        return;
    size_t n;
    _cleanup_free_ char *line = mon_log_entry(data, len, stream, &n);
    if (moat_write_all(l->fd, line, n) < 0) {
        l->failed = true; /* disk full or gone: the container must not stop for it */
        return;
    }
    l->size += n;
}

void mon_log_write(struct mon_log *l, int stream, const char *data, size_t len)
{
    int s = stream == MOAT_MON_STDERR ? 1 : 0;
    while (len > 0) {
        size_t room = MON_LOG_LINE_MAX - l->line[s].len;
        const char *nl = memchr(data, '\n', len < room ? len : room);
        size_t take = nl ? (size_t)(nl - data) + 1 : (len < room ? len : room);
        memcpy(l->line[s].buf + l->line[s].len, data, take);
        l->line[s].len += take;
        data += take;
        len -= take;
        if (nl || l->line[s].len == MON_LOG_LINE_MAX) {
            log_entry(l, stream, l->line[s].buf, l->line[s].len);
            l->line[s].len = 0;
        }
    }
}

void mon_log_flush(struct mon_log *l, int stream)
{
    int s = stream == MOAT_MON_STDERR ? 1 : 0;
    log_entry(l, stream, l->line[s].buf, l->line[s].len);
    l->line[s].len = 0;
}

void mon_log_close(struct mon_log *l)
{
    mon_log_flush(l, MOAT_MON_STDOUT);
    mon_log_flush(l, MOAT_MON_STDERR);
    if (l->fd >= 0)
        fsync(l->fd), close(l->fd);
    l->fd = -1;
    free(l->path);
    l->path = NULL;
}
