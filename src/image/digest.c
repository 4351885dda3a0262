/* sha256 digests with OpenSSL EVP (see include/moat/digest.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "moat/digest.h"
#include "moat/util.h"

static const EVP_MD *sha256_md(void)
{
    /* Fetch the implementation once: EVP_sha256() would look it up per use in OpenSSL 3. */
    static EVP_MD *md;
    if (!md) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!md)
            abort(); /* no default provider: nothing in moat can work */
    }
    return md;
}

void moat_sha256_init(struct moat_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1)
        abort(); /* out of memory */
    h->ctx = ctx;
    h->size = 0;
}

void moat_sha256_update(struct moat_sha256 *h, const void *buf, size_t len)
{
    if (len == 0)
        return;
    if (EVP_DigestUpdate(h->ctx, buf, len) != 1)
        abort();
    h->size += len;
}

void moat_sha256_final(struct moat_sha256 *h, char out[MOAT_DIGEST_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        abort();
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[71] = '\0';
}

void moat_sha256_discard(struct moat_sha256 *h)
{
    if (h->ctx)
        EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void moat_sha256_buf(const void *buf, size_t len, char out[MOAT_DIGEST_SIZE])
{
    struct moat_sha256 h;
    moat_sha256_init(&h);
    moat_sha256_update(&h, buf, len);
    moat_sha256_final(&h, out);
}

int moat_sha256_fd(int fd, char out[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err)
{
    struct moat_sha256 h;
    moat_sha256_init(&h);
    _cleanup_free_ char *buf = xmalloc(1 << 17);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 17);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            moat_sha256_discard(&h);
            return moat_err_sys(err, "read");
        }
        if (n == 0)
            break;
        moat_sha256_update(&h, buf, (size_t)n);
    }
    if (ret_size)
        *ret_size = h.size;
    moat_sha256_final(&h, out);
    return 0;
}

bool moat_hex64_valid(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

bool moat_digest_valid(const char *s)
{
    return s && strncmp(s, "sha256:", 7) == 0 && moat_hex64_valid(s + 7);
}

const char *moat_digest_hex(const char *digest) { return digest + 7; }
