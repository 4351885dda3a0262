/* Container state: one private directory per container under the state root,
 * holding state.json (written atomically), a copy of config.json, and the exec
 * fifo while the container is "created". */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "moat/log.h"
#include "runtime/runtime_internal.h"
#include "moat/json.h"
#include "moat/util.h"

#define STATE_MAX_BYTES (1u << 20)

int valid_container_id(const char *id, moat_error **err)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return moat_err(err, EINVAL, "invalid container id '%s': 1 to 128 characters", id ? id : "");
    if (!isalnum((unsigned char)id[0]))
        return moat_err(err, EINVAL, "invalid container id '%s': must start with a letter or digit", id);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i]))
            return moat_err(err, EINVAL, "invalid container id '%s': only letters, digits, '_', '.', '-'", id);
    return 0;
}

/* Open (and create) a directory owned by us and private to us; refuse
 * anything else (symlink, other owner, group/other access). */
static int open_private_dir(const char *path, bool create, moat_error **err)
{
    if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
        /* create parents of an explicit --root */
        _cleanup_free_ char *copy = xstrdup(path);
        for (char *p = copy + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                return moat_err_sys(err, "create '%s'", copy);
            *p = '/';
        }
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return moat_err_sys(err, "create state directory '%s'", path);
    }
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open state directory '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return moat_err_sys(err, "stat '%s'", path);
    if (st.st_uid != geteuid())
        return moat_err(err, EPERM, "state directory '%s' is owned by uid %u, not by us (uid %u): refusing to use it",
                        path, st.st_uid, geteuid());
    if (st.st_mode & 077) {
        if (fchmod(fd, 0700) < 0)
            return moat_err_sys(err, "make state directory '%s' private", path);
    }
    return TAKE_FD(fd);
}

int state_root_open(const struct moat_rt_opts *o, bool create, int *ret_fd, char **ret_path, moat_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (o && o->root) {
        path = xstrdup(o->root);
    } else if (!rt_rootless()) {
        path = xstrdup("/run/moat-runtime");
    } else { /* a normal user, or uid 0 of a nested user namespace (rootless podman) */
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        if (xdg && xdg[0] == '/' && lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            !(st.st_mode & 077))
            path = xasprintf("%s/moat-runtime", xdg);
        else /* no systemd session: a private per-user directory, checked above */
            path = xasprintf("/tmp/moat-runtime-%u", userns_host_uid(geteuid()));
    }
    int fd = open_private_dir(path, create, err);
    if (fd < 0)
        return -1;
    *ret_fd = fd;
    if (ret_path)
        *ret_path = TAKE_PTR(path);
    return 0;
}

int state_seccomp_cache_open(const struct moat_rt_opts *o)
{
    if (o && o->no_seccomp_cache)
        return -1;
    _cleanup_error_ moat_error *e = NULL;
    _cleanup_close_ int root = -1;
    if (state_root_open(o, true, &root, NULL, &e) < 0)
        return -1;
    if (mkdirat(root, ".seccomp-cache", 0700) < 0 && errno != EEXIST)
        return -1;
    _cleanup_close_ int fd = openat(root, ".seccomp-cache", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
        moat_log(MOAT_LOG_DEBUG, "seccomp cache: '.seccomp-cache' in the state root is not ours and private: unused");
        return -1;
    }
    return TAKE_FD(fd);
}

int state_dir_open(const struct moat_rt_opts *o, const char *id, bool create, int *ret_fd, moat_error **err)
{
    if (valid_container_id(id, err) < 0)
        return -1;
    _cleanup_close_ int root = -1;
    if (state_root_open(o, create, &root, NULL, err) < 0)
        return -1;
    if (create) {
        if (mkdirat(root, id, 0700) < 0) {
            if (errno == EEXIST)
                return moat_err(err, EEXIST, "container '%s' already exists", id);
            return moat_err_sys(err, "create state directory for '%s'", id);
        }
    }
    int fd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return moat_err(err, ENOENT, "container '%s' does not exist", id);
        return moat_err_sys(err, "open state of container '%s'", id);
    }
    *ret_fd = fd;
    return 0;
}

void container_state_clear(struct container_state *st)
{
    free(st->id);
    free(st->bundle);
    free(st->rootfs);
    free(st->created);
    moat_cgroup_free(st->cgroup);
    for (size_t i = 0; i < st->n_annotations; i++) {
        free(st->annotations[i].key);
        free(st->annotations[i].value);
    }
    free(st->annotations);
    memset(st, 0, sizeof(*st));
}

int proc_start_time(pid_t pid, uint64_t *ret)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* comm may contain spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    p++;
    /* field 3 (state) is the first after ')'; starttime is field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EIO;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (errno || end == p + 1)
        return -EIO;
    *ret = v;
    return 0;
}

int state_pidfd(const struct container_state *st)
{
    if (st->pid <= 0)
        return -ESRCH;
    int fd = (int)syscall(SYS_pidfd_open, st->pid, 0);
    if (fd < 0)
        return -errno;
    /* The pidfd pins the process: if the start time still matches now, it is ours. */
    uint64_t start;
    if (proc_start_time(st->pid, &start) < 0 || start != st->pid_start) {
        close(fd);
        return -ESRCH;
    }
    /* A zombie counts as gone. */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)st->pid);
    _cleanup_close_ int sfd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = sfd >= 0 ? read(sfd, buf, sizeof(buf) - 1) : -1;
    if (n > 0) {
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (p && (p[2] == 'Z' || p[2] == 'X')) {
            close(fd);
            return -ESRCH;
        }
    }
    return fd;
}

const char *state_status(int dirfd, const struct container_state *st)
{
    int pfd = state_pidfd(st);
    if (pfd < 0)
        return "stopped";
    close(pfd);
    if (faccessat(dirfd, "exec.fifo", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return "created";
    bool frozen = false;
    _cleanup_error_ moat_error *e = NULL;
    if (st->cgroup && moat_cgroup_is_frozen(st->cgroup, &frozen, &e) == 0 && frozen)
        return "paused";
    return "running";
}

static struct json_object *annotations_json(const struct container_state *st)
{
    struct json_object *a = json_object_new_object();
    for (size_t i = 0; i < st->n_annotations; i++)
        json_object_object_add(a, st->annotations[i].key, json_object_new_string(st->annotations[i].value));
    return a;
}

char *state_to_oci_json(const struct container_state *st, const char *status, bool pretty)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string("1.2.0"));
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "status", json_object_new_string(status));
    json_object_object_add(o, "pid", json_object_new_int(strcmp(status, "stopped") == 0 ? 0 : st->pid));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs ? st->rootfs : ""));
    json_object_object_add(o, "created", json_object_new_string(st->created ? st->created : ""));
    struct passwd *pw = getpwuid(st->owner);
    json_object_object_add(o, "owner", json_object_new_string(pw ? pw->pw_name : ""));
    json_object_object_add(o, "annotations", annotations_json(st));
    return moat_json_dump(o, pretty);
}

int state_save(int dirfd, const struct container_state *st, moat_error **err)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
    json_object_object_add(o, "pid", json_object_new_int(st->pid));
    json_object_object_add(o, "pidStartTime", json_object_new_uint64(st->pid_start));
    json_object_object_add(o, "created", json_object_new_string(st->created));
    json_object_object_add(o, "owner", json_object_new_int64(st->owner));
    json_object_object_add(o, "rootless", json_object_new_boolean(st->rootless));
    json_object_object_add(o, "annotations", annotations_json(st));
    if (st->cgroup)
        json_object_object_add(o, "cgroup", moat_cgroup_to_json(st->cgroup));
    _cleanup_free_ char *s = moat_json_dump(o, false);
    return moat_write_file_atomic(dirfd, "state.json", s, strlen(s), 0600, err);
}

int state_load(int dirfd, const char *id, struct container_state *st, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    memset(st, 0, sizeof(*st));
    if (moat_json_parse_file_at(dirfd, "state.json", STATE_MAX_BYTES, "state.json", &o, err) < 0)
        return moat_err_wrap(err, "container '%s'", id);
    int64_t pid = 0, owner = 0;
    uint64_t start = 0;
    struct json_object *cg = NULL, *ann = NULL;
    if (moat_json_str(o, "", "id", true, &st->id, err) < 0 || moat_json_str(o, "", "bundle", true, &st->bundle, err) < 0 ||
        moat_json_str(o, "", "rootfs", false, &st->rootfs, err) < 0 ||
        moat_json_i64(o, "", "pid", true, 0, INT32_MAX, &pid, err) < 0 ||
        moat_json_u64(o, "", "pidStartTime", true, &start, err) < 0 ||
        moat_json_str(o, "", "created", false, &st->created, err) < 0 ||
        moat_json_i64(o, "", "owner", false, 0, UINT32_MAX, &owner, err) < 0 ||
        moat_json_bool(o, "", "rootless", false, &st->rootless, err) < 0 ||
        moat_json_obj(o, "", "cgroup", false, &cg, err) < 0)
        goto fail;
    st->pid = (pid_t)pid;
    st->pid_start = start;
    st->owner = (uid_t)owner;
    if (cg && moat_cgroup_from_json(cg, &st->cgroup, err) < 0)
        goto fail;
    if (moat_json_obj(o, "", "annotations", false, &ann, err) < 0)
        goto fail;
    if (ann) {
        size_t n = (size_t)json_object_object_length(ann), i = 0;
        st->annotations = xcalloc(n + 1, sizeof(*st->annotations));
        json_object_object_foreach(ann, k, v)
        {
            if (!json_object_is_type(v, json_type_string))
                continue;
            st->annotations[i].key = xstrdup(k);
            st->annotations[i].value = xstrdup(json_object_get_string(v));
            i++;
        }
        st->n_annotations = i;
    }
    if (strcmp(st->id, id) != 0) {
        moat_err(err, EINVAL, "state.json names container '%s'", st->id);
        goto fail;
    }
    return 0;
fail:
    container_state_clear(st);
    return moat_err_wrap(err, "load state of container '%s'", id);
}
