/* Containers: create, the saved record, load, rename, remove. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "engine/container.h"
#include "engine/spec_internal.h"
#include "moat/http.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/log.h"
#include "moat/policy.h"
#include "moat/reference.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"
#include "moat/volume.h"

#define RECORD_MAX (8u << 20)

static const char *const status_names[] = {"created", "running", "paused", "restarting", "removing", "exited", "dead"};

const char *ctr_status_name(enum ctr_status s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "dead";
}

static enum ctr_status status_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(status_names); i++)
        if (s && !strcmp(s, status_names[i]))
            return (enum ctr_status)i;
    return CTR_DEAD;
}

int ctr_validate_name(const char *name, moat_error **err)
{
    const char *n = name[0] == '/' ? name + 1 : name;
    size_t len = strlen(n);
    bool ok = len >= 1 && len <= 128;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = n[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        ok = alnum || (i > 0 && (ch == '_' || ch == '.' || ch == '-'));
    }
    if (!ok || len < 2)
        return moat_err(err, EINVAL, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
    return 0;
}

void ctr_set_status(struct moat_container *c, enum ctr_status s)
{
    c->status = s;
}

static void vol_clear(struct ctr_volume *v)
{
    free(v->type);
    free(v->name);
    free(v->source);
    free(v->destination);
    free(v->mode);
}

void ctr_free(struct moat_container *c)
{
    if (!c)
        return;
    logs_free_container(c);
    ctr_removed(c); /* nobody is left to answer its waiters later: wait bodies, 204s */
    relay_close_all(c);
    free(c->id);
    free(c->name);
    free(c->image_ref);
    free(c->image_id);
    free(c->created);
    if (c->body)
        json_object_put(c->body);
    if (c->admission)
        json_object_put(c->admission);
    moat_create_req_free(c->req);
    free(c->dir);
    free(c->run_dir);
    for (size_t i = 0; i < c->n_vols; i++)
        vol_clear(&c->vols[i]);
    free(c->vols);
    free(c->started_at);
    free(c->finished_at);
    free(c->error);
    if (c->monitor_ev)
        event_free(c->monitor_ev);
    if (c->stop_timer)
        event_free(c->stop_timer);
    if (c->restart_timer)
        event_free(c->restart_timer);
    if (c->monitor_pidfd >= 0)
        close(c->monitor_pidfd);
    free(c);
}

/* ---- the record -------------------------------------------------------------------- */
static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static int save_record(struct moat_container *c, moat_error **err)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    add_str(o, "Id", c->id);
    add_str(o, "Name", c->name);
    add_str(o, "Created", c->created);
    add_str(o, "Image", c->image_id);
    add_str(o, "ImageRef", c->image_ref);
    json_object_object_add(o, "Body", json_object_get(c->body));
    json_object_object_add(o, "IdSlice", json_object_new_int64(c->id_slice));
    json_object_object_add(o, "Populated", json_object_new_boolean(c->populated));
    if (c->admission)
        json_object_object_add(o, "AdmittedBy", json_object_get(c->admission));
    if (c->creator_known)
        json_object_object_add(o, "CreatorUid", json_object_new_int64(c->creator_uid));
    struct json_object *vols = json_object_new_array();
    for (size_t i = 0; i < c->n_vols; i++) {
        struct ctr_volume *v = &c->vols[i];
        struct json_object *vo = json_object_new_object();
        add_str(vo, "Type", v->type);
        add_str(vo, "Name", v->name);
        add_str(vo, "Source", v->source);
        add_str(vo, "Destination", v->destination);
        add_str(vo, "Mode", v->mode);
        json_object_object_add(vo, "RW", json_object_new_boolean(v->rw));
        json_object_object_add(vo, "Anonymous", json_object_new_boolean(v->anonymous));
        json_object_object_add(vo, "Populate", json_object_new_boolean(v->populate));
        json_object_object_add(vo, "IdMap", json_object_new_boolean(v->idmap));
        json_object_array_add(vols, vo);
    }
    json_object_object_add(o, "Volumes", vols);
    struct json_object *st = json_object_new_object();
    add_str(st, "Status", ctr_status_name(c->status));
    json_object_object_add(st, "Pid", json_object_new_int64(c->pid));
    json_object_object_add(st, "MonitorPid", json_object_new_int64(c->monitor_pid));
    json_object_object_add(st, "ExitCode", json_object_new_int(c->exit_code));
    add_str(st, "StartedAt", c->started_at);
    add_str(st, "FinishedAt", c->finished_at);
    add_str(st, "Error", c->error);
    json_object_object_add(st, "OOMKilled", json_object_new_boolean(c->oom_killed));
    json_object_object_add(st, "RestartCount", json_object_new_int(c->restart_count));
    json_object_object_add(st, "HasRun", json_object_new_boolean(c->has_run));
    json_object_object_add(st, "ManualStop", json_object_new_boolean(c->manual_stop));
    json_object_object_add(o, "State", st);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    _cleanup_close_ int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", c->dir);
    return moat_write_file_atomic(dfd, "container.json", s, strlen(s), 0600, err);
}

int ctr_save(struct moat_container *c, moat_error **err)
{
    /* Callers on the exit and restart paths have nobody to answer: the failure is logged. */
    moat_error *local = NULL;
    int rc = save_record(c, err ? err : &local);
    if (rc < 0 && !err) {
        moat_log(MOAT_LOG_ERROR, "save container %.12s: %s (its record on disk is older)", c->id, local->msg);
        moat_error_free(local);
    }
    return rc;
}

static char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return xstrdup(json_object_get_string(v));
}

static int64_t jint(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static bool jbool(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static struct moat_container *ctr_alloc(struct moat_engine *e, const char *id)
{
    struct moat_container *c = xcalloc(1, sizeof *c);
    c->e = e;
    c->id = xstrdup(id);
    c->dir = xasprintf("%s/containers/%s", e->store_root, id);
    c->run_dir = xasprintf("%s/c/%.12s", e->run_dir, id);
    c->monitor_pidfd = -1;
    return c;
}

int ctr_load(struct moat_engine *e, const char *id, struct moat_container **ret, moat_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/containers/%s/container.json", e->store_root, id);
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse_file_at(AT_FDCWD, path, RECORD_MAX, "container.json", &o, err) < 0)
        return -1;
    struct json_object *body = NULL, *st = NULL, *vols = NULL;
    if (!json_object_object_get_ex(o, "Body", &body) || !json_object_object_get_ex(o, "State", &st))
        return moat_err(err, EINVAL, "%s: Body or State missing", path);
    struct moat_container *c = ctr_alloc(e, id);
    c->name = jstr(o, "Name");
    c->created = jstr(o, "Created");
    c->image_id = jstr(o, "Image");
    c->image_ref = jstr(o, "ImageRef");
    c->id_slice = (uint32_t)jint(o, "IdSlice");
    c->populated = jbool(o, "Populated");
    struct json_object *adm = NULL, *cu = NULL;
    if (json_object_object_get_ex(o, "AdmittedBy", &adm) && json_object_is_type(adm, json_type_object))
        c->admission = json_object_get(adm);
    if (json_object_object_get_ex(o, "CreatorUid", &cu) && json_object_is_type(cu, json_type_int) &&
        json_object_get_int64(cu) >= 0 && json_object_get_int64(cu) <= UINT32_MAX) {
        c->creator_known = true;
        c->creator_uid = (uint32_t)json_object_get_int64(cu);
    }
    c->body = json_object_get(body);
    const char *bs = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    if (!c->name || moat_create_req_parse(bs, strlen(bs), &c->req, err) < 0) {
        if (!c->name)
            moat_err(err, EINVAL, "%s: Name missing", path);
        ctr_free(c);
        return -1;
    }
    if (json_object_object_get_ex(o, "Volumes", &vols) && json_object_is_type(vols, json_type_array)) {
        size_t n = json_object_array_length(vols);
        c->vols = xcalloc(n ? n : 1, sizeof *c->vols);
        for (size_t i = 0; i < n; i++) {
            struct json_object *vo = json_object_array_get_idx(vols, i);
            struct ctr_volume *v = &c->vols[c->n_vols++];
            v->type = jstr(vo, "Type");
            v->name = jstr(vo, "Name");
            v->source = jstr(vo, "Source");
            v->destination = jstr(vo, "Destination");
            v->mode = jstr(vo, "Mode");
            v->rw = jbool(vo, "RW");
            v->anonymous = jbool(vo, "Anonymous");
            v->populate = jbool(vo, "Populate");
            v->idmap = jbool(vo, "IdMap");
        }
    }
    _cleanup_free_ char *status = jstr(st, "Status");
    c->status = status_parse(status);
    c->pid = (pid_t)jint(st, "Pid");
    c->monitor_pid = (pid_t)jint(st, "MonitorPid");
    c->exit_code = (int)jint(st, "ExitCode");
    c->started_at = jstr(st, "StartedAt");
    c->finished_at = jstr(st, "FinishedAt");
    c->error = jstr(st, "Error");
    c->oom_killed = jbool(st, "OOMKilled");
    c->restart_count = (int)jint(st, "RestartCount");
    c->has_run = jbool(st, "HasRun");
    c->manual_stop = jbool(st, "ManualStop");
    *ret = c;
    return 0;
}

/* ---- policy ---------------------------------------------------------------------------- */

/* "baseline.json, /etc/moat/policy.d/10-site.json (sha256:...)": the audit record's policy. */
static char *policy_label(const struct moat_policy *p, const char *digest)
{
    _cleanup_free_ char *layers = NULL;
    for (size_t i = 0; p->layers && p->layers[i]; i++) {
        char *n = layers ? xasprintf("%s, %s", layers, p->layers[i]) : xstrdup(p->layers[i]);
        free(layers);
        layers = n;
    }
    return xasprintf("%s (%s)", layers ? layers : "?", digest);
}

static struct json_object *layers_json(const struct moat_policy *p)
{
    struct json_object *ls = json_object_new_array();
    for (size_t i = 0; p->layers && p->layers[i]; i++)
        json_object_array_add(ls, json_object_new_string(p->layers[i]));
    return ls;
}

/* inspect's AdmittedBy */
static struct json_object *admission_json(const struct moat_policy *p, const char *digest,
                                          const struct moat_caller *who, const char *action)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Policy", layers_json(p));
    json_object_object_add(o, "Digest", json_object_new_string(digest));
    json_object_object_add(o, "Identity", json_object_new_string(who && who->identity ? who->identity : "engine"));
    json_object_object_add(o, "Action", json_object_new_string(action));
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    json_object_object_add(o, "Time", json_object_new_string(now));
    return o;
}

/* The identity the policy is for: the caller's, else (the engine acting) the creator's. */
static const struct moat_identity *policy_identity(const struct moat_caller *who, const struct moat_container *c,
                                                   struct moat_identity *buf)
{
    if (who)
        return who->id_known ? &who->id : NULL;
    if (c && c->creator_known) {
        *buf = (struct moat_identity){.uid = c->creator_uid};
        return buf;
    }
    return NULL;
}

/* Record the verdict, then answer it: a denial that cannot be recorded fails with the
 * audit error, which refuses the request just the same. */
static int decide(struct moat_engine *e, const struct moat_caller *who, const struct moat_policy *p, const char *digest,
                  char **reasons, moat_error **err)
{
    _cleanup_free_ char *label = policy_label(p, digest);
    if (moat_engine_audit(e, who, reasons ? "deny" : "allow", reasons, label, err) < 0)
        return -1;
    return reasons ? moat_policy_deny(err, reasons) : 0;
}

static char **eval_create(struct moat_engine *e, const struct moat_policy *p, const struct moat_create_req *req,
                          const struct moat_image *img, bool uid_known, uint32_t uid)
{
    _cleanup_free_ char *name = NULL;
    struct moat_ref ref = {0};
    _cleanup_error_ moat_error *re = NULL;
    if (req->image && !moat_ref_is_id_prefix(req->image) && moat_ref_parse(req->image, &ref, &re) == 0) {
        name = moat_ref_string(&ref);
        moat_ref_clear(&ref);
    }
    char *const engine[] = {e->socket_path, e->store_root, e->run_dir, NULL};
    /* --volumes-from: the binds it would bring (same mode unless ":ro"/":rw" is given) */
    _cleanup_strv_ char **ib = NULL;
    _cleanup_free_ bool *iro = NULL;
    size_t n = 0;
    for (size_t i = 0; req->volumes_from && req->volumes_from[i]; i++) {
        _cleanup_free_ char *ref = xstrdup(req->volumes_from[i]);
        char *mode = strchr(ref, ':');
        if (mode)
            *mode++ = '\0';
        struct moat_container *src = NULL;
        _cleanup_error_ moat_error *fe = NULL;
        if (moat_engine_find(e, ref, &src, &fe) < 0)
            continue; /* create's own error names it */
        for (size_t j = 0; j < src->n_vols; j++) {
            if (strcmp(src->vols[j].type, "bind"))
                continue;
            moat_strv_push(&ib, src->vols[j].source);
            iro = xrealloc(iro, (n + 1) * sizeof *iro);
            iro[n++] = mode ? !strcmp(mode, "ro") : !src->vols[j].rw;
        }
    }
    /* the image's VOLUME entries become anonymous volumes (unless a mount covers the path) */
    const char *ivol = NULL;
    struct json_object *icfg = NULL, *ivols = NULL;
    if (img && img->config && img->config->json && json_object_object_get_ex(img->config->json, "config", &icfg) &&
        json_object_object_get_ex(icfg, "Volumes", &ivols) && json_object_is_type(ivols, json_type_object)) {
        json_object_object_foreach(ivols, target, val)
        {
            (void)val;
            bool covered = false;
            for (size_t i = 0; i < req->n_mounts && !covered; i++)
                covered = req->mounts[i].target && !strcmp(req->mounts[i].target, target);
            if (target[0] == '/' && !covered) {
                ivol = target;
                break;
            }
        }
    }
    struct moat_policy_input in = {.req = req, .image_name = name, .image_id = img ? img->id : NULL,
                                   .image_volume = ivol,
                                   .image_user = img && img->config ? img->config->user : NULL,
                                   .engine_paths = engine, .resolved_uid_known = uid_known, .resolved_uid = uid,
                                   .inherited_binds = ib, .inherited_ro = iro};
    return moat_policy_eval_create(p, &in);
}

/* A policy that cannot be assembled (a container layer that would widen the host's) is a
 * denial too, and recorded as one. */
static int policy_for(struct moat_engine *e, const struct moat_caller *who, const struct moat_identity *id,
                      const char *container_policy, struct moat_policy **ret, moat_error **err)
{
    if (moat_policy_for(e->policy, id, container_policy, ret, err) == 0)
        return 0;
    char *const why[] = {(*err)->msg, NULL};
    _cleanup_error_ moat_error *ae = NULL;
    if (moat_engine_audit(e, who, "deny", why, NULL, &ae) < 0) {
        moat_error_freep(err);
        *err = TAKE_PTR(ae);
        return -1;
    }
    return moat_err_wrap(err, "denied by policy");
}

int ctr_admit(struct moat_engine *e, const struct moat_caller *who, struct moat_container *c,
              const struct moat_create_req *req, const struct moat_image *img, bool uid_known, uint32_t uid,
              const char *action, struct moat_policy **ret, struct json_object **ret_admission, moat_error **err)
{
    _cleanup_policy_ struct moat_policy *p = NULL;
    struct moat_identity idbuf;
    if (policy_for(e, who, policy_identity(who, c, &idbuf), req->moat_policy, &p, err) < 0)
        return -1;
    _cleanup_strv_ char **reasons = eval_create(e, p, req, img, uid_known, uid);
    _cleanup_free_ char *digest = moat_policy_digest(p);
    if (decide(e, who, p, digest, reasons, err) < 0)
        return -1;
    if (ret_admission)
        *ret_admission = admission_json(p, digest, who, action);
    if (ret)
        *ret = TAKE_PTR(p);
    return 0;
}

int ctr_admit_op(struct moat_container *c, const struct moat_caller *who, int rule, const struct moat_exec_req *er,
                 const struct ctr_update_limits *upd, moat_error **err)
{
    _cleanup_policy_ struct moat_policy *p = NULL;
    struct moat_identity idbuf;
    if (policy_for(c->e, who, policy_identity(who, c, &idbuf), c->req ? c->req->moat_policy : NULL, &p, err) < 0)
        return -1;
    _cleanup_strv_ char **reasons = NULL;
    if (upd)
        reasons = moat_policy_eval_update(p, upd->memory, upd->pids, upd->nano_cpus);
    else if (rule == POL_EXEC && er) {
        /* runAsNonRoot judges uids: -u NAME resolved in the running container's own root, and
         * without -u the uid the container's process runs as (its config.json) */
        struct moat_exec_req eq = *er;
        _cleanup_free_ char *ru = NULL, *cu = NULL;
        if (p->b[POL_RUN_AS_NON_ROOT]) {
            if (er->user && er->user[0] && c->pid > 0) {
                _cleanup_free_ char *root = xasprintf("/proc/%d/root", (int)c->pid);
                struct spec_ids ids = {0};
                _cleanup_error_ moat_error *ue = NULL;
                if (spec_resolve_user(root, er->user, NULL, &ids, &ue) == 0)
                    eq.user = ru = xasprintf("%" PRIu32, ids.uid);
                free(ids.gids);
            }
            _cleanup_free_ char *cfgpath = xasprintf("%s/bundle/config.json", c->dir);
            _cleanup_json_ struct json_object *cfg = NULL;
            _cleanup_error_ moat_error *ce = NULL;
            struct json_object *proc, *user, *uid;
            if (moat_json_parse_file_at(AT_FDCWD, cfgpath, 16u << 20, "config.json", &cfg, &ce) == 0 &&
                json_object_object_get_ex(cfg, "process", &proc) && json_object_object_get_ex(proc, "user", &user) &&
                json_object_object_get_ex(user, "uid", &uid))
                cu = xasprintf("%" PRId64, json_object_get_int64(uid));
        }
        reasons = moat_policy_eval_exec(p, &eq,
                                        cu                                                 ? cu
                                        : c->req && c->req->user && c->req->user[0] ? c->req->user
                                                                                    : NULL);
    } else
        reasons = moat_policy_eval_simple(p, (enum moat_policy_rule)rule, rule == POL_CP ? "cp" : "commit");
    _cleanup_free_ char *digest = moat_policy_digest(p);
    return decide(c->e, who, p, digest, reasons, err);
}

/* ---- create -------------------------------------------------------------------------- */
static bool has_destination(struct moat_container *c, const char *dst)
{
    for (size_t i = 0; i < c->n_vols; i++)
        if (!strcmp(c->vols[i].destination, dst))
            return true;
    return false;
}

static int add_volume(struct moat_container *c, const struct moat_mount_req *m, moat_error **err)
{
    struct moat_engine *e = c->e;
    if (has_destination(c, m->target))
        return moat_err(err, EINVAL, "Duplicate mount point: %s", m->target);
    struct ctr_volume v = {.type = xstrdup(m->type), .destination = xstrdup(m->target), .rw = !m->read_only};
    /* Docker's Mode string ("ro", "rw,noexec", ...); noexec here is what the runtime mounts */
    v.mode = xasprintf("%s%s", m->read_only ? "ro" : m->noexec ? "rw" : "", m->noexec ? ",noexec" : "");
    if (!strcmp(m->type, "volume")) {
        bool anon = !m->source || !m->source[0];
        _cleanup_free_ char *name = anon ? engine_random_hex(32) : xstrdup(m->source);
        struct moat_volume vol = {0};
        bool existed = false;
        if (!anon) {
            _cleanup_error_ moat_error *e2 = NULL;
            existed = moat_volume_get(e->volumes, name, &vol, &e2) == 0;
            if (existed)
                moat_volume_clear(&vol);
        }
        if (moat_volume_create(e->volumes, name, m->labels, NULL, anon, &vol, err) < 0) {
            vol_clear(&v);
            return -1;
        }
        v.name = xstrdup(vol.name);
        v.source = xstrdup(vol.mountpoint);
        v.anonymous = anon;
        v.populate = !existed && !m->no_copy;
        v.idmap = !e->rootless; /* volume files keep the container's ids unshifted: id-mapped per container */
        moat_volume_clear(&vol);
        moat_engine_event(e, "volume", "create", v.name, (char *const[]){"driver", "local", NULL});
    } else if (!strcmp(m->type, "bind")) {
        char *const forbidden[] = {e->socket_path, e->store_root, e->run_dir, NULL};
        if (moat_bind_source_check(m->source, true, forbidden, &v.source, err) < 0) {
            vol_clear(&v);
            return -1;
        }
    } else if (!strcmp(m->type, "tmpfs")) {
        v.source = xstrdup(m->options ? m->options : "");
    } else {
        vol_clear(&v);
        return moat_err(err, EINVAL, "invalid mount config: mount type '%s' is not supported", m->type);
    }
    c->vols = xrealloc(c->vols, (c->n_vols + 1) * sizeof *c->vols);
    c->vols[c->n_vols++] = v;
    return 0;
}

/* The image's VOLUME entries ("config"."Volumes" keys) become anonymous volumes. */
static int image_volumes(struct moat_container *c, const struct moat_image *img, moat_error **err)
{
    struct json_object *cfg = NULL, *vols = NULL;
    if (!img->config || !img->config->json || !json_object_object_get_ex(img->config->json, "config", &cfg) ||
        !json_object_object_get_ex(cfg, "Volumes", &vols) || !json_object_is_type(vols, json_type_object))
        return 0;
    json_object_object_foreach(vols, target, val)
    {
        (void)val;
        if (target[0] != '/' || has_destination(c, target))
            continue;
        struct moat_mount_req m = {.type = (char *)"volume", .target = target};
        if (add_volume(c, &m, err) < 0)
            return -1;
    }
    return 0;
}

static int container_volumes(struct moat_container *c, const struct moat_image *img, moat_error **err)
{
    const struct moat_create_req *r = c->req;
    for (size_t i = 0; i < r->n_mounts; i++)
        if (add_volume(c, &r->mounts[i], err) < 0)
            return -1;
    for (size_t i = 0; r->volumes && r->volumes[i]; i++) {
        if (has_destination(c, r->volumes[i]))
            continue;
        struct moat_mount_req m = {.type = (char *)"volume", .target = r->volumes[i]};
        if (add_volume(c, &m, err) < 0)
            return -1;
    }
    /* --volumes-from: the other container's mounts, same mode unless ":ro"/":rw" is given. */
    for (size_t i = 0; r->volumes_from && r->volumes_from[i]; i++) {
        _cleanup_free_ char *ref = xstrdup(r->volumes_from[i]);
        char *mode = strchr(ref, ':');
        if (mode)
            *mode++ = '\0';
        struct moat_container *src = NULL;
        if (moat_engine_find(c->e, ref, &src, err) < 0)
            return -1;
        for (size_t j = 0; j < src->n_vols; j++) {
            struct ctr_volume *sv = &src->vols[j];
            if (has_destination(c, sv->destination) || !strcmp(sv->type, "tmpfs"))
                continue;
            struct ctr_volume v = {.type = xstrdup(sv->type), .name = xstrdup_or_null(sv->name),
                                   .source = xstrdup(sv->source), .destination = xstrdup(sv->destination),
                                   .rw = mode ? strcmp(mode, "ro") != 0 : sv->rw, .idmap = sv->idmap,
                                   .mode = xstrdup(mode ? mode : (sv->mode ? sv->mode : ""))};
            c->vols = xrealloc(c->vols, (c->n_vols + 1) * sizeof *c->vols);
            c->vols[c->n_vols++] = v;
        }
    }
    return image_volumes(c, img, err);
}

static int name_taken(struct moat_engine *e, const char *name, moat_error **err)
{
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (!strcmp(e->ctrs[i]->name, name))
            return moat_err(err, EEXIST,
                            "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to "
                            "remove (or rename) that container to be able to reuse that name.",
                            name, e->ctrs[i]->id);
    return 0;
}

int moat_engine_rootfs_driver(struct moat_engine *e, char **ret_driver, char **ret_reason, moat_error **err)
{
    _cleanup_free_ char *reason = NULL;
    if (moat_store_driver(e->store, ret_driver, &reason, err) < 0)
        return -1;
    *ret_reason = reason ? xasprintf("overlay probe failed: %s", reason) : NULL;
    return 0;
}

bool ctr_rootfs_in_container(struct moat_container *c)
{
    if (!c->e->rootless)
        return false;
    struct moat_snapshot *sn = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_snapshot_get(c->e->store, c->id, &sn, &err) < 0)
        return false;
    bool r = strcmp(sn->driver, "copy") != 0;
    moat_snapshot_free(sn);
    return r;
}

/* The container's directories, root filesystem and volumes. */
static int create_parts(struct moat_container *c, struct moat_image *img, bool *snap, bool *dir, moat_error **err)
{
    struct moat_engine *e = c->e;
    if (!e->rootless && engine_alloc_slice(e, &c->id_slice, err) < 0)
        return -1;
    if (mkdir(c->dir, 0700) < 0)
        return moat_err_sys(err, "create '%s'", c->dir);
    *dir = true;
    _cleanup_free_ char *bundle = xasprintf("%s/bundle", c->dir);
    _cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", c->dir);
    if (mkdir(bundle, 0700) < 0 || mkdir(rootfs, 0755) < 0)
        return moat_err_sys(err, "create the bundle of %.12s", c->id);
    uint32_t ub = 0, gb = 0, sz = 0;
    engine_slice_range(c->id_slice, &ub, &gb, &sz);
    _cleanup_free_ char *driver = NULL, *why = NULL;
    if (moat_engine_rootfs_driver(e, &driver, &why, err) < 0)
        return moat_err_wrap(err, "create the root filesystem");
    struct moat_snapshot_opts so = {.owner = c->id, .chown_upper = !e->rootless, .uid = ub, .gid = gb,
                                    .copy = !strcmp(driver, "copy")};
    struct moat_snapshot *sn = NULL;
    if (moat_snapshot_create(e->store, c->id, img->id, &so, &sn, err) < 0)
        return moat_err_wrap(err, "create the root filesystem");
    moat_snapshot_free(sn);
    *snap = true;
    if (container_volumes(c, img, err) < 0)
        return -1;
    return ctr_save(c, err);
}

/* What create and policy check share: the body parsed, the image found, nothing made. */
static int create_prepare(struct moat_engine *e, const char *body, size_t len, struct json_object **ret_body,
                          struct moat_create_req **ret_req, struct moat_image *img, moat_error **err)
{
    _cleanup_json_ struct json_object *bj = NULL;
    if (moat_json_parse(body, len, MOAT_CREATE_MAX_BODY, "create request", &bj, err) < 0)
        return -1;
    struct moat_create_req *req = NULL;
    if (moat_create_req_parse(body, len, &req, err) < 0)
        return -1;
    if (!req->image || !req->image[0]) {
        moat_create_req_free(req);
        return moat_err(err, EINVAL, "Config.Image: an image is required");
    }
    if (moat_image_lookup(e->store, req->image, MOAT_LOOKUP_BUILTIN, img, err) < 0) {
        moat_create_req_free(req);
        return -1;
    }
    if (ret_body)
        *ret_body = TAKE_PTR(bj);
    *ret_req = req;
    return 0;
}

int ctr_check(struct moat_engine *e, const struct moat_caller *who, const char *body, size_t len,
              struct json_object **ret, moat_error **err)
{
    struct moat_create_req *req = NULL;
    struct moat_image img = {0};
    if (create_prepare(e, body, len, NULL, &req, &img, err) < 0)
        return -1;
    _cleanup_policy_ struct moat_policy *p = NULL;
    _cleanup_error_ moat_error *pe = NULL;
    struct moat_identity idbuf;
    struct json_object *o = json_object_new_object(), *rs = json_object_new_array();
    _cleanup_strv_ char **reasons = NULL;
    if (moat_policy_for(e->policy, policy_identity(who, NULL, &idbuf), req->moat_policy, &p, &pe) < 0) {
        moat_strv_push(&reasons, pe->msg);
    } else {
        reasons = eval_create(e, p, req, &img, false, 0);
        /* The builder's own checks, as create runs them after the policy. */
        _cleanup_error_ moat_error *se = NULL;
        if (!reasons && moat_spec_check(req, &se) < 0)
            moat_strv_push(&reasons, se->msg);
    }
    for (size_t i = 0; reasons && reasons[i]; i++)
        json_object_array_add(rs, json_object_new_string(reasons[i]));
    json_object_object_add(o, "Allowed", json_object_new_boolean(!reasons));
    json_object_object_add(o, "Reasons", rs);
    _cleanup_free_ char *digest = p ? moat_policy_digest(p) : NULL;
    if (p) {
        json_object_object_add(o, "Policy", layers_json(p));
        json_object_object_add(o, "Digest", json_object_new_string(digest));
    }
    json_object_object_add(o, "Image", json_object_new_string(img.id));
    moat_image_clear(&img);
    moat_create_req_free(req);
    _cleanup_free_ char *label = p ? policy_label(p, digest) : NULL;
    if (moat_engine_audit(e, who, reasons ? "deny" : "allow", reasons, label, err) < 0) {
        json_object_put(o);
        return -1;
    }
    *ret = o;
    return 0;
}

int ctr_create(struct moat_engine *e, const struct moat_caller *who, const char *name, const char *body, size_t len,
               struct moat_container **ret, char ***ret_warnings, moat_error **err)
{
    (void)ret_warnings;
    if (name && name[0]) {
        if (ctr_validate_name(name, err) < 0 || name_taken(e, name[0] == '/' ? name + 1 : name, err) < 0)
            return -1;
    }
    _cleanup_json_ struct json_object *bj = NULL;
    struct moat_create_req *req = NULL;
    struct moat_image img = {0};
    if (create_prepare(e, body, len, &bj, &req, &img, err) < 0)
        return -1;
    /* The policy first (every reason at once, on the record), then the builder's own checks. */
    struct json_object *admission = NULL;
    if (ctr_admit(e, who, NULL, req, &img, false, 0, "create", NULL, &admission, err) < 0 ||
        moat_spec_check(req, err) < 0) {
        if (admission)
            json_object_put(admission);
        moat_image_clear(&img);
        moat_create_req_free(req);
        return -1;
    }
    _cleanup_free_ char *id = engine_random_hex(32);
    struct moat_container *c = ctr_alloc(e, id);
    c->req = req;
    c->body = TAKE_PTR(bj);
    c->admission = admission;
    c->creator_known = who && who->id_known;
    c->creator_uid = who && who->id_known ? (uint32_t)who->id.uid : 0;
    c->name = name && name[0] ? xstrdup(name[0] == '/' ? name + 1 : name) : engine_name_random(e);
    c->image_ref = xstrdup(req->image);
    c->image_id = xstrdup(img.id);
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    c->created = xstrdup(now);
    c->status = CTR_CREATED;
    bool snap = false, dir = false;
    if (create_parts(c, &img, &snap, &dir, err) < 0)
        goto fail;
    moat_image_clear(&img);
    engine_add(e, c);
    moat_engine_event(e, "container", "create", c->id, NULL);
    *ret = c;
    return 0;
fail:
    moat_image_clear(&img);
    for (size_t i = 0; i < c->n_vols; i++)
        if (c->vols[i].anonymous) {
            _cleanup_error_ moat_error *e2 = NULL;
            moat_volume_remove(e->volumes, c->vols[i].name, true, &e2);
        }
    if (snap) {
        _cleanup_error_ moat_error *e2 = NULL;
        moat_snapshot_remove(e->store, c->id, &e2);
    }
    if (dir) {
        _cleanup_error_ moat_error *e2 = NULL;
        moat_rm_rf_at(AT_FDCWD, c->dir, &e2);
    }
    ctr_free(c);
    return -1;
}

int ctr_rename(struct moat_container *c, const char *name, moat_error **err)
{
    const char *n = name && name[0] == '/' ? name + 1 : name;
    if (!n || ctr_validate_name(n, err) < 0)
        return n ? -1 : moat_err(err, EINVAL, "Neither old nor new names may be empty");
    if (!strcmp(n, c->name))
        return moat_err(err, EINVAL, "Renaming a container with the same name as its current name");
    if (name_taken(c->e, n, err) < 0)
        return -1;
    char *old = c->name;
    c->name = xstrdup(n);
    if (ctr_save(c, err) < 0) {
        free(c->name);
        c->name = old;
        return -1;
    }
    moat_engine_event(c->e, "container", "rename", c->id, (char *const[]){"oldName", old, NULL});
    free(old);
    return 0;
}

int ctr_remove(struct moat_container *c, bool volumes, moat_error **err)
{
    struct moat_engine *e = c->e;
    if (c->status == CTR_RUNNING || c->status == CTR_PAUSED || c->status == CTR_RESTARTING)
        return moat_err(err, EEXIST,
                        "You cannot remove a %s container %s. Stop the container before attempting removal or force "
                        "remove",
                        ctr_status_name(c->status), c->id);
    _cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", c->dir);
    umount2(rootfs, MNT_DETACH); /* left mounted by a crash: harmless when not mounted */
    exec_drop_container(e, c);
    relay_close_all(c);
    _cleanup_error_ moat_error *e2 = NULL;
    if (moat_snapshot_remove(e->store, c->id, &e2) < 0 && e2->errnum != ENOENT)
        moat_log(MOAT_LOG_WARN, "remove the root filesystem of %.12s: %s", c->id, e2->msg);
    for (size_t i = 0; volumes && i < c->n_vols; i++) {
        if (!c->vols[i].anonymous || !c->vols[i].name)
            continue;
        _cleanup_free_ char *vname = xstrdup(c->vols[i].name);
        free(c->vols[i].name);
        c->vols[i].name = NULL; /* not in use by us any more */
        _cleanup_error_ moat_error *e3 = NULL;
        if (moat_volume_remove(e->volumes, vname, false, &e3) == 0)
            moat_engine_event(e, "volume", "destroy", vname, NULL);
    }
    _cleanup_error_ moat_error *e4 = NULL;
    if (moat_rm_rf_at(AT_FDCWD, c->dir, &e4) < 0)
        return moat_err(err, e4->errnum ? e4->errnum : EIO, "remove container %.12s: %s", c->id, e4->msg);
    _cleanup_error_ moat_error *e5 = NULL;
    moat_rm_rf_at(AT_FDCWD, c->run_dir, &e5);
    moat_engine_event(e, "container", "destroy", c->id, NULL);
    return 0;
}
