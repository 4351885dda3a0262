/* Internal interfaces of the image library (src/image). */
#ifndef MOAT_IMAGE_INTERNAL_H
#define MOAT_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

/* strset.c: a set of strings with a byte of payload each. */
struct strset {
    char **keys;
    unsigned char *vals;
    size_t n, cap;
};
/* 1: added; 0: was present (*ret_old = previous value, then replaced by val). */
int strset_add(struct strset *set, const char *key, unsigned char val, unsigned char *ret_old);
bool strset_get(const struct strset *set, const char *key, unsigned char *ret_val);
void strset_free(struct strset *set);

#endif
