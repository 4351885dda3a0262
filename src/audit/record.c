/* Audit records: sealing a record into its line (hash over the line without its hash
 * member, see include/moat/audit.h), and parsing one line back with bounds and type checks.
 * Lines are untrusted input when read (fuzz/fuzz_audit_line.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "audit/audit_internal.h"
#include "moat/digest.h"
#include "moat/json.h"
#include "moat/util.h"

const char audit_zero_hash[MOAT_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

bool audit_hex_valid(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void hash_body(const char *line, size_t body_len, char out[MOAT_AUDIT_HASH_HEX + 1])
{
    struct moat_sha256 h;
    char d[MOAT_DIGEST_SIZE];
    moat_sha256_init(&h);
    moat_sha256_update(&h, line, body_len);
    moat_sha256_update(&h, "}", 1);
    moat_sha256_final(&h, d);
    memcpy(out, moat_digest_hex(d), MOAT_AUDIT_HASH_HEX + 1);
}

char *audit_seal(struct json_object *o, char ret_hash[MOAT_AUDIT_HASH_HEX + 1], size_t *ret_len)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = strlen(s); /* "{...}" */
    hash_body(s, n - 1, ret_hash);
    char *line = xasprintf("%.*s,\"hash\":\"%s\"}\n", (int)(n - 1), s, ret_hash);
    *ret_len = n - 1 + AUDIT_HASH_SUFFIX + 1;
    return line;
}

/* ---- time ------------------------------------------------------------------------------ */
static int digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

int moat_audit_parse_time(const char *s, int64_t *ret_sec, long *ret_nsec)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    const char *p = s;
    if (!s || digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' || digits(&p, 2, &sec) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    long ns = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                ns = ns * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ret_sec = (int64_t)timegm(&tm) - off;
    *ret_nsec = ns;
    return 0;
}

/* ---- parsing ----------------------------------------------------------------------------- */
void moat_audit_record_clear(struct moat_audit_record *r)
{
    if (r->json)
        json_object_put(r->json);
    memset(r, 0, sizeof *r);
}

static int str_field(struct json_object *o, const char *key, bool nullable, const char **ret, moat_error **err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return moat_err(err, EBADMSG, "no \"%s\"", key);
    if (!v && nullable) {
        *ret = NULL;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return moat_err(err, EBADMSG, "\"%s\" is not a string", key);
    *ret = json_object_get_string(v);
    return 0;
}

static int hex_field(struct json_object *o, const char *key, size_t n, const char **ret, moat_error **err)
{
    if (str_field(o, key, false, ret, err) < 0)
        return -1;
    if (!audit_hex_valid(*ret, n))
        return moat_err(err, EBADMSG, "\"%s\" is not %zu lowercase hex digits", key, n);
    return 0;
}

static int parse_fields(struct json_object *o, struct moat_audit_record *r, moat_error **err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int))
        return moat_err(err, EBADMSG, "no integer \"seq\"");
    int64_t seq = json_object_get_int64(v);
    if (seq < 1 || seq == INT64_MAX)
        return moat_err(err, EBADMSG, "\"seq\" %" PRId64 " is out of range", seq);
    r->seq = (uint64_t)seq;
    if (str_field(o, "time", false, &r->time, err) < 0)
        return -1;
    if (moat_audit_parse_time(r->time, &r->time_unix, &r->time_nsec) < 0)
        return moat_err(err, EBADMSG, "\"time\" is not an RFC 3339 time");
    if (hex_field(o, "prev", MOAT_AUDIT_HASH_HEX, &r->prev, err) < 0 ||
        hex_field(o, "hash", MOAT_AUDIT_HASH_HEX, &r->hash, err) < 0)
        return -1;
    const char *type = NULL;
    if (json_object_object_get_ex(o, "type", &v)) {
        if (str_field(o, "type", false, &type, err) < 0)
            return -1;
        if (strcmp(type, "checkpoint") != 0)
            return moat_err(err, EBADMSG, "unknown record type \"%.32s\"", type);
        r->checkpoint = true;
        if (str_field(o, "reason", false, &r->reason, err) < 0 ||
            hex_field(o, "head", MOAT_AUDIT_HASH_HEX, &r->head, err) < 0 ||
            hex_field(o, "key", MOAT_AUDIT_HASH_HEX, &r->key, err) < 0 ||
            hex_field(o, "sig", AUDIT_SIG_HEX, &r->sig, err) < 0)
            return -1;
        return 0;
    }
    if (str_field(o, "identity", false, &r->identity, err) < 0 || str_field(o, "action", false, &r->action, err) < 0 ||
        str_field(o, "object", false, &r->object, err) < 0 || str_field(o, "decision", false, &r->decision, err) < 0 ||
        str_field(o, "policy", true, &r->policy, err) < 0)
        return -1;
    if (strcmp(r->decision, "allow") && strcmp(r->decision, "deny") && strcmp(r->decision, "error"))
        return moat_err(err, EBADMSG, "\"decision\" is not allow, deny or error");
    if (!json_object_object_get_ex(o, "reasons", &v) || !json_object_is_type(v, json_type_array))
        return moat_err(err, EBADMSG, "no \"reasons\" array");
    for (size_t i = 0; i < json_object_array_length(v); i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
            return moat_err(err, EBADMSG, "\"reasons\"[%zu] is not a string", i);
    return 0;
}

int moat_audit_parse_line(const char *line, size_t len, struct moat_audit_record *ret, moat_error **err)
{
    memset(ret, 0, sizeof *ret);
    if (len > MOAT_AUDIT_MAX_LINE)
        return moat_err(err, E2BIG, "line is longer than %u bytes", MOAT_AUDIT_MAX_LINE);
    if (memchr(line, '\0', len) || memchr(line, '\n', len))
        return moat_err(err, EBADMSG, "line contains a NUL or newline byte");
    if (len < AUDIT_HASH_SUFFIX + 2 || line[0] != '{' ||
        memcmp(line + len - AUDIT_HASH_SUFFIX, ",\"hash\":\"", 9) != 0 || memcmp(line + len - 2, "\"}", 2) != 0)
        return moat_err(err, EBADMSG, "malformed record: it does not end with its \"hash\" member");
    struct json_object *o = NULL;
    _cleanup_error_ moat_error *je = NULL;
    if (moat_json_parse(line, len, MOAT_AUDIT_MAX_LINE, "record", &o, &je) < 0)
        return moat_err(err, EBADMSG, "malformed record: %s", je->msg);
    ret->json = o;
    if (!json_object_is_type(o, json_type_object)) {
        moat_audit_record_clear(ret);
        return moat_err(err, EBADMSG, "malformed record: not a JSON object");
    }
    if (parse_fields(o, ret, err) < 0) {
        moat_audit_record_clear(ret);
        return moat_err_wrap(err, "malformed record");
    }
    /* The hash member parsed must be the textual last member (json-c keeps the last duplicate). */
    char claimed[MOAT_AUDIT_HASH_HEX + 1], want[MOAT_AUDIT_HASH_HEX + 1];
    memcpy(claimed, line + len - AUDIT_HASH_SUFFIX + 9, MOAT_AUDIT_HASH_HEX);
    claimed[MOAT_AUDIT_HASH_HEX] = '\0';
    hash_body(line, len - AUDIT_HASH_SUFFIX, want);
    if (strcmp(claimed, ret->hash) != 0 || strcmp(claimed, want) != 0) {
        moat_audit_record_clear(ret);
        return moat_err(err, EBADMSG, "hash mismatch: the record was edited");
    }
    return 0;
}

/* ---- the head file ----------------------------------------------------------------------- */
int audit_head_read(int dirfd, EVP_PKEY *pub, const char *fp, struct audit_head *ret, char **ret_why,
                    moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    _cleanup_close_ int fd = openat(dirfd, AUDIT_HEAD, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return moat_err_sys(err, "open '%s'", AUDIT_HEAD);
    }
    if (moat_read_fd_bounded(fd, AUDIT_MAX_HEAD_FILE, &buf, &len, err) < 0)
        return moat_err_wrap(err, "read '%s'", AUDIT_HEAD);
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_error_ moat_error *je = NULL;
    if (moat_json_parse(buf, len, AUDIT_MAX_HEAD_FILE, AUDIT_HEAD, &o, &je) < 0 ||
        !json_object_is_type(o, json_type_object)) {
        *ret_why = xasprintf("malformed head: %s", je ? je->msg : "not a JSON object");
        return -1;
    }
    struct json_object *v = NULL;
    const char *hash = NULL, *key = NULL, *sig = NULL, *time = NULL;
    _cleanup_error_ moat_error *fe = NULL;
    if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0) {
        *ret_why = xstrdup("malformed head: no \"seq\"");
        return -1;
    }
    ret->seq = (uint64_t)json_object_get_int64(v);
    if (hex_field(o, "hash", MOAT_AUDIT_HASH_HEX, &hash, &fe) < 0 ||
        hex_field(o, "key", MOAT_AUDIT_HASH_HEX, &key, &fe) < 0 || hex_field(o, "sig", AUDIT_SIG_HEX, &sig, &fe) < 0 ||
        str_field(o, "time", false, &time, &fe) < 0) {
        *ret_why = xasprintf("malformed head: %s", fe->msg);
        return -1;
    }
    if (strcmp(key, fp) != 0) {
        *ret_why = xstrdup("the head is signed by another key than the audit public key");
        return -1;
    }
    _cleanup_free_ char *msg = audit_head_msg(ret->seq, hash, time);
    if (!audit_sig_ok(pub, msg, sig)) {
        *ret_why = xstrdup("head signature invalid: audit.head was rewritten without the engine's key");
        return -1;
    }
    memcpy(ret->hash, hash, sizeof ret->hash);
    memcpy(ret->key, key, sizeof ret->key);
    return 1;
}
