#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "moat/json.h"
#include "moat/util.h"

static void offset_to_line(const char *buf, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int moat_json_parse(const char *buf, size_t len, size_t max_len, const char *what, struct json_object **ret,
                    moat_error **err)
{
    if (len > max_len)
        return moat_err(err, EFBIG, "%s: %zu bytes is over the %zu byte limit", what, len, max_len);
    if (len > INT_MAX)
        return moat_err(err, EFBIG, "%s: too large", what);
    if (memchr(buf, '\0', len))
        return moat_err(err, EINVAL, "%s: contains a NUL byte", what);
    struct json_tokener *tok = json_tokener_new_ex(MOAT_JSON_MAX_DEPTH);
    if (!tok)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue || (jerr == json_tokener_success && !obj && len == 0)) {
        json_object_put(obj);
        return moat_err(err, EINVAL, "%s: unexpected end of input", what);
    }
    if (jerr != json_tokener_success) {
        size_t line, col;
        offset_to_line(buf, end < len ? end : len, &line, &col);
        return moat_err(err, EINVAL, "%s: line %zu column %zu: %s", what, line, col,
                        json_tokener_error_desc(jerr));
    }
    for (size_t i = end; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\t' && buf[i] != '\r') {
            size_t line, col;
            offset_to_line(buf, i, &line, &col);
            json_object_put(obj);
            return moat_err(err, EINVAL, "%s: line %zu column %zu: trailing data after the JSON document", what,
                            line, col);
        }
    }
    *ret = obj;
    return 0;
}

int moat_json_parse_file_at(int dirfd, const char *path, size_t max_len, const char *what, struct json_object **ret,
                            moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (moat_read_file_at(dirfd, path, max_len, &buf, &len, err) < 0)
        return -1;
    return moat_json_parse(buf, len, max_len, what, ret, err);
}

char *moat_jpath(const char *parent, const char *key) { return xasprintf("%s/%s", parent ? parent : "", key); }

char *moat_jpath_idx(const char *parent, size_t idx) { return xasprintf("%s/%zu", parent ? parent : "", idx); }

static const char *type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a number with a fraction";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "unknown";
}

static int lookup(struct json_object *obj, const char *where, const char *key, bool required,
                  struct json_object **ret, moat_error **err)
{
    struct json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required)
            return moat_err(err, EINVAL, "%s/%s: required but missing", where, key);
        return 0;
    }
    *ret = v;
    return 1;
}

static int want(struct json_object *v, const char *where, const char *key, enum json_type t, const char *tname,
                moat_error **err)
{
    if (json_object_is_type(v, t))
        return 0;
    if (key)
        return moat_err(err, EINVAL, "%s/%s: expected %s, got %s", where, key, tname, type_name(v));
    return moat_err(err, EINVAL, "%s: expected %s, got %s", where, tname, type_name(v));
}

int moat_json_obj(struct json_object *obj, const char *where, const char *key, bool required,
                  struct json_object **ret, moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    if (want(v, where, key, json_type_object, "an object", err) < 0)
        return -1;
    *ret = v;
    return 1;
}

int moat_json_arr(struct json_object *obj, const char *where, const char *key, bool required,
                  struct json_object **ret, moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    if (want(v, where, key, json_type_array, "an array", err) < 0)
        return -1;
    *ret = v;
    return 1;
}

static int check_string(struct json_object *v, const char *where, const char *key, moat_error **err)
{
    if (want(v, where, key, json_type_string, "a string", err) < 0)
        return -1;
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return moat_err(err, EINVAL, "%s%s%s: string contains a NUL byte", where, key ? "/" : "", key ? key : "");
    return 0;
}

int moat_json_str(struct json_object *obj, const char *where, const char *key, bool required, char **ret,
                  moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    if (check_string(v, where, key, err) < 0)
        return -1;
    free(*ret);
    *ret = xstrdup(json_object_get_string(v));
    return 1;
}

int moat_json_val_str(struct json_object *val, const char *where, char **ret, moat_error **err)
{
    if (check_string(val, where, NULL, err) < 0)
        return -1;
    *ret = xstrdup(json_object_get_string(val));
    return 0;
}

int moat_json_bool(struct json_object *obj, const char *where, const char *key, bool required, bool *ret,
                   moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    if (want(v, where, key, json_type_boolean, "a boolean", err) < 0)
        return -1;
    *ret = json_object_get_boolean(v);
    return 1;
}

int moat_json_i64(struct json_object *obj, const char *where, const char *key, bool required, int64_t min,
                  int64_t max, int64_t *ret, moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    if (want(v, where, key, json_type_int, "an integer", err) < 0)
        return -1;
    int64_t x = json_object_get_int64(v);
    if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
        return moat_err(err, ERANGE, "%s/%s: %" PRIu64 " is out of range", where, key, json_object_get_uint64(v));
    if (x < min || x > max)
        return moat_err(err, ERANGE, "%s/%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", where, key, x,
                        min, max);
    *ret = x;
    return 1;
}

int moat_json_val_u64(struct json_object *v, const char *where, uint64_t *ret, moat_error **err)
{
    if (want(v, where, NULL, json_type_int, "an integer", err) < 0)
        return -1;
    if (json_object_get_int64(v) < 0)
        return moat_err(err, ERANGE, "%s: %" PRId64 " must not be negative", where, json_object_get_int64(v));
    *ret = json_object_get_uint64(v);
    return 0;
}

int moat_json_u64(struct json_object *obj, const char *where, const char *key, bool required, uint64_t *ret,
                  moat_error **err)
{
    struct json_object *v = NULL;
    int r = lookup(obj, where, key, required, &v, err);
    if (r <= 0)
        return r;
    _cleanup_free_ char *p = moat_jpath(where, key);
    if (moat_json_val_u64(v, p, ret, err) < 0)
        return -1;
    return 1;
}

int moat_json_strv(struct json_object *obj, const char *where, const char *key, bool required, size_t max,
                   char ***ret, moat_error **err)
{
    struct json_object *arr;
    int r = moat_json_arr(obj, where, key, required, &arr, err);
    if (r <= 0)
        return r;
    size_t n = json_object_array_length(arr);
    if (n > max)
        return moat_err(err, E2BIG, "%s/%s: %zu entries is over the limit of %zu", where, key, n, max);
    _cleanup_strv_ char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s/%zu", where, key, i);
        if (moat_json_val_str(json_object_array_get_idx(arr, i), p, &v[i], err) < 0)
            return -1;
    }
    moat_strv_free(*ret);
    *ret = TAKE_PTR(v);
    return 1;
}

char *moat_json_dump(struct json_object *obj, bool pretty)
{
    int fl = JSON_C_TO_STRING_NOSLASHESCAPE | (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                                      : JSON_C_TO_STRING_PLAIN);
    return xstrdup(json_object_to_json_string_ext(obj, fl));
}
