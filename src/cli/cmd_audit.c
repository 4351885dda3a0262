/* moat audit verify [--dir DIR] [--key PUB] [FILE] and moat audit ls [filters] [--format json]:
 * the engine's audit log read directly from its files (no daemon needed).  The log lives in
 * <data root>/audit: /var/lib/moat/audit as root, ~/.local/share/moat/audit for a user. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "moat/audit.h"
#include "moat/json.h"
#include "moat/store.h"
#include "moat/util.h"

int cmd_audit_verify(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_audit_ls(struct cli *c, int argc, char **argv, moat_error **err);

static char *default_dir(struct cli *c)
{
    const char *root = c->data_root ? c->data_root : getenv("MOAT_ROOT");
    if (root && root[0])
        return xasprintf("%s/audit", root);
    _cleanup_free_ char *def = moat_store_default_root();
    return xasprintf("%s/audit", def);
}

int cmd_audit_verify(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'}, {"key", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {
        "    --dir string   Audit directory (default <data root>/audit)",
        "    --key string   Public key to trust (default audit.pub next to the log; keep a copy elsewhere)", NULL};
    const char *dir = NULL, *key = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] [FILE]", help);
        if (o == 'd')
            dir = optarg;
        else if (o == 'k')
            key = optarg;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind > 1)
        return cli_args_error(c, err, "accepts at most 1 argument");
    _cleanup_free_ char *def = dir || optind < argc ? NULL : default_dir(c);
    struct moat_audit_verify_opts vo = {.path = optind < argc ? argv[optind] : dir ? dir : def, .pubkey = key};
    struct moat_audit_verify_result res;
    if (moat_audit_verify(&vo, &res, err) < 0)
        return moat_err_wrap(err, "audit verify");
    int rc = 0;
    if (res.ok) {
        printf("audit log OK: %" PRIu64 " records, %" PRIu64 " checkpoints, last seq %" PRIu64 " (", res.records,
               res.checkpoints, res.last_seq);
        for (size_t i = 0; res.files[i]; i++)
            printf("%s%s", i ? ", " : "", res.files[i]);
        printf(")\n");
    } else if (res.bad_line) {
        moat_err(err, EBADMSG, "audit verify: %s:%" PRIu64 ": %s", res.bad_file, res.bad_line, res.why);
        rc = -1;
    } else {
        moat_err(err, EBADMSG, "audit verify: %s: %s", res.bad_file, res.why);
        rc = -1;
    }
    moat_audit_verify_result_clear(&res);
    return rc;
}

/* --since: an RFC 3339 time, unix seconds, or a duration before now ("90s", "10m", "1h30m", "2d"). */
static int parse_since(const char *s, int64_t *ret)
{
    long ns;
    if (moat_audit_parse_time(s, ret, &ns) == 0)
        return 0;
    int64_t v;
    if (moat_parse_i64(s, &v) == 0) {
        *ret = v;
        return 0;
    }
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long n = strtoll(p, &end, 10);
        if (end == p || errno || n < 0 || n > 100000000)
            return -1;
        int64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
        if (!unit)
            return -1;
        total += n * unit;
        p = end + 1;
    }
    if (p == s)
        return -1;
    *ret = (int64_t)time(NULL) - total;
    return 0;
}

struct ls_ctx {
    int64_t since;
    bool have_since, json;
    const char *identity, *action, *decision;
    struct cli_table *t;
    size_t shown;
};

static int ls_line(void *ctx, const char *path, uint64_t lineno, const char *line, size_t len, const char *why)
{
    struct ls_ctx *l = ctx;
    struct moat_audit_record r;
    _cleanup_error_ moat_error *e = NULL;
    if (!line || moat_audit_parse_line(line, len, &r, &e) < 0) {
        fprintf(stderr, "moat: audit ls: %s:%" PRIu64 ": skipped: %s\n", path, lineno, line ? e->msg : why);
        return 0;
    }
    bool show = !r.checkpoint && (!l->have_since || r.time_unix >= l->since) &&
                (!l->identity || !strcmp(l->identity, r.identity)) &&
                (!l->action || !fnmatch(l->action, r.action, 0)) && (!l->decision || !strcmp(l->decision, r.decision));
    if (show && l->json) {
        printf("%s\n", line);
    } else if (show) {
        char when[32];
        struct tm tm;
        time_t t = (time_t)r.time_unix;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cli_table_row(l->t, when, r.identity, r.action, r.object[0] ? r.object : "-", r.decision);
    }
    l->shown += show;
    moat_audit_record_clear(&r);
    return 0;
}

int cmd_audit_ls(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},    {"identity", required_argument, NULL, 'i'},
        {"action", required_argument, NULL, 'a'},   {"decision", required_argument, NULL, 'D'},
        {"format", required_argument, NULL, 'f'},   {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    static const char *const help[] = {
        "    --since string      Records since a time (RFC 3339, unix seconds) or a duration ago (10m, 1h30m, 2d)",
        "    --identity string   Only this identity (uid:N)",
        "    --action string     Only this action (container.create; shell patterns: 'container.*')",
        "    --decision string   Only allow, deny or error",
        "    --format string     'json': the records as JSON lines",
        "    --dir string        Audit directory (default <data root>/audit)", NULL};
    struct ls_ctx l = {0};
    const char *dir = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': return cli_help(c, "[OPTIONS]", help);
        case 's':
            if (parse_since(optarg, &l.since) < 0)
                return moat_err(err, EINVAL, "invalid --since '%s': expected a time (RFC 3339) or a duration (10m)",
                                optarg);
            l.have_since = true;
            break;
        case 'i': l.identity = optarg; break;
        case 'a': l.action = optarg; break;
        case 'D':
            if (strcmp(optarg, "allow") && strcmp(optarg, "deny") && strcmp(optarg, "error"))
                return moat_err(err, EINVAL, "invalid --decision '%s': expected allow, deny or error", optarg);
            l.decision = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") && strcmp(optarg, "table"))
                return moat_err(err, EINVAL, "invalid --format '%s': expected json or table", optarg);
            l.json = !strcmp(optarg, "json");
            break;
        case 'd': dir = optarg; break;
        default: return cli_flag_error(c, o, argv, err);
        }
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    _cleanup_free_ char *def = dir ? NULL : default_dir(c);
    _cleanup_strv_ char **files = NULL;
    if (moat_audit_files(dir ? dir : def, &files, err) < 0)
        return moat_err_wrap(err, "audit ls");
    struct cli_table t;
    cli_table_init(&t, 5, "TIME", "IDENTITY", "ACTION", "OBJECT", "DECISION");
    l.t = &t;
    int rc = 0;
    for (size_t i = 0; rc == 0 && files[i]; i++)
        if (moat_audit_read_lines(files[i], ls_line, &l, err) < 0)
            rc = moat_err_wrap(err, "audit ls");
    if (rc == 0 && !l.json)
        cli_table_print(&t, stdout);
    cli_table_free(&t);
    return rc;
}
