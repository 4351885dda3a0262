/* Control groups: path resolution, the dispatch to the v1 and v2 operation
 * tables, and persistence in the container state; the layout detection and
 * the cgroupfs helpers are in cgroup_fs.c.
 *
 * The layout is read per controller from /proc/self/mountinfo: each v1
 * hierarchy drives the controllers mounted on it, the cgroup2 mount drives
 * the rest that its root's cgroup.controllers lists (on this kind of hybrid
 * host, hugetlb), plus devices and freezer (built into cgroup2) when v1 does
 * not hold them.  A container gets one directory in every hierarchy, so its
 * processes are also placed in the cgroup2 tree of a hybrid host. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "moat/cgroup.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"

/* ---- /proc/self/cgroup ----------------------------------------------------- */

void cg_proc_free(struct cg_proc *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->e[i].named);
        free(p->e[i].path);
    }
    p->n = 0;
}

int cg_parse_proc_cgroup(const char *buf, struct cg_proc *ret, moat_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *copy = xstrdup(buf);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/') {
            cg_proc_free(ret);
            return moat_err(err, EINVAL, "/proc/self/cgroup: malformed line '%.64s'", line);
        }
        *c1 = *c2 = '\0';
        uint64_t id;
        if (moat_parse_u64(line, &id) < 0) {
            cg_proc_free(ret);
            return moat_err(err, EINVAL, "/proc/self/cgroup: bad hierarchy id '%.16s'", line);
        }
        if (ret->n == CG_MAX_HIER) {
            cg_proc_free(ret);
            return moat_err(err, E2BIG, "/proc/self/cgroup: more than %d hierarchies", CG_MAX_HIER);
        }
        if (strlen(c2 + 1) > PATH_MAX) {
            cg_proc_free(ret);
            return moat_err(err, ENAMETOOLONG, "/proc/self/cgroup: path too long");
        }
        struct cg_proc_entry *e = &ret->e[ret->n++];
        e->path = xstrdup(c2 + 1);
        if (id == 0 && c1[1] == '\0')
            e->v2 = true;
        else
            cg_v1_options(c1 + 1, &e->ctrls, &e->named);
    }
    return 0;
}

char *cg_proc_path_in(const struct cg_proc *p, const struct cg_hier *h)
{
    const struct cg_proc_entry *e = NULL;
    for (size_t i = 0; i < p->n && !e; i++) {
        const struct cg_proc_entry *x = &p->e[i];
        if (h->v2 ? x->v2
                  : (!x->v2 && x->ctrls == h->ctrls &&
                     ((!x->named && !h->named) || (x->named && h->named && strcmp(x->named, h->named) == 0))))
            e = x;
    }
    if (!e)
        return NULL;
    if (strcmp(h->root, "/") == 0)
        return xstrdup(e->path);
    size_t rl = strlen(h->root);
    if (strncmp(e->path, h->root, rl) != 0)
        return NULL;
    if (e->path[rl] == '\0')
        return xstrdup("/");
    if (e->path[rl] != '/')
        return NULL;
    return xstrdup(e->path + rl);
}

/* ---- paths ------------------------------------------------------------------ */

int cg_clean_path(const char *p, bool absolute, char **ret, moat_error **err)
{
    size_t len = strlen(p);
    if (len > CG_PATH_MAX)
        return moat_err(err, ENAMETOOLONG, "cgroup path is longer than %d bytes", CG_PATH_MAX);
    if (absolute != (p[0] == '/'))
        return moat_err(err, EINVAL, "cgroup path '%s' must be %s", p, absolute ? "absolute" : "relative");
    const char *s = absolute ? p + 1 : p;
    if (!*s)
        return moat_err(err, EINVAL, "cgroup path '%s' names the hierarchy root, not a cgroup below it", p);
    for (const char *c = s; *c;) {
        const char *end = strchrnul(c, '/');
        size_t n = (size_t)(end - c);
        if (n == 0)
            return moat_err(err, EINVAL, "cgroup path '%s' has an empty component", p);
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return moat_err(err, EINVAL, "cgroup path '%s' may not contain '.' or '..'", p);
        if (n > 255)
            return moat_err(err, ENAMETOOLONG, "cgroup path '%s' has a component over 255 bytes", p);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)c[i] <= 0x20 || c[i] == 0x7f)
                return moat_err(err, EINVAL, "cgroup path '%s' contains a space or control character", p);
        c = *end ? end + 1 : end;
        if (*end && !*c)
            return moat_err(err, EINVAL, "cgroup path '%s' ends with '/'", p);
    }
    *ret = xstrdup(p);
    return 0;
}

/* "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" -> "" (the root). */
static int expand_slice(const char *slice, char **ret, moat_error **err)
{
    size_t len = strlen(slice);
    const char *suffix = ".slice";
    if (len <= strlen(suffix) || strcmp(slice + len - strlen(suffix), suffix) != 0 || strchr(slice, '/'))
        return moat_err(err, EINVAL, "invalid systemd slice name '%s'", slice);
    _cleanup_free_ char *base = xstrndup(slice, len - strlen(suffix));
    if (strcmp(base, "-") == 0) {
        *ret = xstrdup("");
        return 0;
    }
    _cleanup_free_ char *path = xstrdup(""), *prefix = xstrdup("");
    for (char *c = base;;) {
        char *dash = strchrnul(c, '-');
        if (dash == c)
            return moat_err(err, EINVAL, "invalid systemd slice name '%s'", slice);
        _cleanup_free_ char *comp = xstrndup(c, (size_t)(dash - c));
        char *np = xasprintf("%s/%s%s%s", path, prefix, comp, suffix);
        free(path);
        path = np;
        char *npre = xasprintf("%s%s-", prefix, comp);
        free(prefix);
        prefix = npre;
        if (!*dash)
            break;
        c = dash + 1;
    }
    *ret = TAKE_PTR(path);
    return 0;
}

int cg_systemd_path(const char *spec, bool rootless, char **ret, moat_error **err)
{
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || strchr(c2 + 1, ':'))
        return moat_err(err, EINVAL, "cgroupsPath '%s': expected \"slice:prefix:name\" with systemd cgroups", spec);
    _cleanup_free_ char *slice = xstrndup(spec, (size_t)(c1 - spec));
    _cleanup_free_ char *prefix = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
    const char *name = c2 + 1;
    if (!*name || strchr(name, '/') || strchr(prefix, '/'))
        return moat_err(err, EINVAL, "cgroupsPath '%s': the unit name is empty or contains '/'", spec);
    _cleanup_free_ char *expanded = NULL;
    if (expand_slice(*slice ? slice : rootless ? "user.slice" : "system.slice", &expanded, err) < 0)
        return moat_err_wrap(err, "cgroupsPath '%s'", spec);
    size_t nl = strlen(name);
    _cleanup_free_ char *unit = NULL;
    if (nl > 6 && strcmp(name + nl - 6, ".slice") == 0)
        unit = xstrdup(name);
    else
        unit = *prefix ? xasprintf("%s-%s.scope", prefix, name) : xasprintf("%s.scope", name);
    _cleanup_free_ char *path = xasprintf("%s/%s", expanded, unit);
    if (cg_clean_path(path, true, ret, err) < 0)
        return moat_err_wrap(err, "cgroupsPath '%s'", spec);
    return 0;
}

int cg_spec_path(const char *cgroups_path, const struct moat_cgroup_opts *opts, char **ret, moat_error **err)
{
    if (!cgroups_path || !*cgroups_path) {
        if (!opts->id || !*opts->id || strchr(opts->id, '/'))
            return moat_err(err, EINVAL, "no cgroupsPath, and no container id to name the cgroup after");
        _cleanup_free_ char *p = opts->systemd ? xasprintf("%s:moat:%s", opts->rootless ? "user.slice" : "system.slice",
                                                           opts->id)
                                               : xasprintf("/moat/%s", opts->id);
        if (opts->systemd)
            return cg_systemd_path(p, opts->rootless, ret, err);
        return cg_clean_path(p, true, ret, err);
    }
    if (opts->systemd)
        return cg_systemd_path(cgroups_path, opts->rootless, ret, err);
    if (cg_clean_path(cgroups_path, cgroups_path[0] == '/', ret, err) < 0)
        return moat_err_wrap(err, "linux.cgroupsPath");
    return 0;
}

/* ---- the plan: one directory per hierarchy ---------------------------------- */

static void dir_clear(struct cg_dir *d)
{
    free(d->mount);
    free(d->path);
    free(d->full);
}

void moat_cgroup_free(struct moat_cgroup *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->n; i++)
        dir_clear(&cg->dirs[i]);
    free(cg->dirs);
    free(cg->id);
    free(cg->layout);
    free(cg);
}

static void cgp_free(struct moat_cgroup **p) { moat_cgroup_free(*p); }
#define _cleanup_cg_ _cleanup_(cgp_free)

static struct moat_cgroup *cg_new(const struct moat_cgroup_opts *opts, const char *layout)
{
    struct moat_cgroup *cg = xcalloc(1, sizeof(*cg));
    cg->id = xstrdup(opts->id ? opts->id : "");
    cg->layout = xstrdup(layout);
    cg->disabled = opts->disabled;
    cg->rootless = opts->rootless;
    cg->v2 = -1;
    for (int c = 0; c < CG__COUNT; c++)
        cg->drive[c] = -1;
    return cg;
}

/* Append a directory and record what it drives. */
static int cg_add_dir(struct moat_cgroup *cg, const char *mount, const char *path, uint32_t ctrls, bool v2,
                      moat_error **err)
{
    _cleanup_free_ char *clean = NULL;
    if (cg_clean_path(path, true, &clean, err) < 0)
        return -1;
    if (strlen(mount) + strlen(clean) >= PATH_MAX)
        return moat_err(err, ENAMETOOLONG, "cgroup directory '%s%s' is too long", mount, clean);
    cg->dirs = xrealloc(cg->dirs, (cg->n + 1) * sizeof(*cg->dirs));
    struct cg_dir *d = &cg->dirs[cg->n];
    d->mount = xstrdup(mount);
    d->path = TAKE_PTR(clean);
    d->full = xasprintf("%s%s", mount, d->path);
    d->ctrls = ctrls;
    d->v2 = v2;
    d->ops = v2 ? &cg_v2_ops : &cg_v1_ops;
    for (int c = 0; c < CG__COUNT; c++)
        if ((ctrls & CG_BIT(c)) && cg->drive[c] < 0)
            cg->drive[c] = (int)cg->n;
    if (v2)
        cg->v2 = (int)cg->n;
    cg->n++;
    return 0;
}

/* p is base or below it. */
static bool path_within(const char *p, const char *base)
{
    if (strcmp(base, "/") == 0)
        return true;
    size_t n = strlen(base);
    return strncmp(p, base, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static char *join_path(const char *base, const char *rel)
{
    if (strcmp(base, "/") == 0 || !*base)
        return xasprintf("/%s", rel[0] == '/' ? rel + 1 : rel);
    return xasprintf("%s/%s", base, rel[0] == '/' ? rel + 1 : rel);
}

int cg_plan(const struct cg_layout *l, const struct cg_proc *own, const char *spec_path,
            const struct moat_cgroup_opts *opts, const char *deleg, struct moat_cgroup **ret, moat_error **err)
{
    _cleanup_cg_ struct moat_cgroup *cg = cg_new(opts, cg_layout_kind(l));
    if (opts->disabled) {
        *ret = TAKE_PTR(cg);
        return 0;
    }
    bool absolute = spec_path[0] == '/';
    for (size_t i = 0; i < l->n; i++) {
        const struct cg_hier *h = &l->h[i];
        if (opts->rootless && (!h->v2 || !deleg))
            continue; /* nothing delegated: v1 never is */
        _cleanup_free_ char *own_path = NULL, *path = NULL;
        if (absolute) {
            path = join_path(opts->rootless ? deleg : "/", spec_path);
        } else {
            own_path = cg_proc_path_in(own, h);
            if (!own_path)
                return moat_err(err, ENOENT, "cgroupsPath '%s' is relative, but this process's own cgroup is not "
                                "visible under '%s'", spec_path, h->mount);
            if (opts->rootless && !path_within(own_path, deleg))
                path = join_path(deleg, spec_path);
            else
                path = join_path(own_path, spec_path);
        }
        if (cg_add_dir(cg, h->mount, path, h->ctrls, h->v2, err) < 0)
            return moat_err_wrap(err, "cgroup in '%s'", h->mount);
    }
    cg->no_cgroup = cg->n == 0;
    *ret = TAKE_PTR(cg);
    return 0;
}

/* Rootless on cgroup2: the highest ancestor of our own cgroup that we own and
 * may move processes into and enable controllers in (the delegated subtree).
 * Never the hierarchy root. */
static char *find_delegation(const struct cg_hier *h, const char *own)
{
    _cleanup_free_ char *cur = xstrdup(own);
    char *best = NULL;
    while (strcmp(cur, "/") != 0) {
        _cleanup_free_ char *dir = xasprintf("%s%s", h->mount, cur);
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
        _cleanup_free_ char *sub = xasprintf("%s/cgroup.subtree_control", dir);
        struct stat st;
        if (stat(dir, &st) < 0 || st.st_uid != geteuid() || faccessat(AT_FDCWD, procs, W_OK, AT_EACCESS) < 0 ||
            faccessat(AT_FDCWD, sub, W_OK, AT_EACCESS) < 0)
            break;
        free(best);
        best = xstrdup(cur);
        char *slash = strrchr(cur, '/');
        if (slash == cur)
            cur[1] = '\0';
        else
            *slash = '\0';
    }
    return best;
}

int moat_cgroup_resolve(const struct oci_spec *spec, const struct moat_cgroup_opts *opts, struct moat_cgroup **ret,
                        moat_error **err)
{
    if (opts->disabled) {
        *ret = cg_new(opts, "none");
        return 0;
    }
    _cleanup_free_ char *path = NULL;
    if (cg_spec_path(spec ? spec->linux_.cgroups_path : NULL, opts, &path, err) < 0)
        return -1;
    struct cg_layout l;
    if (cg_layout_detect(&l, err) < 0)
        return -1;
    _cleanup_free_ char *self = NULL, *deleg = NULL;
    struct cg_proc own = {0};
    int r = -1;
    if (moat_read_file_at(AT_FDCWD, "/proc/self/cgroup", 1u << 20, &self, NULL, err) < 0 ||
        cg_parse_proc_cgroup(self, &own, err) < 0)
        goto out;
    if (opts->rootless && l.v2 >= 0) {
        _cleanup_free_ char *mine = cg_proc_path_in(&own, &l.h[l.v2]);
        if (mine)
            deleg = find_delegation(&l.h[l.v2], mine);
    }
    r = cg_plan(&l, &own, path, opts, deleg, ret, err);
out:
    cg_proc_free(&own);
    cg_layout_free(&l);
    return r;
}

/* ---- what the resources ask for --------------------------------------------- */

uint32_t cg_needed(const struct oci_resources *r)
{
    uint32_t m = 0;
    if ((r->has_mem_limit && r->mem_limit != 0) || (r->has_mem_reservation && r->mem_reservation != 0) ||
        (r->has_mem_swap && r->mem_swap != 0) || r->has_mem_swappiness ||
        (r->has_disable_oom_killer && r->disable_oom_killer))
        m |= CG_BIT(CG_MEMORY);
    if ((r->has_cpu_shares && r->cpu_shares) || (r->has_cpu_quota && r->cpu_quota != 0) ||
        (r->has_cpu_period && r->cpu_period) || (r->has_cpu_burst) || (r->has_cpu_rt_runtime && r->cpu_rt_runtime) ||
        (r->has_cpu_rt_period && r->cpu_rt_period) || r->has_cpu_idle)
        m |= CG_BIT(CG_CPU);
    if ((r->cpu_cpus && *r->cpu_cpus) || (r->cpu_mems && *r->cpu_mems))
        m |= CG_BIT(CG_CPUSET);
    if (r->has_pids_limit)
        m |= CG_BIT(CG_PIDS);
    bool io = r->has_blkio_weight || r->has_blkio_leaf_weight || r->n_blkio_weight_devices;
    for (int t = 0; t < 4; t++)
        io = io || r->n_throttle[t];
    if (io)
        m |= CG_BIT(CG_BLKIO);
    if (r->n_hugepages)
        m |= CG_BIT(CG_HUGETLB);
    if (r->n_devices)
        m |= CG_BIT(CG_DEVICES);
    return m;
}

bool cg_limits_requested(const struct oci_resources *r)
{
    if (r->n_unified || r->n_hugepages || r->has_mem_swappiness || (r->has_disable_oom_killer && r->disable_oom_killer))
        return true;
    if ((r->has_mem_limit && r->mem_limit > 0) || (r->has_mem_reservation && r->mem_reservation > 0) ||
        (r->has_mem_swap && r->mem_swap > 0))
        return true;
    if ((r->has_cpu_quota && r->cpu_quota > 0) || (r->has_cpu_shares && r->cpu_shares) || r->has_cpu_idle ||
        (r->has_cpu_rt_runtime && r->cpu_rt_runtime > 0) || (r->has_cpu_burst && r->cpu_burst) ||
        (r->cpu_cpus && *r->cpu_cpus) || (r->cpu_mems && *r->cpu_mems))
        return true;
    if (r->has_pids_limit && r->pids_limit > 0)
        return true;
    return (cg_needed(r) & CG_BIT(CG_BLKIO)) != 0;
}

/* Devices every container gets, after the spec's rules so they always stay
 * usable (as runc and crun do): null, zero, full, random, urandom, tty,
 * console, ptmx and the pts devices.  No blanket mknod. */
static const struct oci_device_rule default_devices[] = {
    {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 7, "rwm"},
    {true, 'c', 1, 8, "rwm"}, {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 0, "rwm"},
    {true, 'c', 5, 1, "rwm"}, {true, 'c', 5, 2, "rwm"}, {true, 'c', 136, -1, "rwm"},
};

/* The device rules to enforce: access to the devices the spec creates
 * (linux.devices), then the spec's rules, then the defaults.  Last match
 * wins, so the spec's rules decide for its own devices: a deny-all in
 * linux.resources.devices (the template's, Docker's) leaves a created device
 * usable only as far as a later rule allows it ("r" stays read-only, as in
 * runc); with no rules at all, the created devices are usable. */
static void devrules_build(const struct oci_resources *r, const struct oci_linux *lx, struct cg_devrules *out)
{
    size_t n = r->n_devices + (lx ? lx->n_devices : 0) + ARRAY_SIZE(default_devices);
    out->r = xcalloc(n, sizeof(*out->r));
    out->n = 0;
    for (size_t i = 0; lx && i < lx->n_devices; i++) {
        const struct oci_device *d = &lx->devices[i];
        if (d->type == 'p')
            continue;
        out->r[out->n++] = (struct oci_device_rule){true, d->type == 'b' ? 'b' : 'c', d->major, d->minor, "rwm"};
    }
    for (size_t i = 0; i < r->n_devices; i++)
        out->r[out->n++] = r->devices[i];
    for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++)
        out->r[out->n++] = default_devices[i];
}

static const char *ctrl_label(int c) { return c == CG_BLKIO ? "blkio/io" : cg_v1_names[c]; }

/* Every controller the resources need must be driven by some directory. */
static int check_available(const struct moat_cgroup *cg, const struct oci_resources *r, moat_error **err)
{
    uint32_t need = cg_needed(r) & ~CG_BIT(CG_DEVICES);
    for (int c = 0; c < CG__COUNT; c++)
        if ((need & CG_BIT(c)) && cg->drive[c] < 0)
            return moat_err(err, ENOTSUP, "%s limits requested, but the %s controller is %s", ctrl_label(c),
                            ctrl_label(c),
                            cg->rootless ? "not delegated to this user"
                                         : "not mounted on cgroup v1 nor available on cgroup v2 here");
    if (r->n_unified && cg->v2 < 0)
        return moat_err(err, ENOTSUP, "linux.resources.unified needs a cgroup v2 hierarchy, and this host (%s) "
                        "has none", cg->layout);
    return 0;
}

static const char *no_cgroup_reason(const struct moat_cgroup *cg)
{
    if (cg->disabled)
        return "the cgroup manager is disabled";
    if (strcmp(cg->layout, "v2") == 0)
        return "rootless, and no writable delegated cgroup v2 subtree was found";
    return "rootless on cgroup v1 has no delegated cgroup";
}

/* Remove the directory `name` in `pfd` and everything below it, leaf first. */
static int rmdir_tree_at(int pfd, const char *name, const char *shown, int depth, moat_error **err)
{
    if (depth > CG_MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': cgroups nested deeper than %d", shown, CG_MAX_DEPTH);
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : moat_err_sys(err, "open '%s'", shown);
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return moat_err_sys(err, "fdopendir '%s'", shown);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *sub = xasprintf("%s/%s", shown, de->d_name);
        if (rmdir_tree_at(dirfd(d), de->d_name, sub, depth + 1, err) < 0)
            return -1;
    }
    if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return moat_err_sys(err, "rmdir '%s'", shown);
    return 0;
}

/* Remove a container directory, retrying for up to `budget_ms` while it is
 * busy (its last processes may still be exiting).  Only `full` and below. */
static int rmdir_tree(const char *full, unsigned budget_ms, moat_error **err)
{
    _cleanup_free_ char *parent = xstrdup(full);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return moat_err(err, EINVAL, "refusing to remove '%s'", full);
    *slash = '\0';
    _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return errno == ENOENT ? 0 : moat_err_sys(err, "open '%s'", parent);
    uint64_t deadline = moat_now_ns() + (uint64_t)budget_ms * 1000000u;
    unsigned delay_us = 1000;
    for (;;) {
        moat_error *e = NULL;
        if (rmdir_tree_at(pfd, slash + 1, full, 0, &e) == 0)
            return 0;
        if (e->errnum != EBUSY || moat_now_ns() >= deadline) {
            *err = e;
            return -1;
        }
        moat_error_free(e);
        usleep(delay_us);
        if (delay_us < 50000)
            delay_us *= 2;
    }
}

static int add_pid(const struct moat_cgroup *cg, pid_t pid, moat_error **err)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg_writef(cg->dirs[i].full, "cgroup.procs", err, "%d", (int)pid) < 0)
            return moat_err_wrap(err, "move process %d into its cgroup", (int)pid);
    return 0;
}

/* Create every directory, apply the resources, move `pid` in.  On failure,
 * the leaves this call created are removed again. */
static int cg_setup(struct moat_cgroup *cg, const struct oci_resources *r, const struct cg_devrules *dev, pid_t pid,
                    bool apply, moat_error **err)
{
    bool *created = xcalloc(cg->n ? cg->n : 1, sizeof(bool));
    uint32_t need = apply ? cg_needed(r) : 0;
    int ret = -1;
    for (size_t i = 0; i < cg->n; i++) {
        struct cg_dir *d = &cg->dirs[i];
        if (d->ops->create(d, need & d->ctrls, &created[i], err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < cg->n; i++) {
        struct cg_dir *d = &cg->dirs[i];
        if ((apply || dev) && d->ops->apply(d, apply ? r : NULL, dev, err) < 0) {
            moat_err_wrap(err, "apply limits to '%s'", d->full);
            goto fail;
        }
    }
    if (pid > 0 && add_pid(cg, pid, err) < 0)
        goto fail;
    ret = 0;
fail:
    for (size_t i = 0; ret < 0 && i < cg->n; i++) {
        _cleanup_error_ moat_error *e = NULL;
        if (created[i] && rmdir_tree(cg->dirs[i].full, 0, &e) < 0)
            moat_log(MOAT_LOG_DEBUG, "cgroup cleanup: %s", e->msg);
    }
    free(created);
    return ret;
}

int moat_cgroup_enter(struct moat_cgroup *cg, const struct oci_linux *lx, pid_t pid, bool optional, moat_error **err)
{
    static const struct oci_resources none;
    const struct oci_resources *r = lx && lx->has_resources ? &lx->resources : &none;
    bool limits = cg_limits_requested(r);
    if (cg->disabled) {
        if (limits)
            moat_log(MOAT_LOG_WARN, "cgroup limits ignored: the cgroup manager is disabled");
        return 0;
    }
    if (cg->no_cgroup) {
        if (!limits)
            return 0;
        if (!optional)
            return moat_err(err, EPERM,
                            "cgroup limits cannot be applied: %s (remove linux.resources limits, or set the "
                            "annotation run.moat.cgroup.optional=true to run without them)",
                            no_cgroup_reason(cg));
        moat_log(MOAT_LOG_WARN, "cgroup limits ignored: %s", no_cgroup_reason(cg));
        return 0;
    }
    bool apply = true;
    if (check_available(cg, r, err) < 0) {
        if (!(cg->rootless && optional))
            return moat_err_wrap(err, "cgroup limits cannot be applied");
        moat_log(MOAT_LOG_WARN, "cgroup limits ignored: %s", (*err)->msg);
        moat_error_free(*err);
        *err = NULL;
        apply = false;
    }
    /* Device rules need CAP_SYS_ADMIN in the host (v1 devices.*, BPF): a
     * rootless container's devices are bounded by its user namespace. */
    struct cg_devrules dev = {0};
    bool with_dev = !cg->rootless && cg->drive[CG_DEVICES] >= 0;
    if (with_dev)
        devrules_build(r, lx, &dev);
    int ret = cg_setup(cg, r, with_dev ? &dev : NULL, pid, apply, err);
    free(dev.r);
    return ret;
}

int moat_cgroup_join(const struct moat_cgroup *cg, pid_t pid, moat_error **err)
{
    if (cg->disabled || cg->no_cgroup)
        return 0;
    return add_pid(cg, pid, err);
}

pid_t moat_cgroup_fork(const struct moat_cgroup *cg, bool *ret_in_v2)
{
    *ret_in_v2 = false;
    if (!cg || cg->disabled || cg->no_cgroup || cg->v2 < 0)
        return fork();
    _cleanup_close_ int fd = open(cg->dirs[cg->v2].full, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        struct clone_args ca = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fd};
        long pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid >= 0) {
            *ret_in_v2 = true;
            return (pid_t)pid;
        }
        /* ENOSYS/E2BIG (kernel < 5.7), or refused (e.g. EBUSY: not a leaf):
         * fork, and let the child's cgroup.procs write say why, if it must */
        moat_log(MOAT_LOG_DEBUG, "clone3(CLONE_INTO_CGROUP) '%s': %s: forking", cg->dirs[cg->v2].full,
                 strerror(errno));
    }
    return fork();
}

int moat_cgroup_join_self(const struct moat_cgroup *cg, bool in_v2, moat_error **err)
{
    if (!cg || cg->disabled || cg->no_cgroup)
        return 0;
    for (size_t i = 0; i < cg->n; i++) {
        const struct cg_dir *d = &cg->dirs[i];
        if (d->v2 && in_v2)
            continue;
        if (cg_write(d->full, d->v2 ? "cgroup.procs" : "tasks", "0", err) < 0)
            return moat_err_wrap(err, "move into the container's cgroup");
    }
    return 0;
}

int moat_cgroup_update(const struct moat_cgroup *cg, const struct oci_resources *res, moat_error **err)
{
    bool limits = cg_limits_requested(res);
    if (cg->disabled) {
        if (limits)
            moat_log(MOAT_LOG_WARN, "cgroup limits ignored: the cgroup manager is disabled");
        return 0;
    }
    if (cg->no_cgroup)
        return limits ? moat_err(err, EPERM, "cgroup limits cannot be applied: %s", no_cgroup_reason(cg)) : 0;
    if (check_available(cg, res, err) < 0)
        return moat_err_wrap(err, "update cgroup limits");
    struct cg_devrules dev = {0};
    bool with_dev = res->n_devices && !cg->rootless && cg->drive[CG_DEVICES] >= 0;
    if (with_dev)
        devrules_build(res, NULL, &dev);
    int ret = 0;
    for (size_t i = 0; i < cg->n && ret == 0; i++) {
        const struct cg_dir *d = &cg->dirs[i];
        if (d->ops->apply(d, res, with_dev ? &dev : NULL, err) < 0)
            ret = moat_err_wrap(err, "update cgroup '%s'", d->full);
    }
    free(dev.r);
    return ret;
}

static int need_cgroup(const struct moat_cgroup *cg, const char *what, moat_error **err)
{
    if (cg->disabled || cg->no_cgroup)
        return moat_err(err, ENOTSUP, "cannot %s: the container has no cgroup (%s)", what, no_cgroup_reason(cg));
    return 0;
}

int moat_cgroup_freeze(const struct moat_cgroup *cg, bool freeze, moat_error **err)
{
    const char *what = freeze ? "pause the container" : "resume the container";
    if (need_cgroup(cg, what, err) < 0)
        return -1;
    int i = cg->drive[CG_FREEZER];
    if (i < 0)
        return moat_err(err, ENOTSUP, "cannot %s: no freezer cgroup (not mounted on v1, no cgroup2)", what);
    const struct cg_dir *d = &cg->dirs[i];
    if (d->ops->freeze(d, freeze, err) < 0)
        return moat_err_wrap(err, "%s", what);
    return 0;
}

int moat_cgroup_is_frozen(const struct moat_cgroup *cg, bool *ret, moat_error **err)
{
    *ret = false;
    if (cg->disabled || cg->no_cgroup || cg->drive[CG_FREEZER] < 0)
        return 0;
    const struct cg_dir *d = &cg->dirs[cg->drive[CG_FREEZER]];
    return d->ops->is_frozen(d, ret, err);
}

struct pid_set {
    pid_t *v;
    size_t n, cap;
};

/* Read cgroup.procs in `dir` and below it. */
static int collect_pids(const char *dir, int depth, struct pid_set *s, moat_error **err)
{
    if (depth > CG_MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': cgroups nested deeper than %d", dir, CG_MAX_DEPTH);
    _cleanup_free_ char *p = xasprintf("%s/cgroup.procs", dir), *buf = NULL;
    if (moat_read_file_at(AT_FDCWD, p, CG_PROCS_MAX, &buf, NULL, err) < 0) {
        if (depth == 0 || (*err)->errnum != ENOENT)
            return -1;
        moat_error_free(*err); /* a sub-cgroup removed meanwhile */
        *err = NULL;
        return 0;
    }
    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        int64_t v;
        if (moat_parse_i64(line, &v) < 0 || v <= 0 || v > INT32_MAX)
            return moat_err(err, EINVAL, "'%s': bad pid '%.16s'", p, line);
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->v = xrealloc(s->v, s->cap * sizeof(pid_t));
        }
        s->v[s->n++] = (pid_t)v;
    }
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : moat_err_sys(err, "opendir '%s'", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
        if (collect_pids(sub, depth + 1, s, err) < 0)
            return -1;
    }
    return 0;
}

static int pid_cmp(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int moat_cgroup_pids(const struct moat_cgroup *cg, pid_t **ret, size_t *ret_n, moat_error **err)
{
    if (need_cgroup(cg, "list the container's processes", err) < 0)
        return -1;
    struct pid_set s = {0};
    for (size_t i = 0; i < cg->n; i++) {
        if (collect_pids(cg->dirs[i].full, 0, &s, err) < 0) {
            free(s.v);
            return moat_err_wrap(err, "list the container's processes");
        }
    }
    if (s.n)
        qsort(s.v, s.n, sizeof(pid_t), pid_cmp);
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++)
        if (n == 0 || s.v[n - 1] != s.v[i])
            s.v[n++] = s.v[i];
    *ret = s.v;
    *ret_n = n;
    return 0;
}

int moat_cgroup_kill(const struct moat_cgroup *cg, int sig, moat_error **err)
{
    if (need_cgroup(cg, "signal every process of the container", err) < 0)
        return -1;
    /* cgroup.kill kills the whole subtree atomically, no pid races.  On a
     * hybrid host the cgroup2 directory holds every process too. */
    if (sig == SIGKILL && cg->v2 >= 0 && cg_has_file(cg->dirs[cg->v2].full, "cgroup.kill"))
        return cg_write(cg->dirs[cg->v2].full, "cgroup.kill", "1", err);
    /* Otherwise freeze, so that nothing forks while we signal, then thaw
     * what we froze (a paused container stays paused). */
    bool was_frozen = false, froze = false;
    if (moat_cgroup_is_frozen(cg, &was_frozen, err) < 0)
        return -1;
    if (!was_frozen && cg->drive[CG_FREEZER] >= 0) {
        _cleanup_error_ moat_error *e = NULL;
        froze = moat_cgroup_freeze(cg, true, &e) == 0;
        if (!froze)
            moat_log(MOAT_LOG_DEBUG, "kill without freezing: %s", e->msg);
    }
    pid_t *pids = NULL;
    size_t n = 0;
    int ret = moat_cgroup_pids(cg, &pids, &n, err);
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (kill(pids[i], sig) < 0 && errno != ESRCH)
            ret = moat_err_sys(err, "kill %d", (int)pids[i]);
    free(pids);
    if (froze) {
        _cleanup_error_ moat_error *e = NULL;
        if (moat_cgroup_freeze(cg, false, ret < 0 ? &e : err) < 0 && ret == 0)
            ret = -1;
    }
    return ret;
}

int moat_cgroup_destroy(const struct moat_cgroup *cg, moat_error **err)
{
    if (cg->disabled || cg->no_cgroup)
        return 0;
    int ret = 0;
    for (size_t i = 0; i < cg->n; i++) {
        moat_error *e = NULL;
        if (rmdir_tree(cg->dirs[i].full, 2000, &e) < 0) {
            if (ret == 0) {
                *err = e;
                moat_err_wrap(err, "remove the container's cgroup");
                ret = -1;
            } else {
                moat_error_free(e);
            }
        }
    }
    return ret;
}

int moat_cgroup_mounts(const struct moat_cgroup *cg, struct moat_cgroup_mount **ret, size_t *ret_n, moat_error **err)
{
    (void)err;
    *ret = NULL;
    *ret_n = 0;
    if (cg->disabled || cg->no_cgroup)
        return 0;
    struct moat_cgroup_mount *m = xcalloc(cg->n, sizeof(*m));
    for (size_t i = 0; i < cg->n; i++) {
        const struct cg_dir *d = &cg->dirs[i];
        m[i].name = xstrdup(strcmp(d->mount, CG_ROOT) == 0 ? "" : strrchr(d->mount, '/') + 1);
        m[i].host_path = xstrdup(d->full);
    }
    *ret = m;
    *ret_n = cg->n;
    return 0;
}

void moat_cgroup_mounts_free(struct moat_cgroup_mount *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++) {
        free(m[i].name);
        free(m[i].host_path);
    }
    free(m);
}

int moat_cgroup_stats(const struct moat_cgroup *cg, struct moat_cgroup_stats *ret, moat_error **err)
{
    (void)err;
    *ret = (struct moat_cgroup_stats){-1, -1, -1, -1, -1};
    if (cg->disabled || cg->no_cgroup)
        return 0;
    for (size_t i = 0; i < cg->n; i++)
        cg->dirs[i].ops->stats(&cg->dirs[i], ret);
    return 0;
}

/* ---- persistence -------------------------------------------------------------- */

struct json_object *moat_cgroup_to_json(const struct moat_cgroup *cg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "id", json_object_new_string(cg->id));
    json_object_object_add(o, "layout", json_object_new_string(cg->layout));
    json_object_object_add(o, "disabled", json_object_new_boolean(cg->disabled));
    json_object_object_add(o, "rootless", json_object_new_boolean(cg->rootless));
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < cg->n; i++) {
        const struct cg_dir *d = &cg->dirs[i];
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "mount", json_object_new_string(d->mount));
        json_object_object_add(e, "path", json_object_new_string(d->path));
        json_object_object_add(e, "v2", json_object_new_boolean(d->v2));
        struct json_object *ctl = json_object_new_array();
        for (int c = 0; c < CG__COUNT; c++)
            if (d->ctrls & CG_BIT(c))
                json_object_array_add(ctl, json_object_new_string(cg_v1_names[c]));
        json_object_object_add(e, "controllers", ctl);
        json_object_array_add(arr, e);
    }
    json_object_object_add(o, "dirs", arr);
    return o;
}

/* One saved directory, checked: the mount must be /sys/fs/cgroup or a
 * directory right below it, the path a clean cgroup path. */
static int dir_from_json(struct json_object *e, const char *where, struct moat_cgroup *cg, moat_error **err)
{
    _cleanup_free_ char *mount = NULL, *path = NULL;
    _cleanup_strv_ char **ctl = NULL;
    bool v2 = false;
    if (moat_json_str(e, where, "mount", true, &mount, err) < 0 || moat_json_str(e, where, "path", true, &path, err) < 0 ||
        moat_json_bool(e, where, "v2", true, &v2, err) < 0 ||
        moat_json_strv(e, where, "controllers", true, CG__COUNT, &ctl, err) < 0)
        return -1;
    if (!cg_mount_point_ok(mount))
        return moat_err(err, EINVAL, "%s/mount: '%s' is not a cgroup mount under " CG_ROOT, where, mount);
    if (v2 && cg->v2 >= 0)
        return moat_err(err, EINVAL, "%s: a second cgroup2 directory", where);
    uint32_t ctrls = 0;
    for (char **c = ctl; *c; c++) {
        int k = cg_ctrl_from_v1(*c);
        if (k < 0)
            return moat_err(err, EINVAL, "%s/controllers: unknown controller '%s'", where, *c);
        if (cg->drive[k] >= 0 || (ctrls & CG_BIT(k)))
            return moat_err(err, EINVAL, "%s/controllers: '%s' appears twice", where, *c);
        ctrls |= CG_BIT(k);
    }
    if (cg_add_dir(cg, mount, path, ctrls, v2, err) < 0)
        return moat_err_wrap(err, "%s/path", where);
    return 0;
}

int moat_cgroup_from_json(struct json_object *obj, struct moat_cgroup **ret, moat_error **err)
{
    const char *w = "cgroup";
    int64_t version;
    _cleanup_free_ char *id = NULL, *layout = NULL;
    struct moat_cgroup_opts opts = {0};
    struct json_object *arr = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object))
        return moat_err(err, EINVAL, "%s: expected an object", w);
    if (moat_json_i64(obj, w, "version", true, 1, 1, &version, err) < 0 ||
        moat_json_str(obj, w, "id", true, &id, err) < 0 || moat_json_str(obj, w, "layout", true, &layout, err) < 0 ||
        moat_json_bool(obj, w, "disabled", true, &opts.disabled, err) < 0 ||
        moat_json_bool(obj, w, "rootless", true, &opts.rootless, err) < 0 ||
        moat_json_arr(obj, w, "dirs", true, &arr, err) < 0)
        return -1;
    static const char *const kinds[] = {"v1", "v2", "hybrid", "none"};
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        known = known || strcmp(layout, kinds[i]) == 0;
    if (!known)
        return moat_err(err, EINVAL, "%s/layout: unknown layout '%s'", w, layout);
    size_t n = json_object_array_length(arr);
    if (n > CG_MAX_HIER || (opts.disabled && n))
        return moat_err(err, EINVAL, "%s/dirs: %zu directories%s", w, n, opts.disabled ? " with cgroups disabled" : "");
    opts.id = id;
    _cleanup_cg_ struct moat_cgroup *cg = cg_new(&opts, layout);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        _cleanup_free_ char *p = moat_jpath_idx("cgroup/dirs", i);
        if (!json_object_is_type(e, json_type_object))
            return moat_err(err, EINVAL, "%s: expected an object", p);
        if (dir_from_json(e, p, cg, err) < 0)
            return -1;
    }
    cg->no_cgroup = !cg->disabled && cg->n == 0;
    *ret = TAKE_PTR(cg);
    return 0;
}
