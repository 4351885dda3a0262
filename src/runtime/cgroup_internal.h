/* Internals of the cgroup module, shared by cgroup.c (layout, paths,
 * dispatch, JSON), cgroup_v1.c, cgroup_v2.c and cgroup_bpf.c, and visible to
 * the unit tests (the parsers are pure functions over buffers). */
#ifndef MOAT_CGROUP_INTERNAL_H
#define MOAT_CGROUP_INTERNAL_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/cgroup.h"
#include "moat/error.h"
#include "moat/oci.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_MAX_HIER 32           /* hierarchies we accept in mountinfo */
#define CG_PATH_MAX 1024         /* a cgroup path below its hierarchy */
#define CG_FILE_MAX (1u << 20)   /* a cgroupfs file we read */
#define CG_PROCS_MAX (16u << 20) /* a cgroup.procs file */
#define CG_MAX_DEPTH 64          /* sub-cgroups walked below a container */

/* Controllers, whatever hierarchy holds them.  CG_BLKIO is "io" on v2;
 * devices and freezer are built into every cgroup2 cgroup; cpuacct's usage
 * figure is cpu.stat on v2. */
enum cg_ctrl {
    CG_CPU = 0,
    CG_CPUACCT,
    CG_CPUSET,
    CG_MEMORY,
    CG_DEVICES,
    CG_FREEZER,
    CG_BLKIO,
    CG_PIDS,
    CG_HUGETLB,
    CG_NET_CLS,
    CG_NET_PRIO,
    CG_PERF_EVENT,
    CG_RDMA,
    CG_MISC,
    CG__COUNT
};
#define CG_BIT(c) (1u << (c))
extern const char *const cg_v1_names[CG__COUNT]; /* "cpu", "cpuacct", ..., "blkio" */
extern const char *const cg_v2_names[CG__COUNT]; /* "cpu", NULL, "cpuset", ..., "io"; NULL: not a v2 controller */
int cg_ctrl_from_v1(const char *name);
int cg_ctrl_from_v2(const char *name);

/* One mounted hierarchy, from /proc/self/mountinfo. */
struct cg_hier {
    char *mount;   /* mount point, /sys/fs/cgroup/memory */
    char *root;    /* the mount's root inside the hierarchy ("/" unless bind-mounted from below) */
    char *named;   /* "systemd" for name=systemd, else NULL */
    uint32_t ctrls;/* CG_BIT()s it holds */
    bool v2;
};
struct cg_layout {
    struct cg_hier h[CG_MAX_HIER];
    size_t n;
    int v2; /* index of the cgroup2 hierarchy, -1 if none */
};
/* Parse a mountinfo text: the cgroup and cgroup2 mounts at /sys/fs/cgroup or
 * one level below it.  A hierarchy mounted twice counts once. */
int cg_parse_mountinfo(const char *buf, struct cg_layout *ret, moat_error **err);
/* Give the cgroup2 hierarchy the controllers named in its root's
 * cgroup.controllers that no v1 hierarchy holds, plus devices and freezer
 * (built in) when v1 does not hold them. */
void cg_layout_set_v2_controllers(struct cg_layout *l, const char *controllers);
const char *cg_layout_kind(const struct cg_layout *l); /* "v1", "v2", "hybrid", "none" */
void cg_layout_free(struct cg_layout *l);
int cg_layout_detect(struct cg_layout *ret, moat_error **err);
/* /sys/fs/cgroup itself or one directory below it. */
bool cg_mount_point_ok(const char *mp);
/* Controllers and name= of a v1 mount from its super options. */
void cg_v1_options(const char *opts, uint32_t *ctrls, char **named);

/* One line of /proc/PID/cgroup: "4:memory:/a/b", "0::/a". */
struct cg_proc_entry {
    uint32_t ctrls;
    char *named;
    bool v2;
    char *path;
};
struct cg_proc {
    struct cg_proc_entry e[CG_MAX_HIER];
    size_t n;
};
int cg_parse_proc_cgroup(const char *buf, struct cg_proc *ret, moat_error **err);
void cg_proc_free(struct cg_proc *p);
/* The caller's cgroup in hierarchy h, relative to the mount point ("/" at its
 * top), or NULL when it is not visible there. */
char *cg_proc_path_in(const struct cg_proc *p, const struct cg_hier *h);

/* linux.cgroupsPath into a clean path: "/a/b" (absolute) or "a/b" (relative
 * to the caller's cgroup); empty gives "/moat/<id>"; with opts->systemd the
 * "slice:prefix:name" form is expanded onto cgroupfs. */
int cg_spec_path(const char *cgroups_path, const struct moat_cgroup_opts *opts, char **ret, moat_error **err);
int cg_systemd_path(const char *spec, bool rootless, char **ret, moat_error **err);
/* Validate and normalise a cgroup path ("//a/./b" is refused, not fixed). */
int cg_clean_path(const char *p, bool absolute, char **ret, moat_error **err);

/* The container's directory in one hierarchy. */
struct cg_ops;
struct cg_dir {
    char *mount;   /* hierarchy mount point */
    char *path;    /* below the mount, "/moat/c1" */
    char *full;    /* mount + path */
    uint32_t ctrls;/* controllers this directory drives */
    bool v2;
    const struct cg_ops *ops;
};

struct moat_cgroup {
    char *id;
    char *layout;   /* "v1", "v2", "hybrid", "none" */
    bool disabled;  /* --cgroup-manager=disabled */
    bool rootless;
    bool no_cgroup; /* rootless with nothing delegated: no directories at all */
    struct cg_dir *dirs;
    size_t n;
    int drive[CG__COUNT]; /* index into dirs driving each controller, -1: none */
    int v2;               /* index of the cgroup2 directory, -1: none */
};

/* Plan the directories from a layout and the caller's own cgroups (pure).
 * `deleg` is the delegated cgroup2 subtree of a rootless caller (relative to
 * the v2 mount) or NULL. */
int cg_plan(const struct cg_layout *l, const struct cg_proc *own, const char *spec_path,
            const struct moat_cgroup_opts *opts, const char *deleg, struct moat_cgroup **ret, moat_error **err);

/* Device rules in the order they apply (last match wins, default deny). */
struct cg_devrules {
    struct oci_device_rule *r;
    size_t n;
};

/* The small table of operations, one per cgroup version.  A directory's
 * operations only touch the controllers in its ctrls mask. */
struct cg_ops {
    const char *name;
    /* Create the directory (and its parents); v2 enables the controllers in
     * each parent's cgroup.subtree_control, failing if one in `need` cannot
     * be.  *ret_created: the leaf did not exist before. */
    int (*create)(const struct cg_dir *d, uint32_t need, bool *ret_created, moat_error **err);
    int (*apply)(const struct cg_dir *d, const struct oci_resources *r, const struct cg_devrules *dev,
                 moat_error **err);
    int (*freeze)(const struct cg_dir *d, bool freeze, moat_error **err);
    int (*is_frozen)(const struct cg_dir *d, bool *ret, moat_error **err);
    void (*stats)(const struct cg_dir *d, struct moat_cgroup_stats *st);
};
extern const struct cg_ops cg_v1_ops, cg_v2_ops;

/* cgroupfs helpers: "<dir>/<file>".  Errors quote the full path. */
int cg_write(const char *dir, const char *file, const char *data, moat_error **err);
int cg_writef(const char *dir, const char *file, moat_error **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cg_read(const char *dir, const char *file, char **ret, moat_error **err); /* trailing newline removed */
bool cg_has_file(const char *dir, const char *file);
int cg_read_i64(const char *dir, const char *file, int64_t *ret); /* "max" gives -1; -1 on error */
/* Value of `key` in a flat-keyed file ("usage_usec 123\n..."). */
int cg_read_keyed(const char *dir, const char *file, const char *key, int64_t *ret);
/* The controllers `r` sets something in (CG_BIT()s; devices included). */
uint32_t cg_needed(const struct oci_resources *r);
/* Whether `r` asks for a limit: a value other than unset/unlimited, device
 * rules excepted (they only narrow what a container may open). */
bool cg_limits_requested(const struct oci_resources *r);

/* Unit conversions shared by v2 and the tests. */
uint64_t cg_shares_to_weight(uint64_t shares);         /* cpu.shares 2..262144 -> cpu.weight 1..10000 */
uint64_t cg_blkio_to_io_weight(uint64_t blkio_weight); /* 10..1000 -> 1..10000 */
/* OCI memory.swap is memory+swap; v2 memory.swap.max is swap alone.  Sets
 * *ret to the value to write (-1: "max"), or 0 with *ret_skip when unset. */
int cg_swap_to_v2(const struct oci_resources *r, int64_t *ret, bool *ret_skip, moat_error **err);

/* The v2 device filter (cgroup_bpf.c). */
#define CG_BPF_PROG_NAME "moat_devices"
/* Generate the BPF_PROG_TYPE_CGROUP_DEVICE program for `rules` (last match
 * wins, no match denies).  Caller frees *ret. */
int cg_bpf_devices_build(const struct cg_devrules *dev, struct bpf_insn **ret, size_t *ret_n, moat_error **err);
/* Load it and attach it to the cgroup directory `dir` (BPF_F_ALLOW_MULTI),
 * then detach a moat program attached there before. */
int cg_bpf_devices_apply(const char *dir, const struct cg_devrules *dev, moat_error **err);
/* Number of moat device programs attached to `dir` (tests, diagnostics). */
int cg_bpf_devices_count(const char *dir, size_t *ret, moat_error **err);

#endif
