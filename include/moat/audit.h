/* The tamper-evident audit log (src/audit).
 *
 * Files in the audit directory (0700, the engine's user):
 *   audit.log        the current file: one JSON record per line, append-only
 *   audit.log.1..K   rotated files, .1 the newest (rotation by size)
 *   audit.head       the signed head: last seq + hash, rewritten atomically after every record
 *   audit.key        Ed25519 private key, PKCS#8 PEM, 0600 (created on first use)
 *   audit.pub        its public key, SubjectPublicKeyInfo PEM (all a verifier needs)
 *
 * A request record (keys in this order; "subject"/"tenant" only when known):
 *   {"seq":N,"time":"2025-01-02T03:04:05.123456789Z","identity":"uid:1000",
 *    "subject":"CN=...","tenant":"t1","action":"container.create","object":"web",
 *    "decision":"allow"|"deny"|"error","reasons":["..."],"policy":"baseline"|null,
 *    "prev":"<64 hex>","hash":"<64 hex>"}
 * A checkpoint record:
 *   {"seq":N,"type":"checkpoint","time":"...","reason":"open"|"interval"|"rotate",
 *    "head":"<64 hex: the hash of record N-1>","key":"<64 hex: SHA-256 of the public key (DER)>",
 *    "sig":"<128 hex: Ed25519>","prev":"<same as head>","hash":"<64 hex>"}
 *
 * The chain, precisely:
 *  - seq starts at 1 and grows by one per line, across rotated files;
 *  - prev is the previous record's "hash" (64 "0" for seq 1);
 *  - every line is the serialised object ending in `,"hash":"<64 hex>"}` followed by "\n";
 *    hash = lowercase hex SHA-256 of the line's bytes with that `,"hash":"<64 hex>"` member
 *    removed: the first len-75 bytes of the line (len without the newline) followed by "}".
 *    In Python: body = line[:line.rindex(',"hash":')] + "}".  Any byte of the record
 *    other than the hash itself is covered; the verifier never re-serialises JSON;
 *  - a checkpoint's sig is Ed25519 over the ASCII text
 *      "moat-audit-checkpoint-v1 <seq> <head> <time>"
 *    and the head file's sig over "moat-audit-head-v1 <seq> <hash> <time>".
 * Checkpoints are appended at open (engine start), every `checkpoint_every` records and as
 * the first line of a new file at rotation (so a rotated-away predecessor leaves a signed anchor).
 *
 * Writing: O_APPEND|O_NOFOLLOW|O_CLOEXEC, one write() of the whole line, fsync(), then the head
 * (temp, fsync, rename).  Any failure (ENOSPC, EIO, EFBIG, a short write: the partial line is cut
 * off again) is returned, and the caller must fail its request closed. */
#ifndef MOAT_AUDIT_H
#define MOAT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

#define MOAT_AUDIT_MAX_LINE (64u << 10)   /* a longer line is refused when reading */
#define MOAT_AUDIT_MAX_FIELD 4096u         /* longer strings are cut (with "...") when writing */
#define MOAT_AUDIT_MAX_REASONS 64u
#define MOAT_AUDIT_DEFAULT_MAX_FILE (16u << 20)
#define MOAT_AUDIT_DEFAULT_KEEP 8u
#define MOAT_AUDIT_DEFAULT_CHECKPOINT 64u
#define MOAT_AUDIT_HASH_HEX 64

struct moat_audit;

struct moat_audit_opts {
    const char *dir;           /* created 0700 when missing */
    uint64_t max_file_bytes;   /* rotate before a line would make the file larger; 0: 16 MiB */
    unsigned keep;             /* rotated files kept (audit.log.1 .. .keep); 0: 8 */
    unsigned checkpoint_every; /* records between checkpoints; 0: 64 */
};

/* Open (create on first use: directory, key pair, empty log) and append the "open" checkpoint.
 * Refuses a log whose tail does not match its signed head (truncated or replaced while the
 * engine was down): the message says so and names `moat audit verify`. */
int moat_audit_open(const struct moat_audit_opts *o, struct moat_audit **ret, moat_error **err);
void moat_audit_close(struct moat_audit *a);
const char *moat_audit_dir(const struct moat_audit *a);
uint64_t moat_audit_last_seq(const struct moat_audit *a);

struct moat_audit_entry {
    const char *identity;     /* "uid:1000" (peer credentials); NULL: "unknown" */
    const char *subject;      /* certificate subject (TLS), or NULL */
    const char *tenant;       /* or NULL */
    const char *action;       /* "container.create" */
    const char *object;       /* a container, image or volume reference; NULL: "" */
    const char *decision;     /* "allow", "deny" or "error" */
    char *const *reasons;     /* NULL-terminated, or NULL */
    const char *policy;       /* the policy source that decided, or NULL */
};
/* Append one record (and a checkpoint when one is due; rotate first when the file is full).
 * Returns 0 only once the line is on disk (fsync'd) and the head rewritten. */
int moat_audit_append(struct moat_audit *a, const struct moat_audit_entry *e, moat_error **err);

/* ---- reading ---------------------------------------------------------------------------- */
/* One parsed line.  Strings point into `json` (json-c), valid until moat_audit_record_clear. */
struct moat_audit_record {
    struct json_object *json;
    uint64_t seq;
    bool checkpoint;
    const char *time, *identity, *action, *object, *decision, *policy, *prev, *hash;
    const char *reason, *head, *key, *sig; /* checkpoints */
    int64_t time_unix;                     /* seconds of "time" (UTC) */
    long time_nsec;
};
/* Parse one line (without its newline, at most MOAT_AUDIT_MAX_LINE bytes): valid JSON object,
 * the fields of its kind with their types, and the hash recomputed.  Errors say what is wrong
 * ("hash mismatch: the record was edited"). */
int moat_audit_parse_line(const char *line, size_t len, struct moat_audit_record *ret, moat_error **err);
void moat_audit_record_clear(struct moat_audit_record *r);
/* RFC 3339 ("2025-01-02T03:04:05.5Z", "+01:00" offsets) -> unix seconds + ns. */
int moat_audit_parse_time(const char *s, int64_t *ret_sec, long *ret_nsec);

/* The files of an audit directory, oldest first (audit.log.K .. audit.log.1, audit.log). */
int moat_audit_files(const char *dir, char ***ret, moat_error **err);

/* Walk lines of a file with bounds: cb gets each line (no newline) and its 1-based number.
 * A line over MOAT_AUDIT_MAX_LINE or a last line without a newline is reported to cb with
 * line == NULL and *why set ("line 7 is longer than 65536 bytes").  cb returns <0 to stop. */
typedef int (*moat_audit_line_fn)(void *ctx, const char *path, uint64_t lineno, const char *line, size_t len,
                                  const char *why);
int moat_audit_read_lines(const char *path, moat_audit_line_fn cb, void *ctx, moat_error **err);

/* ---- verification ----------------------------------------------------------------------- */
struct moat_audit_verify_opts {
    const char *path;   /* an audit directory, or one log file */
    const char *pubkey; /* PEM public key; NULL: audit.pub next to the log */
};
struct moat_audit_verify_result {
    bool ok;
    uint64_t records, checkpoints, first_seq, last_seq;
    char **files; /* verified, oldest first */
    /* when !ok: the first bad place and why */
    char *bad_file;
    uint64_t bad_line; /* 0: the file as a whole (a missing or bad head) */
    char *why;
};
/* 0 with ret->ok telling the outcome; -1 when verification could not run (no key, unreadable). */
int moat_audit_verify(const struct moat_audit_verify_opts *o, struct moat_audit_verify_result *ret,
                      moat_error **err);
void moat_audit_verify_result_clear(struct moat_audit_verify_result *r);

/* The chain checker the verifier (and the fuzz target) feeds line by line. */
struct moat_audit_chain;
struct moat_audit_chain *moat_audit_chain_new(const void *pubkey_der, size_t der_len, moat_error **err);
/* 0: the line continues the chain; -1: *ret_why (malloc'd) says why not. */
int moat_audit_chain_feed(struct moat_audit_chain *ch, const char *line, size_t len, char **ret_why);
void moat_audit_chain_stats(const struct moat_audit_chain *ch, uint64_t *records, uint64_t *checkpoints,
                            uint64_t *first_seq, uint64_t *last_seq, const char **last_hash);
void moat_audit_chain_free(struct moat_audit_chain *ch);

#endif
