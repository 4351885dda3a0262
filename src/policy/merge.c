/* Layers: a narrower policy may only tighten the one in force
 * (include/moat/policy.h).  Also the host's policy directory, the choice of
 * layers for an identity, and the effective policy as JSON. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/oci.h"
#include "moat/util.h"
#include "policy/policy_internal.h"

#define BIT(r) (UINT64_C(1) << (r))

static const char *src_file(const struct moat_policy *p, enum moat_policy_rule r)
{
    return p->src[r].file ? p->src[r].file : "?";
}

static int widen(moat_error **err, const struct moat_policy *eff, const struct moat_policy *layer,
                 enum moat_policy_rule r, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int widen(moat_error **err, const struct moat_policy *eff, const struct moat_policy *layer,
                 enum moat_policy_rule r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        abort();
    va_end(ap);
    const struct moat_policy_src *ls = &layer->src[r];
    _cleanup_free_ char *where = ls->line ? xasprintf("%s:%u", src_file(layer, r), ls->line) : xstrdup(src_file(layer, r));
    return moat_err(err, EPERM, "%s: %s: would widen the policy in force: %s, which %s (%s: %s) does not allow",
                    where, moat_pol_fields[r].path, m, eff->name ? eff->name : "the policy", src_file(eff, r),
                    moat_pol_fields[r].path);
}

/* Is the narrower pattern n covered by one of the wider patterns? */
static bool pattern_covered(char *const *wide, const char *n)
{
    for (size_t i = 0; wide && wide[i]; i++)
        if (!strcmp(wide[i], n) || fnmatch(wide[i], n, 0) == 0)
            return true;
    return false;
}

static bool bind_covered(char *const *wide, const char *n)
{
    bool nro = !strncmp(n, "ro:", 3);
    const char *np = n + 3;
    for (size_t i = 0; wide && wide[i]; i++) {
        bool wro = !strncmp(wide[i], "ro:", 3);
        if (pol_path_under(np, wide[i] + 3) && (nro || !wro))
            return true;
    }
    return false;
}

static bool port_covered(char *const *wide, const char *n)
{
    unsigned lo, hi;
    if (!pol_port_range(n, &lo, &hi))
        return false;
    /* every port of [lo, hi] inside the union of the wider ranges */
    for (unsigned p = lo; p <= hi;) {
        unsigned best = 0;
        for (size_t i = 0; wide && wide[i]; i++) {
            unsigned a, b;
            if (pol_port_range(wide[i], &a, &b) && a <= p && b >= p && b > best)
                best = b;
        }
        if (!best)
            return false;
        if (best >= hi)
            return true;
        p = best + 1;
    }
    return true;
}

static void take_src(struct moat_policy *eff, const struct moat_policy *layer, enum moat_policy_rule r)
{
    free(eff->src[r].file);
    free(eff->src[r].path);
    eff->src[r].file = xstrdup_or_null(layer->src[r].file);
    eff->src[r].path = xstrdup_or_null(layer->src[r].path);
    eff->src[r].line = layer->src[r].line;
}

static int merge_rule(struct moat_policy *eff, const struct moat_policy *layer, enum moat_policy_rule r,
                      moat_error **err)
{
    const struct pol_field *f = &moat_pol_fields[r];
    char *const *ll = layer->l[r];
    switch (f->kind) {
    case K_ALLOW:
        if (layer->b[r] && !eff->b[r])
            return widen(err, eff, layer, r, "it allows %s", f->what);
        eff->b[r] = layer->b[r];
        break;
    case K_REQUIRE:
        if (!layer->b[r] && eff->b[r])
            return widen(err, eff, layer, r, "it stops requiring %s", f->what);
        eff->b[r] = layer->b[r];
        break;
    case K_CAPS: {
        uint64_t extra = (uint64_t)layer->n[r] & ~(uint64_t)eff->n[r];
        if (extra)
            return widen(err, eff, layer, r, "capability %s", oci_cap_name(__builtin_ctzll(extra)) + 4);
        eff->n[r] = layer->n[r];
        break;
    }
    case K_CAPS_DEF:
    case K_DEFAULT:
        eff->n[r] = layer->n[r];
        break;
    case K_LIST:
        for (size_t i = 0; ll && ll[i]; i++)
            if (!moat_strv_contains(eff->l[r], ll[i]))
                return widen(err, eff, layer, r, "%s '%s'", f->what, ll[i]);
        goto take_list;
    case K_PATTERNS:
        for (size_t i = 0; ll && ll[i]; i++)
            if (!pattern_covered(eff->l[r], ll[i]))
                return widen(err, eff, layer, r, "%s '%s'", f->what, ll[i]);
        goto take_list;
    case K_BINDS:
        for (size_t i = 0; ll && ll[i]; i++)
            if (!bind_covered(eff->l[r], ll[i]))
                return widen(err, eff, layer, r, "%s %s of %s", f->what, !strncmp(ll[i], "ro:", 3) ? "read-only" : "read-write",
                             ll[i] + 3);
        goto take_list;
    case K_PORTS:
        for (size_t i = 0; ll && ll[i]; i++)
            if (!port_covered(eff->l[r], ll[i]))
                return widen(err, eff, layer, r, "%s range %s", f->what, ll[i]);
        goto take_list;
    case K_STR_DEF:
    take_list:
        moat_strv_free(eff->l[r]);
        eff->l[r] = moat_strv_dup(ll);
        break;
    case K_UNION:
        for (size_t i = 0; ll && ll[i]; i++)
            if (!moat_strv_contains(eff->l[r], ll[i]))
                moat_strv_push(&eff->l[r], ll[i]);
        break;
    case K_MAX:
    case K_BYTES:
    case K_CPUS:
        if (eff->n[r] && (!layer->n[r] || layer->n[r] > eff->n[r]))
            return widen(err, eff, layer, r, "a %s of %s", f->what,
                         layer->n[r] ? "a higher maximum" : "no maximum");
        eff->n[r] = layer->n[r];
        break;
    case K_SIGNED:
        if (layer->n[r] < eff->n[r])
            return widen(err, eff, layer, r, "signatures required '%s' instead of '%s'", pol_signed_name(layer->n[r]),
                         pol_signed_name(eff->n[r]));
        eff->n[r] = layer->n[r];
        break;
    }
    if (f->kind != K_UNION || !eff->src[r].file)
        take_src(eff, layer, r);
    return 0;
}

/* A built-in profile used as a narrower layer (--policy restricted) adds its
 * restrictions to the policy in force: per rule the stricter of the two. */
static bool list_covered(enum pol_kind k, char *const *wide, const char *n)
{
    return k == K_LIST ? moat_strv_contains(wide, n) : k == K_BINDS ? bind_covered(wide, n)
                       : k == K_PORTS ? port_covered(wide, n) : pattern_covered(wide, n);
}

static void intersect_rule(struct moat_policy *eff, const struct moat_policy *layer, enum moat_policy_rule r)
{
    const struct pol_field *f = &moat_pol_fields[r];
    bool took = true;
    switch (f->kind) {
    case K_ALLOW:
        took = !layer->b[r] && eff->b[r];
        eff->b[r] = eff->b[r] && layer->b[r];
        break;
    case K_REQUIRE:
        took = layer->b[r] && !eff->b[r];
        eff->b[r] = eff->b[r] || layer->b[r];
        break;
    case K_CAPS:
        took = ((uint64_t)layer->n[r] & (uint64_t)eff->n[r]) != (uint64_t)eff->n[r];
        eff->n[r] = (int64_t)((uint64_t)eff->n[r] & (uint64_t)layer->n[r]);
        break;
    case K_CAPS_DEF:
    case K_DEFAULT:
        eff->n[r] = layer->n[r];
        break;
    case K_STR_DEF:
        moat_strv_free(eff->l[r]);
        eff->l[r] = moat_strv_dup(layer->l[r]);
        break;
    case K_LIST:
    case K_PATTERNS:
    case K_BINDS:
    case K_PORTS: {
        /* what both allow: the layer's entries the policy in force covers, and
         * the policy's entries inside a layer entry */
        char **out = NULL;
        for (size_t i = 0; layer->l[r] && layer->l[r][i]; i++)
            if (list_covered(f->kind, eff->l[r], layer->l[r][i]) && !moat_strv_contains(out, layer->l[r][i]))
                moat_strv_push(&out, layer->l[r][i]);
        for (size_t i = 0; eff->l[r] && eff->l[r][i]; i++)
            if (list_covered(f->kind, layer->l[r], eff->l[r][i]) && !moat_strv_contains(out, eff->l[r][i]))
                moat_strv_push(&out, eff->l[r][i]);
        if (!out)
            out = xcalloc(1, sizeof *out);
        took = moat_strv_len(out) != moat_strv_len(eff->l[r]);
        moat_strv_free(eff->l[r]);
        eff->l[r] = out;
        break;
    }
    case K_UNION:
        for (size_t i = 0; layer->l[r] && layer->l[r][i]; i++)
            if (!moat_strv_contains(eff->l[r], layer->l[r][i]))
                moat_strv_push(&eff->l[r], layer->l[r][i]);
        took = false;
        break;
    case K_MAX:
    case K_BYTES:
    case K_CPUS:
        took = layer->n[r] && (!eff->n[r] || layer->n[r] < eff->n[r]);
        if (took)
            eff->n[r] = layer->n[r];
        break;
    case K_SIGNED:
        took = layer->n[r] > eff->n[r];
        if (took)
            eff->n[r] = layer->n[r];
        break;
    }
    if (took)
        take_src(eff, layer, r);
}

static void finish_merge(struct moat_policy *eff, struct moat_policy *tmp, const struct moat_policy *layer);

void moat_policy_restrict(struct moat_policy *eff, const struct moat_policy *layer)
{
    _cleanup_policy_ struct moat_policy *tmp = moat_policy_dup(eff);
    for (int r = 0; r < POL_N; r++)
        if (layer->set & BIT(r))
            intersect_rule(tmp, layer, (enum moat_policy_rule)r);
    finish_merge(eff, tmp, layer);
}

int moat_policy_merge(struct moat_policy *eff, const struct moat_policy *layer, moat_error **err)
{
    _cleanup_policy_ struct moat_policy *tmp = moat_policy_dup(eff);
    for (int r = 0; r < POL_N; r++)
        if ((layer->set & BIT(r)) && merge_rule(tmp, layer, (enum moat_policy_rule)r, err) < 0)
            return -1;
    finish_merge(eff, tmp, layer);
    return 0;
}

static void finish_merge(struct moat_policy *eff, struct moat_policy *tmp, const struct moat_policy *layer)
{
    /* Defaults follow the tightened sets: never more than what is allowed. */
    tmp->n[POL_CAPS_DEFAULT] &= tmp->n[POL_CAPS_ALLOWED];
    if (tmp->l[POL_SECCOMP_DEFAULT] && tmp->l[POL_SECCOMP_PROFILES] && tmp->l[POL_SECCOMP_PROFILES][0] &&
        !moat_strv_contains(tmp->l[POL_SECCOMP_PROFILES], tmp->l[POL_SECCOMP_DEFAULT][0])) {
        const char *first = tmp->l[POL_SECCOMP_PROFILES][0];
        for (size_t i = 0; tmp->l[POL_SECCOMP_PROFILES][i]; i++)
            if (strcmp(tmp->l[POL_SECCOMP_PROFILES][i], "custom")) {
                first = tmp->l[POL_SECCOMP_PROFILES][i];
                break;
            }
        free(tmp->l[POL_SECCOMP_DEFAULT][0]);
        tmp->l[POL_SECCOMP_DEFAULT][0] = xstrdup(first);
        free(tmp->src[POL_SECCOMP_DEFAULT].file); /* the default now follows from the profiles rule */
        tmp->src[POL_SECCOMP_DEFAULT].file = xstrdup_or_null(tmp->src[POL_SECCOMP_PROFILES].file);
    }
    if (tmp->n[POL_PIDS_MAX] && tmp->n[POL_PIDS_DEFAULT] > tmp->n[POL_PIDS_MAX])
        tmp->n[POL_PIDS_DEFAULT] = tmp->n[POL_PIDS_MAX];
    moat_strv_push(&tmp->layers, layer->file ? layer->file : layer->name ? layer->name : "?");
    free(tmp->name);
    tmp->name = xstrdup(layer->name ? layer->name : "policy");
    /* swap tmp into eff */
    struct moat_policy t = *eff;
    *eff = *tmp;
    *tmp = t;
}

/* ---- the default, the host's directory, layers for an identity -------------------------- */

static struct moat_policy *start_from(const char *base, moat_error **err)
{
    struct moat_policy *p = NULL;
    if (moat_policy_builtin(base, &p, err) < 0)
        return NULL;
    p->layers = NULL;
    _cleanup_free_ char *f = xasprintf("%s.json", base);
    moat_strv_push(&p->layers, f);
    return p;
}

char *moat_policy_default_dir(void)
{
    if (geteuid() == 0)
        return xstrdup("/etc/moat/policy.d");
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && x[0] == '/')
        return xasprintf("%s/moat/policy.d", x);
    const char *h = getenv("HOME");
    return h && h[0] == '/' ? xasprintf("%s/.config/moat/policy.d", h) : NULL;
}

const struct moat_policy *moat_policy_default(void)
{
    static struct moat_policy *def;
    if (!def) {
        _cleanup_error_ moat_error *err = NULL;
        def = start_from("baseline", &err);
        if (!def) { /* the built-in is checked by the unit tests; this is a build error */
            fprintf(stderr, "moat: built-in policy: %s\n", err->msg);
            abort();
        }
    }
    return def;
}

void moat_policy_set_free(struct moat_policy_set *s)
{
    if (!s)
        return;
    moat_policy_free(s->host);
    for (size_t i = 0; s->scoped && s->scoped[i]; i++)
        moat_policy_free(s->scoped[i]);
    free(s->scoped);
    free(s->dir);
    free(s);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_one(int dfd, const char *dir, const char *name, struct moat_policy **ret, moat_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return moat_err_sys(err, "policy %s", path);
    if (!S_ISREG(st.st_mode))
        return moat_err(err, EINVAL, "policy %s: not a regular file", path);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (moat_read_fd_bounded(fd, MOAT_POLICY_MAX_BYTES, &buf, &len, err) < 0)
        return moat_err_wrap(err, "policy %s", path);
    return moat_policy_parse(buf, len, path, ret, err);
}

int moat_policy_set_load(const char *dir, struct moat_policy_set **ret, moat_error **err)
{
    _cleanup_strv_ char **names = NULL;
    _cleanup_close_ int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (dir && dfd < 0 && errno != ENOENT)
        return moat_err_sys(err, "policy directory %s", dir);
    if (dfd >= 0) {
        int d2 = dup(dfd);
        DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
        if (!d) {
            if (d2 >= 0)
                close(d2);
            return moat_err_sys(err, "read policy directory %s", dir);
        }
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d));) {
            size_t l = strlen(de->d_name);
            if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
                continue;
            if (++n > MOAT_POLICY_MAX_FILES) {
                closedir(d);
                return moat_err(err, E2BIG, "policy directory %s: more than %u files", dir, MOAT_POLICY_MAX_FILES);
            }
            moat_strv_push(&names, de->d_name);
        }
        closedir(d);
        if (names)
            qsort(names, moat_strv_len(names), sizeof *names, name_cmp);
    }
    struct moat_policy **docs = xcalloc(moat_strv_len(names) + 1, sizeof *docs);
    struct moat_policy_set *s = xcalloc(1, sizeof *s);
    s->dir = xstrdup_or_null(dir);
    int rc = -1;
    const char *base = NULL, *base_file = NULL;
    size_t ns = 0;
    for (size_t i = 0; names && names[i]; i++)
        if (load_one(dfd, dir, names[i], &docs[i], err) < 0)
            goto out;
    for (size_t i = 0; names && names[i]; i++) {
        if (!docs[i]->base)
            continue;
        if (docs[i]->scope_uids || docs[i]->scope_tenants || docs[i]->scope_subjects) {
            moat_err(err, EINVAL, "%s: /base: a scoped policy cannot choose the base (it is set for the host)",
                     docs[i]->file);
            goto out;
        }
        if (base && strcmp(base, docs[i]->base)) {
            moat_err(err, EINVAL, "%s: /base: '%s' contradicts base '%s' of %s", docs[i]->file, docs[i]->base, base,
                     base_file);
            goto out;
        }
        base = docs[i]->base;
        base_file = docs[i]->file;
    }
    s->host = start_from(base ? base : "baseline", err);
    if (!s->host)
        goto out;
    s->scoped = xcalloc(moat_strv_len(names) + 1, sizeof *s->scoped);
    for (size_t i = 0; names && names[i]; i++) {
        if (docs[i]->scope_uids || docs[i]->scope_tenants || docs[i]->scope_subjects) {
            s->scoped[ns++] = TAKE_PTR(docs[i]);
            continue;
        }
        if (moat_policy_merge(s->host, docs[i], err) < 0)
            goto out;
    }
    /* A scoped policy must fit the host's too: check now, not at the first request. */
    for (size_t i = 0; i < ns; i++) {
        _cleanup_policy_ struct moat_policy *t = moat_policy_dup(s->host);
        if (moat_policy_merge(t, s->scoped[i], err) < 0)
            goto out;
    }
    *ret = TAKE_PTR(s);
    rc = 0;
out:
    for (size_t i = 0; names && names[i]; i++)
        moat_policy_free(docs[i]);
    free(docs);
    moat_policy_set_free(s);
    return rc;
}

static bool scope_matches(const struct moat_policy *p, const struct moat_identity *id)
{
    char uid[16];
    snprintf(uid, sizeof uid, "%u", (unsigned)id->uid);
    if (p->scope_uids && moat_strv_contains(p->scope_uids, uid))
        return true;
    if (p->scope_tenants && id->tenant && moat_strv_contains(p->scope_tenants, id->tenant))
        return true;
    return p->scope_subjects && id->subject && moat_strv_contains(p->scope_subjects, id->subject);
}

int moat_policy_for(const struct moat_policy_set *s, const struct moat_identity *id, const char *container_policy,
                    struct moat_policy **ret, moat_error **err)
{
    _cleanup_policy_ struct moat_policy *eff = moat_policy_dup(s ? s->host : moat_policy_default());
    for (size_t i = 0; s && id && s->scoped && s->scoped[i]; i++)
        if (scope_matches(s->scoped[i], id) && moat_policy_merge(eff, s->scoped[i], err) < 0)
            return -1;
    if (container_policy && container_policy[0]) {
        _cleanup_policy_ struct moat_policy *layer = NULL;
        if (container_policy[0] == '{') {
            if (moat_policy_parse(container_policy, strlen(container_policy), "the container's policy", &layer, err) < 0)
                return -1;
        } else {
            /* A built-in profile adds its restrictions (per rule the stricter);
             * privileged restricts nothing, so asking for it is refused. */
            if (!strcmp(container_policy, "privileged"))
                return moat_err(err, EPERM, "the privileged profile can only be a host policy's base "
                                            "(/etc/moat/policy.d: \"base\": \"privileged\"), not a container's policy");
            if (moat_policy_builtin(container_policy, &layer, err) < 0)
                return -1;
            moat_policy_restrict(eff, layer);
            *ret = TAKE_PTR(eff);
            return 0;
        }
        if (layer->base || layer->scope_uids || layer->scope_tenants || layer->scope_subjects)
            return moat_err(err, EINVAL, "%s: a container's policy cannot set base or scope", layer->file);
        if (moat_policy_merge(eff, layer, err) < 0)
            return -1;
    }
    *ret = TAKE_PTR(eff);
    return 0;
}

/* ---- JSON out ---------------------------------------------------------------------------- */

static struct json_object *caps_json(uint64_t m)
{
    struct json_object *a = json_object_new_array();
    for (int c = 0; c <= oci_cap_last() && c < 64; c++)
        if (m & (UINT64_C(1) << c))
            json_object_array_add(a, json_object_new_string(oci_cap_name(c) + 4));
    return a;
}

static struct json_object *rule_value(const struct moat_policy *p, enum moat_policy_rule r)
{
    const struct pol_field *f = &moat_pol_fields[r];
    switch (f->kind) {
    case K_ALLOW:
    case K_REQUIRE:
        return json_object_new_boolean(p->b[r]);
    case K_CAPS:
    case K_CAPS_DEF:
        return caps_json((uint64_t)p->n[r]);
    case K_STR_DEF:
        return json_object_new_string(p->l[r] && p->l[r][0] ? p->l[r][0] : "");
    case K_SIGNED:
        return json_object_new_string(pol_signed_name(p->n[r]));
    case K_CPUS:
        return json_object_new_double((double)p->n[r] / 1e9);
    case K_MAX:
    case K_DEFAULT:
    case K_BYTES:
        return json_object_new_int64(p->n[r]);
    case K_BINDS: {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; p->l[r] && p->l[r][i]; i++) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "prefix", json_object_new_string(p->l[r][i] + 3));
            json_object_object_add(o, "readOnly", json_object_new_boolean(!strncmp(p->l[r][i], "ro:", 3)));
            json_object_array_add(a, o);
        }
        return a;
    }
    case K_LIST:
    case K_PATTERNS:
    case K_UNION:
    case K_PORTS:
        break;
    }
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; p->l[r] && p->l[r][i]; i++)
        json_object_array_add(a, json_object_new_string(p->l[r][i]));
    return a;
}

/* Put v at JSON pointer path inside o, creating objects. */
static void put_path(struct json_object *o, const char *path, struct json_object *v)
{
    _cleanup_free_ char *p = xstrdup(path + 1);
    char *save = NULL, *k = strtok_r(p, "/", &save);
    while (k) {
        char *next = strtok_r(NULL, "/", &save);
        if (!next) {
            json_object_object_add(o, k, v);
            return;
        }
        struct json_object *c = NULL;
        if (!json_object_object_get_ex(o, k, &c)) {
            c = json_object_new_object();
            json_object_object_add(o, k, c);
        }
        o = c;
        k = next;
    }
    json_object_put(v);
}

struct json_object *moat_policy_to_json(const struct moat_policy *p, bool with_sources)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "moatPolicy", json_object_new_int(MOAT_POLICY_VERSION));
    if (p->name)
        json_object_object_add(o, "name", json_object_new_string(p->name));
    if (with_sources) {
        struct json_object *ls = json_object_new_array();
        for (size_t i = 0; p->layers && p->layers[i]; i++)
            json_object_array_add(ls, json_object_new_string(p->layers[i]));
        json_object_object_add(o, "layers", ls);
    }
    struct json_object *srcs = with_sources ? json_object_new_object() : NULL;
    for (int r = 0; r < POL_N; r++) {
        if (!(p->set & BIT(r)))
            continue;
        put_path(o, moat_pol_fields[r].path, rule_value(p, (enum moat_policy_rule)r));
        if (srcs) {
            _cleanup_free_ char *s = p->src[r].line ? xasprintf("%s:%u", src_file(p, r), p->src[r].line)
                                                    : xstrdup(src_file(p, r));
            json_object_object_add(srcs, moat_pol_fields[r].path, json_object_new_string(s));
        }
    }
    if (srcs)
        json_object_object_add(o, "sources", srcs);
    return o;
}

char *moat_policy_digest(const struct moat_policy *p)
{
    _cleanup_json_ struct json_object *o = moat_policy_to_json(p, false);
    json_object_object_del(o, "name");
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL))
        abort();
    char *hex = xmalloc(7 + 2 * mdlen + 1);
    memcpy(hex, "sha256:", 7);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
    return hex;
}
