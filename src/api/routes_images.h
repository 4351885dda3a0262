/* Helpers shared by routes_system.c, routes_images.c and routes_volumes.c. */
#ifndef MOAT_API_ROUTES_IMAGES_H
#define MOAT_API_ROUTES_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

struct json_object;
struct moat_engine;
struct moat_image;

/* The Images array of GET /system/df (Docker's image summaries with
 * SharedSize and the number of containers using each image); *ret_layers: the
 * bytes of all distinct layers. */
struct json_object *api_images_df(struct moat_engine *e, const struct moat_image *v, size_t n, uint64_t *ret_layers);

/* Bytes of the files under a directory (a volume's _data), walked without
 * following any symlink (routes_volumes.c). */
int api_dir_size(const char *dir, uint64_t *ret, moat_error **err);

/* A filters value list (NULL-terminated, caller frees), NULL when the key is absent. */
char **api_fvals(struct json_object *filters, const char *key);
/* Every key of filters is one of allowed (NULL-terminated); else answer 400 and return false. */
struct moat_http_req;
bool api_filters_only(struct moat_http_req *r, struct json_object *filters, const char *const *allowed);
/* "k" or "k=v" terms against a k, v, ..., NULL vector (all must match). */
bool api_labels_match(char *const *terms, char *const *kv);

/* Docker's timestamps (since=, until=): unix seconds (maybe fractional),
 * RFC 3339, or a Go duration ("10m", "1h30m") back from now.  -1: invalid. */
int api_parse_time(const char *s, int64_t *ret);

#endif
