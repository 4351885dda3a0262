/* Container I/O endpoints: stats, export and archive (docker cp).
 *
 * export and archive read or write whole trees, so each runs in a forked
 * child.  The child writes one status line into a pipe ("O <stat header>\n"
 * or "E <errno> <message>\n"), then, for GET archive and export, the tar; the
 * loop reads the line from a libevent callback and answers, streaming the
 * rest of the pipe with moat_http_reply_fd.  The child is reaped through a
 * pidfd.
 *
 * The root filesystem a child walks: for the copy driver the snapshot's tree
 * (sn->rootfs); as root, while the container runs, the overlay mounted at
 * <dir>/bundle/rootfs; as root otherwise a private mount of the snapshot in
 * a mount namespace of the child's own.  A rootless overlay is mounted only
 * in the container's namespaces: while it runs the child joins its user and
 * mount namespaces (the engine's uid owns them) and takes a clone of its
 * root mount alone; when it does not, the child works in the store's
 * sandbox with the snapshot mounted privately (moat_snapshot_run).  Either
 * way ids there are the container's own, and PUT can chown.  Volumes and
 * binds are mounted only
 * in the container's mount namespace, so export leaves them out (like
 * Docker) and docker cp cannot reach files inside a volume: it sees, and
 * writes to, the directory beneath the mount point.
 *
 * Owners as seen inside: as root the container's slice of the 'moat' id
 * range (engine_slice_range, the same numbers config.json's uidMappings
 * hold) is subtracted; rootless with the copy driver the store's mapping
 * (moat_store_info) maps the user's subordinate ids back, and PUT leaves
 * extracted files owned by the user (the container's root): outside a user
 * namespace the engine cannot chown to subordinate ids, so copyUIDGID has no
 * effect there.  A rootless overlay's child is inside one: ids as they are. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "api/api.h"
#include "engine/archive.h"
#include "engine/container.h"
#include "moat/policy.h"
#include "moat/json.h"
#include "moat/path.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"

static struct moat_container *find(struct api_call *c)
{
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_engine_find(c->engine, c->params[0], &ctr, &e) < 0) {
        api_error_reply(c->req, e);
        return NULL;
    }
    return ctr;
}

/* ---- the child's side ---------------------------------------------------------------------- */
enum io_kind { IO_EXPORT, IO_GET, IO_HEAD, IO_PUT };

struct io_ctx { /* filled before the fork; the child reads its copy */
    enum io_kind kind;
    struct moat_store *store;
    struct moat_snapshot *sn;
    char *mounted;     /* as root, running: the overlay's mount point */
    bool mount_needed; /* as root, not running, overlay: mount it privately */
    pid_t join_pid;    /* rootless overlay, running: its init, whose namespaces the child joins */
    bool in_sandbox;   /* rootless overlay, not running: moat_snapshot_run */
    char *path;        /* cleaned, absolute */
    const char *ref;   /* as the client named the container (messages) */
    struct archive_ids ids;
    bool have_ids, chown;
    bool no_overwrite, copy_uidgid;
    int body_fd;
};

static void child_status(int out, int errnum, const char *msg)
{
    _cleanup_free_ char *line = errnum ? xasprintf("E %d %s", errnum, msg) : xasprintf("O %s", msg);
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    size_t n = strlen(line);
    line = xrealloc(line, n + 2);
    line[n] = '\n', line[n + 1] = '\0';
    moat_write_all(out, line, n + 1);
}

/* Into a running rootless container's user and mount namespaces (by pidfd:
 * the pid can't be another process's by now), then its root mount alone:
 * open_tree without AT_RECURSIVE leaves /proc, /dev and volumes out. */
static int join_rootfd(pid_t pid, moat_error **err)
{
    _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0)
        return moat_err_sys(err, "pidfd_open %d", (int)pid);
    /* In there our uid is the container root's: nothing of the container's
     * may ptrace us or open our /proc files (runc's exec does the same). */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return moat_err_sys(err, "prctl(PR_SET_DUMPABLE)");
    if (setns(pfd, CLONE_NEWUSER | CLONE_NEWNS) < 0)
        return moat_err_sys(err, "join the container's user and mount namespaces");
    int fd = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    return fd < 0 ? moat_err_sys(err, "clone the container's root mount") : fd;
}

static int child_rootfd(struct io_ctx *x, moat_error **err)
{
    if (x->join_pid > 0)
        return join_rootfd(x->join_pid, err);
    if (x->mounted) {
        int fd = open(x->mounted, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? moat_err_sys(err, "open the root filesystem '%s'", x->mounted) : fd;
    }
    if (x->mount_needed) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            return moat_err_sys(err, "private mount namespace");
        struct moat_snapshot_mount_opts mo = {.userns_fd = -1};
        int mfd = -1;
        if (moat_snapshot_mount(x->store, x->sn, &mo, &mfd, err) < 0)
            return -1;
        return mfd;
    }
    int fd = open(x->sn->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? moat_err_sys(err, "open the root filesystem '%s'", x->sn->rootfs) : fd;
}

/* The parent directory of x->path (confined) and the last component ("." for "/"). */
static int child_parent(struct io_ctx *x, int rootfd, char **ret_base, moat_error **err)
{
    if (!strcmp(x->path, "/")) {
        *ret_base = xstrdup(".");
        return moat_open_in_root(rootfd, "/", O_RDONLY | O_DIRECTORY, 0, 0, err);
    }
    _cleanup_free_ char *parent = NULL;
    moat_path_split(x->path, &parent, ret_base);
    return moat_open_in_root(rootfd, parent, O_RDONLY | O_DIRECTORY, 0, 0, err);
}

static int child_stat(struct io_ctx *x, int pfd, const char *base, char **ret_hdr, moat_error **err)
{
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return moat_err(err, ENOENT, "Could not find the file %s in container %s", x->path, x->ref);
        return moat_err_sys(err, "stat '%s'", x->path);
    }
    char link[4096] = "";
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(pfd, base, link, sizeof link - 1);
        link[n > 0 ? n : 0] = '\0';
    }
    const char *name = strcmp(x->path, "/") ? base : "/";
    *ret_hdr = archive_stat_header(name, st.st_size, st.st_mode, &st.st_mtim, link);
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Close every fd but stdio and keep[] (the engine's sockets, client
 * connections and libevent's signal pipe must not live on in the child). */
static void close_others(int *keep, size_t n)
{
    qsort(keep, n, sizeof *keep, cmp_int);
    unsigned from = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 3)
            continue;
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0);
}

static int child_work_at(struct io_ctx *x, int rootfd, int out, moat_error **err);

struct sandboxed {
    struct io_ctx *x;
    int out;
};

static int sandboxed_work(int rootfd, void *arg, moat_error **err)
{
    struct sandboxed *a = arg;
    return child_work_at(a->x, rootfd, a->out, err);
}

static int child_work(struct io_ctx *x, int out, moat_error **err)
{
    if (x->join_pid > 0 && kill(x->join_pid, 0) < 0 && errno == ESRCH) {
        x->join_pid = 0; /* it ended meanwhile (or is between restarts): its snapshot, privately */
        x->in_sandbox = true;
    }
    if (x->in_sandbox) {
        int keep[2] = {out, x->body_fd}, pass[2] = {out, x->body_fd};
        close_others(keep, 2); /* sorts keep */
        struct sandboxed a = {x, out};
        return moat_snapshot_run(x->store, x->sn, pass, x->body_fd >= 0 ? 2 : 1, sandboxed_work, &a, err);
    }
    _cleanup_close_ int rootfd = child_rootfd(x, err);
    if (rootfd < 0)
        return -1;
    int keep[3] = {out, rootfd, x->body_fd};
    close_others(keep, 3);
    return child_work_at(x, rootfd, out, err);
}

static int child_work_at(struct io_ctx *x, int rootfd, int out, moat_error **err)
{
    const struct archive_ids *ids = x->have_ids ? &x->ids : NULL;
    if (x->kind == IO_EXPORT) {
        child_status(out, 0, "-");
        return archive_write_tree(rootfd, ".", ".", ids, out, err);
    }
    if (x->kind == IO_PUT) {
        _cleanup_close_ int dfd = moat_open_in_root(rootfd, x->path, O_RDONLY | O_DIRECTORY, 0, 0, err);
        if (dfd < 0) {
            if ((*err)->errnum == ENOENT) {
                moat_error_free(*err), *err = NULL;
                return moat_err(err, ENOENT, "Could not find the file %s in container %s", x->path, x->ref);
            }
            if ((*err)->errnum == ENOTDIR) {
                moat_error_free(*err), *err = NULL;
                return moat_err(err, EINVAL, "extraction point is not a directory: %s", x->path);
            }
            return -1;
        }
        struct archive_extract_opts o = {.no_overwrite_dir_non_dir = x->no_overwrite, .copy_uidgid = x->copy_uidgid,
                                         .ids = x->chown ? ids : NULL};
        if (archive_extract(dfd, x->body_fd, &o, err) < 0)
            return moat_err_wrap(err, "extract into %s", x->path);
        child_status(out, 0, "-");
        return 0;
    }
    _cleanup_free_ char *base = NULL, *hdr = NULL;
    _cleanup_close_ int pfd = child_parent(x, rootfd, &base, err);
    if (pfd < 0) {
        if ((*err)->errnum == ENOENT || (*err)->errnum == ENOTDIR) {
            moat_error_free(*err), *err = NULL;
            return moat_err(err, ENOENT, "Could not find the file %s in container %s", x->path, x->ref);
        }
        return -1;
    }
    if (child_stat(x, pfd, base, &hdr, err) < 0)
        return -1;
    child_status(out, 0, hdr);
    if (x->kind == IO_HEAD)
        return 0;
    return archive_write_tree(pfd, base, base, ids, out, err);
}

static _Noreturn void io_child(struct io_ctx *x, int out)
{
    static const int sigs[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    moat_error *err = NULL;
    if (child_work(x, out, &err) < 0) {
        /* After the status line the client already has a 200: the tar just ends short. */
        child_status(out, err && err->errnum ? err->errnum : EIO, err && err->msg ? err->msg : "failed");
        _exit(1);
    }
    _exit(0);
}

/* ---- the loop's side ----------------------------------------------------------------------- */
struct io_job {
    struct moat_engine *e;
    struct moat_http_req *req;
    enum io_kind kind;
    char *ctr_id;
    pid_t pid;
    int pidfd, fd;
    struct event *pid_ev, *rd_ev;
    char line[8192];
    size_t len;
    bool exited, done; /* child reaped; request answered or gone */
};

static void job_maybe_free(struct io_job *j)
{
    if (!j->exited || !j->done)
        return;
    if (j->pid_ev)
        event_free(j->pid_ev);
    if (j->rd_ev)
        event_free(j->rd_ev);
    if (j->pidfd >= 0)
        close(j->pidfd);
    if (j->fd >= 0)
        close(j->fd);
    free(j->ctr_id);
    free(j);
}

static void job_client_gone(struct moat_http_req *r, void *arg)
{
    (void)r;
    struct io_job *j = arg;
    j->req = NULL;
    j->done = true;
    if (!j->exited)
        kill(j->pid, SIGKILL);
    job_maybe_free(j);
}

static void job_answer(struct io_job *j)
{
    struct moat_http_req *r = j->req;
    moat_http_on_close(r, NULL, NULL);
    j->done = true;
    j->req = NULL;
    if (j->rd_ev)
        event_del(j->rd_ev);
    if (j->len == 0 || (j->line[0] != 'O' && j->line[0] != 'E')) {
        moat_http_reply_error(r, 500, "the archive process ended without an answer");
        return;
    }
    if (j->line[0] == 'E') {
        char *end;
        long en = strtol(j->line + 2, &end, 10);
        moat_error e = {.errnum = (int)en, .msg = *end ? end + 1 : end};
        api_error_reply(r, &e);
        return;
    }
    const char *hdr = j->line + 2;
    if (strcmp(hdr, "-"))
        moat_http_add_header(r, "X-Docker-Container-Path-Stat", hdr);
    if (j->kind == IO_PUT) {
        moat_engine_event(j->e, "container", "extract-to-dir", j->ctr_id, NULL);
        moat_http_reply_empty(r, 200);
    } else if (j->kind == IO_HEAD) {
        moat_http_reply_empty(r, 200);
    } else {
        if (j->kind == IO_EXPORT)
            moat_engine_event(j->e, "container", "export", j->ctr_id, NULL);
        else
            moat_engine_event(j->e, "container", "archive-path", j->ctr_id, NULL);
        int fd = j->fd;
        j->fd = -1;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        moat_http_reply_fd(r, 200, "application/x-tar", fd);
    }
}

static void job_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct io_job *j = arg;
    for (;;) {
        char ch;
        ssize_t n = read((int)fd, &ch, 1); /* byte by byte: the tar after the line stays in the pipe */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0 || ch == '\n' || j->len == sizeof j->line - 1) {
            j->line[j->len] = '\0';
            job_answer(j);
            job_maybe_free(j);
            return;
        }
        j->line[j->len++] = ch;
    }
}

static void job_exited(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct io_job *j = arg;
    if (waitpid(j->pid, NULL, WNOHANG) == 0)
        return;
    j->exited = true;
    event_del(j->pid_ev);
    job_maybe_free(j);
}

static void io_spawn(struct api_call *c, struct moat_container *ctr, struct io_ctx *x)
{
    _cleanup_error_ moat_error *e = NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        moat_err_sys(&e, "pipe");
        api_error_reply(c->req, e);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        moat_err_sys(&e, "fork");
        close(p[0]), close(p[1]);
        api_error_reply(c->req, e);
        return;
    }
    if (pid == 0) {
        close(p[0]);
        io_child(x, p[1]);
    }
    close(p[1]);
    struct io_job *j = xcalloc(1, sizeof *j);
    j->e = c->engine, j->req = c->req, j->kind = x->kind, j->pid = pid, j->fd = p[0];
    j->ctr_id = xstrdup(ctr->id);
    j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    j->rd_ev = event_new(c->engine->base, p[0], EV_READ | EV_PERSIST, job_readable, j);
    if (j->pidfd >= 0)
        j->pid_ev = event_new(c->engine->base, j->pidfd, EV_READ | EV_PERSIST, job_exited, j);
    if (!j->rd_ev || !j->pid_ev || event_add(j->rd_ev, NULL) < 0 || event_add(j->pid_ev, NULL) < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        j->exited = j->done = true;
        moat_http_reply_error(c->req, 500, "cannot watch the archive process");
        job_maybe_free(j);
        return;
    }
    moat_http_on_close(c->req, job_client_gone, j);
}

/* Fill the parts of io_ctx every kind needs; false after answering an error. */
static bool io_prepare(struct api_call *c, struct moat_container *ctr, struct io_ctx *x, bool want_path)
{
    struct moat_engine *e = c->engine;
    _cleanup_error_ moat_error *err = NULL;
    x->store = e->store;
    x->ref = c->params[0];
    x->body_fd = -1;
    if (want_path) {
        const char *p = moat_http_query(c->req, "path");
        if (!p || !p[0]) {
            moat_http_reply_error(c->req, 400, "bad parameter: path cannot be empty");
            return false;
        }
        x->path = moat_path_clean(p);
    }
    if (moat_snapshot_get(e->store, ctr->id, &x->sn, &err) < 0) {
        api_error_reply(c->req, err);
        return false;
    }
    if (e->rootless && strcmp(x->sn->driver, "copy")) {
        /* inside the container's (or the store's) user namespace: ids as they are */
        x->ids.uid[0] = x->ids.gid[0] = (struct archive_idmap){0, 0, 65536};
        x->ids.n_uid = x->ids.n_gid = 1;
        x->have_ids = x->chown = true;
        bool running = ctr->pid > 0 && (ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED ||
                                        ctr->status == CTR_RESTARTING);
        if (running)
            x->join_pid = ctr->pid;
        else
            x->in_sandbox = true;
    } else if (e->rootless) {
        struct moat_store_info info = {0};
        if (moat_store_info(e->store, &info, &err) < 0) {
            api_error_reply(c->req, err);
            return false;
        }
        x->have_ids = info.uidmap && info.gidmap &&
                      archive_idmap_parse(info.uidmap, x->ids.uid, ARCHIVE_MAX_MAPS, &x->ids.n_uid) == 0 &&
                      archive_idmap_parse(info.gidmap, x->ids.gid, ARCHIVE_MAX_MAPS, &x->ids.n_gid) == 0;
        moat_store_info_clear(&info);
    } else {
        uint32_t ub, gb, sz;
        engine_slice_range(ctr->id_slice, &ub, &gb, &sz);
        x->ids.uid[0] = (struct archive_idmap){0, ub, sz};
        x->ids.gid[0] = (struct archive_idmap){0, gb, sz};
        x->ids.n_uid = x->ids.n_gid = 1;
        x->have_ids = x->chown = true;
        if (strcmp(x->sn->driver, "copy")) {
            bool running = ctr->rootfs_mounted && (ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED ||
                                                   ctr->status == CTR_RESTARTING);
            if (running)
                x->mounted = xasprintf("%s/bundle/rootfs", ctr->dir);
            else
                x->mount_needed = true;
        }
    }
    return true;
}

static void io_ctx_clear(struct io_ctx *x)
{
    moat_snapshot_free(x->sn);
    free(x->mounted);
    free(x->path);
}

static void h_export(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    /* the whole filesystem copied out: the policy's cp rule decides, as for an archive GET */
    _cleanup_error_ moat_error *pe = NULL;
    if (ctr_admit_op(ctr, &c->who, POL_CP, NULL, NULL, &pe) < 0) {
        api_error_reply(c->req, pe);
        return;
    }
    struct io_ctx x = {.kind = IO_EXPORT};
    if (io_prepare(c, ctr, &x, false))
        io_spawn(c, ctr, &x);
    io_ctx_clear(&x);
}

static void h_archive_get(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *pe = NULL;
    if (ctr_admit_op(ctr, &c->who, POL_CP, NULL, NULL, &pe) < 0) {
        api_error_reply(c->req, pe);
        return;
    }
    struct io_ctx x = {.kind = strcmp(moat_http_method(c->req), "HEAD") ? IO_GET : IO_HEAD};
    if (io_prepare(c, ctr, &x, true))
        io_spawn(c, ctr, &x);
    io_ctx_clear(&x);
}

static void h_archive_put(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    if (ctr->req && ctr->req->readonly_rootfs) {
        moat_http_reply_error(c->req, 403, "container rootfs is marked read-only");
        return;
    }
    _cleanup_error_ moat_error *pe = NULL;
    if (ctr_admit_op(ctr, &c->who, POL_CP, NULL, NULL, &pe) < 0) {
        api_error_reply(c->req, pe);
        return;
    }
    struct io_ctx x = {.kind = IO_PUT};
    if (io_prepare(c, ctr, &x, true)) {
        x.no_overwrite = moat_http_query_bool(c->req, "noOverwriteDirNonDir", false);
        x.copy_uidgid = moat_http_query_bool(c->req, "copyUIDGID", false);
        x.body_fd = moat_http_body_fd(c->req);
        if (x.body_fd < 0)
            moat_http_reply_error(c->req, 400, "bad tar: the request has no body");
        else
            io_spawn(c, ctr, &x);
    }
    io_ctx_clear(&x);
}

/* ---- stats ------------------------------------------------------------------------------------ */
/* Small /proc and /sys files only: read on the loop. */
static char *read_small(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_read_file_at(AT_FDCWD, path, 1u << 20, &buf, &len, &e) < 0)
        return NULL;
    return buf;
}

static bool read_u64(const char *path, uint64_t *ret)
{
    _cleanup_free_ char *s = read_small(path);
    if (!s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    *ret = v;
    return true;
}

static char *fmt_path(const char *fmt, const char *a, const char *b)
{
    return xasprintf(fmt, a, b);
}

/* "key value\n" lines into a JSON object of integers. */
static struct json_object *kv_file(const char *path, uint64_t scale)
{
    _cleanup_free_ char *s = read_small(path);
    struct json_object *o = json_object_new_object();
    for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        json_object_object_add(o, l, json_object_new_int64((int64_t)(strtoull(sp + 1, NULL, 10) * scale)));
    }
    return o;
}

static uint64_t kv_get(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

static uint64_t mem_total(void)
{
    _cleanup_free_ char *s = read_small("/proc/meminfo");
    const char *p = s ? strstr(s, "MemTotal:") : NULL;
    return p ? strtoull(p + 9, NULL, 10) * 1024 : 0;
}

static uint64_t system_cpu_ns(void)
{
    _cleanup_free_ char *s = read_small("/proc/stat");
    if (!s || strncmp(s, "cpu ", 4))
        return 0;
    uint64_t sum = 0;
    char *p = s + 4;
    for (int i = 0; i < 8; i++) {
        char *end;
        sum += strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
    }
    return sum * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

struct cg_paths {
    char *mem, *cpu, *pids, *blkio; /* v1 directories */
    char *v2;
};

static void cg_paths_find(pid_t pid, struct cg_paths *p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    _cleanup_free_ char *s = read_small(path);
    for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *cgp = c2 + 1;
        if (!*ctrls) {
            bool pure = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
            p->v2 = fmt_path("/sys/fs/cgroup%s%s", pure ? "" : "/unified", cgp);
            continue;
        }
        _cleanup_free_ char *dup = xstrdup(ctrls);
        for (char *s2 = NULL, *t = strtok_r(dup, ",", &s2); t; t = strtok_r(NULL, ",", &s2)) {
            char **slot = !strcmp(t, "memory") ? &p->mem : !strcmp(t, "cpuacct") ? &p->cpu
                          : !strcmp(t, "pids") ? &p->pids : !strcmp(t, "blkio") ? &p->blkio : NULL;
            if (slot && !*slot)
                *slot = fmt_path("/sys/fs/cgroup/%s%s", t, cgp);
        }
    }
}

static void cg_paths_clear(struct cg_paths *p)
{
    free(p->mem), free(p->cpu), free(p->pids), free(p->blkio), free(p->v2);
}

static struct json_object *blkio_v1(const char *dir)
{
    _cleanup_free_ char *f = fmt_path("%s/%s", dir, "blkio.throttle.io_service_bytes_recursive");
    _cleanup_free_ char *s = read_small(f);
    if (!s) {
        free(f);
        f = fmt_path("%s/%s", dir, "blkio.throttle.io_service_bytes");
        s = read_small(f);
    }
    struct json_object *a = json_object_new_array();
    for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        unsigned maj, min;
        char op[16];
        unsigned long long v;
        if (sscanf(l, "%u:%u %15s %llu", &maj, &min, op, &v) != 4)
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "major", json_object_new_int64(maj));
        json_object_object_add(o, "minor", json_object_new_int64(min));
        json_object_object_add(o, "op", json_object_new_string(op));
        json_object_object_add(o, "value", json_object_new_int64((int64_t)v));
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *blkio_v2(const char *dir)
{
    _cleanup_free_ char *f = fmt_path("%s/%s", dir, "io.stat");
    _cleanup_free_ char *s = read_small(f);
    struct json_object *a = json_object_new_array();
    for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        unsigned maj, min;
        unsigned long long rb = 0, wb = 0;
        if (sscanf(l, "%u:%u", &maj, &min) != 2)
            continue;
        const char *r = strstr(l, "rbytes="), *w = strstr(l, "wbytes=");
        if (r)
            rb = strtoull(r + 7, NULL, 10);
        if (w)
            wb = strtoull(w + 7, NULL, 10);
        for (int i = 0; i < 2; i++) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "major", json_object_new_int64(maj));
            json_object_object_add(o, "minor", json_object_new_int64(min));
            json_object_object_add(o, "op", json_object_new_string(i ? "write" : "read"));
            json_object_object_add(o, "value", json_object_new_int64((int64_t)(i ? wb : rb)));
            json_object_array_add(a, o);
        }
    }
    return a;
}

struct usage {
    uint64_t total, kern, user, mem, limit, pids;
    struct json_object *mstats, *blkio;
};

static void usage_cgroup(pid_t pid, struct usage *u)
{
    struct cg_paths p = {0};
    cg_paths_find(pid, &p);
    _cleanup_free_ char *f = NULL;
    uint64_t tick_ns = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    if (p.mem) {
        f = fmt_path("%s/%s", p.mem, "memory.usage_in_bytes"), read_u64(f, &u->mem), free(f);
        f = fmt_path("%s/%s", p.mem, "memory.limit_in_bytes"), read_u64(f, &u->limit), free(f);
        f = fmt_path("%s/%s", p.mem, "memory.stat"), u->mstats = kv_file(f, 1), free(f);
    } else if (p.v2) {
        f = fmt_path("%s/%s", p.v2, "memory.current"), read_u64(f, &u->mem), free(f);
        f = fmt_path("%s/%s", p.v2, "memory.max"), read_u64(f, &u->limit), free(f);
        f = fmt_path("%s/%s", p.v2, "memory.stat"), u->mstats = kv_file(f, 1), free(f);
    }
    if (p.cpu) {
        f = fmt_path("%s/%s", p.cpu, "cpuacct.usage"), read_u64(f, &u->total), free(f);
        f = fmt_path("%s/%s", p.cpu, "cpuacct.stat");
        _cleanup_json_ struct json_object *st = kv_file(f, tick_ns);
        free(f);
        u->user = kv_get(st, "user"), u->kern = kv_get(st, "system");
    } else if (p.v2) {
        f = fmt_path("%s/%s", p.v2, "cpu.stat");
        _cleanup_json_ struct json_object *st = kv_file(f, 1000);
        free(f);
        u->total = kv_get(st, "usage_usec"), u->user = kv_get(st, "user_usec"), u->kern = kv_get(st, "system_usec");
    }
    if (p.pids)
        f = fmt_path("%s/%s", p.pids, "pids.current"), read_u64(f, &u->pids), free(f);
    else if (p.v2)
        f = fmt_path("%s/%s", p.v2, "pids.current"), read_u64(f, &u->pids), free(f);
    f = NULL;
    if (p.blkio)
        u->blkio = blkio_v1(p.blkio);
    else if (p.v2)
        u->blkio = blkio_v2(p.v2);
    cg_paths_clear(&p);
}

/* Rootless: no cgroup of the container's own; add up the processes of its pid namespace. */
static void usage_procs(pid_t pid, struct usage *u)
{
    char path[64], ns[64], other[64];
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
    ssize_t nl = readlink(path, ns, sizeof ns - 1);
    if (nl <= 0)
        return;
    ns[nl] = '\0';
    DIR *d = opendir("/proc");
    struct dirent *de;
    uint64_t tick_ns = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%.20s/ns/pid", de->d_name);
        ssize_t ol = readlink(path, other, sizeof other - 1);
        if (ol != nl || memcmp(other, ns, (size_t)nl))
            continue;
        u->pids++;
        snprintf(path, sizeof path, "/proc/%.20s/stat", de->d_name);
        _cleanup_free_ char *st = read_small(path);
        const char *rp = st ? strrchr(st, ')') : NULL;
        unsigned long long ut = 0, stt = 0;
        long rss = 0;
        /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
         * cutime cstime priority nice threads itrealvalue starttime vsize rss */
        if (rp && sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
                                 "%*u %*u %ld", &ut, &stt, &rss) == 3) {
            u->user += ut * tick_ns, u->kern += stt * tick_ns;
            u->mem += (uint64_t)rss * (uint64_t)page;
        }
    }
    if (d)
        closedir(d);
    u->total = u->user + u->kern;
}

static struct json_object *networks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/net/dev", (int)pid);
    _cleanup_free_ char *s = read_small(path);
    struct json_object *o = json_object_new_object();
    static const char *const keys[] = {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped", NULL, NULL, NULL, NULL,
                                       "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"};
    int ln = 0;
    for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        if (ln++ < 2)
            continue;
        char *colon = strchr(l, ':');
        if (!colon)
            continue;
        *colon = '\0';
        while (*l == ' ')
            l++;
        if (!strcmp(l, "lo"))
            continue;
        struct json_object *ifo = json_object_new_object();
        char *p = colon + 1;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            p = end;
            if (keys[i])
                json_object_object_add(ifo, keys[i], json_object_new_int64((int64_t)v));
        }
        json_object_object_add(o, l, ifo);
    }
    return o;
}

static char *now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char d[40];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%09ldZ", d, ts.tv_nsec);
}

/* One sample: read, cpu_stats, memory_stats, pids_stats, blkio_stats, networks. */
static struct json_object *stats_sample(struct moat_container *ctr)
{
    bool live = ctr->pid > 0 && (ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED);
    struct usage u = {0};
    if (live && ctr->e->rootless)
        usage_procs(ctr->pid, &u);
    else if (live)
        usage_cgroup(ctr->pid, &u);
    uint64_t mt = mem_total();
    if (!u.limit || u.limit > mt)
        u.limit = mt;
    struct json_object *o = json_object_new_object();
    _cleanup_free_ char *now = live ? now_rfc3339() : xstrdup("0001-01-01T00:00:00Z");
    json_object_object_add(o, "read", json_object_new_string(now));
    struct json_object *cpu = json_object_new_object(), *cu = json_object_new_object();
    json_object_object_add(cu, "total_usage", json_object_new_int64((int64_t)u.total));
    json_object_object_add(cu, "usage_in_kernelmode", json_object_new_int64((int64_t)u.kern));
    json_object_object_add(cu, "usage_in_usermode", json_object_new_int64((int64_t)u.user));
    json_object_object_add(cpu, "cpu_usage", cu);
    json_object_object_add(cpu, "system_cpu_usage", json_object_new_int64(live ? (int64_t)system_cpu_ns() : 0));
    json_object_object_add(cpu, "online_cpus", json_object_new_int64(live ? sysconf(_SC_NPROCESSORS_ONLN) : 0));
    json_object_object_add(cpu, "throttling_data", json_object_new_object());
    json_object_object_add(o, "cpu_stats", cpu);
    struct json_object *mem = json_object_new_object();
    if (live) {
        json_object_object_add(mem, "usage", json_object_new_int64((int64_t)u.mem));
        json_object_object_add(mem, "limit", json_object_new_int64((int64_t)u.limit));
        json_object_object_add(mem, "stats", u.mstats ? u.mstats : json_object_new_object());
        u.mstats = NULL;
    }
    json_object_object_add(o, "memory_stats", mem);
    struct json_object *pids = json_object_new_object();
    if (live)
        json_object_object_add(pids, "current", json_object_new_int64((int64_t)u.pids));
    json_object_object_add(o, "pids_stats", pids);
    struct json_object *blk = json_object_new_object();
    json_object_object_add(blk, "io_service_bytes_recursive", u.blkio);
    u.blkio = NULL;
    json_object_object_add(o, "blkio_stats", blk);
    json_object_object_add(o, "networks", live ? networks(ctr->pid) : json_object_new_object());
    json_object_put(u.mstats);
    json_object_put(u.blkio);
    return o;
}

/* The answer: the current sample with the previous one's read and cpu_stats. */
static struct json_object *stats_compose(struct moat_container *ctr, struct json_object *cur, struct json_object *prev)
{
    struct json_object *o = json_object_get(cur), *v;
    _cleanup_free_ char *nm = xasprintf("/%s", ctr->name);
    json_object_object_add(o, "name", json_object_new_string(nm));
    json_object_object_add(o, "id", json_object_new_string(ctr->id));
    json_object_object_add(o, "num_procs", json_object_new_int(0));
    json_object_object_add(o, "storage_stats", json_object_new_object());
    if (prev && json_object_object_get_ex(prev, "read", &v))
        json_object_object_add(o, "preread", json_object_get(v));
    else
        json_object_object_add(o, "preread", json_object_new_string("0001-01-01T00:00:00Z"));
    if (prev && json_object_object_get_ex(prev, "cpu_stats", &v)) {
        _cleanup_json_ struct json_object *copy = NULL;
        json_object_deep_copy(v, &copy, NULL);
        json_object_object_add(o, "precpu_stats", json_object_get(copy));
    } else {
        json_object_object_add(o, "precpu_stats", json_object_new_object());
    }
    return o;
}

struct stats_job {
    struct moat_engine *e;
    struct moat_http_req *req;
    char *id;
    bool stream;
    struct event *tm;
    struct json_object *prev;
};

static void stats_free(struct stats_job *s)
{
    if (s->tm)
        event_free(s->tm);
    json_object_put(s->prev);
    free(s->id);
    free(s);
}

static void stats_gone(struct moat_http_req *r, void *arg)
{
    (void)r;
    stats_free(arg);
}

static void stats_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct stats_job *s = arg;
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    bool found = moat_engine_find(s->e, s->id, &ctr, &e) == 0 && !strcmp(ctr->id, s->id);
    bool live = found && (ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED);
    if (!found || (s->stream && !live)) {
        moat_http_on_close(s->req, NULL, NULL);
        if (s->stream)
            moat_http_stream_end(s->req);
        else
            moat_http_reply_error(s->req, 404, "No such container: %s", s->id);
        stats_free(s);
        return;
    }
    _cleanup_json_ struct json_object *cur = stats_sample(ctr);
    _cleanup_json_ struct json_object *out = stats_compose(ctr, cur, s->prev);
    if (!s->stream) {
        moat_http_on_close(s->req, NULL, NULL);
        moat_http_reply_json(s->req, 200, out);
        stats_free(s);
        return;
    }
    if (moat_http_stream_pending(s->req) < (1u << 20)) /* a client that doesn't read skips samples */
        moat_http_stream_json(s->req, out);
    json_object_put(s->prev);
    s->prev = json_object_get(cur);
    struct timeval tv = {1, 0};
    evtimer_add(s->tm, &tv);
}

static void h_stats(struct api_call *c)
{
    struct moat_container *ctr = find(c);
    if (!ctr)
        return;
    bool stream = moat_http_query_bool(c->req, "stream", true);
    bool live = ctr->status == CTR_RUNNING || ctr->status == CTR_PAUSED;
    if (!live) { /* Docker: zeros, once */
        _cleanup_json_ struct json_object *cur = stats_sample(ctr);
        _cleanup_json_ struct json_object *out = stats_compose(ctr, cur, NULL);
        moat_http_reply_json(c->req, 200, out);
        return;
    }
    struct stats_job *s = xcalloc(1, sizeof *s);
    s->e = c->engine, s->req = c->req, s->id = xstrdup(ctr->id), s->stream = stream;
    s->prev = stats_sample(ctr);
    s->tm = evtimer_new(c->engine->base, stats_tick, s);
    struct timeval tv = {0, 200000};
    if (!s->tm || evtimer_add(s->tm, &tv) < 0) {
        stats_free(s);
        moat_http_reply_error(c->req, 500, "stats: cannot arm a timer");
        return;
    }
    moat_http_on_close(c->req, stats_gone, s);
    if (stream)
        moat_http_stream_start(c->req, 200, "application/json");
}

const struct api_route api_routes_ctr_io[] = {
    {"GET", "/containers/{id}/stats", h_stats, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/containers/{id}/export", h_export, MOAT_HTTP_BODY_MEMORY, 0, "container.export", true},
    {"GET", "/containers/{id}/archive", h_archive_get, MOAT_HTTP_BODY_MEMORY, 0, "container.archive.get", true},
    {"PUT", "/containers/{id}/archive", h_archive_put, MOAT_HTTP_BODY_SPOOL, 8ull << 30, "container.archive.put", true},
    {NULL, NULL, NULL, 0, 0},
};
