/* CVE-2019-5736 class: a container process must never be able to open the
 * runtime binary for writing through /proc/<pid>/exe.  Commands that enter a
 * container re-execute themselves from a sealed, read-only memfd copy, so
 * /proc/self/exe of every runtime process that touches a container is that
 * copy, not the file on the host. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern char **environ;

bool sealed_is_sealed(void)
{
    _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL);
}

/* A sealed, read-only memfd copy of the executable open on src. */
static int sealed_copy_fd(int src, moat_error **err)
{
    struct stat st;
    if (fstat(src, &st) < 0)
        return moat_err_sys(err, "stat the runtime binary");
    _cleanup_close_ int mfd = memfd_create("moat-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (mfd < 0 && errno == EINVAL)
        mfd = memfd_create("moat-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return moat_err_sys(err, "memfd_create");
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return moat_err_errno(err, n < 0 ? errno : EIO, "copy the runtime binary into a sealed memfd");
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return moat_err_sys(err, "seal the runtime binary copy");
    return TAKE_FD(mfd);
}

int moat_rt_sealed_copy(const char *path, int *ret_fd, moat_error **err)
{
    _cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return moat_err_sys(err, "open '%s'", path);
    int fd = sealed_copy_fd(src, err);
    if (fd < 0)
        return moat_err_wrap(err, "'%s'", path);
    *ret_fd = fd;
    return 0;
}

int sealed_reexec_if_needed(int argc, char **argv, moat_error **err)
{
    (void)argc;
    if (sealed_is_sealed())
        return 0;
    _cleanup_close_ int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return moat_err_sys(err, "open /proc/self/exe");
    _cleanup_close_ int memfd = sealed_copy_fd(src, err);
    if (memfd < 0)
        return -1;
    fexecve(memfd, argv, environ);
    return moat_err_sys(err, "re-execute from the sealed copy");
}
