/* libFuzzer target: the label and annotation checks that see config.json
 * strings (AppArmor profile, SELinux context, run.moat.landlock value).
 * The first byte picks the checker; the rest is the string. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/lsm.h"
#include "moat/util.h"
#include "runtime/lsm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    char *s = xstrndup((const char *)data + 1, size - 1);
    moat_error *err = NULL;
    bool on;
    int r;
    switch (data[0] % 3) {
    case 0:
        r = moat_apparmor_profile_check(s, &err);
        break;
    case 1:
        r = moat_selinux_context_check(s, "SELinux label", &err);
        if (r == 0) {
            /* anything accepted must make a single, well-quoted mount option */
            struct moat_lsm_plan plan = {.mount_label = s};
            char *opt = moat_lsm_mount_option(&plan);
            if (!opt || strchr(opt + 9, '"') != opt + strlen(opt) - 1 || strpbrk(s, " \t\n\""))
                abort();
            free(opt);
        }
        break;
    default:
        r = moat_landlock_parse_mode(s, &on, &err);
        break;
    }
    if ((r < 0) != (err != NULL))
        abort();
    moat_error_free(err);
    free(s);
    return 0;
}
