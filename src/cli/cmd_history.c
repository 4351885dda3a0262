/* moat history / moat image history [OPTIONS] IMAGE */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "moat/util.h"

int cmd_history(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"human", optional_argument, NULL, 'H'}, {"no-trunc", no_argument, NULL, 'n'},
                                         {"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-H, --human      Print sizes and dates in human readable format (default true)",
                                       "    --no-trunc   Don't truncate output",
                                       "-q, --quiet      Only show image IDs", NULL};
    bool human = true, no_trunc = false, quiet = false;
    int o;
    while ((o = getopt_long(argc, argv, ":Hqh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] IMAGE", help);
        if (o == 'H')
            human = !optarg || !strcmp(optarg, "true") || !strcmp(optarg, "1");
        else if (o == 'n')
            no_trunc = true;
        else if (o == 'q')
            quiet = true;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    struct moat_store *s;
    struct moat_image img;
    if (cli_store(c, &s, err) < 0 || moat_image_lookup(s, argv[optind], MOAT_LOOKUP_BUILTIN, &img, err) < 0)
        return -1;
    struct moat_history_row *v = NULL;
    size_t n = 0;
    int rc = moat_image_history(s, &img, &v, &n, err);
    struct cli_table t;
    cli_table_init(&t, 5, "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char id[80] = "<missing>", created[64], size[32];
        if (v[i].id) {
            if (no_trunc)
                snprintf(id, sizeof id, "%s", v[i].id);
            else
                cli_short_id(v[i].id, id);
        }
        if (quiet) {
            printf("%s\n", id);
            continue;
        }
        if (human) {
            cli_created_since(v[i].created_unix, created, sizeof created);
            cli_human_size(v[i].size, 3, size, sizeof size);
        } else {
            snprintf(created, sizeof created, "%s", v[i].created ? v[i].created : "");
            snprintf(size, sizeof size, "%" PRIu64, v[i].size);
        }
        char *by = xstrdup(v[i].created_by);
        for (char *p = by; *p; p++)
            if (*p == '\t' || *p == '\n')
                *p = ' ';
        _cleanup_free_ char *shown = no_trunc ? xstrdup(by) : cli_ellipsis(by, 45);
        free(by);
        cli_table_row(&t, id, created, shown, size, v[i].comment);
    }
    if (rc == 0 && !quiet)
        cli_table_print(&t, stdout);
    cli_table_free(&t);
    moat_history_free(v, n);
    moat_image_clear(&img);
    return rc;
}
