/* moat logs: inspect (Config.Tty decides the framing), then GET logs with
 * Docker's query, streamed to stdout/stderr. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/util.h"

static const char *const logs_help[] = {
    "    --details        Show extra details provided to logs",
    "-f, --follow         Follow log output",
    "    --since string   Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)",
    "-n, --tail string    Number of lines to show from the end of the logs (default \"all\")",
    "-t, --timestamps     Show timestamps",
    "    --until string   Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)",
    NULL,
};

struct logs_out {
    bool tty;
    struct moat_demux dm;
};

static int frame_out(void *ctx, int stream, const char *buf, size_t len)
{
    (void)ctx;
    if (stream == 0)
        return 0;
    return moat_write_all(stream == 1 ? STDOUT_FILENO : STDERR_FILENO, buf, len) < 0 ? -1 : 0;
}

static int logs_data(void *ctx, const char *buf, size_t len)
{
    struct logs_out *lo = ctx;
    if (lo->tty)
        return moat_write_all(STDOUT_FILENO, buf, len) < 0 ? -1 : 0;
    return moat_demux_feed(&lo->dm, buf, len, frame_out, NULL);
}

int cmd_logs(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'},      {"tail", required_argument, NULL, 'n'},
        {"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},
        {"timestamps", no_argument, NULL, 't'},  {"details", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'H'},        {NULL, 0, NULL, 0},
    };
    bool follow = false, ts = false, details = false;
    const char *tail = "all", *since = NULL, *until = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":fn:t", longopts, NULL)) != -1) {
        switch (o) {
        case 'f': follow = true; break;
        case 'n': tail = optarg; break;
        case 'S': since = optarg; break;
        case 'U': until = optarg; break;
        case 't': ts = true; break;
        case 'D': details = true; break;
        case 'H': return cli_help(c, "[OPTIONS] CONTAINER", logs_help);
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (argc - optind != 1)
        return cli_args_error(c, err, "requires exactly 1 argument");
    _cleanup_free_ char *s = NULL, *u = NULL;
    if ((since && cli_parse_timestamp(since, &s, err) < 0) || (until && cli_parse_timestamp(until, &u, err) < 0))
        return -1;
    struct moat_client *cl;
    _cleanup_(moat_json_putp) struct json_object *ctr = NULL;
    const char *id;
    bool tty, open_stdin;
    if (cli_client(c, &cl, err) < 0 || cli_inspect_container(cl, argv[optind], &ctr, err) < 0 ||
        cli_ctr_info(ctr, &id, &tty, &open_stdin, err) < 0)
        return -1;
    _cleanup_free_ char *eid = cli_query_escape(id), *etail = cli_query_escape(tail);
    _cleanup_free_ char *es = s ? cli_query_escape(s) : NULL, *eu = u ? cli_query_escape(u) : NULL;
    /* Docker's url.Values.Encode(): keys sorted. */
    _cleanup_free_ char *path = xasprintf("/containers/%s/logs?%s%s%s%s%sstderr=1&stdout=1&tail=%s%s%s%s", eid,
                                          details ? "details=1&" : "", follow ? "follow=1&" : "",
                                          es ? "since=" : "", es ? es : "", es ? "&" : "", etail,
                                          ts ? "&timestamps=1" : "", eu ? "&until=" : "", eu ? eu : "");
    struct logs_out lo = {.tty = tty};
    if (moat_client_stream(cl, "GET", path, NULL, logs_data, &lo, NULL, err) < 0)
        return moat_client_wrap_error(cl, err);
    return 0;
}
