/* recvtty SOCKET [INPUT]: listen on a unix socket, receive one pty master
 * (SCM_RIGHTS) from the runtime, optionally write INPUT to it, and copy what
 * the container writes to stdout until it closes.  Like runc's recvtty. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: recvtty SOCKET [INPUT]\n");
        return 2;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(argv[1]);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0) {
        perror("recvtty: listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) {
        perror("recvtty: accept");
        return 1;
    }
    char name[256], cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(c, &msg, 0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (n <= 0 || !cm || cm->cmsg_type != SCM_RIGHTS) {
        fprintf(stderr, "recvtty: no fd received\n");
        return 1;
    }
    name[n] = 0;
    int master;
    memcpy(&master, CMSG_DATA(cm), sizeof(int));
    fprintf(stderr, "recvtty: got %s\n", name);
    if (argc > 2) {
        if (write(master, argv[2], strlen(argv[2])) < 0)
            perror("recvtty: write");
    }
    char buf[4096];
    while ((n = read(master, buf, sizeof(buf))) > 0)
        if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
            break;
    return 0;
}
