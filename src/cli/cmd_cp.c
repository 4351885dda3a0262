/* moat cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-
 * moat cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH
 * Docker's rules: HEAD archive stats the container side (the base64 JSON in
 * X-Docker-Container-Path-Stat); a tar goes up with PUT archive into the
 * destination directory, its top entry already carrying the final name, or
 * comes down with GET archive and is extracted (safely, cp_tar.c) with the
 * top entry renamed when the destination's name differs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

struct cp_arg {
    char *ctr; /* NULL: local */
    const char *path;
};

/* Docker's splitCpArg: absolute or ./relative paths are local; else "ctr:path". */
static void split_arg(const char *a, struct cp_arg *r, char **hold)
{
    const char *colon = strchr(a, ':');
    r->ctr = NULL;
    r->path = a;
    if (a[0] == '/' || a[0] == '.' || !colon)
        return;
    *hold = xstrndup(a, (size_t)(colon - a));
    r->ctr = *hold;
    r->path = colon + 1;
}

static char *base_of(const char *p)
{
    _cleanup_free_ char *t = xstrdup(p);
    for (size_t l = strlen(t); l > 1 && t[l - 1] == '/'; l--)
        t[l - 1] = '\0';
    return xstrdup(basename(t));
}

static char *dir_of(const char *p)
{
    _cleanup_free_ char *t = xstrdup(p);
    for (size_t l = strlen(t); l > 1 && t[l - 1] == '/'; l--)
        t[l - 1] = '\0';
    return xstrdup(dirname(t));
}

static bool ends_slash(const char *p)
{
    size_t l = strlen(p);
    return l && p[l - 1] == '/';
}

/* HEAD archive: 1 and *st filled, 0 when the path is missing (404), -1 error. */
static int stat_path(struct moat_client *cl, const char *ctr, const char *path, struct cli_path_stat *st, int *status,
                     moat_error **err)
{
    _cleanup_free_ char *id = ctr_qenc(ctr), *p = ctr_qenc(path);
    _cleanup_free_ char *req = xasprintf("/containers/%s/archive?path=%s", id, p);
    struct moat_client_resp resp = {0};
    if (moat_client_call(cl, "HEAD", req, NULL, NULL, 0, &resp, err) < 0)
        return -1;
    *status = resp.status;
    int rc = 1;
    if (resp.status == 404)
        rc = 0;
    else if (resp.status >= 400)
        rc = moat_client_resp_error(&resp, err);
    else
        rc = cli_path_stat_decode(resp.header_path_stat, st, err) < 0 ? -1 : 1;
    moat_client_resp_clear(&resp);
    return rc;
}

static int spool_fd(moat_error **err)
{
    const char *tmp = getenv("TMPDIR");
    int fd = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return moat_err_sys(err, "create a temporary file in '%s'", tmp && *tmp ? tmp : "/tmp");
    return fd;
}

static int write_fd(void *ctx, const char *buf, size_t len)
{
    return moat_write_all(*(int *)ctx, buf, len) < 0 ? -1 : 0;
}

static int no_such(const char *ctr, const char *path)
{
    fprintf(stderr, "Error: No such container:path: %s:%s\n", ctr, path);
    return 1;
}

static int copy_from(struct moat_client *cl, const char *ctr, const char *src, const char *dst, bool follow, bool archive,
                     moat_error **err)
{
    struct cli_path_stat st;
    int status = 0;
    moat_error *e = NULL;
    int r = stat_path(cl, ctr, src, &st, &status, &e);
    if (r < 0)
        return ctr_fail(status, &e, err);
    if (r == 0)
        return no_such(ctr, src);
    _cleanup_free_ char *real = NULL;
    if (follow && st.is_link && st.link_target && *st.link_target) {
        _cleanup_free_ char *d = dir_of(src);
        real = st.link_target[0] == '/' ? xstrdup(st.link_target) : xasprintf("%s/%s", d, st.link_target);
        cli_path_stat_clear(&st);
        if ((r = stat_path(cl, ctr, real, &st, &status, &e)) < 0)
            return ctr_fail(status, &e, err);
        if (r == 0)
            return no_such(ctr, real);
        src = real;
    }
    _cleanup_free_ char *id = ctr_qenc(ctr), *p = ctr_qenc(src);
    _cleanup_free_ char *req = xasprintf("/containers/%s/archive?path=%s", id, p);
    int rc = 0;
    if (!strcmp(dst, "-")) {
        int out = STDOUT_FILENO;
        cli_path_stat_clear(&st);
        if (moat_client_stream(cl, "GET", req, NULL, write_fd, &out, &status, &e) < 0)
            return ctr_fail(status, &e, err);
        return 0;
    }
    /* Where it lands: into an existing directory under its own name, else
     * as dst itself (the top entry renamed). */
    struct stat ls;
    _cleanup_free_ char *into = NULL, *to = NULL;
    bool exists = stat(dst, &ls) == 0;
    if (!exists && errno != ENOENT) {
        rc = moat_err_sys(err, "stat '%s'", dst);
    } else if (exists && S_ISDIR(ls.st_mode)) {
        into = xstrdup(dst);
    } else {
        if (!exists && ends_slash(dst))
            rc = moat_err(err, ENOENT, "destination directory \"%s\" does not exist", dst);
        else if (exists && st.is_dir)
            rc = moat_err(err, EISDIR, "cannot copy a directory to the file \"%s\"", dst);
        into = dir_of(dst);
        to = base_of(dst);
    }
    _cleanup_close_ int fd = rc == 0 ? spool_fd(err) : -1;
    if (rc == 0 && fd < 0)
        rc = -1;
    if (rc == 0 && moat_client_stream(cl, "GET", req, NULL, write_fd, &fd, &status, &e) < 0) {
        cli_path_stat_clear(&st);
        return ctr_fail(status, &e, err);
    }
    if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
        rc = moat_err_sys(err, "rewind the archive");
    if (rc == 0)
        rc = cli_tar_extract(fd, into, to ? st.name : NULL, to, archive, err);
    cli_path_stat_clear(&st);
    return rc;
}

static int put_tar(struct moat_client *cl, const char *ctr, const char *dir, bool archive, int fd, moat_error **err)
{
    _cleanup_free_ char *id = ctr_qenc(ctr), *p = ctr_qenc(dir);
    _cleanup_free_ char *req =
        xasprintf("/containers/%s/archive?path=%s&noOverwriteDirNonDir=true%s", id, p, archive ? "&copyUIDGID=true" : "");
    struct moat_client_resp resp = {0};
    if (moat_client_upload(cl, "PUT", req, "application/x-tar", fd, &resp, err) < 0)
        return -1;
    int rc = 0;
    if (resp.status >= 400) {
        moat_error *e = NULL;
        moat_client_resp_error(&resp, &e);
        rc = ctr_fail(resp.status, &e, err);
    }
    moat_client_resp_clear(&resp);
    return rc;
}

static int copy_to(struct moat_client *cl, const char *src, const char *ctr, const char *dst, bool follow, bool archive,
                   moat_error **err)
{
    struct cli_path_stat st = {0};
    int status = 0;
    moat_error *e = NULL;
    int r = stat_path(cl, ctr, dst, &st, &status, &e);
    if (r < 0)
        return ctr_fail(status, &e, err);
    bool exists = r == 1, is_dir = exists && st.is_dir;
    cli_path_stat_clear(&st);
    if (!strcmp(src, "-")) {
        if (!is_dir)
            return moat_err(err, ENOTDIR, "destination \"%s:%s\" must be a directory", ctr, dst);
        return put_tar(cl, ctr, dst, archive, STDIN_FILENO, err) < 0 ? -1 : 0;
    }
    struct stat ls;
    if ((follow ? stat(src, &ls) : lstat(src, &ls)) < 0)
        return moat_err_sys(err, "%sstat %s", follow ? "" : "l", src);
    _cleanup_free_ char *into = NULL, *name = NULL;
    if (is_dir) {
        into = xstrdup(dst);
        name = base_of(src);
    } else if (exists && S_ISDIR(ls.st_mode)) {
        return moat_err(err, ENOTDIR, "cannot copy directory to file \"%s:%s\"", ctr, dst);
    } else if (!exists && ends_slash(dst)) {
        return moat_err(err, ENOENT, "destination directory \"%s:%s\" does not exist", ctr, dst);
    } else {
        into = dir_of(dst);
        name = base_of(dst);
    }
    _cleanup_close_ int fd = spool_fd(err);
    if (fd < 0)
        return -1;
    if (cli_tar_build(src, name, follow, archive, fd, err) < 0)
        return -1;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return moat_err_sys(err, "rewind the archive");
    return put_tar(cl, ctr, into, archive, fd, err);
}

int cmd_cp(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"archive", no_argument, NULL, 'a'}, {"follow-link", no_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-a, --archive       Archive mode (copy all uid/gid information)",
                                       "-L, --follow-link   Always follow symbol link in SRC_PATH", NULL};
    bool archive = false, follow = false;
    int o;
    while ((o = getopt_long(argc, argv, ":aLh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tmoat cp [OPTIONS] SRC_PATH|- "
                               "CONTAINER:DEST_PATH",
                            help);
        if (o == 'a')
            archive = true;
        else if (o == 'L')
            follow = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 2)
        return cli_args_error(c, err, "requires exactly 2 arguments");
    _cleanup_free_ char *h1 = NULL, *h2 = NULL;
    struct cp_arg src, dst;
    split_arg(argv[optind], &src, &h1);
    split_arg(argv[optind + 1], &dst, &h2);
    if (src.ctr && dst.ctr)
        return moat_err(err, EINVAL, "copying between containers is not supported");
    if (!src.ctr && !dst.ctr)
        return moat_err(err, EINVAL, "must specify at least one container source");
    if ((src.ctr && !*src.path) || (dst.ctr && !*dst.path))
        return moat_err(err, EINVAL, "filepath cannot be empty");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    if (src.ctr)
        return copy_from(cl, src.ctr, src.path, dst.path, follow, archive, err);
    return copy_to(cl, src.path, dst.ctr, dst.path, follow, archive, err);
}
