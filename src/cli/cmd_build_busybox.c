/* moat image build-busybox [--busybox PATH]: (re)build the built-in image
 * busybox:latest from Debian's busybox-static.  Commands that need it build
 * it on first use anyway (through the engine: a pull of busybox:latest).
 * Local, on the store: moat's own store maintenance with no Docker API
 * counterpart (--busybox takes a binary of the caller's), and the suites run
 * it in setup_file before any engine exists. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "moat/util.h"

int cmd_build_busybox(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"busybox", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"    --busybox PATH   A static busybox (default /bin/busybox or $MOAT_BUSYBOX)",
                                       NULL};
    const char *bb = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'b')
            bb = optarg;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    struct moat_store *s;
    _cleanup_free_ char *id = NULL;
    if (cli_store(c, &s, err) < 0 || moat_image_build_busybox(s, bb, &id, err) < 0)
        return -1;
    printf("%s\n", id);
    return 0;
}
