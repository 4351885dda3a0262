/* moat load / moat image load [-i FILE|DIR] [-q]: a docker-archive, an OCI
 * archive (tar of an OCI layout, maybe compressed) or an OCI layout directory. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "moat/util.h"

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
    struct moat_store *s;
    _cleanup_strv_ char **lines = NULL;
    if (cli_store(c, &s, err) < 0 || moat_image_load(s, in ? fd : STDIN_FILENO, dir, &lines, err) < 0)
        return -1;
    for (size_t i = 0; !quiet && lines[i]; i++)
        printf("%s\n", lines[i]);
    return 0;
}
