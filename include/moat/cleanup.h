/* Scope-bound cleanup and explicit ownership hand-off (see STYLE: crun, bubblewrap).
 * Destructors ignore NULL / -1, so a variable can be handed off with TAKE_PTR/TAKE_FD. */
#ifndef MOAT_CLEANUP_H
#define MOAT_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void moat_freep(void *p) { free(*(void **)p); }
static inline void moat_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void moat_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void moat_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}
void moat_strv_free(char **strv);
static inline void moat_strv_freep(char ***p) { moat_strv_free(*p); }

#define _cleanup_free_     _cleanup_(moat_freep)
#define _cleanup_close_    _cleanup_(moat_closep)
#define _cleanup_fclose_   _cleanup_(moat_fclosep)
#define _cleanup_closedir_ _cleanup_(moat_closedirp)
#define _cleanup_strv_     _cleanup_(moat_strv_freep)

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _t = (p);                                                                    \
        (p) = NULL;                                                                                \
        _t;                                                                                        \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _t = (fd);                                                                             \
        (fd) = -1;                                                                                 \
        _t;                                                                                        \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
