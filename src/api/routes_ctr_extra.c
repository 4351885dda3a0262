/* Container endpoints beyond the lifecycle: changes (diff), commit, prune,
 * update, top. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "engine/container.h"
#include "moat/policy.h"
#include "moat/json.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"

static struct moat_container *find(struct api_call *c, const char *ref)
{
    struct moat_container *ctr = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_engine_find(c->engine, ref, &ctr, &e) < 0) {
        api_error_reply(c->req, e);
        return NULL;
    }
    return ctr;
}

static void h_changes(struct api_call *c)
{
    struct moat_container *ctr = find(c, c->params[0]);
    if (!ctr)
        return;
    _cleanup_error_ moat_error *e = NULL;
    struct moat_snapshot *sn = NULL;
    struct moat_change *v = NULL;
    size_t n = 0;
    if (moat_snapshot_get(c->engine->store, ctr->id, &sn, &e) < 0 ||
        moat_snapshot_diff(c->engine->store, sn, &v, &n, &e) < 0) {
        moat_snapshot_free(sn);
        api_error_reply(c->req, e);
        return;
    }
    moat_snapshot_free(sn);
    _cleanup_json_ struct json_object *out = n ? json_object_new_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "Path", json_object_new_string(v[i].path));
        json_object_object_add(o, "Kind", json_object_new_int(v[i].kind == 'C' ? 0 : v[i].kind == 'A' ? 1 : 2));
        json_object_array_add(out, o);
    }
    moat_changes_free(v, n);
    if (!out)
        moat_http_reply(c->req, 200, "application/json", "null\n", 5);
    else
        moat_http_reply_json(c->req, 200, out);
}

/* A commit body's Config fields as Dockerfile instructions for the store. */
static void config_changes(struct json_object *cfg, char ***changes)
{
    static const struct { const char *key, *instr; } m[] = {
        {"Cmd", "CMD"}, {"Entrypoint", "ENTRYPOINT"}, {"WorkingDir", "WORKDIR"}, {"User", "USER"},
        {"StopSignal", "STOPSIGNAL"}};
    struct json_object *v;
    for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
        if (!json_object_object_get_ex(cfg, m[i].key, &v) || !v)
            continue;
        const char *js = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (json_object_is_type(v, json_type_string)) {
            if (!json_object_get_string_len(v))
                continue;
            char *ch = xasprintf("%s %s", m[i].instr, json_object_get_string(v));
            moat_strv_push(changes, ch);
            free(ch);
        } else if (json_object_is_type(v, json_type_array)) {
            char *ch = xasprintf("%s %s", m[i].instr, js);
            moat_strv_push(changes, ch);
            free(ch);
        }
    }
    if (json_object_object_get_ex(cfg, "Env", &v) && json_object_is_type(v, json_type_array))
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            const char *kv = json_object_get_string(json_object_array_get_idx(v, i));
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq)
                continue;
            char *ch = xasprintf("ENV %.*s=%s", (int)(eq - kv), kv, eq + 1);
            moat_strv_push(changes, ch);
            free(ch);
        }
    if (json_object_object_get_ex(cfg, "Labels", &v) && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, lv)
        {
            _cleanup_json_ struct json_object *ks = json_object_new_string(k);
            char *ch = xasprintf("LABEL %s=%s",
                                 json_object_to_json_string_ext(ks, JSON_C_TO_STRING_PLAIN),
                                 json_object_to_json_string_ext(lv, JSON_C_TO_STRING_PLAIN));
            moat_strv_push(changes, ch);
            free(ch);
        }
    }
}

static void h_commit(struct api_call *c)
{
    struct moat_container *ctr = find(c, moat_http_query(c->req, "container"));
    if (!ctr)
        return;
    _cleanup_error_ moat_error *pe = NULL;
    if (ctr_admit_op(ctr, &c->who, POL_COMMIT, NULL, NULL, &pe) < 0) {
        api_error_reply(c->req, pe);
        return;
    }
    _cleanup_json_ struct json_object *body = api_body_json(c, true);
    if (!body)
        return;
    const char *repo = moat_http_query(c->req, "repo"), *tag = moat_http_query(c->req, "tag");
    _cleanup_free_ char *ref = NULL;
    if (repo && repo[0])
        ref = tag && tag[0] ? xasprintf("%s:%s", repo, tag) : xstrdup(repo);
    char **changes = NULL;
    char *const *qc = moat_http_query_all(c->req, "changes");
    for (size_t i = 0; qc && qc[i]; i++) {
        _cleanup_free_ char *dup = xstrdup(qc[i]);
        for (char *save = NULL, *t = strtok_r(dup, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
            if (t[0])
                moat_strv_push(&changes, t);
    }
    config_changes(body, &changes);
    struct moat_commit_opts o = {.ref = ref, .changes = changes, .comment = moat_http_query(c->req, "comment"),
                                 .author = moat_http_query(c->req, "author")};
    _cleanup_free_ char *id = NULL;
    _cleanup_error_ moat_error *e = NULL;
    int r = moat_snapshot_commit(c->engine->store, ctr->id, &o, &id, &e);
    moat_strv_free(changes);
    if (r < 0) {
        api_audit_failure(c, e);
        api_error_reply(c->req, e);
        return;
    }
    moat_engine_event(c->engine, "container", "commit", ctr->id, NULL);
    _cleanup_json_ struct json_object *out = json_object_new_object();
    json_object_object_add(out, "Id", json_object_new_string(id));
    moat_http_reply_json(c->req, 201, out);
}

/* "k" or "k=v" against the container's labels. */
static bool has_label(struct moat_container *ctr, const char *f)
{
    const char *eq = strchr(f, '=');
    size_t klen = eq ? (size_t)(eq - f) : strlen(f);
    for (char **l = ctr->req->labels; l && l[0]; l += 2)
        if (strlen(l[0]) == klen && !strncmp(l[0], f, klen) && (!eq || !strcmp(l[1] ? l[1] : "", eq + 1)))
            return true;
    return false;
}

static int64_t created_unix(struct moat_container *ctr)
{
    struct tm tm = {0};
    if (!ctr->created || !strptime(ctr->created, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* until: unix seconds, or a Go duration of h/m/s ("48h", "10m"), or RFC 3339. */
static int prune_until(const char *v, int64_t *ret)
{
    int64_t n;
    if (moat_parse_i64(v, &n) == 0) {
        *ret = n;
        return 0;
    }
    char *end = NULL;
    double d = strtod(v, &end);
    if (end && end != v && end[0] && !end[1] && (end[0] == 'h' || end[0] == 'm' || end[0] == 's')) {
        double mul = end[0] == 'h' ? 3600 : end[0] == 'm' ? 60 : 1;
        *ret = (int64_t)time(NULL) - (int64_t)(d * mul);
        return 0;
    }
    struct tm tm = {0};
    if (strptime(v, "%Y-%m-%dT%H:%M:%S", &tm)) {
        *ret = (int64_t)timegm(&tm);
        return 0;
    }
    return -1;
}

static void h_prune(struct api_call *c)
{
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters)
        return;
    json_object_object_foreach(filters, fk, fv)
    {
        (void)fv;
        if (strcmp(fk, "label") && strcmp(fk, "label!") && strcmp(fk, "until")) {
            moat_http_reply_error(c->req, 400, "invalid filter '%s'", fk);
            return;
        }
    }
    char **labels = api_filter_values(filters, "label"), **nolabels = api_filter_values(filters, "label!");
    char **until = api_filter_values(filters, "until");
    int64_t until_unix = 0;
    if (until && until[0] && prune_until(until[0], &until_unix) < 0) {
        moat_http_reply_error(c->req, 400, "invalid filter 'until=%s'", until[0]);
        moat_strv_free(labels);
        moat_strv_free(nolabels);
        moat_strv_free(until);
        return;
    }
    struct moat_engine *e = c->engine;
    _cleanup_json_ struct json_object *del = json_object_new_array();
    for (size_t i = 0; i < e->n_ctrs;) {
        struct moat_container *ctr = e->ctrs[i];
        bool keep = ctr->status != CTR_CREATED && ctr->status != CTR_EXITED && ctr->status != CTR_DEAD;
        for (size_t k = 0; !keep && labels && labels[k]; k++)
            keep = !has_label(ctr, labels[k]);
        for (size_t k = 0; !keep && nolabels && nolabels[k]; k++)
            keep = has_label(ctr, nolabels[k]);
        if (!keep && until_unix)
            keep = created_unix(ctr) >= until_unix;
        if (keep) {
            i++;
            continue;
        }
        _cleanup_error_ moat_error *err = NULL;
        _cleanup_free_ char *id = xstrdup(ctr->id);
        if (ctr_remove(ctr, false, &err) < 0) {
            i++;
            continue;
        }
        engine_drop(e, ctr);
        ctr_free(ctr); /* answers its waiters (wait?condition=removed) */
        json_object_array_add(del, json_object_new_string(id));
    }
    moat_strv_free(labels);
    moat_strv_free(nolabels);
    moat_strv_free(until);
    _cleanup_json_ struct json_object *out = json_object_new_object();
    json_object_object_add(out, "ContainersDeleted", json_object_array_length(del) ? json_object_get(del) : NULL);
    json_object_object_add(out, "SpaceReclaimed", json_object_new_int64(0));
    moat_http_reply_json(c->req, 200, out);
}

/* POST /containers/{id}/update: Docker's resource fields into the saved
 * HostConfig (they apply at the next start) and, running, into the cgroup. */
static void h_update(struct api_call *c)
{
    struct moat_container *ctr = find(c, c->params[0]);
    if (!ctr)
        return;
    _cleanup_json_ struct json_object *body = api_body_json(c, false);
    if (!body)
        return;
    static const char *const keys[] = {"Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares",
                                       "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "PidsLimit",
                                       "BlkioWeight", "RestartPolicy"};
    struct json_object *hc = NULL;
    if (!json_object_object_get_ex(ctr->body, "HostConfig", &hc) || !json_object_is_type(hc, json_type_object)) {
        hc = json_object_new_object();
        json_object_object_add(ctr->body, "HostConfig", hc);
    }
    _cleanup_json_ struct json_object *saved = json_object_get(json_object_object_get(ctr->body, "HostConfig"));
    _cleanup_json_ struct json_object *newhc = NULL;
    json_object_deep_copy(hc, &newhc, NULL);
    bool resources = false;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        struct json_object *v;
        if (json_object_object_get_ex(body, keys[i], &v) && v) {
            json_object_object_add(newhc, keys[i], json_object_get(v));
            if (strcmp(keys[i], "RestartPolicy"))
                resources = true;
        }
    }
    if (resources && c->engine->rootless) {
        moat_http_reply_error(c->req, 400, "updating resources needs cgroups, which rootless containers don't have "
                                           "on this host");
        return;
    }
    json_object_object_add(ctr->body, "HostConfig", json_object_get(newhc));
    const char *bs = json_object_to_json_string_ext(ctr->body, JSON_C_TO_STRING_PLAIN);
    struct moat_create_req *req = NULL;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_create_req_parse(bs, strlen(bs), &req, &e) < 0) {
        json_object_object_add(ctr->body, "HostConfig", json_object_get(saved));
        api_error_reply(c->req, e);
        return;
    }
    if (!resources && api_audit(c, NULL, "allow", NULL, NULL) < 0) {
        /* only the restart policy changes: no policy question, on the record all the same */
        moat_create_req_free(req);
        json_object_object_add(ctr->body, "HostConfig", json_object_get(saved));
        return;
    }
    if (resources) {
        /* The new limits must fit the policy (0 memory/CPUs: unlimited). */
        const int64_t nano = req->nano_cpus > 0 ? req->nano_cpus
                             : req->cpu_quota > 0 ? req->cpu_quota * 1000000000 / (req->cpu_period > 0 ? req->cpu_period : 100000)
                                                  : -1;
        struct ctr_update_limits lim = {.memory = req->memory > 0 ? req->memory : -1, .pids = req->pids_limit,
                                        .nano_cpus = nano};
        if (ctr_admit_op(ctr, &c->who, 0, NULL, &lim, &e) < 0) {
            moat_create_req_free(req);
            json_object_object_add(ctr->body, "HostConfig", json_object_get(saved));
            api_error_reply(c->req, e);
            return;
        }
        /* OCI linux.resources from the new values. */
        _cleanup_json_ struct json_object *res = json_object_new_object();
        struct json_object *mem = json_object_new_object(), *cpu = json_object_new_object();
        if (req->memory > 0)
            json_object_object_add(mem, "limit", json_object_new_int64(req->memory));
        if (req->memory_reservation > 0)
            json_object_object_add(mem, "reservation", json_object_new_int64(req->memory_reservation));
        if (req->memory_swap != 0)
            json_object_object_add(mem, "swap", json_object_new_int64(req->memory_swap));
        if (req->cpu_shares > 0)
            json_object_object_add(cpu, "shares", json_object_new_int64(req->cpu_shares));
        int64_t period = req->cpu_period > 0 ? req->cpu_period : 100000;
        if (req->nano_cpus > 0) {
            json_object_object_add(cpu, "quota", json_object_new_int64(req->nano_cpus * period / 1000000000));
            json_object_object_add(cpu, "period", json_object_new_int64(period));
        } else if (req->cpu_quota) {
            json_object_object_add(cpu, "quota", json_object_new_int64(req->cpu_quota));
            json_object_object_add(cpu, "period", json_object_new_int64(period));
        }
        if (req->cpuset_cpus && req->cpuset_cpus[0])
            json_object_object_add(cpu, "cpus", json_object_new_string(req->cpuset_cpus));
        if (req->cpuset_mems && req->cpuset_mems[0])
            json_object_object_add(cpu, "mems", json_object_new_string(req->cpuset_mems));
        json_object_object_add(res, "memory", mem);
        json_object_object_add(res, "cpu", cpu);
        if (req->pids_limit > 0) {
            struct json_object *p = json_object_new_object();
            json_object_object_add(p, "limit", json_object_new_int64(req->pids_limit));
            json_object_object_add(res, "pids", p);
        }
        const char *rs = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
        if (ctr_update(ctr, rs, &e) < 0) {
            moat_create_req_free(req);
            json_object_object_add(ctr->body, "HostConfig", json_object_get(saved));
            api_audit_failure(c, e);
            api_error_reply(c->req, e);
            return;
        }
    }
    moat_create_req_free(ctr->req);
    ctr->req = req;
    if (ctr_save(ctr, &e) < 0) {
        api_error_reply(c->req, e);
        return;
    }
    moat_engine_event(c->engine, "container", "update", ctr->id, NULL);
    _cleanup_json_ struct json_object *out = json_object_new_object();
    json_object_object_add(out, "Warnings", json_object_new_array());
    moat_http_reply_json(c->req, 200, out);
}

/* ---- top ------------------------------------------------------------------------------ */
static bool same_pidns(pid_t pid, const char *ns)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return !strcmp(buf, ns);
}

static bool ps_arg_ok(const char *a)
{
    for (const char *p = a; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == ',' || *p == '='))
            return false;
    return a[0] != '\0';
}

static int run_ps(char **argv, char **ret, moat_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(p[0]);
        close(p[1]);
        return moat_err_errno(err, saved, "fork");
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(null, 2) < 0)
            _exit(127);
        execv("/bin/ps", argv);
        _exit(127);
    }
    close(p[1]);
    char *out = NULL;
    size_t len = 0;
    _cleanup_error_ moat_error *re = NULL;
    int r = moat_read_fd_bounded(p[0], 1u << 20, &out, &len, &re);
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(out);
        return moat_err(err, EINVAL, "ps failed (arguments: see 'ps --help')");
    }
    *ret = out;
    return 0;
}

static void h_top(struct api_call *c)
{
    struct moat_container *ctr = find(c, c->params[0]);
    if (!ctr)
        return;
    if (ctr->status != CTR_RUNNING && ctr->status != CTR_PAUSED) {
        moat_http_reply_error(c->req, 409, "Container %s is not running", ctr->id);
        return;
    }
    char nsp[64], ns[64];
    snprintf(nsp, sizeof nsp, "/proc/%d/ns/pid", (int)ctr->pid);
    ssize_t nl = readlink(nsp, ns, sizeof ns - 1);
    if (nl <= 0) {
        moat_http_reply_error(c->req, 409, "Container %s is not running", ctr->id);
        return;
    }
    ns[nl] = '\0';
    char **argv = NULL;
    moat_strv_push(&argv, "ps");
    const char *pa = moat_http_query(c->req, "ps_args");
    _cleanup_free_ char *dup = xstrdup(pa && pa[0] ? pa : "-ef");
    for (char *save = NULL, *t = strtok_r(dup, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!ps_arg_ok(t)) {
            moat_strv_free(argv);
            moat_http_reply_error(c->req, 400, "ps_args: '%s' is not allowed", t);
            return;
        }
        moat_strv_push(&argv, t);
    }
    _cleanup_free_ char *out = NULL;
    _cleanup_error_ moat_error *e = NULL;
    int r = run_ps(argv, &out, &e);
    moat_strv_free(argv);
    if (r < 0) {
        api_error_reply(c->req, e);
        return;
    }
    /* Header: the titles; the PID column decides which rows are the container's. */
    _cleanup_json_ struct json_object *res = json_object_new_object();
    struct json_object *titles = json_object_new_array(), *procs = json_object_new_array();
    json_object_object_add(res, "Titles", titles);
    json_object_object_add(res, "Processes", procs);
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    int pidcol = -1;
    size_t ncols = 0;
    if (line)
        for (char *s2 = NULL, *t = strtok_r(line, " \t", &s2); t; t = strtok_r(NULL, " \t", &s2)) {
            if (!strcmp(t, "PID"))
                pidcol = (int)ncols;
            json_object_array_add(titles, json_object_new_string(t));
            ncols++;
        }
    if (pidcol < 0) {
        moat_http_reply_error(c->req, 400, "Couldn't find PID field in ps output");
        return;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        struct json_object *row = json_object_new_array();
        char *p = line;
        pid_t pid = 0;
        for (size_t col = 0; col < ncols; col++) {
            while (*p == ' ' || *p == '\t')
                p++;
            if (col == ncols - 1) { /* the last column (CMD) keeps its spaces */
                json_object_array_add(row, json_object_new_string(p));
                break;
            }
            char *end = p + strcspn(p, " \t");
            char saved = *end;
            *end = '\0';
            if ((int)col == pidcol)
                pid = atoi(p);
            json_object_array_add(row, json_object_new_string(p));
            *end = saved;
            p = *end ? end + 1 : end;
        }
        if (pid > 0 && same_pidns(pid, ns))
            json_object_array_add(procs, row);
        else
            json_object_put(row);
    }
    moat_http_reply_json(c->req, 200, res);
}

const struct api_route api_routes_ctr_extra[] = {
    {"GET", "/containers/{id}/changes", h_changes, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/containers/{id}/top", h_top, MOAT_HTTP_BODY_MEMORY, 0},
    {"POST", "/containers/{id}/update", h_update, MOAT_HTTP_BODY_MEMORY, 1u << 20, "container.update", true},
    {"POST", "/containers/prune", h_prune, MOAT_HTTP_BODY_MEMORY, 0, "container.prune"},
    {"POST", "/commit", h_commit, MOAT_HTTP_BODY_MEMORY, 1u << 20, "container.commit", true},
    {NULL, NULL, NULL, 0, 0},
};
