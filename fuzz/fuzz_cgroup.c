/* libFuzzer target: the cgroup module's parsers.  The first byte picks one:
 * mountinfo + /proc/self/cgroup (split at a line "--") planned into
 * directories, a cgroupsPath (plain or systemd form), or a saved state.
 * Whatever is accepted must stay below /sys/fs/cgroup with no "..". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/cgroup.h"
#include "moat/json.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_dirs(const struct moat_cgroup *cg)
{
    for (size_t i = 0; i < cg->n; i++) {
        const char *f = cg->dirs[i].full;
        if (strncmp(f, "/sys/fs/cgroup", 14) != 0 || strstr(f, "/../") || strstr(f, "/./") || strstr(f, "//"))
            abort();
    }
}

static void fuzz_plan(char *s, bool rootless)
{
    char *sep = strstr(s, "\n--\n");
    const char *proc = "0::/\n";
    if (sep) {
        *sep = '\0';
        proc = sep + 4;
    }
    moat_error *err = NULL;
    struct cg_layout l;
    if (cg_parse_mountinfo(s, &l, &err) < 0) {
        moat_error_free(err);
        return;
    }
    cg_layout_set_v2_controllers(&l, "cpu memory pids hugetlb io");
    struct cg_proc p;
    if (cg_parse_proc_cgroup(proc, &p, &err) == 0) {
        struct moat_cgroup_opts o = {.id = "c1", .rootless = rootless};
        struct moat_cgroup *cg = NULL;
        if (cg_plan(&l, &p, "sub/c1", &o, rootless ? "/user" : NULL, &cg, &err) == 0) {
            check_dirs(cg);
            moat_cgroup_free(cg);
        }
        cg_proc_free(&p);
    }
    cg_layout_free(&l);
    moat_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *s = xstrndup((const char *)data + 1, size - 1);
    moat_error *err = NULL;
    switch (data[0] % 3) {
    case 0:
        fuzz_plan(s, data[0] & 8);
        break;
    case 1: {
        struct moat_cgroup_opts o = {.id = "c1", .systemd = data[0] & 4, .rootless = data[0] & 8};
        char *out = NULL;
        if (cg_spec_path(s, &o, &out, &err) == 0) {
            if (strlen(out) > CG_PATH_MAX || strstr(out, "/../") || strncmp(out, "../", 3) == 0 ||
                strstr(out, "//"))
                abort();
            free(out);
        } else if (!err) {
            abort();
        }
        break;
    }
    default: {
        struct json_object *j = NULL;
        if (moat_json_parse(s, strlen(s), 65536, "state", &j, &err) == 0) {
            struct moat_cgroup *cg = NULL;
            if (moat_cgroup_from_json(j, &cg, &err) == 0) {
                check_dirs(cg);
                json_object_put(moat_cgroup_to_json(cg));
                moat_cgroup_free(cg);
            }
            json_object_put(j);
        }
        break;
    }
    }
    moat_error_free(err);
    free(s);
    return 0;
}
