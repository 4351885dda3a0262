/* A hijacked attach/exec session (runopts.h): stdin to the socket, the
 * socket to stdout/stderr (demultiplexed unless a TTY), raw terminal mode,
 * SIGWINCH resizes and the signal proxy. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/util.h"

int cli_parse_detach_keys(const char *spec, unsigned char *keys, size_t max, size_t *n)
{
    size_t k = 0;
    _cleanup_free_ char *s = xstrdup(spec);
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (k >= max)
            return -1;
        if (strlen(t) == 1) {
            keys[k++] = (unsigned char)t[0];
        } else if (!strncmp(t, "ctrl-", 5) && strlen(t) == 6) {
            char ch = t[5];
            if (ch >= 'a' && ch <= 'z')
                keys[k++] = (unsigned char)(ch - 'a' + 1);
            else if (ch == '@')
                keys[k++] = 0;
            else if (ch >= '[' && ch <= '_')
                keys[k++] = (unsigned char)(ch - '[' + 27);
            else
                return -1;
        } else {
            return -1;
        }
    }
    if (!k)
        return -1;
    *n = k;
    return 0;
}

void cli_stream_resize(struct moat_client *c, const char *resize_path)
{
    struct winsize ws;
    if (!resize_path || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_row)
        return;
    _cleanup_free_ char *p = xasprintf("%s?h=%u&w=%u", resize_path, ws.ws_row, ws.ws_col);
    /* Docker retries a failed first resize a few times: the process may not be up yet. */
    for (int i = 0; i < 5; i++) {
        moat_error *err = NULL;
        int rc = moat_client_json(c, "POST", p, NULL, NULL, NULL, &err);
        moat_error_free(err);
        if (rc == 0)
            break;
        usleep(10000);
    }
}

static int out_frame(void *ctx, int stream, const char *buf, size_t len)
{
    (void)ctx;
    int fd = stream == 1 ? STDOUT_FILENO : STDERR_FILENO;
    if (stream == 0)
        return 0;
    return moat_write_all(fd, buf, len) < 0 ? -1 : 0;
}

void cli_raw_begin(struct cli_raw_term *t)
{
    t->on = false;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved) < 0)
        return;
    struct termios raw = t->saved;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
        t->on = true;
}

void cli_raw_end(struct cli_raw_term *t)
{
    if (t->on)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
    t->on = false;
}

static void sig_restore(sigset_t *old) { sigprocmask(SIG_SETMASK, old, NULL); }


/* Count how much of the detach sequence the bytes sent so far end with. */
static size_t track_detach(const unsigned char *keys, size_t nkeys, size_t have, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == keys[have])
            have++;
        else
            have = ch == keys[0] ? 1 : 0;
        if (have == nkeys)
            return nkeys; /* the engine ends the stream here */
    }
    return have;
}

static int forward_signal(struct cli_stream *s, int sig)
{
    const char *name = sig == SIGINT ? "INT" : sig == SIGTERM ? "TERM" : sig == SIGHUP ? "HUP" : "QUIT";
    _cleanup_free_ char *p = xasprintf("%s?signal=%s", s->kill_path, name);
    moat_error *err = NULL;
    moat_client_json(s->client, "POST", p, NULL, NULL, NULL, &err);
    moat_error_free(err);
    return 0;
}

/* One poll round's input: a signal. Returns 1 to stop the session. */
static int on_signal(struct cli_stream *s, int sfd, bool proxy)
{
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si)
        return 0;
    if (si.ssi_signo == SIGWINCH) {
        if (s->tty)
            cli_stream_resize(s->client, s->resize_path);
        return 0;
    }
    if (proxy)
        return forward_signal(s, (int)si.ssi_signo);
    s->signaled = (int)si.ssi_signo;
    return 1;
}

int cli_stream_run(struct cli_stream *s, moat_error **err)
{
    unsigned char keys[16] = {16, 17}; /* ctrl-p, ctrl-q */
    size_t nkeys = 2, have = 0;
    if (s->detach_keys && cli_parse_detach_keys(s->detach_keys, keys, sizeof keys, &nkeys) < 0)
        return moat_err(err, EINVAL, "Invalid detach keys (%s) provided", s->detach_keys);
    bool proxy = s->kill_path && !s->tty;
    sigset_t set;
    _cleanup_(sig_restore) sigset_t old;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Without the proxy, INT/TERM/HUP end the session (the terminal restored first). */
    sigprocmask(SIG_BLOCK, &set, &old);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        return moat_err_sys(err, "signalfd");
    _cleanup_(cli_raw_end) struct cli_raw_term rt = {0};
    if (s->tty && s->stdin_on && !s->raw_by_caller)
        cli_raw_begin(&rt);
    struct moat_demux dm = {0};
    bool in_open = s->stdin_on;
    char buf[32768];
    for (;;) {
        struct pollfd p[3] = {{.fd = s->fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return moat_err_sys(err, "poll");
        }
        if (p[1].revents & POLLIN && on_signal(s, sfd, proxy))
            break;
        if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno != EINTR && errno != EAGAIN)
                n = 0;
            if (n == 0) {
                in_open = false;
                shutdown(s->fd, SHUT_WR); /* EOF for the process; keep reading its output */
            } else if (n > 0) {
                have = track_detach(keys, nkeys, have, buf, (size_t)n);
                /* send, not write: the engine may have closed its side already (the process
                 * ended); that must be EPIPE for us, not a SIGPIPE that kills the CLI */
                for (size_t off = 0; off < (size_t)n;) {
                    ssize_t w = send(s->fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w <= 0) {
                        in_open = false;
                        break;
                    }
                    off += (size_t)w;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(s->fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == ECONNRESET)
                n = 0;
            if (n < 0)
                return moat_err_sys(err, "read the stream");
            if (n == 0)
                break;
            int rc = s->tty ? (moat_write_all(STDOUT_FILENO, buf, (size_t)n) < 0 ? -1 : 0)
                            : moat_demux_feed(&dm, buf, (size_t)n, out_frame, NULL);
            if (rc < 0) {
                if (errno == EPROTO)
                    return moat_err(err, EPROTO, "bad stream framing from the daemon");
                return moat_err_sys(err, "write output");
            }
        }
    }
    s->detached = have == nkeys;
    return 0;
}

char *cli_query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(n * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = 0;
    return out;
}

/* Go's time.ParseDuration for the common units ("1h30m", "10s", "500ms"). */
static int parse_duration(const char *s, double *secs)
{
    double total = 0;
    if (!*s)
        return -1;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s)
            return -1;
        s = end;
        double mult;
        if (!strncmp(s, "ns", 2)) { mult = 1e-9; s += 2; }
        else if (!strncmp(s, "us", 2)) { mult = 1e-6; s += 2; }
        else if (!strncmp(s, "ms", 2)) { mult = 1e-3; s += 2; }
        else if (*s == 's') { mult = 1; s++; }
        else if (*s == 'm') { mult = 60; s++; }
        else if (*s == 'h') { mult = 3600; s++; }
        else return -1;
        total += v * mult;
    }
    *secs = total;
    return 0;
}

int cli_parse_timestamp(const char *value, char **ret, moat_error **err)
{
    /* Already unix seconds, possibly fractional: passed as is. */
    if (*value && strspn(value, "0123456789.") == strlen(value) && strchr(value, '.') == strrchr(value, '.')) {
        *ret = xstrdup(value);
        return 0;
    }
    double d;
    if (parse_duration(value, &d) == 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - d;
        int64_t sec = (int64_t)t;
        *ret = xasprintf("%" PRId64 ".%09ld", sec, (long)((t - (double)sec) * 1e9));
        return 0;
    }
    struct tm tm = {0};
    const char *fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(value, fmts[i], &tm);
        if (!rest)
            continue;
        long nsec = 0;
        if (*rest == '.') {
            char *end;
            double frac = strtod(rest, &end);
            nsec = (long)(frac * 1e9);
            rest = end;
        }
        int64_t off = 0;
        bool local = !*rest;
        if (*rest == 'Z') {
            rest++;
        } else if ((*rest == '+' || *rest == '-') && strlen(rest) == 6 && rest[3] == ':') {
            int h = atoi(rest + 1), m = atoi(rest + 4);
            off = (rest[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
            rest += 6;
        }
        if (*rest)
            continue;
        int64_t t = local ? (int64_t)mktime(&tm) : (int64_t)timegm(&tm) - off;
        *ret = xasprintf("%" PRId64 ".%09ld", t, nsec);
        return 0;
    }
    return moat_err(err, EINVAL, "failed to parse value as time or duration: \"%s\"", value);
}
