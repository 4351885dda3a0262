/* Docker's POST /containers/create and POST /containers/{id}/exec bodies,
 * and the "-v src:dst[:opts]" grammar (include/moat/spec.h).
 *
 * The body is untrusted: every list is bounded (MAX_LIST), every string
 * (MAX_STR), the document by MOAT_CREATE_MAX_BODY and its depth by
 * moat_json_parse.  Errors name the field as Docker spells it, with dots:
 * "HostConfig.Memory: expected an integer, got a string".  JSON null means
 * absent (the docker CLI sends null for everything it has no value for);
 * unknown fields are ignored. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "moat/json.h"
#include "moat/path.h"
#include "moat/spec.h"
#include "moat/util.h"

#define MAX_LIST 4096
#define MAX_STR (64u * 1024)

/* ---- typed field access with dotted paths -------------------------------------------- */

static char *fpath(const char *where, const char *key)
{
    return where && where[0] ? xasprintf("%s.%s", where, key) : xstrdup(key);
}

static const char *tname(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a number with a fraction";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "something else";
}

/* The value of `key` or NULL when absent or null. */
static struct json_object *field(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static int type_err(moat_error **err, const char *path, const char *want, struct json_object *v)
{
    return moat_err(err, EINVAL, "%s: expected %s, got %s", path, want, tname(v));
}

/* A string value: bounded, no NUL. */
static int val_str(struct json_object *v, const char *path, char **ret, moat_error **err)
{
    if (!json_object_is_type(v, json_type_string))
        return type_err(err, path, "a string", v);
    size_t n = (size_t)json_object_get_string_len(v);
    const char *s = json_object_get_string(v);
    if (n > MAX_STR)
        return moat_err(err, E2BIG, "%s: a string of %zu bytes is over the limit of %u", path, n, MAX_STR);
    if (strlen(s) != n)
        return moat_err(err, EINVAL, "%s: string contains a NUL byte", path);
    free(*ret);
    *ret = xstrdup(s);
    return 0;
}

static int get_str(struct json_object *o, const char *where, const char *key, char **ret, moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    _cleanup_free_ char *p = fpath(where, key);
    return val_str(v, p, ret, err) < 0 ? -1 : 1;
}

static int get_bool(struct json_object *o, const char *where, const char *key, bool *ret, moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean)) {
        _cleanup_free_ char *p = fpath(where, key);
        return type_err(err, p, "a boolean", v);
    }
    *ret = json_object_get_boolean(v);
    return 1;
}

static int val_i64(struct json_object *v, const char *path, int64_t min, int64_t max, int64_t *ret, moat_error **err)
{
    if (!json_object_is_type(v, json_type_int))
        return type_err(err, path, "an integer", v);
    int64_t x = json_object_get_int64(v);
    if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
        return moat_err(err, ERANGE, "%s: %" PRIu64 " is out of range", path, json_object_get_uint64(v));
    if (x < min || x > max)
        return moat_err(err, ERANGE, "%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", path, x, min, max);
    *ret = x;
    return 0;
}

static int get_i64(struct json_object *o, const char *where, const char *key, int64_t min, int64_t max,
                   int64_t *ret, moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    _cleanup_free_ char *p = fpath(where, key);
    return val_i64(v, p, min, max, ret, err) < 0 ? -1 : 1;
}

static int get_obj(struct json_object *o, const char *where, const char *key, struct json_object **ret,
                   moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object)) {
        _cleanup_free_ char *p = fpath(where, key);
        return type_err(err, p, "an object", v);
    }
    *ret = v;
    return 1;
}

/* An array (bounded) or NULL. */
static int get_arr(struct json_object *o, const char *where, const char *key, struct json_object **ret,
                   moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    _cleanup_free_ char *p = fpath(where, key);
    if (!json_object_is_type(v, json_type_array))
        return type_err(err, p, "an array", v);
    if (json_object_array_length(v) > MAX_LIST)
        return moat_err(err, E2BIG, "%s: %zu entries is over the limit of %d", p, json_object_array_length(v),
                        MAX_LIST);
    *ret = v;
    return 1;
}

/* An array of strings; with `or_string`, a single string is a one-element
 * list (Docker's strslice: "Cmd": "echo hi" is ["echo hi"]). */
static int get_strv(struct json_object *o, const char *where, const char *key, bool or_string, char ***ret,
                    moat_error **err)
{
    struct json_object *v = field(o, key);
    if (!v)
        return 0;
    _cleanup_free_ char *p = fpath(where, key);
    _cleanup_strv_ char **out = NULL;
    if (or_string && json_object_is_type(v, json_type_string)) {
        out = xcalloc(2, sizeof(char *));
        if (val_str(v, p, &out[0], err) < 0)
            return -1;
    } else {
        struct json_object *a = NULL;
        if (!json_object_is_type(v, json_type_array))
            return type_err(err, p, or_string ? "an array of strings or a string" : "an array of strings", v);
        if (get_arr(o, where, key, &a, err) < 0)
            return -1;
        size_t n = json_object_array_length(a);
        out = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *ip = xasprintf("%s[%zu]", p, i);
            if (val_str(json_object_array_get_idx(a, i), ip, &out[i], err) < 0)
                return -1;
        }
    }
    moat_strv_free(*ret);
    *ret = TAKE_PTR(out);
    return 1;
}

/* An object of strings -> k, v, k, v, ..., NULL; or, with keys_only, its keys. */
static int get_map(struct json_object *o, const char *where, const char *key, bool keys_only, char ***ret,
                   moat_error **err)
{
    struct json_object *m = NULL;
    int r = get_obj(o, where, key, &m, err);
    if (r <= 0)
        return r;
    _cleanup_free_ char *p = fpath(where, key);
    size_t n = (size_t)json_object_object_length(m);
    if (n > MAX_LIST)
        return moat_err(err, E2BIG, "%s: %zu entries is over the limit of %d", p, n, MAX_LIST);
    _cleanup_strv_ char **out = xcalloc(2 * n + 1, sizeof(char *));
    size_t i = 0;
    json_object_object_foreach(m, k, val)
    {
        if (strlen(k) > MAX_STR)
            return moat_err(err, E2BIG, "%s: a key is over the limit of %u bytes", p, MAX_STR);
        out[i++] = xstrdup(k);
        if (keys_only)
            continue;
        _cleanup_free_ char *kp = xasprintf("%s.%s", p, k);
        if (!val) /* null value: an empty string (Labels {"a": null} is not meaningful otherwise) */
            out[i++] = xstrdup("");
        else if (val_str(val, kp, &out[i++], err) < 0)
            return -1;
    }
    moat_strv_free(*ret);
    *ret = TAKE_PTR(out);
    return 1;
}

/* ---- binds, tmpfs ------------------------------------------------------------------ */

void moat_mount_req_clear(struct moat_mount_req *m)
{
    if (!m)
        return;
    free(m->type);
    free(m->source);
    free(m->target);
    free(m->propagation);
    free(m->options);
    moat_strv_free(m->labels);
    *m = (struct moat_mount_req){0};
}

static bool volume_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

static bool is_propagation(const char *o)
{
    static const char *const p[] = {"private", "rprivate", "shared", "rshared", "slave", "rslave"};
    for (size_t i = 0; i < ARRAY_SIZE(p); i++)
        if (!strcmp(o, p[i]))
            return true;
    return false;
}

static int bind_opts(const char *spec, char *opts, struct moat_mount_req *m, moat_error **err)
{
    bool seen_mode = false, seen_prop = false;
    for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "ro") || !strcmp(o, "rw")) {
            if (seen_mode)
                return moat_err(err, EINVAL, "invalid mode: %s: 'ro' and 'rw' given twice in '%s'", o, spec);
            seen_mode = true;
            m->read_only = !strcmp(o, "ro");
        } else if (!strcmp(o, "z") || !strcmp(o, "Z") || !strcmp(o, "nosuid") || !strcmp(o, "nodev")) {
            /* SELinux relabel requests are not honoured (no relabelling of host files);
             * nosuid and nodev are always applied. */
        } else if (!strcmp(o, "noexec") || !strcmp(o, "exec")) {
            m->noexec = !strcmp(o, "noexec");
        } else if (!strcmp(o, "nocopy")) {
            if (strcmp(m->type, "volume"))
                return moat_err(err, EINVAL, "invalid mode: nocopy is only valid for volumes: '%s'", spec);
            m->no_copy = true;
        } else if (is_propagation(o)) {
            if (strcmp(m->type, "bind"))
                return moat_err(err, EINVAL, "invalid mode: propagation '%s' is only valid for bind mounts: '%s'", o,
                                spec);
            if (seen_prop)
                return moat_err(err, EINVAL, "invalid mode: two propagation modes in '%s'", spec);
            seen_prop = true;
            free(m->propagation);
            m->propagation = xstrdup(o);
        } else {
            return moat_err(err, EINVAL, "invalid mode: %s (in volume specification '%s')", o, spec);
        }
    }
    return 0;
}

static int check_target(const char *spec, const char *dst, char **ret, moat_error **err)
{
    if (dst[0] != '/')
        return moat_err(err, EINVAL, "invalid volume specification: '%s': mount path must be absolute", spec);
    _cleanup_free_ char *clean = moat_path_clean(dst);
    if (!strcmp(clean, "/"))
        return moat_err(err, EINVAL, "invalid volume specification: '%s': destination can't be '/'", spec);
    *ret = TAKE_PTR(clean);
    return 0;
}

int moat_bind_parse(const char *spec, struct moat_mount_req *ret, moat_error **err)
{
    if (!spec || !spec[0])
        return moat_err(err, EINVAL, "invalid volume specification: ''");
    if (strlen(spec) > MAX_STR)
        return moat_err(err, E2BIG, "invalid volume specification: over %u bytes", MAX_STR);
    _cleanup_free_ char *buf = xstrdup(spec);
    char *parts[4] = {0};
    size_t n = 0;
    for (char *p = buf; p; n++) {
        if (n == 3)
            return moat_err(err, EINVAL, "invalid volume specification: '%s': too many colons", spec);
        parts[n] = p;
        char *c = strchr(p, ':');
        if (c)
            *c++ = '\0';
        p = c;
    }
    struct moat_mount_req m = {0};
    int rc = -1;
    if (n == 1) { /* "-v /path": an anonymous volume */
        m.type = xstrdup("volume");
        if (check_target(spec, parts[0], &m.target, err) < 0)
            goto out;
    } else {
        const char *src = parts[0], *dst = parts[1];
        if (!src[0])
            rc = moat_err(err, EINVAL, "invalid volume specification: '%s': empty source", spec);
        else if (!dst[0])
            rc = moat_err(err, EINVAL, "invalid volume specification: '%s': empty destination", spec);
        if (!src[0] || !dst[0])
            goto out;
        if (src[0] == '/') {
            m.type = xstrdup("bind");
            m.source = moat_path_clean(src);
            m.propagation = xstrdup("rprivate");
        } else if (volume_name_ok(src)) {
            m.type = xstrdup("volume");
            m.source = xstrdup(src);
        } else {
            rc = moat_err(err, EINVAL,
                          "\"%s\" includes invalid characters for a local volume name, only "
                          "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use "
                          "absolute path",
                          src);
            goto out;
        }
        if (check_target(spec, dst, &m.target, err) < 0)
            goto out;
        if (n == 3 && bind_opts(spec, parts[2], &m, err) < 0)
            goto out;
    }
    *ret = m;
    return 0;
out:
    moat_mount_req_clear(&m);
    return rc;
}

/* "64m" -> bytes (Docker's RAMInBytes: b, k, m, g, t, p suffixes, binary). */
static int parse_size(const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    if (!s[0] || s[0] == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    if (*end) {
        switch (*end | 0x20) {
        case 'b': shift = 0; break;
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        case 't': shift = 40; break;
        case 'p': shift = 50; break;
        default: return -1;
        }
        end++;
        if ((*end | 0x20) == 'b' && shift)
            end++;
        if (*end)
            return -1;
    }
    if (v > ((unsigned long long)INT64_MAX >> shift))
        return -1;
    *ret = (int64_t)(v << shift);
    return 0;
}

/* --tmpfs PATH:OPTS as the API carries it (Tmpfs {"/run": "rw,size=64m"}). */
static int tmpfs_parse(const char *path, const char *target, const char *opts, struct moat_mount_req *m,
                       moat_error **err)
{
    static const char *const flags[] = {"rw",      "ro",       "nosuid",      "suid",    "nodev",    "dev",
                                        "noatime", "relatime", "strictatime", "nodiratime", "diratime", "sync",
                                        "dirsync", "lazytime", "nolazytime",  "async"};
    if (target[0] != '/')
        return moat_err(err, EINVAL, "%s: invalid tmpfs mount point '%s': must be absolute", path, target);
    *m = (struct moat_mount_req){.type = xstrdup("tmpfs"), .target = moat_path_clean(target), .noexec = true};
    if (!strcmp(m->target, "/"))
        return moat_err(err, EINVAL, "%s: a tmpfs mount point can't be '/'", path);
    _cleanup_free_ char *buf = xstrdup(opts ? opts : "");
    for (char *save = NULL, *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
            known = known || !strcmp(o, flags[i]);
        if (!strcmp(o, "ro"))
            m->read_only = true;
        else if (!strcmp(o, "rw"))
            m->read_only = false;
        if (known)
            continue;
        if (!strcmp(o, "exec") || !strcmp(o, "noexec")) {
            m->noexec = !strcmp(o, "noexec");
        } else if (moat_str_has_prefix(o, "size=")) {
            if (parse_size(o + 5, &m->tmpfs_size) < 0)
                return moat_err(err, EINVAL, "%s: invalid tmpfs size '%s'", path, o + 5);
        } else if (moat_str_has_prefix(o, "mode=")) {
            char *end = NULL;
            unsigned long mode = strtoul(o + 5, &end, 8);
            if (!o[5] || *end || mode > 07777)
                return moat_err(err, EINVAL, "%s: invalid tmpfs mode '%s' (octal, at most 7777)", path, o + 5);
            m->tmpfs_mode = (uint32_t)mode;
        } else if (moat_str_has_prefix(o, "uid=") || moat_str_has_prefix(o, "gid=") ||
                   moat_str_has_prefix(o, "nr_inodes=") || moat_str_has_prefix(o, "nr_blocks=")) {
            uint64_t x;
            if (moat_parse_u64(strchr(o, '=') + 1, &x) < 0 || x > UINT32_MAX)
                return moat_err(err, EINVAL, "%s: invalid tmpfs option '%s'", path, o);
        } else {
            return moat_err(err, EINVAL, "%s: unknown tmpfs option '%s'", path, o);
        }
    }
    m->options = xstrdup(opts ? opts : "");
    return 0;
}

/* ---- the create body ---------------------------------------------------------------- */

void moat_create_req_free(struct moat_create_req *r)
{
    if (!r)
        return;
    char **strs[] = {&r->hostname, &r->domainname,  &r->user,       &r->working_dir, &r->image,
                     &r->stop_signal, &r->network_mode, &r->log_type, &r->ipc_mode,  &r->pid_mode,
                     &r->uts_mode, &r->userns_mode, &r->cgroupns_mode, &r->cpuset_cpus, &r->cpuset_mems,
                     &r->restart.name, &r->moat_policy};
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
        free(*strs[i]);
    char ***vs[] = {&r->env,         &r->cmd,         &r->entrypoint, &r->labels,       &r->exposed_ports,
                    &r->volumes,     &r->binds,       &r->cap_add,    &r->cap_drop,     &r->security_opt,
                    &r->dns,         &r->dns_search,  &r->dns_options, &r->extra_hosts, &r->volumes_from,
                    &r->group_add,   &r->tmpfs,       &r->sysctls,    &r->log_opts,     &r->devices,
                    &r->endpoint_names};
    for (size_t i = 0; i < ARRAY_SIZE(vs); i++)
        moat_strv_free(*vs[i]);
    for (size_t i = 0; i < r->n_mounts; i++)
        moat_mount_req_clear(&r->mounts[i]);
    free(r->mounts);
    for (size_t i = 0; i < r->n_ports; i++) {
        free(r->ports[i].container_port);
        free(r->ports[i].host_ip);
        free(r->ports[i].host_port);
    }
    free(r->ports);
    for (size_t i = 0; i < r->n_ulimits; i++)
        free(r->ulimits[i].name);
    free(r->ulimits);
    if (r->endpoint_aliases) {
        for (size_t i = 0; r->endpoint_aliases[i]; i++)
            moat_strv_free(r->endpoint_aliases[i]);
        free(r->endpoint_aliases);
    }
    if (r->config_json)
        json_object_put(r->config_json);
    if (r->host_config_json)
        json_object_put(r->host_config_json);
    free(r);
}

static void push_mount(struct moat_create_req *r, struct moat_mount_req *m)
{
    r->mounts = xrealloc(r->mounts, (r->n_mounts + 1) * sizeof *r->mounts);
    r->mounts[r->n_mounts++] = *m;
    *m = (struct moat_mount_req){0};
}

static int parse_config(struct json_object *o, struct moat_create_req *r, moat_error **err)
{
    const char *w = "";
    char **strs[] = {&r->hostname, &r->domainname, &r->user, &r->working_dir, &r->image, &r->stop_signal};
    static const char *const skeys[] = {"Hostname", "Domainname", "User", "WorkingDir", "Image", "StopSignal"};
    for (size_t i = 0; i < ARRAY_SIZE(skeys); i++)
        if (get_str(o, w, skeys[i], strs[i], err) < 0)
            return -1;
    bool *bools[] = {&r->tty,           &r->open_stdin,    &r->stdin_once,    &r->attach_stdin,
                     &r->attach_stdout, &r->attach_stderr, &r->network_disabled};
    static const char *const bkeys[] = {"Tty",         "OpenStdin",    "StdinOnce",      "AttachStdin",
                                        "AttachStdout", "AttachStderr", "NetworkDisabled"};
    for (size_t i = 0; i < ARRAY_SIZE(bkeys); i++)
        if (get_bool(o, w, bkeys[i], bools[i], err) < 0)
            return -1;
    int c, e;
    if (get_strv(o, w, "Env", false, &r->env, err) < 0 || (c = get_strv(o, w, "Cmd", true, &r->cmd, err)) < 0 ||
        (e = get_strv(o, w, "Entrypoint", true, &r->entrypoint, err)) < 0 ||
        get_map(o, w, "Labels", false, &r->labels, err) < 0 ||
        get_map(o, w, "ExposedPorts", true, &r->exposed_ports, err) < 0 ||
        get_map(o, w, "Volumes", true, &r->volumes, err) < 0 ||
        get_i64(o, w, "StopTimeout", -1, INT32_MAX, &r->stop_timeout, err) < 0)
        return -1;
    r->cmd_set = c > 0;
    r->entrypoint_set = e > 0;
    for (size_t i = 0; r->volumes && r->volumes[i]; i++)
        if (r->volumes[i][0] != '/')
            return moat_err(err, EINVAL, "Volumes.%s: a volume path must be absolute", r->volumes[i]);
    if (!r->image || !r->image[0])
        return moat_err(err, EINVAL, "Image: required but missing");
    return 0;
}

static int parse_mounts(struct json_object *hc, struct moat_create_req *r, moat_error **err)
{
    struct json_object *a = NULL;
    int got = get_arr(hc, "HostConfig", "Mounts", &a, err);
    if (got <= 0)
        return got;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *mo = json_object_array_get_idx(a, i), *bo = NULL, *vo = NULL, *to = NULL;
        _cleanup_free_ char *p = xasprintf("HostConfig.Mounts[%zu]", i);
        if (!mo || !json_object_is_type(mo, json_type_object))
            return type_err(err, p, "an object", mo);
        struct moat_mount_req m = {0};
        int64_t mode = 0;
        _cleanup_free_ char *bp = xasprintf("%s.BindOptions", p), *vp = xasprintf("%s.VolumeOptions", p),
                            *tp = xasprintf("%s.TmpfsOptions", p);
        int rc = (get_str(mo, p, "Type", &m.type, err) < 0 || get_str(mo, p, "Source", &m.source, err) < 0 ||
                  get_str(mo, p, "Target", &m.target, err) < 0 || get_bool(mo, p, "ReadOnly", &m.read_only, err) < 0 ||
                  get_obj(mo, p, "BindOptions", &bo, err) < 0 || get_obj(mo, p, "VolumeOptions", &vo, err) < 0 ||
                  get_obj(mo, p, "TmpfsOptions", &to, err) < 0 ||
                  get_str(bo, bp, "Propagation", &m.propagation, err) < 0 ||
                  get_bool(vo, vp, "NoCopy", &m.no_copy, err) < 0 || get_map(vo, vp, "Labels", false, &m.labels, err) < 0 ||
                  get_i64(to, tp, "SizeBytes", 0, INT64_MAX, &m.tmpfs_size, err) < 0 ||
                  get_i64(to, tp, "Mode", 0, 07777, &mode, err) < 0)
                     ? -1
                     : 0;
        m.tmpfs_mode = (uint32_t)mode;
        if (rc == 0 && (!m.type || (strcmp(m.type, "bind") && strcmp(m.type, "volume") && strcmp(m.type, "tmpfs"))))
            rc = moat_err(err, EINVAL, "%s.Type: mount type '%s' is not supported (bind, volume, tmpfs)", p,
                          m.type ? m.type : "");
        if (rc == 0 && (!m.target || m.target[0] != '/'))
            rc = moat_err(err, EINVAL, "%s.Target: an absolute path is required", p);
        if (rc == 0 && !strcmp(m.type, "bind") && (!m.source || m.source[0] != '/'))
            rc = moat_err(err, EINVAL, "%s.Source: a bind mount needs an absolute host path", p);
        if (rc == 0 && !strcmp(m.type, "volume") && m.source && m.source[0] && !volume_name_ok(m.source))
            rc = moat_err(err, EINVAL, "%s.Source: invalid volume name '%s'", p, m.source);
        if (rc == 0 && m.propagation && !is_propagation(m.propagation))
            rc = moat_err(err, EINVAL, "%s.BindOptions.Propagation: invalid propagation '%s'", p, m.propagation);
        if (rc == 0 && !strcmp(m.type, "tmpfs") && m.source && m.source[0])
            rc = moat_err(err, EINVAL, "%s.Source: must not be set for a tmpfs mount", p);
        if (rc < 0) {
            moat_mount_req_clear(&m);
            return -1;
        }
        char *t = moat_path_clean(m.target);
        free(m.target);
        m.target = t;
        if (!strcmp(m.type, "bind") && !m.propagation)
            m.propagation = xstrdup("rprivate");
        if (!strcmp(m.type, "tmpfs")) {
            m.noexec = true;
            _cleanup_free_ char *sz = m.tmpfs_size ? xasprintf("size=%" PRId64, m.tmpfs_size) : NULL;
            _cleanup_free_ char *md = m.tmpfs_mode ? xasprintf("mode=%o", m.tmpfs_mode) : NULL;
            m.options = xasprintf("%s%s%s", sz ? sz : "", sz && md ? "," : "", md ? md : "");
        }
        push_mount(r, &m);
    }
    return 0;
}

static int parse_ports(struct json_object *hc, struct moat_create_req *r, moat_error **err)
{
    struct json_object *pb = NULL;
    int got = get_obj(hc, "HostConfig", "PortBindings", &pb, err);
    if (got <= 0)
        return got;
    if (json_object_object_length(pb) > MAX_LIST)
        return moat_err(err, E2BIG, "HostConfig.PortBindings: over %d entries", MAX_LIST);
    json_object_object_foreach(pb, port, list)
    {
        _cleanup_free_ char *p = xasprintf("HostConfig.PortBindings.%s", port);
        if (!list)
            continue;
        if (!json_object_is_type(list, json_type_array))
            return type_err(err, p, "an array", list);
        size_t n = json_object_array_length(list);
        if (n > MAX_LIST || r->n_ports + n > MAX_LIST)
            return moat_err(err, E2BIG, "%s: too many port bindings", p);
        for (size_t i = 0; i < n; i++) {
            struct json_object *b = json_object_array_get_idx(list, i);
            _cleanup_free_ char *ip = xasprintf("%s[%zu]", p, i);
            if (!b || !json_object_is_type(b, json_type_object))
                return type_err(err, ip, "an object", b);
            struct moat_port_binding pbd = {.container_port = xstrdup(port)};
            if (get_str(b, ip, "HostIp", &pbd.host_ip, err) < 0 || get_str(b, ip, "HostPort", &pbd.host_port, err) < 0) {
                free(pbd.container_port);
                free(pbd.host_ip);
                free(pbd.host_port);
                return -1;
            }
            r->ports = xrealloc(r->ports, (r->n_ports + 1) * sizeof *r->ports);
            r->ports[r->n_ports++] = pbd;
        }
    }
    return 0;
}

static int parse_ulimits_devices(struct json_object *hc, struct moat_create_req *r, moat_error **err)
{
    struct json_object *a = NULL;
    if (get_arr(hc, "HostConfig", "Ulimits", &a, err) < 0)
        return -1;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        struct json_object *u = json_object_array_get_idx(a, i);
        _cleanup_free_ char *p = xasprintf("HostConfig.Ulimits[%zu]", i);
        if (!u || !json_object_is_type(u, json_type_object))
            return type_err(err, p, "an object", u);
        r->ulimits = xrealloc(r->ulimits, (r->n_ulimits + 1) * sizeof *r->ulimits);
        struct moat_ulimit *ul = &r->ulimits[r->n_ulimits++];
        *ul = (struct moat_ulimit){.soft = -1, .hard = -1};
        if (get_str(u, p, "Name", &ul->name, err) < 0 || get_i64(u, p, "Soft", -1, INT64_MAX, &ul->soft, err) < 0 ||
            get_i64(u, p, "Hard", -1, INT64_MAX, &ul->hard, err) < 0)
            return -1;
        if (!ul->name || !ul->name[0])
            return moat_err(err, EINVAL, "%s.Name: required but missing", p);
    }
    a = NULL;
    if (get_arr(hc, "HostConfig", "Devices", &a, err) < 0)
        return -1;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        struct json_object *d = json_object_array_get_idx(a, i);
        _cleanup_free_ char *p = xasprintf("HostConfig.Devices[%zu]", i);
        if (!d || !json_object_is_type(d, json_type_object))
            return type_err(err, p, "an object", d);
        _cleanup_free_ char *host = NULL, *ctr = NULL, *perm = NULL;
        if (get_str(d, p, "PathOnHost", &host, err) < 0 || get_str(d, p, "PathInContainer", &ctr, err) < 0 ||
            get_str(d, p, "CgroupPermissions", &perm, err) < 0)
            return -1;
        _cleanup_free_ char *s = xasprintf("%s:%s:%s", host ? host : "", ctr ? ctr : "", perm ? perm : "");
        moat_strv_push(&r->devices, s);
    }
    a = NULL;
    if (get_arr(hc, "HostConfig", "ConsoleSize", &a, err) < 0)
        return -1;
    if (a && json_object_array_length(a) != 2)
        return moat_err(err, EINVAL, "HostConfig.ConsoleSize: expected [height, width]");
    if (a && (val_i64(json_object_array_get_idx(a, 0), "HostConfig.ConsoleSize[0]", 0, 65535, &r->console_h, err) < 0 ||
              val_i64(json_object_array_get_idx(a, 1), "HostConfig.ConsoleSize[1]", 0, 65535, &r->console_w, err) < 0))
        return -1;
    return 0;
}

static int parse_binds_tmpfs(struct moat_create_req *r, moat_error **err)
{
    for (size_t i = 0; r->binds && r->binds[i]; i++) {
        struct moat_mount_req m = {0};
        if (moat_bind_parse(r->binds[i], &m, err) < 0)
            return moat_err_wrap(err, "HostConfig.Binds[%zu]", i);
        push_mount(r, &m);
    }
    for (size_t i = 0; r->tmpfs && r->tmpfs[i]; i += 2) {
        struct moat_mount_req m = {0};
        _cleanup_free_ char *p = xasprintf("HostConfig.Tmpfs.%s", r->tmpfs[i]);
        if (tmpfs_parse(p, r->tmpfs[i], r->tmpfs[i + 1], &m, err) < 0) {
            moat_mount_req_clear(&m);
            return -1;
        }
        push_mount(r, &m);
    }
    return 0;
}

static int parse_host_config(struct json_object *hc, struct moat_create_req *r, moat_error **err)
{
    const char *w = "HostConfig";
    char ***vs[] = {&r->binds,       &r->cap_add,     &r->cap_drop,     &r->security_opt, &r->dns,
                    &r->dns_search,  &r->dns_options, &r->extra_hosts,  &r->volumes_from, &r->group_add};
    static const char *const vkeys[] = {"Binds",     "CapAdd",     "CapDrop",    "SecurityOpt", "Dns",
                                        "DnsSearch", "DnsOptions", "ExtraHosts", "VolumesFrom", "GroupAdd"};
    for (size_t i = 0; i < ARRAY_SIZE(vkeys); i++)
        if (get_strv(hc, w, vkeys[i], false, vs[i], err) < 0)
            return -1;
    char **strs[] = {&r->network_mode, &r->ipc_mode,    &r->pid_mode,    &r->uts_mode,
                     &r->userns_mode,  &r->cgroupns_mode, &r->cpuset_cpus, &r->cpuset_mems, &r->moat_policy};
    static const char *const skeys[] = {"NetworkMode", "IpcMode",      "PidMode",    "UTSMode",
                                        "UsernsMode",  "CgroupnsMode", "CpusetCpus", "CpusetMems", "MoatPolicy"};
    for (size_t i = 0; i < ARRAY_SIZE(skeys); i++)
        if (get_str(hc, w, skeys[i], strs[i], err) < 0)
            return -1;
    bool *bools[] = {&r->publish_all, &r->auto_remove, &r->privileged, &r->readonly_rootfs, &r->init,
                     &r->oom_kill_disable};
    static const char *const bkeys[] = {"PublishAllPorts", "AutoRemove", "Privileged", "ReadonlyRootfs", "Init",
                                        "OomKillDisable"};
    for (size_t i = 0; i < ARRAY_SIZE(bkeys); i++)
        if (get_bool(hc, w, bkeys[i], bools[i], err) < 0)
            return -1;
    static const struct {
        const char *key;
        size_t off;
        int64_t min, max;
    } ints[] = {
        {"Memory", offsetof(struct moat_create_req, memory), 0, INT64_MAX},
        {"MemorySwap", offsetof(struct moat_create_req, memory_swap), -1, INT64_MAX},
        {"MemoryReservation", offsetof(struct moat_create_req, memory_reservation), 0, INT64_MAX},
        {"NanoCpus", offsetof(struct moat_create_req, nano_cpus), 0, INT64_MAX},
        {"CpuShares", offsetof(struct moat_create_req, cpu_shares), 0, 262144},
        {"CpuPeriod", offsetof(struct moat_create_req, cpu_period), 0, 1000000},
        {"CpuQuota", offsetof(struct moat_create_req, cpu_quota), -1, INT64_MAX},
        {"PidsLimit", offsetof(struct moat_create_req, pids_limit), -1, INT64_MAX},
        {"BlkioWeight", offsetof(struct moat_create_req, blkio_weight), 0, 1000},
        {"ShmSize", offsetof(struct moat_create_req, shm_size), 0, INT64_MAX},
        {"OomScoreAdj", offsetof(struct moat_create_req, oom_score_adj), -1000, 1000},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ints); i++)
        if (get_i64(hc, w, ints[i].key, ints[i].min, ints[i].max, (int64_t *)((char *)r + ints[i].off), err) < 0)
            return -1;
    struct json_object *rp = NULL, *lc = NULL;
    if (get_obj(hc, w, "RestartPolicy", &rp, err) < 0 || get_str(rp, "HostConfig.RestartPolicy", "Name", &r->restart.name, err) < 0 ||
        get_i64(rp, "HostConfig.RestartPolicy", "MaximumRetryCount", 0, INT32_MAX, &r->restart.max_retries, err) < 0 ||
        get_obj(hc, w, "LogConfig", &lc, err) < 0 || get_str(lc, "HostConfig.LogConfig", "Type", &r->log_type, err) < 0 ||
        get_map(lc, "HostConfig.LogConfig", "Config", false, &r->log_opts, err) < 0 ||
        get_map(hc, w, "Tmpfs", false, &r->tmpfs, err) < 0 || get_map(hc, w, "Sysctls", false, &r->sysctls, err) < 0)
        return -1;
    static const char *const policies[] = {"", "no", "always", "on-failure", "unless-stopped"};
    bool ok = !r->restart.name;
    for (size_t i = 0; !ok && i < ARRAY_SIZE(policies); i++)
        ok = !strcmp(r->restart.name, policies[i]);
    if (!ok)
        return moat_err(err, EINVAL, "HostConfig.RestartPolicy.Name: invalid restart policy '%s'", r->restart.name);
    if (r->restart.max_retries && (!r->restart.name || strcmp(r->restart.name, "on-failure")))
        return moat_err(err, EINVAL, "HostConfig.RestartPolicy: maximum retry count can only be used with 'on-failure'");
    if (parse_ports(hc, r, err) < 0 || parse_ulimits_devices(hc, r, err) < 0 || parse_binds_tmpfs(r, err) < 0 ||
        parse_mounts(hc, r, err) < 0)
        return -1;
    return 0;
}

static int parse_networking(struct json_object *root, struct moat_create_req *r, moat_error **err)
{
    struct json_object *nc = NULL, *ec = NULL;
    if (get_obj(root, "", "NetworkingConfig", &nc, err) < 0 ||
        get_obj(nc, "NetworkingConfig", "EndpointsConfig", &ec, err) < 0)
        return -1;
    if (!ec)
        return 0;
    size_t n = (size_t)json_object_object_length(ec);
    if (n > MAX_LIST)
        return moat_err(err, E2BIG, "NetworkingConfig.EndpointsConfig: over %d entries", MAX_LIST);
    r->endpoint_names = xcalloc(n + 1, sizeof(char *));
    r->endpoint_aliases = xcalloc(n + 1, sizeof(char **));
    size_t i = 0;
    json_object_object_foreach(ec, name, ep)
    {
        _cleanup_free_ char *p = xasprintf("NetworkingConfig.EndpointsConfig.%s", name);
        if (ep && !json_object_is_type(ep, json_type_object))
            return type_err(err, p, "an object", ep);
        r->endpoint_names[i] = xstrdup(name);
        r->endpoint_aliases[i] = xcalloc(1, sizeof(char *));
        if (get_strv(ep, p, "Aliases", false, &r->endpoint_aliases[i], err) < 0) {
            i++;
            return -1;
        }
        i++;
    }
    return 0;
}

int moat_create_req_parse(const char *buf, size_t len, struct moat_create_req **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (len == 0)
        return moat_err(err, EINVAL, "config cannot be empty in order to create a container");
    if (moat_json_parse(buf, len, MOAT_CREATE_MAX_BODY, "container create body", &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "container create body: expected a JSON object, got %s", tname(root));
    struct moat_create_req *r = xcalloc(1, sizeof *r);
    r->stop_timeout = -1;
    struct json_object *hc = NULL;
    if (parse_config(root, r, err) < 0 || get_obj(root, "", "HostConfig", &hc, err) < 0 ||
        (hc && parse_host_config(hc, r, err) < 0) || parse_networking(root, r, err) < 0) {
        moat_create_req_free(r);
        return -1;
    }
    r->host_config_json = hc ? json_object_get(hc) : json_object_new_object();
    json_object_object_del(root, "HostConfig");
    json_object_object_del(root, "NetworkingConfig");
    r->config_json = TAKE_PTR(root);
    *ret = r;
    return 0;
}

/* ---- the exec body -------------------------------------------------------------------- */

void moat_exec_req_free(struct moat_exec_req *r)
{
    if (!r)
        return;
    moat_strv_free(r->cmd);
    moat_strv_free(r->env);
    free(r->user);
    free(r->working_dir);
    free(r->detach_keys);
    free(r);
}

int moat_exec_req_parse(const char *buf, size_t len, struct moat_exec_req **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (moat_json_parse(buf, len, MOAT_CREATE_MAX_BODY, "exec create body", &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "exec create body: expected a JSON object, got %s", tname(root));
    struct moat_exec_req *r = xcalloc(1, sizeof *r);
    const char *w = "";
    bool detach = false;
    int rc = (get_strv(root, w, "Cmd", true, &r->cmd, err) < 0 || get_strv(root, w, "Env", false, &r->env, err) < 0 ||
              get_str(root, w, "User", &r->user, err) < 0 || get_str(root, w, "WorkingDir", &r->working_dir, err) < 0 ||
              get_str(root, w, "DetachKeys", &r->detach_keys, err) < 0 || get_bool(root, w, "Tty", &r->tty, err) < 0 ||
              get_bool(root, w, "AttachStdin", &r->attach_stdin, err) < 0 ||
              get_bool(root, w, "AttachStdout", &r->attach_stdout, err) < 0 ||
              get_bool(root, w, "AttachStderr", &r->attach_stderr, err) < 0 ||
              get_bool(root, w, "Privileged", &r->privileged, err) < 0 || get_bool(root, w, "Detach", &detach, err) < 0)
                 ? -1
                 : 0;
    if (rc == 0 && (!r->cmd || !r->cmd[0]))
        rc = moat_err(err, EINVAL, "No exec command specified");
    if (rc < 0) {
        moat_exec_req_free(r);
        return -1;
    }
    *ret = r;
    return 0;
}
