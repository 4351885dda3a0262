/* The engine's containers and execs (internal to src/engine and src/api). */
#ifndef MOAT_ENGINE_CONTAINER_H
#define MOAT_ENGINE_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "moat/error.h"
#include "moat/spec.h"

struct event;
struct json_object;
struct moat_http_req;
struct relay;

enum ctr_status { CTR_CREATED, CTR_RUNNING, CTR_PAUSED, CTR_RESTARTING, CTR_REMOVING, CTR_EXITED, CTR_DEAD };
const char *ctr_status_name(enum ctr_status s);

/* A waiting API request (wait, stop, restart, rm -f): answered on an event. */
enum waiter_kind { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED, WAIT_STOP, WAIT_RESTART, WAIT_REMOVE };
struct waiter {
    struct waiter *next;
    struct moat_container *c;
    struct moat_http_req *req;
    enum waiter_kind kind;
    bool remove_volumes; /* WAIT_REMOVE: rm -v */
    /* WAIT_RESTART: who asked, for the start that ends the restart (its policy, its audit record) */
    uid_t uid;
    bool uid_known;
    char identity[64];
};

struct ctr_volume { /* a volume or bind the container mounts */
    char *type;        /* "volume", "bind", "tmpfs" */
    char *name;        /* volume name */
    char *source;      /* host path (volume: its _data) */
    char *destination;
    bool rw, anonymous, populate, idmap;
    char *mode;        /* as given ("ro", "z"...) */
};

struct moat_container {
    struct moat_engine *e;
    char *id, *name;          /* name without the leading '/' */
    char *image_ref;          /* Config.Image as given */
    char *image_id;           /* sha256:... */
    char *created;            /* RFC 3339 */
    struct json_object *body; /* the create request as sent (normalised by parse) */
    struct moat_create_req *req;
    char *dir, *run_dir;
    uint32_t id_slice;        /* root: which 65536-id slice of the 'moat' range */
    struct ctr_volume *vols;
    size_t n_vols;
    bool populated;
    struct json_object *admission; /* AdmittedBy: the policy layers, digest, identity of the last admission */
    bool creator_known;
    uint32_t creator_uid;          /* who created it: a restart's policy is evaluated for them */
    /* State */
    enum ctr_status status;
    pid_t pid, monitor_pid;
    int exit_code;
    char *started_at, *finished_at, *error;
    bool oom_killed, manual_stop, has_run, removing;
    int restart_count;
    /* Runtime bits (not saved) */
    int monitor_pidfd;
    struct event *monitor_ev, *stop_timer, *restart_timer;
    struct waiter *waiters;
    struct relay *attach_pending; /* attach clients waiting for start */
    struct relay *relays;         /* live attach relays */
    bool rootfs_mounted;
    bool reap_volumes;            /* waiting in engine->reaping: remove its anonymous volumes too */
    struct logs_follow *followers; /* GET /containers/{id}/logs streams (logs.c) */
};

/* engine.c */
int engine_add(struct moat_engine *e, struct moat_container *c);
void engine_drop(struct moat_engine *e, struct moat_container *c);
char *engine_random_hex(size_t bytes);
char *engine_name_random(struct moat_engine *e);
int engine_alloc_slice(struct moat_engine *e, uint32_t *ret, moat_error **err);
void engine_slice_range(uint32_t slice, uint32_t *uid_base, uint32_t *gid_base, uint32_t *size);

/* container.c */
struct moat_image;
struct moat_policy;
struct moat_caller;
/* The effective policy for a container (the host's layers, the caller's scoped layers,
 * then its own HostConfig.MoatPolicy) and its verdict: EPERM "denied by policy: ..." with
 * every reason.  The decision is on the audit log (who's action and object) before this
 * returns; -1 EIO when it cannot be recorded.  At create the user is checked as written;
 * at start with the resolved uid (uid_known).  who NULL: the engine itself (a restart), for
 * the creator's identity.  c: the container being started (NULL at create).  action ("create",
 * "start") names the admission in *ret_admission (inspect's AdmittedBy); ret and ret_admission
 * may be NULL. */
int ctr_admit(struct moat_engine *e, const struct moat_caller *who, struct moat_container *c,
              const struct moat_create_req *req, const struct moat_image *img, bool uid_known, uint32_t uid,
              const char *action, struct moat_policy **ret, struct json_object **ret_admission, moat_error **err);
/* A running container's operations under its effective policy:
 * rule POL_EXEC (er: the exec), POL_CP, POL_COMMIT, or update limits (upd). */
struct ctr_update_limits { int64_t memory, pids, nano_cpus; };
int ctr_admit_op(struct moat_container *c, const struct moat_caller *who, int rule, const struct moat_exec_req *er,
                 const struct ctr_update_limits *upd, moat_error **err);
/* moat policy check: create's parse, image lookup, policy and builder checks, nothing made.
 * 0 with *ret {"Allowed": bool, "Reasons": [...], "Layers": [...], "Digest": ...}; -1 when
 * the request itself is bad (the same error create would answer). */
int ctr_check(struct moat_engine *e, const struct moat_caller *who, const char *body, size_t len,
              struct json_object **ret, moat_error **err);
int ctr_create(struct moat_engine *e, const struct moat_caller *who, const char *name, const char *body, size_t len, struct moat_container **ret,
               char ***ret_warnings, moat_error **err);
/* A rootless engine's overlay: the container's root filesystem is mounted only
 * inside its own mount namespace (moat-runtime made it there), never on the
 * engine's side. */
bool ctr_rootfs_in_container(struct moat_container *c);
/* Write container.json atomically; with err NULL a failure is logged instead. */
int ctr_save(struct moat_container *c, moat_error **err);
int ctr_load(struct moat_engine *e, const char *id, struct moat_container **ret, moat_error **err);
int ctr_remove(struct moat_container *c, bool volumes, moat_error **err);
int ctr_rename(struct moat_container *c, const char *name, moat_error **err);
void ctr_free(struct moat_container *c);
void ctr_set_status(struct moat_container *c, enum ctr_status s);
int ctr_validate_name(const char *name, moat_error **err);

/* lifecycle.c */
/* Finish the removals after_exit answered (engine shutdown: at once). */
void engine_reap(struct moat_engine *e);
int ctr_start(struct moat_container *c, const struct moat_caller *who, moat_error **err);
/* After a failed start: ends pending attaches; --rm removes it (true: c was freed). */
bool ctr_start_failed(struct moat_container *c);
/* Signal through the runtime; ESRCH-like errors when not running. */
int ctr_kill(struct moat_container *c, int sig, moat_error **err);
/* Stop: StopSignal, then SIGKILL after timeout seconds (< 0: the default). */
int ctr_stop(struct moat_container *c, int timeout, moat_error **err);
int ctr_pause(struct moat_container *c, bool pause, moat_error **err);
/* After an engine restart: reattach to a live monitor or record the exit. */
void ctr_recover(struct moat_container *c);
/* Answer the waiters of a container that is being removed (wait, rm). */
void ctr_removed(struct moat_container *c);
void ctr_add_waiter(struct moat_container *c, struct moat_http_req *req, enum waiter_kind kind, bool vols);
/* A WAIT_RESTART waiter: the start after the stop is made as `who`. */
void ctr_add_restart_waiter(struct moat_container *c, struct moat_http_req *req, const struct moat_caller *who);
int ctr_runtime(struct moat_engine *e, char *const *args, char **ret_err, moat_error **err);
int ctr_update(struct moat_container *c, const char *resources_json, moat_error **err);

/* lifecycle.c: start a monitor (container mode: --bundle DIR; exec: --exec FILE);
 * returns its pid and the process pid from the sync line. */
struct spawn {
    const char *mode_flag, *mode_arg;
    const char *run_dir, *exit_file, *log_file;
    bool tty, in, stdin_once;
};
int engine_spawn_monitor(struct moat_engine *e, const char *id, const struct spawn *s, pid_t *ret_monitor,
                         pid_t *ret_pid, moat_error **err);

/* attach.c: relay a hijacked client to the monitor's attach socket. */
struct relay_opts {
    bool in, out, err;     /* which streams */
    bool tty;              /* raw output, no frames */
    bool is_exec;
    const char *detach_keys; /* NULL: ctrl-p,ctrl-q */
    bool send_start;       /* exec: send MOAT_MON_START once connected */
    bool close_stdin_on_eof;
    void (*on_free)(void *arg); /* the relay is gone (its arg may be freed from then on) */
};
/* Create a relay for client_fd (takes it, plus pending bytes); connect it now
 * when the monitor's socket exists (sock_path), else queue on c->attach_pending. */
/* Hijacked streams leave the HTTP server's connection count, so they have their own bound:
 * past it attach and exec start answer 503 before hijacking (2 fds each, well inside the
 * fd limit of 20000 this kind of host allows). */
#define MOAT_MAX_RELAYS 1024
int relay_check_room(struct moat_engine *e, moat_error **err);
int relay_new(struct moat_engine *e, struct moat_container *c, int client_fd, char *pending, size_t pending_len,
              const struct relay_opts *o, const char *sock_path, void (*on_exit)(void *arg, int code), void *arg,
              moat_error **err);
void relay_connect_pending(struct moat_container *c);
void relay_close_all(struct moat_container *c);     /* on removal */
void relay_close_pending(struct moat_container *c); /* attach clients of a start that failed */
/* One frame to a monitor socket (resize, start) on a fresh connection. */
int monitor_send(const char *sock_path, uint8_t type, const void *payload, uint32_t len, moat_error **err);

/* logs.c */
struct logs_opts {
    bool out, err, follow, timestamps;
    int64_t tail;          /* -1: all */
    int64_t since_ns, until_ns; /* 0: none */
};
void logs_serve(struct moat_container *c, struct moat_http_req *req, const struct logs_opts *o);
void logs_container_exited(struct moat_container *c);
/* End every logs stream of c and free their state (ctr_free calls it). */
void logs_free_container(struct moat_container *c);
/* Pure helpers (unit-tested).  One json-file line -> its parts; -1 when the
 * line is not JSON, over LOGS_LINE_MAX, or lacks "log"/"stream"/"time". */
#define LOGS_LINE_MAX (1u << 20)
struct logs_line {
    char *log;       /* the payload (malloc'd) */
    size_t log_len;
    int stream;      /* 1 stdout, 2 stderr */
    int64_t time_ns; /* unix nanoseconds */
};
int logs_parse_line(const char *buf, size_t len, struct logs_line *ret);
void logs_line_clear(struct logs_line *l);
/* RFC 3339 ("2026-12-02T04:00:10.5Z", "...+01:00") -> unix ns; -1 if malformed. */
int logs_parse_time(const char *s, int64_t *ret_ns);
/* Docker's timestamps prefix: "2026-12-02T04:00:10.000000000Z" (exactly 9 digits). */
void logs_format_time(int64_t ns, char buf[static 40]);
/* Tail selection: a ring remembering where the last n selected lines start. */
struct logs_pos {
    size_t file; /* index into the list of log files, oldest first */
    uint64_t off;
};
struct logs_tail {
    int64_t n; /* lines wanted (>= 0) */
    struct logs_pos *ring;
    size_t cap, head, count;
};
void logs_tail_init(struct logs_tail *t, int64_t n);
void logs_tail_push(struct logs_tail *t, struct logs_pos p);
/* Where output starts: false when no line is selected (nothing to send). */
bool logs_tail_start(const struct logs_tail *t, struct logs_pos *ret);
void logs_tail_free(struct logs_tail *t);

/* inspect.c */
struct json_object *ctr_inspect_json(struct moat_container *c, bool size);
struct json_object *ctr_summary_json(struct moat_container *c, bool size);
char *ctr_status_text(struct moat_container *c); /* "Up 2 seconds", "Exited (0) 3 seconds ago" */

/* exec.c */
struct moat_exec;
int exec_create(struct moat_container *c, const struct moat_caller *who, const char *body, size_t len,
                char **ret_id, moat_error **err);
struct moat_exec *exec_find(struct moat_engine *e, const char *id);
void exec_start(struct moat_engine *e, struct moat_exec *x, struct moat_http_req *req);
struct json_object *exec_inspect_json(struct moat_exec *x);
int exec_resize(struct moat_exec *x, unsigned h, unsigned w, moat_error **err);
void exec_drop_container(struct moat_engine *e, struct moat_container *c);

/* events.c */
void events_serve(struct moat_engine *e, struct moat_http_req *req, int64_t since, int64_t until,
                  struct json_object *filters);
void events_free_all(struct moat_engine *e);
/* Docker's event filters ({"type":{"container":true}} or {"type":["container"]})
 * against one event object; NULL filters match everything.  Pure (unit-tested). */
bool events_match(struct json_object *filters, struct json_object *ev);

#endif
