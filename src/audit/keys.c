/* The audit log's Ed25519 key pair: created on first use in the audit directory
 * (audit.key 0600, readable only by the engine's user; audit.pub next to it), loaded
 * with checks (owner, mode, type) afterwards.  Signatures over checkpoints and the head. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit/audit_internal.h"
#include "moat/digest.h"
#include "moat/util.h"

static void hex_encode(const unsigned char *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void audit_fingerprint(const void *der, size_t len, char out[MOAT_AUDIT_HASH_HEX + 1])
{
    char d[MOAT_DIGEST_SIZE];
    moat_sha256_buf(der, len, d);
    memcpy(out, moat_digest_hex(d), MOAT_AUDIT_HASH_HEX + 1);
}

int audit_pub_der(EVP_PKEY *k, unsigned char **ret_der, size_t *ret_len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return -1;
    *ret_der = xmalloc((size_t)n);
    memcpy(*ret_der, der, (size_t)n);
    OPENSSL_free(der);
    *ret_len = (size_t)n;
    return 0;
}

EVP_PKEY *audit_pub_from_der(const void *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k && EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

char *audit_checkpoint_msg(uint64_t seq, const char *head, const char *time)
{
    return xasprintf("moat-audit-checkpoint-v1 %" PRIu64 " %s %s", seq, head, time);
}

char *audit_head_msg(uint64_t seq, const char *hash, const char *time)
{
    return xasprintf("moat-audit-head-v1 %" PRIu64 " %s %s", seq, hash, time);
}

int audit_sign(EVP_PKEY *k, const char *msg, char out[AUDIT_SIG_HEX + 1], moat_error **err)
{
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, strlen(msg)) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return moat_err(err, EIO, "Ed25519 signature failed");
    hex_encode(sig, siglen, out);
    return 0;
}

bool audit_sig_ok(EVP_PKEY *pub, const char *msg, const char *sig_hex)
{
    if (!pub || !sig_hex || strlen(sig_hex) != AUDIT_SIG_HEX)
        return false;
    unsigned char sig[64];
    for (size_t i = 0; i < 64; i++) {
        int hi = hex_nibble(sig_hex[2 * i]), lo = hex_nibble(sig_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        sig[i] = (unsigned char)(hi << 4 | lo);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, sizeof sig, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static char *pem_of(EVP_PKEY *k, bool private_key, size_t *ret_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return NULL;
    int ok = private_key ? PEM_write_bio_PKCS8PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(b, k);
    char *out = NULL;
    if (ok == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0) {
            out = xstrndup(p, (size_t)n);
            *ret_len = (size_t)n;
        }
    }
    BIO_free(b);
    return out;
}

/* Read a small key file with owner/mode checks: private keys must be ours and 0600 or tighter. */
static int read_key_file(int dirfd, const char *dir, const char *name, bool private_key, char **ret, size_t *ret_len,
                         moat_error **err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return moat_err_sys(err, "open '%s/%s'", dir, name);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return moat_err_sys(err, "stat '%s/%s'", dir, name);
    if (!S_ISREG(st.st_mode))
        return moat_err(err, EINVAL, "'%s/%s' is not a regular file", dir, name);
    if (private_key && (st.st_uid != geteuid() || (st.st_mode & 077)))
        return moat_err(err, EPERM,
                        "'%s/%s' is owned by uid %u with mode %04o: the audit key must be the engine's own (0600); "
                        "refusing to use a key others could read",
                        dir, name, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    if (moat_read_fd_bounded(fd, AUDIT_MAX_KEY_FILE, ret, ret_len, err) < 0)
        return moat_err_wrap(err, "read '%s/%s'", dir, name);
    return 1;
}

int audit_key_load_or_create(int dirfd, const char *dir, EVP_PKEY **ret, moat_error **err)
{
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    int r = read_key_file(dirfd, dir, AUDIT_KEY, true, &pem, &len, err);
    if (r < 0)
        return -1;
    EVP_PKEY *k = NULL;
    if (r == 1) {
        BIO *b = BIO_new_mem_buf(pem, (int)len);
        k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        OPENSSL_cleanse(pem, len);
        if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
            EVP_PKEY_free(k);
            return moat_err(err, EINVAL, "'%s/%s' is not an Ed25519 private key", dir, AUDIT_KEY);
        }
    } else {
        /* First use: a new key pair, private half readable by this user only. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1) {
            EVP_PKEY_CTX_free(ctx);
            return moat_err(err, EIO, "generate the audit key (Ed25519) failed");
        }
        EVP_PKEY_CTX_free(ctx);
        size_t n = 0;
        char *priv = pem_of(k, true, &n);
        int w = priv ? moat_write_file_atomic(dirfd, AUDIT_KEY, priv, n, 0600, err) : moat_err(err, EIO, "encode key");
        if (priv) {
            OPENSSL_cleanse(priv, n);
            free(priv);
        }
        if (w < 0) {
            EVP_PKEY_free(k);
            return moat_err_wrap(err, "write '%s/%s'", dir, AUDIT_KEY);
        }
    }
    /* audit.pub: written when missing; one that is not this key's is refused. */
    size_t n = 0;
    _cleanup_free_ char *pub = pem_of(k, false, &n);
    _cleanup_free_ char *have = NULL;
    size_t have_len = 0;
    r = pub ? read_key_file(dirfd, dir, AUDIT_PUB, false, &have, &have_len, err) : moat_err(err, EIO, "encode key");
    if (r == 0 && moat_write_file_atomic(dirfd, AUDIT_PUB, pub, n, 0644, err) < 0)
        r = moat_err_wrap(err, "write '%s/%s'", dir, AUDIT_PUB);
    else if (r == 1 && (have_len != n || memcmp(have, pub, n) != 0))
        r = moat_err(err, EINVAL, "'%s/%s' is not the public half of '%s/%s': refusing to sign with a key the "
                                  "verifier would not trust",
                     dir, AUDIT_PUB, dir, AUDIT_KEY);
    if (r < 0) {
        EVP_PKEY_free(k);
        return -1;
    }
    *ret = k;
    return 0;
}

int audit_pub_load(const char *path, unsigned char **ret_der, size_t *ret_len, moat_error **err)
{
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    if (moat_read_file_at(AT_FDCWD, path, AUDIT_MAX_KEY_FILE, &pem, &len, err) < 0)
        return moat_err_wrap(err, "audit public key '%s'", path);
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return moat_err(err, EINVAL, "'%s' is not an Ed25519 public key (PEM)", path);
    }
    int r = audit_pub_der(k, ret_der, ret_len);
    EVP_PKEY_free(k);
    return r < 0 ? moat_err(err, EIO, "encode '%s'", path) : 0;
}
