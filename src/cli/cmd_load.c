/* moat load / moat image load [-i FILE|DIR] [-q]: POST /images/load with the
 * archive as the body (a docker-archive or an OCI archive, maybe compressed;
 * an OCI layout directory is sent as a tar of itself), Docker's "Loaded
 * image: ..." lines from the answer's message stream. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "cli/img_api.h"
#include "moat/util.h"

struct dir_tar {
    const char *dir;
    int fd; /* the pipe's write end, closed when the tar is written */
    moat_error *err;
};

static void *tar_dir(void *arg)
{
    struct dir_tar *t = arg;
    cli_tar_build(t->dir, ".", false, false, t->fd, &t->err);
    close(t->fd);
    t->fd = -1;
    return NULL;
}

static void print_stream(void *ctx, struct json_object *msg)
{
    struct json_object *s = NULL;
    if (!*(bool *)ctx && json_object_object_get_ex(msg, "stream", &s) && json_object_is_type(s, json_type_string))
        fputs(json_object_get_string(s), stdout);
}

int cmd_load(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"input", required_argument, NULL, 'i'}, {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-i, --input string   Read from tar archive file (or OCI layout directory), "
                                       "instead of STDIN",
                                       "-q, --quiet          Suppress the load output", NULL};
    const char *in = NULL;
    bool quiet = false;
    int o;
    while ((o = getopt_long(argc, argv, ":i:qh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'i')
            in = optarg;
        else if (o == 'q')
            quiet = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    if (!in && isatty(STDIN_FILENO))
        return moat_err(err, EINVAL, "requested load from stdin, but stdin is empty");
    _cleanup_close_ int fd = -1;
    const char *dir = NULL;
    struct stat st;
    if (in && stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        dir = in;
    } else if (in) {
        fd = open(in, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "open %s", in);
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    struct dir_tar t = {.dir = dir, .fd = -1};
    pthread_t th;
    bool threaded = false;
    if (dir) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return moat_err_sys(err, "pipe");
        fd = p[0];
        t.fd = p[1];
        signal(SIGPIPE, SIG_IGN); /* the daemon may stop reading: the tar sees EPIPE */
        int e = pthread_create(&th, NULL, tar_dir, &t);
        if (e) {
            close(t.fd);
            return moat_err_errno(err, e, "start the tar of '%s'", dir);
        }
        threaded = true;
    }
    struct img_msgs m = {.on_msg = print_stream, .ctx = &quiet};
    int rc = img_upload_msgs(cl, quiet ? "/images/load?quiet=1" : "/images/load?quiet=0", "application/x-tar",
                             fd >= 0 ? fd : STDIN_FILENO, &m, err);
    if (threaded) {
        close(TAKE_FD(fd)); /* a tar still being written sees EPIPE */
        pthread_join(th, NULL);
        if (t.err) {
            if (rc == 0) {
                *err = t.err;
                return moat_err_wrap(err, "send '%s'", dir);
            }
            moat_error_free(t.err);
        }
    }
    return rc;
}
