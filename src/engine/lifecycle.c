/* Container lifecycle: start (root filesystem, config.json, monitor, runtime
 * start), the monitor's exit, stop/kill/pause, restart policies, recovery
 * after an engine restart.
 *
 * The privileged steps of the engine are here, in start: mounting the
 * snapshot (as root: overlayfs with the layers id-mapped into a user
 * namespace that has the container's own id mapping, so files the image owns
 * as 0 are the container's root and no host id) and handing the bundle to the
 * runtime.  Everything after that (namespaces, mounts inside, capabilities,
 * seccomp) is the runtime's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "engine/container.h"
#include "engine/spec_internal.h"
#include "moat/policy.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/runtime.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"
#include "moat/volume.h"
#include "api/api.h"

static void monitor_exited(evutil_socket_t fd, short what, void *arg);
static void reap_later(struct moat_engine *e, struct moat_container *c);

/* ---- running helper binaries -------------------------------------------------------- */
/* Run `runtime --root R args...`; its stderr's last line becomes the error. */
int ctr_runtime(struct moat_engine *e, char *const *args, char **ret_err, moat_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    size_t n = moat_strv_len(args);
    char **argv = xcalloc(n + 4, sizeof *argv);
    argv[0] = e->runtime_path;
    argv[1] = (char *)"--root";
    argv[2] = e->runtime_root;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = args[i];
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        close(p[0]);
        close(p[1]);
        return moat_err_sys(err, "fork");
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(p[1], 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    close(p[1]);
    char buf[4096];
    size_t have = 0;
    /* The engine waits on this in its event loop: a runtime that hangs (a container's
     * cgroup stuck freezing, a wedged filesystem) is killed after a bound instead of
     * holding every other client.  Its commands (start, kill, pause, resume, delete)
     * take milliseconds. */
    bool timed_out = false;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    uint64_t deadline = moat_now_ns() + (uint64_t)e->runtime_timeout_s * 1000000000ull;
    for (;;) {
        uint64_t now = moat_now_ns();
        if (now >= deadline) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        int pr = poll(&pf, 1, (int)((deadline - now) / 1000000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            break;
        if (pr == 0)
            continue;
        ssize_t r = read(p[0], buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        if (have == sizeof buf - 1) { /* keep the tail */
            memmove(buf, buf + 2048, have - 2048);
            have -= 2048;
        }
    }
    close(p[0]);
    buf[have] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        if (ret_err)
            *ret_err = xstrdup("timed out");
        return moat_err(err, ETIMEDOUT, "moat-runtime %s did not answer in %d s and was killed", args[0],
                        e->runtime_timeout_s);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    while (have && (buf[have - 1] == '\n' || buf[have - 1] == ' '))
        buf[--have] = '\0';
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    const char *prefix = "moat-runtime: ";
    if (!strncmp(line, prefix, strlen(prefix)))
        line += strlen(prefix);
    if (ret_err)
        *ret_err = xstrdup(line);
    return moat_err(err, EIO, "%s", line[0] ? line : "moat-runtime failed");
}

/* `runtime start ID`.  With moat's own runtime the engine does it in place: a start
 * is a write to the created container's exec fifo (and its poststart hooks), the
 * same library call moat-runtime makes, and an exec of the runtime costs more than
 * the rest of it.  Another runtime (--runtime) is run. */
static int ctr_runtime_start(struct moat_engine *e, const char *id, moat_error **err)
{
    if (e->runtime_builtin) {
        struct moat_rt_opts o = {.root = e->runtime_root};
        return moat_rt_start(&o, id, err);
    }
    char *rterr = NULL;
    int rc = ctr_runtime(e, (char *const[]){(char *)"start", (char *)id, NULL}, &rterr, err);
    free(rterr);
    return rc;
}

/* ---- the runtime's delete, off the exit path ------------------------------------------ */
/* The monitor (--no-delete) reports a container's exit without running
 * `runtime delete`; the engine runs it here in the background once it has seen
 * the exit, so waiters and --rm don't wait for a runtime exec.  A start (or a
 * restart) of the same container first waits for its pending delete, so a
 * late delete can never remove the state of the next run. */
struct pending_delete {
    struct pending_delete *next;
    struct moat_engine *e;
    char *id;
    pid_t pid;
    int pidfd;
    struct event *ev;
};
static struct pending_delete *pending_deletes;

static void pending_delete_free(struct pending_delete *d, bool block)
{
    for (struct pending_delete **p = &pending_deletes; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    while (waitpid(d->pid, NULL, block ? 0 : WNOHANG) < 0 && errno == EINTR)
        ;
    if (d->ev)
        event_free(d->ev);
    if (d->pidfd >= 0)
        close(d->pidfd);
    free(d->id);
    free(d);
}

static void delete_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_delete_free(arg, true); /* the pidfd is readable: it has exited, no wait */
}

/* Wait for the pending delete of container `id`, if any (a few ms at most). */
static void delete_wait(struct moat_engine *e, const char *id)
{
    for (struct pending_delete *d = pending_deletes; d; d = d->next)
        if (d->e == e && !strcmp(d->id, id)) {
            pending_delete_free(d, true);
            return;
        }
}

/* `runtime delete --force ID` in the background when the runtime still holds a state
 * for the container (a monitor of an older engine deleted it itself). */
static void delete_async(struct moat_engine *e, const char *id)
{
    _cleanup_free_ char *rtstate = xasprintf("%s/%s", e->runtime_root, id);
    if (access(rtstate, F_OK) < 0)
        return;
    delete_wait(e, id);
    char *argv[] = {e->runtime_path, (char *)"--root", e->runtime_root, (char *)"delete", (char *)"--force",
                    (char *)id, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        _exit(127);
    }
    struct pending_delete *d = xcalloc(1, sizeof *d);
    d->e = e;
    d->pid = pid;
    d->pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    d->ev = d->pidfd >= 0 ? event_new(e->base, d->pidfd, EV_READ, delete_done, d) : NULL;
    if (pid < 0 || !d->ev || event_add(d->ev, NULL) < 0) {
        /* no background child to watch: delete in the foreground */
        if (pid > 0) {
            pending_delete_free(d, true);
        } else {
            free(d);
            _cleanup_error_ moat_error *de = NULL;
            ctr_runtime(e, (char *const[]){(char *)"delete", (char *)"--force", (char *)id, NULL}, NULL, &de);
        }
        return;
    }
    d->id = xstrdup(id);
    d->next = pending_deletes;
    pending_deletes = d;
}

/* A user namespace with the container's id mapping, for id-mapped layers. */
static int userns_for(struct moat_container *c, int *ret_fd, moat_error **err)
{
    uint32_t ub, gb, sz;
    engine_slice_range(c->id_slice, &ub, &gb, &sz);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(p[0]);
        close(p[1]);
        return moat_err_errno(err, saved, "fork");
    }
    if (pid == 0) {
        char ch;
        close(p[1]);
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(1);
        ssize_t r = read(p[0], &ch, 1);
        _exit(r < 0 ? 1 : 0);
    }
    close(p[0]);
    int rc = 0;
    char path[64], map[96];
    snprintf(map, sizeof map, "0 %u %u", ub, sz);
    /* The child must have unshared before its maps can be written. */
    for (int i = 0; i < 1000; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "/proc/%d/ns/user", (int)pid);
        ssize_t la = readlink(a, b, sizeof b - 1);
        char self[64];
        ssize_t ls = readlink("/proc/self/ns/user", self, sizeof self - 1);
        if (la > 0 && ls > 0 && (la != ls || memcmp(b, self, (size_t)la)))
            break;
        usleep(200);
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    if (moat_write_file_at(AT_FDCWD, path, map, err) < 0)
        rc = -1;
    snprintf(map, sizeof map, "0 %u %u", gb, sz);
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    if (rc == 0 && moat_write_file_at(AT_FDCWD, path, map, err) < 0)
        rc = -1;
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    int fd = rc == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == 0 && fd < 0)
        rc = moat_err_sys(err, "open '%s'", path);
    close(p[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0)
        return -1;
    *ret_fd = fd;
    return 0;
}

/* The root filesystem of a start: root.path, a read-only way in for the
 * engine's own reads (users and groups, a new volume's content) and, for a
 * rootless overlay, the snapshot whose layers moat-runtime mounts. */
struct rootfs_plan {
    char *path;
    int view;                /* O_PATH-like directory fd of the tree as the container will see it */
    struct moat_snapshot *ovl; /* rootless overlay: run.moat.overlay.* come from it */
};

static void rootfs_plan_clear(struct rootfs_plan *p)
{
    free(p->path);
    if (p->view >= 0)
        close(p->view);
    moat_snapshot_free(p->ovl);
    *p = (struct rootfs_plan){.view = -1};
}

static int mount_rootfs(struct moat_container *c, struct rootfs_plan *ret, moat_error **err)
{
    struct moat_engine *e = c->e;
    *ret = (struct rootfs_plan){.view = -1};
    struct moat_snapshot *sn = NULL;
    if (moat_snapshot_get(e->store, c->id, &sn, err) < 0)
        return moat_err_wrap(err, "the root filesystem of %.12s", c->id);
    int rc = 0;
    if (!strcmp(sn->driver, "copy")) {
        /* the copy driver's tree (rootless: already owned by the user's mapped ids) */
        ret->path = xstrdup(sn->rootfs);
        ret->view = open(sn->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ret->view < 0)
            rc = moat_err_sys(err, "open '%s'", sn->rootfs);
    } else if (e->rootless) {
        /* The engine has no mount namespace to mount in: moat-runtime mounts
         * the overlay on the empty rootfs/ inside the container's user and
         * mount namespaces; the engine reads through a read-only view. */
        ret->path = xstrdup(sn->rootfs);
        if (moat_snapshot_view(e->store, sn, &ret->view, err) < 0)
            rc = -1;
        ret->ovl = TAKE_PTR(sn);
    } else {
        _cleanup_free_ char *target = xasprintf("%s/bundle/rootfs", c->dir);
        umount2(target, MNT_DETACH);
        _cleanup_close_ int ns = -1, mfd = -1;
        struct moat_snapshot_mount_opts mo = {.userns_fd = -1};
        if (userns_for(c, &ns, err) < 0)
            rc = -1;
        mo.userns_fd = ns;
        if (rc == 0 && moat_snapshot_mount(e->store, sn, &mo, &mfd, err) < 0)
            rc = -1;
        if (rc == 0 && move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            rc = moat_err_sys(err, "move_mount the root filesystem onto '%s'", target);
        if (rc == 0) {
            c->rootfs_mounted = true;
            ret->view = open(target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (ret->view < 0)
                rc = moat_err_sys(err, "open '%s'", target);
            ret->path = TAKE_PTR(target);
        }
    }
    moat_snapshot_free(sn);
    if (rc < 0)
        rootfs_plan_clear(ret);
    return rc;
}

static void unmount_rootfs(struct moat_container *c)
{
    if (c->e->rootless)
        return;
    _cleanup_free_ char *target = xasprintf("%s/bundle/rootfs", c->dir);
    if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        moat_log(MOAT_LOG_WARN, "unmount '%s': %s", target, strerror(errno));
    c->rootfs_mounted = false;
}

static void strv_add2(char ***v, const char *a, const char *b)
{
    moat_strv_push(v, a);
    moat_strv_push(v, b);
}

/* Volumes first filled from the image (Docker's copy-up), once. */
static int populate_volumes(struct moat_container *c, int rfd, moat_error **err)
{
    if (c->populated)
        return 0;
    for (size_t i = 0; i < c->n_vols; i++) {
        struct ctr_volume *v = &c->vols[i];
        if (!v->populate || !v->name)
            continue;
        struct moat_volume vol = {0};
        if (moat_volume_get(c->e->volumes, v->name, &vol, err) < 0)
            return -1;
        int r = moat_volume_populate(c->e->volumes, &vol, rfd, v->destination, err);
        moat_volume_clear(&vol);
        if (r < 0)
            return moat_err_wrap(err, "copy the image's %s into volume %s", v->destination, v->name);
    }
    c->populated = true;
    return 0;
}

/* A bind source is checked again at every start: a path component swapped
 * for a symlink since create must not lead somewhere forbidden. */
static int recheck_binds(struct moat_container *c, moat_error **err)
{
    struct moat_engine *e = c->e;
    char *const forbidden[] = {e->socket_path, e->store_root, e->run_dir, NULL};
    for (size_t i = 0; i < c->n_vols; i++) {
        struct ctr_volume *v = &c->vols[i];
        if (strcmp(v->type, "bind"))
            continue;
        _cleanup_free_ char *now = NULL;
        if (moat_bind_source_check(v->source, false, forbidden, &now, err) < 0)
            return moat_err_wrap(err, "bind mount %s", v->destination);
        if (strcmp(now, v->source))
            return moat_err(err, EPERM, "bind mount %s: its source '%s' now resolves to '%s': refusing it",
                            v->destination, v->source, now);
    }
    return 0;
}

/* The engine starting a container by itself (a restart policy; a docker restart whose
 * requester is not known): on the audit record as "engine", under the policy of the
 * container's creator.  A docker restart's second half is its requester's. */
static struct moat_caller engine_caller(const struct moat_container *c, const char *action)
{
    return (struct moat_caller){.id = {.uid = c->creator_uid}, .id_known = c->creator_known,
                                .identity = "engine", .action = action, .object = c->id};
}

static int write_spec(struct moat_container *c, const struct moat_caller *who, const struct rootfs_plan *rp,
                      moat_error **err)
{
    if (recheck_binds(c, err) < 0)
        return -1;
    struct moat_spec_mount *mounts = xcalloc(c->n_vols + 1, sizeof *mounts);
    char ***opts = xcalloc(c->n_vols + 1, sizeof *opts);
    for (size_t i = 0; i < c->n_vols; i++) {
        struct ctr_volume *v = &c->vols[i];
        mounts[i].destination = v->destination;
        if (!strcmp(v->type, "tmpfs")) {
            mounts[i].type = "tmpfs";
            mounts[i].source = "tmpfs";
            moat_strv_push(&opts[i], "nosuid");
            moat_strv_push(&opts[i], "nodev");
            _cleanup_free_ char *o = xstrdup(v->source ? v->source : "");
            for (char *save = NULL, *t = strtok_r(o, ",", &save); t; t = strtok_r(NULL, ",", &save))
                moat_strv_push(&opts[i], t);
        } else {
            mounts[i].type = "bind";
            mounts[i].source = v->source;
            strv_add2(&opts[i], "rbind", v->rw ? "rw" : "ro");
            strv_add2(&opts[i], "nosuid", "nodev");
            if (v->mode && strstr(v->mode, "noexec"))
                moat_strv_push(&opts[i], "noexec");
            if (v->idmap)
                moat_strv_push(&opts[i], "idmap");
        }
        mounts[i].options = opts[i];
    }
    uint32_t ub, gb, sz;
    engine_slice_range(c->id_slice, &ub, &gb, &sz);
    struct moat_image img = {0};
    _cleanup_error_ moat_error *ie = NULL;
    bool have_img = moat_image_lookup(c->e->store, c->image_id, 0, &img, &ie) == 0;
    /* Start is evaluated too: the policy in force now, which builds the config; runAsNonRoot
     * judges the uid the process will really have (a name in the image's /etc/passwd may be
     * uid 0), resolved through the same confined lookup the spec builder uses. */
    bool uid_known = false;
    uint32_t uid = 0;
    {
        const char *user = c->req->user && c->req->user[0] ? c->req->user
                           : have_img && img.config && img.config->user ? img.config->user
                                                                        : "";
        struct spec_ids ids = {0};
        _cleanup_error_ moat_error *ue = NULL;
        if (rp->view >= 0 && spec_resolve_user_at(rp->view, user, NULL, &ids, &ue) == 0) {
            uid_known = true;
            uid = ids.uid;
        }
        free(ids.gids);
    }
    _cleanup_policy_ struct moat_policy *pol = NULL;
    struct json_object *admission = NULL;
    if (ctr_admit(c->e, who, c, c->req, have_img ? &img : NULL, uid_known, uid, "start", &pol, &admission, err) <
        0) {
        if (have_img)
            moat_image_clear(&img);
        for (size_t i = 0; i < c->n_vols; i++)
            moat_strv_free(opts[i]);
        free(opts);
        free(mounts);
        return -1;
    }
    if (c->admission)
        json_object_put(c->admission);
    c->admission = admission;
    for (size_t i = 0; pol->b[POL_NOEXEC] && i < c->n_vols; i++) {
        if (!moat_strv_contains(opts[i], "noexec"))
            moat_strv_push(&opts[i], "noexec");
        mounts[i].options = opts[i];
    }
    struct moat_spec_in in = {
        .policy = pol,
        .req = c->req, .image = have_img ? img.config : NULL, .container_id = c->id, .rootfs = rp->path,
        .rootfs_view = &rp->view, .overlay_lower = rp->ovl ? rp->ovl->lower : NULL,
        .overlay_upper = rp->ovl ? rp->ovl->upper : NULL, .overlay_work = rp->ovl ? rp->ovl->work : NULL,
        .rootless = c->e->rootless, .uid_base = ub, .gid_base = gb, .id_range = sz, .mounts = mounts,
        .n_mounts = c->n_vols, .cgroup_parent = c->e->rootless ? NULL : "/moat",
        .host_network = c->req->network_mode && !strcmp(c->req->network_mode, "host")};
    _cleanup_json_ struct json_object *spec = NULL;
    int rc = moat_spec_build(&in, &spec, err);
    if (have_img)
        moat_image_clear(&img);
    for (size_t i = 0; i < c->n_vols; i++)
        moat_strv_free(opts[i]);
    free(opts);
    free(mounts);
    if (rc < 0)
        return -1;
    const char *s = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);
    _cleanup_free_ char *bundle = xasprintf("%s/bundle", c->dir);
    _cleanup_close_ int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", bundle);
    /* made again at every start: no fsync */
    return moat_write_file_replace(dfd, "config.json", s, strlen(s), 0600, err);
}

/* ---- the monitor ---------------------------------------------------------------------- */
int engine_spawn_monitor(struct moat_engine *e, const char *id, const struct spawn *s, pid_t *ret_monitor,
                         pid_t *ret_pid, moat_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    char **argv = NULL;
    moat_strv_push(&argv, e->monitor_path);
    strv_add2(&argv, "--id", id);
    strv_add2(&argv, "--runtime", e->runtime_path);
    strv_add2(&argv, "--runtime-root", e->runtime_root);
    strv_add2(&argv, "--run-dir", s->run_dir);
    strv_add2(&argv, "--exit-file", s->exit_file);
    if (s->log_file)
        strv_add2(&argv, "--log-file", s->log_file);
    if (s->tty)
        moat_strv_push(&argv, "--tty");
    if (s->in)
        moat_strv_push(&argv, "--stdin");
    if (s->stdin_once)
        moat_strv_push(&argv, "--stdin-once");
    strv_add2(&argv, s->mode_flag, s->mode_arg);
    if (!strcmp(s->mode_flag, "--bundle"))
        moat_strv_push(&argv, "--no-delete"); /* after_exit deletes, off the exit path */
    strv_add2(&argv, "--sync-fd", "3");
    if (e->runtime_memfd >= 0)
        strv_add2(&argv, "--runtime-fd", "4");
    pid_t pid = fork();
    if (pid < 0) {
        moat_strv_free(argv);
        close(p[0]);
        close(p[1]);
        return moat_err_sys(err, "fork");
    }
    if (pid == 0) {
        /* the runtime copy out of the way of 0..4 first, then 4 */
        int rfd = e->runtime_memfd >= 0 ? fcntl(e->runtime_memfd, F_DUPFD_CLOEXEC, 5) : -1;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(p[1], 3) < 0)
            _exit(127);
        if (e->runtime_memfd >= 0 && (rfd < 0 || dup2(rfd, 4) < 0))
            _exit(127);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        execv(argv[0], argv);
        _exit(127);
    }
    moat_strv_free(argv);
    close(p[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char buf[8192];
    size_t have = 0;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    uint64_t deadline = moat_now_ns() + 60ull * 1000000000ull;
    while (have < sizeof buf - 1) {
        uint64_t now = moat_now_ns();
        if (now >= deadline)
            break;
        int pr = poll(&pf, 1, (int)((deadline - now) / 1000000));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(p[0], buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        if (memchr(buf, '\n', have))
            break;
    }
    close(p[0]);
    buf[have] = '\0';
    _cleanup_error_ moat_error *je = NULL;
    _cleanup_json_ struct json_object *o = NULL;
    if (!have || moat_json_parse(buf, strcspn(buf, "\n"), sizeof buf, "monitor sync", &o, &je) < 0)
        return moat_err(err, EIO, "the container monitor did not start (%s)",
                        WIFEXITED(status) ? "it exited without a word" : "it was killed");
    struct json_object *v;
    if (json_object_object_get_ex(o, "error", &v))
        return moat_err(err, EIO, "%s", json_object_get_string(v));
    *ret_monitor = json_object_object_get_ex(o, "monitor", &v) ? (pid_t)json_object_get_int(v) : 0;
    *ret_pid = json_object_object_get_ex(o, "pid", &v) ? (pid_t)json_object_get_int(v) : 0;
    return 0;
}

static int watch_monitor(struct moat_container *c)
{
    if (c->monitor_ev) {
        event_free(c->monitor_ev);
        c->monitor_ev = NULL;
    }
    if (c->monitor_pidfd >= 0) {
        close(c->monitor_pidfd);
        c->monitor_pidfd = -1;
    }
    int fd = (int)syscall(SYS_pidfd_open, c->monitor_pid, 0);
    if (fd < 0)
        return -1;
    c->monitor_pidfd = fd;
    c->monitor_ev = event_new(c->e->base, fd, EV_READ, monitor_exited, c);
    event_add(c->monitor_ev, NULL);
    return 0;
}

int ctr_start(struct moat_container *c, const struct moat_caller *who, moat_error **err)
{
    struct moat_engine *e = c->e;
    if (c->status == CTR_RUNNING || c->status == CTR_PAUSED)
        return moat_err(err, EALREADY, "container %s is already running", c->id);
    if (c->removing)
        return moat_err(err, EEXIST, "container %s is marked for removal and cannot be started", c->id);
    if (c->restart_timer) {
        event_free(c->restart_timer);
        c->restart_timer = NULL;
    }
    struct rootfs_plan rp;
    if (mount_rootfs(c, &rp, err) < 0)
        return -1;
    int prc = populate_volumes(c, rp.view, err) < 0 || write_spec(c, who, &rp, err) < 0 ? -1 : 0;
    rootfs_plan_clear(&rp); /* the view is closed before the container mounts its own overlay */
    if (prc < 0) {
        unmount_rootfs(c);
        return -1;
    }
    _cleanup_error_ moat_error *e2 = NULL;
    moat_rm_rf_at(AT_FDCWD, c->run_dir, &e2);
    if (mkdir(c->run_dir, 0700) < 0) {
        unmount_rootfs(c);
        return moat_err_sys(err, "create '%s'", c->run_dir);
    }
    _cleanup_free_ char *bundle = xasprintf("%s/bundle", c->dir);
    _cleanup_free_ char *exitf = xasprintf("%s/exit.json", c->dir);
    _cleanup_free_ char *logf = xasprintf("%s/container.log", c->dir);
    unlink(exitf);
    /* A leftover runtime state of an earlier run (engine killed mid-way); none in the usual case,
     * and then no runtime process is spent on it. */
    delete_wait(e, c->id);
    _cleanup_free_ char *rtstate = xasprintf("%s/%s", e->runtime_root, c->id);
    if (access(rtstate, F_OK) == 0)
        ctr_runtime(e, (char *const[]){(char *)"delete", (char *)"--force", c->id, NULL}, NULL, &e2);
    struct spawn s = {.mode_flag = "--bundle", .mode_arg = bundle, .run_dir = c->run_dir, .exit_file = exitf,
                      .log_file = logf, .tty = c->req->tty, .in = c->req->open_stdin,
                      /* Docker never closes a tty's stdin when an attach ends (detach must leave it running) */
                      .stdin_once = c->req->stdin_once && !c->req->tty};
    if (engine_spawn_monitor(e, c->id, &s, &c->monitor_pid, &c->pid, err) < 0) {
        unmount_rootfs(c);
        free(c->error);
        c->error = xstrdup((*err)->msg);
        /* Docker's codes for a process that could not be started */
        c->exit_code = strstr(c->error, "not found") || strstr(c->error, "No such file") ? 127 : 126;
        ctr_save(c, NULL);
        return moat_err_wrap(err, "start container %.12s", c->id);
    }
    watch_monitor(c);
    relay_connect_pending(c);
    if (ctr_runtime_start(e, c->id, err) < 0) {
        ctr_runtime(e, (char *const[]){(char *)"kill", c->id, (char *)"KILL", NULL}, NULL, &e2);
        return moat_err_wrap(err, "start container %.12s", c->id);
    }
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    free(c->started_at);
    c->started_at = xstrdup(now);
    free(c->error);
    c->error = NULL;
    c->status = CTR_RUNNING;
    c->has_run = true;
    c->manual_stop = false;
    c->oom_killed = false;
    if (ctr_save(c, err) < 0)
        moat_log(MOAT_LOG_WARN, "save container %.12s: %s", c->id, (*err)->msg);
    moat_engine_event(e, "container", "start", c->id, NULL);
    return 0;
}

/* ---- waiters -------------------------------------------------------------------------- */
static void waiter_gone(struct moat_http_req *r, void *arg)
{
    (void)r;
    struct waiter *w = arg;
    struct moat_container *c = w->c;
    for (struct waiter **p = &c->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    free(w);
}

void ctr_add_waiter(struct moat_container *c, struct moat_http_req *req, enum waiter_kind kind, bool vols)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    w->c = c;
    w->req = req;
    w->kind = kind;
    w->remove_volumes = vols;
    w->next = c->waiters;
    c->waiters = w;
    moat_http_on_close(req, waiter_gone, w);
}

void ctr_add_restart_waiter(struct moat_container *c, struct moat_http_req *req, const struct moat_caller *who)
{
    ctr_add_waiter(c, req, WAIT_RESTART, false);
    struct waiter *w = c->waiters;
    w->uid = who->id.uid;
    w->uid_known = who->id_known;
    snprintf(w->identity, sizeof w->identity, "%s", who->identity ? who->identity : "");
}

static void wait_body(struct moat_http_req *req, int code, const char *error)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "StatusCode", json_object_new_int(code));
    struct json_object *eo = NULL;
    if (error && error[0]) {
        eo = json_object_new_object();
        json_object_object_add(eo, "Message", json_object_new_string(error));
    }
    json_object_object_add(o, "Error", eo);
    moat_http_stream_json(req, o);
    moat_http_stream_end(req);
}

static void reply_err(struct moat_http_req *req, const moat_error *e)
{
    api_error_reply(req, e);
}

/* Answer every waiter that an exit (or, with removed, the removal) satisfies. */
static void wake(struct moat_container *c, bool removed)
{
    struct waiter **p = &c->waiters;
    while (*p) {
        struct waiter *w = *p;
        bool fire = w->kind == WAIT_REMOVED || w->kind == WAIT_REMOVE ? removed
                    : w->kind == WAIT_RESTART                        ? removed /* else after_exit restarts */
                                                                      : true;
        if (!fire) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        moat_http_on_close(w->req, NULL, NULL);
        switch (w->kind) {
        case WAIT_NOT_RUNNING:
        case WAIT_NEXT_EXIT:
        case WAIT_REMOVED: wait_body(w->req, c->exit_code, NULL); break;
        case WAIT_STOP:
        case WAIT_REMOVE: moat_http_reply_empty(w->req, 204); break;
        case WAIT_RESTART: moat_http_reply_error(w->req, 404, "No such container: %s", c->id); break;
        }
        free(w);
    }
}

void ctr_removed(struct moat_container *c)
{
    wake(c, true);
}

static bool has_waiter(struct moat_container *c, enum waiter_kind k)
{
    for (struct waiter *w = c->waiters; w; w = w->next)
        if (w->kind == k)
            return true;
    return false;
}

/* docker restart: the stop is done, start again and answer every restart request. */
static void restart_waiters(struct moat_container *c)
{
    _cleanup_error_ moat_error *e = NULL;
    /* the start is the restart requester's (the first, when several asked) */
    struct moat_caller who = engine_caller(c, "container.restart");
    for (struct waiter *w = c->waiters; w; w = w->next)
        if (w->kind == WAIT_RESTART && w->identity[0]) {
            who.id = (struct moat_identity){.uid = w->uid};
            who.id_known = w->uid_known;
            who.identity = w->identity;
        }
    int r = ctr_start(c, &who, &e);
    struct waiter **p = &c->waiters;
    while (*p) {
        struct waiter *w = *p;
        if (w->kind != WAIT_RESTART) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        moat_http_on_close(w->req, NULL, NULL);
        if (r < 0)
            reply_err(w->req, e);
        else
            moat_http_reply_empty(w->req, 204);
        free(w);
    }
    if (r < 0)
        ctr_start_failed(c); /* may free c */
}

static bool wants_removal(struct moat_container *c)
{
    if (c->req->auto_remove)
        return true;
    for (struct waiter *w = c->waiters; w; w = w->next)
        if (w->kind == WAIT_REMOVE)
            return true;
    return false;
}

static bool remove_volumes_requested(struct moat_container *c)
{
    if (c->req->auto_remove)
        return true; /* --rm removes anonymous volumes (Docker) */
    for (struct waiter *w = c->waiters; w; w = w->next)
        if (w->kind == WAIT_REMOVE && w->remove_volumes)
            return true;
    return false;
}

static void restart_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct moat_container *c = arg;
    _cleanup_error_ moat_error *e = NULL;
    event_free(c->restart_timer);
    c->restart_timer = NULL;
    if (c->status != CTR_RESTARTING)
        return;
    c->restart_count++;
    struct moat_caller who = engine_caller(c, "container.restart-policy");
    if (ctr_start(c, &who, &e) < 0) {
        moat_log(MOAT_LOG_WARN, "restart container %.12s: %s", c->id, e->msg);
        c->status = CTR_EXITED;
        ctr_save(c, NULL);
    }
}

static bool should_restart(struct moat_container *c)
{
    const struct moat_restart_policy *rp = &c->req->restart;
    if (c->manual_stop || !rp->name || !rp->name[0] || !strcmp(rp->name, "no"))
        return false;
    if (!strcmp(rp->name, "always") || !strcmp(rp->name, "unless-stopped"))
        return true;
    if (!strcmp(rp->name, "on-failure"))
        return c->exit_code != 0 && (rp->max_retries <= 0 || c->restart_count < rp->max_retries);
    return false;
}

static void read_exit(struct moat_container *c)
{
    _cleanup_free_ char *path = xasprintf("%s/exit.json", c->dir);
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_error_ moat_error *e = NULL;
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    free(c->finished_at);
    if (moat_json_parse_file_at(AT_FDCWD, path, 64u << 10, "exit.json", &o, &e) < 0) {
        c->exit_code = 255;
        c->finished_at = xstrdup(now);
        free(c->error);
        c->error = xstrdup("the container monitor exited without recording an exit status");
        return;
    }
    struct json_object *v;
    c->exit_code = json_object_object_get_ex(o, "ExitCode", &v) ? json_object_get_int(v) : 255;
    c->oom_killed = json_object_object_get_ex(o, "OOMKilled", &v) && json_object_get_boolean(v);
    c->finished_at = xstrdup(json_object_object_get_ex(o, "FinishedAt", &v) && json_object_get_string(v)
                                 ? json_object_get_string(v)
                                 : now);
    if (json_object_object_get_ex(o, "Error", &v) && json_object_get_string(v) && json_object_get_string(v)[0]) {
        free(c->error);
        c->error = xstrdup(json_object_get_string(v));
    }
}

/* The container's process is gone (its monitor exited). */
static void after_exit(struct moat_container *c)
{
    struct moat_engine *e = c->e;
    if (c->monitor_ev) {
        event_free(c->monitor_ev);
        c->monitor_ev = NULL;
    }
    if (c->monitor_pidfd >= 0) {
        close(c->monitor_pidfd);
        c->monitor_pidfd = -1;
    }
    if (c->stop_timer) {
        event_free(c->stop_timer);
        c->stop_timer = NULL;
    }
    read_exit(c);
    delete_async(e, c->id);
    c->pid = 0;
    c->monitor_pid = 0;
    c->status = CTR_EXITED;
    /* A restart keeps the container, even with --rm (moby). */
    bool restart = has_waiter(c, WAIT_RESTART);
    bool removal = !restart && wants_removal(c);
    bool vols = remove_volumes_requested(c);
    if (!removal) {
        /* (a container about to be removed is not saved: should the engine die first, its
         * record still says running and the next engine finds it exited and removes it) */
        unmount_rootfs(c);
        _cleanup_error_ moat_error *e1 = NULL;
        if (ctr_save(c, &e1) < 0)
            moat_log(MOAT_LOG_WARN, "save container %.12s: %s", c->id, e1->msg);
    }
    char code[16];
    snprintf(code, sizeof code, "%d", c->exit_code);
    moat_engine_event(e, "container", "die", c->id, (char *const[]){"exitCode", code, NULL});
    logs_container_exited(c);
    wake(c, false);
    if (restart) {
        restart_waiters(c);
        return;
    }
    if (removal) {
        /* Gone for every client from here on (its name is free again) and answered; the
         * unmount (a lazy umount waits for an RCU grace period) and the removal of its
         * files follow on the next turn of the loop, after the answers are written. */
        engine_drop(e, c);
        wake(c, true);
        c->reap_volumes = vols;
        reap_later(e, c);
        return;
    }
    if (should_restart(c)) {
        c->status = CTR_RESTARTING;
        ctr_save(c, NULL);
        /* Docker's back-off: 100 ms doubling per restart, at most a minute. */
        int n = c->restart_count < 10 ? c->restart_count : 10;
        long ms = 100L << n;
        if (ms > 60000)
            ms = 60000;
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        c->restart_timer = evtimer_new(e->base, restart_fire, c);
        evtimer_add(c->restart_timer, &tv);
    }
}

/* ---- removals finished after their answer --------------------------------------------- */
void engine_reap(struct moat_engine *e)
{
    while (e->n_reaping > 0) {
        struct moat_container *c = e->reaping[--e->n_reaping];
        _cleanup_error_ moat_error *err = NULL;
        if (ctr_remove(c, c->reap_volumes, &err) < 0) {
            /* kept, as Docker keeps a container it could not remove: dead */
            moat_log(MOAT_LOG_WARN, "remove container %.12s: %s", c->id, err->msg);
            c->status = CTR_DEAD;
            ctr_save(c, NULL);
            engine_add(e, c);
            continue;
        }
        ctr_free(c);
    }
}

static void reap_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    engine_reap(arg);
}

static void reap_later(struct moat_engine *e, struct moat_container *c)
{
    e->reaping = xrealloc(e->reaping, (e->n_reaping + 1) * sizeof *e->reaping);
    e->reaping[e->n_reaping++] = c;
    if (!e->reap_ev)
        e->reap_ev = evtimer_new(e->base, reap_fire, e);
    static const struct timeval now = {0, 0};
    if (!e->reap_ev || evtimer_add(e->reap_ev, &now) < 0)
        engine_reap(e);
}

static void monitor_exited(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    after_exit(arg);
}

bool ctr_start_failed(struct moat_container *c)
{
    relay_close_pending(c);
    if (!c->req->auto_remove)
        return false;
    /* --rm: a container that could not start is removed too (the CLI waits for it). */
    _cleanup_error_ moat_error *e = NULL;
    if (ctr_remove(c, true, &e) < 0) {
        moat_log(MOAT_LOG_WARN, "remove container %.12s: %s", c->id, e->msg);
        return false;
    }
    wake(c, true);
    engine_drop(c->e, c);
    ctr_free(c);
    return true;
}

/* ---- signals, stop, pause ---------------------------------------------------------------- */
int ctr_kill(struct moat_container *c, int sig, moat_error **err)
{
    if (c->status != CTR_RUNNING && c->status != CTR_PAUSED)
        return moat_err(err, EEXIST, "Container %s is not running", c->id);
    char s[16];
    snprintf(s, sizeof s, "%d", sig);
    char *rterr = NULL;
    if (ctr_runtime(c->e, (char *const[]){(char *)"kill", c->id, s, NULL}, &rterr, err) < 0) {
        /* It died and its monitor's exit is not processed yet: Docker's answer for a stopped one. */
        bool gone = rterr && (strstr(rterr, "does not exist") || strstr(rterr, "not running") || strstr(rterr, "stopped"));
        free(rterr);
        if (gone) {
            moat_error_freep(err);
            return moat_err(err, EEXIST, "Container %s is not running", c->id);
        }
        return moat_err_wrap(err, "Cannot kill container: %s", c->id);
    }
    free(rterr);
    if (c->status == CTR_PAUSED && (sig == SIGKILL || sig == SIGTERM)) {
        _cleanup_error_ moat_error *e2 = NULL; /* a frozen process can't die: thaw it */
        ctr_runtime(c->e, (char *const[]){(char *)"resume", c->id, NULL}, NULL, &e2);
    }
    char sigs[16];
    snprintf(sigs, sizeof sigs, "%d", sig);
    moat_engine_event(c->e, "container", "kill", c->id, (char *const[]){"signal", sigs, NULL});
    return 0;
}

static void stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct moat_container *c = arg;
    event_free(c->stop_timer);
    c->stop_timer = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (c->status == CTR_RUNNING || c->status == CTR_PAUSED)
        ctr_kill(c, SIGKILL, &e);
}

int ctr_stop(struct moat_container *c, int timeout, moat_error **err)
{
    if (c->status == CTR_RESTARTING) {
        c->manual_stop = true;
        c->status = CTR_EXITED;
        if (c->restart_timer) {
            event_free(c->restart_timer);
            c->restart_timer = NULL;
        }
        ctr_save(c, NULL);
        return moat_err(err, EALREADY, "container %s is not running", c->id);
    }
    if (c->status != CTR_RUNNING && c->status != CTR_PAUSED)
        return moat_err(err, EALREADY, "container %s is not running", c->id);
    c->manual_stop = true;
    ctr_save(c, NULL);
    int sig = SIGTERM;
    if (c->req->stop_signal && c->req->stop_signal[0]) {
        int s = moat_signal_parse(c->req->stop_signal);
        if (s > 0)
            sig = s;
    }
    if (timeout < 0)
        timeout = c->req->stop_timeout >= 0 ? (int)c->req->stop_timeout : 10;
    if (ctr_kill(c, timeout == 0 ? SIGKILL : sig, err) < 0) {
        /* Already dead, its monitor's exit not processed yet (a restart policy's container
         * between two runs): the stop is done once that exit arrives; manual_stop keeps the
         * policy from starting it again.  Docker's stop succeeds here too. */
        if (!err || !*err || (*err)->errnum != EEXIST)
            return -1;
        moat_error_freep(err);
        moat_engine_event(c->e, "container", "stop", c->id, NULL);
        return 0;
    }
    if (timeout > 0 && !c->stop_timer) {
        struct timeval tv = {.tv_sec = timeout};
        c->stop_timer = evtimer_new(c->e->base, stop_timeout, c);
        evtimer_add(c->stop_timer, &tv);
    }
    moat_engine_event(c->e, "container", "stop", c->id, NULL);
    return 0;
}

int ctr_pause(struct moat_container *c, bool pause, moat_error **err)
{
    if (pause && c->status != CTR_RUNNING)
        return moat_err(err, EEXIST, "Container %s is not running", c->id);
    if (!pause && c->status != CTR_PAUSED)
        return moat_err(err, EEXIST, "Container %s is not paused", c->id);
    if (ctr_runtime(c->e, (char *const[]){(char *)(pause ? "pause" : "resume"), c->id, NULL}, NULL, err) < 0)
        return -1;
    c->status = pause ? CTR_PAUSED : CTR_RUNNING;
    ctr_save(c, NULL);
    moat_engine_event(c->e, "container", pause ? "pause" : "unpause", c->id, NULL);
    return 0;
}

int ctr_update(struct moat_container *c, const char *resources, moat_error **err)
{
    if (c->status != CTR_RUNNING && c->status != CTR_PAUSED)
        return 0; /* applied at the next start from the saved HostConfig */
    _cleanup_close_ int dfd = open(c->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", c->run_dir);
    if (moat_write_file_atomic(dfd, "update.json", resources, strlen(resources), 0600, err) < 0)
        return -1;
    _cleanup_free_ char *f = xasprintf("%s/update.json", c->run_dir);
    return ctr_runtime(c->e, (char *const[]){(char *)"update", (char *)"--resources", f, c->id, NULL}, NULL, err);
}

/* ---- after an engine restart ---------------------------------------------------------- */
static bool monitor_alive(struct moat_container *c)
{
    if (c->monitor_pid <= 0)
        return false;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)c->monitor_pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* argv[0] is the monitor, and its --id is this container */
    bool is_mon = strstr(buf, "moat-monitor") != NULL;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    return is_mon && strstr(buf, c->id) != NULL;
}

void ctr_recover(struct moat_container *c)
{
    if (c->status != CTR_RUNNING && c->status != CTR_PAUSED && c->status != CTR_RESTARTING)
        return;
    if (c->status != CTR_RESTARTING && monitor_alive(c) && watch_monitor(c) == 0) {
        c->rootfs_mounted = !c->e->rootless;
        return; /* still running: the monitor's exit is watched again */
    }
    if (c->status == CTR_RESTARTING) {
        c->status = CTR_EXITED;
        if (should_restart(c)) {
            _cleanup_error_ moat_error *e = NULL;
            struct moat_caller who = engine_caller(c, "container.restart-policy");
            if (ctr_start(c, &who, &e) == 0)
                return;
        }
        ctr_save(c, NULL);
        return;
    }
    after_exit(c);
}
