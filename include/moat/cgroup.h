/* Control groups: cgroup v1, v2 and hybrid layouts behind one small table of
 * operations.  The layout is detected per controller from /proc/self/mountinfo,
 * so a host where cgroup2 still holds a controller (hybrid: here, hugetlb) works. */
#ifndef MOAT_CGROUP_H
#define MOAT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"
#include "moat/oci.h"

struct json_object;
struct moat_cgroup; /* the resolved cgroup of one container */

struct moat_cgroup_opts {
    const char *id;      /* container id (default path: /moat/<id>) */
    bool systemd;        /* --systemd-cgroup: cgroupsPath is "slice:prefix:name" */
    bool disabled;       /* --cgroup-manager=disabled: do nothing at all */
    bool rootless;       /* running without root on the host */
};

/* Resolve paths from linux.cgroupsPath; no side effects. */
int moat_cgroup_resolve(const struct oci_spec *spec, const struct moat_cgroup_opts *opts, struct moat_cgroup **ret,
                        moat_error **err);
/* Create the cgroup(s), apply linux.resources, move `pid` in (0: nobody;
 * see moat_cgroup_fork and moat_cgroup_join_self).  Rootless
 * without a delegated cgroup: returns 0 and does nothing when no limits are
 * requested; when limits are requested it fails with a clear error unless
 * `optional` (annotation run.moat.cgroup.optional), then it warns.
 * Device access (root only): the devices in linux.devices, then
 * linux.resources.devices, then the default ones (null, zero, full, random,
 * urandom, tty, console, ptmx, pts); the last matching rule decides, no match
 * denies (so after a deny-all, a created device needs an allow rule). */
int moat_cgroup_enter(struct moat_cgroup *cg, const struct oci_linux *lx, pid_t pid, bool optional, moat_error **err);
/* Move another process (exec) into the container's cgroup(s). */
int moat_cgroup_join(const struct moat_cgroup *cg, pid_t pid, moat_error **err);
/* A fast way in, for a child about to enter a container.  Writing another
 * pid into cgroup.procs takes the kernel's threadgroup lock for writing,
 * which waits for an RCU grace period (~10 ms, on every container start).
 * moat_cgroup_fork: fork(), but on cgroup2 the child is born in the
 * container's directory (clone3 CLONE_INTO_CGROUP: no lock); *ret_in_v2
 * tells.  Falls back to plain fork() when that is not possible.  In the
 * child, single-threaded, moat_cgroup_join_self then moves the caller into
 * the rest: v1 hierarchies by "0" in "tasks" (the calling thread alone: no
 * lock), cgroup2 (unless in_v2) by "0" in cgroup.procs. */
pid_t moat_cgroup_fork(const struct moat_cgroup *cg, bool *ret_in_v2);
int moat_cgroup_join_self(const struct moat_cgroup *cg, bool in_v2, moat_error **err);
int moat_cgroup_update(const struct moat_cgroup *cg, const struct oci_resources *res, moat_error **err);
int moat_cgroup_freeze(const struct moat_cgroup *cg, bool freeze, moat_error **err);
int moat_cgroup_is_frozen(const struct moat_cgroup *cg, bool *ret, moat_error **err);
/* Every pid in the container's cgroup (and its sub-cgroups).  Fails, as
 * freeze and kill do, when the container has no cgroup (cgroup manager
 * disabled, rootless without delegation): an empty list would be a lie. */
int moat_cgroup_pids(const struct moat_cgroup *cg, pid_t **ret, size_t *ret_n, moat_error **err);
/* Signal every process in the container's cgroup (kill --all): SIGKILL goes
 * through cgroup.kill where the kernel has it, otherwise the cgroup is frozen
 * (when it was not already) while each pid is signalled. */
int moat_cgroup_kill(const struct moat_cgroup *cg, int sig, moat_error **err);
/* Remove the cgroup(s); processes must be gone (retries briefly while busy). */
int moat_cgroup_destroy(const struct moat_cgroup *cg, moat_error **err);

/* For a type "cgroup" mount inside the container: the host directories to
 * bind read-only, and the name each gets under /sys/fs/cgroup. */
struct moat_cgroup_mount {
    char *name;      /* "memory", "cpu,cpuacct", "unified", or "" for a pure v2 host */
    char *host_path; /* /sys/fs/cgroup/memory/moat/<id> */
};
int moat_cgroup_mounts(const struct moat_cgroup *cg, struct moat_cgroup_mount **ret, size_t *ret_n, moat_error **err);
void moat_cgroup_mounts_free(struct moat_cgroup_mount *m, size_t n);

/* Usage figures (for stats): -1 where unknown or unlimited. */
struct moat_cgroup_stats {
    int64_t mem_usage, mem_limit, pids_current, pids_limit;
    int64_t cpu_usage_ns;
};
int moat_cgroup_stats(const struct moat_cgroup *cg, struct moat_cgroup_stats *ret, moat_error **err);

/* Persist in the container state and load back. */
struct json_object *moat_cgroup_to_json(const struct moat_cgroup *cg);
int moat_cgroup_from_json(struct json_object *obj, struct moat_cgroup **ret, moat_error **err);
void moat_cgroup_free(struct moat_cgroup *cg);

/* "v1", "v2", "hybrid" (v1 controllers plus a cgroup2 mount holding some). */
const char *moat_cgroup_layout_name(void);

#endif
