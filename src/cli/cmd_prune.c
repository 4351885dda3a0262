/* moat image prune [-a] [-f] */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_image_prune(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-a, --all     Remove all unused images, not just dangling ones",
                                       "-f, --force   Do not prompt for confirmation", NULL};
    bool all = false, force = false;
    int o;
    while ((o = getopt_long(argc, argv, ":afh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'a')
            all = true;
        else if (o == 'f')
            force = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    if (!force) {
        printf("WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ",
               all ? "images without at least one container associated to them" : "dangling images");
        fflush(stdout);
        char answer[16] = "";
        if (!fgets(answer, sizeof answer, stdin) || tolower((unsigned char)answer[0]) != 'y')
            return 0;
    }
    struct moat_store *s;
    struct moat_removal r = {0};
    if (cli_store(c, &s, err) < 0 || moat_images_prune(s, all, &r, err) < 0)
        return -1;
    if (r.lines && r.lines[0]) {
        printf("Deleted Images:\n");
        for (size_t i = 0; r.lines[i]; i++) {
            char *l = r.lines[i];
            l[0] = (char)tolower((unsigned char)l[0]); /* Docker's prune says "untagged:"/"deleted:" */
            printf("%s\n", l);
        }
        printf("\n");
    }
    char size[32];
    cli_human_size(r.reclaimed, 4, size, sizeof size);
    printf("Total reclaimed space: %s\n", size);
    moat_removal_clear(&r);
    return 0;
}
