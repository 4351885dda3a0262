/* Seccomp internals shared by seccomp.c, seccomp_profile.c, the generated
 * profile table and the unit tests.  Not part of the public API. */
#ifndef MOAT_SECCOMP_INTERNAL_H
#define MOAT_SECCOMP_INTERNAL_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/oci.h"

/* Name lookups for the OCI / Docker spellings.  Each returns 0 and the
 * libseccomp value, or -1 when the name is unknown. */
int moat_seccomp_arch_from_name(const char *name, uint32_t *ret);
int moat_seccomp_op_from_name(const char *name, int *ret);
int moat_seccomp_flag_from_name(const char *name, unsigned int *ret);
bool moat_seccomp_action_known(const char *name);
/* Whether an action takes errnoRet (SCMP_ACT_ERRNO, SCMP_ACT_TRACE). */
bool moat_seccomp_action_takes_errno(const char *name);

/* The -ENOSYS stub, prepended to libseccomp's program: for each audit
 * architecture in the filter, syscall numbers above the highest one the
 * profile names answer ENOSYS; everything else falls through to the filter.
 * On AUDIT_ARCH_X86_64 the x32 ABI shares the audit token and is told apart
 * by the 0x40000000 bit, so that entry has two halves. */
struct moat_seccomp_stub_part {
    bool present; /* false: no stub for this ABI, fall through */
    uint32_t max_nr;
};
struct moat_seccomp_stub_arch {
    uint32_t audit_arch;
    bool split_x32;                     /* only for AUDIT_ARCH_X86_64 */
    struct moat_seccomp_stub_part main; /* syscalls without the x32 bit (all of them if !split_x32) */
    struct moat_seccomp_stub_part x32;  /* syscalls with the x32 bit */
};
#define MOAT_SECCOMP_X32_BIT 0x40000000u
#define MOAT_SECCOMP_STUB_MAX_ARCHES 32

/* Build the stub for n arches (n <= MOAT_SECCOMP_STUB_MAX_ARCHES).  Its last
 * jump targets the instruction right after it.  Returns the length, 0 when
 * no arch needs a stub, -1 when n is too large. */
int moat_seccomp_build_stub(const struct moat_seccomp_stub_arch *arches, size_t n, struct sock_filter **ret,
                            size_t *ret_len);

/* The compiled program (stub included), for tests and debugging. */
struct moat_seccomp_prog;
const struct sock_filter *moat_seccomp_prog_insns(const struct moat_seccomp_prog *prog, size_t *ret_n);

/* Built-in profiles, generated at build time from profiles/seccomp/ *.json. */
struct moat_embedded_file {
    const char *name;
    const char *data;
    size_t len;
};
extern const struct moat_embedded_file moat_seccomp_embedded_profiles[];

/* seccomp_cache.c: compiled programs on disk (see the comment at its top).
 * The key: everything the compile depends on; -1 when there is none to be
 * had (no build id).  get: 0 and a verified program, or -1 (a miss).  put:
 * best effort, failures are only logged (debug). */
int moat_seccomp_cache_key(const struct oci_seccomp *sc, uint8_t **ret, size_t *ret_len);
void moat_seccomp_cache_name(const uint8_t *key, size_t key_len, char name[32]);
int moat_seccomp_cache_get(int dirfd, const uint8_t *key, size_t key_len, struct sock_filter **ret_insns,
                           size_t *ret_n, bool *ret_notify);
void moat_seccomp_cache_put(int dirfd, const uint8_t *key, size_t key_len, const struct sock_filter *insns, size_t n,
                            bool notify);

/* The running kernel's major.minor (from uname). */
int moat_kernel_version(unsigned *ret_major, unsigned *ret_minor);

#endif
