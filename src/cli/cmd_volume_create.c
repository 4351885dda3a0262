/* moat volume create [-d DRIVER] [-o k=v]... [-l k=v]... [--name] [NAME]:
 * POST /volumes/create, prints the volume's name. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static void add_kv(struct json_object *map, const char *kv)
{
    const char *eq = strchr(kv, '=');
    _cleanup_free_ char *k = eq ? xstrndup(kv, (size_t)(eq - kv)) : xstrdup(kv);
    json_object_object_add(map, k, json_object_new_string(eq ? eq + 1 : ""));
}

int cmd_volume_create(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"driver", required_argument, NULL, 'd'}, {"label", required_argument, NULL, 'l'},
                                         {"opt", required_argument, NULL, 'o'},    {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-d, --driver string   Specify volume driver name (default \"local\")",
                                       "    --label list      Set metadata for a volume",
                                       "-o, --opt map         Set driver specific options (default map[])", NULL};
    const char *driver = "local", *name = NULL;
    _cleanup_json_ struct json_object *labels = json_object_new_object(), *dopts = json_object_new_object();
    int o;
    while ((o = getopt_long(argc, argv, ":d:l:o:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] [VOLUME]", help);
        if (o == 'd')
            driver = optarg;
        else if (o == 'l')
            add_kv(labels, optarg);
        else if (o == 'o') {
            if (!strchr(optarg, '='))
                return moat_err(err, EINVAL, "invalid argument \"%s\" for \"-o, --opt\" flag: invalid key value "
                                             "pair format", optarg);
            add_kv(dopts, optarg);
        } else if (o == 'n')
            name = optarg;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind > 1)
        return cli_args_error(c, err, "requires at most 1 argument");
    if (optind < argc) {
        if (name && strcmp(name, argv[optind]) != 0)
            return moat_err(err, EINVAL, "conflicting options: either specify --name or provide positional arg, "
                                         "not both");
        name = argv[optind];
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_json_ struct json_object *body = json_object_new_object(), *ans = NULL;
    json_object_object_add(body, "Driver", json_object_new_string(driver));
    json_object_object_add(body, "DriverOpts", json_object_get(dopts));
    json_object_object_add(body, "Labels", json_object_get(labels));
    json_object_object_add(body, "Name", json_object_new_string(name ? name : ""));
    moat_error *e = NULL;
    int status = 0;
    if (moat_client_json(cl, "POST", "/volumes/create", body, &status, &ans, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *n = NULL;
    if (!ans || !json_object_object_get_ex(ans, "Name", &n) || !json_object_is_type(n, json_type_string))
        return moat_err(err, EPROTO, "the daemon's answer has no volume Name");
    printf("%s\n", json_object_get_string(n));
    return 0;
}
