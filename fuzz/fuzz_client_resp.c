/* libFuzzer target: the CLI's HTTP response parser (src/cli/client.c) and its error
 * decoding, over what a hostile or broken daemon (or whatever answers on DOCKER_HOST) could
 * send: status lines, headers (the 64 KiB bound), chunked and fixed bodies, HEAD answers,
 * X-Moat-Error, JSON error bodies.  The first byte picks the method (HEAD or GET); the rest
 * is the response, written into a socket pair the parser reads.  Every failure must carry
 * a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/cli/client.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 96 * 1024) /* the socket buffer holds it whole */
        return 0;
    const char *method = data[0] & 1 ? "HEAD" : "GET";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int sz = 256 * 1024;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    while (left) {
        ssize_t n = send(sv[1], p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            break; /* what did not fit is cut off: a shorter response */
        p += n;
        left -= (size_t)n;
    }
    shutdown(sv[1], SHUT_WR);
    struct moat_client_resp resp = {0};
    moat_error *err = NULL;
    if (moat_client_read_response(sv[0], method, &resp, &err) < 0) {
        if (!err || !err->msg || !err->msg[0])
            abort();
        moat_error_free(err);
    } else {
        if (resp.status >= 400) {
            if (moat_client_resp_error(&resp, &err) != -1 || !err || !err->msg)
                abort();
            moat_error_free(err);
        }
        if (resp.body && resp.body[resp.len] != '\0')
            abort(); /* bodies are kept NUL-terminated */
        moat_client_resp_clear(&resp);
    }
    close(sv[0]);
    close(sv[1]);
    return 0;
}
