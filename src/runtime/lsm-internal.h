/* Internals of the LSM and Landlock module, split out so that the decision
 * logic (pure: spec + host facts -> plan or error) can be unit-tested on any
 * host, whatever LSMs its kernel runs.  Not part of the public API. */
#ifndef MOAT_RUNTIME_LSM_INTERNAL_H
#define MOAT_RUNTIME_LSM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "moat/error.h"
#include "moat/lsm.h"
#include "moat/oci.h"

#define MOAT_LSM_OPTIONAL_ANNOTATION "run.moat.lsm.optional"
#define MOAT_LANDLOCK_ANNOTATION "run.moat.landlock"
/* A label is written to /proc/thread-self/attr/exec in one write; the kernel
 * takes at most a page.  Well below that is plenty for any real label. */
#define MOAT_LSM_LABEL_MAX 1024

/* What the host offers.  moat_lsm_plan_make() asks the kernel; tests pass it. */
struct moat_lsm_host {
    bool apparmor;
    bool selinux;
};

/* Label syntax checks (no kernel or policy needed).  `what` names the field
 * in the message ("SELinux label", "SELinux mount label"). */
int moat_apparmor_profile_check(const char *profile, moat_error **err);
int moat_selinux_context_check(const char *context, const char *what, moat_error **err);

/* The whole decision of moat_lsm_plan_make() given the host's facts:
 * validate, then apply / warn and skip (run.moat.lsm.optional) / refuse. */
int moat_lsm_plan_decide(const struct oci_spec *spec, const struct oci_process *proc,
                         const struct moat_lsm_host *host, struct moat_lsm_plan *plan, moat_error **err);

/* Refuse to write a label through /proc/thread-self/attr/<attr> unless /proc
 * is the root of a procfs mount and no mount point lies on the way to the
 * attribute file (CVE-2025-52881: label writes redirected by a mount). */
int moat_lsm_procattr_check(const char *attr, moat_error **err);

/* Landlock. */
/* run.moat.landlock value -> on/off; NULL means absent.  Anything but the
 * accepted values is an error that lists them. */
int moat_landlock_parse_mode(const char *value, bool *ret_on, moat_error **err);
/* A plan for a kernel with Landlock ABI `abi`; abi <= 0 is an error that says
 * why (abi_errno: what landlock_create_ruleset returned). */
int moat_landlock_plan_new(int abi, int abi_errno, struct moat_landlock **ret, moat_error **err);
/* Filesystem access rights and IPC scopes a kernel of that ABI knows. */
uint64_t moat_landlock_fs_access(int abi);
uint64_t moat_landlock_scopes(int abi);
int moat_landlock_plan_abi(const struct moat_landlock *ll);

#endif
