#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat/error.h"
#include "moat/util.h"

int moat_err_v(moat_error **err, int errnum, bool with_text, const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        abort();
    moat_error *e = xcalloc(1, sizeof(*e));
    e->errnum = errnum;
    if (errnum != 0 && with_text) {
        e->msg = xasprintf("%s: %s", text, strerror(errnum));
        free(text);
    } else {
        e->msg = text;
    }
    if (err) {
        moat_error_free(*err);
        *err = e;
    } else {
        moat_error_free(e);
    }
    return -1;
}

int moat_err(moat_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    moat_err_v(err, errnum, false, fmt, ap);
    va_end(ap);
    return -1;
}

int moat_err_errno(moat_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    moat_err_v(err, errnum, true, fmt, ap);
    va_end(ap);
    return -1;
}

int moat_err_sys(moat_error **err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    moat_err_v(err, saved, true, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

int moat_err_wrap(moat_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -1;
    char *ctx = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&ctx, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *msg = xasprintf("%s: %s", ctx, (*err)->msg ? (*err)->msg : "unknown error");
    free(ctx);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void moat_error_free(moat_error *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err);
}
