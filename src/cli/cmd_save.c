/* moat save / moat image save [-o FILE] IMAGE [IMAGE...]: GET
 * /images/get?names=..., the tar stream to stdout (never a terminal) or into
 * FILE, which appears under its name only when the archive is complete. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctr_cmds.h"
#include "cli/img_api.h"
#include "moat/util.h"

struct out {
    int fd;
    int werr; /* errno of a failed write (the stream stops there) */
};

static int write_out(void *ctx, const char *buf, size_t len)
{
    struct out *o = ctx;
    if (moat_write_all(o->fd, buf, len) < 0) {
        o->werr = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

/* The stream into fd; a 404 while a built-in image is missing pulls it and asks again. */
static int save_to(struct moat_client *cl, char **names, int n, int fd, moat_error **err)
{
    _cleanup_free_ char *path = xstrdup("/images/get");
    bool builtin = false;
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *q = ctr_qenc(names[i]);
        char *t = xasprintf("%s%cnames=%s", path, i ? '&' : '?', q);
        free(path);
        path = t;
        builtin = builtin || img_is_builtin(names[i]);
    }
    for (int attempt = 0;; attempt++) {
        int status = 0;
        struct out o = {.fd = fd};
        moat_error *e = NULL;
        int rc = moat_client_stream(cl, "GET", path, NULL, write_out, &o, &status, &e);
        if (rc == 0 && o.werr)
            return moat_err_errno(err, o.werr, "write the archive");
        if (rc == 0)
            return 0;
        if (status != 404 || attempt > 0 || !builtin) {
            *err = e;
            return -1;
        }
        moat_error_free(e); /* busybox is built on first use */
        if (img_pull_builtin(cl, err) < 0)
            return -1;
    }
}

int cmd_save(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-o, --output string   Write to a file, instead of STDOUT", NULL};
    const char *out = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE [IMAGE...]", help);
        if (o == 'o')
            out = optarg;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    if (!out && isatty(STDOUT_FILENO))
        return moat_err(err, EINVAL, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    if (!out)
        return save_to(cl, argv + optind, argc - optind, STDOUT_FILENO, err);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", out, (int)getpid());
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return moat_err_sys(err, "create '%s'", tmp);
    int rc = save_to(cl, argv + optind, argc - optind, fd, err);
    if (rc == 0 && fsync(fd) < 0)
        rc = moat_err_sys(err, "fsync '%s'", tmp);
    if (rc == 0 && rename(tmp, out) < 0)
        rc = moat_err_sys(err, "rename '%s' to '%s'", tmp, out);
    if (rc < 0)
        unlink(tmp);
    return rc;
}
