/* moat rmi / moat image rm [OPTIONS] IMAGE [IMAGE...] */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "moat/util.h"

int cmd_rmi(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {"no-prune", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --force      Force removal of the image",
                                       "    --no-prune   Do not delete untagged parents", NULL};
    bool force = false;
    int o;
    while ((o = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE [IMAGE...]", help);
        if (o == 'f')
            force = true;
        else if (o != 'n')
            return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_store *s;
    if (cli_store(c, &s, err) < 0)
        return -1;
    /* like Docker: go on with the other images, say what failed, fail at the end */
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct moat_removal r = {0};
        moat_error *e = NULL;
        if (moat_image_remove(s, argv[i], force, &r, &e) < 0) {
            fprintf(stderr, "moat: %s\n", e->msg);
            moat_error_free(e);
            status = 1;
        }
        for (size_t k = 0; r.lines && r.lines[k]; k++)
            printf("%s\n", r.lines[k]);
        moat_removal_clear(&r);
    }
    return status;
}
