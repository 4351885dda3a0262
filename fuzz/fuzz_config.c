/* libFuzzer target: the config.json parser (src/runtime/config.c) and the
 * exec process.json parser.  Parsing only: nothing is created or run. */
#include <stddef.h>
#include <stdint.h>

#include "moat/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    moat_error *err = NULL;
    struct oci_spec *spec = NULL;
    if (oci_spec_parse((const char *)data, size, "config.json", &spec, &err) == 0) {
        /* a parsed spec must be internally consistent */
        for (size_t i = 0; i < spec->n_mounts; i++)
            if (!spec->mounts[i].destination || spec->mounts[i].destination[0] != '/' || !spec->mounts[i].data)
                __builtin_trap();
        (void)oci_annotation(spec, "run.moat.landlock");
        oci_spec_free(spec);
    } else if (!err || !err->msg) {
        __builtin_trap(); /* every failure carries a message */
    }
    moat_error_free(err);
    err = NULL;
    struct oci_process *p = NULL;
    if (oci_process_parse((const char *)data, size, "process.json", &p, &err) == 0)
        oci_process_free(p);
    moat_error_free(err);
    return 0;
}
