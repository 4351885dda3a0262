/* `moat import --change`: the Dockerfile instructions Docker accepts there,
 * applied to an image config's "config" section.  Untrusted text (it may come
 * over the API later): bounded and fuzzed (fuzz/fuzz_image_json.c). */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "moat/image.h"
#include "moat/json.h"
#include "moat/path.h"
#include "moat/util.h"

#define MAX_CHANGE 65536
#define MAX_WORDS 4096

/* Split Dockerfile-style words: whitespace separates, "..." and '...' quote,
 * backslash escapes (inside "..." only before " \ and $). */
static int split_words(const char *s, char ***ret, moat_error **err)
{
    char **v = NULL;
    size_t n = 0;
    char *buf = xmalloc(strlen(s) + 1);
    const char *p = s;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        size_t o = 0;
        char q = 0;
        for (; *p; p++) {
            if (q == '\'') {
                if (*p == '\'')
                    q = 0;
                else
                    buf[o++] = *p;
            } else if (q == '"') {
                if (*p == '"')
                    q = 0;
                else if (*p == '\\' && p[1] && strchr("\"\\$", p[1]))
                    buf[o++] = *++p;
                else
                    buf[o++] = *p;
            } else if (isspace((unsigned char)*p)) {
                break;
            } else if (*p == '\'' || *p == '"') {
                q = *p;
            } else if (*p == '\\' && p[1]) {
                buf[o++] = *++p;
            } else {
                buf[o++] = *p;
            }
        }
        if (q) {
            free(buf);
            moat_strv_free(v);
            return moat_err(err, EINVAL, "unterminated quote");
        }
        if (++n > MAX_WORDS) {
            free(buf);
            moat_strv_free(v);
            return moat_err(err, E2BIG, "more than %d words", MAX_WORDS);
        }
        buf[o] = '\0';
        moat_strv_push(&v, buf);
    }
    free(buf);
    if (!v)
        v = xcalloc(1, sizeof(char *));
    *ret = v;
    return 0;
}

/* JSON form ["a", "b"] if the text is a JSON array of strings, else NULL. */
static char **json_form(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '[')
        return NULL;
    struct json_object *o = NULL;
    moat_error *err = NULL;
    if (moat_json_parse(s, strlen(s), MAX_CHANGE, "change", &o, &err) < 0) {
        moat_error_free(err);
        return NULL;
    }
    char **v = NULL;
    if (json_object_is_type(o, json_type_array) && json_object_array_length(o) <= MAX_WORDS) {
        v = xcalloc(json_object_array_length(o) + 1, sizeof(char *));
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            struct json_object *e = json_object_array_get_idx(o, i);
            if (!json_object_is_type(e, json_type_string) ||
                strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e)) {
                moat_strv_free(v);
                v = NULL;
                break;
            }
            v[i] = xstrdup(json_object_get_string(e));
        }
    }
    json_object_put(o);
    return v;
}

static struct json_object *strv_json(char **v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *section(struct json_object *config, const char *key)
{
    struct json_object *o = NULL;
    if (!json_object_object_get_ex(config, key, &o) || !json_object_is_type(o, json_type_object)) {
        o = json_object_new_object();
        json_object_object_add(config, key, o);
    }
    return o;
}

static void env_set(struct json_object *config, const char *pair, size_t klen)
{
    struct json_object *arr = NULL;
    if (!json_object_object_get_ex(config, "Env", &arr) || !json_object_is_type(arr, json_type_array)) {
        arr = json_object_new_array();
        json_object_object_add(config, "Env", arr);
    }
    for (size_t j = 0; j < json_object_array_length(arr); j++) {
        const char *cur = json_object_get_string(json_object_array_get_idx(arr, j));
        if (cur && !strncmp(cur, pair, klen) && cur[klen] == '=') {
            json_object_array_put_idx(arr, j, json_object_new_string(pair));
            return;
        }
    }
    json_object_array_add(arr, json_object_new_string(pair));
}

/* NAME=VALUE pairs (ENV, LABEL); ENV also takes the legacy "NAME VALUE". */
static int key_values(struct json_object *config, bool env, const char *args, moat_error **err)
{
    const char *ins = env ? "ENV" : "LABEL";
    const char *sp = args + strcspn(args, " \t");
    if (env && !memchr(args, '=', (size_t)(sp - args))) {
        /* ENV NAME VALUE: the rest of the line is the value, as is */
        const char *val = sp + strspn(sp, " \t");
        if (sp == args || !*val)
            return moat_err(err, EINVAL, "ENV needs NAME=VALUE or NAME VALUE");
        _cleanup_free_ char *pair = xasprintf("%.*s=%s", (int)(sp - args), args, val);
        env_set(config, pair, (size_t)(sp - args));
        return 0;
    }
    _cleanup_strv_ char **words = NULL;
    if (split_words(args, &words, err) < 0)
        return moat_err_wrap(err, "%s", ins);
    if (!words[0])
        return moat_err(err, EINVAL, "%s needs at least one NAME=VALUE", ins);
    for (size_t i = 0; words[i]; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq || eq == words[i])
            return moat_err(err, EINVAL, "%s: '%.100s' is not NAME=VALUE", ins, words[i]);
        if (env) {
            env_set(config, words[i], (size_t)(eq - words[i]));
        } else {
            *eq = '\0';
            json_object_object_add(section(config, "Labels"), words[i], json_object_new_string(eq + 1));
        }
    }
    return 0;
}

static int expose(struct json_object *config, const char *args, moat_error **err)
{
    _cleanup_strv_ char **words = NULL;
    if (split_words(args, &words, err) < 0)
        return moat_err_wrap(err, "EXPOSE");
    if (!words[0])
        return moat_err(err, EINVAL, "EXPOSE needs at least one port");
    for (size_t i = 0; words[i]; i++) {
        char *slash = strchr(words[i], '/');
        const char *proto = slash ? slash + 1 : "tcp";
        if (slash)
            *slash = '\0';
        uint64_t port;
        if (moat_parse_u64(words[i], &port) < 0 || port == 0 || port > 65535 ||
            (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
            return moat_err(err, EINVAL, "EXPOSE: invalid port '%.100s'", words[i]);
        _cleanup_free_ char *key = xasprintf("%" PRIu64 "/%s", port, proto);
        json_object_object_add(section(config, "ExposedPorts"), key, json_object_new_object());
    }
    return 0;
}

static int single(struct json_object *config, const char *key, const char *ins, const char *args, moat_error **err)
{
    if (!*args)
        return moat_err(err, EINVAL, "%s needs a value", ins);
    if (!strcmp(key, "WorkingDir") && args[0] != '/') {
        struct json_object *cur = NULL;
        const char *base = json_object_object_get_ex(config, key, &cur) ? json_object_get_string(cur) : NULL;
        _cleanup_free_ char *j = xasprintf("%s/%s", base && *base ? base : "", args);
        _cleanup_free_ char *clean = moat_path_clean(j);
        json_object_object_add(config, key, json_object_new_string(clean));
        return 0;
    }
    json_object_object_add(config, key, json_object_new_string(args));
    return 0;
}

int moat_config_apply_change(struct json_object *config, const char *change, moat_error **err)
{
    if (strlen(change) > MAX_CHANGE)
        return moat_err(err, E2BIG, "change longer than %d bytes", MAX_CHANGE);
    while (isspace((unsigned char)*change))
        change++;
    size_t kl = strcspn(change, " \t\n");
    _cleanup_free_ char *ins = xstrndup(change, kl);
    for (char *c = ins; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    const char *args = change + kl;
    while (isspace((unsigned char)*args))
        args++;
    _cleanup_free_ char *trimmed = xstrdup(args);
    for (size_t n = strlen(trimmed); n > 0 && isspace((unsigned char)trimmed[n - 1]); n--)
        trimmed[n - 1] = '\0';

    if (!strcmp(ins, "CMD") || !strcmp(ins, "ENTRYPOINT")) {
        char **v = json_form(trimmed);
        if (!v) {
            if (!*trimmed)
                return moat_err(err, EINVAL, "%s needs a command", ins);
            v = xcalloc(4, sizeof(char *));
            v[0] = xstrdup("/bin/sh");
            v[1] = xstrdup("-c");
            v[2] = xstrdup(trimmed);
        }
        json_object_object_add(config, !strcmp(ins, "CMD") ? "Cmd" : "Entrypoint", strv_json(v));
        moat_strv_free(v);
        return 0;
    }
    if (!strcmp(ins, "ENV") || !strcmp(ins, "LABEL"))
        return key_values(config, ins[0] == 'E', trimmed, err);
    if (!strcmp(ins, "EXPOSE"))
        return expose(config, trimmed, err);
    if (!strcmp(ins, "VOLUME")) {
        _cleanup_strv_ char **v = json_form(trimmed);
        if (!v && split_words(trimmed, &v, err) < 0)
            return moat_err_wrap(err, "VOLUME");
        if (!v[0])
            return moat_err(err, EINVAL, "VOLUME needs at least one path");
        for (size_t i = 0; v[i]; i++)
            json_object_object_add(section(config, "Volumes"), v[i], json_object_new_object());
        return 0;
    }
    if (!strcmp(ins, "ONBUILD")) {
        if (!*trimmed)
            return moat_err(err, EINVAL, "ONBUILD needs an instruction");
        struct json_object *arr = NULL;
        if (!json_object_object_get_ex(config, "OnBuild", &arr) || !json_object_is_type(arr, json_type_array)) {
            arr = json_object_new_array();
            json_object_object_add(config, "OnBuild", arr);
        }
        json_object_array_add(arr, json_object_new_string(trimmed));
        return 0;
    }
    if (!strcmp(ins, "USER"))
        return single(config, "User", ins, trimmed, err);
    if (!strcmp(ins, "WORKDIR"))
        return single(config, "WorkingDir", ins, trimmed, err);
    if (!strcmp(ins, "STOPSIGNAL"))
        return single(config, "StopSignal", ins, trimmed, err);
    return moat_err(err, EINVAL,
                    "%.40s is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, "
                    "USER, VOLUME, WORKDIR)",
                    *ins ? ins : "an empty change");
}
