/* Seccomp: compile the OCI linux.seccomp section into a BPF program with
 * libseccomp, and load it at the last moment before execve.
 * Also: Docker's profile format (profiles/seccomp/NAME.json) -> OCI section. */
#ifndef MOAT_SECCOMP_H
#define MOAT_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"
#include "moat/oci.h"

struct json_object;
struct moat_seccomp_prog; /* a compiled filter, ready to load */

/* Compile (no side effects on the calling process).  Unknown actions,
 * operators, architectures or flags are errors that name the JSON path.
 * Unknown syscall names are skipped (a profile may name syscalls the running
 * kernel or libseccomp does not know).  Syscalls with a number above the
 * highest one the profile names (per architecture) answer ENOSYS, so libc's
 * fallbacks for syscalls newer than the profile keep working. */
int moat_seccomp_compile(const struct oci_seccomp *sc, struct moat_seccomp_prog **ret, moat_error **err);
/* The same, through a cache of compiled programs in the directory
 * `cache_dirfd` (private to the caller; -1: compile).  A hit gives the
 * program moat_seccomp_compile made for an identical section on this build,
 * libseccomp and kernel, after checking the file (see seccomp_cache.c); a
 * miss compiles and stores.  Errors are those of moat_seccomp_compile. */
int moat_seccomp_compile_cached(const struct oci_seccomp *sc, int cache_dirfd, struct moat_seccomp_prog **ret,
                                moat_error **err);
/* Load into the calling thread.  Needs no_new_privs or CAP_SYS_ADMIN in the
 * current user namespace.  When the profile uses SCMP_ACT_NOTIFY, the
 * listener fd is returned in *ret_notify_fd (else -1). */
int moat_seccomp_load(const struct moat_seccomp_prog *prog, int *ret_notify_fd, moat_error **err);
void moat_seccomp_prog_free(struct moat_seccomp_prog *prog);
bool moat_seccomp_prog_needs_notify(const struct moat_seccomp_prog *prog);

/* Convert a profile in Docker's format to an OCI linux.seccomp object for a
 * container that will hold capabilities `caps` (bit n = CAP number n):
 * resolves includes/excludes by caps, arches (x86_64 host: the archMap entry
 * for SCMP_ARCH_X86_64) and minKernel (compared with the running kernel). */
int moat_seccomp_profile_to_oci(const char *buf, size_t len, const char *what, uint64_t caps,
                                struct json_object **ret, moat_error **err);

/* The built-in profiles, embedded at build time from profiles/seccomp/. */
const char *moat_seccomp_builtin_profile(const char *name, size_t *ret_len); /* "default", "restricted" */

#endif
