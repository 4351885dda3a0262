/* moatd: the engine.  Serves the Docker API (v1.41 subset) on a unix socket:
 * /run/moat/moat.sock (0660) as root, <run>/moat.sock (0600) as a normal
 * user.  One instance per run directory (flock on <run>/moatd.lock). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "api/api.h"
#include "engine/engine.h"
#include "moat/http.h"
#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"

/* SIGXFSZ: a write past RLIMIT_FSIZE must fail with EFBIG (the audit log then fails the
 * request closed), not kill the engine.  A no-op handler rather than SIG_IGN, because an
 * ignored disposition would be inherited through exec by monitors, runtimes and containers. */
static void on_xfsz(int sig) { (void)sig; }

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    moat_log(MOAT_LOG_INFO, "signal %d: shutting down (containers keep running)", (int)sig);
    event_base_loopexit(arg, NULL);
}

/* SIGHUP: the host's policy again; a bad file keeps the last good policy (logged). */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    _cleanup_error_ moat_error *err = NULL;
    moat_engine_reload_policy(arg, &err);
}

/* Bind the API socket; a stale socket file (nobody listening) is replaced. */
static int listen_unix(const char *path, mode_t mode, moat_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return moat_err(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return moat_err_sys(err, "socket");
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        close(fd);
        return moat_err(err, EADDRINUSE, "another engine is already serving '%s'", path);
    }
    if (probe >= 0)
        close(probe);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            close(fd);
            return moat_err(err, EEXIST, "'%s' exists and is not a socket: refusing to replace it", path);
        }
        unlink(path);
    }
    mode_t old = umask(0777 & ~mode);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        int saved = errno;
        close(fd);
        return moat_err_errno(err, saved, "listen on '%s'", path);
    }
    if (chmod(path, mode) < 0) {
        int saved = errno;
        close(fd);
        return moat_err_errno(err, saved, "chmod '%s'", path);
    }
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: moatd [OPTIONS]\n\n"
               "The moat engine: serves the Docker Engine API on a unix socket.\n\n"
               "Options:\n"
               "      --data-root DIR   image and container store (default /var/lib/moat, or per user)\n"
               "      --socket PATH     API socket (default <run dir>/moat.sock)\n"
               "      --run-dir DIR     runtime state (default /run/moat, or per user)\n"
               "      --runtime PATH    moat-runtime binary\n"
               "      --monitor PATH    moat-monitor binary\n"
               "      --runtime-timeout SECONDS\n"
               "                        how long a runtime command may take before it is killed (default 30)\n"
               "      --log-file FILE   log here instead of stderr\n"
               "      --policy-dir DIR  the host's policy files (default /etc/moat/policy.d, or per user)\n"
               "  -D, --debug           debug logging\n"
               "  -v, --version         print the version\n");
}

/* A long-lived daemon with bursts of big buffers (an image layer, a tar
 * stream): glibc's dynamic mmap threshold rises to the largest block freed so
 * far (the built-in image's ~2 MiB layer), after which such blocks come from
 * the heap and the trim threshold (twice that) keeps them there for good.
 * Fixed thresholds (the defaults, 128 KiB) give them back when freed.  One
 * thread, one arena. */
static void malloc_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_ARENA_MAX, 1);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-root", required_argument, NULL, 'r'}, {"socket", required_argument, NULL, 's'},
        {"run-dir", required_argument, NULL, 'R'},   {"runtime", required_argument, NULL, 't'},
        {"monitor", required_argument, NULL, 'm'},   {"log-file", required_argument, NULL, 'l'},
        {"debug", no_argument, NULL, 'D'},           {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},            {"policy-dir", required_argument, NULL, 'P'},
        {"runtime-timeout", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0}};
    struct moat_engine_opts eo = {0};
    struct moat_log_config lc = {.progname = "moatd", .level = MOAT_LOG_INFO, .file_fd = -1, .stderr_on = 1};
    const char *log_file = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "Dvh", opts, NULL)) != -1) {
        switch (o) {
        case 'r': eo.store_root = optarg; break;
        case 's': eo.socket = optarg; break;
        case 'R': eo.run_dir = optarg; break;
        case 't': eo.runtime = optarg; break;
        case 'm': eo.monitor = optarg; break;
        case 'l': log_file = optarg; break;
        case 'P': eo.policy_dir = optarg; break;
        case 'T': {
            int64_t t;
            if (moat_parse_i64(optarg, &t) < 0 || t < 1 || t > 3600) {
                fprintf(stderr, "moatd: --runtime-timeout: give seconds from 1 to 3600, not '%s'\n", optarg);
                return 2;
            }
            eo.runtime_timeout_s = (int)t;
            break;
        }
        case 'D': lc.level = MOAT_LOG_DEBUG; break;
        case 'v': printf("moatd version %s\n", MOAT_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!eo.store_root)
        eo.store_root = getenv("MOAT_ROOT");
    malloc_setup();
    /* A daemon keeps none of its starter's descriptors (a shell's or a test runner's pipes). */
    close_range(3, ~0U, 0);
    if (log_file) {
        lc.file_fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (lc.file_fd >= 0)
            lc.stderr_on = 0;
    }
    moat_log_setup(&lc);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction xfsz = {.sa_handler = on_xfsz, .sa_flags = SA_RESTART};
    sigemptyset(&xfsz.sa_mask);
    sigaction(SIGXFSZ, &xfsz, NULL);
    umask(022);

    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "moatd: cannot create the event loop\n");
        return 1;
    }
    moat_error *err = NULL;
    struct moat_engine *e = NULL;
    struct moat_http_server *srv = NULL;
    int rc = 1, lock = -1, fd = -1;
    char *lockpath = NULL, *spool = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL;
    struct moat_http_server_opts so = {0};
    if (moat_engine_new(&eo, base, &e, &err) < 0)
        goto out;
    lockpath = xasprintf("%s/moatd.lock", e->run_dir);
    lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        moat_err(&err, EBUSY, "another moatd is running for '%s'", e->run_dir);
        goto out;
    }
    fd = listen_unix(e->socket_path, e->rootless ? 0600 : 0660, &err);
    if (fd < 0)
        goto out;
    spool = xasprintf("%s/tmp", e->store_root);
    mkdir(spool, 0700);
    so = (struct moat_http_server_opts){.base = base, .handler = api_dispatch, .body = api_body_mode, .ctx = e,
                                        .spool_dir = spool, .default_headers = api_default_headers};
    if (moat_http_server_new(&so, &srv, &err) < 0 || moat_http_server_listen_fd(srv, fd, &err) < 0)
        goto out;
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sighup = evsignal_new(base, SIGHUP, on_hup, e);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sighup, NULL);
    moat_log(MOAT_LOG_INFO, "moatd %s serving the Docker API on %s (store %s%s)", MOAT_VERSION, e->socket_path,
             e->store_root, e->rootless ? ", rootless" : "");
    event_base_dispatch(base);
    unlink(e->socket_path);
    api_images_shutdown(e);
    rc = 0;
out:
    if (err) {
        moat_log(MOAT_LOG_ERROR, "%s", err->msg);
        moat_error_free(err);
    }
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (sighup)
        event_free(sighup);
    moat_http_server_free(srv);
    moat_engine_free(e);
    free(lockpath);
    free(spool);
    event_base_free(base);
    if (lock >= 0)
        close(lock);
    return rc;
}
