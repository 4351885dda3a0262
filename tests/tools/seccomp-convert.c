/* seccomp-convert: print the OCI linux.seccomp section that
 * moat_seccomp_profile_to_oci() makes of a profile for a capability set, so
 * the integration suites can run containers under any profile.
 *   seccomp-convert PROFILE [CAP_NAME...]
 * PROFILE is a file, or "builtin:NAME" for a profile embedded in the runtime.
 * Links against the runtime library (unlike the probes, it runs on the host). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "moat/cleanup.h"
#include "moat/error.h"
#include "moat/oci.h"
#include "moat/seccomp.h"
#include "moat/util.h"

#define PROFILE_MAX (1u << 20)

static int fail(moat_error *e)
{
    fprintf(stderr, "seccomp-convert: %s\n", e->msg);
    moat_error_free(e);
    return 1;
}

int main(int argc, char **argv)
{
    moat_error *err = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: seccomp-convert PROFILE|builtin:NAME [CAP_NAME...]\n");
        return 2;
    }
    uint64_t caps = 0;
    for (int i = 2; i < argc; i++) {
        int cap = oci_cap_from_name(argv[i]);
        if (cap < 0) {
            fprintf(stderr, "seccomp-convert: unknown capability '%s'\n", argv[i]);
            return 2;
        }
        caps |= 1ull << cap;
    }
    _cleanup_free_ char *file = NULL;
    const char *buf;
    size_t len = 0;
    if (!strncmp(argv[1], "builtin:", 8)) {
        buf = moat_seccomp_builtin_profile(argv[1] + 8, &len);
        if (!buf) {
            fprintf(stderr, "seccomp-convert: no built-in profile '%s'\n", argv[1] + 8);
            return 2;
        }
    } else {
        if (moat_read_file_at(AT_FDCWD, argv[1], PROFILE_MAX, &file, &len, &err) < 0)
            return fail(err);
        buf = file;
    }
    struct json_object *out = NULL;
    if (moat_seccomp_profile_to_oci(buf, len, argv[1], caps, &out, &err) < 0)
        return fail(err);
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    return 0;
}
