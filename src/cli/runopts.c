/* Docker's run/create flags and the create body (runopts.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/policy.h"
#include "moat/util.h"

#define ENV_FILE_MAX (1024 * 1024)

enum {
    O_RM = 1000, O_NAME, O_ENV_FILE, O_ENTRYPOINT, O_READ_ONLY, O_TMPFS, O_PIDS, O_CPUS, O_CPU_SHARES, O_CAP_ADD,
    O_CAP_DROP, O_SECOPT, O_RESTART, O_NETWORK, O_MOUNT, O_VOLUMES_FROM, O_ULIMIT, O_GROUP_ADD, O_SYSCTL,
    O_STOP_SIGNAL, O_STOP_TIMEOUT, O_LOG_OPT, O_LOG_DRIVER, O_INIT, O_PRIVILEGED, O_DETACH_KEYS, O_SIG_PROXY,
    O_ALIAS, O_POLICY, O_DEVICE, O_PID, O_IPC, O_UTS, O_CGROUPNS, O_HELP,
};

static const struct option run_longopts[] = {
    {"detach", no_argument, NULL, 'd'},
    {"interactive", no_argument, NULL, 'i'},
    {"tty", no_argument, NULL, 't'},
    {"rm", no_argument, NULL, O_RM},
    {"name", required_argument, NULL, O_NAME},
    {"env", required_argument, NULL, 'e'},
    {"env-file", required_argument, NULL, O_ENV_FILE},
    {"workdir", required_argument, NULL, 'w'},
    {"user", required_argument, NULL, 'u'},
    {"entrypoint", required_argument, NULL, O_ENTRYPOINT},
    {"hostname", required_argument, NULL, 'h'},
    {"label", required_argument, NULL, 'l'},
    {"read-only", no_argument, NULL, O_READ_ONLY},
    {"tmpfs", required_argument, NULL, O_TMPFS},
    {"memory", required_argument, NULL, 'm'},
    {"pids-limit", required_argument, NULL, O_PIDS},
    {"cpus", required_argument, NULL, O_CPUS},
    {"cpu-shares", required_argument, NULL, O_CPU_SHARES},
    {"cap-add", required_argument, NULL, O_CAP_ADD},
    {"cap-drop", required_argument, NULL, O_CAP_DROP},
    {"security-opt", required_argument, NULL, O_SECOPT},
    {"restart", required_argument, NULL, O_RESTART},
    {"network", required_argument, NULL, O_NETWORK},
    {"net", required_argument, NULL, O_NETWORK},
    {"network-alias", required_argument, NULL, O_ALIAS},
    {"volume", required_argument, NULL, 'v'},
    {"mount", required_argument, NULL, O_MOUNT},
    {"volumes-from", required_argument, NULL, O_VOLUMES_FROM},
    {"publish", required_argument, NULL, 'p'},
    {"ulimit", required_argument, NULL, O_ULIMIT},
    {"group-add", required_argument, NULL, O_GROUP_ADD},
    {"sysctl", required_argument, NULL, O_SYSCTL},
    {"stop-signal", required_argument, NULL, O_STOP_SIGNAL},
    {"stop-timeout", required_argument, NULL, O_STOP_TIMEOUT},
    {"log-opt", required_argument, NULL, O_LOG_OPT},
    {"log-driver", required_argument, NULL, O_LOG_DRIVER},
    {"init", no_argument, NULL, O_INIT},
    {"privileged", no_argument, NULL, O_PRIVILEGED},
    {"device", required_argument, NULL, O_DEVICE},
    {"pid", required_argument, NULL, O_PID},
    {"ipc", required_argument, NULL, O_IPC},
    {"uts", required_argument, NULL, O_UTS},
    {"cgroupns", required_argument, NULL, O_CGROUPNS},
    {"policy", required_argument, NULL, O_POLICY},
    {"detach-keys", required_argument, NULL, O_DETACH_KEYS},
    {"sig-proxy", optional_argument, NULL, O_SIG_PROXY},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static const char *const run_help[] = {
    "-d, --detach                 Run container in background and print container ID",
    "-i, --interactive            Keep STDIN open even if not attached",
    "-t, --tty                    Allocate a pseudo-TTY",
    "    --rm                     Automatically remove the container when it exits",
    "    --name string            Assign a name to the container",
    "-e, --env list               Set environment variables",
    "    --env-file list          Read in a file of environment variables",
    "-w, --workdir string         Working directory inside the container",
    "-u, --user string            Username or UID (format: <name|uid>[:<group|gid>])",
    "    --entrypoint string      Overwrite the default ENTRYPOINT of the image",
    "-h, --hostname string        Container host name",
    "-l, --label list             Set meta data on a container",
    "    --read-only              Mount the container's root filesystem as read only",
    "    --tmpfs list             Mount a tmpfs directory",
    "-m, --memory bytes           Memory limit",
    "    --pids-limit int         Tune container pids limit (set -1 for unlimited)",
    "    --cpus decimal           Number of CPUs",
    "    --cpu-shares int         CPU shares (relative weight)",
    "    --cap-add list           Add Linux capabilities",
    "    --cap-drop list          Drop Linux capabilities",
    "    --security-opt list      Security Options",
    "    --restart string         Restart policy to apply when a container exits (default \"no\")",
    "    --network network        Connect a container to a network (none|host|NAME)",
    "    --network-alias list     Add network-scoped alias for the container",
    "-v, --volume list            Bind mount a volume",
    "    --mount mount            Attach a filesystem mount to the container",
    "    --volumes-from list      Mount volumes from the specified container(s)",
    "-p, --publish list           Publish a container's port(s) to the host",
    "    --ulimit ulimit          Ulimit options",
    "    --group-add list         Add additional groups to join",
    "    --sysctl map             Sysctl options",
    "    --stop-signal string     Signal to stop a container (default \"SIGTERM\")",
    "    --stop-timeout int       Timeout (in seconds) to stop a container",
    "    --log-driver string      Logging driver for the container",
    "    --log-opt list           Log driver options",
    "    --init                   Run an init inside the container that forwards signals and reaps processes",
    "    --policy name|file       Tighten the policy for this container (restricted, baseline, or a policy file)",
    "    --privileged             Every capability and no seccomp filter, inside the container's user namespace "
    "(if the policy allows)",
    "    --device list            Add a host device to the container (HOST[:CONTAINER][:rwm], if the policy allows)",
    "    --pid string             PID namespace to use (host, if the policy allows)",
    "    --ipc string             IPC mode to use (private, shareable, none, host)",
    "    --uts string             UTS namespace to use (host, if the policy allows)",
    "    --cgroupns string        Cgroup namespace to use (private, host)",
    "    --detach-keys string     Override the key sequence for detaching a container",
    "    --sig-proxy              Proxy received signals to the process (default true)",
    NULL,
};

void run_opts_free(struct run_opts *o)
{
    char ***lists[] = {&o->env, &o->env_files, &o->labels, &o->tmpfs, &o->cap_add, &o->cap_drop, &o->security_opt,
                       &o->volumes, &o->mounts, &o->volumes_from, &o->publish, &o->ulimits, &o->group_add,
                       &o->sysctls, &o->log_opts, &o->aliases, &o->devices};
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        moat_strv_free(*lists[i]);
        *lists[i] = NULL;
    }
    char **strs[] = {&o->name, &o->workdir, &o->user, &o->entrypoint, &o->hostname, &o->restart, &o->network,
                     &o->stop_signal, &o->detach_keys, &o->log_driver, &o->policy, &o->pid, &o->ipc, &o->uts,
                     &o->cgroupns};
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static void set_str(char **p, const char *v)
{
    free(*p);
    *p = xstrdup(v);
}

static int parse_bool(const char *v, bool *ret)
{
    if (!v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "t") || !strcmp(v, "TRUE") || !strcmp(v, "True"))
        *ret = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "f") || !strcmp(v, "FALSE") || !strcmp(v, "False"))
        *ret = false;
    else
        return -1;
    return 0;
}

static int flag_err(int c, char **argv, const char *prog, moat_error **err)
{
    const char *flag = argv[optind - 1];
    if (c == ':')
        return moat_err(err, EINVAL, "flag needs an argument: %s (see '%s --help')", flag, prog);
    return moat_err(err, EINVAL, "unknown flag: %s (see '%s --help')", flag, prog);
}

static int bad_value(const char *flag, const char *v, const char *why, moat_error **err)
{
    return moat_err(err, EINVAL, "invalid argument \"%s\" for \"%s\" flag: %s", v, flag, why);
}

static int parse_int_flag(const char *flag, const char *v, int64_t *ret, moat_error **err)
{
    if (moat_parse_i64(v, ret) < 0)
        return bad_value(flag, v, "invalid syntax", err);
    return 0;
}

/* --security-opt seccomp=FILE: like the docker CLI, the client reads the profile and sends its
 * content; the engine never opens a file a client names (only paths the host's policy lists). */
static int secopt_flag(struct run_opts *o, const char *v, moat_error **err)
{
    const char *pv = !strncmp(v, "seccomp=", 8) ? v + 8 : !strncmp(v, "seccomp:", 8) ? v + 8 : NULL;
    if (!pv || !pv[0] || pv[0] == '{' || !strcmp(pv, "default") || !strcmp(pv, "restricted") ||
        !strcmp(pv, "unconfined")) {
        moat_strv_push(&o->security_opt, v);
        return 0;
    }
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (moat_read_file_at(AT_FDCWD, pv, 1u << 20, &buf, &len, err) < 0)
        return moat_err_wrap(err, "opening seccomp profile (%s) failed", pv);
    if (memchr(buf, '\0', len))
        return moat_err(err, EINVAL, "opening seccomp profile (%s) failed: not a text file", pv);
    _cleanup_free_ char *opt = xasprintf("seccomp=%s", buf);
    moat_strv_push(&o->security_opt, opt);
    return 0;
}

static int one_flag(struct run_opts *o, int c, char **argv, const char *prog, moat_error **err)
{
    switch (c) {
    case 'd': o->detach = true; break;
    case 'i': o->interactive = true; break;
    case 't': o->tty = true; break;
    case O_RM: o->rm = true; break;
    case O_NAME: set_str(&o->name, optarg); break;
    case 'e': moat_strv_push(&o->env, optarg); break;
    case O_ENV_FILE: moat_strv_push(&o->env_files, optarg); break;
    case 'w': set_str(&o->workdir, optarg); break;
    case 'u': set_str(&o->user, optarg); break;
    case O_ENTRYPOINT: set_str(&o->entrypoint, optarg); o->entrypoint_set = true; break;
    case 'h': set_str(&o->hostname, optarg); break;
    case 'l': moat_strv_push(&o->labels, optarg); break;
    case O_READ_ONLY: o->read_only = true; break;
    case O_TMPFS: moat_strv_push(&o->tmpfs, optarg); break;
    case 'm':
        if (run_parse_ram(optarg, &o->memory, err) < 0)
            return moat_err_wrap(err, "invalid argument \"%s\" for \"-m, --memory\" flag", optarg);
        break;
    case O_PIDS: return parse_int_flag("--pids-limit", optarg, &o->pids_limit, err);
    case O_CPUS:
        if (run_parse_cpus(optarg, &o->nano_cpus, err) < 0)
            return moat_err_wrap(err, "invalid argument \"%s\" for \"--cpus\" flag", optarg);
        break;
    case O_CPU_SHARES: return parse_int_flag("-c, --cpu-shares", optarg, &o->cpu_shares, err);
    case O_CAP_ADD: moat_strv_push(&o->cap_add, optarg); break;
    case O_CAP_DROP: moat_strv_push(&o->cap_drop, optarg); break;
    case O_SECOPT: return secopt_flag(o, optarg, err);
    case O_RESTART: set_str(&o->restart, optarg); break;
    case O_NETWORK: set_str(&o->network, optarg); break;
    case O_ALIAS: moat_strv_push(&o->aliases, optarg); break;
    case 'v': moat_strv_push(&o->volumes, optarg); break;
    case O_MOUNT: moat_strv_push(&o->mounts, optarg); break;
    case O_VOLUMES_FROM: moat_strv_push(&o->volumes_from, optarg); break;
    case 'p': moat_strv_push(&o->publish, optarg); break;
    case O_ULIMIT: moat_strv_push(&o->ulimits, optarg); break;
    case O_GROUP_ADD: moat_strv_push(&o->group_add, optarg); break;
    case O_SYSCTL: moat_strv_push(&o->sysctls, optarg); break;
    case O_STOP_SIGNAL: set_str(&o->stop_signal, optarg); break;
    case O_STOP_TIMEOUT:
        o->stop_timeout_set = true;
        return parse_int_flag("--stop-timeout", optarg, &o->stop_timeout, err);
    case O_LOG_OPT: moat_strv_push(&o->log_opts, optarg); break;
    case O_LOG_DRIVER: set_str(&o->log_driver, optarg); break;
    case O_INIT: o->init = true; break;
    case O_PRIVILEGED: o->privileged = true; break;
    case O_DEVICE: moat_strv_push(&o->devices, optarg); break;
    case O_PID: set_str(&o->pid, optarg); break;
    case O_IPC: set_str(&o->ipc, optarg); break;
    case O_UTS: set_str(&o->uts, optarg); break;
    case O_CGROUPNS: set_str(&o->cgroupns, optarg); break;
    case O_POLICY: {
        /* A built-in name goes as it is; a file's content is sent (the engine may be remote). */
        free(o->policy);
        o->policy = NULL;
        if (moat_policy_is_builtin(optarg)) {
            o->policy = xstrdup(optarg);
            break;
        }
        size_t len = 0;
        if (moat_read_file_at(AT_FDCWD, optarg, 64u << 10, &o->policy, &len, err) < 0)
            return moat_err_wrap(err, "--policy %s", optarg);
        if (strlen(o->policy) != len || o->policy[strspn(o->policy, " \t\r\n")] != '{')
            return moat_err(err, EINVAL, "--policy %s: not a policy name (privileged, baseline, restricted) or a "
                                         "JSON policy file", optarg);
        break;
    }
    case O_DETACH_KEYS: set_str(&o->detach_keys, optarg); break;
    case O_SIG_PROXY:
        if (parse_bool(optarg, &o->sig_proxy) < 0)
            return bad_value("--sig-proxy", optarg, "invalid syntax", err);
        break;
    default: return flag_err(c, argv, prog, err);
    }
    return 0;
}

int run_opts_parse(struct run_opts *o, int argc, char **argv, const char *prog, moat_error **err)
{
    o->sig_proxy = true;
    int c;
    /* "+": stop at the first non-option (the image); ':' to report missing arguments. */
    while ((c = getopt_long(argc, argv, "+:dite:w:u:h:l:m:v:p:", run_longopts, NULL)) != -1) {
        if (c == O_HELP) {
            printf("\nUsage:  %s [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nOptions:\n", prog);
            for (size_t i = 0; run_help[i]; i++)
                printf("  %s\n", run_help[i]);
            return 1;
        }
        if (one_flag(o, c, argv, prog, err) < 0)
            return -1;
    }
    if (optind >= argc)
        return moat_err(err, EINVAL, "\"%s\" requires at least 1 argument (see '%s --help')", prog, prog);
    o->image = argv[optind];
    o->cmd = argv + optind + 1;
    o->ncmd = argc - optind - 1;
    if (o->rm && o->restart && strcmp(o->restart, "no") && *o->restart)
        return moat_err(err, EINVAL, "Conflicting options: --restart and --rm");
    return 0;
}

/* ---- values ------------------------------------------------------------------------ */

int run_parse_ram(const char *s, int64_t *ret, moat_error **err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isdigit((unsigned char)s[0]))
        return moat_err(err, EINVAL, "invalid size: '%s'", s);
    while (*end == ' ')
        end++;
    double mult = 1;
    const char *units = "kmgtp";
    const char *u = *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
    if (u) {
        for (const char *q = units; q <= u; q++)
            mult *= 1024;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end)
        return moat_err(err, EINVAL, "invalid size: '%s'", s);
    double bytes = v * mult;
    if (bytes > 9.2e18)
        return moat_err(err, ERANGE, "invalid size: '%s'", s);
    *ret = (int64_t)bytes;
    return 0;
}

int run_parse_cpus(const char *s, int64_t *ret, moat_error **err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v < 0 || v > 1e6 || !isfinite(v))
        return moat_err(err, EINVAL, "failed to parse %s as a rational number", s);
    double n = v * 1e9;
    if (n != floor(n) && fabs(n - round(n)) > 1e-3)
        return moat_err(err, EINVAL, "value is too precise");
    *ret = (int64_t)llround(n);
    return 0;
}

char *run_env_value(const char *e)
{
    if (strchr(e, '='))
        return xstrdup(e);
    const char *v = getenv(e);
    return v ? xasprintf("%s=%s", e, v) : xstrdup(e);
}

int run_read_env_file(const char *path, char ***env, moat_error **err)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    if (moat_read_file_at(AT_FDCWD, path, ENV_FILE_MAX, &data, &len, err) < 0)
        return -1;
    char *save = NULL;
    unsigned lineno = 0;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (*line == ' ' || *line == '\t')
            line++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = 0;
        if (!n || line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        size_t namelen = eq ? (size_t)(eq - line) : n;
        if (namelen == 0)
            return moat_err(err, EINVAL, "%s: line %u: no variable name", path, lineno);
        for (size_t i = 0; i < namelen; i++)
            if (isspace((unsigned char)line[i]))
                return moat_err(err, EINVAL, "variable '%.*s' contains whitespaces", (int)namelen, line);
        if (eq) {
            moat_strv_push(env, line);
        } else {
            while (n && isspace((unsigned char)line[n - 1]))
                line[--n] = 0;
            const char *v = getenv(line);
            if (v) {
                _cleanup_free_ char *kv = xasprintf("%s=%s", line, v);
                moat_strv_push(env, kv);
            }
        }
    }
    return 0;
}

static int parse_port(const char *s, size_t len, unsigned *ret)
{
    if (!len || len > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *ret = v;
    return 0;
}

/* "A" or "A-B" into [lo, hi]. */
static int parse_range(const char *s, size_t len, unsigned *lo, unsigned *hi)
{
    const char *dash = memchr(s, '-', len);
    if (!dash)
        return parse_port(s, len, lo) < 0 ? -1 : (*hi = *lo, 0);
    if (parse_port(s, (size_t)(dash - s), lo) < 0 || parse_port(dash + 1, len - (size_t)(dash - s) - 1, hi) < 0 ||
        *hi < *lo)
        return -1;
    return 0;
}

int run_parse_publish(const char *spec, struct json_object *exposed, struct json_object *bindings, moat_error **err)
{
    _cleanup_free_ char *s = xstrdup(spec);
    const char *proto = "tcp";
    char *slash = strrchr(s, '/');
    if (slash) {
        *slash = 0;
        proto = slash + 1;
        if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
            return moat_err(err, EINVAL, "invalid proto: %s", proto);
    }
    /* IP may be "[v6]"; the container port is after the last ':'. */
    char *cport = strrchr(s, ':');
    const char *ip = "", *hport = "";
    if (cport) {
        *cport++ = 0;
        char *hp = strrchr(s, ':');
        if (hp && !(s[0] == '[' && hp < strchr(s, ']'))) {
            *hp++ = 0;
            ip = s;
            hport = hp;
        } else {
            hport = s;
        }
    } else {
        cport = s;
    }
    if (ip[0] == '[') {
        size_t n = strlen(ip);
        if (n < 2 || ip[n - 1] != ']')
            return moat_err(err, EINVAL, "invalid IP address: %s", ip);
    }
    unsigned clo, chi, hlo = 0, hhi = 0;
    if (parse_range(cport, strlen(cport), &clo, &chi) < 0 || clo == 0)
        return moat_err(err, EINVAL, "invalid containerPort: %s", cport);
    if (*hport && parse_range(hport, strlen(hport), &hlo, &hhi) < 0)
        return moat_err(err, EINVAL, "invalid hostPort: %s", hport);
    if (*hport && hhi - hlo != chi - clo && hlo != hhi)
        return moat_err(err, EINVAL, "invalid ranges specified for container and host Ports: %s and %s", cport,
                        hport);
    for (unsigned p = clo; p <= chi; p++) {
        char key[32], hp[16] = "";
        snprintf(key, sizeof key, "%u/%s", p, proto);
        if (*hport && hlo == hhi && chi != clo)
            snprintf(hp, sizeof hp, "%u", hlo); /* one host port for a range: Docker passes the range */
        else if (*hport)
            snprintf(hp, sizeof hp, "%u", hlo + (p - clo));
        json_object_object_add(exposed, key, json_object_new_object());
        struct json_object *arr;
        if (!json_object_object_get_ex(bindings, key, &arr)) {
            arr = json_object_new_array();
            json_object_object_add(bindings, key, arr);
        }
        struct json_object *b = json_object_new_object();
        _cleanup_free_ char *ipv = ip[0] == '[' ? xstrndup(ip + 1, strlen(ip) - 2) : xstrdup(ip);
        json_object_object_add(b, "HostIp", json_object_new_string(ipv));
        json_object_object_add(b, "HostPort", json_object_new_string(hp));
        json_object_array_add(arr, b);
    }
    return 0;
}

static int mount_bool(const char *key, const char *v, bool *ret, moat_error **err)
{
    if (parse_bool(v, ret) < 0)
        return moat_err(err, EINVAL, "invalid value for %s: %s", key, v);
    return 0;
}

int run_parse_mount(const char *spec, struct json_object **ret, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *m = json_object_new_object();
    _cleanup_(moat_json_putp) struct json_object *vopt = NULL, *topt = NULL, *bopt = NULL;
    _cleanup_free_ char *s = xstrdup(spec);
    char *type = NULL, *src = NULL, *dst = NULL;
    bool ro = false;
    char *save = NULL;
    for (char *kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        const char *v = NULL;
        if (eq) {
            *eq = 0;
            v = eq + 1;
        }
        bool b;
        if (!strcmp(kv, "readonly") || !strcmp(kv, "ro")) {
            if (mount_bool(kv, v, &ro, err) < 0)
                return -1;
            continue;
        }
        if (!strcmp(kv, "volume-nocopy")) {
            if (mount_bool(kv, v, &b, err) < 0)
                return -1;
            if (!vopt)
                vopt = json_object_new_object();
            json_object_object_add(vopt, "NoCopy", json_object_new_boolean(b));
            continue;
        }
        if (!v)
            return moat_err(err, EINVAL, "invalid field '%s' must be a key=value pair", kv);
        if (!strcmp(kv, "type")) {
            type = (char *)v;
        } else if (!strcmp(kv, "source") || !strcmp(kv, "src")) {
            src = (char *)v;
        } else if (!strcmp(kv, "target") || !strcmp(kv, "destination") || !strcmp(kv, "dst")) {
            dst = (char *)v;
        } else if (!strcmp(kv, "bind-propagation")) {
            if (!bopt)
                bopt = json_object_new_object();
            json_object_object_add(bopt, "Propagation", json_object_new_string(v));
        } else if (!strcmp(kv, "volume-driver")) {
            if (!vopt)
                vopt = json_object_new_object();
            struct json_object *dc = json_object_new_object();
            json_object_object_add(dc, "Name", json_object_new_string(v));
            json_object_object_add(vopt, "DriverConfig", dc);
        } else if (!strcmp(kv, "tmpfs-size")) {
            int64_t sz;
            if (run_parse_ram(v, &sz, err) < 0)
                return moat_err_wrap(err, "invalid value for tmpfs-size");
            if (!topt)
                topt = json_object_new_object();
            json_object_object_add(topt, "SizeBytes", json_object_new_int64(sz));
        } else if (!strcmp(kv, "tmpfs-mode")) {
            char *end;
            errno = 0;
            unsigned long mode = strtoul(v, &end, 8);
            if (!*v || *end || errno || mode > 07777)
                return moat_err(err, EINVAL, "invalid value for tmpfs-mode: %s", v);
            if (!topt)
                topt = json_object_new_object();
            json_object_object_add(topt, "Mode", json_object_new_int64((int64_t)mode));
        } else {
            return moat_err(err, EINVAL, "unexpected key '%s' in '%s'", kv, spec);
        }
    }
    if (!type)
        type = "volume";
    if (strcmp(type, "bind") && strcmp(type, "volume") && strcmp(type, "tmpfs"))
        return moat_err(err, EINVAL, "invalid mount type: %s", type);
    if (!dst || !*dst)
        return moat_err(err, EINVAL, "target is required");
    if (!strcmp(type, "bind") && (!src || !*src))
        return moat_err(err, EINVAL, "invalid mount config for type \"bind\": field Source must not be empty");
    if (!strcmp(type, "tmpfs") && src && *src)
        return moat_err(err, EINVAL, "invalid mount config for type \"tmpfs\": field Source must be empty");
    if (topt && strcmp(type, "tmpfs"))
        return moat_err(err, EINVAL, "cannot mix 'tmpfs-*' options with mount type '%s'", type);
    if (vopt && strcmp(type, "volume"))
        return moat_err(err, EINVAL, "cannot mix 'volume-*' options with mount type '%s'", type);
    if (bopt && strcmp(type, "bind"))
        return moat_err(err, EINVAL, "cannot mix 'bind-*' options with mount type '%s'", type);
    json_object_object_add(m, "Type", json_object_new_string(type));
    if (src)
        json_object_object_add(m, "Source", json_object_new_string(src));
    json_object_object_add(m, "Target", json_object_new_string(dst));
    if (ro)
        json_object_object_add(m, "ReadOnly", json_object_new_boolean(true));
    if (vopt)
        json_object_object_add(m, "VolumeOptions", TAKE_PTR(vopt));
    if (topt)
        json_object_object_add(m, "TmpfsOptions", TAKE_PTR(topt));
    if (bopt)
        json_object_object_add(m, "BindOptions", TAKE_PTR(bopt));
    *ret = TAKE_PTR(m);
    return 0;
}

/* ---- the body ---------------------------------------------------------------------- */

static struct json_object *strv_json(char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

/* "k=v" items into an object (a missing "=v" gives ""). */
static int kv_map(char *const *items, const char *what, bool need_eq, struct json_object **ret, moat_error **err)
{
    struct json_object *m = json_object_new_object();
    for (size_t i = 0; items && items[i]; i++) {
        const char *eq = strchr(items[i], '=');
        if (need_eq && !eq) {
            json_object_put(m);
            return moat_err(err, EINVAL, "invalid argument \"%s\" for \"%s\" flag: expected key=value", items[i],
                            what);
        }
        _cleanup_free_ char *k = eq ? xstrndup(items[i], (size_t)(eq - items[i])) : xstrdup(items[i]);
        json_object_object_add(m, k, json_object_new_string(eq ? eq + 1 : ""));
    }
    *ret = m;
    return 0;
}

static int ulimits_json(char *const *items, struct json_object **ret, moat_error **err)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; items && items[i]; i++) {
        const char *eq = strchr(items[i], '=');
        int64_t soft, hard;
        _cleanup_free_ char *vals = eq ? xstrdup(eq + 1) : NULL;
        char *colon = vals ? strchr(vals, ':') : NULL;
        if (colon)
            *colon = 0;
        if (!eq || eq == items[i] || moat_parse_i64(vals, &soft) < 0 ||
            moat_parse_i64(colon ? colon + 1 : vals, &hard) < 0) {
            json_object_put(a);
            return moat_err(err, EINVAL, "invalid argument \"%s\" for \"--ulimit\" flag: invalid ulimit argument",
                            items[i]);
        }
        if (soft > hard) {
            json_object_put(a);
            return moat_err(err, EINVAL, "ulimit soft limit must be less than or equal to hard limit: %" PRId64
                            " > %" PRId64, soft, hard);
        }
        struct json_object *u = json_object_new_object();
        _cleanup_free_ char *name = xstrndup(items[i], (size_t)(eq - items[i]));
        add_str(u, "Name", name);
        json_object_object_add(u, "Hard", json_object_new_int64(hard));
        json_object_object_add(u, "Soft", json_object_new_int64(soft));
        json_object_array_add(a, u);
    }
    *ret = a;
    return 0;
}

static int restart_json(const char *r, struct json_object **ret, moat_error **err)
{
    const char *name = r && *r ? r : "no";
    int64_t max = 0;
    _cleanup_free_ char *n = xstrdup(name);
    char *colon = strchr(n, ':');
    if (colon) {
        *colon++ = 0;
        if (strcmp(n, "on-failure") || moat_parse_i64(colon, &max) < 0 || max < 0)
            return moat_err(err, EINVAL, "invalid restart policy format");
    }
    if (strcmp(n, "no") && strcmp(n, "always") && strcmp(n, "unless-stopped") && strcmp(n, "on-failure"))
        return moat_err(err, EINVAL, "invalid restart policy '%s'", n);
    struct json_object *o = json_object_new_object();
    add_str(o, "Name", n);
    json_object_object_add(o, "MaximumRetryCount", json_object_new_int64(max));
    *ret = o;
    return 0;
}

/* -v: "/path" alone is an anonymous volume (Config.Volumes); else a Bind. */
static void volumes_json(char *const *vols, struct json_object *cfg, struct json_object *hc)
{
    struct json_object *binds = NULL, *anon = NULL;
    for (size_t i = 0; vols && vols[i]; i++) {
        if (strchr(vols[i], ':')) {
            if (!binds)
                binds = json_object_new_array();
            json_object_array_add(binds, json_object_new_string(vols[i]));
        } else {
            if (!anon)
                anon = json_object_new_object();
            json_object_object_add(anon, vols[i], json_object_new_object());
        }
    }
    if (binds)
        json_object_object_add(hc, "Binds", binds);
    if (anon)
        json_object_object_add(cfg, "Volumes", anon);
}

static int config_json(const struct run_opts *o, struct json_object *cfg, moat_error **err)
{
    bool attach = !o->detach;
    add_str(cfg, "Hostname", o->hostname);
    add_str(cfg, "Domainname", "");
    add_str(cfg, "User", o->user);
    json_object_object_add(cfg, "AttachStdin", json_object_new_boolean(attach && o->interactive));
    json_object_object_add(cfg, "AttachStdout", json_object_new_boolean(attach));
    json_object_object_add(cfg, "AttachStderr", json_object_new_boolean(attach));
    json_object_object_add(cfg, "Tty", json_object_new_boolean(o->tty));
    json_object_object_add(cfg, "OpenStdin", json_object_new_boolean(o->interactive));
    json_object_object_add(cfg, "StdinOnce", json_object_new_boolean(attach && o->interactive));
    _cleanup_strv_ char **env = NULL;
    for (size_t i = 0; o->env_files && o->env_files[i]; i++)
        if (run_read_env_file(o->env_files[i], &env, err) < 0)
            return -1;
    for (size_t i = 0; o->env && o->env[i]; i++) {
        _cleanup_free_ char *e = run_env_value(o->env[i]);
        moat_strv_push(&env, e);
    }
    json_object_object_add(cfg, "Env", env ? strv_json(env) : NULL);
    json_object_object_add(cfg, "Cmd", o->ncmd ? strv_json(o->cmd) : NULL);
    add_str(cfg, "Image", o->image);
    add_str(cfg, "WorkingDir", o->workdir);
    if (o->entrypoint_set) {
        struct json_object *ep = json_object_new_array();
        json_object_array_add(ep, json_object_new_string(o->entrypoint));
        json_object_object_add(cfg, "Entrypoint", ep);
    } else {
        json_object_object_add(cfg, "Entrypoint", NULL);
    }
    struct json_object *labels;
    if (kv_map(o->labels, "--label", false, &labels, err) < 0)
        return -1;
    json_object_object_add(cfg, "Labels", labels);
    if (o->stop_signal)
        add_str(cfg, "StopSignal", o->stop_signal);
    if (o->stop_timeout_set)
        json_object_object_add(cfg, "StopTimeout", json_object_new_int64(o->stop_timeout));
    return 0;
}

static bool device_perms(const char *s)
{
    return s[0] && strlen(s) <= 3 && strspn(s, "rwm") == strlen(s);
}

/* docker's opts.ParseDevice: HOST, HOST:CONTAINER, HOST:PERMS, HOST:CONTAINER:PERMS. */
int run_parse_device(const char *spec, struct json_object **ret, moat_error **err)
{
    _cleanup_free_ char *copy = xstrdup(spec);
    char *parts[4] = {0};
    size_t n = 0;
    for (char *p = copy; p && n < 4; n++)
        parts[n] = strsep(&p, ":");
    const char *host = parts[0], *ctr = NULL, *perms = "rwm";
    if (n == 2) {
        if (device_perms(parts[1]))
            perms = parts[1];
        else
            ctr = parts[1];
    } else if (n == 3) {
        ctr = parts[1];
        perms = parts[2];
    } else if (n != 1) {
        return moat_err(err, EINVAL, "invalid device specification: %s", spec);
    }
    if (!device_perms(perms))
        return moat_err(err, EINVAL, "invalid device mode: %s", perms);
    if (!host[0] || (ctr && !ctr[0]))
        return moat_err(err, EINVAL, "invalid device specification: %s", spec);
    if (ctr && ctr[0] != '/')
        return moat_err(err, EINVAL, "%s is not an absolute path", ctr);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "PathOnHost", json_object_new_string(host));
    json_object_object_add(d, "PathInContainer", json_object_new_string(ctr ? ctr : host));
    json_object_object_add(d, "CgroupPermissions", json_object_new_string(perms));
    *ret = d;
    return 0;
}

static int host_config_json(const struct run_opts *o, struct json_object *cfg, struct json_object *hc,
                            moat_error **err)
{
    volumes_json(o->volumes, cfg, hc);
    struct json_object *lc = json_object_new_object(), *lopts;
    add_str(lc, "Type", o->log_driver);
    if (kv_map(o->log_opts, "--log-opt", true, &lopts, err) < 0) {
        json_object_put(lc);
        return -1;
    }
    json_object_object_add(lc, "Config", lopts);
    json_object_object_add(hc, "LogConfig", lc);
    add_str(hc, "NetworkMode", o->network && *o->network ? o->network : "default");
    struct json_object *exposed = json_object_new_object(), *pb = json_object_new_object();
    json_object_object_add(hc, "PortBindings", pb);
    for (size_t i = 0; o->publish && o->publish[i]; i++)
        if (run_parse_publish(o->publish[i], exposed, pb, err) < 0) {
            json_object_put(exposed);
            return -1;
        }
    if (json_object_object_length(exposed))
        json_object_object_add(cfg, "ExposedPorts", exposed);
    else
        json_object_put(exposed);
    struct json_object *rp = NULL;
    if (restart_json(o->restart, &rp, err) < 0)
        return -1;
    json_object_object_add(hc, "RestartPolicy", rp);
    json_object_object_add(hc, "AutoRemove", json_object_new_boolean(o->rm));
    json_object_object_add(hc, "VolumesFrom", o->volumes_from ? strv_json(o->volumes_from) : NULL);
    json_object_object_add(hc, "CapAdd", o->cap_add ? strv_json(o->cap_add) : NULL);
    json_object_object_add(hc, "CapDrop", o->cap_drop ? strv_json(o->cap_drop) : NULL);
    json_object_object_add(hc, "GroupAdd", o->group_add ? strv_json(o->group_add) : NULL);
    json_object_object_add(hc, "Privileged", json_object_new_boolean(o->privileged));
    add_str(hc, "PidMode", o->pid ? o->pid : "");
    add_str(hc, "IpcMode", o->ipc ? o->ipc : "");
    add_str(hc, "UTSMode", o->uts ? o->uts : "");
    if (o->cgroupns)
        add_str(hc, "CgroupnsMode", o->cgroupns);
    struct json_object *devs = json_object_new_array();
    json_object_object_add(hc, "Devices", devs);
    for (size_t i = 0; o->devices && o->devices[i]; i++) {
        struct json_object *d = NULL;
        if (run_parse_device(o->devices[i], &d, err) < 0)
            return moat_err_wrap(err, "invalid argument \"%s\" for \"--device\" flag", o->devices[i]);
        json_object_array_add(devs, d);
    }
    if (o->policy)
        json_object_object_add(hc, "MoatPolicy", json_object_new_string(o->policy));
    json_object_object_add(hc, "ReadonlyRootfs", json_object_new_boolean(o->read_only));
    json_object_object_add(hc, "SecurityOpt", o->security_opt ? strv_json(o->security_opt) : NULL);
    if (o->tmpfs) {
        struct json_object *t = json_object_new_object();
        for (size_t i = 0; o->tmpfs[i]; i++) {
            const char *colon = strchr(o->tmpfs[i], ':');
            _cleanup_free_ char *p = colon ? xstrndup(o->tmpfs[i], (size_t)(colon - o->tmpfs[i])) : xstrdup(o->tmpfs[i]);
            json_object_object_add(t, p, json_object_new_string(colon ? colon + 1 : ""));
        }
        json_object_object_add(hc, "Tmpfs", t);
    }
    if (o->sysctls) {
        struct json_object *s;
        if (kv_map(o->sysctls, "--sysctl", true, &s, err) < 0)
            return -1;
        json_object_object_add(hc, "Sysctls", s);
    }
    json_object_object_add(hc, "CpuShares", json_object_new_int64(o->cpu_shares));
    json_object_object_add(hc, "Memory", json_object_new_int64(o->memory));
    json_object_object_add(hc, "NanoCpus", json_object_new_int64(o->nano_cpus));
    json_object_object_add(hc, "MemorySwappiness", json_object_new_int64(-1));
    json_object_object_add(hc, "PidsLimit", o->pids_limit ? json_object_new_int64(o->pids_limit) : NULL);
    struct json_object *ul = NULL;
    if (ulimits_json(o->ulimits, &ul, err) < 0)
        return -1;
    json_object_object_add(hc, "Ulimits", ul);
    if (o->init)
        json_object_object_add(hc, "Init", json_object_new_boolean(true));
    struct json_object *cs = json_object_new_array();
    json_object_array_add(cs, json_object_new_int(0));
    json_object_array_add(cs, json_object_new_int(0));
    json_object_object_add(hc, "ConsoleSize", cs);
    if (o->mounts) {
        struct json_object *ms = json_object_new_array();
        json_object_object_add(hc, "Mounts", ms);
        for (size_t i = 0; o->mounts[i]; i++) {
            struct json_object *m;
            if (run_parse_mount(o->mounts[i], &m, err) < 0)
                return moat_err_wrap(err, "invalid argument \"%s\" for \"--mount\" flag", o->mounts[i]);
            json_object_array_add(ms, m);
        }
    }
    return 0;
}

int run_opts_body(const struct run_opts *o, struct json_object **ret, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *cfg = json_object_new_object();
    struct json_object *hc = json_object_new_object();
    json_object_object_add(cfg, "HostConfig", hc);
    if (config_json(o, cfg, err) < 0 || host_config_json(o, cfg, hc, err) < 0)
        return -1;
    struct json_object *nc = json_object_new_object(), *eps = json_object_new_object();
    json_object_object_add(nc, "EndpointsConfig", eps);
    json_object_object_add(cfg, "NetworkingConfig", nc);
    const char *net = o->network;
    if (net && o->aliases && strcmp(net, "default") && strcmp(net, "bridge") && strcmp(net, "host") &&
        strcmp(net, "none") && !moat_str_has_prefix(net, "container:")) {
        struct json_object *ep = json_object_new_object();
        json_object_object_add(ep, "Aliases", strv_json(o->aliases));
        json_object_object_add(eps, net, ep);
    } else if (o->aliases) {
        return moat_err(err, EINVAL, "network-scoped aliases are only supported for user-defined networks");
    }
    *ret = TAKE_PTR(cfg);
    return 0;
}
