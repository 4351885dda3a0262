/* The one place where a create request, the image's config and the engine's
 * decisions become an OCI config.json (include/moat/spec.h).
 *
 * It starts from the runtime's hardened template (moat_spec_template) and
 * only adjusts it: nothing here weakens a default silently.  Whether a
 * request may have a weaker setting (privileged, host devices, host
 * namespaces, unconfined seccomp/AppArmor/SELinux, no_new_privs off) is the
 * effective policy's decision alone: moat_spec_build() asks it
 * (moat_policy_eval_security) and refuses with its sourced reasons, and
 * otherwise builds what was asked (spec_host.c).  What remains here is
 * syntax (EINVAL) and what the kernel makes impossible in a user namespace
 * (a non-namespaced sysctl, a negative OOM score: EPERM). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/image.h"
#include "moat/json.h"
#include "moat/oci.h"
#include "moat/path.h"
#include "moat/policy.h"
#include "moat/runtime.h"
#include "moat/seccomp.h"
#include "moat/spec.h"
#include "moat/util.h"
#include "spec_internal.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_PROFILE (1u << 20)

const char *const moat_default_caps[] = {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
                                         "CAP_KILL",   "CAP_SETGID",       "CAP_SETUID", "CAP_NET_BIND_SERVICE",
                                         NULL};

/* ---- small JSON helpers ------------------------------------------------------------- */

static struct json_object *jstrv(char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A sub-object, created when missing. */
static struct json_object *jobj_child(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    if (!v || !json_object_is_type(v, json_type_object)) {
        v = json_object_new_object();
        json_object_object_add(o, key, v);
    }
    return v;
}

/* ---- args and env -------------------------------------------------------------------- */

int moat_spec_args(const struct moat_create_req *req, const struct moat_image_config *image, char ***ret,
                   moat_error **err)
{
    char *const *ient = image ? image->entrypoint : NULL, *const *icmd = image ? image->cmd : NULL;
    char *const *ent = ient, *const *cmd = icmd;
    if (req->entrypoint_set) {
        size_t n = moat_strv_len(req->entrypoint);
        bool reset_str = n == 1 && !req->entrypoint[0][0]; /* --entrypoint "": [""] */
        ent = n && !reset_str ? req->entrypoint : NULL;
        /* A request Entrypoint drops the image Cmd; an empty list ([]) is
         * Docker's "no entrypoint, image Cmd still applies". */
        if (req->cmd_set && moat_strv_len(req->cmd))
            cmd = req->cmd;
        else
            cmd = n == 0 ? icmd : NULL;
    } else if (req->cmd_set && moat_strv_len(req->cmd)) {
        cmd = req->cmd;
    }
    _cleanup_strv_ char **args = NULL;
    for (size_t i = 0; ent && ent[i]; i++)
        moat_strv_push(&args, ent[i]);
    for (size_t i = 0; cmd && cmd[i]; i++)
        moat_strv_push(&args, cmd[i]);
    if (!args || !args[0])
        return moat_err(err, EINVAL, "No command specified");
    *ret = TAKE_PTR(args);
    return 0;
}

void spec_env_set(char ***env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    if (klen == 0)
        return;
    char **v = *env;
    for (size_t i = 0; v && v[i]; i++) {
        if (!strncmp(v[i], kv, klen) && (v[i][klen] == '=' || !v[i][klen])) {
            if (!eq) { /* "KEY" without a value: remove it (Docker's ReplaceOrAppendEnvValues) */
                free(v[i]);
                memmove(&v[i], &v[i + 1], (moat_strv_len(&v[i + 1]) + 1) * sizeof(char *));
                return;
            }
            free(v[i]);
            v[i] = xstrdup(kv);
            return;
        }
    }
    if (eq)
        moat_strv_push(env, kv);
}

static bool env_has(char *const *env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], key, n) && env[i][n] == '=')
            return true;
    return false;
}

static char **build_env(const struct moat_create_req *r, const struct moat_image_config *img, const char *hostname)
{
    _cleanup_strv_ char **merged = NULL;
    for (size_t i = 0; img && img->env && img->env[i]; i++)
        spec_env_set(&merged, img->env[i]);
    for (size_t i = 0; r->env && r->env[i]; i++)
        spec_env_set(&merged, r->env[i]);
    char **env = NULL;
    if (!env_has(merged, "PATH"))
        moat_strv_push(&env, DEFAULT_PATH);
    _cleanup_free_ char *h = xasprintf("HOSTNAME=%s", hostname);
    moat_strv_push(&env, h);
    if (r->tty)
        moat_strv_push(&env, "TERM=xterm");
    for (size_t i = 0; merged && merged[i]; i++)
        spec_env_set(&env, merged[i]);
    return env;
}

/* ---- capabilities ---------------------------------------------------------------------- */

static uint64_t all_caps(void)
{
    int last = oci_cap_last();
    return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

static int cap_bit(const char *what, const char *name, int *ret, moat_error **err)
{
    int c = oci_cap_from_name(name);
    if (c < 0 || c > 63)
        return moat_err(err, EINVAL, "%s: unknown capability: \"%s\"", what, name);
    *ret = c;
    return 0;
}

/* Docker's TweakCapabilities: CapAdd ALL = everything less CapDrop; else the
 * defaults (or nothing with CapDrop ALL) less CapDrop plus CapAdd. */
int spec_caps_mask(uint64_t base, char *const *add, char *const *drop, uint64_t *ret, moat_error **err)
{
    uint64_t m = base;
    bool add_all = false, drop_all = false;
    for (size_t i = 0; add && add[i]; i++)
        add_all = add_all || !strcasecmp(add[i], "ALL");
    for (size_t i = 0; drop && drop[i]; i++)
        drop_all = drop_all || !strcasecmp(drop[i], "ALL");
    int c = 0;
    for (size_t i = 0; add && add[i]; i++)
        if (strcasecmp(add[i], "ALL") && cap_bit("CapAdd", add[i], &c, err) < 0)
            return -1;
    for (size_t i = 0; drop && drop[i]; i++)
        if (strcasecmp(drop[i], "ALL") && cap_bit("CapDrop", drop[i], &c, err) < 0)
            return -1;
    if (add_all) {
        m = all_caps();
        for (size_t i = 0; drop && drop[i]; i++)
            if (strcasecmp(drop[i], "ALL") && cap_bit("CapDrop", drop[i], &c, err) == 0)
                m &= ~(UINT64_C(1) << c);
    } else {
        if (drop_all)
            m = 0;
        for (size_t i = 0; !drop_all && drop && drop[i]; i++)
            if (cap_bit("CapDrop", drop[i], &c, err) == 0)
                m &= ~(UINT64_C(1) << c);
        for (size_t i = 0; add && add[i]; i++)
            if (cap_bit("CapAdd", add[i], &c, err) == 0)
                m |= UINT64_C(1) << c;
    }
    *ret = m & all_caps();
    return 0;
}

static struct json_object *caps_array(uint64_t m)
{
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < 64; i++)
        if ((m >> i) & 1 && oci_cap_name(i))
            json_object_array_add(a, json_object_new_string(oci_cap_name(i)));
    return a;
}

/* Bounding keeps the set; a non-root user starts with empty effective and
 * permitted sets (Docker's behaviour); inheritable and ambient stay empty. */
void spec_set_caps(struct json_object *proc, uint64_t m, bool root)
{
    struct json_object *caps = json_object_new_object();
    json_object_object_add(caps, "bounding", caps_array(m));
    json_object_object_add(caps, "effective", caps_array(root ? m : 0));
    json_object_object_add(caps, "inheritable", json_object_new_array());
    json_object_object_add(caps, "permitted", caps_array(root ? m : 0));
    json_object_object_add(caps, "ambient", json_object_new_array());
    json_object_object_add(proc, "capabilities", caps);
}

/* ---- SecurityOpt ------------------------------------------------------------------------ */

struct secopt {
    bool landlock;
    bool seccomp_unconfined, seccomp_explicit; /* seccomp=unconfined; a profile named by the request */
    bool nnp_off;                              /* no-new-privileges=false */
    bool label_disable;                        /* label=disable: no SELinux label */
    char *apparmor;
    char *se_user, *se_role, *se_type, *se_level;
    const char *seccomp_name; /* builtin, or NULL with seccomp_buf */
    char *seccomp_buf;
    size_t seccomp_len;
};

static void secopt_clear(struct secopt *s)
{
    free(s->apparmor);
    free(s->se_user);
    free(s->se_role);
    free(s->se_type);
    free(s->se_level);
    free(s->seccomp_buf);
}

static bool parse_true(const char *v, bool *ret)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        if (!strcmp(v, t[i]))
            return *ret = true, true;
        if (!strcmp(v, f[i]))
            return *ret = false, true;
    }
    return false;
}

static bool label_part_ok(const char *s)
{
    if (!s[0] || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static int opt_label(struct secopt *s, const char *v, moat_error **err)
{
    if (!strcmp(v, "disable")) {
        s->label_disable = true;
        return 0;
    }
    if (!strcmp(v, "nested"))
        return 0;
    static const char *const keys[] = {"user:", "role:", "type:", "level:", "filetype:"};
    char **dst[] = {&s->se_user, &s->se_role, &s->se_type, &s->se_level, NULL};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (!moat_str_has_prefix(v, keys[i]))
            continue;
        const char *x = v + strlen(keys[i]);
        if (!label_part_ok(x))
            return moat_err(err, EINVAL, "invalid --security-opt label=%s: empty or malformed value", v);
        if (dst[i]) {
            free(*dst[i]);
            *dst[i] = xstrdup(x);
        }
        return 0;
    }
    return moat_err(err, EINVAL, "invalid --security-opt label=%s: expected user:, role:, type:, level: or disable", v);
}

static int opt_seccomp(struct secopt *s, const char *v, moat_error **err)
{
    s->seccomp_unconfined = !strcmp(v, "unconfined");
    if (s->seccomp_unconfined)
        return 0;
    free(s->seccomp_buf);
    s->seccomp_buf = NULL;
    if (!strcmp(v, "default") || !strcmp(v, "restricted")) {
        s->seccomp_name = !strcmp(v, "default") ? "default" : "restricted";
        return 0;
    }
    s->seccomp_name = NULL;
    if (v[0] == '{') { /* the docker CLI reads the file and sends its content */
        s->seccomp_buf = xstrdup(v);
        s->seccomp_len = strlen(v);
        return 0;
    }
    if (v[0] != '/')
        return moat_err(err, EINVAL, "security-opt seccomp=%s: expected default, restricted, an absolute path or "
                        "a profile JSON", v);
    _cleanup_close_ int fd = open(v, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0)
        return moat_err_sys(err, "security-opt seccomp: open '%s'", v);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return moat_err(err, EINVAL, "security-opt seccomp: '%s' is not a regular file", v);
    if (moat_read_fd_bounded(fd, MAX_PROFILE, &s->seccomp_buf, &s->seccomp_len, err) < 0)
        return moat_err_wrap(err, "security-opt seccomp: '%s'", v);
    return 0;
}

static int parse_secopts(const struct moat_policy *pol, char *const *opts, struct secopt *s, moat_error **err)
{
    /* The policy's default profile: a built-in name or a file. */
    const char *def = moat_policy_seccomp_default(pol);
    s->seccomp_name = "default";
    if (strcmp(def, "default") && opt_seccomp(s, def, err) < 0)
        return moat_err_wrap(err, "the policy's default seccomp profile");
    for (size_t i = 0; opts && opts[i]; i++) {
        _cleanup_free_ char *k = xstrdup(opts[i]);
        char *v = strchr(k, '=');
        if (!v)
            v = strchr(k, ':'); /* the old "key:value" form */
        if (v)
            *v++ = '\0';
        bool b = true;
        if (!strcmp(k, "no-new-privileges")) {
            if (v && !parse_true(v, &b))
                return moat_err(err, EINVAL, "invalid --security-opt no-new-privileges=%s: expected true or false", v);
            s->nnp_off = !b;
        } else if (!strcmp(k, "landlock")) {
            if (v && !parse_true(v, &b))
                return moat_err(err, EINVAL, "invalid --security-opt landlock=%s: expected true or false", v);
            s->landlock = b;
        } else if (!strcmp(k, "seccomp") && v) {
            if (opt_seccomp(s, v, err) < 0)
                return -1;
            s->seccomp_explicit = !s->seccomp_unconfined;
        } else if (!strcmp(k, "apparmor") && v) {
            /* "unconfined" goes to the runtime as it is: no profile */
            if (!label_part_ok(v))
                return moat_err(err, EINVAL, "invalid --security-opt apparmor=%s", v);
            free(s->apparmor);
            s->apparmor = xstrdup(v);
        } else if (!strcmp(k, "label") && v) {
            if (opt_label(s, v, err) < 0)
                return -1;
        } else {
            return moat_err(err, EINVAL, "invalid --security-opt: \"%s\"", opts[i]);
        }
    }
    return 0;
}

/* ---- modes, sysctls, namespaces ---------------------------------------------------------- */

/* Syntax of the modes and devices; what "host" may be is the policy's. */
static int check_modes(const struct moat_create_req *r, moat_error **err)
{
    if (r->init)
        return moat_err(err, EINVAL, "HostConfig.Init: --init is not supported by moat yet");
    const struct {
        const char *name, *val;
        const char *const ok[5];
    } modes[] = {
        {"PidMode", r->pid_mode, {"", "private", "host", NULL}},
        {"IpcMode", r->ipc_mode, {"", "private", "shareable", "none", "host"}},
        {"UTSMode", r->uts_mode, {"", "private", "host", NULL}},
        {"UsernsMode", r->userns_mode, {"", "private", NULL}},
        {"CgroupnsMode", r->cgroupns_mode, {"", "private", "host", NULL}},
    };
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        const char *v = modes[i].val;
        if (!v)
            continue;
        bool ok = false;
        for (size_t j = 0; j < ARRAY_SIZE(modes[i].ok) && modes[i].ok[j]; j++)
            ok = ok || !strcmp(v, modes[i].ok[j]);
        if (ok)
            continue;
        if (!strcmp(modes[i].name, "UsernsMode") && !strcmp(v, "host"))
            return moat_err(err, EINVAL, "HostConfig.UsernsMode=host is not supported: moat always runs a container "
                                         "in a user namespace of its own");
        return moat_err(err, EINVAL, "HostConfig.%s: '%s' is not supported (expected %s)", modes[i].name, v,
                        !strcmp(modes[i].name, "IpcMode")      ? "private, shareable, none or host"
                        : !strcmp(modes[i].name, "UsernsMode") ? "private"
                                                               : "private or host");
    }
    if (r->uts_mode && !strcmp(r->uts_mode, "host") && r->hostname && r->hostname[0])
        return moat_err(err, EINVAL, "Conflicting options: hostname and the UTS mode (UTSMode=host uses the host's)");
    for (size_t i = 0; r->devices && r->devices[i]; i++) {
        _cleanup_(spec_device_clear) struct spec_device d = {0};
        if (spec_device_parse(r->devices[i], &d, err) < 0)
            return -1;
    }
    return 0;
}

static int sysctls(const struct moat_spec_in *in, struct json_object *lx, moat_error **err)
{
    char *const *s = in->req->sysctls;
    if (!s || !s[0])
        return 0;
    struct json_object *o = json_object_new_object();
    json_object_object_add(lx, "sysctl", o);
    static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",     "kernel.sem",
                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (size_t i = 0; s[i]; i += 2) {
        const char *k = s[i];
        if (!k[0] || k[0] == '.' || strstr(k, "..") || strlen(k) > 255 ||
            strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(k))
            return moat_err(err, EINVAL, "HostConfig.Sysctls: '%s' is not a sysctl name", k);
        if (strchr(s[i + 1], '\n'))
            return moat_err(err, EINVAL, "HostConfig.Sysctls.%s: the value must be a single line", k);
        bool ok = moat_str_has_prefix(k, "fs.mqueue.") && k[10];
        for (size_t j = 0; !ok && j < ARRAY_SIZE(ipc); j++)
            ok = !strcmp(k, ipc[j]);
        if (ok && in->req->ipc_mode && !strcmp(in->req->ipc_mode, "host"))
            return moat_err(err, EPERM, "sysctl '%s' is not allowed with the host's ipc namespace", k);
        if (!ok && moat_str_has_prefix(k, "net.") && k[4]) {
            if (in->host_network)
                return moat_err(err, EPERM, "sysctl '%s' is not allowed with the host's network namespace", k);
            ok = true;
        }
        if (!ok)
            return moat_err(err, EPERM, "sysctl '%s' is not allowed: only namespaced sysctls (kernel.shm*, "
                                        "kernel.msg*, kernel.sem, fs.mqueue.*, net.*) can be set", k);
        json_object_object_add(o, k, json_object_new_string(s[i + 1]));
    }
    return 0;
}

static int namespaces(const struct moat_spec_in *in, struct json_object *lx, moat_error **err)
{
    if (in->netns_path && in->host_network)
        return moat_err(err, EINVAL, "a network namespace path and the host network are exclusive");
    struct json_object *nss = jget(lx, "namespaces");
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
        struct json_object *ns = json_object_array_get_idx(nss, i), *t = jget(ns, "type");
        if (!t || strcmp(json_object_get_string(t), "network"))
            continue;
        if (in->host_network) {
            json_object_array_del_idx(nss, i, 1);
            break;
        }
        if (in->netns_path) {
            if (in->netns_path[0] != '/')
                return moat_err(err, EINVAL, "network namespace path '%s' is not absolute", in->netns_path);
            json_object_object_add(ns, "path", json_object_new_string(in->netns_path));
        }
    }
    return 0;
}

/* ---- id maps, annotations ------------------------------------------------------------------ */

static struct json_object *one_map(uint32_t base, uint32_t size)
{
    struct json_object *a = json_object_new_array(), *m = json_object_new_object();
    json_object_object_add(m, "containerID", json_object_new_int64(0));
    json_object_object_add(m, "hostID", json_object_new_int64(base));
    json_object_object_add(m, "size", json_object_new_int64(size));
    json_object_array_add(a, m);
    return a;
}

static int id_maps(const struct moat_spec_in *in, struct json_object *lx, moat_error **err)
{
    if (in->rootless)
        return 0; /* the template's: the user's own id and subordinate ranges */
    if (in->id_range == 0 || in->uid_base == 0 || in->gid_base == 0 ||
        (uint64_t)in->uid_base + in->id_range > UINT32_MAX || (uint64_t)in->gid_base + in->id_range > UINT32_MAX)
        return moat_err(err, EINVAL, "invalid id mapping: base %" PRIu32 "/%" PRIu32 ", range %" PRIu32
                        " (container root must map to an unprivileged host id)", in->uid_base, in->gid_base,
                        in->id_range);
    json_object_object_add(lx, "uidMappings", one_map(in->uid_base, in->id_range));
    json_object_object_add(lx, "gidMappings", one_map(in->gid_base, in->id_range));
    return 0;
}

/* ---- the builder ---------------------------------------------------------------------------- */

static int process_user(const struct moat_spec_in *in, struct json_object *proc, const char *user, bool *root,
                        moat_error **err)
{
    struct spec_ids ids = {0};
    if ((in->rootfs_view ? spec_resolve_user_at(*in->rootfs_view, user, in->req->group_add, &ids, err)
                         : spec_resolve_user(in->rootfs, user, in->req->group_add, &ids, err)) < 0)
        return -1;
    struct json_object *u = json_object_new_object();
    json_object_object_add(u, "uid", json_object_new_int64(ids.uid));
    json_object_object_add(u, "gid", json_object_new_int64(ids.gid));
    if (ids.n_gids) {
        struct json_object *g = json_object_new_array();
        for (size_t i = 0; i < ids.n_gids; i++)
            json_object_array_add(g, json_object_new_int64(ids.gids[i]));
        json_object_object_add(u, "additionalGids", g);
    }
    json_object_object_add(proc, "user", u);
    *root = ids.uid == 0;
    free(ids.gids);
    return 0;
}

static int build_process(const struct moat_spec_in *in, struct json_object *c, const char *hostname, uint64_t caps,
                         const struct secopt *so, moat_error **err)
{
    const struct moat_create_req *r = in->req;
    struct json_object *proc = jobj_child(c, "process");
    _cleanup_strv_ char **args = NULL;
    if (moat_spec_args(r, in->image, &args, err) < 0)
        return -1;
    json_object_object_add(proc, "args", jstrv(args));
    _cleanup_strv_ char **env = build_env(r, in->image, hostname);
    json_object_object_add(proc, "env", jstrv(env));
    const char *wd = r->working_dir && r->working_dir[0] ? r->working_dir
                     : in->image && in->image->working_dir && in->image->working_dir[0] ? in->image->working_dir
                                                                                         : "/";
    if (wd[0] != '/')
        return moat_err(err, EINVAL, "the working directory '%s' is invalid, it needs to be an absolute path", wd);
    _cleanup_free_ char *cwd = moat_path_clean(wd);
    json_object_object_add(proc, "cwd", json_object_new_string(cwd));
    json_object_object_add(proc, "terminal", json_object_new_boolean(r->tty));
    if (r->tty && r->console_h > 0 && r->console_w > 0) {
        struct json_object *cs = json_object_new_object();
        json_object_object_add(cs, "height", json_object_new_int64(r->console_h));
        json_object_object_add(cs, "width", json_object_new_int64(r->console_w));
        json_object_object_add(proc, "consoleSize", cs);
    }
    const char *user = r->user && r->user[0] ? r->user : in->image && in->image->user ? in->image->user : "";
    bool root = true;
    if (process_user(in, proc, user, &root, err) < 0)
        return -1;
    spec_set_caps(proc, caps, root);
    json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(!so->nnp_off));
    if (r->oom_score_adj < 0)
        return moat_err(err, EPERM, "HostConfig.OomScoreAdj=%" PRId64 " is not allowed: a container may not "
                        "lower its OOM score below 0", r->oom_score_adj);
    if (r->oom_score_adj > 0)
        json_object_object_add(proc, "oomScoreAdj", json_object_new_int64(r->oom_score_adj));
    if (so->apparmor)
        json_object_object_add(proc, "apparmorProfile", json_object_new_string(so->apparmor));
    if (!so->label_disable && (so->se_type || so->se_user || so->se_role || so->se_level)) {
        _cleanup_free_ char *l = xasprintf("%s:%s:%s:%s", so->se_user ? so->se_user : "system_u",
                                           so->se_role ? so->se_role : "system_r",
                                           so->se_type ? so->se_type : "container_t",
                                           so->se_level ? so->se_level : "s0");
        json_object_object_add(proc, "selinuxLabel", json_object_new_string(l));
    }
    return spec_rlimits(r, proc, err);
}

static int build_seccomp(const struct secopt *so, bool privileged, uint64_t caps, struct json_object *lx,
                         moat_error **err)
{
    /* Unconfined as asked, or privileged without a profile named (Docker's
     * --privileged); the policy allowed it (moat_policy_eval_security). */
    if (so->seccomp_unconfined || (privileged && !so->seccomp_explicit)) {
        json_object_object_del(lx, "seccomp");
        return 0;
    }
    size_t len = so->seccomp_len;
    const char *buf = so->seccomp_buf;
    const char *what = "seccomp profile from --security-opt";
    if (so->seccomp_name) {
        buf = moat_seccomp_builtin_profile(so->seccomp_name, &len);
        what = so->seccomp_name;
        if (!buf)
            return moat_err(err, ENOENT, "the %s seccomp profile is not built in", so->seccomp_name);
    }
    struct json_object *sc = NULL;
    if (moat_seccomp_profile_to_oci(buf, len, what, caps, &sc, err) < 0)
        return moat_err_wrap(err, "security-opt seccomp");
    json_object_object_add(lx, "seccomp", sc);
    return 0;
}

static int build_linux(const struct moat_spec_in *in, struct json_object *c, const struct secopt *so, uint64_t caps,
                       moat_error **err)
{
    struct json_object *lx = jobj_child(c, "linux");
    if (id_maps(in, lx, err) < 0 || namespaces(in, lx, err) < 0 || sysctls(in, lx, err) < 0 ||
        spec_resources(in, lx, err) < 0 || build_seccomp(so, in->req->privileged, caps, lx, err) < 0)
        return -1;
    if (in->cgroup_parent && in->cgroup_parent[0]) {
        _cleanup_free_ char *cp = xasprintf("%s/%s", in->cgroup_parent, in->container_id);
        json_object_object_add(lx, "cgroupsPath", json_object_new_string(cp));
    }
    /* Every bind source is a canonical path (checked binds are resolved, the store and run dir
     * are canonical, devices refuse links): moat-runtime opens them refusing any symlink, so one
     * planted after the check (by a container sharing that directory) is never followed. */
    struct json_object *mnts = jget(c, "mounts");
    for (size_t i = 0; mnts && i < json_object_array_length(mnts); i++) {
        struct json_object *m = json_object_array_get_idx(mnts, i);
        const char *t = json_object_get_string(jget(m, "type")), *src = json_object_get_string(jget(m, "source"));
        if (!t || strcmp(t, "bind") || !src || src[0] != '/')
            continue;
        _cleanup_free_ char *real = realpath(src, NULL);
        if (real && strcmp(real, src))
            return moat_err(err, EPERM, "bind mount %s: its source '%s' now resolves to '%s': refusing it",
                            json_object_get_string(jget(m, "destination")), src, real);
    }
    struct json_object *ann = jobj_child(c, "annotations");
    json_object_object_add(ann, "run.moat.bind.nosymlinks", json_object_new_string("true"));
    if (in->rootless)
        json_object_object_add(ann, "run.moat.cgroup.optional", json_object_new_string("true"));
    if (so->landlock)
        json_object_object_add(ann, "run.moat.landlock", json_object_new_string("true"));
    if (in->overlay_lower && in->overlay_lower[0]) {
        size_t len = 1;
        for (size_t i = 0; in->overlay_lower[i]; i++)
            len += strlen(in->overlay_lower[i]) + 1;
        _cleanup_free_ char *l = xcalloc(1, len);
        for (size_t i = 0; in->overlay_lower[i]; i++) {
            if (i)
                strcat(l, ":");
            strcat(l, in->overlay_lower[i]);
        }
        json_object_object_add(ann, "run.moat.overlay.lowerdir", json_object_new_string(l));
        if (in->overlay_upper && in->overlay_work) {
            json_object_object_add(ann, "run.moat.overlay.upperdir", json_object_new_string(in->overlay_upper));
            json_object_object_add(ann, "run.moat.overlay.workdir", json_object_new_string(in->overlay_work));
        }
    }
    return 0;
}

int moat_spec_check(const struct moat_create_req *r, moat_error **err)
{
    if (check_modes(r, err) < 0)
        return -1;
    const struct moat_policy *pol = moat_policy_default();
    uint64_t caps = 0;
    if (spec_caps_mask(moat_policy_caps_default(pol), r->cap_add, r->cap_drop, &caps, err) < 0)
        return -1;
    _cleanup_(secopt_clear) struct secopt so = {0};
    if (parse_secopts(pol, r->security_opt, &so, err) < 0)
        return -1;
    return spec_devices_check(r->devices, err);
}

int moat_spec_build(const struct moat_spec_in *in, struct json_object **ret, moat_error **err)
{
    const struct moat_create_req *r = in->req;
    if (!r || !in->container_id || !in->container_id[0])
        return moat_err(err, EINVAL, "spec: a request and a container id are required");
    /* The effective policy decides (the engine admitted the request against
     * the same policy; asked again here, nothing it refuses is ever built)
     * and its defaults build the config. */
    const struct moat_policy *pol = in->policy ? in->policy : moat_policy_default();
    _cleanup_strv_ char **denied = moat_policy_eval_security(pol, r);
    if (denied)
        return moat_policy_deny(err, denied);
    if (check_modes(r, err) < 0)
        return -1;
    uint64_t caps = 0;
    if (spec_caps_mask(moat_policy_caps_default(pol), r->cap_add, r->cap_drop, &caps, err) < 0)
        return -1;
    if (r->privileged)
        caps = all_caps(); /* Docker's --privileged: every capability, CapAdd/CapDrop aside; in the user namespace */
    _cleanup_(secopt_clear) struct secopt so = {0};
    if (parse_secopts(pol, r->security_opt, &so, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *c = NULL;
    /* As root the engine maps each container to its own slice (id_maps): the
     * template's range of the "moat" user is not looked up. */
    if (moat_spec_template_ex(in->rootless, in->rootless, &c, err) < 0)
        return moat_err_wrap(err, "spec template");
    bool uts_host = r->uts_mode && !strcmp(r->uts_mode, "host");
    char host_name[256] = "";
    if (uts_host && gethostname(host_name, sizeof host_name - 1) < 0)
        return moat_err_sys(err, "gethostname");
    _cleanup_free_ char *hostname = uts_host                          ? xstrdup(host_name)
                                    : r->hostname && r->hostname[0] ? xstrdup(r->hostname)
                                                                    : xstrndup(in->container_id, 12);
    if (strlen(hostname) > 64 || strchr(hostname, '/'))
        return moat_err(err, EINVAL, "invalid hostname '%s'", hostname);
    json_object_object_add(c, "hostname", json_object_new_string(hostname));
    if (r->domainname && r->domainname[0])
        json_object_object_add(c, "domainname", json_object_new_string(r->domainname));
    struct json_object *root = jobj_child(c, "root");
    if (in->rootfs)
        json_object_object_add(root, "path", json_object_new_string(in->rootfs));
    json_object_object_add(root, "readonly", json_object_new_boolean(r->readonly_rootfs));
    if (build_process(in, c, hostname, caps, &so, err) < 0 || spec_mounts(in, c, err) < 0 ||
        build_linux(in, c, &so, caps, err) < 0)
        return -1;
    if (r->privileged)
        spec_privileged(c);
    spec_host_namespaces(in, c);
    if (spec_devices(in, c, err) < 0)
        return -1;
    *ret = TAKE_PTR(c);
    return 0;
}

/* ---- exec ------------------------------------------------------------------------------------ */

int moat_spec_exec_process(struct json_object *cfg, const struct moat_exec_req *er, struct json_object **ret_process,
                           moat_error **err)
{
    /* er->privileged: the engine admitted it against the container's policy
     * (moat_policy_eval_exec); below, every capability for this process. */
    if (!er->cmd || !er->cmd[0])
        return moat_err(err, EINVAL, "No exec command specified");
    struct json_object *p = jget(cfg, "process");
    if (!p || !json_object_is_type(p, json_type_object))
        return moat_err(err, EINVAL, "the container's config.json has no process");
    _cleanup_json_ struct json_object *proc = NULL;
    if (json_object_deep_copy(p, &proc, NULL) < 0)
        return moat_err(err, ENOMEM, "copy the container's process");
    json_object_object_add(proc, "args", jstrv(er->cmd));
    _cleanup_strv_ char **env = NULL;
    struct json_object *ce = jget(proc, "env");
    for (size_t i = 0; ce && json_object_is_type(ce, json_type_array) && i < json_object_array_length(ce); i++) {
        struct json_object *s = json_object_array_get_idx(ce, i);
        if (s && json_object_is_type(s, json_type_string))
            spec_env_set(&env, json_object_get_string(s));
    }
    for (size_t i = 0; er->env && er->env[i]; i++)
        spec_env_set(&env, er->env[i]);
    json_object_object_add(proc, "env", jstrv(env));
    if (er->working_dir && er->working_dir[0]) {
        if (er->working_dir[0] != '/')
            return moat_err(err, EINVAL, "the working directory '%s' is invalid, it needs to be an absolute path",
                            er->working_dir);
        _cleanup_free_ char *cwd = moat_path_clean(er->working_dir);
        json_object_object_add(proc, "cwd", json_object_new_string(cwd));
    }
    json_object_object_add(proc, "terminal", json_object_new_boolean(er->tty));
    json_object_object_del(proc, "consoleSize");
    if (er->user && er->user[0]) {
        /* Names resolve in the container's rootfs when config.json names it
         * by an absolute path (moat's engine does); else numeric ids only. */
        struct json_object *rp = jget(jget(cfg, "root"), "path");
        const char *rootfs = rp && json_object_is_type(rp, json_type_string) && json_object_get_string(rp)[0] == '/'
                                 ? json_object_get_string(rp)
                                 : NULL;
        struct stat st;
        if (rootfs && (stat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode)))
            rootfs = NULL; /* not visible here (e.g. mounted in a rootless engine's namespace): numeric only */
        struct spec_ids ids = {0};
        if (spec_resolve_user(rootfs, er->user, NULL, &ids, err) < 0)
            return -1;
        struct json_object *u = json_object_new_object();
        json_object_object_add(u, "uid", json_object_new_int64(ids.uid));
        json_object_object_add(u, "gid", json_object_new_int64(ids.gid));
        struct json_object *g = json_object_new_array();
        for (size_t i = 0; i < ids.n_gids; i++)
            json_object_array_add(g, json_object_new_int64(ids.gids[i]));
        json_object_object_add(u, "additionalGids", g);
        free(ids.gids);
        json_object_object_add(proc, "user", u);
        /* The container's capability set, effective only for root. */
        uint64_t m = 0;
        struct json_object *b = jget(jget(proc, "capabilities"), "bounding");
        for (size_t i = 0; b && json_object_is_type(b, json_type_array) && i < json_object_array_length(b); i++) {
            int cap = oci_cap_from_name(json_object_get_string(json_object_array_get_idx(b, i)));
            if (cap >= 0 && cap < 64)
                m |= UINT64_C(1) << cap;
        }
        spec_set_caps(proc, m, ids.uid == 0);
    }
    if (er->privileged) { /* docker exec --privileged: every capability, inside the container's user namespace */
        struct json_object *uid = jget(jget(proc, "user"), "uid");
        spec_set_caps(proc, all_caps(), !uid || json_object_get_int64(uid) == 0);
    }
    /* no_new_privs as the container has it (its policy decided); on when unsaid */
    struct json_object *nnp = jget(proc, "noNewPrivileges");
    if (!nnp || !json_object_is_type(nnp, json_type_boolean))
        json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(1));
    *ret_process = TAKE_PTR(proc);
    return 0;
}
