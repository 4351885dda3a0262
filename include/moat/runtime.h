/* moat-runtime as a library: the OCI lifecycle on a bundle.  The moat-runtime
 * CLI is a thin layer over these; the engine's monitor will call them too. */
#ifndef MOAT_RUNTIME_H
#define MOAT_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "moat/error.h"

struct moat_rt_opts {
    const char *root;    /* state directory root; NULL: /run/moat-runtime or the per-user default */
    bool systemd_cgroup; /* cgroupsPath is "slice:prefix:name" */
    bool cgroup_disabled;
    bool no_seccomp_cache; /* compile seccomp every time (no <root>/.seccomp-cache) */
};

struct moat_create_opts {
    const char *bundle;         /* NULL: current directory */
    const char *pid_file;
    const char *console_socket; /* receives the pty master when process.terminal is true */
    int preserve_fds;           /* pass fds 3 .. 3+N-1 to the container */
};

int moat_rt_create(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co,
                   moat_error **err);
int moat_rt_start(const struct moat_rt_opts *o, const char *id, moat_error **err);
/* A sealed (write, grow, shrink, seal), close-on-exec memfd copy of the runtime
 * binary at path.  Executed from it (execveat AT_EMPTY_PATH), moat-runtime's
 * create and exec skip their own sealed re-exec (CVE-2019-5736): the engine makes
 * one copy at its start and its monitors run every create and exec from it. */
int moat_rt_sealed_copy(const char *path, int *ret_fd, moat_error **err);
/* create + start; unless detach, wait for the container, forward signals,
 * delete it afterwards and return its exit status in *ret_status (128+N for a signal). */
int moat_rt_run(const struct moat_rt_opts *o, const char *id, const struct moat_create_opts *co, bool detach,
                int *ret_status, moat_error **err);
int moat_rt_state_json(const struct moat_rt_opts *o, const char *id, char **ret, moat_error **err);
int moat_rt_kill(const struct moat_rt_opts *o, const char *id, int sig, bool all, moat_error **err);
int moat_rt_delete(const struct moat_rt_opts *o, const char *id, bool force, moat_error **err);
int moat_rt_pause(const struct moat_rt_opts *o, const char *id, bool pause, moat_error **err);
/* Apply new cgroup limits: `resources` is an OCI linux.resources object (JSON). */
int moat_rt_update(const struct moat_rt_opts *o, const char *id, const char *resources, size_t len,
                   moat_error **err);

struct moat_exec_opts {
    const char *process_file; /* OCI process JSON; or: */
    char **args;              /* command (the container's process spec is the base) */
    char **env;               /* extra NAME=VALUE */
    const char *cwd;
    const char *user;         /* "uid[:gid]" */
    char **caps;              /* extra capabilities */
    bool no_new_privs;
    bool tty;
    bool detach;
    const char *console_socket;
    const char *pid_file;
    int preserve_fds;
    const char *apparmor;
    const char *process_label;
};
int moat_rt_exec(const struct moat_rt_opts *o, const char *id, const struct moat_exec_opts *eo, int *ret_status,
                 moat_error **err);

/* One JSON array of the OCI states of every container under the root. */
int moat_rt_list_json(const struct moat_rt_opts *o, char **ret, moat_error **err);

/* The hardened config.json template of `moat-runtime spec` (template.c);
 * the engine's spec builder (src/engine/spec.c) starts from it. */
struct json_object;
int moat_spec_template(bool rootless, struct json_object **ret, moat_error **err);
/* The same; id_maps false leaves out linux.uidMappings and gidMappings (and
 * the /etc/subuid lookup behind them) for a caller that sets its own. */
int moat_spec_template_ex(bool rootless, bool id_maps, struct json_object **ret, moat_error **err);

/* Parse a signal: "TERM", "SIGTERM", "15". */
int moat_signal_parse(const char *s);

#endif
