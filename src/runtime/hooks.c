/* OCI hooks: each runs with the container state JSON on its stdin, its own
 * args and env, and an optional timeout after which it is killed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

static int run_one(const struct oci_hook *h, const char *state, moat_error **err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return moat_err_sys(err, "fork hook '%s'", h->path);
    }
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        char *argv_default[] = {h->path, NULL};
        char *envp_empty[] = {NULL};
        execve(h->path, h->args && h->args[0] ? h->args : argv_default, h->env ? h->env : envp_empty);
        _exit(127);
    }
    close(in[0]);
    signal(SIGPIPE, SIG_IGN);
    (void)moat_write_all(in[1], state, strlen(state));
    close(in[1]);
    _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (h->has_timeout && pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int r;
        do
            r = poll(&p, 1, h->timeout * 1000);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return moat_err(err, ETIMEDOUT, "hook '%s' timed out after %d s", h->path, h->timeout);
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return moat_err_sys(err, "wait for hook '%s'", h->path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return moat_err(err, ENOENT, "hook '%s' could not be executed", h->path);
    if (WIFEXITED(status))
        return moat_err(err, EIO, "hook '%s' failed with exit status %d", h->path, WEXITSTATUS(status));
    return moat_err(err, EIO, "hook '%s' was killed by signal %d", h->path, WTERMSIG(status));
}

int hooks_run(const struct oci_spec *spec, enum oci_hook_kind kind, const char *state_json, moat_error **err)
{
    for (size_t i = 0; i < spec->hooks.n[kind]; i++)
        if (run_one(&spec->hooks.hooks[kind][i], state_json, err) < 0)
            return moat_err_wrap(err, "%s hook %zu", oci_hook_names[kind], i);
    return 0;
}
