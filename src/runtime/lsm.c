/* AppArmor and SELinux labels for a container process (libapparmor,
 * libselinux).
 *
 * Plan, then apply: moat_lsm_plan_make() runs early in create/exec and either
 * returns what to apply or refuses with a message that names the label and
 * why it cannot be applied; moat_lsm_apply_exec() runs in the container
 * process right before execve and only performs the plan. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/apparmor.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <selinux/context.h>
#include <selinux/selinux.h>

#include "moat/cleanup.h"
#include "moat/log.h"
#include "moat/lsm.h"
#include "moat/util.h"
#include "runtime/lsm-internal.h"

#define PROC_ROOT_INO 1

bool moat_apparmor_enabled(void) { return aa_is_enabled() == 1; }

bool moat_selinux_enabled(void) { return is_selinux_enabled() > 0; }

/* ---- label syntax ------------------------------------------------------- */

/* A label as it may appear in an error message: control bytes escaped,
 * long ones cut, so a hostile config cannot forge log lines. */
static char *shown(const char *s)
{
    size_t cap = 4 * 80 + 4, o = 0;
    char *buf = xmalloc(cap);
    for (size_t i = 0; s[i]; i++) {
        if (i == 80) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/* Common bounds: non-empty, at most MOAT_LSM_LABEL_MAX bytes, no control
 * bytes (a newline would end the procattr write early). */
static int label_bounds_check(const char *s, const char *what, moat_error **err)
{
    size_t n = strnlen(s, MOAT_LSM_LABEL_MAX + 1);
    if (n == 0)
        return moat_err(err, EINVAL, "%s is empty", what);
    if (n > MOAT_LSM_LABEL_MAX) {
        _cleanup_free_ char *v = shown(s);
        return moat_err(err, EINVAL, "%s '%s' is longer than %d bytes", what, v, MOAT_LSM_LABEL_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            _cleanup_free_ char *v = shown(s);
            return moat_err(err, EINVAL, "%s '%s' contains a control character at byte %zu", what, v, i);
        }
    }
    return 0;
}

int moat_apparmor_profile_check(const char *profile, moat_error **err)
{
    if (label_bounds_check(profile, "AppArmor profile", err) < 0)
        return -1;
    size_t n = strlen(profile);
    if (profile[0] == ' ' || profile[n - 1] == ' ')
        return moat_err(err, EINVAL, "AppArmor profile '%s' has leading or trailing spaces", profile);
    return 0;
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *skip_ident(const char *p)
{
    while (ident_char(*p))
        p++;
    return p;
}

/* level := sensitivity [ ":" category { "," category } ]
 * category := name [ "." name ]      ("s0", "s0:c1,c2", "s0:c0.c1023")
 * Returns the end of the level, or NULL when it is malformed. */
static const char *parse_level(const char *p)
{
    const char *q = skip_ident(p);
    if (q == p)
        return NULL;
    if (*q != ':')
        return q;
    do {
        p = q + 1;
        q = skip_ident(p);
        if (q == p)
            return NULL;
        if (*q == '.') {
            p = q + 1;
            q = skip_ident(p);
            if (q == p)
                return NULL;
        }
    } while (*q == ',');
    return q;
}

/* range := level [ "-" level ] */
static bool mls_range_ok(const char *r)
{
    const char *p = parse_level(r);
    if (p && *p == '-')
        p = parse_level(p + 1);
    return p && *p == '\0';
}

/* user, role and type: policy identifiers (letters, digits, _ . -). */
static bool selinux_name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!ident_char(*s) && *s != '.' && *s != '-')
            return false;
    return true;
}

/* The shape user:role:type[:range], checked without selinuxfs: libselinux's
 * context_new() splits it, the components are then checked here.  Quotes,
 * spaces and other punctuation are refused, which also keeps the context="..."
 * mount option well-formed. */
int moat_selinux_context_check(const char *context, const char *what, moat_error **err)
{
    if (label_bounds_check(context, what, err) < 0)
        return -1;
    context_t c = context_new(context);
    bool ok = c && context[strlen(context) - 1] != ':' && selinux_name_ok(context_user_get(c)) &&
              selinux_name_ok(context_role_get(c)) && selinux_name_ok(context_type_get(c)) &&
              (!context_range_get(c) || mls_range_ok(context_range_get(c)));
    if (c)
        context_free(c);
    if (!ok)
        return moat_err(err, EINVAL, "%s '%s' is not an SELinux context of the form user:role:type[:level]",
                        what, context);
    return 0;
}

/* ---- the decision ------------------------------------------------------- */

static const char *nonempty(const char *s) { return s && *s ? s : NULL; }

/* One requested label: keep it (LSM active), drop it with a warning (LSM
 * inactive, optional), or refuse. */
static int want_label(const char *what, const char *lsm, const char *value, bool active, bool optional,
                      char **slot, moat_error **err)
{
    if (active) {
        *slot = xstrdup(value);
        return 0;
    }
    if (optional) {
        moat_log(MOAT_LOG_WARN, "%s '%s' requested, but %s is not enabled on this host; running without it (%s=true)",
                 what, value, lsm, MOAT_LSM_OPTIONAL_ANNOTATION);
        return 0;
    }
    return moat_err(err, EOPNOTSUPP,
                    "%s '%s' requested, but %s is not enabled on this host (set %s=true to run without it)", what,
                    value, lsm, MOAT_LSM_OPTIONAL_ANNOTATION);
}

int moat_lsm_plan_decide(const struct oci_spec *spec, const struct oci_process *proc,
                         const struct moat_lsm_host *host, struct moat_lsm_plan *plan, moat_error **err)
{
    memset(plan, 0, sizeof(*plan));
    if (!proc && spec)
        proc = spec->process;
    const char *aa = proc ? nonempty(proc->apparmor_profile) : NULL;
    const char *se = proc ? nonempty(proc->selinux_label) : NULL;
    const char *ml = spec ? nonempty(spec->linux_.mount_label) : NULL;
    bool optional = spec && oci_annotation_true(spec, MOAT_LSM_OPTIONAL_ANNOTATION);

    /* Bad input is refused whatever the host and the optional flag say. */
    if ((aa && moat_apparmor_profile_check(aa, err) < 0) ||
        (se && moat_selinux_context_check(se, "SELinux label", err) < 0) ||
        (ml && moat_selinux_context_check(ml, "SELinux mount label", err) < 0))
        return -1;
    /* "unconfined" is an explicit choice of no AppArmor profile: nothing to
     * apply on any host.  The process keeps the confinement of the runtime
     * that starts it, which is unconfined unless the operator confined the
     * runtime itself, and then staying confined is the safer reading. */
    if (aa && strcmp(aa, "unconfined") == 0)
        aa = NULL;

    if ((aa && want_label("AppArmor profile", "AppArmor", aa, host->apparmor, optional, &plan->apparmor_profile,
                          err) < 0) ||
        (se && want_label("SELinux label", "SELinux", se, host->selinux, optional, &plan->selinux_label, err) < 0) ||
        (ml && want_label("SELinux mount label", "SELinux", ml, host->selinux, optional, &plan->mount_label, err) <
                   0)) {
        moat_lsm_plan_clear(plan);
        return -1;
    }
    return 0;
}

int moat_lsm_plan_make(const struct oci_spec *spec, const struct oci_process *proc, struct moat_lsm_plan *plan,
                       moat_error **err)
{
    const struct oci_process *p = proc ? proc : spec ? spec->process : NULL;
    /* Ask the kernel only about what is requested: most containers ask nothing. */
    struct moat_lsm_host host = {false, false};
    if (p && nonempty(p->apparmor_profile))
        host.apparmor = moat_apparmor_enabled();
    if ((p && nonempty(p->selinux_label)) || (spec && nonempty(spec->linux_.mount_label)))
        host.selinux = moat_selinux_enabled();
    if (moat_lsm_plan_decide(spec, p, &host, plan, err) < 0)
        return -1;

    /* With SELinux active, let the loaded policy judge the contexts now
     * rather than at execve or mount time, deep inside the container setup. */
    const char *ctx[] = {plan->selinux_label, plan->mount_label};
    const char *what[] = {"SELinux label", "SELinux mount label"};
    for (size_t i = 0; i < ARRAY_SIZE(ctx); i++) {
        if (ctx[i] && security_check_context(ctx[i]) < 0 && errno == EINVAL) {
            int r = moat_err(err, EINVAL, "%s '%s' is not a valid context under the loaded SELinux policy", what[i],
                             ctx[i]);
            moat_lsm_plan_clear(plan);
            return r;
        }
    }
    return 0;
}

/* ---- applying ----------------------------------------------------------- */

int moat_lsm_procattr_check(const char *attr, moat_error **err)
{
    _cleanup_close_ int procfd = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (procfd < 0)
        return moat_err_sys(err, "open '/proc'");
    struct statfs sfs;
    struct stat st;
    if (fstatfs(procfd, &sfs) < 0 || fstat(procfd, &st) < 0)
        return moat_err_sys(err, "fstatfs '/proc'");
    if (sfs.f_type != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO)
        return moat_err(err, EXDEV, "'/proc' is not the root of a procfs mount: refusing to write an LSM label");

    /* No mount point anywhere on the way: a bind mount over the attribute
     * file (or a directory above it) would redirect the label write. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, procfd, attr, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        /* Kernels before 5.6: at least insist on the same procfs instance. */
        struct stat fst;
        fd = openat(procfd, attr, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &fst) == 0 && fst.st_dev != st.st_dev)
            return moat_err(err, EXDEV, "'/proc/%s' is not on the procfs mounted at '/proc': refusing to write an "
                            "LSM label through it", attr);
    }
    if (fd < 0 && errno == EXDEV)
        return moat_err(err, EXDEV, "'/proc/%s' crosses a mount point: refusing to write an LSM label through it",
                        attr);
    if (fd < 0)
        return moat_err_sys(err, "open '/proc/%s'", attr);
    return 0;
}

/* libapparmor writes /proc/<tid>/attr/apparmor/exec, or /proc/<tid>/attr/exec
 * on kernels without the per-LSM directory; check the one it will use. */
static int apparmor_procattr_check(moat_error **err)
{
    _cleanup_free_ char *attr = xasprintf("%d/attr/apparmor/exec", (int)gettid());
    if (moat_lsm_procattr_check(attr, err) == 0)
        return 0;
    if ((*err)->errnum != ENOENT)
        return -1;
    moat_error_freep(err);
    free(attr);
    attr = xasprintf("%d/attr/exec", (int)gettid());
    return moat_lsm_procattr_check(attr, err);
}

int moat_lsm_apply_exec(const struct moat_lsm_plan *plan, moat_error **err)
{
    if (!plan)
        return 0;
    if (plan->apparmor_profile) {
        if (apparmor_procattr_check(err) < 0)
            return moat_err_wrap(err, "AppArmor profile '%s'", plan->apparmor_profile);
        if (aa_change_onexec(plan->apparmor_profile) < 0)
            return moat_err_sys(err, "aa_change_onexec('%s')", plan->apparmor_profile);
    }
    if (plan->selinux_label) {
        /* libselinux writes /proc/thread-self/attr/exec. */
        if (moat_lsm_procattr_check("thread-self/attr/exec", err) < 0)
            return moat_err_wrap(err, "SELinux label '%s'", plan->selinux_label);
        if (setexeccon(plan->selinux_label) < 0)
            return moat_err_sys(err, "setexeccon('%s')", plan->selinux_label);
    }
    return 0;
}

char *moat_lsm_mount_option(const struct moat_lsm_plan *plan)
{
    if (!plan || !plan->mount_label)
        return NULL;
    /* The kernel splits mount data on commas outside double quotes, so an MLS
     * range like s0:c1,c2 survives only quoted.  The label has been checked
     * to contain no quote. */
    return xasprintf("context=\"%s\"", plan->mount_label);
}

void moat_lsm_plan_clear(struct moat_lsm_plan *plan)
{
    if (!plan)
        return;
    free(plan->apparmor_profile);
    free(plan->selinux_label);
    free(plan->mount_label);
    memset(plan, 0, sizeof(*plan));
}
