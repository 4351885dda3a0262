/* cgroup v1: one directory per mounted hierarchy, each driving the
 * controllers mounted there. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/util.h"
#include "runtime/cgroup_internal.h"

/* v1 reports "unlimited" as a huge page-aligned number. */
#define V1_UNLIMITED_FLOOR (INT64_C(1) << 62)

/* A new cpuset cgroup starts with empty cpus and mems, and no task may join
 * it until they are set: copy them from the parent, top down. */
static int cpuset_inherit(const char *parent, const char *dir, moat_error **err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *cur = NULL, *up = NULL;
        if (cg_read(dir, files[i], &cur, err) < 0)
            return -1;
        if (*cur)
            continue;
        if (cg_read(parent, files[i], &up, err) < 0)
            return -1;
        if (cg_write(dir, files[i], up, err) < 0)
            return -1;
    }
    return 0;
}

static int v1_create(const struct cg_dir *d, uint32_t need, bool *ret_created, moat_error **err)
{
    (void)need;
    _cleanup_free_ char *cur = xstrdup(d->mount);
    *ret_created = false;
    for (const char *c = d->path + 1; *c;) {
        const char *end = strchrnul(c, '/');
        _cleanup_free_ char *parent = xstrdup(cur);
        char *next = xasprintf("%s/%.*s", cur, (int)(end - c), c);
        free(cur);
        cur = next;
        bool made = mkdir(cur, 0755) == 0;
        if (!made && errno != EEXIST)
            return moat_err_sys(err, "mkdir '%s'", cur);
        *ret_created = made;
        if ((d->ctrls & CG_BIT(CG_CPUSET)) && cpuset_inherit(parent, cur, err) < 0)
            return -1;
        c = *end ? end + 1 : end;
    }
    return 0;
}

static int write_i64(const char *dir, const char *file, int64_t v, moat_error **err)
{
    return cg_writef(dir, file, err, "%" PRId64, v);
}

static int write_u64(const char *dir, const char *file, uint64_t v, moat_error **err)
{
    return cg_writef(dir, file, err, "%" PRIu64, v);
}

static int v1_memory(const char *dir, const struct oci_resources *r, moat_error **err)
{
    bool set_limit = r->has_mem_limit && r->mem_limit != 0;
    bool set_swap = r->has_mem_swap && r->mem_swap != 0;
    bool memsw = cg_has_file(dir, "memory.memsw.limit_in_bytes");
    if (set_swap && r->mem_swap > 0 && !memsw)
        return moat_err(err, ENOTSUP, "a memory+swap limit was requested, but the kernel has no swap accounting "
                        "('%s/memory.memsw.limit_in_bytes' is missing: boot with swapaccount=1)", dir);
    set_swap = set_swap && memsw; /* unlimited swap without swap accounting: nothing to do */
    if (set_swap && r->mem_swap > 0 && set_limit && (r->mem_limit < 0 || r->mem_swap < r->mem_limit))
        return moat_err(err, EINVAL, "memory+swap limit %" PRId64 " is below the memory limit", r->mem_swap);
    /* The kernel keeps memsw >= limit at every step: raise memsw first when it grows. */
    bool swap_first = false;
    if (set_swap) {
        int64_t cur = -1;
        swap_first = r->mem_swap < 0 || cg_read_i64(dir, "memory.memsw.limit_in_bytes", &cur) < 0 ||
                     r->mem_swap > cur;
    }
    if (swap_first && write_i64(dir, "memory.memsw.limit_in_bytes", r->mem_swap, err) < 0)
        return -1;
    if (set_limit && write_i64(dir, "memory.limit_in_bytes", r->mem_limit, err) < 0)
        return -1;
    if (set_swap && !swap_first && write_i64(dir, "memory.memsw.limit_in_bytes", r->mem_swap, err) < 0)
        return -1;
    if (r->has_mem_reservation && r->mem_reservation != 0 &&
        write_i64(dir, "memory.soft_limit_in_bytes", r->mem_reservation, err) < 0)
        return -1;
    if (r->has_mem_swappiness && write_u64(dir, "memory.swappiness", r->mem_swappiness, err) < 0)
        return -1;
    if (r->has_disable_oom_killer && cg_write(dir, "memory.oom_control", r->disable_oom_killer ? "1" : "0", err) < 0)
        return -1;
    return 0;
}

static int write_if_supported(const char *dir, const char *file, uint64_t v, const char *what, moat_error **err)
{
    if (!cg_has_file(dir, file))
        return moat_err(err, ENOTSUP, "%s is not supported by this kernel (no '%s/%s')", what, dir, file);
    return write_u64(dir, file, v, err);
}

static int v1_cpu(const char *dir, const struct oci_resources *r, moat_error **err)
{
    if (r->has_cpu_shares && r->cpu_shares && write_u64(dir, "cpu.shares", r->cpu_shares, err) < 0)
        return -1;
    if (r->has_cpu_period && r->cpu_period && write_u64(dir, "cpu.cfs_period_us", r->cpu_period, err) < 0)
        return -1;
    if (r->has_cpu_quota && r->cpu_quota != 0 && write_i64(dir, "cpu.cfs_quota_us", r->cpu_quota, err) < 0)
        return -1;
    if (r->has_cpu_burst && write_if_supported(dir, "cpu.cfs_burst_us", r->cpu_burst, "CPU burst", err) < 0)
        return -1;
    if (r->has_cpu_rt_period && r->cpu_rt_period &&
        write_if_supported(dir, "cpu.rt_period_us", r->cpu_rt_period, "realtime CPU scheduling", err) < 0)
        return -1;
    if (r->has_cpu_rt_runtime && r->cpu_rt_runtime != 0) {
        if (!cg_has_file(dir, "cpu.rt_runtime_us"))
            return moat_err(err, ENOTSUP, "realtime CPU scheduling is not supported by this kernel (no "
                            "'%s/cpu.rt_runtime_us')", dir);
        if (write_i64(dir, "cpu.rt_runtime_us", r->cpu_rt_runtime, err) < 0)
            return -1;
    }
    if (r->has_cpu_idle && write_if_supported(dir, "cpu.idle", (uint64_t)r->cpu_idle, "cpu idle", err) < 0)
        return -1;
    return 0;
}

static int v1_cpuset(const char *dir, const struct oci_resources *r, moat_error **err)
{
    if (r->cpu_cpus && *r->cpu_cpus && cg_write(dir, "cpuset.cpus", r->cpu_cpus, err) < 0)
        return -1;
    if (r->cpu_mems && *r->cpu_mems && cg_write(dir, "cpuset.mems", r->cpu_mems, err) < 0)
        return -1;
    return 0;
}

/* blkio.weight belongs to CFQ, gone since 5.0; BFQ has blkio.bfq.weight. */
static const char *weight_file(const char *dir, bool device)
{
    if (cg_has_file(dir, device ? "blkio.weight_device" : "blkio.weight"))
        return device ? "blkio.weight_device" : "blkio.weight";
    if (cg_has_file(dir, device ? "blkio.bfq.weight_device" : "blkio.bfq.weight"))
        return device ? "blkio.bfq.weight_device" : "blkio.bfq.weight";
    return NULL;
}

static int no_blkio_weight(const char *what, moat_error **err)
{
    return moat_err(err, ENOTSUP, "blkio %s is not supported by this kernel (no blkio.weight or blkio.bfq.weight: "
                    "neither the CFQ nor the BFQ I/O scheduler is in use)", what);
}

static int v1_blkio(const char *dir, const struct oci_resources *r, moat_error **err)
{
    if (r->has_blkio_weight) {
        const char *f = weight_file(dir, false);
        if (!f)
            return no_blkio_weight("weight", err);
        if (write_u64(dir, f, r->blkio_weight, err) < 0)
            return -1;
    }
    if (r->has_blkio_leaf_weight &&
        write_if_supported(dir, "blkio.leaf_weight", r->blkio_leaf_weight, "blkio leaf weight (CFQ only)", err) < 0)
        return -1;
    for (size_t i = 0; i < r->n_blkio_weight_devices; i++) {
        const struct oci_weight_device *w = &r->blkio_weight_devices[i];
        if (w->has_weight) {
            const char *f = weight_file(dir, true);
            if (!f)
                return no_blkio_weight("device weight", err);
            if (cg_writef(dir, f, err, "%" PRId64 ":%" PRId64 " %u", w->major, w->minor, w->weight) < 0)
                return -1;
        }
        if (w->has_leaf_weight) {
            if (!cg_has_file(dir, "blkio.leaf_weight_device"))
                return moat_err(err, ENOTSUP, "blkio leaf weight (CFQ only) is not supported by this kernel");
            if (cg_writef(dir, "blkio.leaf_weight_device", err, "%" PRId64 ":%" PRId64 " %u", w->major, w->minor,
                          w->leaf_weight) < 0)
                return -1;
        }
    }
    static const char *const files[4] = {"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                                         "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < r->n_throttle[t]; i++) {
            const struct oci_throttle *th = &r->throttle[t][i];
            if (cg_writef(dir, files[t], err, "%" PRId64 ":%" PRId64 " %" PRIu64, th->major, th->minor, th->rate) < 0)
                return -1;
        }
    return 0;
}

/* hugetlb.<size>.limit_in_bytes exists only for the page sizes the machine has. */
static int v1_hugetlb(const char *dir, const struct oci_resources *r, moat_error **err)
{
    for (size_t i = 0; i < r->n_hugepages; i++) {
        const struct oci_hugepage *h = &r->hugepages[i];
        _cleanup_free_ char *f = xasprintf("hugetlb.%s.limit_in_bytes", h->page_size);
        _cleanup_free_ char *rsvd = xasprintf("hugetlb.%s.rsvd.limit_in_bytes", h->page_size);
        if (!cg_has_file(dir, f))
            return moat_err(err, ENOTSUP, "hugetlb page size '%s' is not supported here (no '%s/%s')", h->page_size,
                            dir, f);
        if (write_u64(dir, f, h->limit, err) < 0)
            return -1;
        if (cg_has_file(dir, rsvd) && write_u64(dir, rsvd, h->limit, err) < 0)
            return -1;
    }
    return 0;
}

/* devices.deny "a" makes the cgroup deny everything; then each rule in
 * order, so a later rule overrides an earlier one as in the v2 filter. */
static int v1_devices(const char *dir, const struct cg_devrules *dev, moat_error **err)
{
    if (cg_write(dir, "devices.deny", "a", err) < 0)
        return -1;
    for (size_t i = 0; i < dev->n; i++) {
        const struct oci_device_rule *d = &dev->r[i];
        char maj[24] = "*", min[24] = "*";
        if (d->major >= 0)
            snprintf(maj, sizeof(maj), "%" PRId64, d->major);
        if (d->minor >= 0)
            snprintf(min, sizeof(min), "%" PRId64, d->minor);
        if (!d->access[0])
            continue;
        if (cg_writef(dir, d->allow ? "devices.allow" : "devices.deny", err, "%c %s:%s %s", d->type, maj, min,
                      d->access) < 0)
            return -1;
    }
    return 0;
}

static int v1_apply(const struct cg_dir *d, const struct oci_resources *r, const struct cg_devrules *dev,
                    moat_error **err)
{
    const char *p = d->full;
    uint32_t c = d->ctrls;
    if (r) {
        if ((c & CG_BIT(CG_MEMORY)) && v1_memory(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_PIDS)) && r->has_pids_limit) {
            int rc = r->pids_limit > 0 ? write_i64(p, "pids.max", r->pids_limit, err) : cg_write(p, "pids.max", "max", err);
            if (rc < 0)
                return -1;
        }
        if ((c & CG_BIT(CG_CPU)) && v1_cpu(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_CPUSET)) && v1_cpuset(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_BLKIO)) && v1_blkio(p, r, err) < 0)
            return -1;
        if ((c & CG_BIT(CG_HUGETLB)) && v1_hugetlb(p, r, err) < 0)
            return -1;
    }
    if (dev && (c & CG_BIT(CG_DEVICES)) && v1_devices(p, dev, err) < 0)
        return -1;
    return 0;
}

static int v1_is_frozen(const struct cg_dir *d, bool *ret, moat_error **err)
{
    _cleanup_free_ char *s = NULL;
    if (cg_read(d->full, "freezer.state", &s, err) < 0)
        return -1;
    *ret = strcmp(s, "FROZEN") == 0;
    return 0;
}

/* Write FROZEN/THAWED and wait for the state to settle: FREEZING means some
 * task has not stopped yet (for instance while it is in a vfork); retry the
 * write a few times, and thaw again rather than leave it half frozen. */
static int v1_freeze(const struct cg_dir *d, bool freeze, moat_error **err)
{
    const char *want = freeze ? "FROZEN" : "THAWED";
    uint64_t deadline = moat_now_ns() + 2000000000ull;
    while (moat_now_ns() < deadline) {
        if (cg_write(d->full, "freezer.state", want, err) < 0)
            return -1;
        for (unsigned i = 0, us = 100; i < 20; i++, us = us < 20000 ? us * 2 : us) {
            _cleanup_free_ char *s = NULL;
            if (cg_read(d->full, "freezer.state", &s, err) < 0)
                return -1;
            if (strcmp(s, want) == 0)
                return 0;
            usleep(us);
        }
    }
    if (freeze) {
        moat_error *ignored = NULL;
        cg_write(d->full, "freezer.state", "THAWED", &ignored);
        moat_error_free(ignored);
    }
    return moat_err(err, ETIMEDOUT, "'%s/freezer.state' did not become %s", d->full, want);
}

static void v1_stats(const struct cg_dir *d, struct moat_cgroup_stats *st)
{
    int64_t v;
    if (d->ctrls & CG_BIT(CG_MEMORY)) {
        if (cg_read_i64(d->full, "memory.usage_in_bytes", &v) == 0)
            st->mem_usage = v;
        if (cg_read_i64(d->full, "memory.limit_in_bytes", &v) == 0)
            st->mem_limit = v >= V1_UNLIMITED_FLOOR ? -1 : v;
    }
    if (d->ctrls & CG_BIT(CG_PIDS)) {
        if (cg_read_i64(d->full, "pids.current", &v) == 0)
            st->pids_current = v;
        if (cg_read_i64(d->full, "pids.max", &v) == 0)
            st->pids_limit = v;
    }
    if ((d->ctrls & CG_BIT(CG_CPUACCT)) && cg_read_i64(d->full, "cpuacct.usage", &v) == 0)
        st->cpu_usage_ns = v;
}

const struct cg_ops cg_v1_ops = {
    .name = "v1",
    .create = v1_create,
    .apply = v1_apply,
    .freeze = v1_freeze,
    .is_frozen = v1_is_frozen,
    .stats = v1_stats,
};
