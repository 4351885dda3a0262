/* moat-monitor: one per container (or exec).  See include/moat/monitor.h for
 * the contract; loop.c is the event loop, logfile.c the json-file log. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moat/util.h"
#include "monitor/monitor_internal.h"

static struct mon M;

static _Noreturn void usage(const char *msg)
{
    fprintf(stderr, "moat-monitor: %s\n"
                    "usage: moat-monitor --id ID --runtime PATH --runtime-root DIR --run-dir DIR\n"
                    "         --log-file FILE [--log-max-size BYTES] [--log-max-files N] --exit-file FILE\n"
                    "         [--tty] [--stdin] [--stdin-once] (--bundle DIR | --exec PROCESS_JSON) [--sync-fd N]\n"
                    "         [--no-delete]\n",
            msg);
    exit(2);
}

static void parse_args(struct mon_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},          {"runtime", required_argument, NULL, 'r'},
        {"runtime-root", required_argument, NULL, 'R'}, {"run-dir", required_argument, NULL, 'd'},
        {"log-file", required_argument, NULL, 'l'},    {"log-max-size", required_argument, NULL, 's'},
        {"log-max-files", required_argument, NULL, 'n'}, {"exit-file", required_argument, NULL, 'x'},
        {"tty", no_argument, NULL, 't'},               {"stdin", no_argument, NULL, 'I'},
        {"stdin-once", no_argument, NULL, 'O'},        {"bundle", required_argument, NULL, 'b'},
        {"exec", required_argument, NULL, 'e'},        {"sync-fd", required_argument, NULL, 'S'},
        {"no-delete", no_argument, NULL, 'D'},         {"runtime-fd", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    *o = (struct mon_opts){.log_max_size = MOAT_MON_DEFAULT_LOG_SIZE, .log_max_files = MOAT_MON_DEFAULT_LOG_FILES,
                           .sync_fd = -1, .runtime_fd = -1};
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o->id = optarg; break;
        case 'r': o->runtime = optarg; break;
        case 'R': o->runtime_root = optarg; break;
        case 'd': o->run_dir = optarg; break;
        case 'l': o->log_file = optarg; break;
        case 'x': o->exit_file = optarg; break;
        case 'b': o->bundle = optarg; break;
        case 'e': o->exec_process = optarg; break;
        case 't': o->tty = true; break;
        case 'I': o->stdin_open = true; break;
        case 'O': o->stdin_once = true; break;
        case 'D': o->no_delete = true; break;
        case 's':
            if (moat_parse_u64(optarg, &o->log_max_size) < 0)
                usage("--log-max-size: not a number of bytes");
            break;
        case 'n':
            if (moat_parse_u64(optarg, &v) < 0 || v < 1 || v > 100)
                usage("--log-max-files: a number from 1 to 100");
            o->log_max_files = (unsigned)v;
            break;
        case 'S':
            if (moat_parse_u64(optarg, &v) < 0 || v < 3 || v > INT_MAX)
                usage("--sync-fd: an open fd >= 3");
            o->sync_fd = (int)v;
            break;
        case 'F':
            if (moat_parse_u64(optarg, &v) < 0 || v < 3 || v > INT_MAX)
                usage("--runtime-fd: an open fd >= 3");
            o->runtime_fd = (int)v;
            break;
        default: usage("unknown option");
        }
    }
    if (optind != argc)
        usage("unexpected argument");
    if (!o->id || !o->runtime || !o->runtime_root || !o->run_dir || !o->log_file || !o->exit_file)
        usage("--id, --runtime, --runtime-root, --run-dir, --log-file and --exit-file are required");
    if (!o->bundle == !o->exec_process)
        usage("give exactly one of --bundle and --exec");
    const char *paths[] = {o->runtime, o->runtime_root, o->run_dir, o->log_file, o->exit_file,
                           o->bundle ? o->bundle : o->exec_process};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
        if (paths[i][0] != '/')
            usage("every path must be absolute");
}

static char *run_path(const char *name) { return xasprintf("%s/%s", M.o.run_dir, name); }

static void cleanup_run_dir(void)
{
    static const char *const names[] = {"attach.sock", "console.sock", "pid", "monitor.pid"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *p = run_path(names[i]);
        unlink(p);
    }
}

static void sync_send(const char *line)
{
    if (M.o.sync_fd < 0)
        return;
    moat_write_all(M.o.sync_fd, line, strlen(line));
    close(M.o.sync_fd);
    M.o.sync_fd = -1;
}

static void sync_pid(pid_t pid)
{
    char line[96];
    snprintf(line, sizeof(line), "{\"pid\": %d, \"monitor\": %d}\n", (int)pid, (int)getpid());
    sync_send(line);
}

void mon_sync_error(struct mon *m, const char *msg)
{
    (void)m;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    json_object_object_add(o, "monitor", json_object_new_int(getpid()));
    _cleanup_free_ char *line = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    sync_send(line);
}

static _Noreturn void fail(const char *msg)
{
    mon_sync_error(&M, msg);
    cleanup_run_dir();
    exit(1);
}

/* Remember the runtime's last complete (non-empty) stderr line for error reports. */
void mon_note_stderr(struct mon *m, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        if (ch == '\n') {
            if (m->errline_len) {
                memcpy(m->last_err, m->errline, m->errline_len);
                m->last_err[m->errline_len] = 0;
            }
            m->errline_len = 0;
        } else if (m->errline_len < sizeof(m->errline) - 1) {
            m->errline[m->errline_len++] = ch;
        }
    }
}

/* Read what is left in a nonblocking fd (the runtime exited: no more writers but a
 * container that never ran). */
static void drain_stderr(struct mon *m, int fd)
{
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        mon_note_stderr(m, buf, (size_t)n);
    if (m->errline_len)
        mon_note_stderr(m, "\n", 1);
}

int mon_console_receive(struct mon *m, moat_error **err)
{
    _cleanup_close_ int c = accept4(m->console_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return moat_err_sys(err, "accept on the console socket");
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int master = -1;
    if (moat_recv_fd(c, &master, err) < 0)
        return moat_err_wrap(err, "the runtime sent no terminal on the console socket");
    int fl = fcntl(master, F_GETFL);
    if (fl < 0 || fcntl(master, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(master);
        return moat_err_sys(err, "set the terminal nonblocking");
    }
    m->out_fd[0] = master;
    m->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    if (m->in_fd < 0)
        return moat_err_sys(err, "dup the terminal");
    if (m->ws_rows || m->ws_cols) { /* a RESIZE that came before the terminal */
        struct winsize ws = {.ws_row = m->ws_rows, .ws_col = m->ws_cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    /* one terminal per monitor: the console socket has done its job */
    close(m->console_fd);
    m->console_fd = -1;
    _cleanup_free_ char *sock = run_path("console.sock");
    unlink(sock);
    return mon_loop_add_tty(m, err);
}

/* fork + exec the runtime with the given stdio; the child gets default signals. */
static pid_t spawn(char **argv, int in, int out, int errfd, moat_error **err)
{
    pid_t pid = fork();
    if (pid < 0)
        return moat_err_sys(err, "fork");
    if (pid == 0) {
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
            _exit(127);
        int sigs[] = {SIGPIPE, SIGHUP, SIGTERM, SIGCHLD};
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
            signal(sigs[i], SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* argv[0] stays the runtime's path (its messages name it); the code comes
         * from the engine's sealed copy when there is one */
        if (M.o.runtime_fd >= 0)
            syscall(SYS_execveat, M.o.runtime_fd, "", argv, environ, AT_EMPTY_PATH);
        else
            execv(argv[0], argv);
        dprintf(2, "moat-monitor: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* The fds the runtime (and through it the process) gets as 0/1/2. */
struct child_stdio {
    int in, out, err;
};

static struct child_stdio M_child = {-1, -1, -1};

int mon_spawn_main(struct mon *m, moat_error **err)
{
    _cleanup_strv_ char **argv = NULL;
    _cleanup_free_ char *pidfile = run_path("pid"), *console = run_path("console.sock");
    moat_strv_push(&argv, m->o.runtime);
    moat_strv_push(&argv, "--root");
    moat_strv_push(&argv, m->o.runtime_root);
    if (m->o.bundle) {
        moat_strv_push(&argv, "create");
        moat_strv_push(&argv, "--bundle");
        moat_strv_push(&argv, m->o.bundle);
    } else {
        moat_strv_push(&argv, "exec");
        moat_strv_push(&argv, "--process");
        moat_strv_push(&argv, m->o.exec_process);
        if (m->o.tty)
            moat_strv_push(&argv, "--tty");
    }
    moat_strv_push(&argv, "--pid-file");
    moat_strv_push(&argv, pidfile);
    if (m->o.tty) {
        moat_strv_push(&argv, "--console-socket");
        moat_strv_push(&argv, console);
    }
    moat_strv_push(&argv, m->o.id);
    moat_rfc3339_now(m->started_at, sizeof(m->started_at));
    pid_t pid = spawn(argv, M_child.in, M_child.out, M_child.err, err);
    if (pid < 0)
        return moat_err_wrap(err, "start %s", m->o.runtime);
    m->runtime_pid = pid;
    m->phase = m->o.bundle ? MON_CREATING : MON_RUNNING;
    /* the runtime (and the process) hold the other ends now */
    int *fds[] = {&M_child.in, &M_child.out, &M_child.err};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    return 0;
}

static void set_exited(struct mon *m, int status)
{
    m->status = status;
    m->have_status = true;
    moat_rfc3339_now(m->finished_at, sizeof(m->finished_at));
    m->phase = MON_DRAINING;
    /* stray processes holding the pipes die with the pid namespace; don't wait forever */
    m->drain_deadline = moat_now_ns() + 2000000000ull;
}

static pid_t read_pid_file(void)
{
    _cleanup_free_ char *p = run_path("pid"), *buf = NULL;
    _cleanup_error_ moat_error *err = NULL;
    size_t len;
    if (moat_read_file_at(AT_FDCWD, p, 64, &buf, &len, &err) < 0)
        return -1;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = 0;
    int64_t v;
    if (moat_parse_i64(buf, &v) < 0 || v <= 0 || v > INT_MAX)
        return -1;
    return (pid_t)v;
}

static void created(struct mon *m, int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        drain_stderr(m, m->o.tty ? m->err_fd : m->out_fd[1]);
        if (m->last_err[0])
            fail(m->last_err);
        char msg[128];
        snprintf(msg, sizeof(msg), "%s create failed (%s %d)", m->o.runtime,
                 WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        fail(msg);
    }
    m->pid = read_pid_file();
    if (m->pid <= 0)
        fail("the runtime wrote no valid pid file");
    if (m->o.tty && m->out_fd[0] < 0) {
        _cleanup_error_ moat_error *err = NULL;
        if (mon_console_receive(m, &err) < 0)
            fail(err->msg);
    }
    moat_rfc3339_now(m->started_at, sizeof(m->started_at));
    m->phase = MON_RUNNING;
    m->last_err[0] = 0; /* from here on stderr is the container's, not an error of ours */
    sync_pid(m->pid);
    for (unsigned i = 0; i < m->nreaped; i++) /* it died before we knew its pid */
        if (m->reaped[i].pid == m->pid)
            set_exited(m, m->reaped[i].status);
}

void mon_on_child(struct mon *m, pid_t pid, int status)
{
    if (pid == m->runtime_pid) {
        m->runtime_pid = 0;
        if (m->o.bundle) {
            created(m, status);
            return;
        }
        /* exec mode: `runtime exec` exits with the process's code, 128+N for a signal */
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (read_pid_file() <= 0) { /* the process never ran: say why */
            drain_stderr(m, m->o.tty ? m->err_fd : m->out_fd[1]);
            if (!m->last_err[0])
                snprintf(m->last_err, sizeof(m->last_err), "%s exec failed (status %d)", m->o.runtime, code);
            /* Docker's codes for a process that could not be started: 127 not found, 126 otherwise */
            code = strstr(m->last_err, "not found") || strstr(m->last_err, "No such file") ? 127 : 126;
        } else {
            m->last_err[0] = 0; /* the process's own stderr is not a monitor error */
        }
        set_exited(m, code);
        return;
    }
    if (m->o.bundle && m->pid > 0 && pid == m->pid && m->phase == MON_RUNNING) {
        set_exited(m, status);
        return;
    }
    if (m->phase == MON_CREATING) {
        unsigned i = m->nreaped < MON_REAPED_MAX ? m->nreaped++ : MON_REAPED_MAX - 1;
        m->reaped[i].pid = pid;
        m->reaped[i].status = status;
    }
}

/* setsid, then one more fork: the engine's direct child exits at once (the
 * engine reaps it); the monitor, in its own session and not a session leader
 * (it can never get a controlling terminal), is adopted by init or the
 * nearest subreaper, so the engine can be killed and restarted. */
static void daemonise(void)
{
    if (setsid() < 0) {
        /* already a process-group leader: one extra fork to be able to setsid */
        pid_t p = fork();
        if (p < 0)
            exit(1);
        if (p > 0)
            _exit(0);
        if (setsid() < 0)
            exit(1);
    }
    pid_t p = fork();
    if (p < 0)
        exit(1);
    if (p > 0)
        _exit(0);
    if (chdir("/") < 0)
        exit(1);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        exit(1);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd);
    if (null > 2)
        close(null);
    /* every inherited fd closed but the sync fd and the runtime's, both close-on-exec */
    int keep[2] = {M.o.sync_fd, M.o.runtime_fd};
    if (keep[0] > keep[1]) {
        int t = keep[0];
        keep[0] = keep[1];
        keep[1] = t;
    }
    unsigned from = 3;
    for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < from)
            continue;
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0u);
        fcntl(keep[i], F_SETFD, FD_CLOEXEC);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0u);
}

static int listen_unix(const char *path, moat_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return moat_err(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return moat_err_sys(err, "socket");
    unlink(path);
    mode_t old = umask(0177); /* 0600 from birth: no window for another user */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return moat_err_errno(err, e, "listen on '%s'", path);
    }
    return fd;
}

static int make_pipe(int fds[2], bool nonblock_read, moat_error **err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    int mine = nonblock_read ? fds[0] : fds[1];
    fcntl(mine, F_SETFL, fcntl(mine, F_GETFL) | O_NONBLOCK);
    return 0;
}

static int setup_stdio(struct mon *m, moat_error **err)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return moat_err_sys(err, "open /dev/null");
    int p[2];
    if (m->o.tty) {
        M_child.in = null;
        M_child.out = fcntl(null, F_DUPFD_CLOEXEC, 3);
        if (make_pipe(p, true, err) < 0)
            return -1;
        m->err_fd = p[0];
        M_child.err = p[1];
        _cleanup_free_ char *cs = run_path("console.sock");
        m->console_fd = listen_unix(cs, err);
        return m->console_fd < 0 ? -1 : 0;
    }
    if (m->o.stdin_open) {
        if (make_pipe(p, false, err) < 0)
            return -1;
        M_child.in = p[0];
        m->in_fd = p[1];
        close(null);
    } else {
        M_child.in = null;
    }
    if (make_pipe(p, true, err) < 0)
        return -1;
    m->out_fd[0] = p[0];
    M_child.out = p[1];
    if (make_pipe(p, true, err) < 0)
        return -1;
    m->out_fd[1] = p[0];
    M_child.err = p[1];
    return 0;
}

static int setup(struct mon *m, moat_error **err)
{
    m->epfd = m->sigfd = m->listen_fd = m->console_fd = m->in_fd = m->err_fd = -1;
    m->out_fd[0] = m->out_fd[1] = -1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN); /* containers are stopped through the runtime, never by killing us */
    signal(SIGINT, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->sigfd < 0)
        return moat_err_sys(err, "signalfd");
    /* the container's init is a grandchild (runtime create -> init, CLONE_PARENT): be its reaper */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return moat_err_sys(err, "PR_SET_CHILD_SUBREAPER");
    if (mkdir(m->o.run_dir, 0700) < 0 && errno != EEXIST)
        return moat_err_sys(err, "mkdir '%s'", m->o.run_dir);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    _cleanup_free_ char *pidf = run_path("monitor.pid"), *as = run_path("attach.sock"), *old = run_path("pid");
    unlink(old);
    if (moat_write_file_atomic(AT_FDCWD, pidf, pid, strlen(pid), 0600, err) < 0)
        return -1;
    m->listen_fd = listen_unix(as, err);
    if (m->listen_fd < 0)
        return -1;
    if (mon_log_open(&m->log, m->o.log_file, m->o.log_max_size, m->o.log_max_files, err) < 0)
        return -1;
    if (setup_stdio(m, err) < 0)
        return -1;
    return mon_loop_setup(m, err);
}

static void run_delete(struct mon *m)
{
    _cleanup_error_ moat_error *err = NULL;
    char *argv[] = {(char *)m->o.runtime, "--root", (char *)m->o.runtime_root, "delete", "--force",
                    (char *)m->o.id, NULL};
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = spawn(argv, null, null, null, &err);
    if (null >= 0)
        close(null);
    int st;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
}

static void finish(struct mon *m)
{
    mon_log_close(&m->log);
    int code, sig = 0;
    if (m->o.bundle) {
        sig = WIFSIGNALED(m->status) ? WTERMSIG(m->status) : 0;
        code = WIFEXITED(m->status) ? WEXITSTATUS(m->status) : 128 + sig;
    } else {
        code = m->status;
        sig = code > 128 && code < 128 + 65 ? code - 128 : 0;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ExitCode", json_object_new_int(code));
    json_object_object_add(o, "Signal", json_object_new_int(sig));
    json_object_object_add(o, "FinishedAt", json_object_new_string(m->finished_at));
    json_object_object_add(o, "StartedAt", json_object_new_string(m->started_at));
    json_object_object_add(o, "OOMKilled", json_object_new_boolean(0));
    json_object_object_add(o, "Error", json_object_new_string(m->last_err));
    _cleanup_free_ char *doc = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    _cleanup_error_ moat_error *err = NULL;
    moat_write_file_atomic(AT_FDCWD, m->o.exit_file, doc, strlen(doc), 0644, &err);
    char frame[32];
    snprintf(frame, sizeof(frame), "{\"ExitCode\":%d}", code);
    close(m->listen_fd); /* no new clients from here on */
    m->listen_fd = -1;
    mon_clients_finish(m, frame);
    /* --no-delete: the engine deletes the runtime's state itself once it saw
     * this exit, so the exit is reported without waiting for a runtime exec */
    if (m->o.bundle && !m->o.no_delete)
        run_delete(m);
    cleanup_run_dir();
}

int main(int argc, char **argv)
{
    parse_args(&M.o, argc, argv);
    if (M.o.sync_fd >= 0 && fcntl(M.o.sync_fd, F_GETFD) < 0)
        usage("--sync-fd is not an open fd");
    if (M.o.runtime_fd >= 0 && (M.o.runtime_fd == M.o.sync_fd || fcntl(M.o.runtime_fd, F_GETFD) < 0))
        usage("--runtime-fd is not an open fd of its own");
    daemonise();
    _cleanup_error_ moat_error *err = NULL;
    if (setup(&M, &err) < 0)
        fail(err->msg);
    if (M.o.bundle) {
        if (mon_spawn_main(&M, &err) < 0)
            fail(err->msg);
    } else {
        M.phase = MON_WAIT_START;
        sync_pid(0);
    }
    if (mon_loop_run(&M) < 0)
        fail("epoll_wait failed");
    finish(&M);
    return 0;
}
