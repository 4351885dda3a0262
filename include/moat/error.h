/* One error type, carried up with context.
 *
 * A failing function returns a negative value and sets *err (never both
 * printed and returned).  Each layer that passes the error up may prefix what
 * it was doing with moat_err_wrap(), so the user finally reads e.g.
 *   "create container c1: mount proc on '/proc': mount: Operation not permitted"
 * Library code never prints; the CLI or the API answer prints once. */
#ifndef MOAT_ERROR_H
#define MOAT_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

typedef struct moat_error {
    int errnum; /* errno of the innermost failure, 0 if not a system error */
    char *msg;  /* full text, heap-allocated */
} moat_error;

/* Set *err to "<fmt>" with errnum as its class (EINVAL for bad input, ENOENT
 * for a missing object...).  Always returns -1: `return moat_err(...)`. */
int moat_err(moat_error **err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A failed system call: "<fmt>: strerror(errnum)". */
int moat_err_errno(moat_error **err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same with the current errno. */
int moat_err_sys(moat_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix context: "<fmt>: <previous message>".  Returns -1. */
int moat_err_wrap(moat_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int moat_err_v(moat_error **err, int errnum, bool with_text, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void moat_error_free(moat_error *err);
static inline void moat_error_freep(moat_error **err)
{
    moat_error_free(*err);
    *err = 0;
}
#define _cleanup_error_ __attribute__((cleanup(moat_error_freep)))

#endif
