/* Events: every create/start/die/... is recorded in a ring of the last
 * EVENTS_KEEP events (for GET /events?since=) and sent to each GET /events
 * listener whose filters it passes.  The ring keeps each event as its JSON
 * line (~0.4 KiB; a json-c tree of one is ~3 KiB, and a full ring of trees
 * stayed resident in an idle engine), parsed again only to filter a replay.
 * The objects have Docker's shape:
 *   {"status":"start","id":"<id>","from":"busybox","Type":"container",
 *    "Action":"start","Actor":{"ID":"<id>","Attributes":{...}},
 *    "scope":"local","time":1764648000,"timeNano":1764648000123456789}
 * Filters follow moby's daemon/events/filter.go: values of one key are ORed,
 * keys are ANDed, labels are all required. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "engine/container.h"
#include "moat/http.h"
#include "moat/json.h"
#include "moat/util.h"

#define EVENTS_KEEP 1024
#define SUB_PENDING_MAX (16u << 20) /* a listener that doesn't read is dropped */

struct event_ring {
    char *line[EVENTS_KEEP]; /* the event as sent: JSON and a newline */
    int64_t ns[EVENTS_KEEP];
    size_t head, count; /* head: the oldest */
};

struct event_sub {
    struct event_sub *next;
    struct moat_engine *e;
    struct moat_http_req *req;
    struct json_object *filters; /* a reference, or NULL */
    struct event *timer;         /* until= in the future */
};

/* ---- the filter matcher -------------------------------------------------------------- */

/* The values given for key, in either shape ({"v":true} or ["v"]); NULL when absent. */
static char **fvals(struct json_object *filters, const char *key)
{
    struct json_object *v;
    if (!filters || !json_object_is_type(filters, json_type_object) || !json_object_object_get_ex(filters, key, &v))
        return NULL;
    char **out = xcalloc(1, sizeof *out);
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, val)
        {
            if (!json_object_is_type(val, json_type_boolean) || json_object_get_boolean(val))
                moat_strv_push(&out, k);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *s = json_object_array_get_idx(v, i);
            if (json_object_is_type(s, json_type_string))
                moat_strv_push(&out, json_object_get_string(s));
        }
    } else if (json_object_is_type(v, json_type_string)) {
        moat_strv_push(&out, json_object_get_string(v));
    }
    if (!out[0]) { /* present but empty: as absent */
        free(out);
        return NULL;
    }
    return out;
}

static bool exact(char *const *vals, const char *src)
{
    if (!vals)
        return true;
    for (size_t i = 0; vals[i]; i++)
        if (src && !strcmp(vals[i], src))
            return true;
    return false;
}

/* moby's FuzzyMatch: equal, or src starts with the value (an ID prefix). */
static bool fuzzy(char *const *vals, const char *src)
{
    if (!vals)
        return true;
    for (size_t i = 0; vals[i]; i++)
        if (src && (!strcmp(vals[i], src) || moat_str_has_prefix(src, vals[i])))
            return true;
    return false;
}

static const char *sget(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* "busybox:latest" -> "busybox", "x@sha256:..." -> "x"; NULL when there is no tag. */
static char *strip_tag(const char *ref)
{
    if (!ref)
        return NULL;
    const char *at = strchr(ref, '@');
    if (at)
        return xstrndup(ref, (size_t)(at - ref));
    const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
    if (colon && (!slash || colon > slash))
        return xstrndup(ref, (size_t)(colon - ref));
    return NULL;
}

static bool match_name(struct json_object *filters, const char *key, const char *id, const char *name)
{
    _cleanup_strv_ char **v = fvals(filters, key);
    return !v || fuzzy(v, id) || fuzzy(v, name);
}

static bool match_labels(struct json_object *filters, struct json_object *attrs)
{
    _cleanup_strv_ char **v = fvals(filters, "label");
    for (size_t i = 0; v && v[i]; i++) {
        const char *eq = strchr(v[i], '=');
        _cleanup_free_ char *k = eq ? xstrndup(v[i], (size_t)(eq - v[i])) : xstrdup(v[i]);
        const char *have = sget(attrs, k);
        if (!have || (eq && strcmp(have, eq + 1)))
            return false;
    }
    return true;
}

static bool match_image(struct json_object *filters, const char *type, const char *id, struct json_object *attrs)
{
    _cleanup_strv_ char **v = fvals(filters, "image");
    if (!v)
        return true;
    const char *name = sget(attrs, type && !strcmp(type, "image") ? "name" : "image");
    _cleanup_free_ char *sid = strip_tag(id), *sname = strip_tag(name);
    return exact(v, id) || exact(v, name) || (sid && exact(v, sid)) || (sname && exact(v, sname));
}

bool events_match(struct json_object *filters, struct json_object *ev)
{
    if (!filters)
        return true;
    const char *type = sget(ev, "Type"), *action = sget(ev, "Action"), *scope = sget(ev, "scope");
    struct json_object *actor = NULL, *attrs = NULL;
    json_object_object_get_ex(ev, "Actor", &actor);
    if (actor)
        json_object_object_get_ex(actor, "Attributes", &attrs);
    const char *id = sget(actor, "ID"), *name = sget(attrs, "name");
    _cleanup_strv_ char **evs = fvals(filters, "event");
    bool fz = false;
    for (size_t i = 0; evs && evs[i]; i++)
        fz = fz || !strcmp(evs[i], "health_status") || !strcmp(evs[i], "exec_create") ||
             !strcmp(evs[i], "exec_start");
    if (!(fz ? fuzzy(evs, action) : exact(evs, action)))
        return false;
    _cleanup_strv_ char **types = fvals(filters, "type"), **scopes = fvals(filters, "scope");
    if (!exact(types, type) || !exact(scopes, scope))
        return false;
    return match_name(filters, "container", id, name) && match_name(filters, "volume", id, name) &&
           match_name(filters, "network", id, name) && match_image(filters, type, id, attrs) &&
           match_labels(filters, attrs);
}

/* ---- recording and broadcasting ------------------------------------------------------- */

static void sub_free(struct event_sub *s)
{
    if (s->filters)
        json_object_put(s->filters);
    if (s->timer)
        event_free(s->timer);
    free(s);
}

static void sub_unlink(struct event_sub *s)
{
    for (struct event_sub **pp = &s->e->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

static void sub_end(struct event_sub *s)
{
    struct moat_http_req *req = s->req;
    moat_http_on_close(req, NULL, NULL);
    sub_unlink(s);
    sub_free(s);
    moat_http_stream_end(req);
}

static void add_attr(struct json_object *attrs, const char *k, const char *v)
{
    if (k && v)
        json_object_object_add(attrs, k, json_object_new_string(v));
}

static struct json_object *ev_build(struct moat_engine *e, const char *type, const char *action, const char *id,
                                    char *const *attrs_in, int64_t ns)
{
    struct json_object *o = json_object_new_object(), *attrs = json_object_new_object();
    const char *from = NULL;
    if (type && !strcmp(type, "container")) {
        struct moat_container *c = NULL;
        _cleanup_error_ moat_error *err = NULL;
        if (id && moat_engine_find(e, id, &c, &err) == 0 && c) {
            for (size_t i = 0; c->req && c->req->labels && c->req->labels[i] && c->req->labels[i + 1]; i += 2)
                add_attr(attrs, c->req->labels[i], c->req->labels[i + 1]);
            add_attr(attrs, "image", c->image_ref);
            add_attr(attrs, "name", c->name);
            from = c->image_ref;
        }
    }
    for (size_t i = 0; attrs_in && attrs_in[i] && attrs_in[i + 1]; i += 2)
        add_attr(attrs, attrs_in[i], attrs_in[i + 1]);
    bool legacy = type && (!strcmp(type, "container") || !strcmp(type, "image"));
    if (legacy) { /* moby sends the legacy fields for these two only */
        json_object_object_add(o, "status", json_object_new_string(action ? action : ""));
        json_object_object_add(o, "id", json_object_new_string(id ? id : ""));
        if (from)
            json_object_object_add(o, "from", json_object_new_string(from));
    }
    json_object_object_add(o, "Type", json_object_new_string(type ? type : ""));
    json_object_object_add(o, "Action", json_object_new_string(action ? action : ""));
    struct json_object *actor = json_object_new_object();
    json_object_object_add(actor, "ID", json_object_new_string(id ? id : ""));
    json_object_object_add(actor, "Attributes", attrs);
    json_object_object_add(o, "Actor", actor);
    json_object_object_add(o, "scope", json_object_new_string("local"));
    json_object_object_add(o, "time", json_object_new_int64(ns / 1000000000LL));
    json_object_object_add(o, "timeNano", json_object_new_int64(ns));
    return o;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void moat_engine_event(struct moat_engine *e, const char *type, const char *action, const char *id,
                       char *const *attrs)
{
    if (!e)
        return;
    int64_t ns = now_ns();
    struct json_object *ev = ev_build(e, type, action, id, attrs, ns);
    if (!e->ev_ring)
        e->ev_ring = xcalloc(1, sizeof *e->ev_ring);
    struct event_ring *r = e->ev_ring;
    char *line = xasprintf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
                                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    if (r->count == EVENTS_KEEP) {
        free(r->line[r->head]);
        r->line[r->head] = line;
        r->ns[r->head] = ns;
        r->head = (r->head + 1) % EVENTS_KEEP;
    } else {
        size_t i = (r->head + r->count++) % EVENTS_KEEP;
        r->line[i] = line;
        r->ns[i] = ns;
    }
    for (struct event_sub *s = e->subs, *next; s; s = next) {
        next = s->next;
        if (!events_match(s->filters, ev))
            continue;
        if (moat_http_stream_pending(s->req) > SUB_PENDING_MAX) {
            sub_end(s); /* not reading: drop it rather than grow without bound */
            continue;
        }
        moat_http_stream_write(s->req, line, strlen(line));
    }
    json_object_put(ev);
}

static void on_sub_gone(struct moat_http_req *req, void *arg)
{
    (void)req;
    struct event_sub *s = arg;
    sub_unlink(s);
    sub_free(s);
}

static void on_until(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sub_end(arg);
}

void events_serve(struct moat_engine *e, struct moat_http_req *req, int64_t since, int64_t until,
                  struct json_object *filters)
{
    moat_http_stream_start(req, 200, "application/json");
    int64_t since_ns = since > 0 ? since * 1000000000LL : 0, until_ns = until > 0 ? until * 1000000000LL : 0;
    struct event_ring *r = e->ev_ring;
    for (size_t k = 0; r && (since_ns || until_ns) && k < r->count; k++) {
        size_t i = (r->head + k) % EVENTS_KEEP;
        if (r->ns[i] < since_ns || (until_ns && r->ns[i] > until_ns))
            continue;
        _cleanup_json_ struct json_object *ev = filters ? json_tokener_parse(r->line[i]) : NULL;
        if (!filters || (ev && events_match(filters, ev)))
            moat_http_stream_write(req, r->line[i], strlen(r->line[i]));
    }
    int64_t now = now_ns();
    if (until_ns && until_ns <= now) {
        moat_http_stream_end(req);
        return;
    }
    struct event_sub *s = xcalloc(1, sizeof *s);
    s->e = e;
    s->req = req;
    s->filters = filters ? json_object_get(filters) : NULL;
    if (until_ns) {
        s->timer = evtimer_new(e->base, on_until, s);
        int64_t d = until_ns - now;
        struct timeval tv = {.tv_sec = (time_t)(d / 1000000000LL), .tv_usec = (suseconds_t)(d % 1000000000LL / 1000)};
        evtimer_add(s->timer, &tv);
    }
    s->next = e->subs;
    e->subs = s;
    moat_http_on_close(req, on_sub_gone, s);
}

void events_free_all(struct moat_engine *e)
{
    while (e->subs)
        sub_end(e->subs);
    struct event_ring *r = e->ev_ring;
    for (size_t k = 0; r && k < r->count; k++)
        free(r->line[(r->head + k) % EVENTS_KEEP]);
    free(r);
    e->ev_ring = NULL;
}
