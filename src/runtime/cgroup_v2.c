/* cgroup v2: the unified hierarchy.  On a hybrid host it drives only what v1
 * does not hold (here: hugetlb), plus the container's placement. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/log.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"

/* The mapping runc (1.3+) and crun (1.23+) use: a quadratic in log2(shares)
 * so that 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000. */
uint64_t cg_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares <= 2)
        return 1;
    if (shares >= 262144)
        return 10000;
    double l = log2((double)shares);
    double exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    return (uint64_t)ceil(pow(10.0, exponent));
}

/* runc's and crun's linear blkio (10..1000) to io.weight (1..10000). */
uint64_t cg_blkio_to_io_weight(uint64_t w)
{
    if (w == 0)
        return 0;
    return 1 + (w - 10) * 9999 / 990;
}

int cg_swap_to_v2(const struct oci_resources *r, int64_t *ret, bool *ret_skip, moat_error **err)
{
    int64_t mem = r->has_mem_limit ? r->mem_limit : 0;
    int64_t swap = r->has_mem_swap ? r->mem_swap : 0;
    *ret_skip = false;
    *ret = 0;
    /* v1 compatibility: unlimited memory with no swap setting means unlimited swap too. */
    if (mem == -1 && swap == 0) {
        *ret = -1;
        return 0;
    }
    if (swap == 0) {
        *ret_skip = true;
        return 0;
    }
    if (swap == -1) {
        *ret = -1;
        return 0;
    }
    if (mem == 0 || mem == -1)
        return moat_err(err, EINVAL, "a memory+swap limit needs a memory limit");
    if (swap < mem)
        return moat_err(err, EINVAL, "memory+swap limit %" PRId64 " is below the memory limit %" PRId64, swap, mem);
    *ret = swap - mem;
    return 0;
}

static bool word_in(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
            return true;
    return false;
}

/* Enable in `dir`'s subtree_control every controller it has; those the
 * container needs must succeed (a parent with processes of its own cannot
 * enable any: cgroup v2 has no internal processes). */
static int enable_controllers(const char *dir, uint32_t need, moat_error **err)
{
    _cleanup_free_ char *avail = NULL, *on = NULL;
    if (cg_read(dir, "cgroup.controllers", &avail, err) < 0 || cg_read(dir, "cgroup.subtree_control", &on, err) < 0)
        return -1;
    for (int c = 0; c < CG__COUNT; c++) {
        const char *name = cg_v2_names[c];
        if (!name || !(need & CG_BIT(c)) || word_in(avail, name))
            continue;
        return moat_err(err, ENOTSUP, "the %s controller is not available in '%s' (cgroup.controllers: '%s')", name,
                        dir, avail);
    }
    _cleanup_free_ char *copy = xstrdup(avail);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (word_in(on, w))
            continue;
        moat_error *e = NULL;
        if (cg_writef(dir, "cgroup.subtree_control", &e, "+%s", w) == 0)
            continue;
        int c = cg_ctrl_from_v2(w);
        if (c >= 0 && (need & CG_BIT(c))) {
            *err = e;
            return moat_err_wrap(err, "enable the %s controller", w);
        }
        moat_log(MOAT_LOG_DEBUG, "cgroup2: %s", e->msg);
        moat_error_free(e);
    }
    return 0;
}

static int v2_create(const struct cg_dir *d, uint32_t need, bool *ret_created, moat_error **err)
{
    _cleanup_free_ char *cur = xstrdup(d->mount);
    *ret_created = false;
    for (const char *c = d->path + 1; *c;) {
        const char *end = strchrnul(c, '/');
        if (enable_controllers(cur, need, err) < 0)
            return -1;
        char *next = xasprintf("%s/%.*s", cur, (int)(end - c), c);
        free(cur);
        cur = next;
        bool made = mkdir(cur, 0755) == 0;
        if (!made && errno != EEXIST)
            return moat_err_sys(err, "mkdir '%s'", cur);
        *ret_created = made;
        c = *end ? end + 1 : end;
    }
    return 0;
}

static int write_max(const char *dir, const char *file, int64_t v, moat_error **err)
{
    if (v < 0)
        return cg_write(dir, file, "max", err);
    return cg_writef(dir, file, err, "%" PRId64, v);
}

static int v2_memory(const char *dir, const struct oci_resources *r, moat_error **err)
{
    if (r->has_mem_limit && r->mem_limit != 0 && write_max(dir, "memory.max", r->mem_limit, err) < 0)
        return -1;
    int64_t swap;
    bool skip;
    if (cg_swap_to_v2(r, &swap, &skip, err) < 0)
        return -1;
    if (!skip) {
        if (!cg_has_file(dir, "memory.swap.max")) {
            if (swap >= 0 && r->has_mem_swap)
                return moat_err(err, ENOTSUP, "a memory+swap limit was requested, but the kernel has no swap "
                                "accounting ('%s/memory.swap.max' is missing)", dir);
        } else if (write_max(dir, "memory.swap.max", swap, err) < 0) {
            return -1;
        }
    }
    if (r->has_mem_reservation && r->mem_reservation != 0 &&
        write_max(dir, "memory.low", r->mem_reservation, err) < 0)
        return -1;
    if (r->has_mem_swappiness)
        moat_log(MOAT_LOG_WARN, "memory swappiness ignored: cgroup v2 has no per-cgroup swappiness");
    if (r->has_disable_oom_killer && r->disable_oom_killer)
        moat_log(MOAT_LOG_WARN, "disableOOMKiller ignored: cgroup v2 cannot disable the OOM killer");
    return 0;
}

static int v2_cpu(const char *dir, const struct oci_resources *r, moat_error **err)
{
    if ((r->has_cpu_rt_runtime && r->cpu_rt_runtime != 0) || (r->has_cpu_rt_period && r->cpu_rt_period))
        return moat_err(err, ENOTSUP, "realtime CPU settings (realtimeRuntime, realtimePeriod) are not supported "
                        "on cgroup v2");
    if (r->has_cpu_shares && r->cpu_shares &&
        cg_writef(dir, "cpu.weight", err, "%" PRIu64, cg_shares_to_weight(r->cpu_shares)) < 0)
        return -1;
    if ((r->has_cpu_quota && r->cpu_quota != 0) || (r->has_cpu_period && r->cpu_period)) {
        char quota[32] = "max";
        if (r->has_cpu_quota && r->cpu_quota > 0)
            snprintf(quota, sizeof(quota), "%" PRId64, r->cpu_quota);
        int rc = r->has_cpu_period && r->cpu_period
                     ? cg_writef(dir, "cpu.max", err, "%s %" PRIu64, quota, r->cpu_period)
                     : cg_write(dir, "cpu.max", quota, err);
        if (rc < 0)
            return -1;
    }
    if (r->has_cpu_burst && cg_writef(dir, "cpu.max.burst", err, "%" PRIu64, r->cpu_burst) < 0)
        return -1;
    if (r->has_cpu_idle && cg_writef(dir, "cpu.idle", err, "%" PRId64, r->cpu_idle) < 0)
        return -1;
    return 0;
}

static int v2_io(const char *dir, const struct oci_resources *r, moat_error **err)
{
    /* BFQ's io.bfq.weight takes the blkio scale as is; io.weight the 1..10000 one. */
    bool bfq = cg_has_file(dir, "io.bfq.weight");
    const char *wf = bfq ? "io.bfq.weight" : "io.weight";
    bool need_weight = r->has_blkio_weight;
    for (size_t i = 0; i < r->n_blkio_weight_devices; i++)
        need_weight = need_weight || r->blkio_weight_devices[i].has_weight;
    if (need_weight && !bfq && !cg_has_file(dir, "io.weight"))
        return moat_err(err, ENOTSUP, "io weight is not supported by this kernel (no io.weight or io.bfq.weight "
                        "in '%s')", dir);
    if (r->has_blkio_weight &&
        cg_writef(dir, wf, err, "%" PRIu64, bfq ? r->blkio_weight : cg_blkio_to_io_weight(r->blkio_weight)) < 0)
        return -1;
    if (r->has_blkio_leaf_weight)
        moat_log(MOAT_LOG_WARN, "blkio leafWeight ignored: cgroup v2 has no leaf weight");
    for (size_t i = 0; i < r->n_blkio_weight_devices; i++) {
        const struct oci_weight_device *w = &r->blkio_weight_devices[i];
        if (w->has_weight && cg_writef(dir, wf, err, "%" PRId64 ":%" PRId64 " %" PRIu64, w->major, w->minor,
                                       bfq ? w->weight : cg_blkio_to_io_weight(w->weight)) < 0)
            return -1;
    }
    static const char *const keys[4] = {"rbps", "wbps", "riops", "wiops"};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < r->n_throttle[t]; i++) {
            const struct oci_throttle *th = &r->throttle[t][i];
            if (cg_writef(dir, "io.max", err, "%" PRId64 ":%" PRId64 " %s=%" PRIu64, th->major, th->minor, keys[t],
                          th->rate) < 0)
                return -1;
        }
    return 0;
}

static int v2_hugetlb(const char *dir, const struct oci_resources *r, moat_error **err)
{
    for (size_t i = 0; i < r->n_hugepages; i++) {
        const struct oci_hugepage *h = &r->hugepages[i];
        _cleanup_free_ char *f = xasprintf("hugetlb.%s.max", h->page_size);
        _cleanup_free_ char *rsvd = xasprintf("hugetlb.%s.rsvd.max", h->page_size);
        if (!cg_has_file(dir, f))
            return moat_err(err, ENOTSUP, "hugetlb page size '%s' is not supported here (no '%s/%s')", h->page_size,
                            dir, f);
        if (cg_writef(dir, f, err, "%" PRIu64, h->limit) < 0)
            return -1;
        if (cg_has_file(dir, rsvd) && cg_writef(dir, rsvd, err, "%" PRIu64, h->limit) < 0)
            return -1;
    }
    return 0;
}

/* linux.resources.unified: raw key/values, each in a controller enabled here. */
static int v2_unified(const char *dir, const struct oci_resources *r, moat_error **err)
{
    static const char *const refused[] = {"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze"};
    for (size_t i = 0; i < r->n_unified; i++) {
        const char *k = r->unified[i].key;
        for (size_t j = 0; j < ARRAY_SIZE(refused); j++)
            if (strcmp(k, refused[j]) == 0)
                return moat_err(err, EINVAL, "linux.resources.unified: '%s' is not a resource setting", k);
        const char *dot = strchr(k, '.');
        if (!dot || dot == k || strchr(k, '/'))
            return moat_err(err, EINVAL, "linux.resources.unified: '%s' is not a cgroup file name", k);
        _cleanup_free_ char *ctl = xstrndup(k, (size_t)(dot - k));
        if (strcmp(ctl, "cgroup") != 0) {
            _cleanup_free_ char *avail = NULL;
            if (cg_read(dir, "cgroup.controllers", &avail, err) < 0)
                return -1;
            if (!word_in(avail, ctl))
                return moat_err(err, ENOTSUP, "linux.resources.unified: '%s': the %s controller is not enabled on "
                                "cgroup v2 here (available: '%s')", k, ctl, avail);
        }
        if (cg_write(dir, k, r->unified[i].value, err) < 0)
            return moat_err_wrap(err, "linux.resources.unified");
    }
    return 0;
}

static int v2_apply(const struct cg_dir *d, const struct oci_resources *r, const struct cg_devrules *dev,
                    moat_error **err)
{
    const char *p = d->full;
    uint32_t c = d->ctrls;
    if (r) {
        if ((c & CG_BIT(CG_MEMORY)) && v2_memory(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_PIDS)) && r->has_pids_limit &&
            write_max(p, "pids.max", r->pids_limit > 0 ? r->pids_limit : -1, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_CPU)) && v2_cpu(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_CPUSET)) && r->cpu_cpus && *r->cpu_cpus && cg_write(p, "cpuset.cpus", r->cpu_cpus, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_CPUSET)) && r->cpu_mems && *r->cpu_mems && cg_write(p, "cpuset.mems", r->cpu_mems, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_BLKIO)) && v2_io(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_HUGETLB)) && v2_hugetlb(p, r, err) < 0)
            return -1;
        if (r->n_unified && v2_unified(p, r, err) < 0)
            return -1;
    }
    if (dev && (c & CG_BIT(CG_DEVICES)) && cg_bpf_devices_apply(p, dev, err) < 0)
        return -1;
    return 0;
}

static int events_frozen(int fd, const char *path, bool *ret, moat_error **err)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return moat_err_sys(err, "read '%s'", path);
    buf[n] = '\0';
    const char *f = strstr(buf, "frozen ");
    if (!f || (f != buf && f[-1] != '\n'))
        return moat_err(err, ENOTSUP, "'%s' has no frozen field (kernel before 5.2?)", path);
    *ret = f[7] == '1';
    return 0;
}

static int v2_is_frozen(const struct cg_dir *d, bool *ret, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/cgroup.events", d->full);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", p);
    return events_frozen(fd, p, ret, err);
}

/* cgroup.freeze, then wait (poll for POLLPRI on cgroup.events) until the
 * kernel reports every task frozen or thawed. */
static int v2_freeze(const struct cg_dir *d, bool freeze, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/cgroup.events", d->full);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", p);
    if (cg_write(d->full, "cgroup.freeze", freeze ? "1" : "0", err) < 0)
        return -1;
    uint64_t deadline = moat_now_ns() + 5000000000ull;
    for (;;) {
        bool frozen;
        if (events_frozen(fd, p, &frozen, err) < 0)
            return -1;
        if (frozen == freeze)
            return 0;
        uint64_t now = moat_now_ns();
        if (now >= deadline)
            return moat_err(err, ETIMEDOUT, "'%s' did not report frozen %d", p, freeze);
        struct pollfd pfd = {.fd = fd, .events = POLLPRI};
        int ms = (int)((deadline - now) / 1000000u) + 1;
        if (poll(&pfd, 1, ms > 100 ? 100 : ms) < 0 && errno != EINTR)
            return moat_err_sys(err, "poll '%s'", p);
    }
}

static void v2_stats(const struct cg_dir *d, struct moat_cgroup_stats *st)
{
    int64_t v;
    if (d->ctrls & CG_BIT(CG_MEMORY)) {
        if (cg_read_i64(d->full, "memory.current", &v) == 0)
            st->mem_usage = v;
        if (cg_read_i64(d->full, "memory.max", &v) == 0)
            st->mem_limit = v;
    }
    if (d->ctrls & CG_BIT(CG_PIDS)) {
        if (cg_read_i64(d->full, "pids.current", &v) == 0)
            st->pids_current = v;
        if (cg_read_i64(d->full, "pids.max", &v) == 0)
            st->pids_limit = v;
    }
    if ((d->ctrls & CG_BIT(CG_CPUACCT)) && cg_read_keyed(d->full, "cpu.stat", "usage_usec", &v) == 0)
        st->cpu_usage_ns = v * 1000;
}

const struct cg_ops cg_v2_ops = {
    .name = "v2",
    .create = v2_create,
    .apply = v2_apply,
    .freeze = v2_freeze,
    .is_frozen = v2_is_frozen,
    .stats = v2_stats,
};
