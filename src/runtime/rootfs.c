/* The container's file system view: every mount target is resolved inside the
 * rootfs with the confined resolver (include/moat/path.h) and every mount is
 * attached by fd with the new mount API (fsopen/fsmount/open_tree/move_mount),
 * so nothing an image planted (symlinks at /proc, /dev, /dev/null...) can
 * redirect a mount outside the rootfs.  Runs in the container's fresh mount
 * namespace, before pivot_root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/log.h"
#include "moat/overlay.h"
#include "moat/path.h"
#include "moat/util.h"

#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif

struct rootfs_ctx {
    struct container_plan *plan;
    int rootfd;       /* the rootfs bind mount */
    int devnull; /* O_PATH fd of the host's /dev/null (verified 1:3), cloned per mask */
    bool in_userns;
    bool dev_is_tmpfs;
};

static int attach(int mfd, int tfd, const char *dest, moat_error **err)
{
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return moat_err_sys(err, "move_mount onto '%s'", dest);
    return 0;
}

static int set_attrs(int mfd, uint64_t set, uint64_t clr, bool recursive, const char *dest, moat_error **err)
{
    if (!set && !clr)
        return 0;
    struct mount_attr a = {.attr_set = set, .attr_clr = clr};
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
        return moat_err_sys(err, "mount_setattr on '%s'", dest);
    return 0;
}

static int set_propagation(int mfd, unsigned long prop, const char *dest, moat_error **err)
{
    if (!prop)
        return 0;
    struct mount_attr a = {.propagation = prop & ~(unsigned long)MS_REC};
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | ((prop & MS_REC) ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
        return moat_err_sys(err, "set propagation of '%s'", dest);
    return 0;
}

/* The kernel explains fsconfig failures in the fs context: fetch that text. */
static int fs_fail(int fsfd, const char *what, const char *dest, moat_error **err)
{
    int saved = errno;
    char buf[512];
    ssize_t n = read(fsfd, buf, sizeof(buf) - 1);
    if (n > 2) {
        buf[n] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        return moat_err(err, saved, "%s for '%s': %s (%s)", what, dest, buf + 2, strerror(saved));
    }
    return moat_err_errno(err, saved, "%s for '%s'", what, dest);
}

/* fsopen + fsconfig(data) + fsmount: a detached mount of a fresh filesystem. */
static int make_fs(const char *type, const char *source, const char *data, const char *extra, uint64_t attrs,
                   const char *dest, moat_error **err)
{
    _cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return moat_err_sys(err, "fsopen '%s' for '%s'", type, dest);
    if (source && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
        return fs_fail(fsfd, "set source", dest, err);
    const char *lists[2] = {data, extra};
    for (int l = 0; l < 2; l++) {
        if (!lists[l] || !*lists[l])
            continue;
        _cleanup_free_ char *copy = xstrdup(lists[l]);
        char *save = NULL;
        for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(opt, '=');
            int r;
            if (eq) {
                *eq = '\0';
                r = fsconfig(fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
            } else {
                r = fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
            }
            if (r < 0) {
                _cleanup_free_ char *what = xasprintf("%s option '%s'", type, opt);
                return fs_fail(fsfd, what, dest, err);
            }
        }
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fs_fail(fsfd, "create the filesystem", dest, err);
    int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned)attrs);
    if (mfd < 0)
        return moat_err_sys(err, "fsmount '%s' for '%s'", type, dest);
    return mfd;
}

static bool is_special_type(const char *t)
{
    static const char *const special[] = {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"};
    for (size_t i = 0; i < ARRAY_SIZE(special); i++)
        if (strcmp(t, special[i]) == 0)
            return true;
    return false;
}

/* Copy one directory level of the image's content into the fresh tmpfs
 * (tmpcopyup).  The source is image content: never follow its symlinks. */
static int copy_tree(int src, int dst, int depth, moat_error **err)
{
    if (depth > 64)
        return moat_err(err, ELOOP, "tmpcopyup: directory tree too deep");
    int dup_fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup_fd < 0)
        return moat_err_sys(err, "tmpcopyup: open directory");
    _cleanup_closedir_ DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return moat_err_sys(err, "tmpcopyup: fdopendir");
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(src, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return moat_err_sys(err, "tmpcopyup: stat '%s'", de->d_name);
        if (S_ISDIR(st.st_mode)) {
            if (mkdirat(dst, de->d_name, st.st_mode & 07777) < 0 && errno != EEXIST)
                return moat_err_sys(err, "tmpcopyup: mkdir '%s'", de->d_name);
            _cleanup_close_ int s2 = openat(src, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            _cleanup_close_ int d2 = openat(dst, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s2 < 0 || d2 < 0)
                return moat_err_sys(err, "tmpcopyup: open '%s'", de->d_name);
            if (copy_tree(s2, d2, depth + 1, err) < 0)
                return -1;
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(src, de->d_name, target, sizeof(target) - 1);
            if (n < 0)
                return moat_err_sys(err, "tmpcopyup: readlink '%s'", de->d_name);
            target[n] = '\0';
            if (symlinkat(target, dst, de->d_name) < 0)
                return moat_err_sys(err, "tmpcopyup: symlink '%s'", de->d_name);
        } else if (S_ISREG(st.st_mode)) {
            _cleanup_close_ int in = openat(src, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            _cleanup_close_ int out =
                openat(dst, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
            if (in < 0 || out < 0)
                return moat_err_sys(err, "tmpcopyup: copy '%s'", de->d_name);
            char buf[65536];
            ssize_t n;
            while ((n = read(in, buf, sizeof(buf))) > 0)
                if (moat_write_all(out, buf, (size_t)n) < 0)
                    return moat_err_sys(err, "tmpcopyup: write '%s'", de->d_name);
            if (n < 0)
                return moat_err_sys(err, "tmpcopyup: read '%s'", de->d_name);
        } else {
            continue; /* devices, fifos, sockets are not copied */
        }
        /* best effort: ownership may be unmapped in a user namespace */
        if (fchownat(dst, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL)
            moat_log(MOAT_LOG_DEBUG, "tmpcopyup: chown %s: %s", de->d_name, strerror(errno));
    }
    return 0;
}

static int mount_cgroup(struct rootfs_ctx *c, const struct oci_mount *m, int tfd, const char *dest, moat_error **err)
{
    struct moat_cgroup_mount *cm = NULL;
    size_t n = 0;
    if (c->plan->cgroup && moat_cgroup_mounts(c->plan->cgroup, &cm, &n, err) < 0)
        return -1;
    uint64_t ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    int rc = -1, tmp;
    if (n == 1 && cm[0].name[0] == '\0') {
        /* pure cgroup v2: a fresh cgroup2 mount shows just our cgroup namespace */
        _cleanup_error_ moat_error *e2 = NULL;
        int mfd = make_fs("cgroup2", "cgroup2", NULL, NULL, ro | (m->attr_set & ro), dest, &e2);
        if (mfd < 0) {
            mfd = open_tree(AT_FDCWD, cm[0].host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
            if (mfd < 0 || set_attrs(mfd, ro, 0, false, dest, err) < 0) {
                if (mfd < 0)
                    moat_err_sys(err, "open_tree '%s'", cm[0].host_path);
                goto out;
            }
        }
        rc = attach(mfd, tfd, dest, err);
        close(mfd);
        goto out;
    }
    /* v1 / hybrid (or nothing to show): a tmpfs holding one read-only bind per hierarchy */
    tmp = make_fs("tmpfs", "cgroup", "mode=755,size=64k", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                      dest, err);
    if (tmp < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (mkdirat(tmp, cm[i].name, 0755) < 0 && errno != EEXIST) {
            moat_err_sys(err, "mkdir '%s/%s'", dest, cm[i].name);
            close(tmp);
            goto out;
        }
        _cleanup_close_ int sub = openat(tmp, cm[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int bfd = open_tree(AT_FDCWD, cm[i].host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (sub < 0 || bfd < 0) {
            moat_err_sys(err, "bind cgroup '%s' into '%s'", cm[i].host_path, dest);
            if (bfd >= 0)
                close(bfd);
            close(tmp);
            goto out;
        }
        int r = set_attrs(bfd, ro, 0, false, dest, err);
        if (r == 0)
            r = attach(bfd, sub, dest, err);
        close(bfd);
        if (r < 0) {
            close(tmp);
            goto out;
        }
        /* "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", like on the host */
        if (strchr(cm[i].name, ',')) {
            _cleanup_free_ char *names = xstrdup(cm[i].name);
            char *save = NULL;
            for (char *p = strtok_r(names, ",", &save); p; p = strtok_r(NULL, ",", &save))
                if (symlinkat(cm[i].name, tmp, p) < 0 && errno != EEXIST)
                    moat_log(MOAT_LOG_DEBUG, "cgroup alias %s: %s", p, strerror(errno));
        }
    }
    if (set_attrs(tmp, MOUNT_ATTR_RDONLY, 0, false, dest, err) < 0 || attach(tmp, tfd, dest, err) < 0) {
        close(tmp);
        goto out;
    }
    close(tmp);
    rc = 0;
out:
    moat_cgroup_mounts_free(cm, n);
    return rc;
}

/* Open a bind source as a detached clone and set its flags.  Runs on the host
 * side as root (rootfs_preopen_binds) or, rootless, in the container process. */
static int open_bind(const struct oci_spec *spec, const struct oci_mount *m, bool in_userns, moat_error **err)
{
    unsigned fl = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->rbind ? AT_RECURSIVE : 0);
    _cleanup_close_ int mfd = -1;
    if (oci_annotation_true(spec, ANNOT_BIND_NOSYMLINKS)) {
        /* The engine resolved and checked every source (no symlink left in it); a symlink found
         * now was planted since (by a container sharing that directory): refuse it rather
         * than follow it somewhere the check never saw. */
        struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int pfd = (int)syscall(SYS_openat2, AT_FDCWD, m->source, &how, sizeof how);
        if (pfd < 0)
            return moat_err_sys(err, "open bind source '%s' for '%s'%s", m->source, m->destination,
                                errno == ELOOP ? " (a symlink appeared in it since the engine checked it)" : "");
        mfd = open_tree(pfd, "", fl | AT_EMPTY_PATH);
    } else {
        mfd = open_tree(AT_FDCWD, m->source, fl);
    }
    if (mfd < 0)
        return moat_err_sys(err, "open_tree bind source '%s' for '%s'", m->source, m->destination);
    uint64_t set = m->attr_set, clr = m->attr_clr;
    if (set_attrs(mfd, set, clr, m->recursive_attrs, m->destination, err) < 0) {
        /* Flags the host locked on the source mount (e.g. its atime mode) can't
         * be changed from a user namespace; retry without touching atime. */
        if (!in_userns || (*err)->errnum != EPERM || !(clr & MOUNT_ATTR__ATIME))
            return -1;
        moat_error_free(*err);
        *err = NULL;
        set &= ~(uint64_t)MOUNT_ATTR__ATIME;
        clr &= ~(uint64_t)MOUNT_ATTR__ATIME;
        if (set_attrs(mfd, set, clr, m->recursive_attrs, m->destination, err) < 0)
            return -1;
    }
    /* Hardening beyond the OCI letter: "ro" (and nosuid, nodev, noexec, nosymfollow) on an
     * rbind holds for the whole tree, so a host submount under a read-only volume (a tmpfs,
     * /dev/shm under /dev...) is read-only inside too, as Docker's `-v SRC:DST:ro` is.  Only
     * restrictions go down the tree; a clearing option ("rw", "suid"...) stays on the top
     * mount unless it was asked recursively ("rrw"...), so a read-only host submount is never
     * made writable. */
    uint64_t down = set & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                           MOUNT_ATTR_NOSYMFOLLOW);
    if (m->rbind && !m->recursive_attrs && set_attrs(mfd, down, 0, true, m->destination, err) < 0)
        return -1;
    return TAKE_FD(mfd);
}

int rootfs_preopen_binds(struct container_plan *plan, moat_error **err)
{
    const struct oci_spec *spec = plan->spec;
    plan->bind_fds = xcalloc(spec->n_mounts + 1, sizeof(int));
    for (size_t i = 0; i < spec->n_mounts; i++)
        plan->bind_fds[i] = -1;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct oci_mount *m = &spec->mounts[i];
        if (!m->bind)
            continue;
        if (m->idmap && m->n_uid_mappings)
            return moat_err(err, ENOTSUP,
                            "'%s': explicit mount id mappings are not supported; the idmap option maps to the "
                            "container's own user namespace",
                            m->destination);
        if (m->idmap && !spec->linux_.ns[OCI_NS_USER].present)
            return moat_err(err, EINVAL, "'%s': an idmap mount needs a user namespace", m->destination);
        plan->bind_fds[i] = open_bind(spec, m, false, err);
        if (plan->bind_fds[i] < 0)
            return moat_err_wrap(err, "mount %zu", i);
    }
    return 0;
}

int rootfs_idmap_binds(struct container_plan *plan, pid_t userns_pid, moat_error **err)
{
    const struct oci_spec *spec = plan->spec;
    _cleanup_close_ int ns = -1;
    for (size_t i = 0; plan->bind_fds && i < spec->n_mounts; i++) {
        const struct oci_mount *m = &spec->mounts[i];
        if (!m->idmap || plan->bind_fds[i] < 0)
            continue;
        if (ns < 0) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)userns_pid);
            if ((ns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return moat_err_sys(err, "open '%s'", path);
        }
        struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns};
        if (mount_setattr(plan->bind_fds[i], "", AT_EMPTY_PATH | (m->ridmap ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
            return moat_err_sys(err, "id-map the mount '%s'", m->destination);
    }
    return 0;
}

static int mount_bind(struct rootfs_ctx *c, const struct oci_mount *m, int mfd, int tfd, const char *dest,
                      moat_error **err)
{
    if (m->idmap && c->plan->rootless)
        return moat_err(err, EPERM, "'%s': id-mapped mounts need root on the host", dest);
    if (attach(mfd, tfd, dest, err) < 0)
        return -1;
    return set_propagation(mfd, m->propagation ? m->propagation : MS_PRIVATE | (m->rbind ? MS_REC : 0), dest, err);
}

/* The namespace a fresh sysfs/proc/mqueue instance is tied to is the host's
 * (not created for the container): only then may the host's instance be bound.
 * A pid or ipc namespace joined by path counts as the host's only if it is
 * (the runtime's own, compared by inode): it is often someone else's (a holder
 * process, another container), and the host's /proc bound for it would show
 * the host's processes in place of that namespace's, /dev/mqueue the host's
 * queues.  A network namespace joined by path keeps the host's /sys, as with
 * runc and crun: engines make the netns as root and hand its path to a
 * container with a user namespace that can never mount sysfs for it; the
 * bound /sys is read-only and what it shows of other namespaces is the host's
 * devices, not their processes or data. */
/* The namespace a filesystem type's fresh instance belongs to, or -1. */
static int fs_ns_kind(const char *type)
{
    return !strcmp(type, "sysfs") ? OCI_NS_NET : !strcmp(type, "proc") ? OCI_NS_PID : !strcmp(type, "mqueue") ? OCI_NS_IPC : -1;
}

static bool shares_host_ns(const struct rootfs_ctx *c, const char *type)
{
    const struct oci_namespace *ns = c->plan->spec->linux_.ns;
    int k = fs_ns_kind(type);
    if (k < 0)
        return false;
    if (!ns[k].present || (ns[k].path && k == OCI_NS_NET))
        return true;
    if (!ns[k].path)
        return false;
    uint64_t host = k == OCI_NS_PID ? c->plan->host_pidns_ino : c->plan->host_ipcns_ino;
    return host && ns_inode(k == OCI_NS_PID ? "/proc/self/ns/pid" : "/proc/self/ns/ipc") == host;
}

/* The namespace given by path for a filesystem of this type, or NULL. */
static const char *joined_ns_path(const struct rootfs_ctx *c, const char *type, const char **name)
{
    const struct oci_namespace *ns = c->plan->spec->linux_.ns;
    int k = fs_ns_kind(type);
    if (k < 0 || k == OCI_NS_NET || !ns[k].present || !ns[k].path)
        return NULL;
    *name = oci_ns_names[k];
    return ns[k].path;
}

static int mount_filesystem(struct rootfs_ctx *c, const struct oci_mount *m, int tfd, const char *dest,
                            moat_error **err)
{
    const char *type = m->type;
    _cleanup_free_ char *label = NULL;
    if (!strcmp(type, "tmpfs") || !strcmp(type, "mqueue") || !strcmp(type, "devpts"))
        label = moat_lsm_mount_option(&c->plan->lsm);
    uint64_t attrs = m->attr_set & ~(uint64_t)MOUNT_ATTR_IDMAP;
    _cleanup_error_ moat_error *first = NULL;
    int mfd = make_fs(type, m->source ? m->source : type, m->data, label, attrs, dest, &first);
    if (mfd < 0 && !strcmp(type, "devpts") && first->errnum == EINVAL && strstr(m->data, "gid=")) {
        /* gid=5 is meaningless when gid 5 is not mapped in the user namespace */
        _cleanup_free_ char *data = xstrdup("");
        _cleanup_free_ char *copy = xstrdup(m->data);
        char *save = NULL;
        for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            if (moat_str_has_prefix(o, "gid="))
                continue;
            char *t = xasprintf("%s%s%s", data, *data ? "," : "", o);
            free(data);
            data = t;
        }
        moat_error_free(first);
        first = NULL;
        mfd = make_fs(type, m->source ? m->source : type, data, label, attrs, dest, &first);
    }
    if (mfd < 0 && first->errnum == EPERM && shares_host_ns(c, type)) {
        /* In a user namespace without its own network (sysfs), IPC (mqueue) or
         * pid (proc) namespace, the kernel refuses a fresh instance: the config
         * asked to share the host's, so bind the host's, with at least the
         * requested flags plus nosuid/nodev/noexec. */
        const char *host = !strcmp(type, "sysfs") ? "/sys" : !strcmp(type, "proc") ? "/proc" : "/dev/mqueue";
        mfd = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (mfd < 0) {
            *err = TAKE_PTR(first);
            return moat_err_wrap(err, "bind fallback '%s' failed too (%s)", host, strerror(errno));
        }
        if (set_attrs(mfd, attrs | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, true, dest, err) < 0) {
            close(mfd);
            return -1;
        }
    }
    if (mfd < 0) {
        *err = TAKE_PTR(first);
        const char *nsname = NULL, *nspath = joined_ns_path(c, type, &nsname);
        if ((*err)->errnum == EPERM && nspath)
            return moat_err_wrap(err,
                                 "the %s namespace '%s' is not the host's and belongs to a user namespace the "
                                 "container is not in (join that user namespace too)",
                                 nsname, nspath);
        return -1;
    }
    _cleanup_close_ int owned = mfd;
    if (m->tmpcopyup && !strcmp(type, "tmpfs")) {
        _cleanup_close_ int src = moat_open_in_root(c->rootfd, dest, O_RDONLY | O_DIRECTORY, 0, 0, err);
        if (src < 0)
            return moat_err_wrap(err, "tmpcopyup");
        _cleanup_close_ int dst = openat(owned, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dst < 0 || copy_tree(src, dst, 0, err) < 0)
            return dst < 0 ? moat_err_sys(err, "tmpcopyup into '%s'", dest) : moat_err_wrap(err, "'%s'", dest);
    }
    if (attach(owned, tfd, dest, err) < 0)
        return -1;
    return set_propagation(owned, m->propagation, dest, err);
}

static int do_mount(struct rootfs_ctx *c, size_t idx, moat_error **err)
{
    const struct oci_mount *m = &c->plan->spec->mounts[idx];
    _cleanup_free_ char *dest = moat_path_clean(m->destination);
    const char *type = m->type ? m->type : "bind";
    _cleanup_close_ int bfd = -1;
    if (!m->bind && (!strcmp(type, "tmpfs") && !strcmp(dest, "/dev")))
        c->dev_is_tmpfs = true;
    bool dir = true;
    if (m->bind) {
        if (c->plan->bind_fds && c->plan->bind_fds[idx] >= 0)
            bfd = TAKE_FD(c->plan->bind_fds[idx]);
        else if ((bfd = open_bind(c->plan->spec, m, c->in_userns, err)) < 0)
            return -1;
        struct stat st;
        if (fstat(bfd, &st) < 0)
            return moat_err_sys(err, "stat bind source '%s'", m->source);
        dir = S_ISDIR(st.st_mode);
    }
    /* Special filesystems must land on a real directory: no symlink anywhere on
     * the way (runc CVE-2019-19921 / CVE-2023-27561 class). */
    unsigned rf = (!m->bind && is_special_type(type)) ? MOAT_RESOLVE_NO_SYMLINKS : 0;
    _cleanup_close_ int tfd = moat_ensure_in_root(c->rootfd, dest, dir, 0755, rf, err);
    if (tfd < 0) {
        if (rf && *err && (*err)->errnum == ELOOP)
            return moat_err(err, ELOOP, "mount '%s' (%s): the target in the rootfs is or goes through a symlink; "
                                        "it must be an ordinary directory", dest, type);
        if (rf && *err && ((*err)->errnum == ENOTDIR || (*err)->errnum == EEXIST))
            return moat_err(err, ENOTDIR, "mount '%s' (%s): the target in the rootfs is not a directory (an image "
                                          "planted a file there); it must be an ordinary directory", dest, type);
        return moat_err_wrap(err, "mount target");
    }
    if (m->bind)
        return mount_bind(c, m, bfd, tfd, dest, err);
    if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2"))
        return mount_cgroup(c, m, tfd, dest, err);
    return mount_filesystem(c, m, tfd, dest, err);
}

/* ---- /dev ------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned major, minor;
} default_devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

static int bind_host_device(int dirfd, const char *name, const char *host_path, const char *dest, moat_error **err)
{
    int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0; /* something (a config mount) is already there */
        return moat_err_sys(err, "create '%s'", dest);
    }
    close(fd);
    _cleanup_close_ int tfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int mfd = open_tree(AT_FDCWD, host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tfd < 0 || mfd < 0)
        return moat_err_sys(err, "bind '%s' onto '%s'", host_path, dest);
    return attach(mfd, tfd, dest, err);
}

static int make_device(struct rootfs_ctx *c, int dirfd, const char *name, char type, unsigned major, unsigned minor,
                       mode_t mode, uid_t uid, gid_t gid, const char *dest, moat_error **err)
{
    if (c->in_userns || c->plan->rootless) {
        /* mknod is not allowed in a user namespace: bind the host's node,
         * after checking it is the device the config describes. */
        struct stat st;
        if (stat(dest, &st) < 0)
            return moat_err_sys(err, "device '%s' must exist on the host to be bound in a user namespace", dest);
        bool chr = type == 'c' || type == 'u';
        if ((chr ? !S_ISCHR(st.st_mode) : !S_ISBLK(st.st_mode)) || major(st.st_rdev) != major ||
            minor(st.st_rdev) != minor)
            return moat_err(err, EINVAL, "host '%s' is not device %c %u:%u", dest, type, major, minor);
        return bind_host_device(dirfd, name, dest, dest, err);
    }
    mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    if (mknodat(dirfd, name, fmt | (mode & 07777), makedev(major, minor)) < 0) {
        if (errno == EEXIST)
            return 0;
        return moat_err_sys(err, "mknod '%s'", dest);
    }
    if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(dirfd, name, mode & 07777, 0) < 0)
        return moat_err_sys(err, "set owner and mode of '%s'", dest);
    return 0;
}

static int setup_dev(struct rootfs_ctx *c, moat_error **err)
{
    const struct oci_linux *lx = &c->plan->spec->linux_;
    if (c->dev_is_tmpfs) {
        _cleanup_close_ int dev = moat_open_in_root(c->rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0, MOAT_RESOLVE_NO_SYMLINKS, err);
        if (dev < 0)
            return -1;
        for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
            char dest[32];
            snprintf(dest, sizeof(dest), "/dev/%s", default_devices[i].name);
            if (make_device(c, dev, default_devices[i].name, 'c', default_devices[i].major, default_devices[i].minor,
                            0666, 0, 0, dest, err) < 0)
                return -1;
        }
        static const char *const links[][2] = {{"fd", "/proc/self/fd"},      {"stdin", "/proc/self/fd/0"},
                                               {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
                                               {"ptmx", "pts/ptmx"}};
        for (size_t i = 0; i < ARRAY_SIZE(links); i++)
            if (symlinkat(links[i][1], dev, links[i][0]) < 0 && errno != EEXIST)
                return moat_err_sys(err, "symlink /dev/%s", links[i][0]);
        if (mkdirat(dev, "shm", 01777) < 0 && errno != EEXIST)
            return moat_err_sys(err, "mkdir /dev/shm");
        if (mkdirat(dev, "pts", 0755) < 0 && errno != EEXIST)
            return moat_err_sys(err, "mkdir /dev/pts");
    }
    for (size_t i = 0; i < lx->n_devices; i++) {
        const struct oci_device *d = &lx->devices[i];
        _cleanup_free_ char *clean = moat_path_clean(d->path);
        _cleanup_free_ char *parent = NULL, *base = NULL;
        moat_path_split(clean, &parent, &base);
        _cleanup_close_ int pfd = moat_mkdirs_in_root(c->rootfd, parent, 0755, 0, err);
        if (pfd < 0)
            return moat_err_wrap(err, "device '%s'", clean);
        _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return moat_err_sys(err, "open parent of '%s'", clean);
        if (make_device(c, dfd, base, d->type, (unsigned)d->major, (unsigned)d->minor,
                        d->has_file_mode ? d->file_mode : 0666, d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0, clean,
                        err) < 0)
            return -1;
    }
    return 0;
}

/* ---- sysctl ------------------------------------------------------------ */

static const char *const ipc_sysctls[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};

static int check_sysctl(struct rootfs_ctx *c, const char *key, moat_error **err)
{
    const struct oci_linux *lx = &c->plan->spec->linux_;
    bool ipc = moat_str_has_prefix(key, "fs.mqueue.");
    for (size_t i = 0; i < ARRAY_SIZE(ipc_sysctls); i++)
        ipc |= !strcmp(key, ipc_sysctls[i]);
    if (ipc) {
        if (!lx->ns[OCI_NS_IPC].present)
            return moat_err(err, EPERM, "sysctl '%s' needs the container's own ipc namespace", key);
        return 0;
    }
    if (moat_str_has_prefix(key, "net.")) {
        if (!lx->ns[OCI_NS_NET].present || ns_inode("/proc/self/ns/net") == c->plan->host_netns_ino)
            return moat_err(err, EPERM, "sysctl '%s' needs the container's own network namespace", key);
        return 0;
    }
    if (!strcmp(key, "kernel.hostname") || !strcmp(key, "kernel.domainname")) {
        if (!lx->ns[OCI_NS_UTS].present)
            return moat_err(err, EPERM, "sysctl '%s' needs the container's own uts namespace", key);
        return 0;
    }
    return moat_err(err, EPERM, "sysctl '%s' is not namespaced: a container may not change it for the whole host",
                    key);
}

static int apply_sysctls(struct rootfs_ctx *c, moat_error **err)
{
    const struct oci_linux *lx = &c->plan->spec->linux_;
    if (!lx->n_sysctl)
        return 0;
    /* Only a fresh procfs that we mounted at /proc is written to. */
    _cleanup_close_ int proc = moat_open_in_root(c->rootfd, "/proc", O_RDONLY | O_DIRECTORY, 0, MOAT_RESOLVE_NO_SYMLINKS, err);
    struct statfs sfs;
    if (proc < 0 || fstatfs(proc, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
        return moat_err(err, EINVAL, "sysctls need a proc mount at /proc");
    for (size_t i = 0; i < lx->n_sysctl; i++) {
        const char *key = lx->sysctl[i].key;
        if (check_sysctl(c, key, err) < 0)
            return -1;
        _cleanup_free_ char *rel = xasprintf("sys/%s", key);
        for (char *p = rel + 4; *p; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_close_ int fd = openat(proc, rel, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "sysctl '%s'", key);
        const char *v = lx->sysctl[i].value;
        if (moat_write_all(fd, v, strlen(v)) < 0)
            return moat_err_sys(err, "set sysctl '%s' to '%s'", key, v);
    }
    return 0;
}

/* ---- masked and read-only paths ---------------------------------------- */

static int mask_paths(struct rootfs_ctx *c, moat_error **err)
{
    char **paths = c->plan->spec->linux_.masked_paths;
    for (size_t i = 0; paths && paths[i]; i++) {
        _cleanup_error_ moat_error *e = NULL;
        _cleanup_close_ int tfd = moat_open_in_root(c->rootfd, paths[i], O_PATH, 0, MOAT_RESOLVE_NO_FOLLOW_LAST, &e);
        if (tfd < 0) {
            if (e->errnum == ENOENT || e->errnum == ENOTDIR)
                continue;
            *err = TAKE_PTR(e);
            return moat_err_wrap(err, "mask");
        }
        struct stat st;
        if (fstat(tfd, &st) < 0)
            return moat_err_sys(err, "stat masked path '%s'", paths[i]);
        /* Each mask is a mount of its own: kernels before 6.15 refuse to
         * clone a detached mount (EINVAL), so no clones of one empty tmpfs. */
        int mfd;
        if (S_ISDIR(st.st_mode)) {
            mfd = make_fs("tmpfs", "tmpfs", "size=4k,mode=0555", NULL,
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, paths[i], err);
            if (mfd < 0)
                return -1;
        } else if (S_ISLNK(st.st_mode)) {
            continue; /* a symlink shows nothing by itself; its target is masked on its own */
        } else {
            /* The host's /dev/null, opened and verified before any image content
             * could influence it (CVE-2025-31133 class). */
            mfd = open_tree(c->devnull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
            if (mfd < 0)
                return moat_err_sys(err, "prepare mask for '%s'", paths[i]);
        }
        int r = set_attrs(mfd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0, false, paths[i], err);
        if (r == 0)
            r = attach(mfd, tfd, paths[i], err);
        close(mfd);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int readonly_paths(struct rootfs_ctx *c, moat_error **err)
{
    char **paths = c->plan->spec->linux_.readonly_paths;
    for (size_t i = 0; paths && paths[i]; i++) {
        _cleanup_error_ moat_error *e = NULL;
        _cleanup_close_ int tfd = moat_open_in_root(c->rootfd, paths[i], O_PATH, 0, MOAT_RESOLVE_NO_FOLLOW_LAST, &e);
        if (tfd < 0) {
            if (e->errnum == ENOENT || e->errnum == ENOTDIR)
                continue;
            *err = TAKE_PTR(e);
            return moat_err_wrap(err, "read-only path");
        }
        _cleanup_close_ int mfd = open_tree(tfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (mfd < 0)
            return moat_err_sys(err, "open_tree read-only path '%s'", paths[i]);
        if (set_attrs(mfd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, true,
                      paths[i], err) < 0 ||
            attach(mfd, tfd, paths[i], err) < 0)
            return -1;
    }
    return 0;
}

/* ---- the whole sequence ------------------------------------------------- */

/* The host's /dev/null as an O_PATH fd on its mount in our namespace (masks
 * clone it; a detached clone could not be cloned again before Linux 6.15). */
static int open_host_devnull(moat_error **err)
{
    struct stat st;
    _cleanup_close_ int fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return moat_err_sys(err, "open the host's /dev/null");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
        return moat_err(err, EINVAL, "the host's /dev/null is not the null device");
    return TAKE_FD(fd);
}

static int do_pivot(struct rootfs_ctx *c, moat_error **err)
{
    if (fchdir(c->rootfd) < 0)
        return moat_err_sys(err, "chdir into the rootfs");
    /* pivot_root(".", "."): the old root ends up stacked on "/" and is detached. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return moat_err_sys(err, "pivot_root into '%s'", c->plan->rootfs);
    if (umount2(".", MNT_DETACH) < 0)
        return moat_err_sys(err, "detach the old root");
    if (chdir("/") < 0)
        return moat_err_sys(err, "chdir /");
    return 0;
}

/* ---- run.moat.overlay.* ---------------------------------------------------------------------- */

#define OVL_LOWER "run.moat.overlay.lowerdir"
#define OVL_UPPER "run.moat.overlay.upperdir"
#define OVL_WORK "run.moat.overlay.workdir"

void rootfs_overlay_free(struct rootfs_overlay *o)
{
    if (!o)
        return;
    moat_strv_free(o->lower);
    free(o->upper);
    free(o->work);
    free(o);
}

static int overlay_dir(const char *key, const char *path, int *ret_fd, moat_error **err)
{
    if (path[0] != '/' || strchr(path, ',') || strlen(path) >= PATH_MAX)
        return moat_err(err, EINVAL, "config.json: /annotations/%s: '%.200s' is not an absolute path without ','",
                        key, path);
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "config.json: /annotations/%s: '%.200s'", key, path);
    *ret_fd = fd;
    return 0;
}

int rootfs_overlay_prepare(const struct oci_spec *spec, struct rootfs_overlay **ret, moat_error **err)
{
    *ret = NULL;
    const char *lower = oci_annotation(spec, OVL_LOWER), *upper = oci_annotation(spec, OVL_UPPER),
               *work = oci_annotation(spec, OVL_WORK);
    if (!lower) {
        if (upper || work)
            return moat_err(err, EINVAL, "config.json: /annotations: %s needs %s", upper ? OVL_UPPER : OVL_WORK,
                            OVL_LOWER);
        return 0;
    }
    if (!upper != !work)
        return moat_err(err, EINVAL, "config.json: /annotations: %s and %s go together", OVL_UPPER, OVL_WORK);
    struct rootfs_overlay *o = xcalloc(1, sizeof(*o));
    o->lower = xcalloc(1, sizeof(char *));
    int rc = 0;
    _cleanup_free_ char *copy = xstrdup(lower);
    for (char *save = NULL, *t = strtok_r(copy, ":", &save); t && rc == 0; t = strtok_r(NULL, ":", &save)) {
        if (moat_strv_len(o->lower) >= MOAT_OVERLAY_MAX_LAYERS) {
            rc = moat_err(err, E2BIG, "config.json: /annotations/%s: more than %d layers", OVL_LOWER,
                          MOAT_OVERLAY_MAX_LAYERS);
            break;
        }
        moat_strv_push(&o->lower, t);
    }
    o->n_lower = moat_strv_len(o->lower);
    if (rc == 0 && o->n_lower == 0)
        rc = moat_err(err, EINVAL, "config.json: /annotations/%s: no layer", OVL_LOWER);
    /* checked now, so a bad path is one clear error before anything starts */
    int fd = -1;
    for (size_t i = 0; rc == 0 && i < o->n_lower; i++)
        if ((rc = overlay_dir(OVL_LOWER, o->lower[i], &fd, err)) == 0)
            close(fd);
    if (rc == 0 && upper) {
        o->upper = xstrdup(upper);
        o->work = xstrdup(work);
        if ((rc = overlay_dir(OVL_UPPER, upper, &fd, err)) == 0)
            close(fd);
        if (rc == 0 && (rc = overlay_dir(OVL_WORK, work, &fd, err)) == 0)
            close(fd);
    }
    if (rc < 0) {
        rootfs_overlay_free(o);
        return -1;
    }
    *ret = o;
    return 0;
}

/* The overlay, made here: in the container's user namespace (it owns this
 * mount namespace, so a normal user may mount overlayfs) and before anything
 * is mounted beneath root.path.  overlayfs takes only layers whose mounts are
 * in the mounter's own namespace, so the directories are opened again here
 * (the same paths: nothing has been mounted over them yet). */
static int mount_overlay_root(const struct rootfs_overlay *o, int *ret, moat_error **err)
{
    struct moat_overlay_dir *lower = xcalloc(o->n_lower, sizeof(*lower));
    int upper_fd = -1, work_fd = -1, rc = 0;
    for (size_t i = 0; i < o->n_lower; i++)
        lower[i] = (struct moat_overlay_dir){-1, o->lower[i]};
    for (size_t i = 0; i < o->n_lower && rc == 0; i++)
        rc = overlay_dir(OVL_LOWER, o->lower[i], &lower[i].fd, err);
    if (rc == 0 && o->upper) {
        rc = overlay_dir(OVL_UPPER, o->upper, &upper_fd, err);
        if (rc == 0)
            rc = overlay_dir(OVL_WORK, o->work, &work_fd, err);
    }
    struct moat_overlay_dir up = {upper_fd, o->upper}, wk = {work_fd, o->work};
    if (rc == 0)
        rc = moat_overlay_mount(lower, o->n_lower, o->upper ? &up : NULL, o->upper ? &wk : NULL, MOUNT_ATTR_NODEV,
                                ret, err);
    for (size_t i = 0; i < o->n_lower; i++)
        if (lower[i].fd >= 0)
            close(lower[i].fd);
    if (upper_fd >= 0)
        close(upper_fd);
    if (work_fd >= 0)
        close(work_fd);
    free(lower);
    return rc < 0 ? moat_err_wrap(err, "the root filesystem (%s)", OVL_LOWER) : 0;
}

int rootfs_setup(struct container_plan *plan, rootfs_hook_cb hooks_cb, moat_error **err)
{
    const struct oci_spec *spec = plan->spec;
    struct rootfs_ctx c = {.plan = plan, .rootfd = -1, .devnull = -1};
    c.in_userns = spec->linux_.ns[OCI_NS_USER].present;
    int rc = -1;

    /* Nothing we mount may propagate back to the host. */
    unsigned long prop = spec->linux_.rootfs_propagation;
    unsigned long first = (prop & (MS_SHARED | MS_SLAVE)) ? MS_SLAVE : MS_PRIVATE;
    if (mount(NULL, "/", NULL, MS_REC | first, NULL) < 0)
        return moat_err_sys(err, "make the mount namespace private");
    /* The working directory is the rootfs (stage 1 went there with the
     * runtime's credentials): bind it onto itself, by fd, without walking the
     * host path, and keep the new mount's fd as the root of everything below. */
    if (plan->overlay) {
        if (mount_overlay_root(plan->overlay, &c.rootfd, err) < 0)
            return -1;
    } else {
        c.rootfd = open_tree(AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (c.rootfd < 0)
            return moat_err_sys(err, "bind the rootfs '%s'", plan->rootfs);
    }
    if (move_mount(c.rootfd, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        moat_err_sys(err, "mount the rootfs '%s'", plan->rootfs);
        close(c.rootfd);
        return -1;
    }
    c.devnull = open_host_devnull(err);
    if (c.devnull < 0)
        goto out;

    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (do_mount(&c, i, err) < 0) {
            moat_err_wrap(err, "mount %zu ('%s')", i, spec->mounts[i].destination);
            goto out;
        }
    }
    if (setup_dev(&c, err) < 0 || apply_sysctls(&c, err) < 0)
        goto out;
    if (hooks_cb && hooks_cb(plan, err) < 0)
        goto out;
    if (mask_paths(&c, err) < 0 || readonly_paths(&c, err) < 0)
        goto out;
    if (do_pivot(&c, err) < 0)
        goto out;
    if (spec->root_readonly) {
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof(a)) < 0) {
            moat_err_sys(err, "make the rootfs read-only");
            goto out;
        }
    }
    if (prop && mount(NULL, "/", NULL, prop, NULL) < 0) {
        moat_err_sys(err, "set rootfs propagation");
        goto out;
    }
    rc = 0;
out:
    if (c.rootfd >= 0)
        close(c.rootfd);
    if (c.devnull >= 0)
        close(c.devnull);
    return rc;
}
