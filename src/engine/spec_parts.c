/* Parts of the spec builder (spec.c): the process user from the rootfs's
 * /etc/passwd and /etc/group, rlimits, cgroup resources and mounts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/policy.h"
#include "moat/json.h"
#include "moat/path.h"
#include "moat/util.h"
#include "spec_internal.h"

#define MAX_ETC_FILE (4u << 20)
#define MAX_GIDS 1024

/* ---- users and groups ----------------------------------------------------------------- */

/* /etc/passwd or /etc/group inside the root, bounded: 0 read (*ret may be
 * NULL: no such file), -1 error. */
static int read_etc(int rootfd, const char *path, char **ret, moat_error **err)
{
    *ret = NULL;
    if (rootfd < 0)
        return 0;
    moat_error *e = NULL;
    _cleanup_close_ int fd = moat_open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, 0, &e);
    if (fd < 0) {
        if (e && (e->errnum == ENOENT || e->errnum == ENOTDIR)) {
            moat_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return moat_err_sys(err, "stat %s in the container", path);
    if (!S_ISREG(st.st_mode))
        return moat_err(err, EINVAL, "%s in the container is not a regular file", path);
    if (moat_read_fd_bounded(fd, MAX_ETC_FILE, ret, NULL, err) < 0)
        return moat_err_wrap(err, "read %s in the container", path);
    return 0;
}

static bool all_digits(const char *s)
{
    if (!s[0])
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int parse_id(const char *s, uint32_t *ret)
{
    uint64_t v;
    if (!all_digits(s) || moat_parse_u64(s, &v) < 0 || v >= UINT32_MAX)
        return -1;
    *ret = (uint32_t)v;
    return 0;
}

/* Walk "a:b:c..." lines; fn gets the fields (n of them) and returns true to stop. */
typedef bool (*line_fn)(char **f, size_t n, void *ctx);
static void each_line(const char *buf, line_fn fn, void *ctx)
{
    if (!buf)
        return;
    _cleanup_free_ char *copy = xstrdup(buf);
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '+' || line[0] == '-')
            continue;
        char *f[8] = {0};
        size_t n = 0;
        for (char *p = line; p && n < ARRAY_SIZE(f); n++)
            f[n] = strsep(&p, ":");
        if (fn(f, n, ctx))
            return;
    }
}

struct pw_q {
    const char *name; /* or NULL: by id */
    uint32_t id;
    bool found;
    char *out_name;
    uint32_t uid, gid;
};

static bool pw_match(char **f, size_t n, void *ctx)
{
    struct pw_q *q = ctx;
    uint32_t uid, gid;
    if (n < 4 || parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
        return false;
    if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->id)
        return false;
    q->found = true;
    q->out_name = xstrdup(f[0]);
    q->uid = uid;
    q->gid = gid;
    return true;
}

static bool gr_match(char **f, size_t n, void *ctx)
{
    struct pw_q *q = ctx;
    uint32_t gid;
    if (n < 3 || parse_id(f[2], &gid) < 0)
        return false;
    if (q->name ? strcmp(f[0], q->name) != 0 : gid != q->id)
        return false;
    q->found = true;
    q->gid = gid;
    return true;
}

struct member_q {
    const char *user;
    struct spec_ids *ids;
};

static void add_gid(struct spec_ids *ids, uint32_t g)
{
    for (size_t i = 0; i < ids->n_gids; i++)
        if (ids->gids[i] == g)
            return;
    if (ids->n_gids >= MAX_GIDS)
        return;
    ids->gids = xrealloc(ids->gids, (ids->n_gids + 1) * sizeof *ids->gids);
    ids->gids[ids->n_gids++] = g;
}

static bool gr_member(char **f, size_t n, void *ctx)
{
    struct member_q *q = ctx;
    uint32_t gid;
    if (n < 4 || parse_id(f[2], &gid) < 0 || !f[3])
        return false;
    for (char *save = NULL, *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
        if (!strcmp(m, q->user) && gid != q->ids->gid)
            add_gid(q->ids, gid);
    return false;
}

static int lookup_group(const char *groups, const char *g, const char *errfmt, uint32_t *ret, moat_error **err)
{
    struct pw_q q = {.name = all_digits(g) ? NULL : g};
    if (!q.name && parse_id(g, &q.id) < 0)
        return moat_err(err, EINVAL, "invalid group id '%s'", g);
    each_line(groups, gr_match, &q);
    if (!q.found && q.name)
        return moat_err(err, EINVAL, errfmt, g);
    *ret = q.found ? q.gid : q.id;
    return 0;
}

int spec_resolve_user(const char *rootfs, const char *user, char *const *group_add, struct spec_ids *ret,
                      moat_error **err)
{
    *ret = (struct spec_ids){0};
    _cleanup_close_ int rootfd = -1;
    if (rootfs) {
        rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            return moat_err_sys(err, "open the container's root '%s'", rootfs);
    }
    return spec_resolve_user_at(rootfd, user, group_add, ret, err);
}

int spec_resolve_user_at(int rootfd, const char *user, char *const *group_add, struct spec_ids *ret,
                         moat_error **err)
{
    *ret = (struct spec_ids){0};
    _cleanup_free_ char *u = xstrdup(user && user[0] ? user : "0");
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    if (!u[0])
        return moat_err(err, EINVAL, "invalid user '%s'", user);
    _cleanup_free_ char *passwd = NULL, *groups = NULL;
    if (read_etc(rootfd, "/etc/passwd", &passwd, err) < 0 || read_etc(rootfd, "/etc/group", &groups, err) < 0)
        return -1;
    struct pw_q q = {.name = all_digits(u) ? NULL : u};
    if (!q.name && parse_id(u, &q.id) < 0)
        return moat_err(err, EINVAL, "invalid user id '%s'", u);
    each_line(passwd, pw_match, &q);
    _cleanup_free_ char *name = q.out_name;
    if (!q.found && q.name)
        return moat_err(err, EINVAL, "unable to find user %s: no matching entries in passwd file", u);
    struct spec_ids ids = {.uid = q.found ? q.uid : q.id, .gid = q.found ? q.gid : 0};
    int rc = 0;
    if (g && g[0]) {
        rc = lookup_group(groups, g, "unable to find group %s: no matching entries in group file", &ids.gid, err);
    } else if (name) { /* supplementary groups only when no group is named (libcontainer's rule) */
        struct member_q mq = {.user = name, .ids = &ids};
        each_line(groups, gr_member, &mq);
    }
    for (size_t i = 0; rc == 0 && group_add && group_add[i]; i++) {
        uint32_t x;
        rc = lookup_group(groups, group_add[i], "Unable to find group %s", &x, err);
        if (rc == 0)
            add_gid(&ids, x);
    }
    if (rc < 0) {
        free(ids.gids);
        return -1;
    }
    *ret = ids;
    return 0;
}

/* ---- rlimits ----------------------------------------------------------------------------- */

int spec_rlimits(const struct moat_create_req *r, struct json_object *proc, moat_error **err)
{
    static const char *const names[] = {"as",   "core",  "cpu",   "data",   "fsize",  "locks",
                                        "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
                                        "rtprio", "rttime", "sigpending", "stack"};
    struct json_object *rls = NULL;
    if (!json_object_object_get_ex(proc, "rlimits", &rls) || !json_object_is_type(rls, json_type_array)) {
        rls = json_object_new_array();
        json_object_object_add(proc, "rlimits", rls);
    }
    for (size_t i = 0; i < r->n_ulimits; i++) {
        const struct moat_ulimit *u = &r->ulimits[i];
        bool known = false;
        for (size_t j = 0; j < ARRAY_SIZE(names); j++)
            known = known || !strcasecmp(u->name, names[j]);
        if (!known)
            return moat_err(err, EINVAL, "HostConfig.Ulimits: invalid ulimit type: %s", u->name);
        if (u->soft >= 0 && (u->hard < 0 ? false : u->soft > u->hard))
            return moat_err(err, EINVAL, "ulimit %s: soft limit %" PRId64 " is above the hard limit %" PRId64,
                            u->name, u->soft, u->hard);
        if (u->soft < 0 && u->hard >= 0)
            return moat_err(err, EINVAL, "ulimit %s: an unlimited soft limit needs an unlimited hard limit", u->name);
        _cleanup_free_ char *type = xasprintf("RLIMIT_%s", u->name);
        for (char *p = type; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        struct json_object *rl = json_object_new_object();
        json_object_object_add(rl, "type", json_object_new_string(type));
        json_object_object_add(rl, "hard", u->hard < 0 ? json_object_new_uint64(UINT64_MAX)
                                                      : json_object_new_int64(u->hard));
        json_object_object_add(rl, "soft", u->soft < 0 ? json_object_new_uint64(UINT64_MAX)
                                                      : json_object_new_int64(u->soft));
        size_t n = json_object_array_length(rls), k;
        for (k = 0; k < n; k++) {
            struct json_object *t = NULL;
            if (json_object_object_get_ex(json_object_array_get_idx(rls, k), "type", &t) &&
                !strcmp(json_object_get_string(t), type))
                break;
        }
        if (k < n)
            json_object_array_put_idx(rls, k, rl);
        else
            json_object_array_add(rls, rl);
    }
    return 0;
}

/* ---- resources --------------------------------------------------------------------------- */

static bool cpuset_ok(const char *s)
{
    if (strlen(s) > 4096)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == ',' || *p == '-'))
            return false;
    return true;
}

static int check_resources(const struct moat_create_req *r, moat_error **err)
{
    if (r->memory > 0 && r->memory < 6 * 1024 * 1024)
        return moat_err(err, EINVAL, "Minimum memory limit allowed is 6MB");
    if (r->memory > 0 && r->memory_swap > 0 && r->memory_swap < r->memory)
        return moat_err(err, EINVAL, "Minimum memoryswap limit should be larger than memory limit, see usage");
    if (r->memory_swap > 0 && r->memory <= 0)
        return moat_err(err, EINVAL, "You should always set the Memory limit when using Memoryswap limit, see usage");
    if (r->memory > 0 && r->memory_reservation > r->memory)
        return moat_err(err, EINVAL, "Minimum memory limit can not be less than memory reservation limit, see usage");
    if (r->nano_cpus && (r->cpu_quota || r->cpu_period))
        return moat_err(err, EINVAL, "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (r->nano_cpus && (r->nano_cpus < 10000000 || r->nano_cpus > (int64_t)ncpu * 1000000000))
        return moat_err(err, EINVAL, "Range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs available",
                        ncpu, ncpu);
    if (r->cpu_period && r->cpu_period < 1000)
        return moat_err(err, EINVAL, "CPU cfs period can not be less than 1ms (i.e. 1000)");
    if (r->cpu_quota > 0 && r->cpu_quota < 1000)
        return moat_err(err, EINVAL, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    if (r->blkio_weight && r->blkio_weight < 10)
        return moat_err(err, EINVAL, "Range of blkio weight is from 10 to 1000");
    if ((r->cpuset_cpus && !cpuset_ok(r->cpuset_cpus)) || (r->cpuset_mems && !cpuset_ok(r->cpuset_mems)))
        return moat_err(err, EINVAL, "invalid cpuset '%s'", r->cpuset_cpus && !cpuset_ok(r->cpuset_cpus)
                                                                ? r->cpuset_cpus
                                                                : r->cpuset_mems);
    return 0;
}

int spec_resources(const struct moat_spec_in *in, struct json_object *lx, moat_error **err)
{
    const struct moat_create_req *r = in->req;
    if (check_resources(r, err) < 0)
        return -1;
    struct json_object *res = NULL;
    if (!json_object_object_get_ex(lx, "resources", &res))
        return 0; /* the template's rootless case: no delegated cgroup, no limits */
    if (r->memory > 0 || r->memory_reservation > 0 || r->memory_swap || r->oom_kill_disable) {
        struct json_object *m = json_object_new_object();
        if (r->memory > 0)
            json_object_object_add(m, "limit", json_object_new_int64(r->memory));
        if (r->memory_reservation > 0)
            json_object_object_add(m, "reservation", json_object_new_int64(r->memory_reservation));
        if (r->memory_swap == -1)
            json_object_object_add(m, "swap", json_object_new_int64(-1));
        else if (r->memory_swap > 0)
            json_object_object_add(m, "swap", json_object_new_int64(r->memory_swap));
        else if (r->memory > 0 && r->memory <= INT64_MAX / 2) /* Docker: swap defaults to as much as memory */
            json_object_object_add(m, "swap", json_object_new_int64(2 * r->memory));
        if (r->oom_kill_disable)
            json_object_object_add(m, "disableOOMKiller", json_object_new_boolean(1));
        json_object_object_add(res, "memory", m);
    }
    if (r->cpu_shares || r->cpu_quota || r->cpu_period || r->nano_cpus || (r->cpuset_cpus && r->cpuset_cpus[0]) ||
        (r->cpuset_mems && r->cpuset_mems[0])) {
        struct json_object *c = json_object_new_object();
        if (r->cpu_shares)
            json_object_object_add(c, "shares", json_object_new_int64(r->cpu_shares));
        if (r->nano_cpus) {
            json_object_object_add(c, "quota", json_object_new_int64(r->nano_cpus * 100000 / 1000000000));
            json_object_object_add(c, "period", json_object_new_int64(100000));
        } else {
            if (r->cpu_quota)
                json_object_object_add(c, "quota", json_object_new_int64(r->cpu_quota));
            if (r->cpu_period)
                json_object_object_add(c, "period", json_object_new_int64(r->cpu_period));
        }
        if (r->cpuset_cpus && r->cpuset_cpus[0])
            json_object_object_add(c, "cpus", json_object_new_string(r->cpuset_cpus));
        if (r->cpuset_mems && r->cpuset_mems[0])
            json_object_object_add(c, "mems", json_object_new_string(r->cpuset_mems));
        json_object_object_add(res, "cpu", c);
    }
    /* The request's pids limit, else the policy's default (the template's is baseline's). */
    int64_t pids = r->pids_limit > 0 ? r->pids_limit
                                     : moat_policy_pids_default(in->policy ? in->policy : moat_policy_default());
    if (pids > 0) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "limit", json_object_new_int64(pids));
        json_object_object_add(res, "pids", p);
    }
    if (r->blkio_weight) {
        struct json_object *b = json_object_new_object();
        json_object_object_add(b, "weight", json_object_new_int64(r->blkio_weight));
        json_object_object_add(res, "blockIO", b);
    }
    return 0;
}

/* ---- mounts -------------------------------------------------------------------------------- */

static bool has_opt(struct json_object *opts, const char *o)
{
    for (size_t i = 0; i < json_object_array_length(opts); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(opts, i)), o))
            return true;
    return false;
}

static void ensure_opt(struct json_object *opts, const char *o)
{
    if (!has_opt(opts, o))
        json_object_array_add(opts, json_object_new_string(o));
}

static struct json_object *mount_json(const char *dest, const char *type, const char *src, struct json_object *opts)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "destination", json_object_new_string(dest));
    json_object_object_add(m, "type", json_object_new_string(type));
    json_object_object_add(m, "source", json_object_new_string(src));
    json_object_object_add(m, "options", opts);
    return m;
}

/* nosuid,nodev always; binds are recursive; tmpfs is noexec unless "exec". */
static void harden_opts(const char *type, struct json_object *opts)
{
    if (!strcmp(type, "bind") && !has_opt(opts, "bind"))
        ensure_opt(opts, "rbind");
    ensure_opt(opts, "nosuid");
    ensure_opt(opts, "nodev");
    if (!strcmp(type, "tmpfs") && !has_opt(opts, "exec"))
        ensure_opt(opts, "noexec");
}

static bool in_dests(char *const *dests, const char *d)
{
    for (size_t i = 0; dests && dests[i]; i++)
        if (!strcmp(dests[i], d))
            return true;
    return false;
}

/* The tmpfs mounts of the request (HostConfig.Tmpfs, Mounts of type tmpfs)
 * that the engine did not already resolve into in->mounts. */
static void req_tmpfs(const struct moat_create_req *r, char *const *dests, struct json_object *mounts)
{
    for (size_t i = 0; i < r->n_mounts; i++) {
        const struct moat_mount_req *m = &r->mounts[i];
        if (strcmp(m->type, "tmpfs") || !m->target || in_dests(dests, m->target))
            continue;
        struct json_object *opts = json_object_new_array();
        _cleanup_free_ char *raw = xstrdup(m->options ? m->options : "");
        for (char *save = NULL, *o = strtok_r(raw, ",", &save); o; o = strtok_r(NULL, ",", &save))
            ensure_opt(opts, o);
        if (!m->noexec)
            ensure_opt(opts, "exec");
        if (m->read_only)
            ensure_opt(opts, "ro");
        harden_opts("tmpfs", opts);
        json_object_array_add(mounts, mount_json(m->target, "tmpfs", "tmpfs", opts));
    }
}

/* The template's mounts: drop those a request mount replaces, size /dev/shm,
 * and with the host's network, bind /sys (sysfs cannot be mounted in a user
 * namespace that does not own the network namespace). */
static struct json_object *template_mounts(const struct moat_spec_in *in, struct json_object *old, char *const *dests)
{
    struct json_object *out = json_object_new_array();
    for (size_t i = 0; old && i < json_object_array_length(old); i++) {
        struct json_object *m = json_object_array_get_idx(old, i), *d = NULL, *opts = NULL;
        if (!json_object_object_get_ex(m, "destination", &d))
            continue;
        const char *dest = json_object_get_string(d);
        if (in_dests(dests, dest))
            continue;
        if (!strcmp(dest, "/dev/shm") && in->req->ipc_mode && !strcmp(in->req->ipc_mode, "none"))
            continue; /* --ipc none: no /dev/shm (Docker) */
        if (!strcmp(dest, "/sys") && in->host_network) {
            struct json_object *o = json_object_new_array();
            static const char *const so[] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
            for (size_t k = 0; k < ARRAY_SIZE(so); k++)
                json_object_array_add(o, json_object_new_string(so[k]));
            json_object_array_add(out, mount_json("/sys", "bind", "/sys", o));
            continue;
        }
        if (!strcmp(dest, "/dev/shm") && in->req->shm_size > 0 && json_object_object_get_ex(m, "options", &opts)) {
            struct json_object *no = json_object_new_array();
            for (size_t k = 0; k < json_object_array_length(opts); k++) {
                struct json_object *o = json_object_array_get_idx(opts, k);
                if (!moat_str_has_prefix(json_object_get_string(o), "size="))
                    json_object_array_add(no, json_object_get(o));
            }
            _cleanup_free_ char *sz = xasprintf("size=%" PRId64, in->req->shm_size);
            json_object_array_add(no, json_object_new_string(sz));
            json_object_object_add(m, "options", no);
        }
        json_object_array_add(out, json_object_get(m));
    }
    return out;
}

int spec_mounts(const struct moat_spec_in *in, struct json_object *c, moat_error **err)
{
    _cleanup_strv_ char **engine = NULL, **all = NULL;
    for (size_t i = 0; i < in->n_mounts; i++) {
        const struct moat_spec_mount *m = &in->mounts[i];
        if (!m->destination || m->destination[0] != '/')
            return moat_err(err, EINVAL, "mount destination '%s' is not absolute",
                            m->destination ? m->destination : "");
        _cleanup_free_ char *d = moat_path_clean(m->destination);
        if (!strcmp(d, "/"))
            return moat_err(err, EINVAL, "a mount destination can't be '/'");
        if (in_dests(engine, d))
            return moat_err(err, EINVAL, "Duplicate mount point: %s", d);
        moat_strv_push(&engine, d);
        moat_strv_push(&all, d);
    }
    for (size_t i = 0; i < in->req->n_mounts; i++) {
        const struct moat_mount_req *m = &in->req->mounts[i];
        if (strcmp(m->type, "tmpfs") || !m->target || in_dests(engine, m->target))
            continue;
        if (in_dests(all, m->target))
            return moat_err(err, EINVAL, "Duplicate mount point: %s", m->target);
        moat_strv_push(&all, m->target);
    }
    struct json_object *old = NULL;
    json_object_object_get_ex(c, "mounts", &old);
    struct json_object *mounts = template_mounts(in, old, all);
    for (size_t i = 0; i < in->n_mounts; i++) {
        const struct moat_spec_mount *m = &in->mounts[i];
        const char *type = m->type ? m->type : "bind";
        if (strcmp(type, "bind") && strcmp(type, "tmpfs")) {
            json_object_put(mounts);
            return moat_err(err, EINVAL, "mount %s: type '%s' is not supported", m->destination, type);
        }
        if (!strcmp(type, "bind") && (!m->source || m->source[0] != '/')) {
            json_object_put(mounts);
            return moat_err(err, EINVAL, "bind mount %s: the source must be an absolute path", m->destination);
        }
        struct json_object *opts = json_object_new_array();
        for (size_t k = 0; m->options && m->options[k]; k++)
            ensure_opt(opts, m->options[k]);
        harden_opts(type, opts);
        json_object_array_add(mounts, mount_json(engine[i], type, m->source ? m->source : type, opts));
    }
    req_tmpfs(in->req, engine, mounts);
    json_object_object_add(c, "mounts", mounts);
    return 0;
}
