/* Evaluation: a request against the effective policy (include/moat/policy.h).
 *
 * Every check runs, so a denial lists every reason at once, each naming the
 * rule and where it came from.  Pure functions over the parsed request and
 * what the engine resolved (bind sources, the image); unit-tested, and the
 * same code answers `moat policy check` and the real create. */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include "moat/cleanup.h"
#include "moat/lsm.h"
#include "moat/oci.h"
#include "moat/path.h"
#include "moat/policy.h"
#include "moat/spec.h"
#include "moat/util.h"
#include "policy/policy_internal.h"

char *pol_reason(const struct moat_policy *p, enum moat_policy_rule r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        abort();
    va_end(ap);
    return xasprintf("%s (%s: %s)", m, p->src[r].file ? p->src[r].file : "built-in", moat_pol_fields[r].path);
}

#define DENY(list, p, r, ...)                                                                      \
    do {                                                                                           \
        char *reason_ = pol_reason(p, r, __VA_ARGS__);                                             \
        moat_strv_push(list, reason_);                                                             \
        free(reason_);                                                                             \
    } while (0)

bool moat_policy_user_is_root(const char *user)
{
    if (!user || !user[0])
        return true;
    size_t n = strcspn(user, ":");
    return (n == 4 && !strncmp(user, "root", 4)) || (n == 1 && user[0] == '0') ||
           (n > 1 && strspn(user, "0") == n);
}

static bool match_any(char *const *pats, const char *s)
{
    for (size_t i = 0; s && pats && pats[i]; i++)
        if (fnmatch(pats[i], s, 0) == 0)
            return true;
    return false;
}

uint64_t moat_policy_caps_default(const struct moat_policy *p)
{
    return (uint64_t)p->n[POL_CAPS_DEFAULT] & (uint64_t)p->n[POL_CAPS_ALLOWED];
}

const char *moat_policy_seccomp_default(const struct moat_policy *p)
{
    return p->l[POL_SECCOMP_DEFAULT] && p->l[POL_SECCOMP_DEFAULT][0] ? p->l[POL_SECCOMP_DEFAULT][0] : "default";
}

int64_t moat_policy_pids_default(const struct moat_policy *p) { return p->n[POL_PIDS_DEFAULT]; }

int moat_policy_deny(moat_error **err, char *const *reasons)
{
    size_t len = 0;
    for (size_t i = 0; reasons && reasons[i]; i++)
        len += strlen(reasons[i]) + 2;
    char *s = xmalloc(len + 1), *o = s;
    for (size_t i = 0; reasons && reasons[i]; i++)
        o += sprintf(o, "%s%s", i ? "; " : "", reasons[i]);
    *o = 0;
    int rc = moat_err(err, EPERM, "denied by policy: %s", s);
    free(s);
    return rc;
}

/* ---- capabilities ------------------------------------------------------------------------ */

static uint64_t all_caps(void)
{
    int last = oci_cap_last();
    return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

/* Docker's TweakCapabilities over the policy's default set; unknown names are
 * the spec builder's EINVAL, skipped here. */
static uint64_t effective_caps(const struct moat_policy *p, const struct moat_create_req *r)
{
    uint64_t m = moat_policy_caps_default(p);
    bool add_all = false, drop_all = false;
    for (size_t i = 0; r->cap_add && r->cap_add[i]; i++)
        add_all = add_all || !strcasecmp(r->cap_add[i], "ALL");
    for (size_t i = 0; r->cap_drop && r->cap_drop[i]; i++)
        drop_all = drop_all || !strcasecmp(r->cap_drop[i], "ALL");
    if (add_all)
        m = all_caps();
    else if (drop_all)
        m = 0;
    for (size_t i = 0; !add_all && !drop_all && r->cap_drop && r->cap_drop[i]; i++) {
        int c = oci_cap_from_name(r->cap_drop[i]);
        if (c >= 0 && c < 64)
            m &= ~(UINT64_C(1) << c);
    }
    if (add_all) {
        for (size_t i = 0; r->cap_drop && r->cap_drop[i]; i++) {
            int c = oci_cap_from_name(r->cap_drop[i]);
            if (c >= 0 && c < 64)
                m &= ~(UINT64_C(1) << c);
        }
    } else {
        for (size_t i = 0; r->cap_add && r->cap_add[i]; i++) {
            int c = oci_cap_from_name(r->cap_add[i]);
            if (c >= 0 && c < 64)
                m |= UINT64_C(1) << c;
        }
    }
    return m & all_caps();
}

static void check_caps(const struct moat_policy *p, const struct moat_create_req *r, char ***out)
{
    uint64_t extra = effective_caps(p, r) & ~(uint64_t)p->n[POL_CAPS_ALLOWED];
    if (!extra)
        return;
    char buf[1024];
    size_t o = 0, n = 0;
    buf[0] = 0;
    for (int c = 0; c < 64; c++)
        if (extra & (UINT64_C(1) << c)) {
            const char *name = oci_cap_name(c);
            if (name && o < sizeof buf - 40)
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", n ? ", " : "", name + 4);
            n++;
        }
    DENY(out, p, POL_CAPS_ALLOWED, "%s %s %s not allowed", n == 1 ? "capability" : "capabilities", buf,
         n == 1 ? "is" : "are");
}

/* ---- security options ------------------------------------------------------------------- */

static bool parse_bool(const char *v, bool *ret)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(v, t[i]))
            return *ret = true, true;
        if (!strcmp(v, f[i]))
            return *ret = false, true;
    }
    return false;
}

static void check_secopts(const struct moat_policy *p, char *const *opts, char ***out)
{
    bool apparmor = false, selinux = false;
    for (size_t i = 0; opts && opts[i]; i++) {
        _cleanup_free_ char *k = xstrdup(opts[i]);
        char *v = strchr(k, '=');
        if (!v)
            v = strchr(k, ':');
        if (v)
            *v++ = '\0';
        if (!strcmp(k, "no-new-privileges")) {
            bool b = true;
            if (v && parse_bool(v, &b) && !b && p->b[POL_NO_NEW_PRIVS])
                DENY(out, p, POL_NO_NEW_PRIVS, "security-opt no-new-privileges=false is not allowed: no_new_privs "
                                               "is required");
        } else if (!strcmp(k, "seccomp") && v) {
            if (!strcmp(v, "unconfined")) {
                if (!p->b[POL_SECCOMP_UNCONFINED])
                    DENY(out, p, POL_SECCOMP_UNCONFINED, "security-opt seccomp=unconfined is not allowed: system "
                                                         "calls are always filtered");
            } else {
                /* a path is a file on the engine's host: only one the policy names (a client
                 * sends its own profile's content, which is "custom") */
                const char *kind = !strcmp(v, "default") || !strcmp(v, "restricted") ? v : "custom";
                bool ok = v[0] == '/' ? moat_strv_contains(p->l[POL_SECCOMP_PROFILES], v)
                                      : moat_strv_contains(p->l[POL_SECCOMP_PROFILES], kind);
                if (!ok)
                    DENY(out, p, POL_SECCOMP_PROFILES, "seccomp profile %s%.200s%s is not allowed",
                         strcmp(kind, "custom") ? "'" : "", strcmp(kind, "custom") ? v : v[0] == '/' ? v : "(custom)",
                         strcmp(kind, "custom") ? "'" : "");
            }
        } else if (!strcmp(k, "apparmor") && v) {
            apparmor = true;
            if (!strcmp(v, "unconfined") && !p->b[POL_APPARMOR_UNCONFINED])
                DENY(out, p, POL_APPARMOR_UNCONFINED, "security-opt apparmor=unconfined is not allowed");
        } else if (!strcmp(k, "label") && v) {
            if (!strcmp(v, "disable")) {
                if (!p->b[POL_SELINUX_DISABLE])
                    DENY(out, p, POL_SELINUX_DISABLE, "security-opt label=disable is not allowed");
            } else {
                selinux = true;
            }
        }
    }
    if (p->b[POL_APPARMOR_REQUIRED]) {
        if (!moat_apparmor_enabled())
            DENY(out, p, POL_APPARMOR_REQUIRED, "an AppArmor profile is required, but AppArmor is not enabled on this "
                                                "host");
        else if (!apparmor)
            DENY(out, p, POL_APPARMOR_REQUIRED, "an AppArmor profile is required (--security-opt apparmor=PROFILE)");
    }
    if (p->b[POL_SELINUX_REQUIRED]) {
        if (!moat_selinux_enabled())
            DENY(out, p, POL_SELINUX_REQUIRED, "an SELinux label is required, but SELinux is not enabled on this host");
        else if (!selinux)
            DENY(out, p, POL_SELINUX_REQUIRED, "an SELinux label is required (--security-opt label=type:TYPE)");
    }
}

/* ---- mounts ------------------------------------------------------------------------------- */

/* What "@engines" means: the sockets and state of the container engines a host may run (Docker,
 * containerd, podman/CRI-O, runc/crun, other moat engines). A bind of one of them, or of a
 * directory above one (/run, /var/lib), would hand the container the host. */
static const char *const engines_paths[] = {
    "/run/docker.sock", "/run/docker", "/run/containerd", "/run/podman", "/run/crio", "/run/runc", "/run/crun",
    "/run/moat", "/run/moat-runtime", "/run/buildkit", "/var/run/docker.sock", "/var/run/docker",
    "/var/run/containerd", "/var/run/podman", "/var/run/crio", "/var/run/moat", "/var/lib/docker",
    "/var/lib/containerd", "/var/lib/containers", "/var/lib/moat", "/var/lib/kubelet", NULL};

static void check_bind_path(const struct moat_policy *p, const struct moat_policy_input *in, const char *path,
                            bool ro, char ***out);

/* A bind is judged where it leads: the path as given and, when a symlink in it leads elsewhere,
 * the resolved path too (the engine binds the resolved path, and moat-runtime refuses a
 * symlink planted after this check: run.moat.bind.nosymlinks). */
static void check_bind(const struct moat_policy *p, const struct moat_policy_input *in, const char *src, bool ro,
                       char ***out)
{
    _cleanup_free_ char *path = src && src[0] == '/' ? moat_path_clean(src) : NULL;
    if (!path)
        return; /* relative or empty: the engine's EINVAL */
    _cleanup_free_ char *real = realpath(path, NULL);
    size_t before = moat_strv_len(*out);
    check_bind_path(p, in, path, ro, out);
    if (real && strcmp(real, path) && moat_strv_len(*out) == before)
        check_bind_path(p, in, real, ro, out);
}

static void check_bind_path(const struct moat_policy *p, const struct moat_policy_input *in, const char *path,
                            bool ro, char ***out)
{
    if (!p->b[POL_SOCKETS]) {
        /* An API socket (Docker's, containerd's, another moatd's) is root on the host for whoever
         * can write to it; stat follows links on purpose: what matters is what would be bound. */
        struct stat st;
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            DENY(out, p, POL_SOCKETS, "bind mount of %s is not allowed: it is a socket", path);
    }
    char *const *fb = p->l[POL_FORBIDDEN];
    for (size_t i = 0; fb && fb[i]; i++) {
        if (!strcmp(fb[i], "@engines")) {
            for (size_t j = 0; engines_paths[j]; j++)
                if (pol_path_under(path, engines_paths[j]) || pol_path_under(engines_paths[j], path)) {
                    DENY(out, p, POL_FORBIDDEN, "bind mount of %s is not allowed: %s %s a container engine's", path,
                         pol_path_under(path, engines_paths[j]) ? "it is" : "it holds", engines_paths[j]);
                    break;
                }
            continue;
        }
        if (!strcmp(fb[i], "@engine")) {
            for (size_t j = 0; in->engine_paths && in->engine_paths[j]; j++)
                if (pol_path_under(path, in->engine_paths[j]) || pol_path_under(in->engine_paths[j], path))
                    DENY(out, p, POL_FORBIDDEN, "bind mount of %s is not allowed: the engine's own %s", path,
                         pol_path_under(path, in->engine_paths[j]) ? "files are there" : "files are under it");
            continue;
        }
        bool hit = !strcmp(fb[i], "/") ? !strcmp(path, "/") : pol_path_under(path, fb[i]);
        if (hit)
            DENY(out, p, POL_FORBIDDEN, "bind mount of %s is not allowed: %s is forbidden", path, fb[i]);
    }
    char *const *hb = p->l[POL_HOST_BINDS];
    bool any = false, rw_ok = false;
    for (size_t i = 0; hb && hb[i]; i++)
        if (pol_path_under(path, hb[i] + 3)) {
            any = true;
            rw_ok = rw_ok || !strncmp(hb[i], "rw:", 3);
        }
    if (!any)
        DENY(out, p, POL_HOST_BINDS, "bind mount of host path %s is not allowed", path);
    else if (!ro && !rw_ok)
        DENY(out, p, POL_HOST_BINDS, "bind mount of host path %s must be read-only (add :ro)", path);
}

static void check_mounts(const struct moat_policy *p, const struct moat_policy_input *in, char ***out)
{
    const struct moat_create_req *r = in->req;
    size_t k = 0;
    bool vol_denied = false, tmpfs_denied = false;
    for (size_t i = 0; i < r->n_mounts; i++) {
        const struct moat_mount_req *m = &r->mounts[i];
        if (!strcmp(m->type, "bind")) {
            const char *src = in->bind_sources && in->bind_sources[k] ? in->bind_sources[k] : m->source;
            bool ro = in->bind_sources && in->bind_sources[k] && in->bind_ro ? in->bind_ro[k] : m->read_only;
            if (in->bind_sources && in->bind_sources[k])
                k++;
            check_bind(p, in, src, ro, out);
        } else if (!strcmp(m->type, "volume") && !p->b[POL_VOLUMES] && !vol_denied) {
            DENY(out, p, POL_VOLUMES, "volumes are not allowed (%s)", m->target);
            vol_denied = true;
        } else if (!strcmp(m->type, "tmpfs") && !p->b[POL_TMPFS] && !tmpfs_denied) {
            DENY(out, p, POL_TMPFS, "tmpfs mounts are not allowed (%s)", m->target);
            tmpfs_denied = true;
        }
    }
    /* --volumes-from brings the other container's binds: judged as this container's own */
    for (size_t i = 0; in->inherited_binds && in->inherited_binds[i]; i++)
        check_bind(p, in, in->inherited_binds[i], in->inherited_ro && in->inherited_ro[i], out);
    if (!p->b[POL_TMPFS] && !tmpfs_denied && r->tmpfs && r->tmpfs[0])
        DENY(out, p, POL_TMPFS, "tmpfs mounts are not allowed (%s)", r->tmpfs[0]);
    if (!p->b[POL_VOLUMES] && !vol_denied && ((r->volumes && r->volumes[0]) || (r->volumes_from && r->volumes_from[0])))
        DENY(out, p, POL_VOLUMES, "volumes are not allowed (%s)",
             r->volumes && r->volumes[0] ? r->volumes[0] : "--volumes-from");
    else if (!p->b[POL_VOLUMES] && !vol_denied && in->image_volume)
        DENY(out, p, POL_VOLUMES, "volumes are not allowed (the image's VOLUME %s)", in->image_volume);
}

/* ---- network, resources, the rest ------------------------------------------------------ */

static const char *net_mode(const struct moat_create_req *r)
{
    const char *m = r->network_mode;
    if (r->network_disabled || !m || !m[0] || !strcmp(m, "default") || !strcmp(m, "none"))
        return "none";
    if (!strcmp(m, "host"))
        return "host";
    if (!strncmp(m, "container:", 10))
        return "container";
    return "bridge"; /* "bridge" and named networks */
}

static void check_network(const struct moat_policy *p, const struct moat_create_req *r, char ***out)
{
    const char *mode = net_mode(r);
    if (!moat_strv_contains(p->l[POL_NET_MODES], mode))
        DENY(out, p, POL_NET_MODES, "network mode %s is not allowed", mode);
    for (size_t i = 0; i < r->n_ports; i++) {
        const char *hp = r->ports[i].host_port;
        unsigned lo = 0, hi = 0;
        bool ok = false;
        if (!hp || !hp[0]) {
            ok = p->l[POL_PORTS] && p->l[POL_PORTS][0]; /* a random port: any range allowed at all */
        } else if (pol_port_range(hp, &lo, &hi)) {
            ok = true;
            for (unsigned port = lo; ok && port <= hi; port++) {
                bool in = false;
                for (size_t j = 0; !in && p->l[POL_PORTS] && p->l[POL_PORTS][j]; j++) {
                    unsigned a, b;
                    in = pol_port_range(p->l[POL_PORTS][j], &a, &b) && port >= a && port <= b;
                }
                ok = in;
            }
        } else {
            continue; /* malformed: the engine's EINVAL */
        }
        if (!ok)
            DENY(out, p, POL_PORTS, "publishing host port %s (for %s) is not allowed", hp && hp[0] ? hp : "(random)",
                 r->ports[i].container_port ? r->ports[i].container_port : "?");
    }
    if (r->publish_all && !(p->l[POL_PORTS] && p->l[POL_PORTS][0]))
        DENY(out, p, POL_PORTS, "publishing ports is not allowed (-P)");
}

static void fmt_bytes(int64_t b, char buf[static 32])
{
    if (b >= (INT64_C(1) << 30) && b % (INT64_C(1) << 30) == 0)
        snprintf(buf, 32, "%" PRId64 "GiB", b >> 30);
    else if (b >= (INT64_C(1) << 20) && b % (INT64_C(1) << 20) == 0)
        snprintf(buf, 32, "%" PRId64 "MiB", b >> 20);
    else
        snprintf(buf, 32, "%" PRId64 " bytes", b);
}

static void check_limits(const struct moat_policy *p, int64_t memory, int64_t pids, int64_t nano_cpus, bool update,
                         char ***out)
{
    char a[32], b[32];
    if (memory > 0 && p->n[POL_MEMORY_MAX] && memory > p->n[POL_MEMORY_MAX]) {
        fmt_bytes(memory, a);
        fmt_bytes(p->n[POL_MEMORY_MAX], b);
        DENY(out, p, POL_MEMORY_MAX, "memory limit %s is above the maximum %s", a, b);
    } else if (memory <= 0 && !(update && memory == 0) && (p->b[POL_MEMORY_REQUIRED] || p->n[POL_MEMORY_MAX])) {
        enum moat_policy_rule r = p->b[POL_MEMORY_REQUIRED] ? POL_MEMORY_REQUIRED : POL_MEMORY_MAX;
        if (p->n[POL_MEMORY_MAX]) {
            fmt_bytes(p->n[POL_MEMORY_MAX], b);
            DENY(out, p, r, "a memory limit (-m) of at most %s is required", b);
        } else {
            DENY(out, p, r, "a memory limit (-m) is required");
        }
    }
    /* pids: 0 = not given (the policy's default applies), < 0 = unlimited */
    int64_t eff = pids == 0 && !update ? p->n[POL_PIDS_DEFAULT] : pids;
    if (eff > 0 && p->n[POL_PIDS_MAX] && eff > p->n[POL_PIDS_MAX])
        DENY(out, p, POL_PIDS_MAX, "pids limit %" PRId64 " is above the maximum %" PRId64, eff, p->n[POL_PIDS_MAX]);
    else if (eff < 0 || (eff == 0 && !update)) {
        if (p->b[POL_PIDS_REQUIRED] || p->n[POL_PIDS_MAX])
            DENY(out, p, p->b[POL_PIDS_REQUIRED] ? POL_PIDS_REQUIRED : POL_PIDS_MAX,
                 "a pids limit is required: --pids-limit %s is not allowed", eff < 0 ? "-1 (unlimited)" : "0");
    }
    if (nano_cpus > 0 && p->n[POL_CPUS_MAX] && nano_cpus > p->n[POL_CPUS_MAX])
        DENY(out, p, POL_CPUS_MAX, "CPU limit %.2f is above the maximum %.2f", (double)nano_cpus / 1e9,
             (double)p->n[POL_CPUS_MAX] / 1e9);
    else if (nano_cpus <= 0 && !(update && nano_cpus == 0) && (p->b[POL_CPUS_REQUIRED] || p->n[POL_CPUS_MAX]))
        DENY(out, p, p->b[POL_CPUS_REQUIRED] ? POL_CPUS_REQUIRED : POL_CPUS_MAX, "a CPU limit (--cpus) is required");
}

static int64_t req_nano_cpus(const struct moat_create_req *r)
{
    if (r->nano_cpus > 0)
        return r->nano_cpus;
    if (r->cpu_quota > 0)
        return r->cpu_quota * 1000000000 / (r->cpu_period > 0 ? r->cpu_period : 100000);
    return 0;
}

/* A device's host path as the policy sees it: "PathOnHost:PathInContainer:perms"
 * cut at the first ':', cleaned lexically ("/dev/snd/../sda" is /dev/sda; the
 * spec builder refuses a path that goes through a symlink). */
static char *device_host_path(const char *dev)
{
    _cleanup_free_ char *host = xstrndup(dev, strcspn(dev, ":"));
    return host[0] == '/' ? moat_path_clean(host) : TAKE_PTR(host);
}

static bool has_seccomp_profile(char *const *opts)
{
    for (size_t i = 0; opts && opts[i]; i++)
        if ((!strncmp(opts[i], "seccomp=", 8) || !strncmp(opts[i], "seccomp:", 8)) && strcmp(opts[i] + 8, "unconfined"))
            return true;
    return false;
}

char **moat_policy_eval_security(const struct moat_policy *p, const struct moat_create_req *r)
{
    char **out = NULL;
    if (r->privileged) {
        if (!p->b[POL_PRIVILEGED]) {
            DENY(&out, p, POL_PRIVILEGED, "privileged containers are not allowed");
        } else {
            /* What privileged means in moat (spec.c builds it): every
             * capability, and no seccomp filter unless one is named. */
            if (~(uint64_t)p->n[POL_CAPS_ALLOWED] & all_caps())
                DENY(&out, p, POL_CAPS_ALLOWED, "a privileged container holds every capability, and not all are "
                                                "allowed");
            if (!p->b[POL_SECCOMP_UNCONFINED] && !has_seccomp_profile(r->security_opt))
                DENY(&out, p, POL_SECCOMP_UNCONFINED, "a privileged container runs without a seccomp filter, which is "
                                                      "not allowed (keep one with --security-opt seccomp=default)");
        }
    }
    if (!r->privileged || !p->b[POL_PRIVILEGED])
        check_caps(p, r, &out);
    check_secopts(p, r->security_opt, &out);
    const struct {
        const char *name, *val;
    } ns[] = {{"PidMode", r->pid_mode}, {"IpcMode", r->ipc_mode}, {"UTSMode", r->uts_mode},
              {"CgroupnsMode", r->cgroupns_mode}};
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
        if (ns[i].val && !strcmp(ns[i].val, "host") && !p->b[POL_HOST_NAMESPACES])
            DENY(&out, p, POL_HOST_NAMESPACES, "HostConfig.%s=host is not allowed: a container never shares the "
                                               "host's namespaces",
                 ns[i].name);
    if (r->userns_mode && !strcmp(r->userns_mode, "host") && p->b[POL_USERNS_REQUIRED])
        DENY(&out, p, POL_USERNS_REQUIRED, "HostConfig.UsernsMode=host is not allowed: a user namespace is required");
    for (size_t i = 0; r->devices && r->devices[i]; i++) {
        _cleanup_free_ char *host = device_host_path(r->devices[i]);
        if (!match_any(p->l[POL_DEVICES], host))
            DENY(&out, p, POL_DEVICES, "host device %s is not allowed", host);
    }
    for (size_t i = 0; r->sysctls && r->sysctls[i]; i += 2)
        if (!match_any(p->l[POL_SYSCTLS], r->sysctls[i]))
            DENY(&out, p, POL_SYSCTLS, "sysctl '%s' is not allowed", r->sysctls[i]);
    return out;
}

char **moat_policy_eval_create(const struct moat_policy *p, const struct moat_policy_input *in)
{
    const struct moat_create_req *r = in->req;
    char **out = NULL;
    /* images */
    if (!match_any(p->l[POL_IMAGES_ALLOW], in->image_name) && !match_any(p->l[POL_IMAGES_ALLOW], in->image_id))
        DENY(&out, p, POL_IMAGES_ALLOW, "image %s is not allowed",
             in->image_name ? in->image_name : in->image_id ? in->image_id : r->image ? r->image : "?");
    if (p->n[POL_IMAGES_SIGNED] == 2 || (p->n[POL_IMAGES_SIGNED] == 1 && in->image_from_registry))
        DENY(&out, p, POL_IMAGES_SIGNED, "image %s has no verified signature (signature verification arrives with "
                                         "the registry client)",
             in->image_name ? in->image_name : r->image ? r->image : "?");
    char **sec = moat_policy_eval_security(p, r);
    for (size_t i = 0; sec && sec[i]; i++)
        moat_strv_push(&out, sec[i]);
    moat_strv_free(sec);
    if (p->b[POL_RUN_AS_NON_ROOT]) {
        const char *user = r->user && r->user[0] ? r->user : in->image_user ? in->image_user : "";
        if (in->resolved_uid_known ? in->resolved_uid == 0 : moat_policy_user_is_root(user))
            DENY(&out, p, POL_RUN_AS_NON_ROOT, "the container would run as root (user '%s'): a non-root user is "
                                               "required (--user UID)",
                 user[0] ? user : "root");
    }
    if (p->b[POL_READONLY_ROOTFS] && !r->readonly_rootfs)
        DENY(&out, p, POL_READONLY_ROOTFS, "a read-only root filesystem is required");
    check_mounts(p, in, &out);
    check_network(p, r, &out);
    check_limits(p, r->memory, r->pids_limit, req_nano_cpus(r), false, &out);
    return out;
}

char **moat_policy_eval_exec(const struct moat_policy *p, const struct moat_exec_req *er, const char *ctr_user)
{
    char **out = NULL;
    if (!p->b[POL_EXEC])
        DENY(&out, p, POL_EXEC, "exec is not allowed");
    if (er->privileged && !p->b[POL_PRIVILEGED])
        DENY(&out, p, POL_PRIVILEGED, "privileged exec is not allowed");
    else if (er->privileged && (~(uint64_t)p->n[POL_CAPS_ALLOWED] & all_caps()))
        DENY(&out, p, POL_CAPS_ALLOWED, "a privileged exec holds every capability, and not all are allowed");
    const char *user = er->user && er->user[0] ? er->user : ctr_user;
    if (p->b[POL_RUN_AS_NON_ROOT] && user && moat_policy_user_is_root(user))
        DENY(&out, p, POL_RUN_AS_NON_ROOT, "exec as root (user '%s') is not allowed: a non-root user is required",
             user[0] ? user : "root");
    return out;
}

char **moat_policy_eval_simple(const struct moat_policy *p, enum moat_policy_rule rule, const char *what)
{
    char **out = NULL;
    if (rule < POL_N && !p->b[rule])
        DENY(&out, p, rule, "%s is not allowed", what);
    return out;
}

char **moat_policy_eval_update(const struct moat_policy *p, int64_t memory, int64_t pids, int64_t nano_cpus)
{
    char **out = NULL;
    check_limits(p, memory, pids, nano_cpus, true, &out);
    return out;
}
