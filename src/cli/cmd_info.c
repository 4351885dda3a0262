/* moat info / moat system info: GET /info, in Docker's layout.  The engine
 * answers, not the store: it alone knows the containers, and which snapshot
 * driver they really get (rootless: always copy; the store's probe may have
 * found overlay working in its own user namespace). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"
#include "moat/version.h"

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

/* DriverStatus: [[key, value], ...], each "  key: value" under the driver (as docker info). */
static void driver_status(struct json_object *o, const char **ret_uid, const char **ret_gid)
{
    struct json_object *ds = NULL;
    *ret_uid = *ret_gid = NULL;
    if (!json_object_object_get_ex(o, "DriverStatus", &ds) || !json_object_is_type(ds, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(ds); i++) {
        struct json_object *p = json_object_array_get_idx(ds, i);
        if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2)
            continue;
        const char *k = json_object_get_string(json_object_array_get_idx(p, 0));
        const char *v = json_object_get_string(json_object_array_get_idx(p, 1));
        if (!strcmp(k, "UID map"))
            *ret_uid = v;
        else if (!strcmp(k, "GID map"))
            *ret_gid = v;
        else
            printf("  %s: %s\n", k, v);
    }
}

static bool rootless_of(struct json_object *o)
{
    struct json_object *so = NULL;
    if (!json_object_object_get_ex(o, "SecurityOptions", &so) || !json_object_is_type(so, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(so); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(so, i)), "name=rootless"))
            return true;
    return false;
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
    struct moat_client *cl;
    _cleanup_(moat_json_putp) struct json_object *in = NULL;
    if (cli_client(c, &cl, err) < 0 || moat_client_json(cl, "GET", "/info", NULL, NULL, &in, err) < 0)
        return -1;
    char mem[32];
    cli_human_size((uint64_t)int_of(in, "MemTotal"), 4, mem, sizeof mem);
    printf("Client:\n Version:    %s\n\nServer:\n", MOAT_VERSION);
    printf(" Containers: %" PRId64 "\n  Running: %" PRId64 "\n  Paused: %" PRId64 "\n  Stopped: %" PRId64 "\n",
           int_of(in, "Containers"), int_of(in, "ContainersRunning"), int_of(in, "ContainersPaused"),
           int_of(in, "ContainersStopped"));
    printf(" Images: %" PRId64 "\n Server Version: %s\n", int_of(in, "Images"), str_of(in, "ServerVersion"));
    printf(" Storage Driver: %s\n", str_of(in, "Driver"));
    const char *um, *gm;
    driver_status(in, &um, &gm);
    bool rootless = rootless_of(in);
    printf(" Rootless: %s\n", rootless ? "true" : "false");
    if (rootless && um && gm)
        printf("  UID map: %s\n  GID map: %s\n", um, gm);
    printf(" Unpack limits: %s\n", str_of(in, "MoatUnpackLimits"));
    printf(" Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %" PRId64 "\n"
           " Total Memory: %s\n Moat Root Dir: %s\n",
           str_of(in, "KernelVersion"), str_of(in, "OperatingSystem"), str_of(in, "OSType"), str_of(in, "Architecture"),
           int_of(in, "NCPU"), mem, str_of(in, "DockerRootDir"));
    return 0;
}
