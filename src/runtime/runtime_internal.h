/* Internal interfaces of the runtime library (not for the engine). */
#ifndef MOAT_RUNTIME_INTERNAL_H
#define MOAT_RUNTIME_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/cgroup.h"
#include "moat/error.h"
#include "moat/lsm.h"
#include "moat/oci.h"
#include "moat/runtime.h"
#include "moat/seccomp.h"

struct json_object;

/* Annotations moat-runtime understands (beyond the OCI spec). */
#define ANNOT_LANDLOCK "run.moat.landlock"
#define ANNOT_LSM_OPTIONAL "run.moat.lsm.optional"
#define ANNOT_RLIMIT_CLAMP "run.moat.rlimit.clamp"
#define ANNOT_CGROUP_OPTIONAL "run.moat.cgroup.optional"
#define ANNOT_BIND_NOSYMLINKS "run.moat.bind.nosymlinks" /* bind sources are opened refusing any symlink */

/* ---- parent <-> child synchronisation (SOCK_SEQPACKET) ------------------ */
enum sync_type {
    SYNC_GO = 1,       /* parent -> child: set-up done on the host side, go on */
    SYNC_USERMAP_REQ,  /* child -> parent: I unshared the user ns, write my maps */
    SYNC_USERMAP_ACK,
    SYNC_CHILD_PID,    /* stage 1 -> parent: the container process is `value` */
    SYNC_HOOKS_REQ,    /* container -> parent: run createRuntime hooks now */
    SYNC_HOOKS_ACK,
    SYNC_READY,        /* container -> parent: fully set up, waiting for start;
                        * value = its pid as seen in its own pid namespace */
    SYNC_START,        /* parent -> container: exec now (run, exec) */
    SYNC_ERROR,        /* child -> parent: value = errno, text = message */
    SYNC_STATE,        /* parent -> container, after READY when it has startContainer
                        * hooks: text = the state JSON they get on stdin */
};

struct sync_msg {
    uint32_t type;
    int32_t value;
    char text[32768];
};

int sync_send(int fd, uint32_t type, int32_t value, const char *text);
/* Receive one message; a SYNC_ERROR becomes an error carrying the child's text. */
int sync_recv(int fd, struct sync_msg *m, moat_error **err);
int sync_expect(int fd, uint32_t type, struct sync_msg *m, moat_error **err);
/* In a child: report the error to the parent and _exit. */
__attribute__((noreturn)) void sync_child_fail(int fd, moat_error *err);
/* Stage 1 clones the container (or exec) process and then reports its pid on
 * the sync socket they share.  The clone must not speak before that report,
 * or the runtime would see READY with no pid (and signal pid -1): it waits at
 * a gate, a pipe made by stage 1 that opens (EOF) when stage 1 exits. */
int sync_gate_make(int gate[2]);
void sync_gate_wait(int gate[2]);

/* ---- everything computed before forking --------------------------------- */
struct container_plan {
    const char *id;
    struct oci_spec *spec;
    const struct oci_process *proc; /* spec->process, or the exec process */
    char *bundle;
    char *rootfs;                   /* absolute host path */
    int rootfs_fd;                  /* O_PATH of the rootfs, opened by the runtime */
    struct moat_seccomp_prog *seccomp;
    struct moat_lsm_plan lsm;
    struct moat_landlock *landlock;
    struct moat_cgroup *cgroup;
    bool rootless;                  /* no real root on the host (rt_rootless) */
    bool is_exec;                   /* joining a running container */
    bool exec_detach;               /* exec --detach: the process outlives the runtime */
    bool cg_in_v2;                  /* stage 1 was born in the cgroup2 directory (moat_cgroup_fork) */
    int sync_fd;                    /* child end */
    int exec_fifo;                  /* create: O_RDWR fifo; -1 for run/exec */
    int console_sock;               /* where the pty master goes, or -1 */
    int preserve_fds;
    uint64_t host_netns_ino;        /* to tell a joined host netns from a private one */
    uint64_t host_pidns_ino;        /* ... and the same for the pid and ipc namespaces */
    uint64_t host_ipcns_ino;
    int cap_last;                   /* the running kernel's highest capability number */
    /* exec: namespace fds to join, -1 where not needed */
    int ns_fds[OCI_NS__COUNT];
    /* bind mount sources opened (open_tree clones) by the runtime on the host
     * side, one per mount, -1 where not pre-opened */
    int *bind_fds;
    /* run.moat.overlay.*: the root filesystem is an overlay the container's
     * init mounts on root.path inside its own namespaces (rootless engines) */
    struct rootfs_overlay *overlay;
};

struct rootfs_overlay {
    size_t n_lower;
    char **lower;       /* top first */
    char *upper, *work; /* NULL: a read-only overlay */
};
/* rootfs.c: read run.moat.overlay.lowerdir (absolute paths joined by ':', top
 * first), .upperdir and .workdir (both or neither) and check that each is a
 * directory the runtime can open; no annotation: *ret NULL. */
int rootfs_overlay_prepare(const struct oci_spec *spec, struct rootfs_overlay **ret, moat_error **err);
void rootfs_overlay_free(struct rootfs_overlay *o);

void container_plan_init(struct container_plan *p); /* all fds -1 */
void container_plan_clear(struct container_plan *p); /* frees, then init */

/* ---- pieces ----------------------------------------------------------- */
/* userns.c: write uid/gid maps of `pid` (directly, or via newuidmap/newgidmap). */
int userns_write_maps(pid_t pid, const struct oci_linux *lx, bool rootless, moat_error **err);
/* Host uid/gid that container uid/gid 0 maps to (or our own ids without a userns). */
void userns_root_ids(const struct oci_linux *lx, uid_t *ret_uid, gid_t *ret_gid);
/* We run in a user namespace other than the host's (e.g. rootless podman runs
 * its runtimes as uid 0 of one): even uid 0 has no power over host resources. */
bool userns_nested(void);
/* No real root on the host: euid != 0, or in a nested user namespace.  This
 * decides cgroup delegation, device nodes and the default state root; whether
 * a new user namespace is required still depends on euid alone. */
bool rt_rootless(void);
/* `uid` of our user namespace as seen from the host's (itself when unmapped). */
unsigned userns_host_uid(unsigned uid);
/* Container uid (gid when `gid`) `id` of pid's user namespace as seen from
 * ours, or -1 when it isn't mapped there. */
int64_t userns_id_outside(pid_t pid, bool gid, unsigned id);

/* rootfs.c: open bind mount sources on the host side (as root, before the
 * user namespace exists) so that host paths the container's unprivileged root
 * could not reach can still be bound, with their flags set by the host. */
int rootfs_preopen_binds(struct container_plan *plan, moat_error **err);
/* ...and id-map those that ask for it, once the user namespace exists. */
int rootfs_idmap_binds(struct container_plan *plan, pid_t userns_pid, moat_error **err);

/* rootfs.c: all mounts, devices, masking, pivot_root; run in the container's
 * fresh mount namespace.  hooks_cb is called between mounting and pivot_root
 * (createRuntime/createContainer hooks). */
typedef int (*rootfs_hook_cb)(struct container_plan *plan, moat_error **err);
int rootfs_setup(struct container_plan *plan, rootfs_hook_cb hooks_cb, moat_error **err);

/* process.c: the last steps of the container process: console, identity,
 * capabilities, no_new_privs, seccomp, Landlock, cwd, fds; then wait and exec. */
struct proc_ready {
    char *exec_path; /* resolved executable */
    int cwd_fd;
};
int process_setup(struct container_plan *plan, struct proc_ready *ready, moat_error **err);
__attribute__((noreturn)) void process_wait_and_exec(struct container_plan *plan, struct proc_ready *ready);
/* Resolve argv[0] against PATH from env (the container's), as execvp would. */
int process_find_exec(const char *arg0, char *const *env, char **ret, moat_error **err);
/* Apply rlimits to another process (the host side holds more privilege). */
int process_apply_rlimits(pid_t pid, const struct oci_process *proc, bool clamp, moat_error **err);
int process_write_oom_score_adj(pid_t pid, int value, moat_error **err);
/* Host side: give our stdio pipes to the user `proc` runs as in pid's user
 * namespace, so the container can open /dev/stdout and friends (process.c;
 * process_setup does the container side). */
int process_fix_stdio_owner(pid_t pid, const struct oci_process *proc, moat_error **err);

/* console.c */
int console_send_fd(int sock, int fd, const char *name, moat_error **err);
int console_recv_fd(int sock, int *ret_fd, moat_error **err);
int console_connect(const char *path, moat_error **err);
/* Give the pty our terminal's size (before the container runs: it may ask at once). */
void console_copy_winsize(int master);
/* Foreground `run`/`exec` with a terminal and no console socket: copy between
 * our stdio and the pty master until the container exits. */
int console_proxy(int master, pid_t child, int sigfd, int *ret_status, moat_error **err);

/* hooks.c: run one kind of hook with the state JSON on stdin. */
int hooks_run(const struct oci_spec *spec, enum oci_hook_kind kind, const char *state_json, moat_error **err);

/* state.c */
struct container_state {
    char *id;
    char *bundle;
    char *rootfs;
    pid_t pid;
    uint64_t pid_start;   /* /proc/PID/stat starttime, guards against pid reuse */
    char *created;
    uid_t owner;
    bool rootless;
    struct moat_cgroup *cgroup;
    struct oci_kv *annotations;
    size_t n_annotations;
};
void container_state_clear(struct container_state *st);
int state_dir_open(const struct moat_rt_opts *o, const char *id, bool create, int *ret_fd, moat_error **err);
int state_root_open(const struct moat_rt_opts *o, bool create, int *ret_fd, char **ret_path, moat_error **err);
/* <root>/.seccomp-cache (created private), or -1: disabled or unusable. */
int state_seccomp_cache_open(const struct moat_rt_opts *o);
int state_save(int dirfd, const struct container_state *st, moat_error **err);
int state_load(int dirfd, const char *id, struct container_state *st, moat_error **err);
/* "created", "running", "paused", "stopped" */
const char *state_status(int dirfd, const struct container_state *st);
/* The OCI state JSON (for `state` and hooks). */
char *state_to_oci_json(const struct container_state *st, const char *status, bool pretty);
int proc_start_time(pid_t pid, uint64_t *ret);
/* pidfd of the container init if it is still the same process, else -ESRCH. */
int state_pidfd(const struct container_state *st);
int valid_container_id(const char *id, moat_error **err);
void state_remove_dir(const struct moat_rt_opts *o, const char *id);

/* container.c */
int container_plan_prepare(struct container_plan *plan, const struct moat_rt_opts *o, const char *id,
                           struct oci_spec *spec, const char *bundle, moat_error **err);
int container_create(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co, bool use_fifo,
                     struct container_plan *plan, int *ret_sock, pid_t *ret_pid, moat_error **err);

/* sealed.c: re-exec from a sealed memfd copy (CVE-2019-5736 class). */
int sealed_reexec_if_needed(int argc, char **argv, moat_error **err);
bool sealed_is_sealed(void);

/* template.c: the `spec` template and the `features` document. */
int moat_spec_template(bool rootless, struct json_object **ret, moat_error **err);
int moat_spec_template_ex(bool rootless, bool id_maps, struct json_object **ret, moat_error **err);
struct json_object *moat_features_json(void);

/* namespaces helpers (container.c) */
uint64_t ns_inode(const char *proc_path);

#endif
