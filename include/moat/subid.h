/* Subordinate id ranges (/etc/subuid, /etc/subgid) through libsubid, loaded
 * on first use with dlopen: linked in, libsubid and what it pulls in
 * (libsemanage, libsepol, libpam, libaudit, libcrypt...) cost every process
 * start dynamic linking and stay mapped (and partly resident) in moatd for
 * its whole life, for a lookup done once. */
#ifndef MOAT_SUBID_H
#define MOAT_SUBID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

/* The first range of `owner` with at least one id: 1 found (*start, *count
 * set), 0 none, -1 libsubid could not be loaded (*err set). */
int moat_subid_first_range(const char *owner, bool uid, unsigned long *start, unsigned long *count,
                           moat_error **err);

/* One line of a uid or gid map: container id, host id, count. */
struct moat_idmap {
    uint32_t cid, hid, size;
};

/* Write `pid`'s uid or gid map through the setuid helper `helper`
 * (newuidmap or newgidmap, Debian's uidmap package), which checks the ranges
 * against /etc/subuid or /etc/subgid.  Its stderr's first line becomes the
 * error; `needed_by` says who needs the helper when it is missing. */
int moat_idmap_helper(const char *helper, pid_t pid, const struct moat_idmap *m, size_t n, const char *needed_by,
                      moat_error **err);

#endif
