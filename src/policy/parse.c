/* Policy documents: parse and check one file (include/moat/policy.h).
 *
 * The document is untrusted: its size is bounded, json-c parses it (strict),
 * every key must be one this version knows, every value has its type and
 * bounds checked, lists are bounded, and contradictions inside one document
 * (a default capability that is not allowed, a default seccomp profile that
 * is not among the allowed ones, a pids default above the maximum) are
 * refused.  Errors read "file:line: /json/path: reason". */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/oci.h"
#include "moat/path.h"
#include "moat/util.h"
#include "policy/policy_internal.h"

const struct pol_field moat_pol_fields[POL_N] = {
    [POL_IMAGES_ALLOW] = {"/images/allow", K_PATTERNS, "image"},
    [POL_IMAGES_SIGNED] = {"/images/requireSigned", K_SIGNED, "image signatures"},
    [POL_IMAGES_KEYS] = {"/images/keys", K_LIST, "signing key"},
    [POL_PRIVILEGED] = {"/privileged", K_ALLOW, "privileged containers"},
    [POL_CAPS_ALLOWED] = {"/capabilities/allowed", K_CAPS, "capability"},
    [POL_CAPS_DEFAULT] = {"/capabilities/default", K_CAPS_DEF, "default capabilities"},
    [POL_SECCOMP_PROFILES] = {"/seccomp/profiles", K_LIST, "seccomp profile"},
    [POL_SECCOMP_DEFAULT] = {"/seccomp/default", K_STR_DEF, "default seccomp profile"},
    [POL_SECCOMP_UNCONFINED] = {"/seccomp/unconfined", K_ALLOW, "seccomp=unconfined"},
    [POL_APPARMOR_REQUIRED] = {"/apparmor/required", K_REQUIRE, "an AppArmor profile"},
    [POL_APPARMOR_UNCONFINED] = {"/apparmor/unconfined", K_ALLOW, "apparmor=unconfined"},
    [POL_SELINUX_REQUIRED] = {"/selinux/required", K_REQUIRE, "an SELinux label"},
    [POL_SELINUX_DISABLE] = {"/selinux/disable", K_ALLOW, "label=disable"},
    [POL_USERNS_REQUIRED] = {"/userNamespace/required", K_REQUIRE, "a user namespace"},
    [POL_HOST_NAMESPACES] = {"/hostNamespaces", K_ALLOW, "the host's pid, ipc and uts namespaces"},
    [POL_RUN_AS_NON_ROOT] = {"/runAsNonRoot", K_REQUIRE, "a non-root user"},
    [POL_READONLY_ROOTFS] = {"/readOnlyRootfs", K_REQUIRE, "a read-only root filesystem"},
    [POL_NO_NEW_PRIVS] = {"/noNewPrivileges", K_REQUIRE, "no_new_privs"},
    [POL_HOST_BINDS] = {"/mounts/hostBinds", K_BINDS, "host bind mount"},
    [POL_FORBIDDEN] = {"/mounts/forbidden", K_UNION, "forbidden path"},
    [POL_VOLUMES] = {"/mounts/volumes", K_ALLOW, "volumes"},
    [POL_TMPFS] = {"/mounts/tmpfs", K_ALLOW, "tmpfs mounts"},
    [POL_NOEXEC] = {"/mounts/noexec", K_REQUIRE, "noexec on every mount"},
    [POL_SOCKETS] = {"/mounts/sockets", K_ALLOW, "bind mounts of sockets"},
    [POL_NET_MODES] = {"/network/modes", K_LIST, "network mode"},
    [POL_PORTS] = {"/network/publishPorts", K_PORTS, "published port"},
    [POL_ICC_EXCEPTIONS] = {"/network/iccExceptions", K_PATTERNS, "ICC exception"},
    [POL_MEMORY_MAX] = {"/resources/memory/max", K_BYTES, "memory limit"},
    [POL_MEMORY_REQUIRED] = {"/resources/memory/required", K_REQUIRE, "a memory limit"},
    [POL_PIDS_MAX] = {"/resources/pids/max", K_MAX, "pids limit"},
    [POL_PIDS_DEFAULT] = {"/resources/pids/default", K_DEFAULT, "default pids limit"},
    [POL_PIDS_REQUIRED] = {"/resources/pids/required", K_REQUIRE, "a pids limit"},
    [POL_CPUS_MAX] = {"/resources/cpus/max", K_CPUS, "CPU limit"},
    [POL_CPUS_REQUIRED] = {"/resources/cpus/required", K_REQUIRE, "a CPU limit"},
    [POL_DEVICES] = {"/devices", K_PATTERNS, "device"},
    [POL_SYSCTLS] = {"/sysctls", K_PATTERNS, "sysctl"},
    [POL_EXEC] = {"/exec", K_ALLOW, "exec"},
    [POL_CP] = {"/cp", K_ALLOW, "cp"},
    [POL_COMMIT] = {"/commit", K_ALLOW, "commit"},
    [POL_BUILD_RUN] = {"/build/run", K_ALLOW, "build RUN steps"},
};

static const char *const top_meta[] = {"moatPolicy", "name", "description", "base", "scope", NULL};

void moat_policy_free(struct moat_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < POL_N; i++) {
        moat_strv_free(p->l[i]);
        free(p->src[i].file);
        free(p->src[i].path);
    }
    free(p->name);
    free(p->file);
    free(p->base);
    free(p->description);
    moat_strv_free(p->scope_uids);
    moat_strv_free(p->scope_tenants);
    moat_strv_free(p->scope_subjects);
    moat_strv_free(p->layers);
    free(p);
}

struct moat_policy *moat_policy_dup(const struct moat_policy *p)
{
    struct moat_policy *d = xcalloc(1, sizeof *d);
    d->set = p->set;
    memcpy(d->b, p->b, sizeof d->b);
    memcpy(d->n, p->n, sizeof d->n);
    for (size_t i = 0; i < POL_N; i++) {
        d->l[i] = p->l[i] ? moat_strv_dup(p->l[i]) : NULL;
        d->src[i].file = xstrdup_or_null(p->src[i].file);
        d->src[i].path = xstrdup_or_null(p->src[i].path);
        d->src[i].line = p->src[i].line;
    }
    d->name = xstrdup_or_null(p->name);
    d->file = xstrdup_or_null(p->file);
    d->base = xstrdup_or_null(p->base);
    d->description = xstrdup_or_null(p->description);
    d->scope_uids = p->scope_uids ? moat_strv_dup(p->scope_uids) : NULL;
    d->scope_tenants = p->scope_tenants ? moat_strv_dup(p->scope_tenants) : NULL;
    d->scope_subjects = p->scope_subjects ? moat_strv_dup(p->scope_subjects) : NULL;
    d->layers = p->layers ? moat_strv_dup(p->layers) : NULL;
    return d;
}

/* ---- where a JSON path is in the text ---------------------------------------------------- */

/* The line of the key at `path` ("/a/b"): each key searched after the
 * previous one.  A hint for humans (json-c keeps no positions); 0 if not found. */
static unsigned locate_line(const char *buf, size_t len, const char *path)
{
    size_t pos = 0;
    _cleanup_free_ char *p = xstrdup(path);
    for (char *save = NULL, *k = strtok_r(p, "/", &save); k; k = strtok_r(NULL, "/", &save)) {
        if (k[0] >= '0' && k[0] <= '9')
            continue; /* array index: stay at the key */
        _cleanup_free_ char *needle = xasprintf("\"%s\"", k);
        size_t nl = strlen(needle);
        bool found = false;
        for (size_t i = pos; i + nl <= len; i++) {
            if (memcmp(buf + i, needle, nl))
                continue;
            size_t j = i + nl;
            while (j < len && (buf[j] == ' ' || buf[j] == '\t' || buf[j] == '\n' || buf[j] == '\r'))
                j++;
            if (j < len && buf[j] == ':') {
                pos = i;
                found = true;
                break;
            }
        }
        if (!found)
            return 0;
    }
    unsigned line = 1;
    for (size_t i = 0; i < pos && i < len; i++)
        line += buf[i] == '\n';
    return line;
}

struct pctx {
    const char *buf;
    size_t len;
    const char *file;
    struct moat_policy *p;
};

#define PFAIL(err, x, path, ...) pfail(err, x, path, __VA_ARGS__)
static int pfail(moat_error **err, const struct pctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pfail(moat_error **err, const struct pctx *x, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        abort();
    va_end(ap);
    unsigned line = locate_line(x->buf, x->len, path);
    if (line)
        return moat_err(err, EINVAL, "%s:%u: %s: %s", x->file, line, path, m);
    return moat_err(err, EINVAL, "%s: %s: %s", x->file, path, m);
}

/* ---- values ---------------------------------------------------------------------------- */

static bool safe_string(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

static int get_strings(moat_error **err, const struct pctx *x, const char *path, struct json_object *v, char ***ret)
{
    if (!json_object_is_type(v, json_type_array))
        return PFAIL(err, x, path, "expected a list of strings");
    size_t n = json_object_array_length(v);
    if (n > MOAT_POLICY_MAX_LIST)
        return PFAIL(err, x, path, "%zu entries is over the limit of %u", n, MOAT_POLICY_MAX_LIST);
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct json_object *s = json_object_array_get_idx(v, i);
        if (!s || !json_object_is_type(s, json_type_string) || !safe_string(json_object_get_string(s), 4096)) {
            moat_strv_free(out);
            _cleanup_free_ char *ip = moat_jpath_idx(path, i);
            return PFAIL(err, x, ip, "expected a non-empty string without control characters");
        }
        out[i] = xstrdup(json_object_get_string(s));
    }
    *ret = out;
    return 0;
}

static int get_caps(moat_error **err, const struct pctx *x, const char *path, struct json_object *v, int64_t *ret)
{
    _cleanup_strv_ char **names = NULL;
    if (get_strings(err, x, path, v, &names) < 0)
        return -1;
    uint64_t m = 0;
    for (size_t i = 0; names[i]; i++) {
        if (!strcasecmp(names[i], "ALL")) {
            int last = oci_cap_last();
            m |= last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
            continue;
        }
        int c = oci_cap_from_name(names[i]);
        if (c < 0 || c > 63)
            return PFAIL(err, x, path, "unknown capability \"%s\"", names[i]);
        m |= UINT64_C(1) << c;
    }
    *ret = (int64_t)m;
    return 0;
}

bool pol_port_range(const char *s, unsigned *lo, unsigned *hi)
{
    char *end = NULL;
    errno = 0;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (errno || end == s || a < 1 || a > 65535 || s[0] == '-' || s[0] == '+')
        return false;
    if (*end == '-') {
        const char *t = end + 1;
        if (*t == '-' || *t == '+')
            return false;
        b = strtoul(t, &end, 10);
        if (errno || end == t || b < a || b > 65535)
            return false;
    }
    if (*end)
        return false;
    *lo = (unsigned)a;
    *hi = (unsigned)b;
    return true;
}

bool pol_path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (n == 1 && prefix[0] == '/')
        return path[0] == '/';
    return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static bool clean_abs(const char *s)
{
    if (s[0] != '/' || strlen(s) > 4096)
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    _cleanup_free_ char *c = moat_path_clean(s);
    return c && !strcmp(c, s) && !strstr(s, "/..");
}

static int get_binds(moat_error **err, const struct pctx *x, const char *path, struct json_object *v, char ***ret)
{
    if (!json_object_is_type(v, json_type_array))
        return PFAIL(err, x, path, "expected a list of {\"prefix\": \"/path\", \"readOnly\": true|false}");
    size_t n = json_object_array_length(v);
    if (n > MOAT_POLICY_MAX_LIST)
        return PFAIL(err, x, path, "%zu entries is over the limit of %u", n, MOAT_POLICY_MAX_LIST);
    _cleanup_strv_ char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(v, i), *pv = NULL, *rv = NULL;
        _cleanup_free_ char *ip = moat_jpath_idx(path, i);
        if (!o || !json_object_is_type(o, json_type_object))
            return PFAIL(err, x, ip, "expected {\"prefix\": \"/path\", \"readOnly\": true|false}");
        json_object_object_foreach(o, k, val)
        {
            (void)val;
            if (strcmp(k, "prefix") && strcmp(k, "readOnly")) {
                _cleanup_free_ char *kp = moat_jpath(ip, k);
                return PFAIL(err, x, kp, "unknown key (expected prefix, readOnly)");
            }
        }
        if (!json_object_object_get_ex(o, "prefix", &pv) || !json_object_is_type(pv, json_type_string) ||
            !clean_abs(json_object_get_string(pv))) {
            _cleanup_free_ char *kp = moat_jpath(ip, "prefix");
            return PFAIL(err, x, kp, "expected a clean absolute path");
        }
        bool ro = false;
        if (json_object_object_get_ex(o, "readOnly", &rv)) {
            if (!json_object_is_type(rv, json_type_boolean)) {
                _cleanup_free_ char *kp = moat_jpath(ip, "readOnly");
                return PFAIL(err, x, kp, "expected true or false");
            }
            ro = json_object_get_boolean(rv);
        }
        out[i] = xasprintf("%s:%s", ro ? "ro" : "rw", json_object_get_string(pv));
    }
    *ret = TAKE_PTR(out);
    return 0;
}


/* llround() of 0 <= x < 2^52 (1e6 CPUs in nanoseconds is 1e15), without
 * libm: moatd links nothing else of it, and libm costs every process start
 * its IFUNC resolution (~300 KiB resident in moatd).  Exact: in that range
 * x - trunc(x) is computed without rounding. */
static int64_t round_nonneg(double x)
{
    int64_t t = (int64_t)x;
    return t + (x - (double)t >= 0.5);
}
static int get_number(moat_error **err, const struct pctx *x, const char *path, struct json_object *v,
                      enum pol_kind kind, int64_t *ret)
{
    if (kind == K_BYTES && json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end = NULL;
        errno = 0;
        double d = strtod(s, &end);
        double mul = 1;
        if (end && *end) {
            switch (*end | 0x20) {
            case 'k': mul = 1024.0; break;
            case 'm': mul = 1024.0 * 1024; break;
            case 'g': mul = 1024.0 * 1024 * 1024; break;
            case 't': mul = 1024.0 * 1024 * 1024 * 1024; break;
            case 'b': mul = 1; break;
            default: mul = -1;
            }
            end++;
            if (*end == 'b' || *end == 'B')
                end++;
        }
        if (errno || end == s || mul < 0 || *end || !(d >= 0) || d * mul > 9.0e18)
            return PFAIL(err, x, path, "expected a size in bytes (a number, or \"512m\", \"4g\")");
        *ret = (int64_t)(d * mul);
        return 0;
    }
    if (kind == K_CPUS) {
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return PFAIL(err, x, path, "expected a number of CPUs (0: no maximum)");
        double d = json_object_get_double(v);
        if (!(d >= 0) || d > 1e6)
            return PFAIL(err, x, path, "expected a number of CPUs between 0 and 1000000");
        *ret = round_nonneg(d * 1e9);
        return 0;
    }
    if (!json_object_is_type(v, json_type_int))
        return PFAIL(err, x, path, "expected a whole number (0: no limit)");
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno || n < 0 || n > INT64_MAX / 2)
        return PFAIL(err, x, path, "expected a number between 0 and 2^62");
    *ret = n;
    return 0;
}

const char *pol_signed_name(int64_t v) { return v == 2 ? "always" : v == 1 ? "registry" : "never"; }

static int set_field(moat_error **err, struct pctx *x, enum moat_policy_rule r, struct json_object *v)
{
    struct moat_policy *p = x->p;
    const struct pol_field *f = &moat_pol_fields[r];
    switch (f->kind) {
    case K_ALLOW:
    case K_REQUIRE:
        if (!json_object_is_type(v, json_type_boolean))
            return PFAIL(err, x, f->path, "expected true or false");
        p->b[r] = json_object_get_boolean(v);
        break;
    case K_CAPS:
    case K_CAPS_DEF:
        if (get_caps(err, x, f->path, v, &p->n[r]) < 0)
            return -1;
        break;
    case K_LIST:
    case K_PATTERNS:
    case K_UNION:
        if (get_strings(err, x, f->path, v, &p->l[r]) < 0)
            return -1;
        for (size_t i = 0; p->l[r][i]; i++) {
            const char *s = p->l[r][i];
            bool ok = true;
            _cleanup_free_ char *ip = moat_jpath_idx(f->path, i);
            if (r == POL_NET_MODES)
                ok = !strcmp(s, "none") || !strcmp(s, "bridge") || !strcmp(s, "container") || !strcmp(s, "host");
            else if (r == POL_SECCOMP_PROFILES)
                ok = !strcmp(s, "default") || !strcmp(s, "restricted") || !strcmp(s, "custom") || clean_abs(s);
            else if (r == POL_FORBIDDEN)
                ok = !strcmp(s, "@engine") || !strcmp(s, "@engines") || clean_abs(s);
            else if (r == POL_DEVICES)
                ok = s[0] == '/';
            else if (r == POL_IMAGES_KEYS)
                ok = clean_abs(s);
            if (!ok)
                return PFAIL(err, x, ip, "'%s' is not a valid %s%s", s, f->what,
                             r == POL_NET_MODES         ? " (none, bridge, container, host)"
                             : r == POL_SECCOMP_PROFILES ? " (default, restricted, custom or an absolute path)"
                             : r == POL_FORBIDDEN        ? " (a clean absolute path, @engine or @engines)"
                                                         : " (an absolute path)");
        }
        break;
    case K_PORTS:
        if (get_strings(err, x, f->path, v, &p->l[r]) < 0)
            return -1;
        for (size_t i = 0; p->l[r][i]; i++) {
            unsigned lo, hi;
            if (!pol_port_range(p->l[r][i], &lo, &hi)) {
                _cleanup_free_ char *ip = moat_jpath_idx(f->path, i);
                return PFAIL(err, x, ip, "'%s' is not a port or a range \"lo-hi\" within 1-65535", p->l[r][i]);
            }
        }
        break;
    case K_BINDS:
        if (get_binds(err, x, f->path, v, &p->l[r]) < 0)
            return -1;
        break;
    case K_MAX:
    case K_DEFAULT:
    case K_BYTES:
    case K_CPUS:
        if (get_number(err, x, f->path, v, f->kind, &p->n[r]) < 0)
            return -1;
        break;
    case K_STR_DEF: {
        if (!json_object_is_type(v, json_type_string) || !safe_string(json_object_get_string(v), 4096))
            return PFAIL(err, x, f->path, "expected a string");
        const char *s = json_object_get_string(v);
        if (strcmp(s, "default") && strcmp(s, "restricted") && !clean_abs(s))
            return PFAIL(err, x, f->path, "'%s' is not default, restricted or an absolute path", s);
        p->l[r] = xcalloc(2, sizeof(char *));
        p->l[r][0] = xstrdup(s);
        break;
    }
    case K_SIGNED: {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (!strcmp(s, "never"))
            p->n[r] = 0;
        else if (!strcmp(s, "registry"))
            p->n[r] = 1;
        else if (!strcmp(s, "always"))
            p->n[r] = 2;
        else
            return PFAIL(err, x, f->path, "expected \"never\", \"registry\" or \"always\"");
        break;
    }
    }
    p->set |= UINT64_C(1) << r;
    p->src[r].file = xstrdup(x->file);
    p->src[r].path = xstrdup(f->path);
    p->src[r].line = locate_line(x->buf, x->len, f->path);
    return 0;
}

/* Is `path` a rule, or an object on the way to one? */
static int classify(const char *path)
{
    size_t n = strlen(path);
    for (int r = 0; r < POL_N; r++) {
        const char *fp = moat_pol_fields[r].path;
        if (!strcmp(fp, path))
            return r;
    }
    for (int r = 0; r < POL_N; r++) {
        const char *fp = moat_pol_fields[r].path;
        if (!strncmp(fp, path, n) && fp[n] == '/')
            return -2; /* an intermediate object */
    }
    return -1;
}

static void known_children(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path), o = 0;
    buf[0] = 0;
    for (int r = 0; r < POL_N; r++) {
        const char *fp = moat_pol_fields[r].path;
        if (strncmp(fp, path, n) || fp[n] != '/')
            continue;
        const char *c = fp + n + 1, *e = strchrnul(c, '/');
        size_t cl = (size_t)(e - c);
        bool dup = false;
        for (const char *q = buf; (q = strstr(q, c)) && !dup; q++)
            dup = (q == buf || q[-1] == ' ') && !strncmp(q, c, cl) && (q[cl] == ',' || q[cl] == 0);
        if (dup || o + cl + 3 >= len)
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? ", " : "", (int)cl, c);
    }
}

static int walk(moat_error **err, struct pctx *x, const char *path, struct json_object *o)
{
    json_object_object_foreach(o, k, v)
    {
        if (!path[0] && moat_strv_contains((char *const *)top_meta, k))
            continue;
        _cleanup_free_ char *kp = moat_jpath(path, k);
        int r = safe_string(k, 256) ? classify(kp) : -1;
        if (r >= 0) {
            if (set_field(err, x, (enum moat_policy_rule)r, v) < 0)
                return -1;
        } else if (r == -2) {
            if (!json_object_is_type(v, json_type_object))
                return PFAIL(err, x, kp, "expected an object");
            if (walk(err, x, kp, v) < 0)
                return -1;
        } else {
            char known[512];
            known_children(path, known, sizeof known);
            if (!path[0]) {
                size_t kl = strlen(known);
                snprintf(known + kl, sizeof known - kl, ", moatPolicy, name, description, base, scope");
            }
            return PFAIL(err, x, safe_string(k, 256) ? kp : path[0] ? path : "/",
                         "unknown key%s%.64s%s (this version knows: %s)", safe_string(k, 256) ? " '" : "",
                         safe_string(k, 256) ? k : "", safe_string(k, 256) ? "'" : "", known);
        }
    }
    return 0;
}

static int get_meta_str(moat_error **err, struct pctx *x, struct json_object *o, const char *key, size_t max,
                        char **ret)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    _cleanup_free_ char *kp = moat_jpath("", key);
    if (!json_object_is_type(v, json_type_string) || !safe_string(json_object_get_string(v), max))
        return PFAIL(err, x, kp, "expected a string of 1 to %zu characters", max);
    *ret = xstrdup(json_object_get_string(v));
    return 0;
}

static int get_scope(moat_error **err, struct pctx *x, struct json_object *o)
{
    struct json_object *s = NULL;
    if (!json_object_object_get_ex(o, "scope", &s))
        return 0;
    if (!json_object_is_type(s, json_type_object))
        return PFAIL(err, x, "/scope", "expected {\"uids\": [...], \"tenants\": [...], \"subjects\": [...]}");
    bool any = false;
    json_object_object_foreach(s, k, v)
    {
        _cleanup_free_ char *kp = moat_jpath("/scope", k);
        char ***dst = !strcmp(k, "uids")       ? &x->p->scope_uids
                      : !strcmp(k, "tenants")  ? &x->p->scope_tenants
                      : !strcmp(k, "subjects") ? &x->p->scope_subjects
                                               : NULL;
        if (!dst)
            return PFAIL(err, x, safe_string(k, 256) ? kp : "/scope", "unknown key (expected uids, tenants, subjects)");
        if (!strcmp(k, "uids") && json_object_is_type(v, json_type_array)) {
            /* numbers in the document, kept as strings */
            size_t n = json_object_array_length(v);
            if (n > MOAT_POLICY_MAX_LIST)
                return PFAIL(err, x, kp, "too many entries");
            char **out = xcalloc(n + 1, sizeof *out);
            for (size_t i = 0; i < n; i++) {
                struct json_object *u = json_object_array_get_idx(v, i);
                errno = 0;
                int64_t id = u && json_object_is_type(u, json_type_int) ? json_object_get_int64(u) : -1;
                if (errno || id < 0 || id > UINT32_MAX - 1) {
                    moat_strv_free(out);
                    return PFAIL(err, x, kp, "expected a list of uids (numbers)");
                }
                out[i] = xasprintf("%" PRId64, id);
            }
            *dst = out;
        } else if (get_strings(err, x, kp, v, dst) < 0) {
            return -1;
        }
        any = true;
    }
    if (!any)
        return PFAIL(err, x, "/scope", "an empty scope matches nobody: name uids, tenants or subjects");
    return 0;
}

/* Contradictions inside one document. */
static int check_consistent(moat_error **err, struct pctx *x)
{
    struct moat_policy *p = x->p;
    const uint64_t both_caps = (UINT64_C(1) << POL_CAPS_ALLOWED) | (UINT64_C(1) << POL_CAPS_DEFAULT);
    if ((p->set & both_caps) == both_caps) {
        uint64_t extra = (uint64_t)p->n[POL_CAPS_DEFAULT] & ~(uint64_t)p->n[POL_CAPS_ALLOWED];
        if (extra)
            return PFAIL(err, x, "/capabilities/default", "%s is a default but not in /capabilities/allowed",
                         oci_cap_name(__builtin_ctzll(extra)));
    }
    const uint64_t sc = (UINT64_C(1) << POL_SECCOMP_PROFILES) | (UINT64_C(1) << POL_SECCOMP_DEFAULT);
    if ((p->set & sc) == sc && !moat_strv_contains(p->l[POL_SECCOMP_PROFILES], p->l[POL_SECCOMP_DEFAULT][0]))
        return PFAIL(err, x, "/seccomp/default", "'%s' is not among /seccomp/profiles", p->l[POL_SECCOMP_DEFAULT][0]);
    const uint64_t pd = (UINT64_C(1) << POL_PIDS_MAX) | (UINT64_C(1) << POL_PIDS_DEFAULT);
    if ((p->set & pd) == pd && p->n[POL_PIDS_MAX] && p->n[POL_PIDS_DEFAULT] > p->n[POL_PIDS_MAX])
        return PFAIL(err, x, "/resources/pids/default", "%" PRId64 " is above /resources/pids/max (%" PRId64 ")",
                     p->n[POL_PIDS_DEFAULT], p->n[POL_PIDS_MAX]);
    if ((p->set & (UINT64_C(1) << POL_USERNS_REQUIRED)) && !p->b[POL_USERNS_REQUIRED])
        return PFAIL(err, x, "/userNamespace/required",
                     "false is not supported: moat always runs a container in its own user namespace");
    return 0;
}

int moat_policy_parse(const char *buf, size_t len, const char *file, struct moat_policy **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse(buf, len, MOAT_POLICY_MAX_BYTES, file, &o, err) < 0)
        return -1;
    if (!json_object_is_type(o, json_type_object))
        return moat_err(err, EINVAL, "%s: a policy is a JSON object", file);
    struct moat_policy *p = xcalloc(1, sizeof *p);
    struct pctx x = {.buf = buf, .len = len, .file = file, .p = p};
    struct json_object *ver = NULL;
    int rc = -1;
    if (!json_object_object_get_ex(o, "moatPolicy", &ver)) {
        moat_err(err, EINVAL, "%s: not a moat policy: \"moatPolicy\": %d is missing", file, MOAT_POLICY_VERSION);
        goto out;
    }
    errno = 0;
    if (!json_object_is_type(ver, json_type_int) || json_object_get_int64(ver) != MOAT_POLICY_VERSION) {
        PFAIL(err, &x, "/moatPolicy", "version %s is not supported (this moat reads version %d)",
              json_object_get_string(ver), MOAT_POLICY_VERSION);
        goto out;
    }
    if (get_meta_str(err, &x, o, "name", 128, &p->name) < 0 ||
        get_meta_str(err, &x, o, "description", 4096, &p->description) < 0 ||
        get_meta_str(err, &x, o, "base", 128, &p->base) < 0 || get_scope(err, &x, o) < 0 || walk(err, &x, "", o) < 0 ||
        check_consistent(err, &x) < 0)
        goto out;
    if (p->base && !moat_policy_is_builtin(p->base)) {
        PFAIL(err, &x, "/base", "'%s' is not a built-in profile (privileged, baseline, restricted)", p->base);
        goto out;
    }
    p->file = xstrdup(file);
    if (!p->name) {
        const char *b = strrchr(file, '/');
        p->name = xstrdup(b ? b + 1 : file);
    }
    *ret = TAKE_PTR(p);
    rc = 0;
out:
    moat_policy_free(p);
    return rc;
}

/* ---- built-ins ------------------------------------------------------------------------- */

const char *moat_policy_builtin_text(const char *name, size_t *len)
{
    for (const struct moat_policy_builtin *b = moat_policy_builtins; b->name; b++)
        if (!strcmp(b->name, name)) {
            if (len)
                *len = b->len;
            return b->text;
        }
    return NULL;
}

bool moat_policy_is_builtin(const char *name) { return name && moat_policy_builtin_text(name, NULL) != NULL; }

int moat_policy_builtin(const char *name, struct moat_policy **ret, moat_error **err)
{
    size_t len = 0;
    const char *t = moat_policy_builtin_text(name, &len);
    if (!t)
        return moat_err(err, ENOENT, "no built-in policy '%s' (privileged, baseline, restricted)", name);
    _cleanup_free_ char *file = xasprintf("%s.json", name);
    if (moat_policy_parse(t, len, file, ret, err) < 0)
        return moat_err_wrap(err, "built-in policy %s", name);
    return 0;
}
