/* moat system df [-v] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "moat/reference.h"
#include "moat/util.h"

static void reclaimable(uint64_t r, uint64_t total, char *buf, size_t len)
{
    char h[32];
    cli_human_size(r, 4, h, sizeof h);
    if (total > 0)
        snprintf(buf, len, "%s (%d%%)", h, (int)(100 * r / total));
    else
        snprintf(buf, len, "%s", h);
}

int cmd_system_df(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-v, --verbose   Show detailed information on space usage", NULL};
    bool verbose = false;
    int o;
    while ((o = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'v')
            verbose = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    struct moat_store *s;
    struct moat_df d;
    if (cli_store(c, &s, err) < 0 || moat_store_df(s, &d, err) < 0)
        return -1;
    char n1[32], n2[32], sz[32], rc[48], csz[32], crc[48];
    struct cli_table t;
    cli_table_init(&t, 5, "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
    snprintf(n1, sizeof n1, "%zu", d.images);
    snprintf(n2, sizeof n2, "%zu", d.images_active);
    cli_human_size(d.images_size, 4, sz, sizeof sz);
    reclaimable(d.images_reclaimable, d.images_size, rc, sizeof rc);
    cli_table_row(&t, "Images", n1, n2, sz, rc);
    /* containers are snapshots until the engine exists: none is running */
    char n3[32];
    snprintf(n3, sizeof n3, "%zu", d.snapshots);
    cli_human_size(d.snapshots_size, 4, csz, sizeof csz);
    reclaimable(d.snapshots_size, d.snapshots_size, crc, sizeof crc);
    cli_table_row(&t, "Containers", n3, "0", csz, crc);
    cli_table_row(&t, "Local Volumes", "0", "0", "0B", "0B");
    cli_table_row(&t, "Build Cache", "0", "0", "0B", "0B");
    cli_table_print(&t, stdout);
    cli_table_free(&t);
    if (verbose) {
        struct moat_image *v = NULL;
        size_t n = 0;
        if (moat_images_list(s, &v, &n, err) < 0)
            return -1;
        printf("\nImages space usage:\n\n");
        struct cli_table it;
        cli_table_init(&it, 4, "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
        for (size_t i = 0; i < n; i++) {
            char id[13], size[32];
            cli_short_id(v[i].id, id);
            cli_human_size(v[i].size, 3, size, sizeof size);
            _cleanup_free_ char *fam = v[i].names[0] ? moat_ref_familiarize(v[i].names[0]) : xstrdup("<none>:<none>");
            char *colon = strrchr(fam, ':');
            if (colon)
                *colon = '\0';
            cli_table_row(&it, fam, colon ? colon + 1 : "<none>", id, size);
        }
        cli_table_print(&it, stdout);
        cli_table_free(&it);
        moat_images_free(v, n);
    }
    return 0;
}
