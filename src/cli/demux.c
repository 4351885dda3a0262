/* Docker's stream multiplexing (client.h): an 8-byte header (stream, 0, 0, 0,
 * big-endian length) before each payload; frames may be split anywhere
 * across reads. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cli/client.h"

int moat_demux_feed(struct moat_demux *d, const char *buf, size_t len,
                    int (*out)(void *ctx, int stream, const char *buf, size_t len), void *ctx)
{
    while (len) {
        if (d->left == 0) {
            size_t take = sizeof d->hdr - d->hdr_have;
            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_have, buf, take);
            d->hdr_have += take;
            buf += take;
            len -= take;
            if (d->hdr_have < sizeof d->hdr)
                return 0;
            d->hdr_have = 0;
            if (d->hdr[0] > 3 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
                errno = EPROTO;
                return -1;
            }
            d->stream = d->hdr[0];
            d->left = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 | (size_t)d->hdr[6] << 8 | d->hdr[7];
            continue;
        }
        size_t take = d->left < len ? d->left : len;
        if (out(ctx, d->stream, buf, take) < 0)
            return -1;
        d->left -= take;
        buf += take;
        len -= take;
    }
    return 0;
}
