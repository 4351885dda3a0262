/* monattach SOCKET [--start] [--stdin] [--no-close] [--resize ROWS COLS] [--ready FILE] [--idle]
 * A test client for moat-monitor's attach socket (include/moat/monitor.h):
 * connects, optionally sends START / RESIZE, copies its own stdin as STDIN
 * frames (then CLOSE_STDIN at EOF unless --no-close), and writes STDOUT
 * frames to stdout, STDERR and SYSERR frames to stderr, and the EXIT frame's
 * JSON as "exit: {...}" on stderr.  Exits 0 once an EXIT frame arrived and the
 * monitor closed the connection, 1 otherwise.  --idle: connect and never read
 * (a client that doesn't keep up), until killed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "moat/monitor.h"

/* Self-contained (only the contract header), so the suites can compile it
 * with plain cc whatever flavour (ASan or not) the build directory has. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(int fd, uint8_t type, const void *data, size_t len)
{
    uint8_t h[MOAT_MON_HDR];
    moat_mon_hdr(h, type, (uint32_t)len);
    if (write_all(fd, h, sizeof(h)) < 0 || (len && write_all(fd, data, len) < 0))
        return -1;
    return 0;
}

static int handle_frame(uint8_t type, const uint8_t *p, uint32_t len, bool *got_exit)
{
    switch (type) {
    case MOAT_MON_STDOUT: return write_all(1, p, len) < 0 ? -1 : 0;
    case MOAT_MON_STDERR:
    case MOAT_MON_SYSERR: return write_all(2, p, len) < 0 ? -1 : 0;
    case MOAT_MON_EXIT:
        *got_exit = true;
        fprintf(stderr, "exit: %.*s\n", (int)len, (const char *)p);
        return 0;
    default: fprintf(stderr, "monattach: unexpected frame type %u\n", type); return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: monattach SOCKET [--start] [--stdin] [--no-close] [--resize R C] [--ready FILE]\n");
        return 2;
    }
    bool start = false, in = false, close_in = true, idle = false;
    int rows = -1, cols = -1;
    const char *ready = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--start"))
            start = true;
        else if (!strcmp(argv[i], "--stdin"))
            in = true;
        else if (!strcmp(argv[i], "--idle"))
            idle = true;
        else if (!strcmp(argv[i], "--no-close"))
            close_in = false;
        else if (!strcmp(argv[i], "--resize") && i + 2 < argc)
            rows = atoi(argv[i + 1]), cols = atoi(argv[i + 2]), i += 2;
        else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
            ready = argv[++i];
        else {
            fprintf(stderr, "monattach: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("monattach: connect");
        return 1;
    }
    if (rows >= 0) {
        uint8_t ws[4] = {(uint8_t)(rows >> 8), (uint8_t)rows, (uint8_t)(cols >> 8), (uint8_t)cols};
        send_frame(s, MOAT_MON_RESIZE, ws, 4);
    }
    if (start)
        send_frame(s, MOAT_MON_START, NULL, 0);
    if (ready) {
        int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
    while (idle)
        pause();
    static uint8_t buf[1 << 16];
    static uint8_t frame[MOAT_MON_MAX_FRAME];
    uint8_t hdr[MOAT_MON_HDR];
    size_t hgot = 0;
    uint32_t plen = 0, pgot = 0;
    bool got_exit = false;
    struct pollfd pf[2] = {{.fd = s, .events = POLLIN}, {.fd = in ? 0 : -1, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (pf[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n > 0) {
                send_frame(s, MOAT_MON_STDIN, buf, (size_t)n);
            } else {
                if (close_in)
                    send_frame(s, MOAT_MON_CLOSE_STDIN, NULL, 0);
                pf[1].fd = -1;
            }
        }
        if (!pf[0].revents)
            continue;
        ssize_t n = read(s, buf, sizeof(buf));
        if (n <= 0)
            return got_exit && hgot == 0 ? 0 : 1;
        for (ssize_t i = 0; i < n;) {
            if (hgot < MOAT_MON_HDR) {
                hdr[hgot++] = buf[i++];
                if (hgot == MOAT_MON_HDR) {
                    plen = moat_mon_hdr_len(hdr);
                    pgot = 0;
                    if (plen > MOAT_MON_MAX_FRAME)
                        return 1;
                }
            } else {
                size_t k = plen - pgot < (size_t)(n - i) ? plen - pgot : (size_t)(n - i);
                memcpy(frame + pgot, buf + i, k);
                pgot += (uint32_t)k;
                i += (ssize_t)k;
            }
            if (hgot == MOAT_MON_HDR && pgot == plen) {
                if (handle_frame(hdr[0], frame, plen, &got_exit) < 0)
                    return 1;
                hgot = 0;
            }
        }
    }
}
