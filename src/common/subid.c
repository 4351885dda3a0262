/* Subordinate id ranges through a lazily loaded libsubid (see include/moat/subid.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shadow/subid.h>

#include "moat/subid.h"
#include "moat/util.h"

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

int moat_idmap_helper(const char *helper, pid_t pid, const struct moat_idmap *m, size_t n, const char *needed_by,
                      moat_error **err)
{
    static const char *const dirs[] = {"/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"};
    _cleanup_free_ char *exe = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(dirs) && !exe; i++) {
        char *p = xasprintf("%s%s", dirs[i], helper);
        if (access(p, X_OK) == 0)
            exe = p;
        else
            free(p);
    }
    if (!exe)
        return moat_err(err, ENOENT, "%s not found: %s needs Debian's 'uidmap' package", helper, needed_by);
    size_t argc = 2 + 3 * n + 1;
    _cleanup_free_ char **argv = xcalloc(argc, sizeof(char *));
    _cleanup_strv_ char **owned = xcalloc(argc, sizeof(char *));
    argv[0] = (char *)helper;
    owned[0] = xasprintf("%d", (int)pid);
    argv[1] = owned[0];
    for (size_t i = 0; i < n; i++) {
        owned[1 + 3 * i] = xasprintf("%u", m[i].cid);
        owned[2 + 3 * i] = xasprintf("%u", m[i].hid);
        owned[3 + 3 * i] = xasprintf("%u", m[i].size);
        argv[2 + 3 * i] = owned[1 + 3 * i];
        argv[3 + 3 * i] = owned[2 + 3 * i];
        argv[4 + 3 * i] = owned[3 + 3 * i];
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t child = fork();
    if (child < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return moat_err_sys(err, "fork %s", helper);
    }
    if (child == 0) {
        dup2(pfd[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        execve(exe, argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    char msg[1024];
    ssize_t len = moat_read_all(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    msg[len > 0 ? len : 0] = '\0';
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = '\0';
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return moat_err(err, EPERM, "%s failed%s%s (check this user's entries in /etc/sub%cid)", helper,
                        msg[0] ? ": " : "", msg, helper[3] == 'u' ? 'u' : 'g');
    return 0;
}
