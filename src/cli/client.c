/* The CLI's side of the Docker API (see client.h): requests are written
 * here, responses parsed by http-parser (which also de-chunks bodies).  One
 * connection per request; the only timeout is on connect. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/client.h"
#include "moat/cleanup.h"
#include "moat/digest.h"
#include "moat/json.h"
#include "moat/store.h"
#include "moat/util.h"
#include "moat/version.h"

#define API_PREFIX "/v" MOAT_CLIENT_API_VERSION
#define MAX_HEADERS (64u * 1024)
#define MAX_BODY (64u * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 10000

struct moat_client {
    char *sock;     /* the unix socket path */
    char *endpoint; /* "unix:///run/moat/moat.sock" */
    int last_status; /* status of the last response read (0: none) */
};

/* One request's connection and parser state. */
struct moat_client_req {
    struct moat_client *client;
    int fd;
    http_parser p;
    http_parser_settings s;
    bool head;          /* HEAD: no body follows */
    bool hijack;        /* stop at the end of the headers on 101/200 */
    bool headers_done, complete;
    size_t hdr_bytes;
    char *field;        /* header field being assembled */
    char *value;
    bool in_value;
    struct moat_client_resp resp;
    size_t body_cap;
    moat_client_data_fn on_data; /* stream mode (status < 400) */
    void *ctx;
    bool stopped;       /* on_data asked to stop */
    bool too_big;
};

const char *moat_client_endpoint(const struct moat_client *c) { return c->endpoint; }
int moat_client_last_status(const struct moat_client *c) { return c->last_status; }

void moat_client_resp_clear(struct moat_client_resp *r)
{
    free(r->body);
    free(r->content_type);
    free(r->header_path_stat);
    free(r->header_error);
    *r = (struct moat_client_resp){0};
}

/* ---- endpoint ------------------------------------------------------------------- */

/* The run directory moatd uses (engine.c's default_run_dir). */
char *moat_client_default_run_dir(void)
{
    if (geteuid() == 0)
        return xstrdup("/run/moat");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (xdg && xdg[0] == '/' && lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
        !(st.st_mode & 077))
        return xasprintf("%s/moat", xdg);
    return xasprintf("/tmp/moat-%u", (unsigned)geteuid());
}

int moat_client_parse_host(const char *host, char **ret_sock, moat_error **err)
{
    const char *path = NULL;
    if (moat_str_has_prefix(host, "unix://"))
        path = host + 7;
    else if (host[0] == '/')
        path = host;
    else
        return moat_err(err, EINVAL, "unsupported host '%s': only unix:///PATH is supported", host);
    if (path[0] != '/')
        return moat_err(err, EINVAL, "invalid host '%s': the socket path must be absolute", host);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return moat_err(err, ENAMETOOLONG, "socket path too long: '%s'", path);
    *ret_sock = xstrdup(path);
    return 0;
}

static int connect_once(const char *path, int *ret_fd, moat_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return moat_err(err, ENAMETOOLONG, "socket path too long: '%s'", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    uint64_t deadline = moat_now_ns() + (uint64_t)CONNECT_TIMEOUT_MS * 1000000u;
    for (;;) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return moat_err_sys(err, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (errno == EINPROGRESS) {
                int n = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
                if (n == 0)
                    return moat_err(err, ETIMEDOUT, "connect to '%s': timed out", path);
                if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                    return moat_err_sys(err, "connect to '%s'", path);
                if (soerr)
                    return moat_err_errno(err, soerr, "connect to '%s'", path);
            }
            int fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                return moat_err_sys(err, "fcntl");
            *ret_fd = TAKE_FD(fd);
            return 0;
        }
        if (errno != EAGAIN || moat_now_ns() > deadline)
            return moat_err_sys(err, "connect to '%s'", path);
        /* The listen backlog is full: try again shortly. */
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* moatd next to this binary, else in PATH. */
static char *find_moatd(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            char *p = xasprintf("%s/moatd", self);
            if (access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    _cleanup_free_ char *dup = xstrdup(path);
    char *save = NULL;
    for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/moatd", d);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* Start moatd detached: a new session, stdin /dev/null, output to <run>/moatd.log. */
static int spawn_moatd(const char *run, const char *sock, const char *data_root, char **ret_log, moat_error **err)
{
    _cleanup_free_ char *moatd = find_moatd();
    if (!moatd)
        return moat_err(err, ENOENT, "moatd not found next to moat or in PATH");
    char *log = xasprintf("%s/moatd.log", run);
    *ret_log = log;
    _cleanup_close_ int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    _cleanup_close_ int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0)
        return moat_err_sys(err, "open /dev/null");
    const char *argv[] = {moatd, "--socket", sock, "--run-dir", run, data_root ? "--data-root" : NULL, data_root, NULL};
    pid_t pid = fork();
    if (pid < 0)
        return moat_err_sys(err, "fork");
    if (pid == 0) {
        /* Child: a new session, then fork again so moatd is not our child. */
        if (setsid() < 0)
            _exit(127);
        pid_t p2 = fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 127 : 0);
        int out = logfd >= 0 ? logfd : nullfd;
        if (dup2(nullfd, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        /* Nothing of ours (the caller's pipes: a test runner waits on them) lives on in the daemon. */
        moat_cloexec_from(3);
        execv(moatd, (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return 0;
}


char *moat_client_root_run_dir(const char *data_root)
{
    if (!data_root || !*data_root)
        return NULL;
    _cleanup_free_ char *abs = NULL;
    if (data_root[0] == '/') {
        abs = xstrdup(data_root);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        abs = xasprintf("%s/%s", cwd, data_root);
    }
    /* The same store by any spelling: the real path (of its parent, before it exists). */
    char real[PATH_MAX];
    if (realpath(abs, real)) {
        free(abs);
        abs = xstrdup(real);
    } else {
        char *slash = strrchr(abs, '/');
        if (slash && slash != abs && slash[1]) {
            *slash = 0;
            if (realpath(abs, real)) {
                char *t = xasprintf("%s/%s", strcmp(real, "/") ? real : "", slash + 1);
                free(abs);
                abs = t;
            } else {
                *slash = '/';
            }
        }
    }
    _cleanup_free_ char *def = moat_store_default_root();
    if (realpath(def, real)) {
        free(def);
        def = xstrdup(real);
    }
    if (!strcmp(abs, def))
        return NULL; /* the default store is the default engine's */
    char dig[MOAT_DIGEST_SIZE];
    moat_sha256_buf(abs, strlen(abs), dig);
    _cleanup_free_ char *run = moat_client_default_run_dir();
    return xasprintf("%s/root-%.16s", run, dig + 7);
}

/* Nothing answers on c->sock: start moatd (one starter at a time, under
 * <run>/autostart.lock, so concurrent commands share one engine) and wait
 * for its socket. */
static int autostart(struct moat_client *c, const char *run, bool per_root, const char *root, moat_error **err)
{
    if (per_root) { /* <default run dir>/root-<hash>: the default run dir first */
        _cleanup_free_ char *parent = moat_client_default_run_dir();
        if (moat_private_dir(parent, err) < 0)
            return moat_err_wrap(err, "start moatd");
    }
    if (moat_private_dir(run, err) < 0)
        return moat_err_wrap(err, "start moatd");
    _cleanup_free_ char *lockpath = xasprintf("%s/autostart.lock", run);
    _cleanup_close_ int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0)
        return moat_err_sys(err, "start moatd: open '%s'", lockpath);
    while (flock(lock, LOCK_EX) < 0)
        if (errno != EINTR)
            return moat_err_sys(err, "start moatd: lock '%s'", lockpath);
    int fd = -1;
    moat_error *e = NULL;
    if (connect_once(c->sock, &fd, &e) == 0) { /* another command started it meanwhile */
        close(fd);
        return 0;
    }
    moat_error_free(e);
    e = NULL;
    _cleanup_free_ char *log = NULL;
    if (spawn_moatd(run, c->sock, root, &log, err) < 0)
        return moat_err_wrap(err, "start moatd");
    uint64_t deadline = moat_now_ns() + (uint64_t)START_TIMEOUT_MS * 1000000u;
    for (;;) {
        if (connect_once(c->sock, &fd, &e) == 0) {
            close(fd);
            return 0;
        }
        moat_error_free(e);
        e = NULL;
        if (moat_now_ns() > deadline)
            return moat_err(err, ETIMEDOUT, "moatd did not answer on '%s' within 10 s (see %s)", c->sock, log);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The runtime's seccomp cache (<run>/runtime/.seccomp-cache/<hash>.bpf):
 * regular files only, nothing a container needs. */
static void remove_seccomp_cache(int dfd)
{
    _cleanup_close_ int cfd = openat(dfd, "runtime/.seccomp-cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (cfd < 0)
        return;
    int dup_fd = dup(cfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_type == DT_REG)
            unlinkat(cfd, de->d_name, 0);
    closedir(d);
    unlinkat(dfd, "runtime/.seccomp-cache", AT_REMOVEDIR);
}

/* The run directory of a stopped per-store engine, when nothing of a
 * container is left in it (rmdir fails on what is not empty). */
static void remove_idle_run_dir(const char *run)
{
    static const char *const files[] = {"moatd.log", "moatd.lock", "autostart.lock"};
    static const char *const dirs[] = {"c", "runtime"};
    _cleanup_close_ int dfd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return;
    remove_seccomp_cache(dfd);
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (unlinkat(dfd, dirs[i], AT_REMOVEDIR) < 0 && errno != ENOENT)
            return; /* container state: keep all of it */
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlinkat(dfd, files[i], 0);
    rmdir(run);
}

int moat_client_stop_root_engine(const char *data_root, bool *ret_stopped, moat_error **err)
{
    *ret_stopped = false;
    _cleanup_free_ char *run = moat_client_root_run_dir(data_root);
    if (!run)
        return 0;
    _cleanup_free_ char *sock = xasprintf("%s/moat.sock", run);
    int fd = -1;
    moat_error *e = NULL;
    if (connect_once(sock, &fd, &e) < 0) { /* nobody serves it */
        moat_error_free(e);
        remove_idle_run_dir(run);
        return 0;
    }
    /* The listener's credentials: the moatd that bound the socket. */
    struct ucred cr;
    socklen_t len = sizeof cr;
    int r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len);
    close(fd);
    if (r < 0)
        return moat_err_sys(err, "the engine on '%s': SO_PEERCRED", sock);
    char exe[PATH_MAX];
    _cleanup_free_ char *link = xasprintf("/proc/%d/exe", (int)cr.pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = 0;
    const char *base = n > 0 ? strrchr(exe, '/') : NULL;
    if (cr.uid != geteuid() || !base || strcmp(base + 1, "moatd") != 0)
        return moat_err(err, EPERM, "'%s' is served by pid %d (uid %u), not by a moatd of ours: not stopping it", sock,
                        (int)cr.pid, (unsigned)cr.uid);
    if (kill(cr.pid, SIGTERM) < 0)
        return errno == ESRCH ? 0 : moat_err_sys(err, "stop the engine (pid %d)", (int)cr.pid);
    /* It unlinks its socket as it exits; then the process is gone (or a zombie of its reaper). */
    uint64_t deadline = moat_now_ns() + (uint64_t)START_TIMEOUT_MS * 1000000u;
    _cleanup_free_ char *statf = xasprintf("/proc/%d/stat", (int)cr.pid);
    for (;;) {
        char buf[512] = "";
        _cleanup_close_ int sfd = open(statf, O_RDONLY | O_CLOEXEC);
        ssize_t k = sfd >= 0 ? read(sfd, buf, sizeof buf - 1) : -1;
        const char *paren = k > 0 ? strrchr(buf, ')') : NULL;
        if (k <= 0 || (paren && paren[1] == ' ' && paren[2] == 'Z'))
            break;
        if (moat_now_ns() > deadline)
            return moat_err(err, ETIMEDOUT, "the engine (pid %d) did not stop within 10 s", (int)cr.pid);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    *ret_stopped = true;
    remove_idle_run_dir(run);
    return 0;
}

int moat_client_open_opts(const struct moat_client_opts *o, struct moat_client **ret, moat_error **err)
{
    const char *host = o->host;
    if (!host || !*host)
        host = getenv("MOAT_HOST");
    if (!host || !*host)
        host = getenv("DOCKER_HOST");
    bool is_default = !host || !*host;
    const char *root = o->data_root && *o->data_root ? o->data_root : getenv("MOAT_ROOT");
    if (root && !*root)
        root = NULL;
    _cleanup_free_ char *sock = NULL, *run = NULL;
    bool per_root = false;
    if (is_default) {
        /* A store of its own (--data-root, $MOAT_ROOT) has an engine of its own. */
        run = moat_client_root_run_dir(root);
        per_root = run != NULL;
        if (!run)
            run = moat_client_default_run_dir();
        sock = xasprintf("%s/moat.sock", run);
    } else if (moat_client_parse_host(host, &sock, err) < 0) {
        return -1;
    }
    struct moat_client *c = xcalloc(1, sizeof *c);
    c->endpoint = xasprintf("unix://%s", sock);
    c->sock = TAKE_PTR(sock);
    if (is_default) {
        int fd = -1;
        moat_error *e = NULL;
        if (connect_once(c->sock, &fd, &e) == 0) {
            close(fd);
        } else if (e->errnum == ENOENT || e->errnum == ECONNREFUSED) {
            moat_error_free(e);
            if (autostart(c, run, per_root, root, err) < 0) {
                moat_client_close(c);
                return -1;
            }
        } else {
            moat_error_free(e);
        }
    }
    *ret = c;
    return 0;
}

int moat_client_open(const char *host, struct moat_client **ret, moat_error **err)
{
    struct moat_client_opts o = {.host = host};
    return moat_client_open_opts(&o, ret, err);
}

void moat_client_close(struct moat_client *c)
{
    if (!c)
        return;
    free(c->sock);
    free(c->endpoint);
    free(c);
}

/* ---- the parser's callbacks -------------------------------------------------------- */

static void flush_header(struct moat_client_req *r)
{
    if (r->field && r->value) {
        if (!strcasecmp(r->field, "Content-Type")) {
            free(r->resp.content_type);
            r->resp.content_type = TAKE_PTR(r->value);
        } else if (!strcasecmp(r->field, "X-Docker-Container-Path-Stat")) {
            free(r->resp.header_path_stat);
            r->resp.header_path_stat = TAKE_PTR(r->value);
        } else if (!strcasecmp(r->field, "X-Moat-Error")) {
            free(r->resp.header_error);
            r->resp.header_error = TAKE_PTR(r->value);
        }
    }
    free(r->field);
    free(r->value);
    r->field = r->value = NULL;
}

static void append(char **s, const char *at, size_t len)
{
    size_t have = *s ? strlen(*s) : 0;
    *s = xrealloc(*s, have + len + 1);
    memcpy(*s + have, at, len);
    (*s)[have + len] = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct moat_client_req *r = p->data;
    if (r->in_value) {
        flush_header(r);
        r->in_value = false;
    }
    append(&r->field, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct moat_client_req *r = p->data;
    r->in_value = true;
    append(&r->value, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct moat_client_req *r = p->data;
    flush_header(r);
    r->headers_done = true;
    r->resp.status = p->status_code;
    r->client->last_status = p->status_code;
    if (r->hijack && (p->status_code == 101 || p->status_code == 200))
        return 2; /* the rest is the raw stream */
    return r->head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct moat_client_req *r = p->data;
    if (r->on_data && r->resp.status < 400) {
        if (r->on_data(r->ctx, at, len) < 0) {
            r->stopped = true;
            return -1;
        }
        return 0;
    }
    if (r->resp.len + len > MAX_BODY) {
        r->too_big = true;
        return -1;
    }
    if (r->resp.len + len + 1 > r->body_cap) {
        r->body_cap = (r->resp.len + len + 1) * 2;
        if (r->body_cap > MAX_BODY + 1)
            r->body_cap = MAX_BODY + 1;
        r->resp.body = xrealloc(r->resp.body, r->body_cap);
    }
    memcpy(r->resp.body + r->resp.len, at, len);
    r->resp.len += len;
    r->resp.body[r->resp.len] = 0;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct moat_client_req *r = p->data;
    r->complete = true;
    http_parser_pause(p, 1); /* one response per connection */
    return 0;
}

/* Feed bytes; returns how many the parser took, or -1 with *err. */
static ssize_t feed(struct moat_client_req *r, const char *buf, size_t len, moat_error **err)
{
    size_t n = http_parser_execute(&r->p, &r->s, buf, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (!r->headers_done) {
        r->hdr_bytes += n;
        if (r->hdr_bytes > MAX_HEADERS)
            return moat_err(err, E2BIG, "response from the daemon: headers larger than %u bytes", MAX_HEADERS);
    }
    if (e == HPE_OK || e == HPE_PAUSED || (r->p.upgrade && r->headers_done))
        return (ssize_t)n;
    if (r->stopped)
        return (ssize_t)n;
    if (r->too_big)
        return moat_err(err, E2BIG, "response from the daemon: body larger than %u bytes", MAX_BODY);
    return moat_err(err, EPROTO, "bad response from the daemon: %s", http_errno_description(e));
}

/* Read and parse until the headers (until_headers) or the whole message arrived. */
static int pump(struct moat_client_req *r, bool until_headers, moat_error **err)
{
    char buf[16384];
    while (!(r->complete || r->stopped || (until_headers && r->headers_done))) {
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "read from the daemon");
        if (feed(r, buf, (size_t)n, err) < 0)
            return -1;
        if (n == 0 && !r->complete) {
            if (r->headers_done && r->resp.status >= 400)
                return 0; /* an error written after a hijack, closed by the server */
            return moat_err(err, EPIPE, "the daemon closed the connection before the response ended");
        }
    }
    return 0;
}

/* ---- requests ---------------------------------------------------------------------- */

static int send_all(int fd, const void *buf, size_t len, moat_error **err)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "write to the daemon");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum body_kind { BODY_FIXED, BODY_CHUNKED, BODY_UPGRADE };

/* The request line and headers (generated, not parsed). */
char *moat_client_format_request(const char *method, const char *path, const char *ctype, size_t len,
                                 int kind)
{
    char *extra = kind == BODY_CHUNKED   ? xstrdup("Transfer-Encoding: chunked\r\n")
                  : kind == BODY_UPGRADE ? xasprintf("Content-Length: %zu\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", len)
                                         : xasprintf("Content-Length: %zu\r\n", len);
    char *req = xasprintf("%s " API_PREFIX "%s HTTP/1.1\r\nHost: docker\r\nUser-Agent: moat/" MOAT_VERSION "\r\n"
                          "%s%s%s%s\r\n",
                          method, path, extra, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "");
    free(extra);
    return req;
}

static struct moat_client_req *req_init(struct moat_client *c, int fd, const char *method)
{
    struct moat_client_req *r = xcalloc(1, sizeof *r);
    r->client = c;
    r->fd = fd;
    r->head = !strcmp(method, "HEAD");
    http_parser_init(&r->p, HTTP_RESPONSE);
    r->p.data = r;
    http_parser_settings_init(&r->s);
    r->s.on_header_field = on_header_field;
    r->s.on_header_value = on_header_value;
    r->s.on_headers_complete = on_headers_complete;
    r->s.on_body = on_body;
    r->s.on_message_complete = on_message_complete;
    c->last_status = 0;
    return r;
}

static int req_new(struct moat_client *c, const char *method, struct moat_client_req **ret, moat_error **err)
{
    int fd;
    if (connect_once(c->sock, &fd, err) < 0)
        return moat_err(err, ECONNREFUSED, "Cannot connect to the moat daemon at %s. Is the moat daemon running? (%s)",
                        c->endpoint, (*err)->msg + 0);
    *ret = req_init(c, fd, method);
    return 0;
}

int moat_client_read_response(int fd, const char *method, struct moat_client_resp *ret, moat_error **err)
{
    struct moat_client c = {.sock = NULL, .endpoint = (char *)"fd"};
    struct moat_client_req *r = req_init(&c, fd, method);
    int rc = pump(r, false, err);
    if (rc == 0) {
        *ret = r->resp;
        r->resp = (struct moat_client_resp){0};
    }
    r->fd = -1; /* the caller's */
    moat_client_req_free(r);
    return rc;
}

void moat_client_req_free(struct moat_client_req *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->field);
    free(r->value);
    moat_client_resp_clear(&r->resp);
    free(r);
}

int moat_client_begin(struct moat_client *c, const char *method, const char *path, const char *content_type,
                      const void *body, size_t len, struct moat_client_req **ret, int *ret_status, moat_error **err)
{
    struct moat_client_req *r;
    if (req_new(c, method, &r, err) < 0)
        return -1;
    _cleanup_free_ char *head = moat_client_format_request(method, path, content_type, len, BODY_FIXED);
    if (send_all(r->fd, head, strlen(head), err) < 0 || (len && send_all(r->fd, body, len, err) < 0) ||
        pump(r, true, err) < 0) {
        moat_client_req_free(r);
        return moat_err_wrap(err, "%s %s", method, path);
    }
    if (ret_status)
        *ret_status = r->resp.status;
    *ret = r;
    return 0;
}

int moat_client_finish(struct moat_client_req *r, struct moat_client_resp *ret, moat_error **err)
{
    if (pump(r, false, err) < 0)
        return -1;
    *ret = r->resp;
    r->resp = (struct moat_client_resp){0};
    return 0;
}

int moat_client_call(struct moat_client *c, const char *method, const char *path, const char *content_type,
                     const void *body, size_t len, struct moat_client_resp *ret, moat_error **err)
{
    struct moat_client_req *r;
    if (moat_client_begin(c, method, path, content_type, body, len, &r, NULL, err) < 0)
        return -1;
    int rc = moat_client_finish(r, ret, err);
    moat_client_req_free(r);
    if (rc < 0)
        return moat_err_wrap(err, "%s %s", method, path);
    return 0;
}

static int status_errno(int status)
{
    switch (status) {
    case 400: return EINVAL;
    case 401:
    case 403: return EPERM;
    case 404: return ENOENT;
    case 409: return EEXIST;
    case 501: return ENOSYS;
    default: return EIO;
    }
}

int moat_client_resp_error(const struct moat_client_resp *r, moat_error **err)
{
    if (r->body && r->len) {
        struct json_object *o = json_tokener_parse(r->body);
        struct json_object *m;
        if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "message", &m) &&
            json_object_is_type(m, json_type_string)) {
            moat_err(err, status_errno(r->status), "%s", json_object_get_string(m));
            json_object_put(o);
            return -1;
        }
        json_object_put(o);
        size_t n = r->len;
        while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
            n--;
        return moat_err(err, status_errno(r->status), "%.*s", (int)n, r->body);
    }
    if (r->header_error && r->header_error[0])
        return moat_err(err, status_errno(r->status), "%s", r->header_error);
    return moat_err(err, status_errno(r->status), "the daemon answered status %d", r->status);
}

/* Like Docker's client: JSON bodies are labelled, body-less POST/PUT are text/plain. */
static const char *default_ctype(const char *method, struct json_object *body)
{
    if (body)
        return "application/json";
    return !strcmp(method, "POST") || !strcmp(method, "PUT") ? "text/plain" : NULL;
}

int moat_client_json(struct moat_client *c, const char *method, const char *path, struct json_object *body,
                     int *ret_status, struct json_object **ret, moat_error **err)
{
    const char *js = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    struct moat_client_resp resp = {0};
    if (moat_client_call(c, method, path, default_ctype(method, body), js, js ? strlen(js) : 0, &resp, err) < 0)
        return -1;
    if (ret_status)
        *ret_status = resp.status;
    if (resp.status >= 400) {
        moat_client_resp_error(&resp, err);
        moat_client_resp_clear(&resp);
        return -1;
    }
    if (ret)
        *ret = NULL;
    int rc = 0;
    if (ret && resp.len && moat_json_parse(resp.body, resp.len, MAX_BODY, "the daemon's answer", ret, err) < 0)
        rc = moat_err_wrap(err, "%s %s", method, path);
    moat_client_resp_clear(&resp);
    return rc;
}

int moat_client_upload(struct moat_client *c, const char *method, const char *path, const char *content_type,
                       int fd, struct moat_client_resp *ret, moat_error **err)
{
    struct moat_client_req *r;
    if (req_new(c, method, &r, err) < 0)
        return -1;
    _cleanup_free_ char *head = moat_client_format_request(method, path, content_type, 0, BODY_CHUNKED);
    int rc = send_all(r->fd, head, strlen(head), err);
    char buf[65536 + 16];
    while (rc == 0) {
        ssize_t n = read(fd, buf + 10, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = moat_err_sys(err, "read the upload");
            break;
        }
        if (n == 0) {
            rc = send_all(r->fd, "0\r\n\r\n", 5, err);
            break;
        }
        char sz[11];
        int k = snprintf(sz, sizeof sz, "%zx\r\n", (size_t)n);
        memcpy(buf + 10 - k, sz, (size_t)k);
        memcpy(buf + 10 + n, "\r\n", 2);
        if (send_all(r->fd, buf + 10 - k, (size_t)k + (size_t)n + 2, err) < 0) {
            /* The daemon may have answered (an error) and closed: read it. */
            moat_error_free(*err);
            *err = NULL;
            break;
        }
    }
    if (rc == 0)
        rc = moat_client_finish(r, ret, err);
    moat_client_req_free(r);
    return rc < 0 ? moat_err_wrap(err, "%s %s", method, path) : 0;
}

int moat_client_stream(struct moat_client *c, const char *method, const char *path, struct json_object *body,
                       moat_client_data_fn on_data, void *ctx, int *ret_status, moat_error **err)
{
    struct moat_client_req *r;
    if (req_new(c, method, &r, err) < 0)
        return -1;
    r->on_data = on_data;
    r->ctx = ctx;
    const char *js = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    size_t len = js ? strlen(js) : 0;
    _cleanup_free_ char *head =
        moat_client_format_request(method, path, default_ctype(method, body), len, BODY_FIXED);
    int rc = send_all(r->fd, head, strlen(head), err);
    if (rc == 0 && len)
        rc = send_all(r->fd, js, len, err);
    if (rc == 0)
        rc = pump(r, false, err);
    if (rc == 0 && ret_status)
        *ret_status = r->resp.status;
    if (rc == 0 && r->resp.status >= 400)
        rc = moat_client_resp_error(&r->resp, err);
    else if (rc < 0)
        moat_err_wrap(err, "%s %s", method, path);
    moat_client_req_free(r);
    return rc;
}

/* The 101's headers are read with MSG_PEEK and consumed exactly, so the
 * stream's first bytes stay in the socket for the caller. */
int moat_client_hijack(struct moat_client *c, const char *path, struct json_object *body, int *ret_fd,
                       moat_error **err)
{
    struct moat_client_req *r;
    if (req_new(c, "POST", &r, err) < 0)
        return -1;
    r->hijack = true;
    const char *js = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    size_t len = js ? strlen(js) : 0;
    _cleanup_free_ char *head =
        moat_client_format_request("POST", path, body ? "application/json" : "text/plain", len, BODY_UPGRADE);
    int rc = send_all(r->fd, head, strlen(head), err);
    if (rc == 0 && len)
        rc = send_all(r->fd, js, len, err);
    char buf[4096];
    while (rc == 0 && !r->headers_done) {
        ssize_t n = recv(r->fd, buf, sizeof buf, MSG_PEEK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? moat_err_sys(err, "read from the daemon")
                       : moat_err(err, EPIPE, "the daemon closed the connection before answering");
            break;
        }
        ssize_t took = feed(r, buf, (size_t)n, err);
        if (took < 0) {
            rc = -1;
            break;
        }
        /* Consume what the parser took (all of it unless the headers ended). */
        if (moat_read_all(r->fd, buf, (size_t)took) != took)
            rc = moat_err_sys(err, "read from the daemon");
    }
    if (rc == 0 && r->resp.status >= 400) {
        rc = pump(r, false, err);
        if (rc == 0)
            rc = moat_client_resp_error(&r->resp, err);
    } else if (rc == 0 && r->resp.status != 101 && r->resp.status != 200) {
        rc = moat_err(err, EPROTO, "unable to upgrade to tcp, received %d", r->resp.status);
    }
    if (rc == 0)
        *ret_fd = TAKE_FD(r->fd);
    else if (c->last_status < 400)
        moat_err_wrap(err, "POST %s", path);
    moat_client_req_free(r);
    return rc;
}

int moat_client_wrap_error(struct moat_client *c, moat_error **err)
{
    if (c && c->last_status >= 400 && *err && !moat_str_has_prefix((*err)->msg, "Error response from daemon: "))
        return moat_err_wrap(err, "Error response from daemon");
    return -1;
}
