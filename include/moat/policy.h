/* Declarative policy (policy/README.md has the schema).
 *
 * A policy document is JSON: {"moatPolicy": 1, ...rules}.  The effective
 * policy of a request is built from layers, most general first:
 *   1. a built-in profile (policy/privileged.json, baseline.json,
 *      restricted.json; compiled in), the base named by the host layer's
 *      "base" (default "baseline");
 *   2. the host's files (/etc/moat/policy.d/NAME.json as root,
 *      ~/.config/moat/policy.d/NAME.json rootless), in name order; files with a
 *      "scope" (uids, tenants, subjects) apply only to matching identities,
 *      after every unscoped file;
 *   3. the container's own policy (moat run --policy FILE|NAME; the API's
 *      HostConfig.MoatPolicy).
 * Each layer may only tighten what the layers before it allow: a rule that
 * would widen is an error naming both places.
 *
 * Every rule remembers where it came from (file, JSON path, line), so each
 * reason of a denial names it: "capability NET_ADMIN is not allowed
 * (restricted.json: /capabilities/allowed)".
 *
 * The parser treats documents as untrusted (bounded size and lists, unknown
 * keys refused, types checked, contradictions refused) and is fuzzed
 * (fuzz/fuzz_policy.c). */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

struct json_object;
struct moat_create_req;
struct moat_exec_req;

#define MOAT_POLICY_VERSION 1
#define MOAT_POLICY_MAX_BYTES (256u << 10)
#define MOAT_POLICY_MAX_LIST 1024
#define MOAT_POLICY_MAX_FILES 64

/* Rules (indexes into the arrays of struct moat_policy). */
enum moat_policy_rule {
    POL_IMAGES_ALLOW,     /* patterns (fnmatch) over the normalised reference or the image ID */
    POL_IMAGES_SIGNED,    /* "never" < "registry" < "always" */
    POL_IMAGES_KEYS,      /* public key files allowed to sign (verification: the registry issue) */
    POL_PRIVILEGED,
    POL_CAPS_ALLOWED,     /* capabilities a container may hold */
    POL_CAPS_DEFAULT,     /* capabilities it gets unless dropped */
    POL_SECCOMP_PROFILES, /* "default", "restricted", "custom" (a profile given with the request) or an absolute path */
    POL_SECCOMP_DEFAULT,
    POL_SECCOMP_UNCONFINED,
    POL_APPARMOR_REQUIRED,
    POL_APPARMOR_UNCONFINED,
    POL_SELINUX_REQUIRED,
    POL_SELINUX_DISABLE,
    POL_USERNS_REQUIRED,
    POL_HOST_NAMESPACES,  /* pid, ipc, uts of the host (still inside the container's user namespace) */
    POL_RUN_AS_NON_ROOT,
    POL_READONLY_ROOTFS,
    POL_NO_NEW_PRIVS,
    POL_HOST_BINDS,       /* "rw:/prefix" or "ro:/prefix" */
    POL_FORBIDDEN,        /* paths never bound ("/" is the root itself; "@engine": socket, store, run dir) */
    POL_VOLUMES,          /* named and anonymous volumes */
    POL_TMPFS,
    POL_NOEXEC,           /* every volume, bind and tmpfs gets noexec */
    POL_SOCKETS,          /* a bind source may be a unix socket (an engine's API socket is the host) */
    POL_NET_MODES,        /* none, bridge, container, host */
    POL_PORTS,            /* "lo-hi" host port ranges that may be published */
    POL_ICC_EXCEPTIONS,   /* "a:b" container pairs that may talk with ICC off (networking issue) */
    POL_MEMORY_MAX,       /* bytes, 0: no maximum */
    POL_MEMORY_REQUIRED,
    POL_PIDS_MAX,
    POL_PIDS_DEFAULT,
    POL_PIDS_REQUIRED,
    POL_CPUS_MAX,         /* nano CPUs, 0: no maximum */
    POL_CPUS_REQUIRED,
    POL_DEVICES,          /* host device path patterns */
    POL_SYSCTLS,          /* sysctl name patterns */
    POL_EXEC,
    POL_CP,
    POL_COMMIT,
    POL_BUILD_RUN,
    POL_N
};

struct moat_policy_src {
    char *file;  /* "baseline.json", "/etc/moat/policy.d/10-site.json" */
    char *path;  /* JSON pointer: "/capabilities/allowed" */
    unsigned line;
};

struct moat_policy {
    uint64_t set;              /* which rules this document sets (bit per rule) */
    bool b[POL_N];             /* boolean rules */
    int64_t n[POL_N];          /* numbers; POL_CAPS_*: capability bit masks; POL_IMAGES_SIGNED: 0..2 */
    char **l[POL_N];           /* lists */
    struct moat_policy_src src[POL_N];
    char *name, *file, *base, *description;
    char **scope_uids, **scope_tenants, **scope_subjects; /* NULL: unscoped */
    char **layers;             /* effective: the documents merged, widest first */
};

/* The identity a request comes from (the socket's peer now; certificates later). */
struct moat_identity {
    uid_t uid;
    const char *tenant, *subject; /* NULL until the TLS issue */
};

/* Parse one document; file names it in errors and sources.  Errors carry
 * "file:line: /json/path: reason". */
int moat_policy_parse(const char *buf, size_t len, const char *file, struct moat_policy **ret, moat_error **err);
void moat_policy_free(struct moat_policy *p);
static inline void moat_policy_freep(struct moat_policy **p)
{
    moat_policy_free(*p);
    *p = 0;
}
#define _cleanup_policy_ __attribute__((cleanup(moat_policy_freep)))

/* A built-in profile by name ("baseline"), parsed; ENOENT if unknown. */
int moat_policy_builtin(const char *name, struct moat_policy **ret, moat_error **err);
/* The built-in documents' text (for moat policy show NAME), NULL if unknown. */
const char *moat_policy_builtin_text(const char *name, size_t *len);
bool moat_policy_is_builtin(const char *name);

/* Apply `layer` on top of the effective policy `eff` (in place): every rule
 * the layer sets must be at least as strict as the one in force, else the
 * error names both sources. */
int moat_policy_merge(struct moat_policy *eff, const struct moat_policy *layer, moat_error **err);
struct moat_policy *moat_policy_dup(const struct moat_policy *p);
/* A built-in profile as a narrower layer: per rule the stricter of the two (never an error). */
void moat_policy_restrict(struct moat_policy *eff, const struct moat_policy *layer);

/* The host's layers: every NAME.json of dir in name order (dir may be missing),
 * merged over the base.  Scoped files are kept in *ret_scoped (NULL-ended)
 * for moat_policy_for(). */
struct moat_policy_set {
    struct moat_policy *host;     /* base + unscoped files */
    struct moat_policy **scoped;  /* NULL-terminated */
    char *dir;
};
int moat_policy_set_load(const char *dir, struct moat_policy_set **ret, moat_error **err);
void moat_policy_set_free(struct moat_policy_set *s);
/* The effective policy for an identity and an optional per-container layer
 * (a built-in name or a JSON document; NULL: none). */
int moat_policy_for(const struct moat_policy_set *s, const struct moat_identity *id, const char *container_policy,
                    struct moat_policy **ret, moat_error **err);
/* /etc/moat/policy.d as root; $XDG_CONFIG_HOME/moat/policy.d (~/.config) rootless; NULL if unknown. */
char *moat_policy_default_dir(void);
/* The default policy when no set is loaded (unit tests, the spec builder's NULL): baseline. */
const struct moat_policy *moat_policy_default(void);

/* The effective policy as a JSON document (moat policy show): every rule
 * with its value and "source". */
struct json_object *moat_policy_to_json(const struct moat_policy *p, bool with_sources);
/* sha256 of the canonical rule values (inspect: which policy admitted it). */
char *moat_policy_digest(const struct moat_policy *p);

/* ---- evaluation ------------------------------------------------------------------------ */

/* What the engine knows about a create besides the request. */
struct moat_policy_input {
    const struct moat_create_req *req;
    const char *image_name;          /* normalised reference ("docker.io/library/busybox:latest"), may be NULL */
    const char *image_id;            /* "sha256:..." */
    bool image_from_registry;        /* pulled (needs a signature under "registry") */
    const char *image_user;          /* the image's User */
    const char *image_volume;        /* one of the image's VOLUME paths (they become anonymous volumes), or NULL */
    char *const *bind_sources;       /* resolved host paths of the binds, NULL-terminated */
    const bool *bind_ro;             /* parallel to bind_sources */
    char *const *inherited_binds;    /* --volumes-from: the other containers' bind sources, NULL-terminated */
    const bool *inherited_ro;        /* parallel to inherited_binds */
    char *const *engine_paths;       /* what "@engine" means: socket, store, run dir */
    bool resolved_uid_known;         /* at start: the uid the process runs as */
    uint32_t resolved_uid;
};

/* Every reason the policy refuses the create (NULL-terminated, each ending
 * in "(<file>: <json path>)"), or NULL when it allows it. */
char **moat_policy_eval_create(const struct moat_policy *p, const struct moat_policy_input *in);
/* The part of the create's evaluation that decides the container's security
 * settings (privileged, capabilities, security options, host namespaces, the
 * user namespace, devices, sysctls): the engine's admission runs it as part of
 * moat_policy_eval_create(), and the spec builder runs it again over the same
 * effective policy before it builds anything, so no setting reaches
 * config.json that this policy did not allow. */
char **moat_policy_eval_security(const struct moat_policy *p, const struct moat_create_req *r);
/* exec (user: the exec's user, "" for the container's), cp, commit, update. */
char **moat_policy_eval_exec(const struct moat_policy *p, const struct moat_exec_req *er, const char *ctr_user);
char **moat_policy_eval_simple(const struct moat_policy *p, enum moat_policy_rule rule, const char *what);
/* update: the resources body after the change (memory, pids, nano cpus; < 0: unchanged/unlimited). */
char **moat_policy_eval_update(const struct moat_policy *p, int64_t memory, int64_t pids, int64_t nano_cpus);

/* "denied by policy: r1; r2" (EPERM), always -1. */
int moat_policy_deny(moat_error **err, char *const *reasons);

/* Helpers the spec builder uses (the effective policy builds config.json). */
uint64_t moat_policy_caps_default(const struct moat_policy *p);
const char *moat_policy_seccomp_default(const struct moat_policy *p);
int64_t moat_policy_pids_default(const struct moat_policy *p);
/* Is uid 0 named by this Docker user string ("", "root", "0", "0:0", "root:x")? */
bool moat_policy_user_is_root(const char *user);

#endif
