/* Attach relays: a hijacked API connection <-> a monitor's attach socket.
 *
 * Client -> monitor: raw stdin bytes become MOAT_MON_STDIN frames (the
 * detach sequence, ctrl-p ctrl-q by default, ends the attach and leaves the
 * process running); the client's EOF becomes MOAT_MON_CLOSE_STDIN.
 * Monitor -> client: stdout/stderr frames go out as Docker's 8-byte frames
 * (the monitor uses the same header), or raw with a tty; MOAT_MON_EXIT gives
 * the exit code to the owner (exec) before the client's stream is closed
 * (trap T9). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "engine/container.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/monitor.h"
#include "moat/util.h"

/* Back-pressure: stop reading one side while the other side's queue is above HIGH, resume below LOW. */
#define RELAY_HIGH (1u << 20)
#define RELAY_LOW (256u << 10)

struct relay {
    struct relay *next;
    struct moat_engine *e;
    struct moat_container *c; /* NULL once orphaned (container removed while the relay flushes) */
    struct bufferevent *client, *mon;
    struct relay_opts o;
    char *sock_path;
    unsigned char keys[8];
    size_t n_keys, key_pos;
    bool client_eof, mon_eof, closing, pending;
    bool client_paused, mon_paused; /* reading stopped for back-pressure */
    void (*on_exit)(void *arg, int code);
    void *arg;
};

static void relay_unlink(struct relay *r)
{
    if (!r->c)
        return;
    struct relay **list = r->pending ? &r->c->attach_pending : &r->c->relays;
    for (struct relay **p = list; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    r->c = NULL;
}

int relay_check_room(struct moat_engine *e, moat_error **err)
{
    if (e->n_relays >= MOAT_MAX_RELAYS)
        return moat_err(err, EBUSY, "too many attached streams (%d): detach or end some first", MOAT_MAX_RELAYS);
    return 0;
}

static void relay_free(struct relay *r)
{
    r->e->n_relays--;
    if (r->o.on_free)
        r->o.on_free(r->arg);
    relay_unlink(r);
    if (r->client)
        bufferevent_free(r->client);
    if (r->mon)
        bufferevent_free(r->mon);
    free(r->sock_path);
    free(r);
}

/* Close once the client has everything queued for it. */
static void client_write_done(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    if (r->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        relay_free(r);
}

/* The client went away while its last output was being flushed. */
static void client_gone(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        relay_free(arg);
}

static void relay_finish(struct relay *r)
{
    if (r->closing)
        return;
    r->closing = true;
    if (r->mon)
        bufferevent_disable(r->mon, EV_READ);
    if (!r->client || evbuffer_get_length(bufferevent_get_output(r->client)) == 0) {
        relay_free(r);
        return;
    }
    bufferevent_disable(r->client, EV_READ);
    bufferevent_setwatermark(r->client, EV_WRITE, 0, 0);
    bufferevent_setcb(r->client, NULL, client_write_done, client_gone, r);
}

static void send_frame(struct bufferevent *bev, uint8_t type, const void *p, size_t len)
{
    uint8_t h[MOAT_MON_HDR];
    moat_mon_hdr(h, type, (uint32_t)len);
    bufferevent_write(bev, h, sizeof h);
    if (len)
        bufferevent_write(bev, p, len);
}

/* Monitor -> client. */
static void mon_read(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t have = evbuffer_get_length(in);
        if (have < MOAT_MON_HDR)
            return;
        uint8_t h[MOAT_MON_HDR];
        evbuffer_copyout(in, h, sizeof h);
        uint32_t len = moat_mon_hdr_len(h);
        if (len > MOAT_MON_MAX_FRAME) {
            relay_finish(r);
            return;
        }
        if (have < MOAT_MON_HDR + len)
            return;
        evbuffer_drain(in, MOAT_MON_HDR);
        unsigned char *payload = xmalloc(len + 1);
        evbuffer_remove(in, payload, len);
        payload[len] = '\0';
        switch (h[0]) {
        case MOAT_MON_STDOUT:
        case MOAT_MON_STDERR:
            if ((h[0] == MOAT_MON_STDOUT && !r->o.out) || (h[0] == MOAT_MON_STDERR && !r->o.err))
                break;
            if (r->o.tty)
                bufferevent_write(r->client, payload, len);
            else
                send_frame(r->client, h[0], payload, len);
            break;
        case MOAT_MON_SYSERR:
            if (!r->o.tty)
                send_frame(r->client, MOAT_MON_SYSERR, payload, len);
            break;
        case MOAT_MON_EXIT: {
            _cleanup_json_ struct json_object *o = NULL;
            _cleanup_error_ moat_error *e = NULL;
            struct json_object *v;
            int code = -1;
            if (moat_json_parse((char *)payload, len, 4096, "exit frame", &o, &e) == 0 &&
                json_object_object_get_ex(o, "ExitCode", &v))
                code = json_object_get_int(v);
            if (r->on_exit) {
                r->on_exit(r->arg, code);
                r->on_exit = NULL;
            }
            break;
        }
        default: break;
        }
        free(payload);
        if (evbuffer_get_length(bufferevent_get_output(r->client)) > RELAY_HIGH) {
            bufferevent_disable(bev, EV_READ); /* the client reads slowly: let the monitor wait (it drops us past its own bound) */
            r->mon_paused = true;
            return;
        }
    }
}

/* The client's queue drained: read the monitor again. */
static void client_write(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    if (r->mon_paused && r->mon && evbuffer_get_length(bufferevent_get_output(bev)) <= RELAY_LOW) {
        r->mon_paused = false;
        bufferevent_enable(r->mon, EV_READ);
        mon_read(r->mon, r);
    }
}

static void mon_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct relay *r = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        mon_read(r->mon, r);
        r->mon_eof = true;
        relay_finish(r);
    }
}

/* Client -> monitor: stdin, watching for the detach keys. */
static void client_read(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (!r->mon)
        return; /* not connected yet: keep it buffered */
    unsigned char buf[16384];
    size_t n;
    while (evbuffer_get_length(bufferevent_get_output(r->mon)) <= RELAY_HIGH &&
           (n = (size_t)evbuffer_remove(in, buf, sizeof buf)) > 0 && n != (size_t)-1) {
        if (!r->o.in)
            continue;
        size_t start = 0;
        for (size_t i = 0; i < n; i++) {
            if (r->n_keys && buf[i] == r->keys[r->key_pos]) {
                r->key_pos++;
                if (r->key_pos == r->n_keys) {
                    /* Detach: the bytes before the sequence go through. */
                    size_t keep = i + 1 >= r->n_keys ? i + 1 - r->n_keys : 0;
                    if (keep > start)
                        send_frame(r->mon, MOAT_MON_STDIN, buf + start, keep - start);
                    relay_finish(r);
                    return;
                }
            } else {
                r->key_pos = buf[i] == r->keys[0] ? 1 : 0;
            }
        }
        /* Hold back a partial detach sequence at the end of the buffer. */
        size_t hold = r->key_pos;
        if (n - start > hold)
            send_frame(r->mon, MOAT_MON_STDIN, buf + start, n - start - hold);
        if (hold) { /* the held bytes are sent if the sequence breaks: re-queue them */
            evbuffer_prepend(in, buf + n - hold, hold);
            r->key_pos = 0;
            if (evbuffer_get_length(in) == hold)
                return;
        }
    }
    if (evbuffer_get_length(in) && evbuffer_get_length(bufferevent_get_output(r->mon)) > RELAY_HIGH) {
        bufferevent_disable(bev, EV_READ); /* the process doesn't read its stdin: the client waits */
        r->client_paused = true;
    }
}

/* The monitor's queue drained (the process reads its stdin again): read the client again. */
static void mon_write(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    if (r->client_paused && evbuffer_get_length(bufferevent_get_output(bev)) <= RELAY_LOW) {
        r->client_paused = false;
        bufferevent_enable(r->client, EV_READ);
        client_read(r->client, r);
    }
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct relay *r = arg;
    if (what & BEV_EVENT_EOF) {
        /* Half-close: stdin ended, output keeps flowing (README §3.1). */
        r->client_eof = true;
        if (r->mon && r->o.in && r->o.close_stdin_on_eof)
            send_frame(r->mon, MOAT_MON_CLOSE_STDIN, NULL, 0);
        if (!r->o.in && !r->pending && !r->mon) /* nothing more to do for it */
            relay_finish(r);
        return;
    }
    if (what & BEV_EVENT_ERROR)
        relay_free(r);
}

static void parse_keys(struct relay *r, const char *spec)
{
    if (!spec || !spec[0])
        spec = "ctrl-p,ctrl-q";
    _cleanup_free_ char *dup = xstrdup(spec);
    r->n_keys = 0;
    for (char *save = NULL, *t = strtok_r(dup, ",", &save); t && r->n_keys < sizeof r->keys;
         t = strtok_r(NULL, ",", &save)) {
        if (!strncmp(t, "ctrl-", 5) && strlen(t) == 6) {
            char ch = t[5];
            if (ch >= 'a' && ch <= 'z')
                r->keys[r->n_keys++] = (unsigned char)(ch - 'a' + 1);
            else if (ch == '@')
                r->keys[r->n_keys++] = 0;
            else if (ch >= '[' && ch <= '_')
                r->keys[r->n_keys++] = (unsigned char)(ch - '[' + 27);
        } else if (strlen(t) == 1) {
            r->keys[r->n_keys++] = (unsigned char)t[0];
        }
    }
}

static int connect_unix(const char *path, moat_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return moat_err(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return moat_err_sys(err, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int saved = errno;
        close(fd);
        return moat_err_errno(err, saved, "connect to '%s'", path);
    }
    return fd;
}

static int relay_connect(struct relay *r, moat_error **err)
{
    int fd = connect_unix(r->sock_path, err);
    if (fd < 0)
        return -1;
    evutil_make_socket_nonblocking(fd);
    r->mon = bufferevent_socket_new(r->e->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(r->mon, mon_read, mon_write, mon_event, r);
    bufferevent_setwatermark(r->mon, EV_WRITE, RELAY_LOW, 0);
    bufferevent_enable(r->mon, EV_READ | EV_WRITE);
    if (r->o.send_start)
        send_frame(r->mon, MOAT_MON_START, NULL, 0);
    /* Whatever the client sent meanwhile. */
    client_read(r->client, r);
    if (r->client_eof && r->o.in && r->o.close_stdin_on_eof)
        send_frame(r->mon, MOAT_MON_CLOSE_STDIN, NULL, 0);
    return 0;
}

int relay_new(struct moat_engine *e, struct moat_container *c, int client_fd, char *pending, size_t pending_len,
              const struct relay_opts *o, const char *sock_path, void (*on_exit)(void *arg, int code), void *arg,
              moat_error **err)
{
    struct relay *r = xcalloc(1, sizeof *r);
    e->n_relays++;
    r->e = e;
    r->c = c;
    r->o = *o;
    r->on_exit = on_exit;
    r->arg = arg;
    r->sock_path = xstrdup(sock_path);
    parse_keys(r, o->detach_keys);
    evutil_make_socket_nonblocking(client_fd);
    r->client = bufferevent_socket_new(e->base, client_fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setwatermark(r->client, EV_WRITE, RELAY_LOW, 0);
    if (pending_len)
        evbuffer_add(bufferevent_get_input(r->client), pending, pending_len);
    free(pending);
    bufferevent_setcb(r->client, client_read, client_write, client_event, r);
    bufferevent_enable(r->client, EV_READ | EV_WRITE);
    bool running = c->status == CTR_RUNNING || c->status == CTR_PAUSED || o->is_exec;
    if (!running) {
        r->pending = true;
        r->next = c->attach_pending;
        c->attach_pending = r;
        return 0;
    }
    r->next = c->relays;
    c->relays = r;
    if (relay_connect(r, err) < 0) {
        relay_free(r);
        return -1;
    }
    return 0;
}

void relay_connect_pending(struct moat_container *c)
{
    while (c->attach_pending) {
        struct relay *r = c->attach_pending;
        c->attach_pending = r->next;
        r->pending = false;
        r->next = c->relays;
        c->relays = r;
        _cleanup_error_ moat_error *e = NULL;
        if (relay_connect(r, &e) < 0) {
            moat_log(MOAT_LOG_WARN, "attach to %.12s: %s", c->id, e->msg);
            relay_finish(r);
        }
    }
}

void relay_close_pending(struct moat_container *c)
{
    while (c->attach_pending)
        relay_free(c->attach_pending);
}

void relay_close_all(struct moat_container *c)
{
    /* Pending relays (a container that never ran) end now; live ones end by
     * themselves when their monitor closes, without the container. */
    relay_close_pending(c);
    while (c->relays)
        relay_unlink(c->relays);
}

int monitor_send(const char *sock_path, uint8_t type, const void *payload, uint32_t len, moat_error **err)
{
    _cleanup_close_ int fd = connect_unix(sock_path, err);
    if (fd < 0)
        return -1;
    uint8_t h[MOAT_MON_HDR];
    moat_mon_hdr(h, type, len);
    if (moat_write_all(fd, h, sizeof h) < 0 || (len && moat_write_all(fd, payload, len) < 0))
        return moat_err_sys(err, "write to '%s'", sock_path);
    return 0;
}
