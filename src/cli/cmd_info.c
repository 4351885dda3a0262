/* moat info / moat system info: the store and how snapshots are made here. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/cli.h"
#include "moat/util.h"
#include "moat/version.h"

static void os_name(char *buf, size_t len)
{
    snprintf(buf, len, "Linux");
    FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = '\0';
        if (*v == '"') {
            v++;
            v[strcspn(v, "\"")] = '\0';
        }
        snprintf(buf, len, "%s", v);
    }
    fclose(f);
}

int cmd_info(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    struct moat_store *s;
    struct moat_store_info in;
    struct moat_df d;
    if (cli_store(c, &s, err) < 0 || moat_store_info(s, &in, err) < 0)
        return -1;
    if (moat_store_df(s, &d, err) < 0) {
        moat_store_info_clear(&in);
        return -1;
    }
    struct utsname u;
    uname(&u);
    struct sysinfo si;
    sysinfo(&si);
    char os[512], mem[32];
    os_name(os, sizeof os);
    cli_human_size((uint64_t)si.totalram * si.mem_unit, 4, mem, sizeof mem);
    const struct moat_limits *l = moat_store_limits(s);
    char lb[32], ib[32];
    moat_limits_human(l->layer_bytes, lb, sizeof lb);
    moat_limits_human(l->image_bytes, ib, sizeof ib);
    printf("Client:\n Version:    %s\n\nServer:\n", MOAT_VERSION);
    printf(" Containers: %zu (snapshots)\n Images: %zu\n", d.snapshots, d.images);
    printf(" Storage Driver: %s\n", in.driver);
    if (in.reason)
        printf("  Overlay unavailable: %s\n", in.reason);
    printf("  Backing Filesystem: %s\n  Supports d_type: %s\n  userxattr: %s\n", in.backing_fs,
           in.d_type ? "true" : "false", in.userxattr ? "true" : "false");
    printf(" Rootless: %s\n", in.rootless ? "true" : "false");
    if (in.rootless)
        printf("  UID map: %s\n  GID map: %s\n", in.uidmap, in.gidmap);
    printf(" Unpack limits: layer %s, image %s, %" PRIu64 " entries per layer, path %" PRIu64
           " bytes, xattrs %" PRIu64 " bytes, compression %" PRIu64 ":1, %" PRIu64 " layers, devices %s\n",
           lb, ib, l->layer_entries, l->path_length, l->xattr_bytes, l->compression_ratio, l->image_layers,
           l->allow_devices ? "allowed (root)" : "refused");
    printf(" Kernel Version: %s\n Operating System: %s\n OSType: linux\n Architecture: %s\n CPUs: %ld\n"
           " Total Memory: %s\n Moat Root Dir: %s\n",
           u.release, os, u.machine, sysconf(_SC_NPROCESSORS_ONLN), mem, moat_store_root(s));
    moat_store_info_clear(&in);
    return 0;
}
