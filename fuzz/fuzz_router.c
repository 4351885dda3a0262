/* libFuzzer target: the Docker API router's own parsing (src/api/router.c), what every
 * request goes through before a handler runs: the /v1.xx/ version prefix, the route tables
 * (segment matching, {id} and greedy {name*} captures, the 64-segment bound, method and HEAD
 * rules) and the filters= query.  The input is "METHOD PATH\nFILTERS": any crash, leak,
 * sanitizer report or a capture outside the path buffer is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *in = xmalloc(size + 1);
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = strchr(in, '\n');
    const char *filters = NULL;
    if (nl) {
        *nl = '\0';
        filters = nl + 1;
    }
    char *sp = strchr(in, ' ');
    const char *method = "GET", *path = in;
    if (sp) {
        *sp = '\0';
        method = in;
        path = sp + 1;
    }
    unsigned minor = 0;
    char why[256];
    char buf[8192];
    if (path[0] == '/' && strlen(path) < sizeof buf && api_strip_version(&path, &minor, why, sizeof why) == 0) {
        if (minor < 24 || minor > 41)
            abort(); /* a version outside 1.24..1.41 must have been refused */
        const char *params[MOAT_API_MAX_PARAMS] = {0};
        bool known = false;
        const struct api_route *rt = api_route_find(method, path, buf, sizeof buf, params, &known);
        if (rt && !known)
            abort();
        for (size_t i = 0; rt && i < MOAT_API_MAX_PARAMS && params[i]; i++) {
            if (params[i] < buf || params[i] >= buf + sizeof buf || !params[i][0])
                abort(); /* captures point into the path copy and are never empty */
            (void)strlen(params[i]);
        }
    }
    char *bad = NULL;
    struct json_object *f = api_filters_parse(filters, &bad);
    if (!f == !bad)
        abort(); /* exactly one of: the filters, or what was wrong */
    if (f) {
        json_object_object_foreach(f, k, v)
        {
            (void)k;
            if (!json_object_is_type(v, json_type_array))
                abort();
            for (size_t i = 0; i < json_object_array_length(v); i++)
                if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                    abort();
        }
    }
    json_object_put(f);
    free(bad);
    free(in);
    return 0;
}
