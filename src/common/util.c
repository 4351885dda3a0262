#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "moat/util.h"

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        abort();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

char *xstrdup(const char *s)
{
    char *r = strdup(s);
    if (!r)
        abort();
    return r;
}

char *xstrdup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

char *xstrndup(const char *s, size_t n)
{
    char *r = strndup(s, n);
    if (!r)
        abort();
    return r;
}

char *xasprintf(const char *fmt, ...)
{
    char *r = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&r, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return r;
}

void moat_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t moat_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **moat_strv_dup(char *const *v)
{
    size_t n = moat_strv_len(v);
    char **r = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r[i] = xstrdup(v[i]);
    return r;
}

void moat_strv_push(char ***v, const char *s)
{
    size_t n = moat_strv_len(*v);
    *v = xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = xstrdup(s);
    (*v)[n + 1] = NULL;
}

bool moat_strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

bool moat_str_has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

int moat_parse_u64(const char *s, uint64_t *ret)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int moat_parse_i64(const char *s, int64_t *ret)
{
    if (!s || !*s || *s == ' ' || *s == '+')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

ssize_t moat_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t moat_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int moat_read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len, moat_error **err)
{
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                return moat_err(err, EFBIG, "file is larger than the %zu byte limit", max);
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return moat_err_sys(err, "read");
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return moat_err(err, EFBIG, "file is larger than the %zu byte limit", max);
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int moat_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, moat_error **err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", path);
    if (moat_read_fd_bounded(fd, max, ret, ret_len, err) < 0)
        return moat_err_wrap(err, "'%s'", path);
    return 0;
}

int moat_write_file_at(int dirfd, const char *path, const char *data, moat_error **err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", path);
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    if (n < 0)
        return moat_err_sys(err, "write '%s' to '%s'", data, path);
    if ((size_t)n != len)
        return moat_err(err, EIO, "short write of '%s' to '%s'", data, path);
    return 0;
}

static int write_file_renamed(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable,
                              moat_error **err)
{
    const char *slash = strrchr(name, '/');
    if (slash) {
        _cleanup_free_ char *dir = slash == name ? xstrdup("/") : xstrndup(name, (size_t)(slash - name));
        _cleanup_close_ int dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return moat_err_sys(err, "open directory '%s'", dir);
        return write_file_renamed(dfd, slash + 1, data, len, mode, durable, err);
    }
    _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%d", name, (int)getpid());
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return moat_err_sys(err, "create '%s'", tmp);
    if (moat_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return moat_err_errno(err, e, "write '%s'", tmp);
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return moat_err_errno(err, e, "rename '%s' to '%s'", tmp, name);
    }
    /* Make the rename itself durable. */
    if (durable && fsync(dirfd) < 0 && errno != EBADF && errno != EINVAL)
        return moat_err_sys(err, "fsync directory of '%s'", name);
    return 0;
}

int moat_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, moat_error **err)
{
    return write_file_renamed(dirfd, name, data, len, mode, true, err);
}

int moat_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode, moat_error **err)
{
    return write_file_renamed(dirfd, name, data, len, mode, false, err);
}

uint64_t moat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void moat_rfc3339_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%09ldZ", base, ts.tv_nsec);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int moat_cloexec_from(int from)
{
    if (syscall(SYS_close_range, (unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    /* Older kernels: walk /proc/self/fd. */
    _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t fd;
        if (moat_parse_i64(de->d_name, &fd) < 0 || fd < from || fd == dfd || fd > INT_MAX)
            continue;
        int fl = fcntl((int)fd, F_GETFD);
        if (fl >= 0)
            fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
    }
    return 0;
}

int moat_private_dir(const char *path, moat_error **err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return moat_err_sys(err, "create '%s'", path);
    struct stat st;
    if (lstat(path, &st) < 0)
        return moat_err_sys(err, "stat '%s'", path);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return moat_err(err, EPERM, "'%s' is not a directory owned by uid %u: refusing to use it", path,
                        (unsigned)geteuid());
    if ((st.st_mode & 077) && chmod(path, 0700) < 0)
        return moat_err_sys(err, "make '%s' private", path);
    return 0;
}

int moat_send_fd(int sock, int fd, const char *name, moat_error **err)
{
    char buf[CMSG_SPACE(sizeof(int))];
    memset(buf, 0, sizeof(buf));
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name) + 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return moat_err_sys(err, "sendmsg (SCM_RIGHTS)");
    return 0;
}

int moat_recv_fd(int sock, int *ret_fd, moat_error **err)
{
    char name[256];
    char buf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf)};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return moat_err_sys(err, "recvmsg (SCM_RIGHTS)");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return moat_err(err, EPROTO, "no file descriptor received");
    memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    return 0;
}
