/* config.json parser: untrusted input (a bundle can come from anyone), so
 * every field is type-checked, every array bounded, every value validated.
 * Fuzz target: fuzz/fuzz_config.c. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "moat/json.h"
#include "moat/oci.h"
#include "moat/util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *const oci_hook_names[OCI_HOOK__COUNT] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};
const char *const oci_ns_names[OCI_NS__COUNT] = {"user", "mount", "pid", "network", "ipc", "uts", "cgroup", "time"};
const char *const oci_ns_proc_names[OCI_NS__COUNT] = {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"};
const int oci_ns_clone_flags[OCI_NS__COUNT] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
                                               CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME};

static const char *const cap_names[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};

int oci_cap_last(void) { return (int)ARRAY_SIZE(cap_names) - 1; }

int oci_cap_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (strcasecmp(name, cap_names[i]) == 0 || strcasecmp(name, cap_names[i] + 4) == 0)
            return (int)i;
    return -1;
}

const char *oci_cap_name(int cap)
{
    if (cap < 0 || cap > oci_cap_last())
        return NULL;
    return cap_names[cap];
}

static const struct {
    const char *name;
    int res;
} rlimit_table[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},   {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

int oci_rlimit_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(rlimit_table); i++)
        if (strcmp(name, rlimit_table[i].name) == 0)
            return rlimit_table[i].res;
    return -1;
}

/* ------------------------------------------------------------------------ */

static void kv_free(struct oci_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void oci_process_free(struct oci_process *p)
{
    if (!p)
        return;
    free(p->cwd);
    moat_strv_free(p->env);
    moat_strv_free(p->args);
    free(p->apparmor_profile);
    free(p->selinux_label);
    free(p->user.additional_gids);
    free(p->user.username);
    for (size_t i = 0; i < p->n_rlimits; i++)
        free(p->rlimits[i].name);
    free(p->rlimits);
    free(p);
}

static void seccomp_free(struct oci_seccomp *s)
{
    if (!s)
        return;
    free(s->default_action);
    moat_strv_free(s->architectures);
    moat_strv_free(s->flags);
    free(s->listener_path);
    free(s->listener_metadata);
    for (size_t i = 0; i < s->n_rules; i++) {
        moat_strv_free(s->rules[i].names);
        free(s->rules[i].action);
        for (size_t j = 0; j < s->rules[i].n_args; j++)
            free(s->rules[i].args[j].op);
        free(s->rules[i].args);
    }
    free(s->rules);
    free(s);
}

void oci_spec_free(struct oci_spec *s)
{
    if (!s)
        return;
    free(s->oci_version);
    oci_process_free(s->process);
    free(s->root_path);
    free(s->hostname);
    free(s->domainname);
    for (size_t i = 0; i < s->n_mounts; i++) {
        struct oci_mount *m = &s->mounts[i];
        free(m->destination);
        free(m->type);
        free(m->source);
        moat_strv_free(m->options);
        free(m->data);
        free(m->uid_mappings);
        free(m->gid_mappings);
    }
    free(s->mounts);
    for (int k = 0; k < OCI_HOOK__COUNT; k++) {
        for (size_t i = 0; i < s->hooks.n[k]; i++) {
            free(s->hooks.hooks[k][i].path);
            moat_strv_free(s->hooks.hooks[k][i].args);
            moat_strv_free(s->hooks.hooks[k][i].env);
        }
        free(s->hooks.hooks[k]);
    }
    kv_free(s->annotations, s->n_annotations);
    struct oci_linux *l = &s->linux_;
    for (int i = 0; i < OCI_NS__COUNT; i++)
        free(l->ns[i].path);
    free(l->uid_mappings);
    free(l->gid_mappings);
    for (size_t i = 0; i < l->n_devices; i++)
        free(l->devices[i].path);
    free(l->devices);
    free(l->cgroups_path);
    struct oci_resources *r = &l->resources;
    free(r->devices);
    free(r->cpu_cpus);
    free(r->cpu_mems);
    free(r->blkio_weight_devices);
    for (int i = 0; i < 4; i++)
        free(r->throttle[i]);
    for (size_t i = 0; i < r->n_hugepages; i++)
        free(r->hugepages[i].page_size);
    free(r->hugepages);
    kv_free(r->unified, r->n_unified);
    seccomp_free(l->seccomp);
    kv_free(l->sysctl, l->n_sysctl);
    moat_strv_free(l->masked_paths);
    moat_strv_free(l->readonly_paths);
    free(l->mount_label);
    free(s);
}

/* ---- small helpers ------------------------------------------------------- */

/* Iterate a bounded array field. Returns its length, 0 if absent, -1 on error. */
static int array_field(struct json_object *obj, const char *where, const char *key, struct json_object **arr,
                       moat_error **err)
{
    int r = moat_json_arr(obj, where, key, false, arr, err);
    if (r <= 0)
        return r;
    size_t n = json_object_array_length(*arr);
    if (n > OCI_MAX_ENTRIES)
        return moat_err(err, E2BIG, "%s/%s: %zu entries is over the limit of %d", where, key, n, OCI_MAX_ENTRIES);
    return (int)n;
}

static int elem_obj(struct json_object *arr, size_t i, const char *where, const char *key, struct json_object **ret,
                    char **ret_path, moat_error **err)
{
    struct json_object *v = json_object_array_get_idx(arr, i);
    *ret_path = xasprintf("%s/%s/%zu", where, key, i);
    if (!json_object_is_type(v, json_type_object))
        return moat_err(err, EINVAL, "%s: expected an object", *ret_path);
    *ret = v;
    return 0;
}

static int parse_u32(struct json_object *o, const char *where, const char *key, bool required, uint32_t *ret,
                     moat_error **err)
{
    int64_t v;
    int r = moat_json_i64(o, where, key, required, 0, UINT32_MAX, &v, err);
    if (r > 0)
        *ret = (uint32_t)v;
    return r;
}

static int parse_kv_object(struct json_object *obj, const char *where, const char *key, struct oci_kv **ret,
                           size_t *ret_n, moat_error **err)
{
    struct json_object *o;
    int r = moat_json_obj(obj, where, key, false, &o, err);
    if (r <= 0)
        return r;
    size_t n = (size_t)json_object_object_length(o);
    if (n > OCI_MAX_ENTRIES)
        return moat_err(err, E2BIG, "%s/%s: too many entries", where, key);
    struct oci_kv *kv = xcalloc(n + 1, sizeof(*kv));
    size_t i = 0;
    json_object_object_foreach(o, k, v)
    {
        _cleanup_free_ char *p = moat_jpath(where, key);
        _cleanup_free_ char *pk = moat_jpath(p, k);
        if (moat_json_val_str(v, pk, &kv[i].value, err) < 0) {
            kv[i].key = xstrdup(k);
            kv_free(kv, i + 1);
            return -1;
        }
        kv[i++].key = xstrdup(k);
    }
    *ret = kv;
    *ret_n = i;
    return 1;
}

static int check_abs_path(const char *p, const char *where, moat_error **err)
{
    if (!p || p[0] != '/')
        return moat_err(err, EINVAL, "%s: '%s' must be an absolute path", where, p ? p : "");
    if (strlen(p) >= 4096)
        return moat_err(err, ENAMETOOLONG, "%s: path too long", where);
    return 0;
}

static int parse_id_maps(struct json_object *obj, const char *where, const char *key, struct oci_id_map **ret,
                         size_t *ret_n, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(obj, where, key, &arr, err);
    if (n <= 0)
        return n;
    if (n > 340)
        return moat_err(err, E2BIG, "%s/%s: the kernel accepts at most 340 id map lines", where, key);
    struct oci_id_map *m = xcalloc((size_t)n, sizeof(*m));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL;
        if (elem_obj(arr, (size_t)i, where, key, &e, &p, err) < 0 ||
            parse_u32(e, p, "containerID", true, &m[i].container_id, err) < 0 ||
            parse_u32(e, p, "hostID", true, &m[i].host_id, err) < 0 ||
            parse_u32(e, p, "size", true, &m[i].size, err) < 0) {
            free(m);
            return -1;
        }
        if (m[i].size == 0 || (uint64_t)m[i].container_id + m[i].size > UINT32_MAX ||
            (uint64_t)m[i].host_id + m[i].size > UINT32_MAX) {
            free(m);
            return moat_err(err, EINVAL, "%s: size must be non-zero and the range must fit in 32 bits", p);
        }
    }
    *ret = m;
    *ret_n = (size_t)n;
    return 1;
}

/* ---- process ------------------------------------------------------------- */

static int parse_caps(struct json_object *obj, const char *where, struct oci_caps *caps, moat_error **err)
{
    struct json_object *c;
    int r = moat_json_obj(obj, where, "capabilities", false, &c, err);
    if (r <= 0)
        return r;
    caps->present = true;
    _cleanup_free_ char *cw = moat_jpath(where, "capabilities");
    static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
    uint64_t *dst[] = {&caps->bounding, &caps->effective, &caps->inheritable, &caps->permitted, &caps->ambient};
    for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
        _cleanup_strv_ char **names = NULL;
        if (moat_json_strv(c, cw, sets[s], false, 64, &names, err) < 0)
            return -1;
        for (size_t i = 0; names && names[i]; i++) {
            int cap = oci_cap_from_name(names[i]);
            if (cap < 0)
                return moat_err(err, EINVAL, "%s/%s: unknown capability '%s'", cw, sets[s], names[i]);
            *dst[s] |= 1ull << cap;
        }
    }
    return 1;
}

static int parse_rlimits(struct json_object *obj, const char *where, struct oci_process *p, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(obj, where, "rlimits", &arr, err);
    if (n <= 0)
        return n;
    p->rlimits = xcalloc((size_t)n, sizeof(*p->rlimits));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *path = NULL;
        struct oci_rlimit *rl = &p->rlimits[i];
        p->n_rlimits = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, where, "rlimits", &e, &path, err) < 0 ||
            moat_json_str(e, path, "type", true, &rl->name, err) < 0 ||
            moat_json_u64(e, path, "soft", true, &rl->soft, err) < 0 ||
            moat_json_u64(e, path, "hard", true, &rl->hard, err) < 0)
            return -1;
        rl->resource = oci_rlimit_from_name(rl->name);
        if (rl->resource < 0)
            return moat_err(err, EINVAL, "%s/type: unknown rlimit '%s'", path, rl->name);
        if (rl->soft > rl->hard)
            return moat_err(err, EINVAL, "%s: soft limit %" PRIu64 " is above the hard limit %" PRIu64, path,
                            rl->soft, rl->hard);
        for (int j = 0; j < i; j++)
            if (p->rlimits[j].resource == rl->resource)
                return moat_err(err, EINVAL, "%s/type: '%s' is given twice", path, rl->name);
    }
    return 1;
}

int oci_process_parse_json(struct json_object *obj, const char *where, struct oci_process **ret, moat_error **err)
{
    struct oci_process *p = xcalloc(1, sizeof(*p));
    struct json_object *o;
    int r;

    if (moat_json_bool(obj, where, "terminal", false, &p->terminal, err) < 0)
        goto fail;
    if ((r = moat_json_obj(obj, where, "consoleSize", false, &o, err)) < 0)
        goto fail;
    if (r > 0) {
        _cleanup_free_ char *cw = moat_jpath(where, "consoleSize");
        uint32_t h = 0, w = 0;
        if (parse_u32(o, cw, "height", true, &h, err) < 0 || parse_u32(o, cw, "width", true, &w, err) < 0)
            goto fail;
        if (h > 65535 || w > 65535) {
            moat_err(err, ERANGE, "%s: console size too large", cw);
            goto fail;
        }
        p->console_height = h;
        p->console_width = w;
    }
    if (moat_json_str(obj, where, "cwd", true, &p->cwd, err) < 0)
        goto fail;
    {
        _cleanup_free_ char *cw = moat_jpath(where, "cwd");
        if (check_abs_path(p->cwd, cw, err) < 0)
            goto fail;
    }
    if (moat_json_strv(obj, where, "env", false, OCI_MAX_ARGS, &p->env, err) < 0)
        goto fail;
    for (size_t i = 0; p->env && p->env[i]; i++) {
        if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
            moat_err(err, EINVAL, "%s/env/%zu: '%s' is not of the form NAME=VALUE", where, i, p->env[i]);
            goto fail;
        }
    }
    if (moat_json_strv(obj, where, "args", false, OCI_MAX_ARGS, &p->args, err) < 0)
        goto fail;
    if (moat_json_str(obj, where, "apparmorProfile", false, &p->apparmor_profile, err) < 0 ||
        moat_json_str(obj, where, "selinuxLabel", false, &p->selinux_label, err) < 0 ||
        moat_json_bool(obj, where, "noNewPrivileges", false, &p->no_new_privileges, err) < 0)
        goto fail;
    {
        int64_t v;
        if ((r = moat_json_i64(obj, where, "oomScoreAdj", false, -1000, 1000, &v, err)) < 0)
            goto fail;
        if (r > 0) {
            p->has_oom_score_adj = true;
            p->oom_score_adj = (int)v;
        }
    }
    if (parse_caps(obj, where, &p->caps, err) < 0 || parse_rlimits(obj, where, p, err) < 0)
        goto fail;

    if ((r = moat_json_obj(obj, where, "user", false, &o, err)) < 0)
        goto fail;
    if (r > 0) {
        _cleanup_free_ char *uw = moat_jpath(where, "user");
        if (parse_u32(o, uw, "uid", false, &p->user.uid, err) < 0 ||
            parse_u32(o, uw, "gid", false, &p->user.gid, err) < 0 ||
            moat_json_str(o, uw, "username", false, &p->user.username, err) < 0)
            goto fail;
        uint32_t um;
        if ((r = parse_u32(o, uw, "umask", false, &um, err)) < 0)
            goto fail;
        if (r > 0) {
            if (um > 0777) {
                moat_err(err, ERANGE, "%s/umask: %u is not a file mode mask", uw, um);
                goto fail;
            }
            p->user.has_umask = true;
            p->user.umask = um;
        }
        struct json_object *arr;
        int n = array_field(o, uw, "additionalGids", &arr, err);
        if (n < 0)
            goto fail;
        if (n > 65536) {
            moat_err(err, E2BIG, "%s/additionalGids: too many groups", uw);
            goto fail;
        }
        if (n > 0) {
            p->user.additional_gids = xcalloc((size_t)n, sizeof(uint32_t));
            for (int i = 0; i < n; i++) {
                uint64_t g;
                _cleanup_free_ char *gp = xasprintf("%s/additionalGids/%d", uw, i);
                if (moat_json_val_u64(json_object_array_get_idx(arr, (size_t)i), gp, &g, err) < 0)
                    goto fail;
                if (g > UINT32_MAX) {
                    moat_err(err, ERANGE, "%s: out of range", gp);
                    goto fail;
                }
                p->user.additional_gids[i] = (uint32_t)g;
            }
            p->user.n_additional_gids = (size_t)n;
        }
    }
    if ((r = moat_json_obj(obj, where, "ioPriority", false, &o, err)) < 0)
        goto fail;
    if (r > 0) {
        _cleanup_free_ char *iw = moat_jpath(where, "ioPriority");
        _cleanup_free_ char *cls = NULL;
        int64_t prio = 0;
        if (moat_json_str(o, iw, "class", true, &cls, err) < 0 ||
            moat_json_i64(o, iw, "priority", false, 0, 7, &prio, err) < 0)
            goto fail;
        if (strcmp(cls, "IOPRIO_CLASS_RT") == 0)
            p->io_priority_class = 1;
        else if (strcmp(cls, "IOPRIO_CLASS_BE") == 0)
            p->io_priority_class = 2;
        else if (strcmp(cls, "IOPRIO_CLASS_IDLE") == 0)
            p->io_priority_class = 3;
        else {
            moat_err(err, EINVAL, "%s/class: unknown class '%s'", iw, cls);
            goto fail;
        }
        p->has_io_priority = true;
        p->io_priority = (int)prio;
    }
    *ret = p;
    return 0;
fail:
    oci_process_free(p);
    return -1;
}

int oci_process_parse(const char *buf, size_t len, const char *what, struct oci_process **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (moat_json_parse(buf, len, OCI_MAX_CONFIG_BYTES, what, &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "%s: expected a JSON object", what);
    if (oci_process_parse_json(root, "", ret, err) < 0)
        return moat_err_wrap(err, "%s", what);
    if (!(*ret)->args || !(*ret)->args[0]) {
        oci_process_free(*ret);
        *ret = NULL;
        return moat_err(err, EINVAL, "%s: /args: at least one argument is required", what);
    }
    return 0;
}

/* ---- mounts -------------------------------------------------------------- */

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_RELATIME 0x00000000
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif

enum opt_kind { OPT_SET, OPT_CLR, OPT_ATIME, OPT_PROP, OPT_BIND, OPT_RBIND, OPT_IGNORE, OPT_DATA_FLAG, OPT_EXT };

static const struct mount_opt {
    const char *name;
    enum opt_kind kind;
    uint64_t attr;      /* MOUNT_ATTR_* */
    unsigned long ms;   /* MS_* (for propagation / legacy) */
    bool recursive;
} mount_opts[] = {
    {"defaults", OPT_IGNORE, 0, 0, false},
    {"ro", OPT_SET, MOUNT_ATTR_RDONLY, MS_RDONLY, false},
    {"rw", OPT_CLR, MOUNT_ATTR_RDONLY, MS_RDONLY, false},
    {"nosuid", OPT_SET, MOUNT_ATTR_NOSUID, MS_NOSUID, false},
    {"suid", OPT_CLR, MOUNT_ATTR_NOSUID, MS_NOSUID, false},
    {"nodev", OPT_SET, MOUNT_ATTR_NODEV, MS_NODEV, false},
    {"dev", OPT_CLR, MOUNT_ATTR_NODEV, MS_NODEV, false},
    {"noexec", OPT_SET, MOUNT_ATTR_NOEXEC, MS_NOEXEC, false},
    {"exec", OPT_CLR, MOUNT_ATTR_NOEXEC, MS_NOEXEC, false},
    {"nosymfollow", OPT_SET, MOUNT_ATTR_NOSYMFOLLOW, 0, false},
    {"symfollow", OPT_CLR, MOUNT_ATTR_NOSYMFOLLOW, 0, false},
    {"nodiratime", OPT_SET, MOUNT_ATTR_NODIRATIME, MS_NODIRATIME, false},
    {"diratime", OPT_CLR, MOUNT_ATTR_NODIRATIME, MS_NODIRATIME, false},
    {"noatime", OPT_ATIME, MOUNT_ATTR_NOATIME, MS_NOATIME, false},
    {"relatime", OPT_ATIME, MOUNT_ATTR_RELATIME, MS_RELATIME, false},
    {"strictatime", OPT_ATIME, MOUNT_ATTR_STRICTATIME, MS_STRICTATIME, false},
    {"atime", OPT_IGNORE, 0, 0, false},
    {"norelatime", OPT_IGNORE, 0, 0, false},
    {"nostrictatime", OPT_IGNORE, 0, 0, false},
    {"rro", OPT_SET, MOUNT_ATTR_RDONLY, MS_RDONLY, true},
    {"rrw", OPT_CLR, MOUNT_ATTR_RDONLY, MS_RDONLY, true},
    {"rnosuid", OPT_SET, MOUNT_ATTR_NOSUID, MS_NOSUID, true},
    {"rsuid", OPT_CLR, MOUNT_ATTR_NOSUID, MS_NOSUID, true},
    {"rnodev", OPT_SET, MOUNT_ATTR_NODEV, MS_NODEV, true},
    {"rdev", OPT_CLR, MOUNT_ATTR_NODEV, MS_NODEV, true},
    {"rnoexec", OPT_SET, MOUNT_ATTR_NOEXEC, MS_NOEXEC, true},
    {"rexec", OPT_CLR, MOUNT_ATTR_NOEXEC, MS_NOEXEC, true},
    {"rnosymfollow", OPT_SET, MOUNT_ATTR_NOSYMFOLLOW, 0, true},
    {"rsymfollow", OPT_CLR, MOUNT_ATTR_NOSYMFOLLOW, 0, true},
    {"rnodiratime", OPT_SET, MOUNT_ATTR_NODIRATIME, MS_NODIRATIME, true},
    {"rdiratime", OPT_CLR, MOUNT_ATTR_NODIRATIME, MS_NODIRATIME, true},
    {"rnoatime", OPT_ATIME, MOUNT_ATTR_NOATIME, MS_NOATIME, true},
    {"rrelatime", OPT_ATIME, MOUNT_ATTR_RELATIME, MS_RELATIME, true},
    {"rstrictatime", OPT_ATIME, MOUNT_ATTR_STRICTATIME, MS_STRICTATIME, true},
    {"ratime", OPT_IGNORE, 0, 0, true},
    {"private", OPT_PROP, 0, MS_PRIVATE, false},
    {"rprivate", OPT_PROP, 0, MS_PRIVATE | MS_REC, false},
    {"shared", OPT_PROP, 0, MS_SHARED, false},
    {"rshared", OPT_PROP, 0, MS_SHARED | MS_REC, false},
    {"slave", OPT_PROP, 0, MS_SLAVE, false},
    {"rslave", OPT_PROP, 0, MS_SLAVE | MS_REC, false},
    {"unbindable", OPT_PROP, 0, MS_UNBINDABLE, false},
    {"runbindable", OPT_PROP, 0, MS_UNBINDABLE | MS_REC, false},
    {"bind", OPT_BIND, 0, MS_BIND, false},
    {"rbind", OPT_RBIND, 0, MS_BIND | MS_REC, false},
    /* superblock flags passed to the filesystem as flag parameters */
    {"sync", OPT_DATA_FLAG, 0, 0, false},
    {"async", OPT_IGNORE, 0, 0, false},
    {"dirsync", OPT_DATA_FLAG, 0, 0, false},
    {"lazytime", OPT_DATA_FLAG, 0, 0, false},
    {"nolazytime", OPT_IGNORE, 0, 0, false},
    {"mand", OPT_IGNORE, 0, 0, false},
    {"nomand", OPT_IGNORE, 0, 0, false},
    {"iversion", OPT_IGNORE, 0, 0, false},
    {"noiversion", OPT_IGNORE, 0, 0, false},
    {"silent", OPT_IGNORE, 0, 0, false},
    {"loud", OPT_IGNORE, 0, 0, false},
    {"remount", OPT_IGNORE, 0, 0, false},
    /* engine-level relabel/chown options that engines normally strip */
    {"z", OPT_IGNORE, 0, 0, false},
    {"Z", OPT_IGNORE, 0, 0, false},
    {"U", OPT_IGNORE, 0, 0, false},
    /* runtime extensions (crun) */
    {"tmpcopyup", OPT_EXT, 0, 0, false},
    {"notmpcopyup", OPT_EXT, 0, 0, false},
    {"idmap", OPT_EXT, 0, 0, false},
    {"ridmap", OPT_EXT, 0, 0, false},
    {"copy-symlink", OPT_IGNORE, 0, 0, false},
};

int oci_mount_parse_options(struct oci_mount *m, const char *where, moat_error **err)
{
    size_t datalen = 0;
    _cleanup_free_ char *data = xcalloc(1, 1);
    for (size_t i = 0; m->options && m->options[i]; i++) {
        const char *o = m->options[i];
        const struct mount_opt *found = NULL;
        for (size_t j = 0; j < ARRAY_SIZE(mount_opts); j++)
            if (strcmp(o, mount_opts[j].name) == 0) {
                found = &mount_opts[j];
                break;
            }
        if (!found) {
            if (!*o || strchr(o, ','))
                return moat_err(err, EINVAL, "%s/options/%zu: invalid option '%s'", where, i, o);
            if (moat_str_has_prefix(o, "x-")) /* userspace-only annotations, e.g. x-systemd.* */
                continue;
        }
        if (!found || found->kind == OPT_DATA_FLAG) {
            size_t l = strlen(o);
            data = xrealloc(data, datalen + l + 2);
            if (datalen)
                data[datalen++] = ',';
            memcpy(data + datalen, o, l + 1);
            datalen += l;
            continue;
        }
        if (found->recursive)
            m->recursive_attrs = true;
        switch (found->kind) {
        case OPT_SET:
            m->attr_set |= found->attr;
            m->attr_clr &= ~found->attr;
            m->flags |= found->ms;
            break;
        case OPT_CLR:
            m->attr_clr |= found->attr;
            m->attr_set &= ~found->attr;
            m->flags &= ~found->ms;
            break;
        case OPT_ATIME:
            m->attr_set = (m->attr_set & ~(uint64_t)MOUNT_ATTR__ATIME) | found->attr;
            m->attr_clr |= MOUNT_ATTR__ATIME;
            m->flags = (m->flags & ~(unsigned long)(MS_NOATIME | MS_RELATIME | MS_STRICTATIME)) | found->ms;
            break;
        case OPT_PROP:
            m->propagation = found->ms;
            break;
        case OPT_BIND:
            m->bind = true;
            break;
        case OPT_RBIND:
            m->bind = m->rbind = true;
            break;
        case OPT_EXT:
            if (strcmp(o, "tmpcopyup") == 0)
                m->tmpcopyup = true;
            else if (strcmp(o, "notmpcopyup") == 0)
                m->tmpcopyup = false;
            else if (strcmp(o, "idmap") == 0)
                m->idmap = true;
            else if (strcmp(o, "ridmap") == 0)
                m->idmap = m->ridmap = true;
            break;
        case OPT_IGNORE:
        case OPT_DATA_FLAG:
            break;
        }
    }
    if (datalen > 4000)
        return moat_err(err, E2BIG, "%s/options: filesystem options are too long", where);
    m->data = TAKE_PTR(data);
    if (m->type && strcmp(m->type, "bind") == 0)
        m->bind = true;
    return 0;
}

static int parse_mounts(struct json_object *obj, struct oci_spec *s, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(obj, "", "mounts", &arr, err);
    if (n <= 0)
        return n;
    s->mounts = xcalloc((size_t)n, sizeof(*s->mounts));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL;
        struct oci_mount *m = &s->mounts[i];
        s->n_mounts = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, "", "mounts", &e, &p, err) < 0 ||
            moat_json_str(e, p, "destination", true, &m->destination, err) < 0 ||
            moat_json_str(e, p, "type", false, &m->type, err) < 0 ||
            moat_json_str(e, p, "source", false, &m->source, err) < 0 ||
            moat_json_strv(e, p, "options", false, 256, &m->options, err) < 0)
            return -1;
        _cleanup_free_ char *dp = moat_jpath(p, "destination");
        if (check_abs_path(m->destination, dp, err) < 0)
            return -1;
        if (m->type && (strlen(m->type) > 64 || !*m->type))
            return moat_err(err, EINVAL, "%s/type: invalid filesystem type", p);
        if (m->source && strlen(m->source) >= 4096)
            return moat_err(err, ENAMETOOLONG, "%s/source: path too long", p);
        if (oci_mount_parse_options(m, p, err) < 0)
            return -1;
        if (m->bind && (!m->source || m->source[0] != '/'))
            return moat_err(err, EINVAL, "%s/source: a bind mount needs an absolute source path", p);
        if (!m->bind && !m->type)
            return moat_err(err, EINVAL, "%s/type: required for a mount that is not a bind mount", p);
        if (parse_id_maps(e, p, "uidMappings", &m->uid_mappings, &m->n_uid_mappings, err) < 0 ||
            parse_id_maps(e, p, "gidMappings", &m->gid_mappings, &m->n_gid_mappings, err) < 0)
            return -1;
        if ((m->n_uid_mappings > 0) != (m->n_gid_mappings > 0))
            return moat_err(err, EINVAL, "%s: uidMappings and gidMappings must be given together", p);
        if (m->n_uid_mappings && !m->bind)
            return moat_err(err, EINVAL, "%s: id-mapped mounts are only supported for bind mounts", p);
    }
    return 0;
}

/* ---- hooks --------------------------------------------------------------- */

static int parse_hooks(struct json_object *obj, struct oci_spec *s, moat_error **err)
{
    struct json_object *h;
    int r = moat_json_obj(obj, "", "hooks", false, &h, err);
    if (r <= 0)
        return r;
    for (int k = 0; k < OCI_HOOK__COUNT; k++) {
        struct json_object *arr;
        int n = array_field(h, "/hooks", oci_hook_names[k], &arr, err);
        if (n < 0)
            return -1;
        if (n == 0)
            continue;
        s->hooks.hooks[k] = xcalloc((size_t)n, sizeof(struct oci_hook));
        for (int i = 0; i < n; i++) {
            struct json_object *e;
            _cleanup_free_ char *p = NULL;
            struct oci_hook *hk = &s->hooks.hooks[k][i];
            s->hooks.n[k] = (size_t)i + 1;
            if (elem_obj(arr, (size_t)i, "/hooks", oci_hook_names[k], &e, &p, err) < 0 ||
                moat_json_str(e, p, "path", true, &hk->path, err) < 0 ||
                moat_json_strv(e, p, "args", false, OCI_MAX_ARGS, &hk->args, err) < 0 ||
                moat_json_strv(e, p, "env", false, OCI_MAX_ARGS, &hk->env, err) < 0)
                return -1;
            _cleanup_free_ char *pp = moat_jpath(p, "path");
            if (check_abs_path(hk->path, pp, err) < 0)
                return -1;
            int64_t t;
            int rr = moat_json_i64(e, p, "timeout", false, 1, 86400, &t, err);
            if (rr < 0)
                return -1;
            if (rr > 0) {
                hk->has_timeout = true;
                hk->timeout = (int)t;
            }
        }
    }
    return 0;
}

/* ---- linux --------------------------------------------------------------- */

static int parse_namespaces(struct json_object *lx, struct oci_linux *l, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(lx, "/linux", "namespaces", &arr, err);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL, *type = NULL, *path = NULL;
        if (elem_obj(arr, (size_t)i, "/linux", "namespaces", &e, &p, err) < 0 ||
            moat_json_str(e, p, "type", true, &type, err) < 0 || moat_json_str(e, p, "path", false, &path, err) < 0)
            return -1;
        int k;
        for (k = 0; k < OCI_NS__COUNT; k++)
            if (strcmp(type, oci_ns_names[k]) == 0)
                break;
        if (k == OCI_NS__COUNT)
            return moat_err(err, EINVAL, "%s/type: unknown namespace type '%s'", p, type);
        if (l->ns[k].present)
            return moat_err(err, EINVAL, "%s/type: namespace '%s' is given twice", p, type);
        if (path) {
            _cleanup_free_ char *pp = moat_jpath(p, "path");
            if (check_abs_path(path, pp, err) < 0)
                return -1;
        }
        l->ns[k].present = true;
        l->ns[k].path = TAKE_PTR(path);
    }
    return 0;
}

static int parse_devices(struct json_object *lx, struct oci_linux *l, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(lx, "/linux", "devices", &arr, err);
    if (n <= 0)
        return n;
    l->devices = xcalloc((size_t)n, sizeof(*l->devices));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL, *type = NULL;
        struct oci_device *d = &l->devices[i];
        l->n_devices = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, "/linux", "devices", &e, &p, err) < 0 ||
            moat_json_str(e, p, "type", true, &type, err) < 0 || moat_json_str(e, p, "path", true, &d->path, err) < 0)
            return -1;
        if (strlen(type) != 1 || !strchr("cbup", type[0]))
            return moat_err(err, EINVAL, "%s/type: '%s' is not one of c, b, u, p", p, type);
        d->type = type[0];
        _cleanup_free_ char *pp = moat_jpath(p, "path");
        if (check_abs_path(d->path, pp, err) < 0)
            return -1;
        if (!moat_str_has_prefix(d->path, "/dev/"))
            return moat_err(err, EINVAL, "%s: device path '%s' must be under /dev", pp, d->path);
        bool need_nums = d->type != 'p';
        int r;
        if (moat_json_i64(e, p, "major", need_nums, 0, 0xfff, &d->major, err) < 0 ||
            moat_json_i64(e, p, "minor", need_nums, 0, 0xfffff, &d->minor, err) < 0)
            return -1;
        if ((r = parse_u32(e, p, "fileMode", false, &d->file_mode, err)) < 0)
            return -1;
        d->has_file_mode = r > 0;
        if (d->has_file_mode && (d->file_mode & S_IFMT)) {
            /* podman and docker pass stat's st_mode: the file type bits
             * are accepted when they agree with "type", then dropped. */
            unsigned fmt = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
            if ((d->file_mode & S_IFMT) != fmt)
                return moat_err(err, EINVAL, "%s/fileMode: file type bits 0%o disagree with type '%c'", p,
                                d->file_mode & S_IFMT, d->type);
            d->file_mode &= ~(unsigned)S_IFMT;
        }
        if (d->has_file_mode && d->file_mode > 07777)
            return moat_err(err, ERANGE, "%s/fileMode: invalid mode", p);
        if ((r = parse_u32(e, p, "uid", false, &d->uid, err)) < 0)
            return -1;
        d->has_uid = r > 0;
        if ((r = parse_u32(e, p, "gid", false, &d->gid, err)) < 0)
            return -1;
        d->has_gid = r > 0;
    }
    return 0;
}

static int parse_throttle(struct json_object *bio, const char *where, const char *key, struct oci_throttle **ret,
                          size_t *ret_n, moat_error **err)
{
    struct json_object *arr;
    int n = array_field(bio, where, key, &arr, err);
    if (n <= 0)
        return n;
    struct oci_throttle *t = xcalloc((size_t)n, sizeof(*t));
    *ret = t;
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL;
        *ret_n = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, where, key, &e, &p, err) < 0 ||
            moat_json_i64(e, p, "major", true, 0, 0xfff, &t[i].major, err) < 0 ||
            moat_json_i64(e, p, "minor", true, 0, 0xfffff, &t[i].minor, err) < 0 ||
            moat_json_u64(e, p, "rate", true, &t[i].rate, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_resources(struct json_object *lx, struct oci_linux *l, moat_error **err)
{
    struct json_object *res, *o, *arr;
    int r = moat_json_obj(lx, "/linux", "resources", false, &res, err);
    if (r <= 0)
        return r;
    l->has_resources = true;
    struct oci_resources *rs = &l->resources;
    const char *rw = "/linux/resources";

    int n = array_field(res, rw, "devices", &arr, err);
    if (n < 0)
        return -1;
    if (n > 0)
        rs->devices = xcalloc((size_t)n, sizeof(*rs->devices));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL, *type = NULL, *access = NULL;
        struct oci_device_rule *d = &rs->devices[i];
        rs->n_devices = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, rw, "devices", &e, &p, err) < 0 ||
            moat_json_bool(e, p, "allow", true, &d->allow, err) < 0 ||
            moat_json_str(e, p, "type", false, &type, err) < 0 ||
            moat_json_str(e, p, "access", false, &access, err) < 0)
            return -1;
        d->type = type ? type[0] : 'a';
        if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
            return moat_err(err, EINVAL, "%s/type: '%s' is not one of a, c, b", p, type);
        d->major = d->minor = -1;
        int64_t v;
        if ((r = moat_json_i64(e, p, "major", false, -1, 0xfff, &v, err)) < 0)
            return -1;
        if (r > 0)
            d->major = v;
        if ((r = moat_json_i64(e, p, "minor", false, -1, 0xfffff, &v, err)) < 0)
            return -1;
        if (r > 0)
            d->minor = v;
        const char *acc = access ? access : "rwm";
        if (strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc))
            return moat_err(err, EINVAL, "%s/access: '%s' is not a subset of rwm", p, acc);
        strcpy(d->access, acc);
    }

    if ((r = moat_json_obj(res, rw, "memory", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        const char *mw = "/linux/resources/memory";
        int64_t v;
        if ((r = moat_json_i64(o, mw, "limit", false, -1, INT64_MAX, &v, err)) < 0)
            return -1;
        if ((rs->has_mem_limit = r > 0))
            rs->mem_limit = v;
        if ((r = moat_json_i64(o, mw, "reservation", false, -1, INT64_MAX, &v, err)) < 0)
            return -1;
        if ((rs->has_mem_reservation = r > 0))
            rs->mem_reservation = v;
        if ((r = moat_json_i64(o, mw, "swap", false, -1, INT64_MAX, &v, err)) < 0)
            return -1;
        if ((rs->has_mem_swap = r > 0))
            rs->mem_swap = v;
        if ((r = moat_json_u64(o, mw, "swappiness", false, &rs->mem_swappiness, err)) < 0)
            return -1;
        if ((rs->has_mem_swappiness = r > 0) && rs->mem_swappiness > 100)
            return moat_err(err, ERANGE, "%s/swappiness: %" PRIu64 " is over 100", mw, rs->mem_swappiness);
        if ((r = moat_json_bool(o, mw, "disableOOMKiller", false, &rs->disable_oom_killer, err)) < 0)
            return -1;
        rs->has_disable_oom_killer = r > 0;
        if (rs->has_mem_limit && rs->mem_limit >= 0 && rs->has_mem_swap && rs->mem_swap >= 0 &&
            rs->mem_swap < rs->mem_limit)
            return moat_err(err, EINVAL, "%s: swap (memory+swap) %" PRId64 " is below the memory limit %" PRId64, mw,
                            rs->mem_swap, rs->mem_limit);
    }

    if ((r = moat_json_obj(res, rw, "cpu", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        const char *cw = "/linux/resources/cpu";
        int64_t v;
        if ((r = moat_json_u64(o, cw, "shares", false, &rs->cpu_shares, err)) < 0)
            return -1;
        rs->has_cpu_shares = r > 0;
        if ((r = moat_json_i64(o, cw, "quota", false, -1, INT64_MAX, &v, err)) < 0)
            return -1;
        if ((rs->has_cpu_quota = r > 0))
            rs->cpu_quota = v;
        if ((r = moat_json_u64(o, cw, "period", false, &rs->cpu_period, err)) < 0)
            return -1;
        rs->has_cpu_period = r > 0;
        if ((r = moat_json_u64(o, cw, "burst", false, &rs->cpu_burst, err)) < 0)
            return -1;
        rs->has_cpu_burst = r > 0;
        if ((r = moat_json_i64(o, cw, "realtimeRuntime", false, -1, INT64_MAX, &v, err)) < 0)
            return -1;
        if ((rs->has_cpu_rt_runtime = r > 0))
            rs->cpu_rt_runtime = v;
        if ((r = moat_json_u64(o, cw, "realtimePeriod", false, &rs->cpu_rt_period, err)) < 0)
            return -1;
        rs->has_cpu_rt_period = r > 0;
        if ((r = moat_json_i64(o, cw, "idle", false, 0, 1, &v, err)) < 0)
            return -1;
        if ((rs->has_cpu_idle = r > 0))
            rs->cpu_idle = v;
        if (moat_json_str(o, cw, "cpus", false, &rs->cpu_cpus, err) < 0 ||
            moat_json_str(o, cw, "mems", false, &rs->cpu_mems, err) < 0)
            return -1;
        const char *lists[] = {rs->cpu_cpus, rs->cpu_mems};
        for (int i = 0; i < 2; i++)
            if (lists[i] && (strlen(lists[i]) > 1024 || strspn(lists[i], "0123456789,-") != strlen(lists[i])))
                return moat_err(err, EINVAL, "%s/%s: '%s' is not a CPU/node list", cw, i ? "mems" : "cpus",
                                lists[i]);
    }

    if ((r = moat_json_obj(res, rw, "pids", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        if ((r = moat_json_i64(o, "/linux/resources/pids", "limit", true, INT64_MIN, INT64_MAX, &rs->pids_limit,
                               err)) < 0)
            return -1;
        rs->has_pids_limit = true;
    }

    if ((r = moat_json_obj(res, rw, "blockIO", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        const char *bw = "/linux/resources/blockIO";
        int64_t v;
        if ((r = moat_json_i64(o, bw, "weight", false, 10, 1000, &v, err)) < 0)
            return -1;
        if ((rs->has_blkio_weight = r > 0))
            rs->blkio_weight = (uint16_t)v;
        if ((r = moat_json_i64(o, bw, "leafWeight", false, 10, 1000, &v, err)) < 0)
            return -1;
        if ((rs->has_blkio_leaf_weight = r > 0))
            rs->blkio_leaf_weight = (uint16_t)v;
        n = array_field(o, bw, "weightDevice", &arr, err);
        if (n < 0)
            return -1;
        if (n > 0)
            rs->blkio_weight_devices = xcalloc((size_t)n, sizeof(*rs->blkio_weight_devices));
        for (int i = 0; i < n; i++) {
            struct json_object *e;
            _cleanup_free_ char *p = NULL;
            struct oci_weight_device *wd = &rs->blkio_weight_devices[i];
            rs->n_blkio_weight_devices = (size_t)i + 1;
            if (elem_obj(arr, (size_t)i, bw, "weightDevice", &e, &p, err) < 0 ||
                moat_json_i64(e, p, "major", true, 0, 0xfff, &wd->major, err) < 0 ||
                moat_json_i64(e, p, "minor", true, 0, 0xfffff, &wd->minor, err) < 0)
                return -1;
            if ((r = moat_json_i64(e, p, "weight", false, 10, 1000, &v, err)) < 0)
                return -1;
            if ((wd->has_weight = r > 0))
                wd->weight = (uint16_t)v;
            if ((r = moat_json_i64(e, p, "leafWeight", false, 10, 1000, &v, err)) < 0)
                return -1;
            if ((wd->has_leaf_weight = r > 0))
                wd->leaf_weight = (uint16_t)v;
        }
        static const char *const tkeys[4] = {"throttleReadBpsDevice", "throttleWriteBpsDevice",
                                             "throttleReadIOPSDevice", "throttleWriteIOPSDevice"};
        for (int t = 0; t < 4; t++)
            if (parse_throttle(o, bw, tkeys[t], &rs->throttle[t], &rs->n_throttle[t], err) < 0)
                return -1;
    }

    n = array_field(res, rw, "hugepageLimits", &arr, err);
    if (n < 0)
        return -1;
    if (n > 0)
        rs->hugepages = xcalloc((size_t)n, sizeof(*rs->hugepages));
    for (int i = 0; i < n; i++) {
        struct json_object *e;
        _cleanup_free_ char *p = NULL;
        rs->n_hugepages = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, rw, "hugepageLimits", &e, &p, err) < 0 ||
            moat_json_str(e, p, "pageSize", true, &rs->hugepages[i].page_size, err) < 0 ||
            moat_json_u64(e, p, "limit", true, &rs->hugepages[i].limit, err) < 0)
            return -1;
        const char *ps = rs->hugepages[i].page_size;
        if (strlen(ps) > 16 || strspn(ps, "0123456789KMGB") != strlen(ps))
            return moat_err(err, EINVAL, "%s/pageSize: '%s' is not a page size like 2MB", p, ps);
    }
    if (parse_kv_object(res, rw, "unified", &rs->unified, &rs->n_unified, err) < 0)
        return -1;
    for (size_t i = 0; i < rs->n_unified; i++) {
        const char *k = rs->unified[i].key;
        if (!*k || strchr(k, '/') || k[0] == '.' || strlen(k) > 255)
            return moat_err(err, EINVAL, "%s/unified: '%s' is not a cgroup file name", rw, k);
    }
    return 0;
}

static int parse_seccomp(struct json_object *lx, struct oci_linux *l, moat_error **err)
{
    struct json_object *sc, *arr;
    int r = moat_json_obj(lx, "/linux", "seccomp", false, &sc, err);
    if (r <= 0)
        return r;
    const char *sw = "/linux/seccomp";
    struct oci_seccomp *s = l->seccomp = xcalloc(1, sizeof(*s));
    if (moat_json_str(sc, sw, "defaultAction", true, &s->default_action, err) < 0 ||
        moat_json_strv(sc, sw, "architectures", false, 32, &s->architectures, err) < 0 ||
        moat_json_strv(sc, sw, "flags", false, 32, &s->flags, err) < 0 ||
        moat_json_str(sc, sw, "listenerPath", false, &s->listener_path, err) < 0 ||
        moat_json_str(sc, sw, "listenerMetadata", false, &s->listener_metadata, err) < 0)
        return -1;
    if ((r = parse_u32(sc, sw, "defaultErrnoRet", false, &s->default_errno, err)) < 0)
        return -1;
    s->has_default_errno = r > 0;
    int n = array_field(sc, sw, "syscalls", &arr, err);
    if (n < 0)
        return -1;
    if (n > 0)
        s->rules = xcalloc((size_t)n, sizeof(*s->rules));
    for (int i = 0; i < n; i++) {
        struct json_object *e, *args;
        _cleanup_free_ char *p = NULL;
        struct oci_seccomp_rule *rule = &s->rules[i];
        s->n_rules = (size_t)i + 1;
        if (elem_obj(arr, (size_t)i, sw, "syscalls", &e, &p, err) < 0 ||
            moat_json_strv(e, p, "names", true, 1024, &rule->names, err) < 0 ||
            moat_json_str(e, p, "action", true, &rule->action, err) < 0)
            return -1;
        if (!rule->names[0])
            return moat_err(err, EINVAL, "%s/names: must not be empty", p);
        if ((r = parse_u32(e, p, "errnoRet", false, &rule->errno_ret, err)) < 0)
            return -1;
        rule->has_errno = r > 0;
        int na = array_field(e, p, "args", &args, err);
        if (na < 0)
            return -1;
        if (na > 6)
            return moat_err(err, E2BIG, "%s/args: at most 6 argument conditions", p);
        if (na > 0)
            rule->args = xcalloc((size_t)na, sizeof(*rule->args));
        for (int j = 0; j < na; j++) {
            struct json_object *ae;
            _cleanup_free_ char *ap = NULL;
            struct oci_seccomp_arg *a = &rule->args[j];
            int64_t idx;
            rule->n_args = (size_t)j + 1;
            if (elem_obj(args, (size_t)j, p, "args", &ae, &ap, err) < 0 ||
                moat_json_i64(ae, ap, "index", true, 0, 5, &idx, err) < 0 ||
                moat_json_u64(ae, ap, "value", true, &a->value, err) < 0 ||
                moat_json_u64(ae, ap, "valueTwo", false, &a->value_two, err) < 0 ||
                moat_json_str(ae, ap, "op", true, &a->op, err) < 0)
                return -1;
            a->index = (unsigned)idx;
        }
    }
    return 0;
}

static int parse_linux(struct json_object *root, struct oci_spec *s, moat_error **err)
{
    struct json_object *lx, *o;
    int r = moat_json_obj(root, "", "linux", false, &lx, err);
    if (r <= 0)
        return r;
    struct oci_linux *l = &s->linux_;
    if (parse_namespaces(lx, l, err) < 0 ||
        parse_id_maps(lx, "/linux", "uidMappings", &l->uid_mappings, &l->n_uid_mappings, err) < 0 ||
        parse_id_maps(lx, "/linux", "gidMappings", &l->gid_mappings, &l->n_gid_mappings, err) < 0 ||
        parse_devices(lx, l, err) < 0 || parse_resources(lx, l, err) < 0 || parse_seccomp(lx, l, err) < 0)
        return -1;
    if ((r = moat_json_obj(lx, "/linux", "timeOffsets", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        l->has_time_offsets = true;
        struct json_object *t;
        const char *keys[2] = {"monotonic", "boottime"};
        int64_t *secs[2] = {&l->monotonic_secs, &l->boottime_secs};
        uint32_t *nsecs[2] = {&l->monotonic_nsecs, &l->boottime_nsecs};
        for (int i = 0; i < 2; i++) {
            _cleanup_free_ char *tw = moat_jpath("/linux/timeOffsets", keys[i]);
            if ((r = moat_json_obj(o, "/linux/timeOffsets", keys[i], false, &t, err)) < 0)
                return -1;
            if (r == 0)
                continue;
            if (moat_json_i64(t, tw, "secs", false, INT32_MIN, INT32_MAX, secs[i], err) < 0 ||
                parse_u32(t, tw, "nanosecs", false, nsecs[i], err) < 0)
                return -1;
            if (*nsecs[i] >= 1000000000u)
                return moat_err(err, ERANGE, "%s/nanosecs: must be below 1000000000", tw);
        }
    }
    if (moat_json_str(lx, "/linux", "cgroupsPath", false, &l->cgroups_path, err) < 0)
        return -1;
    if (l->cgroups_path && strlen(l->cgroups_path) > 1024)
        return moat_err(err, ENAMETOOLONG, "/linux/cgroupsPath: too long");
    _cleanup_free_ char *prop = NULL;
    if (moat_json_str(lx, "/linux", "rootfsPropagation", false, &prop, err) < 0)
        return -1;
    if (prop) {
        static const struct {
            const char *n;
            unsigned long f;
        } props[] = {{"private", MS_PRIVATE},          {"rprivate", MS_PRIVATE | MS_REC},
                     {"shared", MS_SHARED},            {"rshared", MS_SHARED | MS_REC},
                     {"slave", MS_SLAVE},              {"rslave", MS_SLAVE | MS_REC},
                     {"unbindable", MS_UNBINDABLE},    {"runbindable", MS_UNBINDABLE | MS_REC}};
        for (size_t i = 0; i < ARRAY_SIZE(props); i++)
            if (strcmp(prop, props[i].n) == 0)
                l->rootfs_propagation = props[i].f;
        if (!l->rootfs_propagation)
            return moat_err(err, EINVAL, "/linux/rootfsPropagation: unknown propagation '%s'", prop);
    }
    if (parse_kv_object(lx, "/linux", "sysctl", &l->sysctl, &l->n_sysctl, err) < 0)
        return -1;
    for (size_t i = 0; i < l->n_sysctl; i++) {
        const char *k = l->sysctl[i].key;
        if (!*k || strstr(k, "..") || k[0] == '.' || k[0] == '/' || strlen(k) > 255 ||
            strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/") != strlen(k))
            return moat_err(err, EINVAL, "/linux/sysctl: '%s' is not a sysctl name", k);
        if (strchr(l->sysctl[i].value, '\n'))
            return moat_err(err, EINVAL, "/linux/sysctl/%s: value must be a single line", k);
    }
    if (moat_json_strv(lx, "/linux", "maskedPaths", false, OCI_MAX_ENTRIES, &l->masked_paths, err) < 0 ||
        moat_json_strv(lx, "/linux", "readonlyPaths", false, OCI_MAX_ENTRIES, &l->readonly_paths, err) < 0 ||
        moat_json_str(lx, "/linux", "mountLabel", false, &l->mount_label, err) < 0)
        return -1;
    char **lists[2] = {l->masked_paths, l->readonly_paths};
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; lists[i] && lists[i][j]; j++) {
            _cleanup_free_ char *pp = xasprintf("/linux/%s/%zu", i ? "readonlyPaths" : "maskedPaths", j);
            if (check_abs_path(lists[i][j], pp, err) < 0)
                return -1;
        }
    if ((r = moat_json_obj(lx, "/linux", "personality", false, &o, err)) < 0)
        return -1;
    if (r > 0) {
        _cleanup_free_ char *dom = NULL;
        if (moat_json_str(o, "/linux/personality", "domain", true, &dom, err) < 0)
            return -1;
        if (strcmp(dom, "LINUX") == 0)
            l->personality = PER_LINUX;
        else if (strcmp(dom, "LINUX32") == 0)
            l->personality = PER_LINUX32;
        else
            return moat_err(err, EINVAL, "/linux/personality/domain: unknown domain '%s'", dom);
        l->has_personality = true;
    }
    struct json_object *rdt;
    if ((r = moat_json_obj(lx, "/linux", "intelRdt", false, &rdt, err)) < 0)
        return -1;
    if (r > 0)
        return moat_err(err, ENOTSUP, "/linux/intelRdt: Intel RDT is not supported by moat-runtime");
    return 0;
}

/* ---- top level ----------------------------------------------------------- */

int oci_spec_parse(const char *buf, size_t len, const char *what, struct oci_spec **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (moat_json_parse(buf, len, OCI_MAX_CONFIG_BYTES, what, &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "%s: expected a JSON object at the top level", what);

    _cleanup_spec_ struct oci_spec *s = xcalloc(1, sizeof(*s));
    struct json_object *o;
    struct oci_linux *l;
    int r;
    if (moat_json_str(root, "", "ociVersion", true, &s->oci_version, err) < 0)
        goto fail;
    if (!moat_str_has_prefix(s->oci_version, "1.")) {
        moat_err(err, EINVAL, "/ociVersion: version '%s' is not supported (want 1.x)", s->oci_version);
        goto fail;
    }
    if ((r = moat_json_obj(root, "", "process", false, &o, err)) < 0)
        goto fail;
    if (r > 0 && oci_process_parse_json(o, "/process", &s->process, err) < 0)
        goto fail;
    if ((r = moat_json_obj(root, "", "root", false, &o, err)) < 0)
        goto fail;
    if (r > 0) {
        if (moat_json_str(o, "/root", "path", true, &s->root_path, err) < 0 ||
            moat_json_bool(o, "/root", "readonly", false, &s->root_readonly, err) < 0)
            goto fail;
        if (!*s->root_path || strlen(s->root_path) >= 4096) {
            moat_err(err, EINVAL, "/root/path: invalid path");
            goto fail;
        }
    }
    if (moat_json_str(root, "", "hostname", false, &s->hostname, err) < 0 ||
        moat_json_str(root, "", "domainname", false, &s->domainname, err) < 0)
        goto fail;
    if ((s->hostname && strlen(s->hostname) > 64) || (s->domainname && strlen(s->domainname) > 64)) {
        moat_err(err, ENAMETOOLONG, "/hostname: at most 64 characters");
        goto fail;
    }
    if (parse_mounts(root, s, err) < 0 || parse_hooks(root, s, err) < 0 ||
        parse_kv_object(root, "", "annotations", &s->annotations, &s->n_annotations, err) < 0 ||
        parse_linux(root, s, err) < 0)
        goto fail;

    /* Cross-field checks. */
    l = &s->linux_;
    if ((l->n_uid_mappings || l->n_gid_mappings) && !l->ns[OCI_NS_USER].present) {
        moat_err(err, EINVAL, "/linux/uidMappings: id mappings need a user namespace");
        goto fail;
    }
    if (l->ns[OCI_NS_USER].present && !l->ns[OCI_NS_USER].path &&
        (!l->n_uid_mappings || !l->n_gid_mappings)) {
        moat_err(err, EINVAL, "/linux/uidMappings: a new user namespace needs uidMappings and gidMappings");
        goto fail;
    }
    if (l->ns[OCI_NS_USER].present && l->ns[OCI_NS_USER].path && (l->n_uid_mappings || l->n_gid_mappings)) {
        moat_err(err, EINVAL, "/linux/uidMappings: id mappings cannot be given when joining a user namespace");
        goto fail;
    }
    if (s->hostname && *s->hostname && !l->ns[OCI_NS_UTS].present) {
        moat_err(err, EINVAL, "/hostname: setting a hostname needs a uts namespace");
        goto fail;
    }
    if (l->has_time_offsets && (!l->ns[OCI_NS_TIME].present || l->ns[OCI_NS_TIME].path)) {
        moat_err(err, EINVAL, "/linux/timeOffsets: time offsets need a new time namespace");
        goto fail;
    }
    *ret = TAKE_PTR(s);
    return 0;
fail:
    return moat_err_wrap(err, "%s", what);
}

int oci_spec_load(int dirfd, const char *path, struct oci_spec **ret, moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (moat_read_file_at(dirfd, path, OCI_MAX_CONFIG_BYTES, &buf, &len, err) < 0)
        return -1;
    return oci_spec_parse(buf, len, path, ret, err);
}

const char *oci_annotation(const struct oci_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (strcmp(spec->annotations[i].key, key) == 0)
            return spec->annotations[i].value;
    return NULL;
}

bool oci_annotation_true(const struct oci_spec *spec, const char *key)
{
    const char *v = oci_annotation(spec, key);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0);
}
