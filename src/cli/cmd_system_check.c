/* moat system check [--repair]: re-hash every blob, re-read every document,
 * check every image's layers and snapshots; remove stale temporary files.
 * Local, on the store itself: an offline check of moat's own store format
 * with no Docker API counterpart, which must work when the engine cannot
 * start (a corrupt store is what it is for). */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

int cmd_system_check(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"repair", no_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-r, --repair   Remove corrupt content and the images that need it", NULL};
    bool repair = false;
    int o;
    while ((o = getopt_long(argc, argv, ":rh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'r')
            repair = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    struct moat_store *s;
    struct moat_check r;
    if (cli_store(c, &s, err) < 0 || moat_store_check(s, repair, &r, err) < 0)
        return -1;
    char size[32];
    cli_human_size(r.bytes, 4, size, sizeof size);
    if (r.removed_temp)
        printf("Removed %zu stale temporary %s\n", r.removed_temp, r.removed_temp == 1 ? "entry" : "entries");
    size_t np = 0;
    for (; r.problems && r.problems[np]; np++)
        printf("%s\n", r.problems[np]);
    printf("Checked %zu images, %zu layers, %zu blobs (%s), %zu snapshots: %s\n", r.images, r.layers, r.blobs, size,
           r.snapshots, np ? "problems found" : "no problems found");
    moat_check_clear(&r);
    return np && !repair ? 1 : 0;
}
