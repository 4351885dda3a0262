/* A growable set of strings with one byte of payload (open addressing,
 * FNV-1a).  Used by the unpacker to spot duplicate entries. */
#include <string.h>

#include "image/image_internal.h"
#include "moat/util.h"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void grow(struct strset *set)
{
    size_t ncap = set->cap ? set->cap * 2 : 1024;
    char **keys = xcalloc(ncap, sizeof(char *));
    unsigned char *vals = xcalloc(ncap, 1);
    for (size_t i = 0; i < set->cap; i++) {
        if (!set->keys[i])
            continue;
        size_t j = fnv1a(set->keys[i]) & (ncap - 1);
        while (keys[j])
            j = (j + 1) & (ncap - 1);
        keys[j] = set->keys[i];
        vals[j] = set->vals[i];
    }
    free(set->keys);
    free(set->vals);
    set->keys = keys;
    set->vals = vals;
    set->cap = ncap;
}

int strset_add(struct strset *set, const char *key, unsigned char val, unsigned char *ret_old)
{
    if ((set->n + 1) * 2 > set->cap)
        grow(set);
    size_t j = fnv1a(key) & (set->cap - 1);
    while (set->keys[j]) {
        if (!strcmp(set->keys[j], key)) {
            if (ret_old)
                *ret_old = set->vals[j];
            set->vals[j] = val;
            return 0;
        }
        j = (j + 1) & (set->cap - 1);
    }
    set->keys[j] = xstrdup(key);
    set->vals[j] = val;
    set->n++;
    return 1;
}

bool strset_get(const struct strset *set, const char *key, unsigned char *ret_val)
{
    if (!set->cap)
        return false;
    size_t j = fnv1a(key) & (set->cap - 1);
    while (set->keys[j]) {
        if (!strcmp(set->keys[j], key)) {
            if (ret_val)
                *ret_val = set->vals[j];
            return true;
        }
        j = (j + 1) & (set->cap - 1);
    }
    return false;
}

void strset_free(struct strset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->keys[i]);
    free(set->keys);
    free(set->vals);
    memset(set, 0, sizeof(*set));
}
