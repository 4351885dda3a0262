#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "moat/oci.h"
#include "moat/util.h"
#include "runtime/cli.h"

/* update --resources FILE ID: FILE ("-" for stdin) holds an OCI
 * linux.resources object, as podman and runc's callers write it. */
int cmd_update(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"resources", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+r:", opts, NULL)) != -1) {
        if (c != 'r')
            return moat_err(err, EINVAL, "usage: moat-runtime update --resources FILE|- ID (only --resources "
                            "is supported)");
        file = optarg;
    }
    if (cli_positional(argc, argv, 1, "--resources FILE|- ID", err) < 0)
        return -1;
    if (!file)
        return moat_err(err, EINVAL, "update: --resources FILE|- is required");
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = strcmp(file, "-") == 0 ? moat_read_fd_bounded(STDIN_FILENO, OCI_MAX_CONFIG_BYTES, &buf, &len, err)
                                   : moat_read_file_at(AT_FDCWD, file, OCI_MAX_CONFIG_BYTES, &buf, &len, err);
    if (r < 0)
        return moat_err_wrap(err, "update: read '%s'", file);
    return moat_rt_update(&cli->rt, argv[optind], buf, len, err) < 0 ? -1 : 0;
}
