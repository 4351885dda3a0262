/* moat port CONTAINER [PRIVATE_PORT[/PROTO]]: the published ports from the
 * container's NetworkSettings.Ports ("80/tcp -> 0.0.0.0:8080"). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static int cmp_port_key(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long px = strtol(x, NULL, 10), py = strtol(y, NULL, 10);
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(x, y);
}

static char *host_port(struct json_object *b)
{
    struct json_object *ip = NULL, *port = NULL;
    json_object_object_get_ex(b, "HostIp", &ip);
    json_object_object_get_ex(b, "HostPort", &port);
    const char *i = ip ? json_object_get_string(ip) : "", *p = port ? json_object_get_string(port) : "";
    if (!*i)
        i = "0.0.0.0";
    bool v6 = strchr(i, ':') != NULL;
    return xasprintf("%s%s%s:%s", v6 ? "[" : "", i, v6 ? "]" : "", p);
}

int cmd_port(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "CONTAINER [PRIVATE_PORT[/PROTO]]", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_args_error(c, err, argc - optind < 1 ? "requires at least 1 argument"
                                                         : "requires at most 2 arguments");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    const char *name = argv[optind];
    _cleanup_free_ char *id = ctr_qenc(name);
    _cleanup_free_ char *path = xasprintf("/containers/%s/json", id);
    _cleanup_json_ struct json_object *ctr = NULL;
    moat_error *e = NULL;
    int status = 0;
    if (ctr_get_json(cl, path, &status, &ctr, &e) < 0)
        return ctr_fail(status, &e, err);
    struct json_object *ns = NULL, *ports = NULL;
    if (!json_object_object_get_ex(ctr, "NetworkSettings", &ns) || !json_object_object_get_ex(ns, "Ports", &ports) ||
        !json_object_is_type(ports, json_type_object))
        ports = NULL;
    if (optind + 1 < argc) {
        const char *want = argv[optind + 1];
        _cleanup_free_ char *key = strchr(want, '/') ? xstrdup(want) : xasprintf("%s/tcp", want);
        uint64_t num;
        _cleanup_free_ char *num_s = xstrndup(key, (size_t)(strchr(key, '/') - key));
        if (moat_parse_u64(num_s, &num) < 0 || num > 65535)
            return moat_err(err, EINVAL, "Invalid port: %s", want);
        struct json_object *binds = NULL;
        if (ports && json_object_object_get_ex(ports, key, &binds) && json_object_is_type(binds, json_type_array) &&
            json_object_array_length(binds)) {
            for (size_t i = 0; i < json_object_array_length(binds); i++) {
                _cleanup_free_ char *hp = host_port(json_object_array_get_idx(binds, i));
                printf("%s\n", hp);
            }
            return 0;
        }
        fprintf(stderr, "Error: No public port '%s' published for %s\n", key, name);
        return 1;
    }
    if (!ports)
        return 0;
    size_t n = (size_t)json_object_object_length(ports), k = 0;
    _cleanup_free_ char **keys = xcalloc(n + 1, sizeof(char *));
    json_object_object_foreach(ports, pk, pv)
    {
        (void)pv;
        keys[k++] = pk;
    }
    qsort(keys, n, sizeof(char *), cmp_port_key);
    for (k = 0; k < n; k++) {
        struct json_object *binds = json_object_object_get(ports, keys[k]);
        for (size_t i = 0; binds && json_object_is_type(binds, json_type_array) && i < json_object_array_length(binds);
             i++) {
            _cleanup_free_ char *hp = host_port(json_object_array_get_idx(binds, i));
            printf("%s -> %s\n", keys[k], hp);
        }
    }
    return 0;
}
