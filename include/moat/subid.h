/* Subordinate id ranges (/etc/subuid, /etc/subgid) through libsubid, loaded
 * on first use with dlopen: linked in, libsubid and what it pulls in
 * (libsemanage, libsepol, libpam, libaudit, libcrypt...) cost every process
 * start dynamic linking and stay mapped (and partly resident) in moatd for
 * its whole life, for a lookup done once. */
#ifndef MOAT_SUBID_H
#define MOAT_SUBID_H

#include <stdbool.h>

#include "moat/error.h"

/* The first range of `owner` with at least one id: 1 found (*start, *count
 * set), 0 none, -1 libsubid could not be loaded (*err set). */
int moat_subid_first_range(const char *owner, bool uid, unsigned long *start, unsigned long *count,
                           moat_error **err);

#endif
