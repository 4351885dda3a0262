/* Terminals: pass a pty master over a unix socket (SCM_RIGHTS), and a small
 * copy loop for a foreground `run`/`exec` that owns its terminal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

int console_connect(const char *path, moat_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return moat_err(err, ENAMETOOLONG, "console socket path '%s' is too long", path);
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return moat_err_sys(err, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return moat_err_sys(err, "connect to console socket '%s'", path);
    return TAKE_FD(fd);
}

int console_send_fd(int sock, int fd, const char *name, moat_error **err)
{
    if (moat_send_fd(sock, fd, name, err) < 0)
        return moat_err_wrap(err, "send the terminal to the console socket");
    return 0;
}

int console_recv_fd(int sock, int *ret_fd, moat_error **err)
{
    if (moat_recv_fd(sock, ret_fd, err) < 0)
        return moat_err_wrap(err, "receive the terminal from the container");
    return 0;
}

static void copy_once(int from, int to, bool *open)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        *open = false;
        return;
    }
    if (moat_write_all(to, buf, (size_t)n) < 0)
        *open = false;
}

void console_copy_winsize(int master)
{
    struct winsize ws;
    if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(master, TIOCSWINSZ, &ws);
}

int console_proxy(int master, pid_t child, int sigfd, int *ret_status, moat_error **err)
{
    struct termios saved;
    bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    bool in_open = true, out_open = true, exited = false;
    int status = 0, rc = 0;
    while (!exited || out_open) {
        struct pollfd p[3] = {{.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                              {.fd = out_open ? master : -1, .events = POLLIN},
                              {.fd = exited ? -1 : sigfd, .events = POLLIN}};
        int n = poll(p, 3, exited ? 100 : -1);
        if (n < 0 && errno != EINTR) {
            rc = moat_err_sys(err, "poll");
            break;
        }
        if (n == 0 && exited)
            break; /* child gone and the pty quiet: drain done */
        if (p[0].revents & (POLLIN | POLLHUP))
            copy_once(STDIN_FILENO, master, &in_open);
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            copy_once(master, STDOUT_FILENO, &out_open);
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                    pid_t w;
                    while ((w = waitpid(-1, &status, WNOHANG)) > 0)
                        if (w == child)
                            exited = true;
                } else if (si.ssi_signo == SIGWINCH) {
                    struct winsize ws;
                    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                        ioctl(master, TIOCSWINSZ, &ws);
                } else {
                    kill(child, (int)si.ssi_signo);
                }
            }
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (!exited && rc == 0) {
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    }
    *ret_status = status;
    return rc;
}
