/* The audit log (src/audit): the chain as written, each tamper case on a temp directory
 * (edit, delete, swap, truncate, a tail replaced by a re-hashed chain, head removed or
 * rewritten, a foreign key), rotation across files, bounds, and the fail-closed write. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moat/audit.h"
#include "moat/digest.h"
#include "moat/util.h"
#include "unit.h"

struct adir {
    char dir[64];
};

static bool adir_new(struct adir *d)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/moat-unit-audit-XXXXXX");
    return mkdtemp(d->dir) != NULL;
}

static void adir_rm(struct adir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (d->dir[0] && strncmp(d->dir, "/tmp/moat-unit-audit-", 21) == 0 && fork() == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    wait(NULL);
}

static char *path_in(struct adir *d, const char *name) { return xasprintf("%s/%s", d->dir, name); }

/* Write n request records (and open/close the log around them). */
static bool write_records(const char *dir, unsigned n, const struct moat_audit_opts *opts)
{
    struct moat_audit_opts o = opts ? *opts : (struct moat_audit_opts){0};
    o.dir = dir;
    struct moat_audit *a = NULL;
    moat_error *err = NULL;
    if (moat_audit_open(&o, &a, &err) < 0) {
        fprintf(stderr, "    open: %s\n", err->msg);
        moat_error_free(err);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        char obj[32];
        snprintf(obj, sizeof obj, "ctr%u", i);
        char *const reasons[] = {"rule a", "rule b", NULL};
        struct moat_audit_entry e = {.identity = "uid:1000", .action = i % 2 ? "container.start" : "container.create",
                                     .object = obj, .decision = i % 3 == 2 ? "deny" : "allow",
                                     .reasons = i % 3 == 2 ? reasons : NULL, .policy = "baseline"};
        if (moat_audit_append(a, &e, &err) < 0) {
            fprintf(stderr, "    append: %s\n", err->msg);
            moat_error_free(err);
            moat_audit_close(a);
            return false;
        }
    }
    moat_audit_close(a);
    return true;
}

static bool verify(const char *path, struct moat_audit_verify_result *res)
{
    struct moat_audit_verify_opts vo = {.path = path};
    moat_error *err = NULL;
    if (moat_audit_verify(&vo, res, &err) < 0) {
        fprintf(stderr, "    verify: %s\n", err->msg);
        moat_error_free(err);
        return false;
    }
    return true;
}

/* The lines of a file, NULL-terminated, each without its newline. */
static char **lines_of(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    moat_error *err = NULL;
    if (moat_read_file_at(AT_FDCWD, path, 64u << 20, &buf, &len, &err) < 0) {
        moat_error_free(err);
        return NULL;
    }
    char **v = xcalloc(1, sizeof *v);
    size_t n = 0;
    for (char *s = buf, *nl; (nl = strchr(s, '\n')); s = nl + 1) {
        v = xrealloc(v, (n + 2) * sizeof *v);
        v[n++] = xstrndup(s, (size_t)(nl - s));
        v[n] = NULL;
    }
    free(buf);
    return v;
}

static void write_lines(const char *path, char **v)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t i = 0; v && v[i]; i++)
        if (moat_write_all(fd, v[i], strlen(v[i])) < 0 || moat_write_all(fd, "\n", 1) < 0)
            abort();
    close(fd);
}

/* Re-seal a line as a forger would: the documented hash over the line without its hash member. */
static char *reseal(const char *line_without_hash_member_closed)
{
    const char *s = line_without_hash_member_closed; /* "{...}" */
    char d[MOAT_DIGEST_SIZE];
    moat_sha256_buf(s, strlen(s), d);
    return xasprintf("%.*s,\"hash\":\"%s\"}", (int)(strlen(s) - 1), s, moat_digest_hex(d));
}

/* Replace "key":"<old>" with "key":"<new>" in a line (first occurrence). */
static char *set_str(const char *line, const char *key, const char *val)
{
    _cleanup_free_ char *pat = xasprintf("\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return xstrdup(line);
    p += strlen(pat);
    const char *q = strchr(p, '"');
    return xasprintf("%.*s%s%s", (int)(p - line), line, val, q);
}

static char *strip_hash(const char *line)
{
    const char *h = strstr(line, ",\"hash\":\"");
    return xasprintf("%.*s}", (int)(h - line), line);
}

static const char *hash_of(const char *line) { return strstr(line, ",\"hash\":\"") + 9; }

static void test_chain(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    CHECK(write_records(d.dir, 10, NULL));
    struct moat_audit_verify_result r;
    CHECK(verify(d.dir, &r));
    CHECK(r.ok);
    CHECK(r.records == 10);
    CHECK(r.checkpoints == 1); /* the "open" checkpoint */
    CHECK(r.first_seq == 1 && r.last_seq == 11);
    moat_audit_verify_result_clear(&r);
    /* Reopening continues the chain with another checkpoint. */
    CHECK(write_records(d.dir, 3, NULL));
    CHECK(verify(d.dir, &r));
    CHECK(r.ok && r.records == 13 && r.checkpoints == 2 && r.last_seq == 15);
    moat_audit_verify_result_clear(&r);
    /* The documented hash and prev link hold on every line, and record fields parse. */
    _cleanup_free_ char *log = path_in(&d, "audit.log");
    _cleanup_strv_ char **v = lines_of(log);
    CHECK(moat_strv_len(v) == 15);
    for (size_t i = 0; v && v[i]; i++) {
        _cleanup_free_ char *body = strip_hash(v[i]);
        char dg[MOAT_DIGEST_SIZE];
        moat_sha256_buf(body, strlen(body), dg);
        CHECK(strncmp(hash_of(v[i]), moat_digest_hex(dg), 64) == 0);
        if (i > 0) {
            _cleanup_free_ char *want = xasprintf("\"prev\":\"%.64s\"", hash_of(v[i - 1]));
            CHECK(strstr(v[i], want) != NULL);
        }
    }
    struct moat_audit_record rec;
    moat_error *err = NULL;
    CHECK(moat_audit_parse_line(v[3], strlen(v[3]), &rec, &err) == 0);
    CHECK(rec.seq == 4 && !rec.checkpoint);
    CHECK_STR(rec.identity, "uid:1000");
    CHECK_STR(rec.action, "container.create");
    CHECK_STR(rec.decision, "deny");
    CHECK_STR(rec.policy, "baseline");
    moat_audit_record_clear(&rec);
    CHECK(moat_audit_parse_line(v[0], strlen(v[0]), &rec, &err) == 0);
    CHECK(rec.checkpoint && !strcmp(rec.reason, "open"));
    moat_audit_record_clear(&rec);
    /* The key: private 0600, public next to it. */
    struct stat st;
    _cleanup_free_ char *key = path_in(&d, "audit.key");
    CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(d.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    adir_rm(&d);
}

static void test_checkpoint_interval(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    struct moat_audit_opts o = {.checkpoint_every = 4};
    CHECK(write_records(d.dir, 10, &o));
    struct moat_audit_verify_result r;
    CHECK(verify(d.dir, &r));
    /* open, then before the 5th and the 9th record */
    CHECK(r.ok && r.records == 10 && r.checkpoints == 3);
    moat_audit_verify_result_clear(&r);
    adir_rm(&d);
}

/* A fresh log of 12 records; mutate(lines) then verify: not ok, the line and a reason. */
static void tamper_case(void (*mutate)(char **v, struct adir *d), uint64_t want_line, const char *want_why)
{
    struct adir d;
    CHECK(adir_new(&d));
    CHECK(write_records(d.dir, 12, NULL));
    _cleanup_free_ char *log = path_in(&d, "audit.log");
    char **v = lines_of(log);
    CHECK(v != NULL);
    mutate(v, &d);
    write_lines(log, v);
    moat_strv_free(v);
    struct moat_audit_verify_result r;
    CHECK(verify(d.dir, &r));
    CHECK(!r.ok);
    if (r.why && !strstr(r.why, want_why))
        fprintf(stderr, "    why: '%s' lacks '%s'\n", r.why, want_why), unit_failures++;
    if (want_line && r.bad_line != want_line)
        fprintf(stderr, "    bad line %" PRIu64 ", expected %" PRIu64 " (%s)\n", r.bad_line, want_line,
                r.why ? r.why : ""), unit_failures++;
    moat_audit_verify_result_clear(&r);
    /* The engine refuses to continue a tampered chain too (except for a mid-log edit, which
     * only verify can see). */
    adir_rm(&d);
}

static void m_edit(char **v, struct adir *d)
{
    (void)d;
    char *p = strstr(v[4], "uid:1000");
    p[4] = '0'; /* uid:0000 */
}
static void m_delete(char **v, struct adir *d)
{
    (void)d;
    free(v[5]);
    memmove(&v[5], &v[6], (moat_strv_len(v) - 5) * sizeof *v);
}
static void m_swap(char **v, struct adir *d)
{
    (void)d;
    char *t = v[6];
    v[6] = v[7];
    v[7] = t;
}
static void m_truncate(char **v, struct adir *d)
{
    (void)d;
    size_t n = moat_strv_len(v);
    free(v[n - 1]);
    free(v[n - 2]);
    v[n - 2] = NULL;
}
/* Replace the last 4 records with a fresh chain: each re-hashed with the right prev and seq. */
static void m_replace_tail(char **v, struct adir *d)
{
    (void)d;
    size_t n = moat_strv_len(v);
    for (size_t i = n - 4; i < n; i++) {
        _cleanup_free_ char *body = strip_hash(v[i]);
        _cleanup_free_ char *who = set_str(body, "identity", "uid:4242");
        _cleanup_free_ char *prev = xstrndup(hash_of(v[i - 1]), 64);
        _cleanup_free_ char *linked = set_str(who, "prev", prev);
        free(v[i]);
        v[i] = reseal(linked);
    }
}
/* The same, and a re-signed-looking head: the head's own signature stops it. */
static void m_forge_head(char **v, struct adir *d)
{
    m_replace_tail(v, d);
    size_t n = moat_strv_len(v);
    _cleanup_free_ char *head = path_in(d, "audit.head");
    _cleanup_strv_ char **h = lines_of(head);
    _cleanup_free_ char *hash = xstrndup(hash_of(v[n - 1]), 64);
    char *nh = set_str(h[0], "hash", hash);
    free(h[0]);
    h[0] = nh;
    write_lines(head, h);
}
static void m_rm_head(char **v, struct adir *d)
{
    (void)v;
    _cleanup_free_ char *head = path_in(d, "audit.head");
    CHECK(unlink(head) == 0);
}
/* A checkpoint whose signature is altered and the line re-hashed: only the signature is wrong. */
static void m_bad_checkpoint_sig(char **v, struct adir *d)
{
    (void)d;
    _cleanup_free_ char *body = strip_hash(v[0]);
    char *p = strstr(body, "\"sig\":\"") + 7;
    p[0] = p[0] == 'a' ? 'b' : 'a';
    free(v[0]);
    v[0] = reseal(body);
    /* keep the chain linked after it */
    for (size_t i = 1; v[i]; i++) {
        _cleanup_free_ char *b = strip_hash(v[i]);
        _cleanup_free_ char *prev = xstrndup(hash_of(v[i - 1]), 64);
        _cleanup_free_ char *l = set_str(b, "prev", prev);
        free(v[i]);
        v[i] = reseal(l);
    }
}
static void m_long_line(char **v, struct adir *d)
{
    (void)d;
    free(v[3]);
    v[3] = xmalloc(MOAT_AUDIT_MAX_LINE + 100);
    memset(v[3], 'x', MOAT_AUDIT_MAX_LINE + 99);
    v[3][MOAT_AUDIT_MAX_LINE + 99] = '\0';
}

static void test_tamper_edit(void) { tamper_case(m_edit, 5, "hash mismatch"); }
static void test_tamper_delete(void) { tamper_case(m_delete, 6, "deleted or reordered"); }
static void test_tamper_swap(void) { tamper_case(m_swap, 7, "deleted or reordered"); }
static void test_tamper_truncate(void) { tamper_case(m_truncate, 12, "truncated"); }
static void test_tamper_replace_tail(void) { tamper_case(m_replace_tail, 13, "tail replaced"); }
static void test_tamper_forged_head(void) { tamper_case(m_forge_head, 0, "head signature invalid"); }
static void test_tamper_missing_head(void) { tamper_case(m_rm_head, 0, "missing"); }
static void test_checkpoint_signature(void) { tamper_case(m_bad_checkpoint_sig, 1, "checkpoint signature invalid"); }
static void test_bounds_long_line(void) { tamper_case(m_long_line, 4, "longer than"); }

static void test_foreign_key(void)
{
    struct adir a, b;
    CHECK(adir_new(&a) && adir_new(&b));
    CHECK(write_records(a.dir, 3, NULL));
    CHECK(write_records(b.dir, 1, NULL));
    _cleanup_free_ char *pub = path_in(&b, "audit.pub");
    struct moat_audit_verify_opts vo = {.path = a.dir, .pubkey = pub};
    struct moat_audit_verify_result r;
    moat_error *err = NULL;
    CHECK(moat_audit_verify(&vo, &r, &err) == 0);
    CHECK(!r.ok && r.why && strstr(r.why, "another key"));
    moat_audit_verify_result_clear(&r);
    adir_rm(&a);
    adir_rm(&b);
}

static void test_open_refuses_tampered_tail(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    CHECK(write_records(d.dir, 5, NULL));
    _cleanup_free_ char *log = path_in(&d, "audit.log");
    _cleanup_strv_ char **v = lines_of(log);
    size_t n = moat_strv_len(v);
    free(v[n - 1]);
    free(v[n - 2]);
    v[n - 2] = NULL;
    write_lines(log, v);
    struct moat_audit_opts o = {.dir = d.dir};
    struct moat_audit *a = NULL;
    moat_error *err = NULL;
    CHECK(moat_audit_open(&o, &a, &err) < 0);
    CHECK_ERR_HAS(err, "truncated");
    moat_error_free(err);
    err = NULL;
    /* A key others can read is refused. */
    _cleanup_free_ char *key = path_in(&d, "audit.key");
    CHECK(chmod(key, 0644) == 0);
    CHECK(moat_audit_open(&o, &a, &err) < 0);
    CHECK_ERR_HAS(err, "refusing to use a key");
    moat_error_free(err);
    adir_rm(&d);
}

static void test_rotation(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    struct moat_audit_opts o = {.max_file_bytes = 3000, .keep = 3};
    CHECK(write_records(d.dir, 60, &o));
    _cleanup_strv_ char **files = NULL;
    moat_error *err = NULL;
    CHECK(moat_audit_files(d.dir, &files, &err) == 0);
    CHECK(moat_strv_len(files) == 4); /* .3 .2 .1 and the current file */
    _cleanup_free_ char *oldest = path_in(&d, "audit.log.3");
    CHECK(files && files[0] && !strcmp(files[0], oldest));
    struct stat st;
    for (size_t i = 0; files && files[i]; i++)
        CHECK(stat(files[i], &st) == 0 && (uint64_t)st.st_size <= 3000);
    struct moat_audit_verify_result r;
    CHECK(verify(d.dir, &r));
    /* The oldest files were dropped: the chain starts at the oldest kept file's checkpoint. */
    CHECK(r.ok && r.first_seq > 1 && moat_strv_len(r.files) == 4);
    CHECK(r.last_seq == r.first_seq + r.records + r.checkpoints - 1);
    CHECK(r.records < 60);
    moat_audit_verify_result_clear(&r);
    /* Every new file starts with a rotate checkpoint continuing the chain. */
    _cleanup_free_ char *one = path_in(&d, "audit.log.1");
    _cleanup_strv_ char **v = lines_of(one);
    CHECK(v && strstr(v[0], "\"reason\":\"rotate\""));
    /* A rotated file removed from the middle breaks the chain across files. */
    _cleanup_free_ char *two = path_in(&d, "audit.log.2");
    CHECK(unlink(two) == 0);
    CHECK(verify(d.dir, &r));
    CHECK(!r.ok && r.why && strstr(r.why, "deleted or reordered"));
    CHECK(r.bad_file && !strcmp(r.bad_file, one) && r.bad_line == 1);
    moat_audit_verify_result_clear(&r);
    adir_rm(&d);
}

static void test_bounds_fields(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    struct moat_audit_opts o = {.dir = d.dir};
    struct moat_audit *a = NULL;
    moat_error *err = NULL;
    CHECK(moat_audit_open(&o, &a, &err) == 0);
    char *big = xmalloc(200000);
    memset(big, 'o', 199999);
    big[199999] = '\0';
    char **reasons = NULL;
    for (int i = 0; i < 100; i++)
        moat_strv_push(&reasons, "a reason\nwith a newline and \"quotes\"");
    struct moat_audit_entry e = {.action = "volume.create", .object = big, .decision = "error", .reasons = reasons};
    CHECK(moat_audit_append(a, &e, &err) == 0);
    moat_audit_close(a);
    free(big);
    moat_strv_free(reasons);
    _cleanup_free_ char *log = path_in(&d, "audit.log");
    _cleanup_strv_ char **v = lines_of(log);
    CHECK(moat_strv_len(v) == 2);
    struct moat_audit_record r;
    CHECK(v && moat_audit_parse_line(v[1], strlen(v[1]), &r, &err) == 0);
    CHECK(r.object && strlen(r.object) == MOAT_AUDIT_MAX_FIELD + 3);
    CHECK_STR(r.identity, "unknown");
    moat_audit_record_clear(&r);
    struct moat_audit_verify_result res;
    CHECK(verify(d.dir, &res));
    CHECK(res.ok);
    moat_audit_verify_result_clear(&res);
    /* The parser's own bounds and checks. */
    CHECK(moat_audit_parse_line("{}", 2, &r, &err) < 0);
    CHECK_ERR_HAS(err, "malformed");
    moat_error_free(err);
    err = NULL;
    char *huge = xmalloc(MOAT_AUDIT_MAX_LINE + 2);
    memset(huge, ' ', MOAT_AUDIT_MAX_LINE + 1);
    CHECK(moat_audit_parse_line(huge, MOAT_AUDIT_MAX_LINE + 1, &r, &err) < 0);
    CHECK_ERR_HAS(err, "longer than");
    moat_error_free(err);
    free(huge);
    int64_t sec;
    long ns;
    CHECK(moat_audit_parse_time("2025-01-02T03:04:05.5+01:00", &sec, &ns) == 0 && sec == 1735783445 && ns == 500000000);
    CHECK(moat_audit_parse_time("2025-01-02 03:04:05", &sec, &ns) < 0);
    adir_rm(&d);
}

/* RLIMIT_FSIZE in a child: the write fails with EFBIG, nothing is left half-written, and the
 * chain still verifies. */
static void test_fail_closed(void)
{
    struct adir d;
    CHECK(adir_new(&d));
    CHECK(write_records(d.dir, 2, NULL));
    struct moat_audit_opts o = {.dir = d.dir};
    struct moat_audit *a = NULL;
    moat_error *err = NULL;
    CHECK(moat_audit_open(&o, &a, &err) == 0);
    _cleanup_free_ char *log = path_in(&d, "audit.log");
    struct stat before, after;
    CHECK(stat(log, &before) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)before.st_size + 40, (rlim_t)before.st_size + 40};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(2);
        struct moat_audit_entry e = {.identity = "uid:0", .action = "container.create", .decision = "allow"};
        moat_error *e2 = NULL;
        int r = moat_audit_append(a, &e, &e2);
        _exit(r == 0 ? 3 : e2 && e2->errnum == EFBIG && strstr(e2->msg, "short write") ? 0 : 4);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(stat(log, &after) == 0 && after.st_size == before.st_size);
    moat_audit_close(a);
    struct moat_audit_verify_result r;
    CHECK(verify(d.dir, &r));
    CHECK(r.ok);
    moat_audit_verify_result_clear(&r);
    adir_rm(&d);
}

static const struct unit_test audit_tests[] = {
    UNIT_TEST(test_chain),
    UNIT_TEST(test_checkpoint_interval),
    UNIT_TEST(test_tamper_edit),
    UNIT_TEST(test_tamper_delete),
    UNIT_TEST(test_tamper_swap),
    UNIT_TEST(test_tamper_truncate),
    UNIT_TEST(test_tamper_replace_tail),
    UNIT_TEST(test_tamper_forged_head),
    UNIT_TEST(test_tamper_missing_head),
    UNIT_TEST(test_checkpoint_signature),
    UNIT_TEST(test_bounds_long_line),
    UNIT_TEST(test_foreign_key),
    UNIT_TEST(test_open_refuses_tampered_tail),
    UNIT_TEST(test_rotation),
    UNIT_TEST(test_bounds_fields),
    UNIT_TEST(test_fail_closed),
    UNIT_END,
};
UNIT_SUITE(audit, audit_tests);
