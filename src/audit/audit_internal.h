/* Shared by the audit log's writer (log.c), reader (record.c, verify.c) and keys (keys.c). */
#ifndef MOAT_AUDIT_INTERNAL_H
#define MOAT_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "moat/audit.h"
#include "moat/error.h"

struct json_object;

#define AUDIT_LOG "audit.log"
#define AUDIT_HEAD "audit.head"
#define AUDIT_KEY "audit.key"
#define AUDIT_PUB "audit.pub"
#define AUDIT_SIG_HEX 128 /* Ed25519: 64 bytes */
#define AUDIT_MAX_KEY_FILE (16u << 10)
#define AUDIT_MAX_HEAD_FILE (4u << 10)
/* `,"hash":"` + 64 hex + `"}` */
#define AUDIT_HASH_SUFFIX 75u

extern const char audit_zero_hash[MOAT_AUDIT_HASH_HEX + 1];

/* keys.c: the engine's Ed25519 key pair in the audit directory (dirfd). */
int audit_key_load_or_create(int dirfd, const char *dir, EVP_PKEY **ret, moat_error **err);
/* A PEM public key file (bounded) -> DER. */
int audit_pub_load(const char *path, unsigned char **ret_der, size_t *ret_len, moat_error **err);
int audit_pub_der(EVP_PKEY *k, unsigned char **ret_der, size_t *ret_len);
EVP_PKEY *audit_pub_from_der(const void *der, size_t len);
void audit_fingerprint(const void *der, size_t len, char out[MOAT_AUDIT_HASH_HEX + 1]);
int audit_sign(EVP_PKEY *k, const char *msg, char out[AUDIT_SIG_HEX + 1], moat_error **err);
bool audit_sig_ok(EVP_PKEY *pub, const char *msg, const char *sig_hex);
char *audit_checkpoint_msg(uint64_t seq, const char *head, const char *time);
char *audit_head_msg(uint64_t seq, const char *hash, const char *time);

/* record.c */
bool audit_hex_valid(const char *s, size_t n);
/* Serialise o (without "hash"), hash it, and return the full line with "\n". */
char *audit_seal(struct json_object *o, char ret_hash[MOAT_AUDIT_HASH_HEX + 1], size_t *ret_len);
/* The head file: parse (bounded) and check its signature. */
struct audit_head {
    uint64_t seq;
    char hash[MOAT_AUDIT_HASH_HEX + 1];
    char key[MOAT_AUDIT_HASH_HEX + 1];
};
/* 1: read and valid; 0: missing; -1: *ret_why (or err for I/O) says what is wrong. */
int audit_head_read(int dirfd, EVP_PKEY *pub, const char *fp, struct audit_head *ret, char **ret_why,
                    moat_error **err);

#endif
