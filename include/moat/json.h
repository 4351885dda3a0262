/* Bounded JSON parsing (json-c) and typed accessors whose errors name the
 * JSON path, e.g. "config.json: /linux/namespaces/2/type: expected a string". */
#ifndef MOAT_JSON_H
#define MOAT_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "moat/error.h"

#define MOAT_JSON_MAX_DEPTH 64

static inline void moat_json_putp(struct json_object **o)
{
    if (*o)
        json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(moat_json_putp)))

/* Parse exactly one JSON document of at most max_len bytes.  `what` names the
 * input in errors ("config.json").  Trailing non-space bytes are an error. */
int moat_json_parse(const char *buf, size_t len, size_t max_len, const char *what, struct json_object **ret,
                    moat_error **err);
int moat_json_parse_file_at(int dirfd, const char *path, size_t max_len, const char *what, struct json_object **ret,
                            moat_error **err);

/* Path strings for error messages: "/a/b" and "/a/b/3". Heap-allocated. */
char *moat_jpath(const char *parent, const char *key);
char *moat_jpath_idx(const char *parent, size_t idx);

/* Accessors.  `where` is the JSON path of `obj`.  They return 1 when the key
 * is present and well-typed, 0 when absent (and not required; *ret is left
 * untouched), -1 with *err set on a type/range error or a missing required key.
 * A JSON null counts as absent. */
int moat_json_obj(struct json_object *obj, const char *where, const char *key, bool required,
                  struct json_object **ret, moat_error **err);
int moat_json_arr(struct json_object *obj, const char *where, const char *key, bool required,
                  struct json_object **ret, moat_error **err);
int moat_json_str(struct json_object *obj, const char *where, const char *key, bool required, char **ret,
                  moat_error **err);
int moat_json_bool(struct json_object *obj, const char *where, const char *key, bool required, bool *ret,
                   moat_error **err);
int moat_json_i64(struct json_object *obj, const char *where, const char *key, bool required, int64_t min,
                  int64_t max, int64_t *ret, moat_error **err);
int moat_json_u64(struct json_object *obj, const char *where, const char *key, bool required, uint64_t *ret,
                  moat_error **err);
/* Array of strings -> NULL-terminated vector (bounded count). */
int moat_json_strv(struct json_object *obj, const char *where, const char *key, bool required, size_t max,
                   char ***ret, moat_error **err);
/* Value-level checks for array elements. */
int moat_json_val_str(struct json_object *val, const char *where, char **ret, moat_error **err);
int moat_json_val_u64(struct json_object *val, const char *where, uint64_t *ret, moat_error **err);

/* Serialise compactly (caller frees). */
char *moat_json_dump(struct json_object *obj, bool pretty);

#endif
