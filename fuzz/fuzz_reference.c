/* libFuzzer target: the image reference parser (src/image/reference.c).
 * A parsed reference must print back (normalised) to a string that parses
 * to the same reference: normalisation is idempotent.  (Not so the familiar
 * form, by Docker's grammar: familiar "a.b/c" of "docker.io/a.b/c" reads back
 * with a.b as the registry, and "a_b.c/d" does not read back at all.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/reference.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    char *s = xstrndup((const char *)data, size);
    struct moat_ref r;
    moat_error *err = NULL;
    if (moat_ref_parse(s, &r, &err) == 0) {
        char *full = moat_ref_string(&r);
        char *fam = moat_ref_familiar_string(&r);
        struct moat_ref r2, r3;
        moat_error *err2 = NULL;
        if (moat_ref_parse(fam, &r3, &err2) == 0)
            moat_ref_clear(&r3);
        moat_error_free(err2);
        err2 = NULL;
        if (moat_ref_parse(full, &r2, &err2) < 0)
            __builtin_trap();
        char *full2 = moat_ref_string(&r2);
        if (strcmp(full, full2) != 0)
            __builtin_trap();
        free(full2);
        moat_ref_clear(&r2);
        free(full);
        free(fam);
        moat_ref_clear(&r);
    } else if (!err || !err->msg) {
        __builtin_trap();
    }
    moat_error_free(err);
    (void)moat_ref_is_id_prefix(s);
    (void)moat_ref_is_full_id(s);
    free(s);
    return 0;
}
