/* moat update [OPTIONS] CONTAINER...: POST /containers/{id}/update with the
 * resource fields given, printing each container as given. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const option_help[] = {
    "    --cpu-period int          Limit CPU CFS (Completely Fair Scheduler) period",
    "    --cpu-quota int           Limit CPU CFS (Completely Fair Scheduler) quota",
    "-c, --cpu-shares int          CPU shares (relative weight)",
    "    --cpus decimal            Number of CPUs",
    "    --cpuset-cpus string      CPUs in which to allow execution (0-3, 0,1)",
    "    --cpuset-mems string      MEMs in which to allow execution (0-3, 0,1)",
    "-m, --memory bytes            Memory limit",
    "    --memory-reservation bytes  Memory soft limit",
    "    --memory-swap bytes       Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    "    --pids-limit int          Tune container pids limit (set -1 for unlimited)",
    "    --restart string          Restart policy to apply when a container exits",
    NULL};

static int restart_policy(const char *s, struct json_object *body, moat_error **err)
{
    _cleanup_free_ char *name = xstrdup(s);
    char *colon = strchr(name, ':');
    int64_t max = 0;
    if (colon) {
        *colon = '\0';
        if (strcmp(name, "on-failure") != 0)
            return moat_err(err, EINVAL, "invalid restart policy format: maximum retry count can only be used "
                                         "with 'on-failure'");
        if (moat_parse_i64(colon + 1, &max) < 0 || max < 0)
            return moat_err(err, EINVAL, "invalid restart policy format: maximum retry count must be an integer");
    }
    if (strcmp(name, "no") && strcmp(name, "always") && strcmp(name, "unless-stopped") && strcmp(name, "on-failure"))
        return moat_err(err, EINVAL, "invalid restart policy '%s'", name);
    struct json_object *rp = json_object_new_object();
    json_object_object_add(rp, "Name", json_object_new_string(name));
    json_object_object_add(rp, "MaximumRetryCount", json_object_new_int64(max));
    json_object_object_add(body, "RestartPolicy", rp);
    return 0;
}

static int add_num(struct json_object *body, const char *key, const char *flag, const char *v, bool ram,
                   moat_error **err)
{
    int64_t n;
    if (ram && !strcmp(v, "-1"))
        n = -1;
    else if ((ram ? ctr_parse_ram(v, &n) : moat_parse_i64(v, &n)) < 0)
        return moat_err(err, EINVAL, "invalid argument \"%s\" for \"%s\" flag: invalid size: '%s'", v, flag, v);
    json_object_object_add(body, key, json_object_new_int64(n));
    return 0;
}

static int add_cpus(struct json_object *body, const char *v, moat_error **err)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < 0 || d > 1e9 || !isfinite(d))
        return moat_err(err, EINVAL, "invalid argument \"%s\" for \"--cpus\" flag: failed to parse %s as a rational "
                                     "number", v, v);
    json_object_object_add(body, "NanoCpus", json_object_new_int64((int64_t)llround(d * 1e9)));
    return 0;
}

int cmd_update(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {
        {"cpu-period", required_argument, NULL, 'P'}, {"cpu-quota", required_argument, NULL, 'Q'},
        {"cpu-shares", required_argument, NULL, 'c'}, {"cpus", required_argument, NULL, 'C'},
        {"cpuset-cpus", required_argument, NULL, 'S'}, {"cpuset-mems", required_argument, NULL, 'M'},
        {"memory", required_argument, NULL, 'm'},     {"memory-reservation", required_argument, NULL, 'R'},
        {"memory-swap", required_argument, NULL, 'W'}, {"pids-limit", required_argument, NULL, 'p'},
        {"restart", required_argument, NULL, 'r'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    _cleanup_json_ struct json_object *body = json_object_new_object();
    int o, rc = 0;
    while (rc == 0 && (o = getopt_long(argc, argv, ":c:m:h", opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            return cli_help(c, "[OPTIONS] CONTAINER [CONTAINER...]", option_help);
        case 'P':
            rc = add_num(body, "CpuPeriod", "--cpu-period", optarg, false, err);
            break;
        case 'Q':
            rc = add_num(body, "CpuQuota", "--cpu-quota", optarg, false, err);
            break;
        case 'c':
            rc = add_num(body, "CpuShares", "-c, --cpu-shares", optarg, false, err);
            break;
        case 'C':
            rc = add_cpus(body, optarg, err);
            break;
        case 'S':
            json_object_object_add(body, "CpusetCpus", json_object_new_string(optarg));
            break;
        case 'M':
            json_object_object_add(body, "CpusetMems", json_object_new_string(optarg));
            break;
        case 'm':
            rc = add_num(body, "Memory", "-m, --memory", optarg, true, err);
            break;
        case 'R':
            rc = add_num(body, "MemoryReservation", "--memory-reservation", optarg, true, err);
            break;
        case 'W':
            rc = add_num(body, "MemorySwap", "--memory-swap", optarg, true, err);
            break;
        case 'p':
            rc = add_num(body, "PidsLimit", "--pids-limit", optarg, false, err);
            break;
        case 'r':
            rc = restart_policy(optarg, body, err);
            break;
        default:
            return cli_flag_error(c, o, argv, err);
        }
    }
    if (rc < 0)
        return -1;
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    if (json_object_object_length(body) == 0)
        return moat_err(err, EINVAL, "You must provide one or more flags when using this command.");
    return ctr_each(c, argv + optind, argc - optind, "POST", "/update", body, false, NULL, err);
}
