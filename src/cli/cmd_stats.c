/* moat stats: GET /version, then per container GET stats?stream=0; printed
 * in Docker's table.  --no-stream prints once; otherwise the table is
 * redrawn every second from fresh samples until interrupted. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const stats_help[] = {
    "-a, --all             Show all containers (default shows just running)",
    "    --no-stream       Disable streaming stats and only pull the first result",
    "    --no-trunc        Do not truncate output",
    NULL,
};

static uint64_t u64_at(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v = o;
    if (a && !(json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, a, &v)))
        return 0;
    if (b && !(json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, b, &v)))
        return 0;
    return (uint64_t)json_object_get_int64(v);
}

/* Docker's units.BytesSize: binary, "%.4g". */
static void bytes_size(double size, char *buf, size_t len)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t i = 0;
    while (size >= 1024 && i < ARRAY_SIZE(u) - 1) {
        size /= 1024;
        i++;
    }
    snprintf(buf, len, "%.4g%s", size, u[i]);
}

void cli_stats_row(struct json_object *st, char *cols[8])
{
    struct json_object *cpu = NULL, *pre = NULL, *mem = NULL, *v;
    json_object_object_get_ex(st, "cpu_stats", &cpu);
    json_object_object_get_ex(st, "precpu_stats", &pre);
    json_object_object_get_ex(st, "memory_stats", &mem);
    double cpu_pct = 0;
    uint64_t tot = u64_at(cpu, "cpu_usage", "total_usage"), ptot = u64_at(pre, "cpu_usage", "total_usage");
    uint64_t sys = u64_at(cpu, "system_cpu_usage", NULL), psys = u64_at(pre, "system_cpu_usage", NULL);
    uint64_t ncpu = u64_at(cpu, "online_cpus", NULL);
    struct json_object *percpu;
    if (!ncpu && cpu && json_object_object_get_ex(cpu, "cpu_usage", &v) &&
        json_object_object_get_ex(v, "percpu_usage", &percpu) && json_object_is_type(percpu, json_type_array))
        ncpu = json_object_array_length(percpu);
    if (sys > psys && tot > ptot)
        cpu_pct = (double)(tot - ptot) / (double)(sys - psys) * (double)ncpu * 100.0;
    uint64_t usage = u64_at(mem, "usage", NULL), limit = u64_at(mem, "limit", NULL);
    struct json_object *ms = NULL;
    if (mem && json_object_object_get_ex(mem, "stats", &ms)) {
        if (json_object_object_get_ex(ms, "total_inactive_file", &v) && (uint64_t)json_object_get_int64(v) < usage)
            usage -= (uint64_t)json_object_get_int64(v);
        else if (json_object_object_get_ex(ms, "inactive_file", &v) && (uint64_t)json_object_get_int64(v) < usage)
            usage -= (uint64_t)json_object_get_int64(v);
    }
    uint64_t rx = 0, tx = 0, rd = 0, wr = 0;
    struct json_object *nets, *blk, *arr;
    if (json_object_object_get_ex(st, "networks", &nets) && json_object_is_type(nets, json_type_object)) {
        json_object_object_foreach(nets, k, n) {
            (void)k;
            rx += u64_at(n, "rx_bytes", NULL);
            tx += u64_at(n, "tx_bytes", NULL);
        }
    }
    if (json_object_object_get_ex(st, "blkio_stats", &blk) &&
        json_object_object_get_ex(blk, "io_service_bytes_recursive", &arr) && json_object_is_type(arr, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *e = json_object_array_get_idx(arr, i), *op;
            if (!json_object_object_get_ex(e, "op", &op))
                continue;
            const char *s = json_object_get_string(op);
            if (!strcasecmp(s, "read"))
                rd += u64_at(e, "value", NULL);
            else if (!strcasecmp(s, "write"))
                wr += u64_at(e, "value", NULL);
        }
    }
    const char *id = "", *name = "";
    if (json_object_object_get_ex(st, "id", &v))
        id = json_object_get_string(v);
    if (json_object_object_get_ex(st, "name", &v))
        name = json_object_get_string(v);
    if (*name == '/')
        name++;
    char a[32], b[32];
    cols[0] = xstrndup(id, 12);
    cols[1] = xstrdup(name);
    cols[2] = xasprintf("%.2f%%", cpu_pct);
    bytes_size((double)usage, a, sizeof a);
    bytes_size((double)limit, b, sizeof b);
    cols[3] = xasprintf("%s / %s", a, b);
    cols[4] = xasprintf("%.2f%%", limit ? (double)usage / (double)limit * 100.0 : 0.0);
    cli_human_size(rx, 3, a, sizeof a);
    cli_human_size(tx, 3, b, sizeof b);
    cols[5] = xasprintf("%s / %s", a, b);
    cli_human_size(rd, 3, a, sizeof a);
    cli_human_size(wr, 3, b, sizeof b);
    cols[6] = xasprintf("%s / %s", a, b);
    cols[7] = xasprintf("%" PRIu64, u64_at(st, "pids_stats", "current"));
}

static int list_containers(struct moat_client *cl, bool all, char ***ret, moat_error **err)
{
    _cleanup_(moat_json_putp) struct json_object *list = NULL;
    if (moat_client_json(cl, "GET", all ? "/containers/json?all=1" : "/containers/json", NULL, NULL, &list, err) < 0)
        return moat_client_wrap_error(cl, err);
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        struct json_object *v;
        if (json_object_object_get_ex(json_object_array_get_idx(list, i), "Id", &v))
            moat_strv_push(ret, json_object_get_string(v));
    }
    return 0;
}

static int stats_table(struct moat_client *cl, char **ctrs, bool clear, moat_error **err)
{
    struct cli_table t;
    cli_table_init(&t, 8, "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O",
                   "PIDS");
    int rc = 0;
    for (size_t i = 0; ctrs && ctrs[i]; i++) {
        _cleanup_free_ char *e = cli_query_escape(ctrs[i]);
        _cleanup_free_ char *p = xasprintf("/containers/%s/stats?stream=0", e);
        _cleanup_(moat_json_putp) struct json_object *st = NULL;
        moat_error *e2 = NULL;
        if (moat_client_json(cl, "GET", p, NULL, NULL, &st, &e2) < 0 || !st) {
            moat_client_wrap_error(cl, &e2);
            if (e2) {
                fprintf(stderr, "%s\n", e2->msg);
                moat_error_free(e2);
            }
            rc = 1;
            continue;
        }
        char *cols[8];
        cli_stats_row(st, cols);
        cli_table_row(&t, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]);
        for (int k = 0; k < 8; k++)
            free(cols[k]);
    }
    if (clear)
        printf("\033[2J\033[H");
    cli_table_print(&t, stdout);
    cli_table_free(&t);
    fflush(stdout);
    (void)err;
    return rc;
}

int cmd_stats(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'}, {"no-stream", no_argument, NULL, 'N'}, {"no-trunc", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
    };
    bool all = false, no_stream = false;
    int o;
    while ((o = getopt_long(argc, argv, ":a", longopts, NULL)) != -1) {
        switch (o) {
        case 'a': all = true; break;
        case 'N': no_stream = true; break;
        case 'T': break;
        case 'H': return cli_help(c, "[OPTIONS] [CONTAINER...]", stats_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_(moat_json_putp) struct json_object *ver = NULL;
    if (moat_client_json(cl, "GET", "/version", NULL, NULL, &ver, err) < 0)
        return moat_client_wrap_error(cl, err);
    _cleanup_strv_ char **ctrs = NULL;
    bool listed = optind >= argc;
    for (int i = optind; i < argc; i++)
        moat_strv_push(&ctrs, argv[i]);
    for (;;) {
        if (listed) {
            moat_strv_free(ctrs);
            ctrs = NULL;
            if (list_containers(cl, all, &ctrs, err) < 0)
                return -1;
        }
        int rc = stats_table(cl, ctrs, !no_stream, err);
        if (no_stream)
            return rc;
        sleep(1);
    }
}
