/* The audit log's writer: open (directory, key, tail check against the signed head),
 * append (one write + fsync, then the head), checkpoints, rotation.  See include/moat/audit.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit/audit_internal.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"

struct moat_audit {
    char *dir;
    int dirfd, fd;
    uint64_t size, max_file;
    unsigned keep, every, since_checkpoint;
    uint64_t last_seq;
    char last_hash[MOAT_AUDIT_HASH_HEX + 1];
    EVP_PKEY *key;
    char fp[MOAT_AUDIT_HASH_HEX + 1];
};

const char *moat_audit_dir(const struct moat_audit *a) { return a->dir; }
uint64_t moat_audit_last_seq(const struct moat_audit *a) { return a->last_seq; }

/* mkdir -p; the audit directory itself 0700 and ours. */
static int make_dir(const char *dir, moat_error **err)
{
    _cleanup_free_ char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return moat_err_sys(err, "create '%s'", p);
        *s = '/';
    }
    return moat_private_dir(dir, err);
}

/* The last complete line of a file (bounded read of its tail).  0: empty file. */
static int last_line(int fd, const char *name, uint64_t size, char **ret, size_t *ret_len, moat_error **err)
{
    if (size == 0)
        return 0;
    size_t want = size < MOAT_AUDIT_MAX_LINE + 2 ? (size_t)size : MOAT_AUDIT_MAX_LINE + 2;
    _cleanup_free_ char *buf = xmalloc(want + 1);
    ssize_t n = pread(fd, buf, want, (off_t)(size - want));
    if (n != (ssize_t)want)
        return moat_err_sys(err, "read '%s'", name);
    if (buf[want - 1] != '\n')
        return moat_err(err, EBADMSG, "'%s' ends in an incomplete line", name);
    size_t end = want - 1, start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (start == 0 && want == MOAT_AUDIT_MAX_LINE + 2)
        return moat_err(err, E2BIG, "the last line of '%s' is longer than %u bytes", name, MOAT_AUDIT_MAX_LINE);
    *ret = xstrndup(buf + start, end - start);
    *ret_len = end - start;
    return 1;
}

static int write_head(struct moat_audit *a, moat_error **err)
{
    char time[48], sig[AUDIT_SIG_HEX + 1];
    moat_rfc3339_now(time, sizeof time);
    _cleanup_free_ char *msg = audit_head_msg(a->last_seq, a->last_hash, time);
    if (audit_sign(a->key, msg, sig, err) < 0)
        return -1;
    _cleanup_free_ char *body =
        xasprintf("{\"seq\":%" PRIu64 ",\"hash\":\"%s\",\"time\":\"%s\",\"key\":\"%s\",\"sig\":\"%s\"}\n", a->last_seq,
                  a->last_hash, time, a->fp, sig);
    if (moat_write_file_atomic(a->dirfd, AUDIT_HEAD, body, strlen(body), 0600, err) < 0)
        return moat_err_wrap(err, "update '%s/%s'", a->dir, AUDIT_HEAD);
    return 0;
}

static int open_current(struct moat_audit *a, moat_error **err)
{
    a->fd = openat(a->dirfd, AUDIT_LOG, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (a->fd < 0)
        return moat_err_sys(err, "open '%s/%s'", a->dir, AUDIT_LOG);
    struct stat st;
    if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(a->fd);
        a->fd = -1;
        return moat_err(err, EINVAL, "'%s/%s' is not a regular file", a->dir, AUDIT_LOG);
    }
    a->size = (uint64_t)st.st_size;
    return 0;
}

/* audit.log -> .1 -> ... -> .keep (the oldest dropped); the next line opens a new audit.log. */
static int rotate(struct moat_audit *a, moat_error **err)
{
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    char from[32], to[32];
    snprintf(to, sizeof to, AUDIT_LOG ".%u", a->keep);
    if (unlinkat(a->dirfd, to, 0) < 0 && errno != ENOENT)
        return moat_err_sys(err, "remove '%s/%s'", a->dir, to);
    for (unsigned i = a->keep; i > 1; i--) {
        snprintf(from, sizeof from, AUDIT_LOG ".%u", i - 1);
        snprintf(to, sizeof to, AUDIT_LOG ".%u", i);
        if (renameat(a->dirfd, from, a->dirfd, to) < 0 && errno != ENOENT)
            return moat_err_sys(err, "rename '%s/%s' to '%s'", a->dir, from, to);
    }
    if (renameat(a->dirfd, AUDIT_LOG, a->dirfd, AUDIT_LOG ".1") < 0)
        return moat_err_sys(err, "rename '%s/%s' to '%s.1'", a->dir, AUDIT_LOG, AUDIT_LOG);
    if (fsync(a->dirfd) < 0)
        return moat_err_sys(err, "fsync '%s'", a->dir);
    return 0;
}

/* The record or checkpoint object for the next seq (without its hash). */
static struct json_object *checkpoint_obj(struct moat_audit *a, const char *reason, moat_error **err)
{
    char time[48], sig[AUDIT_SIG_HEX + 1];
    moat_rfc3339_now(time, sizeof time);
    _cleanup_free_ char *msg = audit_checkpoint_msg(a->last_seq + 1, a->last_hash, time);
    if (audit_sign(a->key, msg, sig, err) < 0)
        return NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "seq", json_object_new_int64((int64_t)(a->last_seq + 1)));
    json_object_object_add(o, "type", json_object_new_string("checkpoint"));
    json_object_object_add(o, "time", json_object_new_string(time));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    json_object_object_add(o, "head", json_object_new_string(a->last_hash));
    json_object_object_add(o, "key", json_object_new_string(a->fp));
    json_object_object_add(o, "sig", json_object_new_string(sig));
    json_object_object_add(o, "prev", json_object_new_string(a->last_hash));
    return o;
}

static struct json_object *bounded_str(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (n <= MOAT_AUDIT_MAX_FIELD)
        return json_object_new_string(s);
    _cleanup_free_ char *cut = xasprintf("%.*s...", (int)MOAT_AUDIT_MAX_FIELD, s);
    return json_object_new_string(cut);
}

static struct json_object *record_obj(struct moat_audit *a, const struct moat_audit_entry *e)
{
    char time[48];
    moat_rfc3339_now(time, sizeof time);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "seq", json_object_new_int64((int64_t)(a->last_seq + 1)));
    json_object_object_add(o, "time", json_object_new_string(time));
    json_object_object_add(o, "identity", bounded_str(e->identity ? e->identity : "unknown"));
    if (e->subject)
        json_object_object_add(o, "subject", bounded_str(e->subject));
    if (e->tenant)
        json_object_object_add(o, "tenant", bounded_str(e->tenant));
    json_object_object_add(o, "action", bounded_str(e->action ? e->action : "unknown"));
    json_object_object_add(o, "object", bounded_str(e->object));
    json_object_object_add(o, "decision", bounded_str(e->decision));
    struct json_object *rs = json_object_new_array();
    size_t n = moat_strv_len(e->reasons);
    for (size_t i = 0; i < n && i < MOAT_AUDIT_MAX_REASONS; i++)
        json_object_array_add(rs, bounded_str(e->reasons[i]));
    if (n > MOAT_AUDIT_MAX_REASONS) {
        _cleanup_free_ char *more = xasprintf("... and %zu more reasons", n - MOAT_AUDIT_MAX_REASONS);
        json_object_array_add(rs, json_object_new_string(more));
    }
    json_object_object_add(o, "reasons", rs);
    json_object_object_add(o, "policy", e->policy ? bounded_str(e->policy) : NULL);
    json_object_object_add(o, "prev", json_object_new_string(a->last_hash));
    return o;
}

/* Write one sealed line: whole line, fsync, head.  On any failure the line is cut off
 * again (the file and the head stay as they were) and the error returned. */
static int write_line(struct moat_audit *a, const char *line, size_t len, const char *hash, moat_error **err)
{
    if (a->fd < 0 && open_current(a, err) < 0)
        return -1;
    uint64_t off = a->size;
    /* One write() of the whole line; a short count is retried once for the rest only to learn
     * why (EFBIG, ENOSPC...), then the partial line is cut off again. */
    ssize_t n = write(a->fd, line, len);
    int saved = errno;
    size_t done = n > 0 ? (size_t)n : 0;
    if (n >= 0 && done < len) {
        ssize_t m = write(a->fd, line + done, len - done);
        saved = m < 0 ? errno : ENOSPC;
        if (m > 0)
            done += (size_t)m;
    }
    if (done != len || fsync(a->fd) < 0) {
        if (done == len)
            saved = errno;
        if (ftruncate(a->fd, (off_t)off) < 0)
            moat_log(MOAT_LOG_ERROR, "audit log '%s/%s': cannot cut a failed write off again: %s", a->dir, AUDIT_LOG,
                     strerror(errno));
        if (n >= 0 && (size_t)n < len)
            return moat_err_errno(err, saved, "write '%s/%s': short write (%zd of %zu bytes)", a->dir, AUDIT_LOG, n,
                                  len);
        return moat_err_errno(err, saved, "write '%s/%s'", a->dir, AUDIT_LOG);
    }
    uint64_t prev_seq = a->last_seq;
    char prev_hash[MOAT_AUDIT_HASH_HEX + 1];
    memcpy(prev_hash, a->last_hash, sizeof prev_hash);
    a->last_seq++;
    memcpy(a->last_hash, hash, sizeof a->last_hash);
    a->size += len;
    if (write_head(a, err) < 0) {
        /* Not recorded after all: keep file and head consistent. */
        if (ftruncate(a->fd, (off_t)off) == 0 && fsync(a->fd) == 0) {
            a->last_seq = prev_seq;
            memcpy(a->last_hash, prev_hash, sizeof a->last_hash);
            a->size = off;
        }
        return -1;
    }
    return 0;
}

static int emit(struct moat_audit *a, bool checkpoint, const char *reason, const struct moat_audit_entry *e,
                moat_error **err);

/* A new file starts with a "rotate" checkpoint that continues the chain. */
static int ensure_file(struct moat_audit *a, size_t next_len, bool checkpoint, moat_error **err)
{
    if (a->fd >= 0 && a->size > 0 && a->size + next_len > a->max_file && rotate(a, err) < 0)
        return -1;
    if (a->fd < 0 && open_current(a, err) < 0)
        return -1;
    if (a->size == 0 && a->last_seq > 0 && !checkpoint)
        return emit(a, true, "rotate", NULL, err);
    return 0;
}

static int emit(struct moat_audit *a, bool checkpoint, const char *reason, const struct moat_audit_entry *e,
                moat_error **err)
{
    for (int pass = 0; pass < 2; pass++) {
        _cleanup_json_ struct json_object *o = checkpoint ? checkpoint_obj(a, reason, err) : record_obj(a, e);
        if (!o)
            return -1;
        char hash[MOAT_AUDIT_HASH_HEX + 1];
        size_t len = 0;
        _cleanup_free_ char *line = audit_seal(o, hash, &len);
        if (len - 1 > MOAT_AUDIT_MAX_LINE)
            return moat_err(err, E2BIG, "audit record is longer than %u bytes", MOAT_AUDIT_MAX_LINE);
        uint64_t seq = a->last_seq;
        if (ensure_file(a, len, checkpoint, err) < 0)
            return -1;
        if (a->last_seq != seq)
            continue; /* a rotate checkpoint went first: rebuild with the new seq and prev */
        if (write_line(a, line, len, hash, err) < 0)
            return -1;
        if (checkpoint)
            a->since_checkpoint = 0;
        else
            a->since_checkpoint++;
        return 0;
    }
    return moat_err(err, EIO, "audit log: rotation did not settle");
}

int moat_audit_append(struct moat_audit *a, const struct moat_audit_entry *e, moat_error **err)
{
    if (!a)
        return moat_err(err, EIO, "the audit log is not open");
    /* A due checkpoint goes first, so a failure leaves no record of a request that then fails. */
    if (a->since_checkpoint >= a->every && emit(a, true, "interval", NULL, err) < 0)
        return -1;
    return emit(a, false, NULL, e, err);
}

/* Where the chain stands: the last record of the newest non-empty file, checked
 * against the signed head. */
static int load_tail(struct moat_audit *a, moat_error **err)
{
    _cleanup_strv_ char **files = NULL;
    if (moat_audit_files(a->dir, &files, err) < 0)
        return -1;
    _cleanup_free_ char *line = NULL, *name = NULL;
    size_t len = 0;
    for (size_t i = moat_strv_len(files); i-- > 0 && !line;) {
        _cleanup_close_ int fd = open(files[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return moat_err_sys(err, "open '%s'", files[i]);
        if (last_line(fd, files[i], (uint64_t)st.st_size, &line, &len, err) < 0)
            return -1;
        name = xstrdup(files[i]);
    }
    const char *hint = "run 'moat audit verify' and move the log aside to start a new one";
    struct audit_head h;
    _cleanup_free_ char *why = NULL;
    int hr = audit_head_read(a->dirfd, a->key, a->fp, &h, &why, err);
    if (hr < 0 && !why)
        return -1;
    if (hr < 0)
        return moat_err(err, EBADMSG, "'%s/%s': %s; %s", a->dir, AUDIT_HEAD, why, hint);
    if (!line) {
        if (hr == 1 && h.seq > 0)
            return moat_err(err, EBADMSG, "the log is gone but '%s/%s' records seq %" PRIu64 "; %s", a->dir,
                            AUDIT_HEAD, h.seq, hint);
        a->last_seq = 0;
        memcpy(a->last_hash, audit_zero_hash, sizeof a->last_hash);
        return 0;
    }
    struct moat_audit_record r;
    _cleanup_error_ moat_error *pe = NULL;
    if (moat_audit_parse_line(line, len, &r, &pe) < 0)
        return moat_err(err, EBADMSG, "the last record of '%s': %s; %s", name, pe->msg, hint);
    a->last_seq = r.seq;
    memcpy(a->last_hash, r.hash, sizeof a->last_hash);
    bool ok = hr == 1 && ((h.seq == r.seq && !strcmp(h.hash, r.hash)) || (h.seq + 1 == r.seq && !strcmp(h.hash, r.prev)));
    uint64_t hseq = hr == 1 ? h.seq : 0;
    moat_audit_record_clear(&r);
    if (hr == 0)
        return moat_err(err, EBADMSG, "'%s/%s' is missing but the log has records; %s", a->dir, AUDIT_HEAD, hint);
    if (!ok)
        return moat_err(err, EBADMSG,
                        "the log ends at seq %" PRIu64 " but '%s/%s' records seq %" PRIu64
                        " with another hash: the log was truncated or its tail replaced; %s",
                        a->last_seq, a->dir, AUDIT_HEAD, hseq, hint);
    return 0;
}

int moat_audit_open(const struct moat_audit_opts *o, struct moat_audit **ret, moat_error **err)
{
    if (!o || !o->dir || o->dir[0] != '/')
        return moat_err(err, EINVAL, "the audit directory must be an absolute path");
    struct moat_audit *a = xcalloc(1, sizeof *a);
    a->dir = xstrdup(o->dir);
    a->dirfd = a->fd = -1;
    a->max_file = o->max_file_bytes ? o->max_file_bytes : MOAT_AUDIT_DEFAULT_MAX_FILE;
    a->keep = o->keep ? o->keep : MOAT_AUDIT_DEFAULT_KEEP;
    a->every = o->checkpoint_every ? o->checkpoint_every : MOAT_AUDIT_DEFAULT_CHECKPOINT;
    unsigned char *der = NULL;
    size_t der_len = 0;
    if (make_dir(a->dir, err) < 0)
        goto fail;
    a->dirfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (a->dirfd < 0) {
        moat_err_sys(err, "open '%s'", a->dir);
        goto fail;
    }
    /* One writer per chain: a second engine on the same store would fork the seq numbers. */
    if (flock(a->dirfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            moat_err(err, EBUSY, "another engine is writing this audit log");
        else
            moat_err_sys(err, "flock '%s'", a->dir);
        goto fail;
    }
    if (audit_key_load_or_create(a->dirfd, a->dir, &a->key, err) < 0)
        goto fail;
    if (audit_pub_der(a->key, &der, &der_len) < 0) {
        moat_err(err, EIO, "encode the audit public key");
        goto fail;
    }
    audit_fingerprint(der, der_len, a->fp);
    free(der);
    if (load_tail(a, err) < 0 || open_current(a, err) < 0)
        goto fail;
    /* Engine start: a signed anchor for everything before it. */
    if (emit(a, true, "open", NULL, err) < 0)
        goto fail;
    *ret = a;
    return 0;
fail:
    moat_audit_close(a);
    return moat_err_wrap(err, "audit log '%s'", o->dir);
}

void moat_audit_close(struct moat_audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    if (a->dirfd >= 0)
        close(a->dirfd);
    EVP_PKEY_free(a->key);
    free(a->dir);
    free(a);
}
