/* libFuzzer target: Docker seccomp profile -> OCI section -> config.json
 * parser -> BPF compiler.  Never loads a filter.  Invariant checked: what the
 * converter accepts, the OCI parser accepts too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/json.h"
#include "moat/oci.h"
#include "moat/seccomp.h"

static void compile_section(struct json_object *sc)
{
    struct json_object *root = json_object_new_object();
    struct json_object *lx = json_object_new_object();
    json_object_object_add(root, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(root, "linux", lx);
    json_object_object_add(lx, "seccomp", json_object_get(sc));
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    struct oci_spec *spec = NULL;
    moat_error *err = NULL;
    if (oci_spec_parse(s, strlen(s), "config.json", &spec, &err) < 0)
        abort(); /* the converter produced a section the runtime would refuse */
    struct moat_seccomp_prog *prog = NULL;
    if (moat_seccomp_compile(spec->linux_.seccomp, &prog, &err) == 0)
        moat_seccomp_prog_free(prog);
    moat_error_free(err);
    oci_spec_free(spec);
    json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* moat's default capabilities, then all of them. */
    static const uint64_t cap_sets[2] = {0x4fbull, ~0ull};
    for (size_t i = 0; i < 2; i++) {
        struct json_object *sc = NULL;
        moat_error *err = NULL;
        if (moat_seccomp_profile_to_oci((const char *)data, size, "fuzz.json", cap_sets[i], &sc, &err) == 0) {
            compile_section(sc);
            json_object_put(sc);
        }
        moat_error_free(err);
    }
    return 0;
}
