/* moat tag / moat image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG] */
#include <getopt.h>

#include "cli/cli.h"

int cmd_tag(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 2)
        return cli_args_error(c, err, "requires exactly 2 arguments");
    struct moat_store *s;
    if (cli_store(c, &s, err) < 0)
        return -1;
    return moat_image_tag(s, argv[optind], argv[optind + 1], err) < 0 ? -1 : 0;
}
