/* The container create request (Docker's POST /containers/create body:
 * Config + HostConfig + NetworkingConfig) and THE one place where it, the
 * image's config and the engine's defaults become an OCI config.json.
 *
 * The body is untrusted: moat_create_req_parse() bounds every list and
 * string, checks every type, names the JSON path in each error
 * ("HostConfig.Memory: expected an integer"), ignores unknown fields (newer
 * clients send more), and is fuzzed (fuzz/fuzz_create_req.c).  Values that are
 * well-formed but refused are reported with a reason, never silently dropped:
 * what the effective policy does not allow (--privileged, devices, host
 * namespaces, seccomp=unconfined...) with the policy's sourced reason, what
 * is not possible at all (an unknown capability or mode, a non-namespaced
 * sysctl) with EINVAL/EPERM. */
#ifndef MOAT_SPEC_H
#define MOAT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

struct json_object;
struct moat_image_config;
struct moat_policy;

#define MOAT_CREATE_MAX_BODY (4u << 20)

struct moat_port_binding {
    char *container_port; /* "80/tcp" */
    char *host_ip, *host_port;
};

struct moat_mount_req { /* HostConfig.Mounts[] and the parsed HostConfig.Binds/Tmpfs */
    char *type;         /* "bind", "volume", "tmpfs" */
    char *source;       /* host path, volume name (NULL/"" for anonymous), unused for tmpfs */
    char *target;
    bool read_only;
    char *propagation;  /* bind: "rprivate" default */
    bool no_copy;       /* volume: VolumeOptions.NoCopy / "nocopy" */
    bool noexec;        /* "noexec" option in Binds or a tmpfs option */
    int64_t tmpfs_size; /* bytes, 0: default */
    uint32_t tmpfs_mode;
    char *options;      /* tmpfs: the raw option string of --tmpfs ("rw,size=64m") */
    char **labels;      /* volume: VolumeOptions.Labels as k, v, ..., NULL */
};

struct moat_restart_policy {
    char *name;          /* "", "no", "always", "on-failure", "unless-stopped" */
    int64_t max_retries;
};

struct moat_create_req {
    /* Config */
    char *hostname, *domainname, *user, *working_dir, *image, *stop_signal;
    char **env, **cmd, **entrypoint; /* NULL: not given (image's applies); entrypoint [""]: reset */
    bool entrypoint_set, cmd_set;
    bool tty, open_stdin, stdin_once, attach_stdin, attach_stdout, attach_stderr, network_disabled;
    char **labels;        /* k, v, k, v, ..., NULL */
    char **exposed_ports; /* "80/tcp", ... */
    char **volumes;       /* Config.Volumes keys: anonymous volume targets */
    int64_t stop_timeout; /* -1: not given */
    /* HostConfig */
    char **binds;         /* as given ("src:dst[:opts]"), also parsed into mounts */
    struct moat_mount_req *mounts;
    size_t n_mounts;
    char *network_mode;   /* "", "default", "none", "host", "bridge", "container:<id>", a name */
    struct moat_port_binding *ports;
    size_t n_ports;
    bool publish_all;
    struct moat_restart_policy restart;
    bool auto_remove, privileged, readonly_rootfs, init;
    char **cap_add, **cap_drop, **security_opt, **dns, **dns_search, **dns_options, **extra_hosts;
    char **volumes_from, **group_add, **tmpfs; /* tmpfs: "path", "opts", ... as given */
    char **sysctls;       /* k, v, ..., NULL */
    char *log_type;       /* LogConfig.Type ("" = json-file) */
    char **log_opts;      /* k, v, ... (max-size, max-file) */
    char *ipc_mode, *pid_mode, *uts_mode, *userns_mode, *cgroupns_mode;
    char *moat_policy;    /* HostConfig.MoatPolicy: a built-in name or a policy document (moat run --policy) */
    int64_t memory, memory_swap, memory_reservation, nano_cpus, cpu_shares, cpu_period, cpu_quota, pids_limit,
        blkio_weight, shm_size, oom_score_adj;
    bool oom_kill_disable;
    char *cpuset_cpus, *cpuset_mems;
    struct moat_ulimit { char *name; int64_t soft, hard; } *ulimits;
    size_t n_ulimits;
    char **devices;       /* "PathOnHost:PathInContainer:perms" (the host's node bound in, if policy allows) */
    int64_t console_h, console_w;
    /* NetworkingConfig.EndpointsConfig: network name -> aliases */
    char **endpoint_names;
    char ***endpoint_aliases;
    /* The Config and HostConfig objects as sent (for inspect and commit). */
    struct json_object *config_json, *host_config_json;
};

int moat_create_req_parse(const char *buf, size_t len, struct moat_create_req **ret, moat_error **err);
void moat_create_req_free(struct moat_create_req *r);
/* docker run's "-v src:dst[:opts]" grammar (also Binds); fills one mount. */
int moat_bind_parse(const char *spec, struct moat_mount_req *ret, moat_error **err);
void moat_mount_req_clear(struct moat_mount_req *m);

/* Capabilities the engine grants by default, inside the container's own user
 * namespace (DEVELOPERS.md): CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETUID
 * SETGID NET_BIND_SERVICE. */
extern const char *const moat_default_caps[];

/* A mount the engine has resolved (volume directory, checked bind source,
 * tmpfs, /etc/hosts...): goes into config.json as it is. */
struct moat_spec_mount {
    const char *destination;
    const char *type;   /* "bind", "tmpfs" */
    const char *source;
    char **options;     /* e.g. "rbind", "ro", "nosuid", "nodev", "idmap" */
};

struct moat_spec_in {
    const struct moat_create_req *req;
    const struct moat_image_config *image; /* may be NULL (no image config) */
    const char *container_id;
    const char *rootfs;                    /* absolute path of the mounted root (root.path) */
    const int *rootfs_view;                /* non-NULL: read users and groups through this fd, not rootfs */
    /* rootless overlay: root.path is an empty directory, and moat-runtime
     * mounts these (run.moat.overlay.*) inside the container's namespaces */
    char *const *overlay_lower;            /* top first; NULL: no overlay */
    const char *overlay_upper, *overlay_work;
    bool rootless;
    /* Id mapping: container 0.. -> host base.. (root: the container's own
     * slice of the 'moat' range; rootless: built from the user's ranges). */
    uint32_t uid_base, gid_base, id_range; /* root only */
    const struct moat_spec_mount *mounts;  /* volumes, binds, tmpfs, etc files, in order */
    size_t n_mounts;
    const char *netns_path;                /* join this network namespace, or NULL: a new one */
    bool host_network;
    const char *cgroup_parent;             /* e.g. "/moat" (cgroupsPath = parent/id); NULL: none */
    const struct moat_policy *policy;      /* the effective policy (its defaults build the config); NULL: baseline */
};

/* Build config.json.  First the effective policy (in->policy) decides the
 * security settings (moat_policy_eval_security: "denied by policy: ...",
 * EPERM); what it allows is built (privileged inside the user namespace, host
 * devices, host namespaces, unconfined seccomp...).  Then what is malformed
 * or impossible fails with EINVAL/EPERM and a message naming the flag. */
int moat_spec_build(const struct moat_spec_in *in, struct json_object **ret, moat_error **err);
/* The checks of moat_spec_build that are not policy and need no root
 * filesystem (modes, capabilities, security options, the host's device
 * nodes): the engine runs them at create, after the policy. */
int moat_spec_check(const struct moat_create_req *req, moat_error **err);

/* The process the container runs: Entrypoint + Cmd after Docker's rules
 * (request over image; a request Entrypoint resets the image Cmd). */
int moat_spec_args(const struct moat_create_req *req, const struct moat_image_config *image, char ***ret,
                   moat_error **err);

/* An OCI process JSON for exec (POST /containers/{id}/exec body: Cmd, Env,
 * User, WorkingDir, Tty, Privileged), based on the container's config.json
 * process.  The exec body parser is also untrusted-input code. */
struct moat_exec_req {
    char **cmd, **env;
    char *user, *working_dir, *detach_keys;
    bool tty, attach_stdin, attach_stdout, attach_stderr, privileged;
};
int moat_exec_req_parse(const char *buf, size_t len, struct moat_exec_req **ret, moat_error **err);
void moat_exec_req_free(struct moat_exec_req *r);
int moat_spec_exec_process(struct json_object *container_config, const struct moat_exec_req *er,
                           struct json_object **ret_process, moat_error **err);

#endif
