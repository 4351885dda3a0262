/* moat save / moat image save [-o FILE] IMAGE [IMAGE...]
 * With -o the archive appears under its name only when it is complete. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "moat/util.h"

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
    struct moat_store *s;
    if (cli_store(c, &s, err) < 0)
        return -1;
    if (!out)
        return moat_image_save(s, argv + optind, STDOUT_FILENO, err) < 0 ? -1 : 0;
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", out, (int)getpid());
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return moat_err_sys(err, "create '%s'", tmp);
    int rc = moat_image_save(s, argv + optind, fd, err);
    if (rc == 0 && fsync(fd) < 0)
        rc = moat_err_sys(err, "fsync '%s'", tmp);
    if (rc == 0 && rename(tmp, out) < 0)
        rc = moat_err_sys(err, "rename '%s' to '%s'", tmp, out);
    if (rc < 0)
        unlink(tmp);
    return rc;
}
