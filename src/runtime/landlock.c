/* Landlock for containers (annotation run.moat.landlock; see docs/landlock.md).
 *
 * One rule: every filesystem access right the kernel knows is handled, and
 * all of them are allowed beneath the container root.  Inside the container
 * nothing changes; anything reached through a path that is not beneath the
 * root (a leaked host fd, /proc/<pid>/root of a host process, a magic link)
 * is refused with EACCES.  Where the kernel has IPC scoping (ABI 6), the
 * container also cannot connect to abstract unix sockets or signal processes
 * outside its own domain.  Network ports are not restricted.
 *
 * glibc 2.36 has no wrappers and Debian 12's <linux/landlock.h> predates
 * ABI 3, so the newer constants and the full ruleset attribute are defined
 * here.  The kernel copies the attribute with copy_struct_from_user: an older
 * kernel accepts the longer struct as long as the fields it lacks are zero,
 * which the ABI masks below guarantee. */
#include <errno.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "moat/cleanup.h"
#include "moat/lsm.h"
#include "moat/util.h"
#include "runtime/lsm-internal.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */
#endif

/* ABI 1: execute, read/write files, read dirs, remove and make every kind of node. */
#define LL_FS_ABI1 ((1ULL << 13) - 1)

/* struct landlock_ruleset_attr as of ABI 6 (handled_access_net: ABI 4). */
struct moat_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

/* ABI 1..3 kernels take an 8-byte struct; a 24-byte one with zero tail is fine. */
_Static_assert(sizeof(struct moat_ll_ruleset_attr) == 24, "landlock_ruleset_attr layout");

struct moat_landlock {
    int abi;
};

static int ll_abi_errno(int *ret_errno)
{
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    *ret_errno = v < 0 ? errno : 0;
    return v < 0 ? 0 : (int)v;
}

int moat_landlock_abi(void)
{
    int e;
    return ll_abi_errno(&e);
}

uint64_t moat_landlock_fs_access(int abi)
{
    uint64_t m = 0;
    if (abi >= 1)
        m |= LL_FS_ABI1;
    if (abi >= 2)
        m |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        m |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        m |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return m;
}

uint64_t moat_landlock_scopes(int abi)
{
    return abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0;
}

int moat_landlock_parse_mode(const char *value, bool *ret_on, moat_error **err)
{
    if (!value || strcmp(value, "false") == 0) {
        *ret_on = false;
        return 0;
    }
    if (strcmp(value, "true") == 0 || strcmp(value, "rootfs") == 0) {
        *ret_on = true;
        return 0;
    }
    char shown[40];
    size_t n = 0;
    for (const char *p = value; *p && n < sizeof(shown) - 4; p++)
        shown[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    memcpy(shown + n, value[n] ? "..." : "", value[n] ? 4 : 1);
    return moat_err(err, EINVAL, "annotation %s: invalid value '%s' (accepted: true, rootfs, false)",
                    MOAT_LANDLOCK_ANNOTATION, shown);
}

int moat_landlock_plan_new(int abi, int abi_errno, struct moat_landlock **ret, moat_error **err)
{
    if (abi <= 0) {
        const char *why = abi_errno == ENOSYS       ? "the kernel was built without Landlock"
                          : abi_errno == EOPNOTSUPP ? "Landlock is built in but not enabled (add landlock to the "
                                                      "kernel's lsm= boot parameter)"
                                                    : "Landlock is not usable";
        return moat_err(err, abi_errno ? abi_errno : EOPNOTSUPP,
                        "annotation %s requested, but %s (landlock_create_ruleset: %s)", MOAT_LANDLOCK_ANNOTATION,
                        why, strerror(abi_errno ? abi_errno : EOPNOTSUPP));
    }
    struct moat_landlock *ll = xcalloc(1, sizeof(*ll));
    ll->abi = abi;
    *ret = ll;
    return 0;
}

int moat_landlock_plan_abi(const struct moat_landlock *ll) { return ll ? ll->abi : 0; }

int moat_landlock_prepare(const struct oci_spec *spec, struct moat_landlock **ret, moat_error **err)
{
    bool on;
    *ret = NULL;
    if (moat_landlock_parse_mode(spec ? oci_annotation(spec, MOAT_LANDLOCK_ANNOTATION) : NULL, &on, err) < 0)
        return -1;
    if (!on)
        return 0;
    int e;
    int abi = ll_abi_errno(&e);
    return moat_landlock_plan_new(abi, e, ret, err);
}

int moat_landlock_apply(const struct moat_landlock *ll, int root_fd, moat_error **err)
{
    if (!ll)
        return 0;
    struct stat st;
    if (fstat(root_fd, &st) < 0)
        return moat_err_sys(err, "landlock: fstat container root fd %d", root_fd);
    if (!S_ISDIR(st.st_mode))
        return moat_err(err, ENOTDIR, "landlock: container root fd %d is not a directory", root_fd);

    /* Network access (handled_access_net) is deliberately left unhandled. */
    struct moat_ll_ruleset_attr attr = {
        .handled_access_fs = moat_landlock_fs_access(ll->abi),
        .scoped = moat_landlock_scopes(ll->abi),
    };
    _cleanup_close_ int rfd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rfd < 0)
        return moat_err_sys(err, "landlock_create_ruleset (ABI %d, fs 0x%llx, scoped 0x%llx)", ll->abi,
                            (unsigned long long)attr.handled_access_fs, (unsigned long long)attr.scoped);

    struct landlock_path_beneath_attr beneath = {
        .allowed_access = attr.handled_access_fs,
        .parent_fd = root_fd,
    };
    if (syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0)
        return moat_err_sys(err, "landlock_add_rule (everything beneath the container root)");

    /* Applies to the calling thread and its future children; the runtime is
     * single-threaded here.  No no_new_privs is set on purpose: the caller
     * either holds CAP_SYS_ADMIN in its user namespace or has set it. */
    if (syscall(__NR_landlock_restrict_self, rfd, 0) < 0) {
        if (errno == EPERM)
            return moat_err(err, EPERM,
                            "landlock_restrict_self: Operation not permitted (the process needs no_new_privs or "
                            "CAP_SYS_ADMIN in its user namespace)");
        return moat_err_sys(err, "landlock_restrict_self");
    }
    return 0;
}

void moat_landlock_free(struct moat_landlock *ll) { free(ll); }
