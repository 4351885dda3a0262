/* moat export [-o FILE] CONTAINER: GET /containers/{id}/export, the tar to
 * stdout (never a terminal) or atomically into FILE. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

static int write_out(void *ctx, const char *buf, size_t len)
{
    return moat_write_all(*(int *)ctx, buf, len) < 0 ? -1 : 0;
}

int cmd_export(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-o, --output string   Write to a file, instead of STDOUT", NULL};
    const char *out = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] CONTAINER", help);
        if (o != 'o')
            return cli_flag_error(c, o, argv, err);
        out = optarg;
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    if (!out && isatty(STDOUT_FILENO))
        return moat_err(err, EINVAL, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *tmp = out ? xasprintf("%s.moat-tmp-XXXXXX", out) : NULL;
    _cleanup_close_ int fd = -1;
    if (out) {
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
            return moat_err_sys(err, "failed to export container: create '%s'", tmp);
    }
    int wfd = out ? fd : STDOUT_FILENO;
    _cleanup_free_ char *id = ctr_qenc(argv[optind]);
    _cleanup_free_ char *path = xasprintf("/containers/%s/export", id);
    moat_error *e = NULL;
    int status = 0;
    int r = moat_client_stream(cl, "GET", path, NULL, write_out, &wfd, &status, &e);
    if (r == 0 && out && (fsync(fd) < 0 || rename(tmp, out) < 0)) {
        r = moat_err_sys(&e, "failed to export container: write '%s'", out);
        status = 0;
    }
    if (r < 0) {
        if (out)
            unlink(tmp);
        return ctr_fail(status, &e, err);
    }
    return 0;
}
