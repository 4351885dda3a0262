/* The OCI runtime-spec 1.x config.json, parsed and validated into a plan.
 *
 * Parsing checks types, bounds and values (capability names, namespace types,
 * rlimit names, mount options, paths) so that everything after it works on a
 * fully checked structure.  Unknown fields are ignored, as the spec asks. */
#ifndef MOAT_OCI_H
#define MOAT_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

#define OCI_MAX_CONFIG_BYTES (4u << 20) /* 4 MiB */
#define OCI_MAX_ENTRIES 4096            /* per array */
#define OCI_MAX_ARGS 65536

struct json_object;

struct oci_id_map {
    uint32_t container_id, host_id, size;
};

struct oci_rlimit {
    int resource; /* RLIMIT_* */
    char *name;   /* "RLIMIT_NOFILE" */
    uint64_t soft, hard;
};

struct oci_caps {
    bool present; /* process.capabilities given at all */
    uint64_t bounding, effective, inheritable, permitted, ambient; /* bit = CAP_* number */
};

struct oci_user {
    uint32_t uid, gid;
    bool has_umask;
    uint32_t umask;
    uint32_t *additional_gids;
    size_t n_additional_gids;
    char *username; /* informational */
};

struct oci_process {
    bool terminal;
    unsigned console_height, console_width;
    char *cwd;
    char **env;
    char **args;
    char *apparmor_profile;
    char *selinux_label;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
    struct oci_caps caps;
    struct oci_user user;
    struct oci_rlimit *rlimits;
    size_t n_rlimits;
    bool has_io_priority;
    int io_priority_class; /* IOPRIO_CLASS_* */
    int io_priority;
};

/* A mount with its options already split into what the kernel takes. */
struct oci_mount {
    char *destination;
    char *type;
    char *source;
    char **options;           /* as given */
    unsigned long flags;      /* MS_* flags to set (for mount(2) style) */
    uint64_t attr_set;        /* MOUNT_ATTR_* to set */
    uint64_t attr_clr;        /* MOUNT_ATTR_* to clear (e.g. "rw", "suid") */
    bool recursive_attrs;     /* rro, rnosuid, ...: apply to submounts too */
    unsigned long propagation;/* MS_PRIVATE|MS_REC ... or 0 */
    bool bind, rbind;
    bool tmpcopyup;           /* copy the underlying content into a fresh tmpfs */
    bool idmap, ridmap;
    char *data;               /* comma-joined filesystem options, "" if none */
    struct oci_id_map *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
};

struct oci_hook {
    char *path;
    char **args;
    char **env;
    bool has_timeout;
    int timeout;
};

enum oci_hook_kind {
    OCI_HOOK_PRESTART = 0,
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER,
    OCI_HOOK_START_CONTAINER,
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
    OCI_HOOK__COUNT
};
extern const char *const oci_hook_names[OCI_HOOK__COUNT];

struct oci_hooks {
    struct oci_hook *hooks[OCI_HOOK__COUNT];
    size_t n[OCI_HOOK__COUNT];
};

enum oci_ns_kind {
    OCI_NS_USER = 0,
    OCI_NS_MOUNT,
    OCI_NS_PID,
    OCI_NS_NET,
    OCI_NS_IPC,
    OCI_NS_UTS,
    OCI_NS_CGROUP,
    OCI_NS_TIME,
    OCI_NS__COUNT
};
extern const char *const oci_ns_names[OCI_NS__COUNT];      /* "user", "mount", ... (config.json names) */
extern const char *const oci_ns_proc_names[OCI_NS__COUNT]; /* "user", "mnt", ... (/proc/PID/ns names) */
extern const int oci_ns_clone_flags[OCI_NS__COUNT];

struct oci_namespace {
    bool present;
    char *path; /* NULL: create a new one */
};

struct oci_device {
    char type; /* 'c', 'b', 'u', 'p' */
    char *path;
    int64_t major, minor;
    bool has_file_mode, has_uid, has_gid;
    uint32_t file_mode, uid, gid;
};

struct oci_device_rule {
    bool allow;
    char type;       /* 'a', 'c', 'b' */
    int64_t major, minor; /* -1 = any */
    char access[4];  /* subset of "rwm" */
};

struct oci_throttle {
    int64_t major, minor;
    uint64_t rate;
};
struct oci_weight_device {
    int64_t major, minor;
    bool has_weight, has_leaf_weight;
    uint16_t weight, leaf_weight;
};
struct oci_hugepage {
    char *page_size;
    uint64_t limit;
};
struct oci_kv {
    char *key, *value;
};

struct oci_resources {
    struct oci_device_rule *devices;
    size_t n_devices;
    /* memory */
    bool has_mem_limit, has_mem_reservation, has_mem_swap, has_mem_swappiness, has_disable_oom_killer;
    int64_t mem_limit, mem_reservation, mem_swap; /* -1 = unlimited */
    uint64_t mem_swappiness;
    bool disable_oom_killer;
    /* cpu */
    bool has_cpu_shares, has_cpu_quota, has_cpu_period, has_cpu_rt_runtime, has_cpu_rt_period, has_cpu_idle,
        has_cpu_burst;
    uint64_t cpu_shares, cpu_period, cpu_rt_period, cpu_burst;
    int64_t cpu_quota, cpu_rt_runtime, cpu_idle;
    char *cpu_cpus, *cpu_mems;
    /* pids */
    bool has_pids_limit;
    int64_t pids_limit; /* <= 0: unlimited */
    /* block io */
    bool has_blkio_weight, has_blkio_leaf_weight;
    uint16_t blkio_weight, blkio_leaf_weight;
    struct oci_weight_device *blkio_weight_devices;
    size_t n_blkio_weight_devices;
    struct oci_throttle *throttle[4]; /* read bps, write bps, read iops, write iops */
    size_t n_throttle[4];
    /* hugetlb */
    struct oci_hugepage *hugepages;
    size_t n_hugepages;
    /* cgroup v2 key/values */
    struct oci_kv *unified;
    size_t n_unified;
};

struct oci_seccomp_arg {
    unsigned index;
    uint64_t value, value_two;
    char *op; /* "SCMP_CMP_EQ" ... (validated by the seccomp module) */
};

struct oci_seccomp_rule {
    char **names;
    char *action;
    bool has_errno;
    uint32_t errno_ret;
    struct oci_seccomp_arg *args;
    size_t n_args;
};

struct oci_seccomp {
    char *default_action;
    bool has_default_errno;
    uint32_t default_errno;
    char **architectures;
    char **flags;
    char *listener_path;
    char *listener_metadata;
    struct oci_seccomp_rule *rules;
    size_t n_rules;
};

struct oci_linux {
    struct oci_namespace ns[OCI_NS__COUNT];
    struct oci_id_map *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
    bool has_time_offsets;
    int64_t monotonic_secs, boottime_secs;
    uint32_t monotonic_nsecs, boottime_nsecs;
    struct oci_device *devices;
    size_t n_devices;
    char *cgroups_path;
    bool has_resources;
    struct oci_resources resources;
    unsigned long rootfs_propagation; /* 0: default */
    struct oci_seccomp *seccomp;      /* NULL: no filter */
    struct oci_kv *sysctl;
    size_t n_sysctl;
    char **masked_paths;
    char **readonly_paths;
    char *mount_label;
    bool has_personality;
    unsigned long personality;
};

struct oci_spec {
    char *oci_version;
    struct oci_process *process; /* may be NULL for a bare create */
    char *root_path;
    bool root_readonly;
    char *hostname;
    char *domainname;
    struct oci_mount *mounts;
    size_t n_mounts;
    struct oci_hooks hooks;
    struct oci_kv *annotations;
    size_t n_annotations;
    struct oci_linux linux_;
};

/* Parse a config.json document.  `what` names it in errors. */
int oci_spec_parse(const char *buf, size_t len, const char *what, struct oci_spec **ret, moat_error **err);
int oci_spec_load(int dirfd, const char *path, struct oci_spec **ret, moat_error **err);
void oci_spec_free(struct oci_spec *spec);
static inline void oci_spec_freep(struct oci_spec **s)
{
    oci_spec_free(*s);
    *s = NULL;
}
#define _cleanup_spec_ __attribute__((cleanup(oci_spec_freep)))

/* Parse a process object alone (exec --process FILE). */
int oci_process_parse_json(struct json_object *obj, const char *where, struct oci_process **ret, moat_error **err);
int oci_process_parse(const char *buf, size_t len, const char *what, struct oci_process **ret, moat_error **err);
void oci_process_free(struct oci_process *p);

/* Parse one mount option list into a mount's flag fields. */
int oci_mount_parse_options(struct oci_mount *m, const char *where, moat_error **err);

const char *oci_annotation(const struct oci_spec *spec, const char *key);
/* Annotation interpreted as a boolean ("true"/"1"/"yes"). */
bool oci_annotation_true(const struct oci_spec *spec, const char *key);

/* Capability name <-> number ("CAP_SYS_ADMIN"). */
int oci_cap_from_name(const char *name);
const char *oci_cap_name(int cap);
int oci_cap_last(void);
/* rlimit name <-> number ("RLIMIT_NOFILE"). */
int oci_rlimit_from_name(const char *name);

#endif
