/* libFuzzer target: audit log lines (src/audit/record.c, verify.c), as `moat audit verify`
 * and the engine's open read them from a file an attacker may have edited.  The input is
 * split into lines; each goes through the line parser (a failure must carry a message) and
 * the chain checker under a fixed Ed25519 public key (a break must say why).  RFC 3339
 * times from the input are parsed too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/audit.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* SubjectPublicKeyInfo of an Ed25519 key: the fixed prefix and 32 key bytes. */
static const unsigned char pub_der[44] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
    0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
    0xf7, 0x07, 0x51, 0x1a};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    moat_error *err = NULL;
    struct moat_audit_chain *ch = moat_audit_chain_new(pub_der, sizeof pub_der, &err);
    if (!ch)
        abort(); /* the fixed key must load */
    const char *p = (const char *)data, *end = p + size;
    bool broken = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len <= MOAT_AUDIT_MAX_LINE) {
            struct moat_audit_record r = {0};
            if (moat_audit_parse_line(p, len, &r, &err) < 0) {
                if (!err || !err->msg || !err->msg[0])
                    abort();
                moat_error_free(err);
                err = NULL;
            } else {
                int64_t sec;
                long nsec;
                if (r.time)
                    (void)moat_audit_parse_time(r.time, &sec, &nsec);
                moat_audit_record_clear(&r);
            }
            if (!broken) {
                char *why = NULL;
                if (moat_audit_chain_feed(ch, p, len, &why) < 0) {
                    if (!why || !why[0])
                        abort();
                    broken = true;
                }
                free(why);
            }
        }
        p += len + (nl ? 1 : 0);
    }
    uint64_t records, checkpoints, first, last;
    const char *hash = NULL;
    moat_audit_chain_stats(ch, &records, &checkpoints, &first, &last, &hash);
    moat_audit_chain_free(ch);
    return 0;
}
