/* Glue shared by the container and volume commands: query encoding, Docker's
 * error lines, the loop of the multi-container verbs, prompts, tabwriter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

static char *enc(const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p) ||
            (keep && strchr(keep, *p))) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *ctr_qenc(const char *s) { return enc(s, NULL); }
char *ctr_penc(const char *s) { return enc(s, "/:@"); }

int ctr_fail(int status, moat_error **e, moat_error **err)
{
    if (status >= 400) {
        fprintf(stderr, "Error response from daemon: %s\n", *e && (*e)->msg ? (*e)->msg : "unknown error");
        moat_error_free(*e);
        *e = NULL;
        return 1;
    }
    *err = *e;
    *e = NULL;
    return -1;
}

char *ctr_filters_query(char *const *filters)
{
    if (!filters || !filters[0])
        return NULL;
    _cleanup_json_ struct json_object *f = json_object_new_object();
    for (size_t i = 0; filters[i]; i++) {
        const char *eq = strchr(filters[i], '=');
        _cleanup_free_ char *k = eq ? xstrndup(filters[i], (size_t)(eq - filters[i])) : xstrdup(filters[i]);
        struct json_object *set = NULL;
        if (!json_object_object_get_ex(f, k, &set)) {
            set = json_object_new_object();
            json_object_object_add(f, k, set);
        }
        json_object_object_add(set, eq ? eq + 1 : "", json_object_new_boolean(1));
    }
    return ctr_qenc(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int ctr_each(struct cli *c, char **names, int n, const char *method, const char *suffix, struct json_object *body,
             bool ignore_404, const char *print_field, moat_error **err)
{
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *id = ctr_qenc(names[i]);
        _cleanup_free_ char *path = xasprintf("/containers/%s%s", id, suffix ? suffix : "");
        _cleanup_json_ struct json_object *ans = NULL;
        moat_error *e = NULL;
        int status = 0;
        if (moat_client_json(cl, method, path, body, &status, &ans, &e) < 0) {
            if (status == 404 && ignore_404) {
                moat_error_free(e);
                continue;
            }
            if (ctr_fail(status, &e, err) < 0)
                return -1;
            failed = 1;
            continue;
        }
        struct json_object *v = NULL;
        if (print_field && ans && json_object_object_get_ex(ans, print_field, &v)) {
            _cleanup_free_ char *s = xstrdup("");
            cli_go_print(v, print_field, &s);
            printf("%s\n", s);
        } else {
            printf("%s\n", names[i]);
        }
        struct json_object *warn = NULL;
        if (ans && json_object_object_get_ex(ans, "Warnings", &warn) && json_object_is_type(warn, json_type_array))
            for (size_t k = 0; k < json_object_array_length(warn); k++)
                printf("%s\n", json_object_get_string(json_object_array_get_idx(warn, k)));
        fflush(stdout);
    }
    return failed;
}

int ctr_parse_ram(const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    /* ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$, binary units */
    static const char units[] = "kmgtp";
    int64_t mul = 1;
    if (*end == ' ')
        end++;
    const char *u = *end ? strchr(units, *end | 0x20) : NULL;
    if (u) {
        mul = 1LL << (10 * (u - units + 1));
        end++;
    }
    if ((*end | 0x20) == 'i')
        end++;
    if ((*end | 0x20) == 'b')
        end++;
    if (*end || v * (double)mul > 9.2e18)
        return -1;
    *ret = (int64_t)(v * (double)mul);
    return 0;
}

bool ctr_confirm(const char *warning)
{
    printf("%s\nAre you sure you want to continue? [y/N] ", warning);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return (line[0] == 'y' || line[0] == 'Y') && (line[1] == '\n' || line[1] == '\0' ||
                                                  ((line[1] | 0x20) == 'e' && (line[2] | 0x20) == 's'));
}

int ctr_get_json(struct moat_client *cl, const char *path, int *status, struct json_object **ret, moat_error **err)
{
    *status = 0;
    *ret = NULL;
    return moat_client_json(cl, "GET", path, NULL, status, ret, err);
}
