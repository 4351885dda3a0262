/* Linux security modules: AppArmor and SELinux labels (libapparmor,
 * libselinux), and Landlock (beyond Docker and podman).
 *
 * Labels: when the config asks for a label and the LSM is not active on the
 * host, that is an error naming the LSM and saying it is not enabled, unless
 * the annotation run.moat.lsm.optional is true, in which case it is a warning. */
#ifndef MOAT_LSM_H
#define MOAT_LSM_H

#include <stdbool.h>

#include "moat/error.h"
#include "moat/oci.h"

struct moat_lsm_plan {
    char *apparmor_profile; /* NULL: nothing to apply */
    char *selinux_label;    /* process label, NULL: nothing */
    char *mount_label;      /* context= for tmpfs/mqueue/devpts, NULL: nothing */
};

bool moat_apparmor_enabled(void);
bool moat_selinux_enabled(void);

/* Decide what to apply for a process (process.apparmorProfile,
 * process.selinuxLabel, linux.mountLabel).  Runs before any namespace work so
 * that a refusal comes early and clearly. */
int moat_lsm_plan_make(const struct oci_spec *spec, const struct oci_process *proc, struct moat_lsm_plan *plan,
                       moat_error **err);
/* Arrange for the labels to take effect at the next execve (aa_change_onexec,
 * setexeccon).  Called in the container process right before execve. */
int moat_lsm_apply_exec(const struct moat_lsm_plan *plan, moat_error **err);
/* "context=\"...\"" mount data for a filesystem mount, or NULL. */
char *moat_lsm_mount_option(const struct moat_lsm_plan *plan);
void moat_lsm_plan_clear(struct moat_lsm_plan *plan);

/* Landlock, from the annotation run.moat.landlock:
 *   absent / "false"  -> nothing
 *   "true" / "rootfs" -> file access only beneath the container's own root
 *                        (its rootfs and the mounts on it); IPC scoping
 *                        (abstract unix sockets, signals) where the kernel has it.
 * Requested but unsupported by the kernel: an error. */
struct moat_landlock;
int moat_landlock_prepare(const struct oci_spec *spec, struct moat_landlock **ret, moat_error **err);
/* Apply in the container process after pivot_root (so "/" is the container
 * root), while it still holds CAP_SYS_ADMIN in its user namespace or after
 * no_new_privs is set (landlock_restrict_self needs one of the two). */
/* root_fd: a directory fd of the container root (open("/") after pivot_root);
 * access is allowed only beneath it.  A NULL ll is a no-op. */
int moat_landlock_apply(const struct moat_landlock *ll, int root_fd, moat_error **err);
int moat_landlock_abi(void); /* kernel's Landlock ABI version, 0 if none */
void moat_landlock_free(struct moat_landlock *ll);

#endif
