/* moat system df [-v]: GET /system/df, in Docker's rows (the engine knows
 * the containers and volumes, the store alone does not). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

/* o's array key, else empty. */
static struct json_object *list_of(struct json_object *o, const char *key, struct json_object *empty)
{
    struct json_object *v = NULL;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array))
        return v;
    return empty;
}

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return "";
}

static int64_t int_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void reclaimable(uint64_t r, uint64_t total, char *buf, size_t len)
{
    char h[32];
    cli_human_size(r, 4, h, sizeof h);
    if (total > 0)
        snprintf(buf, len, "%s (%d%%)", h, (int)(100 * r / total));
    else
        snprintf(buf, len, "%s", h);
}

static void add_row(struct cli_table *t, const char *type, size_t total, size_t active, uint64_t size,
                    uint64_t reclaim)
{
    char n1[32], n2[32], sz[32], rc[48];
    snprintf(n1, sizeof n1, "%zu", total);
    snprintf(n2, sizeof n2, "%zu", active);
    cli_human_size(size, 4, sz, sizeof sz);
    reclaimable(reclaim, size, rc, sizeof rc);
    cli_table_row(t, type, n1, n2, sz, rc);
}

/* docker system df -v (cli/command/formatter/disk_usage.go verboseWrite): the
 * images, containers, volumes and build cache, each its own table. */
static void df_verbose(struct json_object *imgs, struct json_object *ctrs, struct json_object *vols)
{
    printf("Images space usage:\n\n");
    struct cli_table it;
    cli_table_init(&it, 8, "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE",
                   "CONTAINERS");
    for (size_t i = 0; i < json_object_array_length(imgs); i++) {
        struct json_object *im = json_object_array_get_idx(imgs, i), *tags = NULL, *idv = NULL;
        char id[13], created[64], size[32], shared[32], unique[32], used[24];
        cli_short_id(json_object_object_get_ex(im, "Id", &idv) ? json_object_get_string(idv) : "", id);
        int64_t sz = int_of(im, "Size"), sh = int_of(im, "SharedSize"), n = int_of(im, "Containers");
        cli_created_since(int_of(im, "Created"), created, sizeof created);
        cli_human_size(sz > 0 ? (uint64_t)sz : 0, 3, size, sizeof size);
        if (sh < 0)
            snprintf(shared, sizeof shared, "N/A");
        else
            cli_human_size((uint64_t)sh, 3, shared, sizeof shared);
        if (sh < 0 || sz < sh)
            snprintf(unique, sizeof unique, "N/A");
        else
            cli_human_size((uint64_t)(sz - sh), 3, unique, sizeof unique);
        if (n < 0)
            snprintf(used, sizeof used, "N/A");
        else
            snprintf(used, sizeof used, "%" PRId64, n);
        /* the first tag only, as Docker */
        const char *first = json_object_object_get_ex(im, "RepoTags", &tags) &&
                                    json_object_is_type(tags, json_type_array) && json_object_array_length(tags)
                                ? json_object_get_string(json_object_array_get_idx(tags, 0))
                                : "<none>:<none>";
        _cleanup_free_ char *fam = xstrdup(first);
        char *colon = strrchr(fam, ':'), *slash = strrchr(fam, '/');
        if (colon && slash && colon < slash)
            colon = NULL;
        if (colon)
            *colon = '\0';
        cli_table_row(&it, fam, colon ? colon + 1 : "<none>", id, created, size, shared, unique, used);
    }
    cli_table_print(&it, stdout);
    cli_table_free(&it);

    printf("\nContainers space usage:\n\n");
    struct cli_table ct;
    cli_table_init(&ct, 8, "CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES");
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < json_object_array_length(ctrs); i++) {
        struct json_object *c = json_object_array_get_idx(ctrs, i), *mounts = NULL;
        size_t nvol = 0;
        if (json_object_object_get_ex(c, "Mounts", &mounts) && json_object_is_type(mounts, json_type_array))
            for (size_t k = 0; k < json_object_array_length(mounts); k++) {
                struct json_object *ty = NULL;
                nvol += json_object_object_get_ex(json_object_array_get_idx(mounts, k), "Type", &ty) &&
                        !strcmp(json_object_get_string(ty), "volume");
            }
        /* Docker leaves the virtual size out here: SizeRw alone */
        _cleanup_json_ struct json_object *copy = NULL;
        if (json_object_deep_copy(c, &copy, NULL) != 0)
            continue;
        json_object_object_del(copy, "SizeRootFs");
        _cleanup_json_ struct json_object *row = cli_ps_row(copy, true, now);
        char nv[24];
        snprintf(nv, sizeof nv, "%zu", nvol);
        cli_table_row(&ct, str_of(row, "ID"), str_of(row, "Image"), str_of(row, "Command"), nv, str_of(row, "Size"),
                      str_of(row, "RunningFor"), str_of(row, "Status"), str_of(row, "Names"));
    }
    cli_table_print(&ct, stdout);
    cli_table_free(&ct);

    printf("\nLocal Volumes space usage:\n\n");
    struct cli_table vt;
    cli_table_init(&vt, 3, "VOLUME NAME", "LINKS", "SIZE");
    for (size_t i = 0; i < json_object_array_length(vols); i++) {
        struct json_object *v = json_object_array_get_idx(vols, i), *ud = NULL;
        json_object_object_get_ex(v, "UsageData", &ud);
        int64_t sz = int_of(ud, "Size"), refs = int_of(ud, "RefCount");
        char links[24], size[32];
        snprintf(links, sizeof links, "%" PRId64, refs);
        if (sz < 0)
            snprintf(size, sizeof size, "N/A");
        else
            cli_human_size((uint64_t)sz, 3, size, sizeof size);
        cli_table_row(&vt, str_of(v, "Name"), links, size);
    }
    cli_table_print(&vt, stdout);
    cli_table_free(&vt);

    printf("\nBuild cache usage: 0B\n\n");
    struct cli_table bt;
    cli_table_init(&bt, 7, "CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED");
    cli_table_print(&bt, stdout);
    cli_table_free(&bt);
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
    struct moat_client *cl;
    _cleanup_json_ struct json_object *df = NULL;
    if (cli_client(c, &cl, err) < 0 || moat_client_json(cl, "GET", "/system/df", NULL, NULL, &df, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *none = json_object_new_array();
    struct json_object *imgs = list_of(df, "Images", none), *ctrs = list_of(df, "Containers", none),
                       *vols = list_of(df, "Volumes", none);
    if (verbose) { /* Docker: the detailed tables instead of the summary */
        df_verbose(imgs, ctrs, vols);
        return 0;
    }
    struct cli_table t;
    cli_table_init(&t, 5, "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
    /* Docker's formatter (cli/command/formatter/disk_usage.go), row by row. */
    uint64_t layers = (uint64_t)int_of(df, "LayersSize"), used = 0;
    size_t active = 0;
    for (size_t i = 0; i < json_object_array_length(imgs); i++) {
        struct json_object *im = json_object_array_get_idx(imgs, i);
        if (int_of(im, "Containers") <= 0)
            continue;
        active++;
        int64_t sz = int_of(im, "Size"), shared = int_of(im, "SharedSize");
        if (sz >= 0 && shared >= 0)
            used += (uint64_t)(sz - shared);
    }
    add_row(&t, "Images", json_object_array_length(imgs), active, layers, used < layers ? layers - used : 0);
    uint64_t csize = 0, creclaim = 0;
    active = 0;
    for (size_t i = 0; i < json_object_array_length(ctrs); i++) {
        struct json_object *ct = json_object_array_get_idx(ctrs, i), *st = NULL;
        int64_t rw = int_of(ct, "SizeRw");
        bool running = json_object_object_get_ex(ct, "State", &st) && !strcmp(json_object_get_string(st), "running");
        active += running;
        csize += rw > 0 ? (uint64_t)rw : 0;
        if (!running)
            creclaim += rw > 0 ? (uint64_t)rw : 0;
    }
    add_row(&t, "Containers", json_object_array_length(ctrs), active, csize, creclaim);
    uint64_t vsize = 0, vreclaim = 0;
    active = 0;
    for (size_t i = 0; i < json_object_array_length(vols); i++) {
        struct json_object *ud = NULL;
        json_object_object_get_ex(json_object_array_get_idx(vols, i), "UsageData", &ud);
        int64_t sz = int_of(ud, "Size"), refs = int_of(ud, "RefCount");
        active += refs > 0;
        vsize += sz > 0 ? (uint64_t)sz : 0;
        if (refs <= 0)
            vreclaim += sz > 0 ? (uint64_t)sz : 0;
    }
    add_row(&t, "Local Volumes", json_object_array_length(vols), active, vsize, vreclaim);
    add_row(&t, "Build Cache", 0, 0, 0, 0);
    cli_table_print(&t, stdout);
    cli_table_free(&t);
    return 0;
}
