#ifndef MOAT_UTIL_H
#define MOAT_UTIL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/cleanup.h"
#include "moat/error.h"

/* Allocation that cannot fail: out of memory aborts (there is no sane recovery). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xstrdup_or_null(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NULL-terminated string vectors. */
size_t moat_strv_len(char *const *v);
char **moat_strv_dup(char *const *v);
void moat_strv_push(char ***v, const char *s); /* copies s */
bool moat_strv_contains(char *const *v, const char *s);

bool moat_str_has_prefix(const char *s, const char *prefix);
/* Parse a decimal integer with full-string and range checks. */
int moat_parse_u64(const char *s, uint64_t *ret);
int moat_parse_i64(const char *s, int64_t *ret);

/* I/O that retries on EINTR and short counts. */
ssize_t moat_write_all(int fd, const void *buf, size_t len);
ssize_t moat_read_all(int fd, void *buf, size_t len);
/* Read a whole file (fd or path relative to dirfd) with a size bound. */
int moat_read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len, moat_error **err);
/* One fd over a unix socket (SCM_RIGHTS) with a short name as the data; the
 * received fd is close-on-exec. */
int moat_send_fd(int sock, int fd, const char *name, moat_error **err);
int moat_recv_fd(int sock, int *ret_fd, moat_error **err);
int moat_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, moat_error **err);
/* Write a small string to an existing file (procfs, cgroupfs, sysfs). */
int moat_write_file_at(int dirfd, const char *path, const char *data, moat_error **err);
/* Atomic replace: temp file, write, fsync, rename, fsync directory. */
/* A directory that must be ours and private: created 0700 when missing; refused (EPERM) when
 * it is not a directory (a symlink is not followed) or not owned by the effective uid; made
 * 0700 when group or others have bits. */
int moat_private_dir(const char *path, moat_error **err);
int moat_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           moat_error **err);
/* The same replace without the fsyncs: whole or not at all if the writer dies, not durable
 * across a power loss.  Only for files made again before every use (a bundle's config.json). */
int moat_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                            moat_error **err);

/* Monotonic clock in nanoseconds. */
uint64_t moat_now_ns(void);
/* RFC 3339 UTC timestamp with nanoseconds into buf (>= 40 bytes). */
void moat_rfc3339_now(char *buf, size_t len);

/* Mark every fd >= from close-on-exec (close_range with a /proc fallback). */
int moat_cloexec_from(int from);

#endif
