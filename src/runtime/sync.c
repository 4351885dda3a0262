/* Parent <-> container process synchronisation over a SOCK_SEQPACKET pair.
 * Errors in a child travel back as (errno, text) so the user reads one line. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

int sync_send(int fd, uint32_t type, int32_t value, const char *text)
{
    struct sync_msg m = {.type = type, .value = value};
    size_t tl = 0;
    if (text) {
        tl = strnlen(text, sizeof(m.text) - 1);
        memcpy(m.text, text, tl);
    }
    size_t len = offsetof(struct sync_msg, text) + tl + 1;
    for (;;) {
        ssize_t n = send(fd, &m, len, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int sync_recv(int fd, struct sync_msg *m, moat_error **err)
{
    memset(m, 0, sizeof(*m));
    ssize_t n;
    do
        n = recv(fd, m, sizeof(*m) - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return moat_err_sys(err, "receive from the container process");
    if (n == 0)
        return moat_err(err, EPIPE, "the container process exited during set-up");
    if ((size_t)n < offsetof(struct sync_msg, text))
        return moat_err(err, EPROTO, "short message from the container process");
    m->text[sizeof(m->text) - 1] = '\0';
    if (m->type == SYNC_ERROR)
        return moat_err(err, m->value, "%s", m->text);
    return 0;
}

int sync_expect(int fd, uint32_t type, struct sync_msg *m, moat_error **err)
{
    struct sync_msg tmp;
    if (!m)
        m = &tmp;
    if (sync_recv(fd, m, err) < 0)
        return -1;
    if (m->type != type)
        return moat_err(err, EPROTO, "unexpected message %u from the other side (wanted %u)", m->type, type);
    return 0;
}

void sync_child_fail(int fd, moat_error *err)
{
    sync_send(fd, SYNC_ERROR, err ? err->errnum : EIO, err && err->msg ? err->msg : "unknown error");
    _exit(1);
}

int sync_gate_make(int gate[2])
{
    return pipe2(gate, O_CLOEXEC);
}

void sync_gate_wait(int gate[2])
{
    char c;
    close(gate[1]);
    while (read(gate[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(gate[0]);
}
