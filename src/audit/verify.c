/* Reading and verifying the audit log: the files of a directory oldest first, a bounded
 * line reader, the chain checker (seq, prev, hash, checkpoint signatures) and the head. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit/audit_internal.h"
#include "moat/json.h"
#include "moat/util.h"

#define MAX_ROTATED 10000u

struct rot {
    unsigned n;
    char *path;
};

static int cmp_rot(const void *a, const void *b)
{
    const struct rot *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : 0; /* highest number (oldest) first */
}

int moat_audit_files(const char *dir, char ***ret, moat_error **err)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return moat_err_sys(err, "open '%s'", dir);
    struct rot *v = NULL;
    size_t n = 0;
    bool current = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, AUDIT_LOG)) {
            current = true;
            continue;
        }
        if (strncmp(de->d_name, AUDIT_LOG ".", sizeof AUDIT_LOG))
            continue;
        uint64_t k;
        const char *num = de->d_name + sizeof AUDIT_LOG;
        if (num[0] < '1' || num[0] > '9' || moat_parse_u64(num, &k) < 0 || k > MAX_ROTATED)
            continue;
        v = xrealloc(v, (n + 1) * sizeof *v);
        v[n++] = (struct rot){(unsigned)k, xasprintf("%s/%s", dir, de->d_name)};
    }
    if (n) /* qsort(NULL, 0) is undefined */
        qsort(v, n, sizeof *v, cmp_rot);
    char **out = xcalloc(n + 2, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = v[i].path;
    if (current)
        out[n] = xasprintf("%s/%s", dir, AUDIT_LOG);
    free(v);
    *ret = out;
    return 0;
}

int moat_audit_read_lines(const char *path, moat_audit_line_fn cb, void *ctx, moat_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return moat_err_sys(err, "stat '%s'", path);
    if (!S_ISREG(st.st_mode))
        return moat_err(err, EINVAL, "'%s' is not a regular file", path);
    size_t cap = MOAT_AUDIT_MAX_LINE + 1, have = 0;
    _cleanup_free_ char *buf = xmalloc(cap + 1);
    uint64_t lineno = 0;
    bool skipping = false; /* inside an over-long line, reported already */
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "read '%s'", path);
        have += (size_t)n;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', have - start);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (buf + start));
            if (skipping) {
                skipping = false;
            } else {
                lineno++;
                buf[start + len] = '\0';
                if (cb(ctx, path, lineno, buf + start, len, NULL) < 0)
                    return 0;
            }
            start += len + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (n == 0) {
            if (have > 0 && !skipping) {
                lineno++;
                _cleanup_free_ char *why =
                    xasprintf("incomplete last line (%zu bytes without a newline): a write was cut off", have);
                cb(ctx, path, lineno, NULL, 0, why);
            }
            return 0;
        }
        if (have == cap) {
            if (!skipping) {
                lineno++;
                _cleanup_free_ char *why = xasprintf("line is longer than %u bytes", MOAT_AUDIT_MAX_LINE);
                if (cb(ctx, path, lineno, NULL, 0, why) < 0)
                    return 0;
            }
            skipping = true;
            have = 0;
        }
    }
}

/* ---- the chain --------------------------------------------------------------------------- */
struct moat_audit_chain {
    EVP_PKEY *pub;
    char fp[MOAT_AUDIT_HASH_HEX + 1];
    bool started;
    uint64_t records, checkpoints, first_seq, last_seq;
    char last_hash[MOAT_AUDIT_HASH_HEX + 1];
    /* the hash of record `watch_seq` once seen (for the head check) */
    uint64_t watch_seq;
    char watch_hash[MOAT_AUDIT_HASH_HEX + 1];
};

struct moat_audit_chain *moat_audit_chain_new(const void *der, size_t der_len, moat_error **err)
{
    struct moat_audit_chain *ch = xcalloc(1, sizeof *ch);
    if (der) {
        ch->pub = audit_pub_from_der(der, der_len);
        if (!ch->pub) {
            free(ch);
            moat_err(err, EINVAL, "not an Ed25519 public key");
            return NULL;
        }
        audit_fingerprint(der, der_len, ch->fp);
    }
    return ch;
}

void moat_audit_chain_free(struct moat_audit_chain *ch)
{
    if (!ch)
        return;
    EVP_PKEY_free(ch->pub);
    free(ch);
}

void moat_audit_chain_stats(const struct moat_audit_chain *ch, uint64_t *records, uint64_t *checkpoints,
                            uint64_t *first_seq, uint64_t *last_seq, const char **last_hash)
{
    if (records)
        *records = ch->records;
    if (checkpoints)
        *checkpoints = ch->checkpoints;
    if (first_seq)
        *first_seq = ch->first_seq;
    if (last_seq)
        *last_seq = ch->last_seq;
    if (last_hash)
        *last_hash = ch->started ? ch->last_hash : audit_zero_hash;
}

static int check_link(struct moat_audit_chain *ch, const struct moat_audit_record *r, char **ret_why)
{
    if (!ch->started) {
        if (r->seq == 1 && strcmp(r->prev, audit_zero_hash) != 0) {
            *ret_why = xstrdup("the first record (seq 1) does not start the chain (prev is not zero)");
            return -1;
        }
        if (r->seq != 1 && !r->checkpoint) {
            *ret_why = xasprintf("the log starts at seq %" PRIu64 " without a signed checkpoint: the records "
                                 "before it were deleted",
                                 r->seq);
            return -1;
        }
        return 0;
    }
    uint64_t want = ch->last_seq + 1;
    if (r->seq != want) {
        if (r->seq > want)
            *ret_why = xasprintf("seq %" PRIu64 " follows seq %" PRIu64 ": %" PRIu64
                                 " record(s) deleted or reordered",
                                 r->seq, ch->last_seq, r->seq - want);
        else
            *ret_why = xasprintf("seq %" PRIu64 " follows seq %" PRIu64 ": records reordered or repeated", r->seq,
                                 ch->last_seq);
        return -1;
    }
    if (strcmp(r->prev, ch->last_hash) != 0) {
        *ret_why = xasprintf("prev does not match the hash of record %" PRIu64
                             ": a record was deleted, reordered or replaced",
                             ch->last_seq);
        return -1;
    }
    return 0;
}

int moat_audit_chain_feed(struct moat_audit_chain *ch, const char *line, size_t len, char **ret_why)
{
    struct moat_audit_record r;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_audit_parse_line(line, len, &r, &e) < 0) {
        *ret_why = xstrdup(e->msg);
        return -1;
    }
    int rc = check_link(ch, &r, ret_why);
    if (rc == 0 && r.checkpoint) {
        _cleanup_free_ char *msg = audit_checkpoint_msg(r.seq, r.head, r.time);
        if (strcmp(r.head, r.prev) != 0) {
            *ret_why = xstrdup("checkpoint head differs from its prev");
            rc = -1;
        } else if (!ch->pub || strcmp(r.key, ch->fp) != 0) {
            *ret_why = xstrdup("checkpoint is signed by another key than the audit public key");
            rc = -1;
        } else if (!audit_sig_ok(ch->pub, msg, r.sig)) {
            *ret_why = xstrdup("checkpoint signature invalid: the chain was rewritten without the engine's key "
                               "(forged or replaced tail)");
            rc = -1;
        }
    }
    if (rc == 0) {
        if (!ch->started)
            ch->first_seq = r.seq;
        ch->started = true;
        ch->last_seq = r.seq;
        memcpy(ch->last_hash, r.hash, sizeof ch->last_hash);
        if (r.seq == ch->watch_seq)
            memcpy(ch->watch_hash, r.hash, sizeof ch->watch_hash);
        if (r.checkpoint)
            ch->checkpoints++;
        else
            ch->records++;
    }
    moat_audit_record_clear(&r);
    return rc;
}

/* ---- verify ------------------------------------------------------------------------------ */
struct walk {
    struct moat_audit_chain *ch;
    struct moat_audit_verify_result *res;
    uint64_t lines;
};

static void set_bad(struct moat_audit_verify_result *res, const char *file, uint64_t line, char *why)
{
    res->ok = false;
    res->bad_file = xstrdup(file);
    res->bad_line = line;
    res->why = why;
}

static int on_line(void *ctx, const char *path, uint64_t lineno, const char *line, size_t len, const char *why)
{
    struct walk *w = ctx;
    w->lines = lineno;
    if (!line) {
        set_bad(w->res, path, lineno, xstrdup(why));
        return -1;
    }
    char *bad = NULL;
    if (moat_audit_chain_feed(w->ch, line, len, &bad) < 0) {
        set_bad(w->res, path, lineno, bad);
        return -1;
    }
    return 0;
}

void moat_audit_verify_result_clear(struct moat_audit_verify_result *r)
{
    moat_strv_free(r->files);
    free(r->bad_file);
    free(r->why);
    memset(r, 0, sizeof *r);
}

int moat_audit_verify(const struct moat_audit_verify_opts *o, struct moat_audit_verify_result *res,
                      moat_error **err)
{
    memset(res, 0, sizeof *res);
    struct stat st;
    if (stat(o->path, &st) < 0)
        return moat_err_sys(err, "'%s'", o->path);
    _cleanup_free_ char *dir = NULL;
    bool want_head;
    if (S_ISDIR(st.st_mode)) {
        dir = xstrdup(o->path);
        if (moat_audit_files(dir, &res->files, err) < 0)
            return -1;
        if (!res->files[0])
            return moat_err(err, ENOENT, "no audit log in '%s'", dir);
        want_head = true;
    } else {
        const char *slash = strrchr(o->path, '/');
        dir = slash ? xstrndup(o->path, (size_t)(slash - o->path)) : xstrdup(".");
        if (!dir[0]) {
            free(dir);
            dir = xstrdup("/");
        }
        moat_strv_push(&res->files, o->path);
        /* The current file is checked against the head; a rotated file on its own is not. */
        want_head = !strcmp(slash ? slash + 1 : o->path, AUDIT_LOG);
    }
    _cleanup_free_ char *pubpath = o->pubkey ? xstrdup(o->pubkey) : xasprintf("%s/%s", dir, AUDIT_PUB);
    _cleanup_free_ unsigned char *der = NULL;
    size_t der_len = 0;
    if (audit_pub_load(pubpath, &der, &der_len, err) < 0)
        return -1;
    struct moat_audit_chain *ch = moat_audit_chain_new(der, der_len, err);
    if (!ch)
        return -1;
    res->ok = true;
    /* The head first, so the walk can note the hash at its seq. */
    struct audit_head h = {0};
    int hr = 0;
    _cleanup_free_ char *head_path = xasprintf("%s/%s", dir, AUDIT_HEAD);
    if (want_head) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *why = NULL;
        if (dfd < 0) {
            moat_audit_chain_free(ch);
            return moat_err_sys(err, "open '%s'", dir);
        }
        hr = audit_head_read(dfd, ch->pub, ch->fp, &h, &why, err);
        if (hr < 0 && !why) {
            moat_audit_chain_free(ch);
            return -1;
        }
        if (hr < 0)
            set_bad(res, head_path, 0, why);
        else if (hr == 0)
            set_bad(res, head_path, 0,
                    xstrdup("missing: the signed head is gone, so truncation or a replaced tail cannot be ruled out"));
        else
            ch->watch_seq = h.seq;
    }
    struct walk w = {.ch = ch, .res = res};
    const char *last_file = NULL;
    for (size_t i = 0; res->ok && res->files[i]; i++) {
        w.lines = 0;
        last_file = res->files[i];
        if (moat_audit_read_lines(res->files[i], on_line, &w, err) < 0) {
            moat_audit_chain_free(ch);
            return -1;
        }
    }
    if (res->ok && !ch->started)
        set_bad(res, last_file, 0, xstrdup("the log has no records"));
    if (res->ok && hr == 1) {
        if (ch->last_seq < h.seq)
            set_bad(res, last_file, w.lines + 1,
                    xasprintf("truncated: the log ends at seq %" PRIu64 " but the signed head records seq %" PRIu64,
                              ch->last_seq, h.seq));
        else if (h.seq < ch->first_seq || strcmp(ch->watch_hash, h.hash) != 0)
            set_bad(res, last_file, w.lines,
                    xasprintf("tail replaced: the signed head's record %" PRIu64 " (hash %.12s) is not in the chain",
                              h.seq, h.hash));
        else if (ch->last_seq > h.seq + 1)
            set_bad(res, last_file, w.lines,
                    xasprintf("%" PRIu64 " records after the signed head (seq %" PRIu64 "): appended without the key",
                              ch->last_seq - h.seq, h.seq));
    }
    moat_audit_chain_stats(ch, &res->records, &res->checkpoints, &res->first_seq, &res->last_seq, NULL);
    moat_audit_chain_free(ch);
    return 0;
}
