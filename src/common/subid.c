/* Subordinate id ranges through a lazily loaded libsubid (see include/moat/subid.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#include <shadow/subid.h>

#include "moat/subid.h"

/* The soname libsubid-dev links against (Debian: libsubid4). */
#define LIBSUBID_SONAME "libsubid.so.4"
typedef int (*subid_ranges_fn)(const char *owner, struct subid_range **ranges);

static subid_ranges_fn subid_fn(bool uid, moat_error **err)
{
    static void *lib;
    if (!lib && !(lib = dlopen(LIBSUBID_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE))) {
        moat_err(err, ENOENT, "load %s (Debian: libsubid4): %s", LIBSUBID_SONAME, dlerror());
        return NULL;
    }
    const char *name = uid ? "subid_get_uid_ranges" : "subid_get_gid_ranges";
    subid_ranges_fn fn = (subid_ranges_fn)dlsym(lib, name);
    if (!fn)
        moat_err(err, ENOENT, "%s has no %s", LIBSUBID_SONAME, name);
    return fn;
}

int moat_subid_first_range(const char *owner, bool uid, unsigned long *start, unsigned long *count,
                           moat_error **err)
{
    struct subid_range *r = NULL;
    subid_ranges_fn fn = subid_fn(uid, err);
    if (!fn)
        return -1;
    int n = fn(owner, &r);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].count >= 1) {
            *start = r[i].start;
            *count = r[i].count;
            found = 1;
            break;
        }
    }
    free(r);
    return found;
}
