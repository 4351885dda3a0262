/* A subset of Go's text/template, evaluated over a JSON value, with Go's
 * fmt.Print formatting of the values: what `docker inspect -f` and the
 * --format flags of ps, volume ls... accept in everyday use. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

#define TPL_MAX_DEPTH 32

/* ---- Go's fmt of values ---- */

static void append(char **out, const char *s)
{
    char *t = xasprintf("%s%s", *out, s);
    free(*out);
    *out = t;
}

static bool nil_is_slice(const char *key)
{
    static const char *const slices[] = {"Cmd", "Entrypoint", "Env", "Args", "Mounts", "Binds", "OnBuild", "Shell",
                                         "Aliases", "Links", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "CapAdd",
                                         "CapDrop", "SecurityOpt", "Devices", "RepoTags", "RepoDigests", "Layers",
                                         "GroupAdd", "VolumesFrom", "Warnings", "Processes", "Titles", NULL};
    for (size_t i = 0; key && slices[i]; i++)
        if (!strcmp(key, slices[i]))
            return true;
    return false;
}

static bool nil_is_map(const char *key)
{
    static const char *const maps[] = {"Labels", "Volumes", "ExposedPorts", "Ports", "Options", "DriverOpts",
                                       "Networks", "PortBindings", "Tmpfs", "Sysctls", "StorageOpt", "Status",
                                       "Data", NULL};
    for (size_t i = 0; key && maps[i]; i++)
        if (!strcmp(key, maps[i]))
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The keys of an object, sorted (Go prints maps in key order). */
static char **sorted_keys(struct json_object *o, size_t *n)
{
    *n = (size_t)json_object_object_length(o);
    char **k = xcalloc(*n + 1, sizeof(char *));
    size_t i = 0;
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        k[i++] = key;
    }
    qsort(k, *n, sizeof(char *), cmp_str);
    return k;
}

void cli_go_print(struct json_object *v, const char *key, char **out)
{
    if (!v) {
        append(out, nil_is_slice(key) ? "[]" : nil_is_map(key) ? "map[]" : "<nil>");
    } else if (json_object_is_type(v, json_type_string)) {
        append(out, json_object_get_string(v));
    } else if (json_object_is_type(v, json_type_array)) {
        append(out, "[");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            if (i)
                append(out, " ");
            cli_go_print(json_object_array_get_idx(v, i), NULL, out);
        }
        append(out, "]");
    } else if (json_object_is_type(v, json_type_object)) {
        size_t n;
        _cleanup_free_ char **keys = sorted_keys(v, &n);
        append(out, "map[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                append(out, " ");
            append(out, keys[i]);
            append(out, ":");
            cli_go_print(json_object_object_get(v, keys[i]), keys[i], out);
        }
        append(out, "]");
    } else if (json_object_is_type(v, json_type_int)) {
        char b[32];
        snprintf(b, sizeof b, "%" PRId64, json_object_get_int64(v));
        append(out, b);
    } else if (json_object_is_type(v, json_type_double)) {
        char b[64];
        double d = json_object_get_double(v);
        if (d == (double)(int64_t)d && d < 1e21 && d > -1e21)
            snprintf(b, sizeof b, "%" PRId64, (int64_t)d);
        else
            snprintf(b, sizeof b, "%g", d);
        append(out, b);
    } else {
        append(out, json_object_get_boolean(v) ? "true" : "false");
    }
}

char *cli_go_quote(const char *s)
{
    char *out = xstrdup("\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char b[8] = {0};
        if (*p == '"' || *p == '\\')
            snprintf(b, sizeof b, "\\%c", *p);
        else if (*p == '\n')
            snprintf(b, sizeof b, "\\n");
        else if (*p == '\t')
            snprintf(b, sizeof b, "\\t");
        else if (*p == '\r')
            snprintf(b, sizeof b, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(b, sizeof b, "\\x%02x", *p);
        else
            b[0] = (char)*p;
        append(&out, b);
    }
    append(&out, "\"");
    return out;
}

/* ---- json.Indent with four spaces ---- */

static void indent_into(struct json_object *v, int depth, char **out)
{
    char pad[4 * TPL_MAX_DEPTH + 8];
    int d = depth > TPL_MAX_DEPTH ? TPL_MAX_DEPTH : depth;
    if (!v) {
        append(out, "null");
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        if (!n) {
            append(out, "[]");
            return;
        }
        append(out, "[\n");
        snprintf(pad, sizeof pad, "%*s", 4 * (d + 1), "");
        for (size_t i = 0; i < n; i++) {
            append(out, pad);
            indent_into(json_object_array_get_idx(v, i), depth + 1, out);
            append(out, i + 1 < n ? ",\n" : "\n");
        }
        snprintf(pad, sizeof pad, "%*s", 4 * d, "");
        append(out, pad);
        append(out, "]");
    } else if (json_object_is_type(v, json_type_object)) {
        size_t n = (size_t)json_object_object_length(v), i = 0;
        if (!n) {
            append(out, "{}");
            return;
        }
        append(out, "{\n");
        snprintf(pad, sizeof pad, "%*s", 4 * (d + 1), "");
        json_object_object_foreach(v, key, val)
        {
            _cleanup_json_ struct json_object *k = json_object_new_string(key);
            append(out, pad);
            append(out, json_object_to_json_string_ext(k, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            append(out, ": ");
            indent_into(val, depth + 1, out);
            append(out, ++i < n ? ",\n" : "\n");
        }
        snprintf(pad, sizeof pad, "%*s", 4 * d, "");
        append(out, pad);
        append(out, "}");
    } else {
        append(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
}

char *cli_json_indent(struct json_object *v)
{
    char *out = xstrdup("");
    indent_into(v, 0, &out);
    return out;
}

/* ---- the template ---- */

struct tok {
    bool action;
    char *text; /* literal text (escapes applied) or the action's inside, trimmed */
};

struct tpl {
    struct tok *t;
    size_t n;
};

static void tpl_free(struct tpl *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->t[i].text);
    free(p->t);
}

static void tok_push(struct tpl *p, bool action, char *text)
{
    p->t = xrealloc(p->t, (p->n + 1) * sizeof(*p->t));
    p->t[p->n++] = (struct tok){action, text};
}

static int tokenize(const char *fmt, struct tpl *p, moat_error **err)
{
    char *lit = xstrdup("");
    for (const char *s = fmt; *s;) {
        if (s[0] == '{' && s[1] == '{') {
            const char *e = strstr(s + 2, "}}");
            if (!e) {
                free(lit);
                return moat_err(err, EINVAL, "template: unclosed action");
            }
            const char *a = s + 2;
            if (*a == '-')
                a++; /* {{- trims space: accepted, not applied */
            while (*a == ' ')
                a++;
            const char *z = e;
            if (z > a && z[-1] == '-')
                z--;
            while (z > a && z[-1] == ' ')
                z--;
            if (*lit)
                tok_push(p, false, lit);
            else
                free(lit);
            lit = xstrdup("");
            tok_push(p, true, xstrndup(a, (size_t)(z - a)));
            s = e + 2;
        } else if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't')) {
            append(&lit, s[1] == 'n' ? "\n" : "\t");
            s += 2;
        } else {
            char b[2] = {*s, 0};
            append(&lit, b);
            s++;
        }
    }
    if (*lit)
        tok_push(p, false, lit);
    else
        free(lit);
    return 0;
}

/* An evaluated value: an owned reference (or NULL for null), or missing. */
struct val {
    struct json_object *o;
    bool missing;
    char key[64]; /* the field it came from, for printing nil */
};

static void val_clear(struct val *v)
{
    json_object_put(v->o);
    v->o = NULL;
}

static struct val val_of(struct json_object *o, bool missing, const char *key)
{
    struct val v = {.o = json_object_get(o), .missing = missing};
    snprintf(v.key, sizeof v.key, "%s", key ? key : "");
    return v;
}

/* Split an action into words: .Path, "string", bare words; '|' separates stages. */
static int split_words(const char *s, char ***ret, moat_error **err)
{
    char **w = NULL;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *b = s;
        if (*s == '"') {
            char *str = xstrdup("\"");
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                char c[2] = {*s, 0};
                append(&str, c);
            }
            if (*s != '"') {
                free(str);
                moat_strv_free(w);
                return moat_err(err, EINVAL, "template: unterminated quoted string");
            }
            s++;
            moat_strv_push(&w, str);
            free(str);
            continue;
        }
        if (*s == '|') {
            moat_strv_push(&w, "|");
            s++;
            continue;
        }
        while (*s && *s != ' ' && *s != '|')
            s++;
        _cleanup_free_ char *word = xstrndup(b, (size_t)(s - b));
        moat_strv_push(&w, word);
    }
    if (!w)
        return moat_err(err, EINVAL, "template: missing value for command");
    *ret = w;
    return 0;
}

static struct val walk_path(struct json_object *dot, const char *path)
{
    if (!strcmp(path, "."))
        return val_of(dot, false, NULL);
    struct json_object *o = dot;
    const char *last = NULL;
    _cleanup_free_ char *p = xstrdup(path + 1);
    char *save = NULL;
    for (char *k = strtok_r(p, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        struct json_object *v = NULL;
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
            return val_of(NULL, true, k);
        o = v;
        last = k;
    }
    return val_of(o, false, last);
}

static struct val index_val(struct val *base, struct val *arg)
{
    struct json_object *b = base->o, *r = NULL;
    if (b && json_object_is_type(b, json_type_object) && arg->o && json_object_is_type(arg->o, json_type_string)) {
        const char *k = json_object_get_string(arg->o);
        if (json_object_object_get_ex(b, k, &r))
            return val_of(r, false, k);
        /* a missing key of a map of strings: Go's zero value */
        return (struct val){.o = json_object_new_string("")};
    }
    if (b && json_object_is_type(b, json_type_array) && arg->o && json_object_is_type(arg->o, json_type_int)) {
        int64_t i = json_object_get_int64(arg->o);
        if (i >= 0 && (size_t)i < json_object_array_length(b))
            return val_of(json_object_array_get_idx(b, (size_t)i), false, NULL);
    }
    return val_of(NULL, true, NULL);
}

static char *val_string(struct val *v)
{
    char *s = xstrdup("");
    if (v->missing)
        append(&s, "<no value>");
    else
        cli_go_print(v->o, v->key, &s);
    return s;
}

static int call_fn(const char *fn, struct val *args, size_t n, struct val *ret, moat_error **err)
{
    if (!strcmp(fn, "json") && n == 1) {
        const char *j = args[0].o ? json_object_to_json_string_ext(args[0].o, JSON_C_TO_STRING_PLAIN |
                                                                                 JSON_C_TO_STRING_NOSLASHESCAPE)
                                  : "null";
        *ret = (struct val){.o = json_object_new_string(j)};
    } else if (!strcmp(fn, "index") && n >= 2) {
        struct val cur = val_of(args[0].o, args[0].missing, args[0].key);
        for (size_t i = 1; i < n; i++) {
            struct val next = index_val(&cur, &args[i]);
            val_clear(&cur);
            cur = next;
        }
        *ret = cur;
    } else if ((!strcmp(fn, "upper") || !strcmp(fn, "lower") || !strcmp(fn, "title")) && n == 1) {
        char *s = val_string(&args[0]);
        for (char *p = s; *p; p++)
            if (fn[0] == 'u' || (fn[0] == 't' && (p == s || p[-1] == ' ')))
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            else if (fn[0] == 'l')
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        *ret = (struct val){.o = json_object_new_string(s)};
        free(s);
    } else if (!strcmp(fn, "join") && n == 2) {
        char *s = xstrdup("");
        const char *sep = args[1].o ? json_object_get_string(args[1].o) : "";
        for (size_t i = 0; args[0].o && json_object_is_type(args[0].o, json_type_array) &&
                           i < json_object_array_length(args[0].o);
             i++) {
            if (i)
                append(&s, sep);
            cli_go_print(json_object_array_get_idx(args[0].o, i), NULL, &s);
        }
        *ret = (struct val){.o = json_object_new_string(s)};
        free(s);
    } else if (!strcmp(fn, "len") && n == 1) {
        struct json_object *o = args[0].o;
        size_t l = !o ? 0
                   : json_object_is_type(o, json_type_array)  ? json_object_array_length(o)
                   : json_object_is_type(o, json_type_object) ? (size_t)json_object_object_length(o)
                   : json_object_is_type(o, json_type_string) ? strlen(json_object_get_string(o))
                                                               : 0;
        *ret = (struct val){.o = json_object_new_int64((int64_t)l)};
    } else if (!strcmp(fn, "println") || !strcmp(fn, "print")) {
        char *s = xstrdup("");
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *a = val_string(&args[i]);
            append(&s, i ? " " : "");
            append(&s, a);
        }
        if (fn[5] == 'l')
            append(&s, "\n");
        *ret = (struct val){.o = json_object_new_string(s)};
        free(s);
    } else {
        return moat_err(err, EINVAL, "template: function \"%s\" not defined or wrong number of arguments", fn);
    }
    return 0;
}

/* One operand: a field path, a string or integer literal. */
static int operand(const char *w, struct json_object *dot, struct val *ret, moat_error **err)
{
    if (w[0] == '.') {
        *ret = walk_path(dot, w);
    } else if (w[0] == '"') {
        *ret = (struct val){.o = json_object_new_string(w + 1)};
    } else if ((w[0] >= '0' && w[0] <= '9') || w[0] == '-') {
        int64_t i;
        if (moat_parse_i64(w, &i) < 0)
            return moat_err(err, EINVAL, "template: bad number syntax: %s", w);
        *ret = (struct val){.o = json_object_new_int64(i)};
    } else {
        return moat_err(err, EINVAL, "template: function \"%s\" not defined", w);
    }
    return 0;
}

static bool is_fn(const char *w) { return w[0] != '.' && w[0] != '"' && !(w[0] >= '0' && w[0] <= '9') && w[0] != '-'; }

/* Evaluate words[b..e) as one pipeline stage; prev (if given) is the last argument. */
static int eval_stage(char **w, size_t b, size_t e, struct json_object *dot, struct val *prev, struct val *ret,
                      moat_error **err)
{
    size_t n = e - b;
    struct val args[8];
    size_t na = 0;
    int rc = 0;
    if (n == 0 || n > 7)
        return moat_err(err, EINVAL, "template: bad pipeline");
    const char *fn = is_fn(w[b]) ? w[b] : NULL;
    for (size_t i = b + (fn ? 1 : 0); rc == 0 && i < e; i++)
        if ((rc = operand(w[i], dot, &args[na], err)) == 0)
            na++;
    if (rc == 0 && prev) {
        args[na++] = *prev;
        *prev = (struct val){0};
    }
    if (rc == 0 && fn) {
        rc = call_fn(fn, args, na, ret, err);
    } else if (rc == 0 && na == 1) {
        *ret = args[0];
        return 0;
    } else if (rc == 0 && na == 2 && w[b][0] == '.') {
        /* {{.Label "k"}}: a field that is a map, called with a key */
        *ret = index_val(&args[0], &args[1]);
    } else if (rc == 0) {
        rc = moat_err(err, EINVAL, "template: can't give argument to non-function %s", w[b]);
    }
    for (size_t i = 0; i < na; i++)
        val_clear(&args[i]);
    return rc;
}

static int eval_action(const char *act, struct json_object *dot, struct val *ret, moat_error **err)
{
    _cleanup_strv_ char **w = NULL;
    if (split_words(act, &w, err) < 0)
        return -1;
    size_t n = moat_strv_len(w), b = 0;
    struct val cur = {0};
    bool have = false;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && strcmp(w[i], "|") != 0)
            continue;
        struct val next = {0};
        if (eval_stage(w, b, i, dot, have ? &cur : NULL, &next, err) < 0) {
            val_clear(&cur);
            return -1;
        }
        val_clear(&cur);
        cur = next;
        have = true;
        b = i + 1;
    }
    *ret = cur;
    return 0;
}

static bool truthy(const struct val *v)
{
    struct json_object *o = v->o;
    if (v->missing || !o)
        return false;
    switch (json_object_get_type(o)) {
    case json_type_boolean:
        return json_object_get_boolean(o);
    case json_type_int:
        return json_object_get_int64(o) != 0;
    case json_type_double:
        return json_object_get_double(o) != 0;
    case json_type_string:
        return json_object_get_string_len(o) > 0;
    case json_type_array:
        return json_object_array_length(o) > 0;
    case json_type_object:
        return json_object_object_length(o) > 0;
    default:
        return false;
    }
}

/* The token index of the {{end}} (and {{else}}) matching the block opened at i. */
static int match_end(const struct tpl *p, size_t i, size_t *els, size_t *end, moat_error **err)
{
    int depth = 0;
    *els = 0;
    for (size_t k = i + 1; k < p->n; k++) {
        if (!p->t[k].action)
            continue;
        const char *a = p->t[k].text;
        if (moat_str_has_prefix(a, "range ") || moat_str_has_prefix(a, "if ") || moat_str_has_prefix(a, "with "))
            depth++;
        else if (!strcmp(a, "end") && depth-- == 0) {
            *end = k;
            return 0;
        } else if (!strcmp(a, "else") && depth == 0)
            *els = k;
    }
    return moat_err(err, EINVAL, "template: unexpected EOF (missing {{end}})");
}

static int exec_range(const struct tpl *p, size_t b, size_t e, struct json_object *dot, int depth, char **out,
                      moat_error **err);

static int exec_block(const struct tpl *p, size_t i, struct json_object *dot, int depth, char **out, size_t *next,
                      moat_error **err)
{
    const char *a = p->t[i].text;
    size_t els = 0, end = 0;
    if (match_end(p, i, &els, &end, err) < 0)
        return -1;
    *next = end + 1;
    bool range = moat_str_has_prefix(a, "range ");
    bool with = moat_str_has_prefix(a, "with ");
    struct val v;
    if (eval_action(a + (range ? 6 : with ? 5 : 3), dot, &v, err) < 0)
        return -1;
    size_t body_end = els ? els : end;
    int rc = 0;
    if (range && truthy(&v)) {
        if (json_object_is_type(v.o, json_type_array)) {
            for (size_t k = 0; rc == 0 && k < json_object_array_length(v.o); k++)
                rc = exec_range(p, i + 1, body_end, json_object_array_get_idx(v.o, k), depth + 1, out, err);
        } else if (json_object_is_type(v.o, json_type_object)) {
            size_t n;
            _cleanup_free_ char **keys = sorted_keys(v.o, &n);
            for (size_t k = 0; rc == 0 && k < n; k++)
                rc = exec_range(p, i + 1, body_end, json_object_object_get(v.o, keys[k]), depth + 1, out, err);
        } else {
            rc = moat_err(err, EINVAL, "template: range can't iterate over a scalar");
        }
    } else if (truthy(&v)) {
        rc = exec_range(p, i + 1, body_end, with ? v.o : dot, depth + 1, out, err);
    } else if (els) {
        rc = exec_range(p, els + 1, end, dot, depth + 1, out, err);
    }
    val_clear(&v);
    return rc;
}

static int exec_range(const struct tpl *p, size_t b, size_t e, struct json_object *dot, int depth, char **out,
                      moat_error **err)
{
    if (depth > TPL_MAX_DEPTH)
        return moat_err(err, EINVAL, "template: nested too deeply");
    for (size_t i = b; i < e;) {
        const struct tok *t = &p->t[i];
        if (!t->action) {
            append(out, t->text);
            i++;
            continue;
        }
        const char *a = t->text;
        if (moat_str_has_prefix(a, "range ") || moat_str_has_prefix(a, "if ") || moat_str_has_prefix(a, "with ")) {
            if (exec_block(p, i, dot, depth, out, &i, err) < 0)
                return -1;
            continue;
        }
        if (!strcmp(a, "end") || !strcmp(a, "else"))
            return moat_err(err, EINVAL, "template: unexpected {{%s}}", a);
        if (moat_str_has_prefix(a, "/*")) { /* a comment */
            i++;
            continue;
        }
        struct val v;
        if (eval_action(a, dot, &v, err) < 0)
            return -1;
        _cleanup_free_ char *s = val_string(&v);
        val_clear(&v);
        append(out, s);
        i++;
    }
    return 0;
}

int cli_template_render(const char *fmt, struct json_object *root, char **ret, moat_error **err)
{
    struct tpl p = {0};
    char *out = xstrdup("");
    int rc = tokenize(fmt, &p, err);
    if (rc == 0)
        rc = exec_range(&p, 0, p.n, root, 0, &out, err);
    tpl_free(&p);
    if (rc < 0) {
        free(out);
        return -1;
    }
    *ret = out;
    return 0;
}
