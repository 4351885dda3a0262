/* `moat run` / `moat create`: Docker's flags (runopts.c, pure: no I/O but
 * reading --env-file) and the create body they make; the streaming helpers
 * the attached commands share (stream.c). */
#ifndef MOAT_CLI_RUNOPTS_H
#define MOAT_CLI_RUNOPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <termios.h>

#include "moat/error.h"

struct json_object;
struct moat_client;

struct run_opts {
    bool detach, interactive, tty, rm, read_only, init, privileged, sig_proxy;
    char *name, *workdir, *user, *entrypoint, *hostname, *restart, *network, *stop_signal, *detach_keys;
    char *log_driver;
    char *policy; /* --policy: a built-in name, or the content of a policy file */
    char *pid, *ipc, *uts, *cgroupns; /* --pid, --ipc, --uts, --cgroupns */
    bool entrypoint_set, stop_timeout_set;
    char **env, **env_files, **labels, **tmpfs, **cap_add, **cap_drop, **security_opt, **volumes, **mounts;
    char **volumes_from, **publish, **ulimits, **group_add, **sysctls, **log_opts, **aliases;
    char **devices; /* --device HOST[:CONTAINER][:rwm] */
    int64_t memory, pids_limit, cpu_shares, nano_cpus;
    int64_t stop_timeout;
    const char *image;
    char **cmd; /* points into argv */
    int ncmd;
};

/* Parse flags, IMAGE and [COMMAND [ARG...]] (getopt stops at the image).
 * Returns 0, 1 when --help was printed, -1 with *err. */
int run_opts_parse(struct run_opts *o, int argc, char **argv, const char *prog, moat_error **err);
void run_opts_free(struct run_opts *o);
/* Docker's create JSON: Config + HostConfig + NetworkingConfig. */
int run_opts_body(const struct run_opts *o, struct json_object **ret, moat_error **err);

/* Docker's units.RAMInBytes: "64m", "1.5g", "512kb", "100" (binary units). */
int run_parse_ram(const char *s, int64_t *ret, moat_error **err);
/* --cpus "1.5" -> NanoCpus 1500000000. */
int run_parse_cpus(const char *s, int64_t *ret, moat_error **err);
/* One --mount "type=bind,source=/a,target=/b,readonly" -> a Mounts[] entry. */
int run_parse_mount(const char *spec, struct json_object **ret, moat_error **err);
/* One --device HOST[:CONTAINER][:PERMS] -> a HostConfig.Devices[] entry (docker's opts.ParseDevice). */
int run_parse_device(const char *spec, struct json_object **ret, moat_error **err);
/* -e "K=V" or "K" (taken from the environment when set). */
char *run_env_value(const char *e);
/* Append an --env-file's entries to *env (Docker's rules: comments, blank
 * lines, "K" from the environment, no whitespace in names). */
int run_read_env_file(const char *path, char ***env, moat_error **err);
/* -p [[IP:][HOSTPORT]:]CPORT[/PROTO] into ExposedPorts and PortBindings. */
int run_parse_publish(const char *spec, struct json_object *exposed, struct json_object *bindings,
                      moat_error **err);

/* ---- stream.c: a hijacked attach/exec session ---- */
struct cli_stream {
    int fd;               /* the hijacked socket */
    bool tty;             /* raw bytes (else Docker's framing) */
    bool stdin_on;        /* copy stdin to fd; SHUT_WR at EOF */
    struct moat_client *client;
    const char *resize_path; /* "/containers/ID/resize" or "/exec/ID/resize": on SIGWINCH (tty) */
    const char *kill_path;   /* "/containers/ID/kill": sig-proxy (non-tty) */
    const char *detach_keys; /* NULL: ctrl-p,ctrl-q */
    bool detached;           /* out: the stream ended after the detach keys */
    int signaled;            /* out: the session ended on this signal (no proxy) */
    bool raw_by_caller;      /* the caller already made the terminal raw */
};
/* Raw mode on a tty stdin (Docker's term.MakeRaw) and its restore; the
 * restore is safe to call twice. */
struct cli_raw_term {
    bool on;
    struct termios saved;
};
void cli_raw_begin(struct cli_raw_term *t);
void cli_raw_end(struct cli_raw_term *t);
/* Copy until the server closes the stream.  Raw mode on a tty stdin when
 * s->tty (restored before returning).  0, or -1 with *err. */
int cli_stream_run(struct cli_stream *s, moat_error **err);
/* POST resize?h=&w= from the size of the terminal on stdout (no-op if none). */
void cli_stream_resize(struct moat_client *c, const char *resize_path);
/* "ctrl-p,ctrl-q" -> bytes; -1 on a bad spec. */
int cli_parse_detach_keys(const char *spec, unsigned char *keys, size_t max, size_t *n);

/* URL query escaping (also used for path segments). */
char *cli_query_escape(const char *s);
/* Docker's timetypes.GetTimestamp: unix seconds, a duration before now
 * ("10m"), or an RFC 3339 date; as "SECONDS.NANOSECONDS". */
int cli_parse_timestamp(const char *value, char **ret, moat_error **err);

/* cmd_run.c: POST /containers/create from the parsed flags; *ret_id the ID. */
int cli_create_container(struct moat_client *cl, const struct run_opts *o, char **ret_id, moat_error **err);
/* Print an error like `docker run` ("moat: <msg>.\nSee 'moat run --help'.") and return 125. */
int cli_run_error(const char *prog, moat_error *err);
/* Finish a pending wait: its StatusCode (Error.Message becomes *err). */
struct moat_client_req;
int cli_wait_result(struct moat_client_req *w, int *ret_code, moat_error **err);
/* "/containers/ID/attach?[detachKeys=K&]stderr=1[&stdin=1]&stdout=1&stream=1" */
int cli_attach_path(const char *id, bool in, const char *detach_keys, char **ret);
/* GET /containers/NAME/json (errors wrapped "Error response from daemon: "). */
int cli_inspect_container(struct moat_client *cl, const char *name, struct json_object **ret, moat_error **err);
/* The container's ID and Config.Tty/OpenStdin from an inspect. */
int cli_ctr_info(struct json_object *ctr, const char **id, bool *tty, bool *open_stdin, moat_error **err);
/* Stream a hijacked session and finish its pending wait: the exit status
 * (0 after a detach), or -1 with *err. */
int cli_stream_and_wait(struct moat_client *cl, int fd, struct moat_client_req *w, const char *id, bool tty, bool in,
                        bool sig_proxy, const char *detach_keys, moat_error **err);
/* cmd_events.c: Go's rfc3339NanoFixed; Docker's event text line; --filter
 * k=v list as the filters JSON ({"k":{"v":true}}), NULL with *err. */
void cli_format_time_nano(int64_t ns, char *buf, size_t len);
char *cli_event_line(struct json_object *ev);
char *cli_filters_json(char *const *filters, moat_error **err);
/* cmd_stats.c: one stats object (stream=0 carries precpu_stats) as a row:
 * ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS. */
void cli_stats_row(struct json_object *st, char *cols[8]);

#endif
