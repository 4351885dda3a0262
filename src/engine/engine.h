/* moatd's engine: containers, execs, events, over the image store, volumes,
 * the spec builder, the monitor and the runtime.  Single-threaded: everything
 * runs on one libevent loop; work that takes long (image load, build) runs in
 * a child process.  State is files written atomically under the store root:
 *
 *   <store>/containers/<id>/container.json  the record (Docker's inspect shape, less State)
 *   <store>/containers/<id>/state.json      State (Status, Pid, ExitCode, StartedAt...)
 *   <store>/containers/<id>/bundle/         config.json and rootfs/ (the snapshot's mount point)
 *   <store>/containers/<id>/container.log   json-file logs (the monitor writes them)
 *   <store>/containers/<id>/exit.json       the monitor's record of the last exit
 *   <run>/c/<id12>/                         the monitor's sockets and pid files
 *
 * <run> is /run/moat as root; rootless $XDG_RUNTIME_DIR/moat, or a private
 * /tmp/moat-<uid> (0700, ours) when that variable is unset. */
#ifndef MOAT_ENGINE_H
#define MOAT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"
#include "moat/policy.h"

struct event_base;
struct json_object;
struct moat_store;
struct moat_volumes;
struct moat_container;
struct moat_audit;

struct moat_engine_opts {
    const char *store_root; /* NULL: the store's default */
    const char *run_dir;    /* NULL: see above */
    const char *socket;     /* NULL: <run>/moat.sock */
    const char *runtime;    /* NULL: moat-runtime next to moatd, else in PATH */
    const char *monitor;    /* NULL: moat-monitor next to moatd, else in PATH */
    const char *policy_dir; /* NULL: moat_policy_default_dir() */
    int runtime_timeout_s;  /* 0: 30 s; how long a runtime command may take */
};

struct img_job;

struct moat_engine {
    struct event_base *base;
    struct moat_store *store;
    struct moat_volumes *volumes;
    char *store_root, *run_dir, *socket_path, *runtime_path, *monitor_path, *runtime_root;
    bool rootless;
    /* The runtime is moat's own (no --runtime): the few runtime commands that only
     * signal a created container (start) run in the engine, without an exec. */
    bool runtime_builtin;
    /* With it: a sealed memfd copy of moat-runtime, made once, that every monitor runs
     * create and exec from (so they skip their own sealed re-exec); -1 without. */
    int runtime_memfd;
    int runtime_timeout_s;        /* a runtime command that takes longer is killed (ctr_runtime) */
    int64_t started_unix;
    struct moat_container **ctrs; /* every container */
    size_t n_ctrs;
    size_t n_relays;              /* live attach/exec streams: hijacked sockets the HTTP server no longer counts */
    /* Containers whose removal was answered and is finished right after (lifecycle.c:
     * after_exit): out of ctrs already, their files and mounts go on the next turn of
     * the loop, once the answers are written. */
    struct moat_container **reaping;
    size_t n_reaping;
    struct event *reap_ev;
    struct event_sub *subs;       /* GET /events listeners (events.c) */
    struct event_ring *ev_ring;   /* the last events, for since= (events.c) */
    struct moat_audit *audit;     /* the tamper-evident audit log, <store>/audit (moat/audit.h) */
    struct moat_policy_set *policy; /* the host's policy layers (include/moat/policy.h) */
    char *policy_dir;               /* where they come from (reloaded on SIGHUP) */
    char *policy_loaded_at;         /* RFC 3339: when the set in force was loaded */
    char *policy_error;             /* the last reload's refusal (the set in force is older), or NULL */
    struct img_job *img_jobs;       /* image jobs in flight (src/api/routes_images.c), ended at shutdown */
};

int moat_engine_new(const struct moat_engine_opts *o, struct event_base *base, struct moat_engine **ret,
                    moat_error **err);
void moat_engine_free(struct moat_engine *e);

/* ---- events (events.c) ---------------------------------------------------------- */
/* Record and broadcast one event: type "container"|"image"|"volume"|"network",
 * action "create", "start", "die", ...; id the object; attrs k, v, ..., NULL
 * (container events add the container's labels, image and name themselves). */
void moat_engine_event(struct moat_engine *e, const char *type, const char *action, const char *id,
                       char *const *attrs);

/* ---- who asks, and the audit record (engine.c) ------------------------------------- */
/* A request's caller, from the API (api_caller()).  Policy decisions are made for this
 * identity (scoped layers apply) and recorded on the audit log under its action and
 * object before the engine acts.  NULL where the engine acts by itself (a restart policy):
 * the container's creator's identity, recorded as "engine". */
struct moat_caller {
    struct moat_identity id;  /* the peer's uid; tenant and subject arrive with TLS */
    bool id_known;
    const char *identity;     /* "uid:1000" */
    const char *action;       /* "container.create" */
    const char *object;       /* what the request names */
    bool *recorded;           /* set once a record for this request is on disk */
};
/* Append one record: decision "allow"|"deny"|"error", reasons NULL-terminated or NULL,
 * policy the deciding layers (or NULL).  0 once on disk; -1 with EIO "audit log: ...; the
 * request was not executed": the caller must then not act (fail closed). */
int moat_engine_audit(struct moat_engine *e, const struct moat_caller *who, const char *decision,
                      char *const *reasons, const char *policy, moat_error **err);

/* Reload the host's policy directory (SIGHUP).  A bad file leaves the policy in force
 * unchanged (the last good one) and says so: logged, kept in policy_error for /info, and on
 * the audit log.  Returns 0 when the new set is in force. */
int moat_engine_reload_policy(struct moat_engine *e, moat_error **err);

/* ---- containers (container.c) --------------------------------------------------- */
/* Find by full ID, name (with or without '/') or unique ID prefix.  ENOENT
 * "No such container: x"; EINVAL when a prefix is ambiguous. */
int moat_engine_find(struct moat_engine *e, const char *ref, struct moat_container **ret, moat_error **err);
/* For the image store's in-use hook and the volume hook. */
int moat_engine_image_in_use(void *ctx, const char *image_id, char **ret_container, bool *ret_running,
                             moat_error **err);
int moat_engine_volume_in_use(void *ctx, const char *name, char **ret_container, moat_error **err);
size_t moat_engine_count(struct moat_engine *e, const char *status); /* NULL: all; "stopped" */
/* The snapshot driver containers get here, for create and /info (one rule):
 * the store's probe ("overlay", or "copy" when the probe failed), made as
 * root in the engine's namespaces and rootless in the store's own user and
 * mount namespace, where moat-runtime will mount a rootless container's
 * overlay too (run.moat.overlay.*).  ret_reason: why copy, or NULL (both
 * strings the caller's). */
int moat_engine_rootfs_driver(struct moat_engine *e, char **ret_driver, char **ret_reason, moat_error **err);
/* <run>/moat.sock for this user (the CLI's default endpoint too). */
char *moat_engine_default_socket(void);

#endif
