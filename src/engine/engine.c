/* The engine: its directories, the container table, lookups, id slices. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "engine/container.h"
#include "engine/engine.h"
#include "moat/audit.h"
#include "moat/log.h"
#include "moat/runtime.h"
#include "moat/policy.h"
#include "moat/store.h"
#include "moat/util.h"
#include "moat/volume.h"

/* Root's containers: each gets its own 65536-id slice of the 'moat' user's
 * subordinate range (tools/deps.sh: 1000000000, 16777216 ids = 256 slices). */
#define SLICE_IDS 65536u

char *engine_random_hex(size_t bytes)
{
    unsigned char b[64];
    if (bytes > sizeof b)
        bytes = sizeof b;
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(b + got, bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort(); /* no entropy: nothing sane to do */
        got += (size_t)n;
    }
    char *s = xmalloc(bytes * 2 + 1);
    for (size_t i = 0; i < bytes; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

static const char *const adjectives[] = {
    "admiring", "bold", "brave", "calm", "clever", "dazzling", "eager", "elastic", "festive", "focused",
    "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "loving", "lucid", "modest",
    "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "vibrant",
    "wizardly", "zealous"};
static const char *const surnames[] = {
    "albattani", "babbage", "bell", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat", "franklin",
    "galileo", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "meitner", "newton", "noether",
    "pasteur", "ritchie", "shannon", "tesla", "thompson", "turing", "wozniak", "yonath"};

char *engine_name_random(struct moat_engine *e)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        unsigned char r[3];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            abort();
        char *n = attempt < 32 ? xasprintf("%s_%s", adjectives[r[0] % ARRAY_SIZE(adjectives)],
                                           surnames[r[1] % ARRAY_SIZE(surnames)])
                               : xasprintf("%s_%s%u", adjectives[r[0] % ARRAY_SIZE(adjectives)],
                                           surnames[r[1] % ARRAY_SIZE(surnames)], r[2] % 10u);
        bool taken = false;
        for (size_t i = 0; i < e->n_ctrs && !taken; i++)
            taken = !strcmp(e->ctrs[i]->name, n);
        if (!taken)
            return n;
        free(n);
    }
    return engine_random_hex(6);
}

int engine_alloc_slice(struct moat_engine *e, uint32_t *ret, moat_error **err)
{
    bool used[256] = {0};
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (e->ctrs[i]->id_slice < 256)
            used[e->ctrs[i]->id_slice] = true;
    /* Slice 0 is the range moat-runtime's own template uses: engines start at 1. */
    for (uint32_t s = 1; s < 256; s++)
        if (!used[s]) {
            *ret = s;
            return 0;
        }
    return moat_err(err, ENOSPC, "no free id range: 255 containers already exist (remove some)");
}

void engine_slice_range(uint32_t slice, uint32_t *uid_base, uint32_t *gid_base, uint32_t *size)
{
    *uid_base = 1000000000u + slice * SLICE_IDS;
    *gid_base = 1000000000u + slice * SLICE_IDS;
    *size = SLICE_IDS;
}

int engine_add(struct moat_engine *e, struct moat_container *c)
{
    e->ctrs = xrealloc(e->ctrs, (e->n_ctrs + 1) * sizeof *e->ctrs);
    e->ctrs[e->n_ctrs++] = c;
    return 0;
}

void engine_drop(struct moat_engine *e, struct moat_container *c)
{
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (e->ctrs[i] == c) {
            memmove(&e->ctrs[i], &e->ctrs[i + 1], (e->n_ctrs - i - 1) * sizeof *e->ctrs);
            e->n_ctrs--;
            return;
        }
}

int moat_engine_find(struct moat_engine *e, const char *ref, struct moat_container **ret, moat_error **err)
{
    if (!ref || !ref[0])
        return moat_err(err, ENOENT, "No such container: %s", ref ? ref : "");
    const char *name = ref[0] == '/' ? ref + 1 : ref;
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (!strcmp(e->ctrs[i]->id, ref) || !strcmp(e->ctrs[i]->name, name)) {
            *ret = e->ctrs[i];
            return 0;
        }
    struct moat_container *found = NULL;
    size_t len = strlen(ref);
    for (size_t i = 0; i < e->n_ctrs; i++)
        if (!strncmp(e->ctrs[i]->id, ref, len)) {
            if (found)
                return moat_err(err, EINVAL, "multiple IDs found with provided prefix: %s", ref);
            found = e->ctrs[i];
        }
    if (!found)
        return moat_err(err, ENOENT, "No such container: %s", ref);
    *ret = found;
    return 0;
}

size_t moat_engine_count(struct moat_engine *e, const char *status)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_ctrs; i++) {
        const char *s = ctr_status_name(e->ctrs[i]->status);
        if (!status || !strcmp(status, s) || (!strcmp(status, "stopped") && strcmp(s, "running") && strcmp(s, "paused")))
            n++;
    }
    return n;
}

int moat_engine_image_in_use(void *ctx, const char *image_id, char **ret_container, bool *ret_running,
                             moat_error **err)
{
    (void)err;
    struct moat_engine *e = ctx;
    /* a running (or paused) user first: that is the hard conflict, whatever else uses it */
    const struct moat_container *hit = NULL;
    for (size_t i = 0; i < e->n_ctrs; i++) {
        const struct moat_container *c = e->ctrs[i];
        if (!c->image_id || strcmp(c->image_id, image_id) != 0)
            continue;
        bool running = c->status == CTR_RUNNING || c->status == CTR_PAUSED;
        if (!hit || running)
            hit = c;
        if (running)
            break;
    }
    if (!hit)
        return 0;
    *ret_container = xstrndup(hit->id, 12);
    *ret_running = hit->status == CTR_RUNNING || hit->status == CTR_PAUSED;
    return 1;
}

int moat_engine_volume_in_use(void *ctx, const char *name, char **ret_container, moat_error **err)
{
    (void)err;
    struct moat_engine *e = ctx;
    for (size_t i = 0; i < e->n_ctrs; i++)
        for (size_t j = 0; j < e->ctrs[i]->n_vols; j++)
            if (e->ctrs[i]->vols[j].name && !strcmp(e->ctrs[i]->vols[j].name, name)) {
                *ret_container = xstrdup(e->ctrs[i]->id);
                return 1;
            }
    return 0;
}


static char *default_run_dir(bool rootless)
{
    if (!rootless)
        return xstrdup("/run/moat");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (xdg && xdg[0] == '/' && lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
        !(st.st_mode & 077))
        return xasprintf("%s/moat", xdg);
    /* No systemd session here: a private per-user directory, checked by moat_private_dir(). */
    return xasprintf("/tmp/moat-%u", (unsigned)geteuid());
}

char *moat_engine_default_socket(void)
{
    _cleanup_free_ char *run = default_run_dir(geteuid() != 0);
    return xasprintf("%s/moat.sock", run);
}

/* A helper binary: next to this executable, else in PATH. */
static char *sibling(const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char *p = xasprintf("%s/%s", self, name);
            if (access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    _cleanup_free_ char *dup = xstrdup(path);
    for (char *save = NULL, *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static int load_containers(struct moat_engine *e, moat_error **err)
{
    _cleanup_free_ char *dir = xasprintf("%s/containers", e->store_root);
    if (moat_private_dir(dir, err) < 0)
        return -1;
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return moat_err_sys(err, "open '%s'", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) != 64)
            continue;
        _cleanup_error_ moat_error *e2 = NULL;
        struct moat_container *c = NULL;
        if (ctr_load(e, de->d_name, &c, &e2) < 0) {
            moat_log(MOAT_LOG_WARN, "container %.12s: %s (skipped)", de->d_name, e2->msg);
            continue;
        }
        engine_add(e, c);
    }
    /* Recovery may remove a container (--rm): walk a copy of the table. */
    size_t n = e->n_ctrs;
    struct moat_container **copy = xcalloc(n ? n : 1, sizeof *copy);
    if (n)
        memcpy(copy, e->ctrs, n * sizeof *copy);
    for (size_t i = 0; i < n; i++)
        ctr_recover(copy[i]);
    free(copy);
    return 0;
}

int moat_engine_new(const struct moat_engine_opts *o, struct event_base *base, struct moat_engine **ret,
                    moat_error **err)
{
    struct moat_engine *e = xcalloc(1, sizeof *e);
    char *cdir = NULL;
    e->base = base;
    e->rootless = geteuid() != 0;
    e->started_unix = time(NULL);
    struct moat_store_opts so = {.root = o->store_root};
    if (moat_store_open(&so, &e->store, err) < 0)
        goto fail;
    e->store_root = xstrdup(moat_store_root(e->store));
    moat_store_set_in_use_hook(e->store, moat_engine_image_in_use, e);
    if (moat_volumes_open(e->store_root, &e->volumes, err) < 0)
        goto fail;
    moat_volumes_set_in_use_hook(e->volumes, moat_engine_volume_in_use, e);
    /* The audit log next to the store (root: /var/lib/moat/audit; rootless: the user's data
     * dir): requests are recorded there before they execute, so without it nothing runs. */
    {
        _cleanup_free_ char *adir = xasprintf("%s/audit", e->store_root);
        struct moat_audit_opts ao = {.dir = adir};
        if (moat_audit_open(&ao, &e->audit, err) < 0)
            goto fail;
    }
    e->run_dir = o->run_dir ? xstrdup(o->run_dir) : default_run_dir(e->rootless);
    if (moat_private_dir(e->run_dir, err) < 0)
        goto fail;
    {
        char *real = realpath(e->run_dir, NULL); /* canonical, as the store root: bind sources */
        if (real) {
            free(e->run_dir);
            e->run_dir = real;
        }
    }
    e->socket_path = o->socket ? xstrdup(o->socket) : xasprintf("%s/moat.sock", e->run_dir);
    cdir = xasprintf("%s/c", e->run_dir);
    if (moat_private_dir(cdir, err) < 0)
        goto fail;
    e->runtime_root = xasprintf("%s/runtime", e->run_dir);
    if (moat_private_dir(e->runtime_root, err) < 0)
        goto fail;
    e->runtime_timeout_s = o->runtime_timeout_s > 0 ? o->runtime_timeout_s : 30;
    e->runtime_path = o->runtime ? xstrdup(o->runtime) : sibling("moat-runtime");
    e->runtime_builtin = !o->runtime;
    e->runtime_memfd = -1;
    if (e->runtime_builtin && e->runtime_path) {
        moat_error *me = NULL;
        if (moat_rt_sealed_copy(e->runtime_path, &e->runtime_memfd, &me) < 0) {
            /* not fatal: each create then makes its own sealed copy */
            moat_log(MOAT_LOG_WARN, "no sealed copy of the runtime: %s", me->msg);
            moat_error_free(me);
        }
    }
    e->monitor_path = o->monitor ? xstrdup(o->monitor) : sibling("moat-monitor");
    if (!e->runtime_path || !e->monitor_path) {
        moat_err(err, ENOENT, "%s not found next to moatd or in PATH", !e->runtime_path ? "moat-runtime" : "moat-monitor");
        goto fail;
    }
    /* Policy before any container: a bad host policy stops the engine here
     * (fail closed) with file, line and reason. */
    {
        e->policy_dir = o->policy_dir ? xstrdup(o->policy_dir) : moat_policy_default_dir();
        if (moat_policy_set_load(e->policy_dir, &e->policy, err) < 0)
            goto fail;
        char now[64];
        moat_rfc3339_now(now, sizeof now);
        e->policy_loaded_at = xstrdup(now);
    }
    if (load_containers(e, err) < 0)
        goto fail;
    free(cdir);
    *ret = e;
    return 0;
fail:
    free(cdir);
    moat_engine_free(e);
    return -1;
}

int moat_engine_audit(struct moat_engine *e, const struct moat_caller *who, const char *decision,
                      char *const *reasons, const char *policy, moat_error **err)
{
    struct moat_audit_entry ae = {.identity = who ? who->identity : "engine",
                                  .subject = who ? who->id.subject : NULL,
                                  .tenant = who ? who->id.tenant : NULL,
                                  .action = who && who->action ? who->action : "engine",
                                  .object = who ? who->object : NULL,
                                  .decision = decision, .reasons = reasons, .policy = policy};
    _cleanup_error_ moat_error *ae_err = NULL;
    if (moat_audit_append(e->audit, &ae, &ae_err) < 0) {
        moat_log(MOAT_LOG_ERROR, "audit log: %s: %s %s refused", ae_err->msg, ae.action, ae.object ? ae.object : "");
        return moat_err(err, EIO, "audit log: %s; the request was not executed", ae_err->msg);
    }
    if (who && who->recorded)
        *who->recorded = true;
    return 0;
}

int moat_engine_reload_policy(struct moat_engine *e, moat_error **err)
{
    struct moat_policy_set *ns = NULL;
    struct moat_caller who = {.identity = "engine", .action = "policy.reload", .object = e->policy_dir};
    _cleanup_error_ moat_error *le = NULL;
    if (moat_policy_set_load(e->policy_dir, &ns, &le) < 0) {
        moat_log(MOAT_LOG_ERROR, "policy reload refused: %s; the policy loaded at %s stays in force", le->msg,
                 e->policy_loaded_at);
        free(e->policy_error);
        e->policy_error = xstrdup(le->msg);
        char *const why[] = {le->msg, NULL};
        _cleanup_error_ moat_error *ae = NULL;
        moat_engine_audit(e, &who, "error", why, NULL, &ae);
        *err = TAKE_PTR(le);
        return -1;
    }
    moat_policy_set_free(e->policy);
    e->policy = ns;
    free(e->policy_error);
    e->policy_error = NULL;
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    free(e->policy_loaded_at);
    e->policy_loaded_at = xstrdup(now);
    _cleanup_free_ char *digest = moat_policy_digest(ns->host);
    moat_log(MOAT_LOG_INFO, "policy reloaded from %s (%s)", e->policy_dir ? e->policy_dir : "(built-in)", digest);
    _cleanup_error_ moat_error *ae = NULL;
    if (moat_engine_audit(e, &who, "allow", NULL, digest, &ae) < 0)
        moat_log(MOAT_LOG_ERROR, "%s", ae->msg);
    return 0;
}

void moat_engine_free(struct moat_engine *e)
{
    if (!e)
        return;
    events_free_all(e);
    engine_reap(e);
    free(e->reaping);
    if (e->reap_ev)
        event_free(e->reap_ev);
    for (size_t i = 0; i < e->n_ctrs; i++)
        ctr_free(e->ctrs[i]);
    free(e->ctrs);
    moat_volumes_close(e->volumes);
    moat_audit_close(e->audit);
    moat_store_close(e->store);
    moat_policy_set_free(e->policy);
    free(e->policy_dir);
    free(e->policy_loaded_at);
    free(e->policy_error);
    free(e->store_root);
    free(e->run_dir);
    free(e->socket_path);
    free(e->runtime_path);
    if (e->runtime_memfd >= 0)
        close(e->runtime_memfd);
    free(e->monitor_path);
    free(e->runtime_root);
    free(e);
}
