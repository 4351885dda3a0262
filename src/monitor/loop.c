/* The monitor's epoll loop: container output -> log + attach clients, attach
 * clients' frames -> stdin / resize / start, SIGCHLD -> reaping.
 *
 * Stdin (kept simple, as documented in include/moat/monitor.h): STDIN frames
 * are accepted only with --stdin; they go to a bounded queue (MON_STDIN_MAX)
 * written without blocking; while the queue is full the monitor stops reading
 * from clients (back-pressure, nothing dropped).  A client "holds stdin" once
 * it sent a STDIN frame.  CLOSE_STDIN closes the process's stdin (after the
 * queue drained) with --stdin-once, or when no other client holds stdin; with
 * --stdin-once a holder's disconnect closes it too.  With a tty, "closing"
 * writes the terminal's EOF character (^D): the master itself stays open. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "moat/util.h"
#include "monitor/monitor_internal.h"

#define MON_STDIN_MAX (1u << 20)

enum { K_SIG = 1, K_LISTEN, K_CONSOLE, K_OUT0, K_OUT1, K_IN, K_ERR, K_CLIENT };

static uint8_t scratch[32u << 10];

static int ep_add(struct mon *m, int fd, int kind, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)kind << 32 | (uint32_t)fd};
    return epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void ep_mod(struct mon *m, int fd, int kind, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)kind << 32 | (uint32_t)fd};
    epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void ep_del_close(struct mon *m, int *fd)
{
    if (*fd < 0)
        return;
    epoll_ctl(m->epfd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

static void client_events(struct mon *m, struct mon_client *c)
{
    if (c->fd < 0)
        return;
    uint32_t ev = m->clients_paused ? 0 : EPOLLIN;
    if (mon_buf_pending(&c->out))
        ev |= EPOLLOUT;
    ep_mod(m, c->fd, K_CLIENT, ev);
}

static void stdin_close_now(struct mon *m)
{
    m->in_close_pending = false;
    if (m->in_fd < 0)
        return;
    if (m->o.tty) {
        /* the pty master is also the output: send the terminal's EOF instead */
        struct termios t;
        char eof = tcgetattr(m->in_fd, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        if (write(m->in_fd, &eof, 1) < 0) {
            /* the terminal is gone: nothing left to close */
        }
        m->o.stdin_open = false; /* no more STDIN frames */
        return;
    }
    ep_del_close(m, &m->in_fd);
}

static void set_paused(struct mon *m, bool paused)
{
    if (m->clients_paused == paused)
        return;
    m->clients_paused = paused;
    for (struct mon_client *c = m->clients; c; c = c->next)
        client_events(m, c);
}

static void stdin_flush(struct mon *m)
{
    while (m->in_fd >= 0 && mon_buf_pending(&m->inq)) {
        ssize_t n = write(m->in_fd, m->inq.data + m->inq.off, mon_buf_pending(&m->inq));
        if (n > 0) {
            mon_buf_consume(&m->inq, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* EPIPE (the process closed its stdin) or EIO (tty gone): drop the input */
        mon_buf_free(&m->inq);
        if (m->o.tty) {
            m->o.stdin_open = false;
            break;
        }
        ep_del_close(m, &m->in_fd);
    }
    bool want_out = m->in_fd >= 0 && mon_buf_pending(&m->inq) > 0;
    if (m->in_fd >= 0 && want_out != m->in_epollout) {
        ep_mod(m, m->in_fd, K_IN, want_out ? EPOLLOUT : 0);
        m->in_epollout = want_out;
    }
    if (!mon_buf_pending(&m->inq) && m->in_close_pending)
        stdin_close_now(m);
    set_paused(m, mon_buf_pending(&m->inq) >= MON_STDIN_MAX);
}

static bool other_holder(struct mon *m, struct mon_client *self)
{
    for (struct mon_client *c = m->clients; c; c = c->next)
        if (c != self && c->fd >= 0 && c->holds_stdin)
            return true;
    return false;
}

/* Close a client now; its memory is freed by clients_sweep() once no caller
 * can still hold the pointer (a drop can happen deep inside a frame handler). */
static void client_drop(struct mon *m, struct mon_client *c)
{
    if (c->fd < 0)
        return;
    bool held = c->holds_stdin;
    c->holds_stdin = false;
    ep_del_close(m, &c->fd);
    mon_buf_free(&c->out);
    if (held && m->o.stdin_once) {
        m->in_close_pending = true;
        stdin_flush(m);
    }
}

static void clients_sweep(struct mon *m)
{
    struct mon_client **pp = &m->clients;
    while (*pp) {
        struct mon_client *c = *pp;
        if (c->fd >= 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        free(c->payload);
        free(c);
    }
}

/* Queue one frame; false when the client was dropped for falling behind. */
static bool client_send(struct mon *m, struct mon_client *c, uint8_t type, const void *data, size_t len)
{
    if (c->fd < 0)
        return false;
    uint8_t h[MOAT_MON_HDR];
    moat_mon_hdr(h, type, (uint32_t)len);
    size_t done = 0, total = sizeof(h) + len;
    if (!mon_buf_pending(&c->out)) {
        struct iovec iov[2] = {{h, sizeof(h)}, {(void *)data, len}};
        ssize_t n = writev(c->fd, iov, len ? 2 : 1);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            client_drop(m, c);
            return false;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done == total)
            return true;
    }
    if (mon_buf_pending(&c->out) + total - done > MOAT_MON_CLIENT_MAX) {
        client_drop(m, c); /* never block the container for a slow reader */
        return false;
    }
    if (done < sizeof(h))
        mon_buf_append(&c->out, h + done, sizeof(h) - done);
    size_t doff = done > sizeof(h) ? done - sizeof(h) : 0;
    mon_buf_append(&c->out, (const uint8_t *)data + doff, len - doff);
    client_events(m, c);
    return true;
}

void mon_broadcast(struct mon *m, uint8_t type, const void *data, size_t len)
{
    struct mon_client *next;
    for (struct mon_client *c = m->clients; c; c = next) {
        next = c->next;
        client_send(m, c, type, data, len);
    }
}

static void client_frame(struct mon *m, struct mon_client *c)
{
    uint8_t type = c->hdr[0];
    switch (type) {
    case MOAT_MON_STDIN:
        if (!m->o.stdin_open || m->in_fd < 0 || m->in_close_pending || c->plen == 0)
            return;
        c->holds_stdin = true;
        mon_buf_append(&m->inq, c->payload, c->plen);
        stdin_flush(m);
        return;
    case MOAT_MON_RESIZE:
        if (m->o.tty && c->plen == 4) {
            m->ws_rows = (uint16_t)(c->payload[0] << 8 | c->payload[1]);
            m->ws_cols = (uint16_t)(c->payload[2] << 8 | c->payload[3]);
            if (m->in_fd >= 0) {
                struct winsize ws = {.ws_row = m->ws_rows, .ws_col = m->ws_cols};
                ioctl(m->in_fd, TIOCSWINSZ, &ws);
            }
        }
        return;
    case MOAT_MON_CLOSE_STDIN:
        if (!m->o.stdin_open)
            return;
        c->holds_stdin = false;
        if (m->o.stdin_once || !other_holder(m, c)) {
            m->in_close_pending = true;
            stdin_flush(m);
        }
        return;
    case MOAT_MON_START:
        if (m->phase == MON_WAIT_START) {
            _cleanup_error_ moat_error *err = NULL;
            if (mon_spawn_main(m, &err) < 0) {
                mon_broadcast(m, MOAT_MON_SYSERR, err->msg, strlen(err->msg));
                snprintf(m->last_err, sizeof(m->last_err), "%s", err->msg);
                m->status = 126;
                m->have_status = true;
                moat_rfc3339_now(m->finished_at, sizeof(m->finished_at));
                m->phase = MON_DRAINING;
                m->drain_deadline = moat_now_ns();
            }
        }
        return;
    default:
        return; /* unknown frames are ignored (forward compatibility) */
    }
}

/* Feed bytes into the client's frame parser; false if the client was dropped. */
static bool client_parse(struct mon *m, struct mon_client *c, const uint8_t *p, size_t n)
{
    while (n > 0 && c->fd >= 0) {
        if (c->hdr_got < MOAT_MON_HDR) {
            size_t k = MOAT_MON_HDR - c->hdr_got < n ? MOAT_MON_HDR - c->hdr_got : n;
            memcpy(c->hdr + c->hdr_got, p, k);
            c->hdr_got += k, p += k, n -= k;
            if (c->hdr_got < MOAT_MON_HDR)
                return true;
            c->plen = moat_mon_hdr_len(c->hdr);
            c->pgot = 0;
            if (c->plen > MOAT_MON_MAX_FRAME) {
                static const char msg[] = "frame too large";
                client_send(m, c, MOAT_MON_SYSERR, msg, sizeof(msg) - 1);
                client_drop(m, c);
                return false;
            }
            free(c->payload);
            c->payload = c->plen ? xmalloc(c->plen) : NULL;
        }
        size_t k = c->plen - c->pgot < n ? c->plen - c->pgot : n;
        if (k)
            memcpy(c->payload + c->pgot, p, k);
        c->pgot += (uint32_t)k, p += k, n -= k;
        if (c->pgot == c->plen) {
            client_frame(m, c);
            c->hdr_got = 0;
            free(c->payload);
            c->payload = NULL;
        }
    }
    return true;
}

static struct mon_client *client_find(struct mon *m, int fd)
{
    for (struct mon_client *c = m->clients; c; c = c->next)
        if (c->fd >= 0 && c->fd == fd)
            return c;
    return NULL;
}

static void client_io(struct mon *m, struct mon_client *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        ssize_t n = write(c->fd, c->out.data + c->out.off, mon_buf_pending(&c->out));
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            client_drop(m, c);
            return;
        }
        if (n > 0)
            mon_buf_consume(&c->out, (size_t)n);
        client_events(m, c);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (m->clients_paused && !(events & (EPOLLHUP | EPOLLERR)))
            return;
        ssize_t n = read(c->fd, scratch, sizeof(scratch));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            client_drop(m, c);
            return;
        }
        if (n > 0)
            client_parse(m, c, scratch, (size_t)n);
    }
}

static void accept_client(struct mon *m)
{
    int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct mon_client *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    if (ep_add(m, fd, K_CLIENT, m->clients_paused ? 0 : EPOLLIN) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = m->clients;
    m->clients = c;
}

static void output_io(struct mon *m, int idx)
{
    int stream = idx == 0 ? MOAT_MON_STDOUT : MOAT_MON_STDERR;
    ssize_t n = read(m->out_fd[idx], scratch, sizeof(scratch));
    if (n > 0) {
        mon_log_write(&m->log, stream, (const char *)scratch, (size_t)n);
        /* the runtime's errors share the pipe until the process runs (exec: until it exits) */
        if (stream == MOAT_MON_STDERR && (m->phase == MON_CREATING || !m->o.bundle))
            mon_note_stderr(m, (const char *)scratch, (size_t)n);
        mon_broadcast(m, (uint8_t)stream, scratch, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* EOF (or EIO: the pty's last slave closed) */
    mon_log_flush(&m->log, stream);
    ep_del_close(m, &m->out_fd[idx]);
}

static void err_io(struct mon *m)
{
    ssize_t n = read(m->err_fd, scratch, sizeof(scratch));
    if (n > 0)
        mon_note_stderr(m, (const char *)scratch, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        ep_del_close(m, &m->err_fd);
}

static void reap(struct mon *m)
{
    struct signalfd_siginfo si;
    while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        mon_on_child(m, pid, status);
}

int mon_loop_setup(struct mon *m, moat_error **err)
{
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (m->epfd < 0)
        return moat_err_sys(err, "epoll_create1");
    if (ep_add(m, m->sigfd, K_SIG, EPOLLIN) < 0 || ep_add(m, m->listen_fd, K_LISTEN, EPOLLIN) < 0)
        return moat_err_sys(err, "epoll_ctl");
    if (m->console_fd >= 0 && ep_add(m, m->console_fd, K_CONSOLE, EPOLLIN) < 0)
        return moat_err_sys(err, "epoll_ctl");
    for (int i = 0; i < 2; i++)
        if (m->out_fd[i] >= 0 && ep_add(m, m->out_fd[i], i ? K_OUT1 : K_OUT0, EPOLLIN) < 0)
            return moat_err_sys(err, "epoll_ctl");
    if (m->in_fd >= 0 && ep_add(m, m->in_fd, K_IN, 0) < 0)
        return moat_err_sys(err, "epoll_ctl");
    if (m->err_fd >= 0 && ep_add(m, m->err_fd, K_ERR, EPOLLIN) < 0)
        return moat_err_sys(err, "epoll_ctl");
    return 0;
}

/* A pty master received after the loop started (tty mode). */
int mon_loop_add_tty(struct mon *m, moat_error **err)
{
    if (ep_add(m, m->out_fd[0], K_OUT0, EPOLLIN) < 0 || ep_add(m, m->in_fd, K_IN, 0) < 0)
        return moat_err_sys(err, "epoll_ctl the terminal");
    return 0;
}

static void dispatch(struct mon *m, struct epoll_event *ev)
{
    int kind = (int)(ev->data.u64 >> 32), fd = (int)(uint32_t)ev->data.u64;
    switch (kind) {
    case K_SIG: reap(m); break;
    case K_LISTEN: accept_client(m); break;
    case K_CONSOLE: {
        _cleanup_error_ moat_error *err = NULL;
        if (m->out_fd[0] < 0 && mon_console_receive(m, &err) < 0)
            snprintf(m->last_err, sizeof(m->last_err), "%s", err->msg);
        break;
    }
    case K_OUT0:
        if (fd == m->out_fd[0])
            output_io(m, 0);
        break;
    case K_OUT1:
        if (fd == m->out_fd[1])
            output_io(m, 1);
        break;
    case K_IN:
        if (fd == m->in_fd)
            stdin_flush(m);
        break;
    case K_ERR:
        if (fd == m->err_fd)
            err_io(m);
        break;
    case K_CLIENT: {
        struct mon_client *c = client_find(m, fd);
        if (c)
            client_io(m, c, ev->events);
        break;
    }
    default: break;
    }
}

int mon_loop_run(struct mon *m)
{
    struct epoll_event evs[16];
    for (;;) {
        int timeout = -1;
        if (m->phase == MON_DRAINING) {
            uint64_t now = moat_now_ns();
            if ((m->out_fd[0] < 0 && m->out_fd[1] < 0) || now >= m->drain_deadline)
                return 0;
            timeout = (int)((m->drain_deadline - now) / 1000000u) + 1;
        }
        int n = epoll_wait(m->epfd, evs, ARRAY_SIZE(evs), timeout);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < n; i++)
            dispatch(m, &evs[i]);
        clients_sweep(m);
    }
}

/* The exit frame to every client, then a bounded (2 s in all) blocking flush. */
void mon_clients_finish(struct mon *m, const char *exit_json)
{
    mon_broadcast(m, MOAT_MON_EXIT, exit_json, strlen(exit_json));
    uint64_t deadline = moat_now_ns() + 2000000000ull;
    while (m->clients) {
        struct mon_client *c = m->clients;
        uint64_t now = moat_now_ns();
        if (mon_buf_pending(&c->out) && now < deadline) {
            uint64_t left = deadline - now;
            struct timeval tv = {.tv_sec = (time_t)(left / 1000000000ull),
                                 .tv_usec = (suseconds_t)(left % 1000000000ull / 1000)};
            int fl = fcntl(c->fd, F_GETFL);
            if (fl >= 0)
                fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
            setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            moat_write_all(c->fd, c->out.data + c->out.off, mon_buf_pending(&c->out));
        }
        shutdown(c->fd, SHUT_WR);
        c->holds_stdin = false;
        client_drop(m, c);
        clients_sweep(m);
    }
}
