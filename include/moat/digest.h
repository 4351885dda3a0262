/* Content digests: sha256 through OpenSSL's EVP interface.
 *
 * A digest string is "sha256:" followed by 64 lowercase hex digits (the OCI
 * image spec's canonical form); MOAT_DIGEST_SIZE includes the NUL. */
#ifndef MOAT_DIGEST_H
#define MOAT_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

#define MOAT_DIGEST_SIZE 72 /* "sha256:" + 64 hex + NUL */
#define MOAT_DIGEST_HEX 64

struct moat_sha256 {
    void *ctx;     /* EVP_MD_CTX */
    uint64_t size; /* bytes hashed so far */
};

void moat_sha256_init(struct moat_sha256 *h);
void moat_sha256_update(struct moat_sha256 *h, const void *buf, size_t len);
/* Write "sha256:<hex>" into out and release the context. */
void moat_sha256_final(struct moat_sha256 *h, char out[MOAT_DIGEST_SIZE]);
/* Release without a result (on error paths); safe on a finalised or zeroed struct. */
void moat_sha256_discard(struct moat_sha256 *h);

void moat_sha256_buf(const void *buf, size_t len, char out[MOAT_DIGEST_SIZE]);
/* Hash everything readable from fd (from its current offset). */
int moat_sha256_fd(int fd, char out[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err);

/* "sha256:" + 64 lowercase hex digits. */
bool moat_digest_valid(const char *s);
/* The hex part of a valid digest. */
const char *moat_digest_hex(const char *digest);
/* 64 lowercase hex digits (an image ID without its algorithm). */
bool moat_hex64_valid(const char *s);

#endif
