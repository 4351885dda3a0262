/* Containers in Docker's JSON shapes: GET /containers/{id}/json (inspect),
 * one GET /containers/json item (summary), and the "Status" text of ps.
 * The process (Path, Args, Env) comes from the bundle's config.json when
 * the container has been started, else from the spec builder's rules over
 * the create request and the image config. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "engine/container.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"

#define BUNDLE_CONFIG_MAX (8u << 20)
#define ZERO_TIME "0001-01-01T00:00:00Z"

/* ---- helpers -------------------------------------------------------------------------- */

static struct json_object *jstr(const char *s)
{
    return json_object_new_string(s ? s : "");
}

static struct json_object *jstrv(char *const *v)
{
    if (!v)
        return NULL;
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *jcopy(struct json_object *src)
{
    struct json_object *dst = NULL;
    if (!src || json_object_deep_copy(src, &dst, NULL) < 0)
        return NULL;
    return dst;
}

static struct json_object *jget(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

static char **jstrv_get(struct json_object *o, const char *k)
{
    struct json_object *a = jget(o, k);
    if (!a || !json_object_is_type(a, json_type_array))
        return NULL;
    char **v = xcalloc(1, sizeof *v);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *s = json_object_array_get_idx(a, i);
        if (json_object_is_type(s, json_type_string))
            moat_strv_push(&v, json_object_get_string(s));
    }
    return v;
}

/* Go's units.HumanDuration (the same rules as the CLI's cli_human_duration). */
static void human_duration(int64_t secs, char *buf, size_t len)
{
    int64_t minutes = secs / 60;
    int64_t hours = (secs + 1800) / 3600; /* d.Hours() + 0.5, truncated */
    if (secs < 1)
        snprintf(buf, len, "Less than a second");
    else if (secs == 1)
        snprintf(buf, len, "1 second");
    else if (secs < 60)
        snprintf(buf, len, "%" PRId64 " seconds", secs);
    else if (minutes == 1)
        snprintf(buf, len, "About a minute");
    else if (minutes < 60)
        snprintf(buf, len, "%" PRId64 " minutes", minutes);
    else if (hours == 1)
        snprintf(buf, len, "About an hour");
    else if (hours < 48)
        snprintf(buf, len, "%" PRId64 " hours", hours);
    else if (hours < 24 * 7 * 2)
        snprintf(buf, len, "%" PRId64 " days", hours / 24);
    else if (hours < 24 * 30 * 2)
        snprintf(buf, len, "%" PRId64 " weeks", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        snprintf(buf, len, "%" PRId64 " months", hours / 24 / 30);
    else
        snprintf(buf, len, "%" PRId64 " years", secs / 3600 / 24 / 365);
}

/* Seconds since an RFC 3339 time; -1 when unset or malformed. */
static int64_t secs_since(const char *t)
{
    int64_t ns;
    if (!t || !*t || !strcmp(t, ZERO_TIME) || logs_parse_time(t, &ns) < 0 || ns <= 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t d = ((int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - ns) / 1000000000LL;
    return d < 0 ? 0 : d;
}

char *ctr_status_text(struct moat_container *c)
{
    char d[64];
    int64_t s;
    switch (c->status) {
    case CTR_RUNNING:
    case CTR_PAUSED:
        human_duration(secs_since(c->started_at) < 0 ? 0 : secs_since(c->started_at), d, sizeof d);
        return xasprintf("Up %s%s", d, c->status == CTR_PAUSED ? " (Paused)" : "");
    case CTR_RESTARTING:
        s = secs_since(c->finished_at);
        human_duration(s < 0 ? 0 : s, d, sizeof d);
        return xasprintf("Restarting (%d) %s ago", c->exit_code, d);
    case CTR_REMOVING:
        return xstrdup("Removal In Progress");
    case CTR_DEAD:
        return xstrdup("Dead");
    case CTR_CREATED:
        return xstrdup("Created");
    case CTR_EXITED:
        break;
    }
    if (secs_since(c->started_at) < 0)
        return xstrdup("Created");
    s = secs_since(c->finished_at);
    if (s < 0)
        return xstrdup("");
    human_duration(s, d, sizeof d);
    return xasprintf("Exited (%d) %s ago", c->exit_code, d);
}

/* ---- the process and the image -------------------------------------------------------- */

struct ctr_proc {
    char **args, **env; /* NULL when unknown */
    bool have_img;
    struct moat_image img;
};

static void proc_clear(struct ctr_proc *p)
{
    moat_strv_free(p->args);
    moat_strv_free(p->env);
    if (p->have_img)
        moat_image_clear(&p->img);
}

static void env_set(char ***env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; *env && (*env)[i]; i++)
        if (!strncmp((*env)[i], kv, klen) && ((*env)[i][klen] == '=' || !(*env)[i][klen])) {
            free((*env)[i]);
            (*env)[i] = xstrdup(kv);
            return;
        }
    moat_strv_push(env, kv);
}

static void proc_load(struct moat_container *c, struct ctr_proc *p)
{
    *p = (struct ctr_proc){0};
    if (c->e && c->e->store && c->image_id) {
        _cleanup_error_ moat_error *err = NULL;
        p->have_img = moat_image_lookup(c->e->store, c->image_id, 0, &p->img, &err) == 0;
    }
    const struct moat_image_config *ic = p->have_img ? p->img.config : NULL;
    if (c->dir) {
        _cleanup_free_ char *path = xasprintf("%s/bundle/config.json", c->dir);
        _cleanup_json_ struct json_object *spec = NULL;
        _cleanup_error_ moat_error *err = NULL;
        if (access(path, F_OK) == 0 &&
            moat_json_parse_file_at(AT_FDCWD, path, BUNDLE_CONFIG_MAX, "config.json", &spec, &err) == 0) {
            struct json_object *proc = jget(spec, "process");
            p->args = jstrv_get(proc, "args");
            p->env = jstrv_get(proc, "env");
        }
    }
    if (!p->args && c->req) {
        _cleanup_error_ moat_error *err = NULL;
        if (moat_spec_args(c->req, ic, &p->args, &err) < 0)
            p->args = NULL;
    }
    if (!p->env && c->req) { /* the image's, then the request's (same key: the request wins) */
        p->env = xcalloc(1, sizeof *p->env);
        for (size_t i = 0; ic && ic->env && ic->env[i]; i++)
            env_set(&p->env, ic->env[i]);
        for (size_t i = 0; c->req->env && c->req->env[i]; i++)
            env_set(&p->env, c->req->env[i]);
    }
}

/* Labels: the image's, overridden by the container's. */
static struct json_object *labels_json(struct moat_container *c, const struct ctr_proc *p)
{
    struct json_object *o = json_object_new_object();
    struct json_object *il = p->have_img && p->img.config ? jget(jget(p->img.config->json, "config"), "Labels")
                                                           : NULL;
    if (il && json_object_is_type(il, json_type_object)) {
        json_object_object_foreach(il, k, v)
        {
            if (json_object_is_type(v, json_type_string))
                json_object_object_add(o, k, json_object_new_string(json_object_get_string(v)));
        }
    }
    for (size_t i = 0; c->req && c->req->labels && c->req->labels[i] && c->req->labels[i + 1]; i += 2)
        json_object_object_add(o, c->req->labels[i], json_object_new_string(c->req->labels[i + 1]));
    return o;
}

static const char *network_name(const struct moat_container *c)
{
    const char *m = c->req ? c->req->network_mode : NULL;
    if (!m || !*m || !strcmp(m, "default"))
        return "none";
    return m;
}

static struct json_object *networks_json(const struct moat_container *c)
{
    struct json_object *nets = json_object_new_object();
    const char *name = network_name(c);
    if (moat_str_has_prefix(name, "container:"))
        return nets; /* another container's namespace: no endpoint of its own */
    struct json_object *n = json_object_new_object();
    json_object_object_add(n, "IPAMConfig", NULL);
    json_object_object_add(n, "Links", NULL);
    json_object_object_add(n, "Aliases", NULL);
    const char *keys[] = {"NetworkID", "EndpointID", "Gateway", "IPAddress"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        json_object_object_add(n, keys[i], json_object_new_string(""));
    json_object_object_add(n, "IPPrefixLen", json_object_new_int(0));
    const char *keys2[] = {"IPv6Gateway", "GlobalIPv6Address", "MacAddress"};
    for (size_t i = 0; i < ARRAY_SIZE(keys2); i++)
        json_object_object_add(n, keys2[i], json_object_new_string(""));
    json_object_object_add(n, "GlobalIPv6PrefixLen", json_object_new_int(0));
    json_object_object_add(n, "DriverOpts", NULL);
    json_object_object_add(nets, name, n);
    return nets;
}

static struct json_object *mounts_json(const struct moat_container *c)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < c->n_vols; i++) {
        const struct ctr_volume *v = &c->vols[i];
        bool vol = v->type && !strcmp(v->type, "volume"), bind = v->type && !strcmp(v->type, "bind");
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "Type", jstr(v->type));
        if (vol)
            json_object_object_add(m, "Name", jstr(v->name));
        json_object_object_add(m, "Source", jstr(v->source));
        json_object_object_add(m, "Destination", jstr(v->destination));
        if (vol)
            json_object_object_add(m, "Driver", json_object_new_string("local"));
        json_object_object_add(m, "Mode", jstr(v->mode));
        json_object_object_add(m, "RW", json_object_new_boolean(v->rw));
        json_object_object_add(m, "Propagation", json_object_new_string(bind ? "rprivate" : ""));
        json_object_array_add(a, m);
    }
    return a;
}

/* ---- sizes ---------------------------------------------------------------------------- */

static uint64_t du_total;

static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        du_total += (uint64_t)st->st_size;
    return 0;
}

static uint64_t du(const char *dir)
{
    du_total = 0;
    if (dir)
        nftw(dir, du_cb, 32, FTW_PHYS | FTW_MOUNT);
    return du_total;
}

static void add_sizes(struct moat_container *c, const struct ctr_proc *p, struct json_object *o)
{
    uint64_t rw = 0, rootfs = p->have_img ? p->img.size : 0;
    struct moat_snapshot *sn = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (c->e && c->e->store && moat_snapshot_get(c->e->store, c->id, &sn, &err) == 0) {
        if (sn->upper) {
            rw = du(sn->upper);
            rootfs += rw;
        } else {
            rootfs = du(sn->rootfs); /* copy driver: the tree is the whole root */
        }
        moat_snapshot_free(sn);
    }
    json_object_object_add(o, "SizeRw", json_object_new_int64((int64_t)rw));
    json_object_object_add(o, "SizeRootFs", json_object_new_int64((int64_t)rootfs));
}

/* ---- inspect -------------------------------------------------------------------------- */

static struct json_object *state_json(const struct moat_container *c)
{
    struct json_object *s = json_object_new_object();
    bool running = c->status == CTR_RUNNING || c->status == CTR_PAUSED || c->status == CTR_RESTARTING;
    json_object_object_add(s, "Status", json_object_new_string(ctr_status_name(c->status)));
    json_object_object_add(s, "Running", json_object_new_boolean(running));
    json_object_object_add(s, "Paused", json_object_new_boolean(c->status == CTR_PAUSED));
    json_object_object_add(s, "Restarting", json_object_new_boolean(c->status == CTR_RESTARTING));
    json_object_object_add(s, "OOMKilled", json_object_new_boolean(c->oom_killed));
    json_object_object_add(s, "Dead", json_object_new_boolean(c->status == CTR_DEAD));
    json_object_object_add(s, "Pid", json_object_new_int64(running ? c->pid : 0));
    json_object_object_add(s, "ExitCode", json_object_new_int(c->exit_code));
    json_object_object_add(s, "Error", jstr(c->error));
    json_object_object_add(s, "StartedAt", json_object_new_string(c->started_at && *c->started_at ? c->started_at
                                                                                                    : ZERO_TIME));
    json_object_object_add(s, "FinishedAt", json_object_new_string(c->finished_at && *c->finished_at
                                                                       ? c->finished_at
                                                                       : ZERO_TIME));
    return s;
}

static struct json_object *host_config_json(const struct moat_container *c)
{
    struct json_object *hc = c->req ? jcopy(c->req->host_config_json) : NULL;
    if (!hc || !json_object_is_type(hc, json_type_object)) {
        if (hc)
            json_object_put(hc);
        hc = json_object_new_object();
    }
    struct json_object *lc = json_object_new_object(); /* trap T8: whatever moat uses */
    json_object_object_add(lc, "Type", json_object_new_string("json-file"));
    json_object_object_add(lc, "Config", json_object_new_object());
    json_object_object_add(hc, "LogConfig", lc);
    const char *nm = c->req ? c->req->network_mode : NULL;
    json_object_object_add(hc, "NetworkMode", json_object_new_string(!nm || !*nm || !strcmp(nm, "default")
                                                                         ? "none"
                                                                         : nm));
    struct json_object *rp = json_object_new_object();
    const char *rn = c->req ? c->req->restart.name : NULL;
    json_object_object_add(rp, "Name", json_object_new_string(rn && *rn ? rn : "no"));
    json_object_object_add(rp, "MaximumRetryCount", json_object_new_int64(c->req ? c->req->restart.max_retries : 0));
    json_object_object_add(hc, "RestartPolicy", rp);
    json_object_object_add(hc, "AutoRemove", json_object_new_boolean(c->req && c->req->auto_remove));
    json_object_object_add(hc, "Privileged", json_object_new_boolean(c->req && c->req->privileged));
    json_object_object_add(hc, "ReadonlyRootfs", json_object_new_boolean(c->req && c->req->readonly_rootfs));
    if (!jget(hc, "PortBindings") || !json_object_is_type(jget(hc, "PortBindings"), json_type_object))
        json_object_object_add(hc, "PortBindings", json_object_new_object());
    if (!json_object_object_get_ex(hc, "Binds", NULL))
        json_object_object_add(hc, "Binds", NULL);
    return hc;
}

static struct json_object *config_json(struct moat_container *c, const struct ctr_proc *p)
{
    const struct moat_create_req *r = c->req;
    const struct moat_image_config *ic = p->have_img ? p->img.config : NULL;
    struct json_object *cj = r ? r->config_json : NULL, *o = json_object_new_object();
    char host[13];
    snprintf(host, sizeof host, "%.12s", c->id ? c->id : "");
    json_object_object_add(o, "Hostname", jstr(r && r->hostname && *r->hostname ? r->hostname : host));
    json_object_object_add(o, "Domainname", jstr(r ? r->domainname : NULL));
    json_object_object_add(o, "User", jstr(r && r->user && *r->user ? r->user : ic ? ic->user : NULL));
    json_object_object_add(o, "AttachStdin", json_object_new_boolean(r && r->attach_stdin));
    json_object_object_add(o, "AttachStdout", json_object_new_boolean(r && r->attach_stdout));
    json_object_object_add(o, "AttachStderr", json_object_new_boolean(r && r->attach_stderr));
    struct json_object *ep = jget(cj, "ExposedPorts");
    if (ep && json_object_is_type(ep, json_type_object))
        json_object_object_add(o, "ExposedPorts", jcopy(ep));
    json_object_object_add(o, "Tty", json_object_new_boolean(r && r->tty));
    json_object_object_add(o, "OpenStdin", json_object_new_boolean(r && r->open_stdin));
    json_object_object_add(o, "StdinOnce", json_object_new_boolean(r && r->stdin_once));
    json_object_object_add(o, "Env", p->env ? jstrv(p->env) : json_object_new_array());
    /* Cmd and Entrypoint after the merge with the image (Docker's inspect shows the result). */
    char *const *ent = ic ? ic->entrypoint : NULL, *const *cmd = ic ? ic->cmd : NULL;
    if (r && r->entrypoint_set) {
        size_t n = moat_strv_len(r->entrypoint);
        ent = n && !(n == 1 && !r->entrypoint[0][0]) ? r->entrypoint : NULL;
        cmd = r->cmd_set && moat_strv_len(r->cmd) ? r->cmd : n == 0 ? cmd : NULL;
    } else if (r && r->cmd_set && moat_strv_len(r->cmd)) {
        cmd = r->cmd;
    }
    json_object_object_add(o, "Cmd", jstrv(cmd));
    json_object_object_add(o, "Image", jstr(c->image_ref));
    struct json_object *vols = jget(cj, "Volumes");
    json_object_object_add(o, "Volumes", vols && json_object_is_type(vols, json_type_object) ? jcopy(vols) : NULL);
    json_object_object_add(o, "WorkingDir",
                           jstr(r && r->working_dir && *r->working_dir ? r->working_dir : ic ? ic->working_dir : NULL));
    json_object_object_add(o, "Entrypoint", jstrv(ent));
    json_object_object_add(o, "OnBuild", NULL);
    json_object_object_add(o, "Labels", labels_json(c, p));
    const char *sig = r && r->stop_signal && *r->stop_signal ? r->stop_signal : ic ? ic->stop_signal : NULL;
    if (sig && *sig)
        json_object_object_add(o, "StopSignal", json_object_new_string(sig));
    if (r && r->stop_timeout >= 0)
        json_object_object_add(o, "StopTimeout", json_object_new_int64(r->stop_timeout));
    return o;
}

static struct json_object *network_settings_json(const struct moat_container *c)
{
    struct json_object *ns = json_object_new_object();
    const char *empty[] = {"Bridge", "SandboxID", "LinkLocalIPv6Address", "SandboxKey", "EndpointID", "Gateway",
                           "GlobalIPv6Address", "IPAddress", "IPv6Gateway", "MacAddress"};
    for (size_t i = 0; i < ARRAY_SIZE(empty); i++)
        json_object_object_add(ns, empty[i], json_object_new_string(""));
    json_object_object_add(ns, "HairpinMode", json_object_new_boolean(false));
    json_object_object_add(ns, "LinkLocalIPv6PrefixLen", json_object_new_int(0));
    json_object_object_add(ns, "Ports", json_object_new_object());
    json_object_object_add(ns, "SecondaryIPAddresses", NULL);
    json_object_object_add(ns, "SecondaryIPv6Addresses", NULL);
    json_object_object_add(ns, "GlobalIPv6PrefixLen", json_object_new_int(0));
    json_object_object_add(ns, "IPPrefixLen", json_object_new_int(0));
    json_object_object_add(ns, "Networks", networks_json(c));
    return ns;
}

static const char *store_driver(struct moat_container *c)
{
    static char drv[32];
    struct moat_snapshot *sn = NULL;
    _cleanup_error_ moat_error *err = NULL;
    snprintf(drv, sizeof drv, "%s", "overlay");
    if (c->e && c->e->store && moat_snapshot_get(c->e->store, c->id, &sn, &err) == 0) {
        if (sn->driver)
            snprintf(drv, sizeof drv, "%s", sn->driver);
        moat_snapshot_free(sn);
    }
    return drv;
}

struct json_object *ctr_inspect_json(struct moat_container *c, bool size)
{
    struct ctr_proc p;
    proc_load(c, &p);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", jstr(c->id));
    json_object_object_add(o, "Created", jstr(c->created));
    json_object_object_add(o, "Path", jstr(p.args && p.args[0] ? p.args[0] : ""));
    json_object_object_add(o, "Args", p.args && p.args[0] ? jstrv(p.args + 1) : json_object_new_array());
    json_object_object_add(o, "State", state_json(c));
    json_object_object_add(o, "Image", jstr(c->image_id));
    json_object_object_add(o, "ResolvConfPath", json_object_new_string(""));
    json_object_object_add(o, "HostnamePath", json_object_new_string(""));
    json_object_object_add(o, "HostsPath", json_object_new_string(""));
    _cleanup_free_ char *lp = c->dir ? xasprintf("%s/container.log", c->dir) : NULL;
    json_object_object_add(o, "LogPath", jstr(lp));
    _cleanup_free_ char *name = xasprintf("/%s", c->name ? c->name : "");
    json_object_object_add(o, "Name", json_object_new_string(name));
    json_object_object_add(o, "RestartCount", json_object_new_int(c->restart_count));
    const char *drv = store_driver(c);
    json_object_object_add(o, "Driver", json_object_new_string(drv));
    json_object_object_add(o, "Platform", json_object_new_string("linux"));
    json_object_object_add(o, "MountLabel", json_object_new_string(""));
    json_object_object_add(o, "ProcessLabel", json_object_new_string(""));
    json_object_object_add(o, "AppArmorProfile", json_object_new_string(""));
    json_object_object_add(o, "ExecIDs", NULL);
    json_object_object_add(o, "HostConfig", host_config_json(c));
    /* moat: which policy admitted it (the layers, their digest, who, at create or last start) */
    json_object_object_add(o, "AdmittedBy", c->admission ? json_object_get(c->admission) : NULL);
    struct json_object *gd = json_object_new_object();
    json_object_object_add(gd, "Name", json_object_new_string(drv));
    json_object_object_add(gd, "Data", NULL);
    json_object_object_add(o, "GraphDriver", gd);
    if (size)
        add_sizes(c, &p, o);
    json_object_object_add(o, "Mounts", mounts_json(c));
    json_object_object_add(o, "Config", config_json(c, &p));
    json_object_object_add(o, "NetworkSettings", network_settings_json(c));
    struct json_object *m = json_object_new_object();
    if (c->e && c->e->rootless) {
        json_object_object_add(m, "IdRange", NULL);
    } else {
        uint32_t ub, gb, sz;
        engine_slice_range(c->id_slice, &ub, &gb, &sz);
        _cleanup_free_ char *range = xasprintf("%" PRIu32 ":%" PRIu32, ub, sz);
        json_object_object_add(m, "IdRange", json_object_new_string(range));
    }
    json_object_object_add(m, "Rootless", json_object_new_boolean(c->e && c->e->rootless));
    json_object_object_add(o, "Moat", m);
    proc_clear(&p);
    return o;
}

/* ---- ps ------------------------------------------------------------------------------- */

struct json_object *ctr_summary_json(struct moat_container *c, bool size)
{
    struct ctr_proc p;
    proc_load(c, &p);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", jstr(c->id));
    struct json_object *names = json_object_new_array();
    _cleanup_free_ char *name = xasprintf("/%s", c->name ? c->name : "");
    json_object_array_add(names, json_object_new_string(name));
    json_object_object_add(o, "Names", names);
    /* Docker's rule: the name as created while it still names this image;
     * once untagged or re-tagged elsewhere, the image ID */
    const char *image = c->image_ref;
    if (image && c->image_id && strcmp(image, c->image_id) && c->e && c->e->store) {
        struct moat_image now;
        _cleanup_error_ moat_error *le = NULL;
        if (moat_image_lookup(c->e->store, image, 0, &now, &le) == 0) {
            if (strcmp(now.id, c->image_id))
                image = c->image_id;
            moat_image_clear(&now);
        } else {
            image = c->image_id;
        }
    }
    json_object_object_add(o, "Image", jstr(image));
    json_object_object_add(o, "ImageID", jstr(c->image_id));
    size_t cap = 1;
    for (size_t i = 0; p.args && p.args[i]; i++)
        cap += strlen(p.args[i]) + 1;
    _cleanup_free_ char *cmd = xcalloc(1, cap);
    for (size_t i = 0, n = 0; p.args && p.args[i]; i++) { /* Path + " " + args, like Docker */
        size_t l = strlen(p.args[i]);
        if (i)
            cmd[n++] = ' ';
        memcpy(cmd + n, p.args[i], l);
        n += l;
    }
    json_object_object_add(o, "Command", json_object_new_string(cmd));
    int64_t created = 0;
    if (c->created && logs_parse_time(c->created, &created) == 0)
        created /= 1000000000LL;
    json_object_object_add(o, "Created", json_object_new_int64(created));
    json_object_object_add(o, "Ports", json_object_new_array());
    json_object_object_add(o, "Labels", labels_json(c, &p));
    json_object_object_add(o, "State", json_object_new_string(ctr_status_name(c->status)));
    _cleanup_free_ char *status = ctr_status_text(c);
    json_object_object_add(o, "Status", json_object_new_string(status));
    struct json_object *hc = json_object_new_object();
    json_object_object_add(hc, "NetworkMode", json_object_new_string(network_name(c)));
    json_object_object_add(o, "HostConfig", hc);
    struct json_object *ns = json_object_new_object();
    json_object_object_add(ns, "Networks", networks_json(c));
    json_object_object_add(o, "NetworkSettings", ns);
    json_object_object_add(o, "Mounts", mounts_json(c));
    if (size)
        add_sizes(c, &p, o);
    proc_clear(&p);
    return o;
}
