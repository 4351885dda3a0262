/* libFuzzer target: the Docker create and exec bodies (src/engine/create_req.c)
 * and, for every body that parses, the spec builder (src/engine/spec.c) on a
 * fixed fake container: a temporary rootfs with /etc/passwd and /etc/group,
 * two engine mounts, root id mapping; under the default policy and again
 * under the built-in privileged one (what it allows is built: privileged,
 * devices, host namespaces).  Every config the builder makes must
 * be accepted by the runtime's config.json parser; every failure must carry
 * a message.  Nothing is created or run. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/image.h"
#include "moat/json.h"
#include "moat/oci.h"
#include "moat/policy.h"
#include "moat/spec.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *root;

static void remove_rootfs(void)
{
    static const char *const paths[] = {"etc/passwd", "etc/group", "etc", ""};
    for (size_t i = 0; i < 4; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", root, paths[i]);
        if (unlink(p) < 0)
            rmdir(p);
    }
}

static char *fake_rootfs(void)
{
    if (root)
        return root;
    char tmpl[] = "/tmp/moat-fuzz-spec-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    root = xstrdup(tmpl);
    atexit(remove_rootfs);
    _cleanup_free_ char *etc = xasprintf("%s/etc", root);
    mkdir(etc, 0755);
    static const char *const files[][2] = {
        {"passwd", "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\napp:x:1000:1000::/:/bin/sh\n"},
        {"group", "root:x:0:\nwww:x:33:\nstaff:x:50:app,www\napp:x:1000:\n"}};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", etc, files[i][0]);
        FILE *f = fopen(p, "we");
        if (!f)
            abort();
        fputs(files[i][1], f);
        fclose(f);
    }
    return root;
}

static void check_err(int rc, moat_error *err)
{
    if (rc < 0 && (!err || !err->msg || !err->msg[0]))
        __builtin_trap(); /* every failure carries a message */
}

static const struct moat_policy *wide_policy(void)
{
    static struct moat_policy *p;
    moat_error *err = NULL;
    if (!p && moat_policy_builtin("privileged", &p, &err) < 0)
        abort();
    return p;
}

static void build_and_exec_with(const struct moat_create_req *r, const struct moat_exec_req *er,
                                const struct moat_policy *pol)
{
    char *bind_opts[] = {"rbind", "ro", NULL}, *tmpfs_opts[] = {"nosuid", "size=1m", NULL};
    struct moat_spec_mount mounts[] = {
        {.destination = "/data", .type = "bind", .source = "/var/lib/moat/volumes/v/_data", .options = bind_opts},
        {.destination = "/cache", .type = "tmpfs", .source = "tmpfs", .options = tmpfs_opts},
    };
    char *ienv[] = {"PATH=/bin", "A=1", NULL}, *icmd[] = {"sh", NULL}, *ient[] = {"/entry", NULL};
    struct moat_image_config img = {.env = ienv, .cmd = icmd, .entrypoint = ient, .working_dir = "/srv", .user = "app"};
    struct moat_spec_in in = {.req = r, .image = &img, .container_id = "0123456789abcdef0123456789abcdef",
                              .rootfs = fake_rootfs(), .uid_base = 1000065536, .gid_base = 1000065536,
                              .id_range = 65536, .mounts = mounts, .n_mounts = 2, .cgroup_parent = "/moat",
                              .host_network = r->network_mode && !strcmp(r->network_mode, "host"), .policy = pol};
    moat_error *err = NULL;
    struct json_object *c = NULL;
    int rc = moat_spec_build(&in, &c, &err);
    check_err(rc, err);
    moat_error_free(err);
    err = NULL;
    if (rc < 0)
        return;
    const char *s = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
    struct oci_spec *spec = NULL;
    if (oci_spec_parse(s, strlen(s), "config.json", &spec, &err) < 0) {
        fprintf(stderr, "built config rejected by the runtime: %s\n%s\n", err->msg, s);
        __builtin_trap();
    }
    oci_spec_free(spec);
    if (er) {
        struct json_object *p = NULL;
        rc = moat_spec_exec_process(c, er, &p, &err);
        check_err(rc, err);
        moat_error_free(err);
        err = NULL;
        if (rc == 0) {
            const char *ps = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);
            struct oci_process *op = NULL;
            if (oci_process_parse(ps, strlen(ps), "process.json", &op, &err) < 0) {
                fprintf(stderr, "exec process rejected by the runtime: %s\n%s\n", err->msg, ps);
                __builtin_trap();
            }
            oci_process_free(op);
        }
        json_object_put(p);
    }
    json_object_put(c);
}

static void build_and_exec(const struct moat_create_req *r, const struct moat_exec_req *er)
{
    build_and_exec_with(r, er, NULL);
    build_and_exec_with(r, er, wide_policy());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    moat_error *err = NULL;
    struct moat_create_req *r = NULL;
    int rc = moat_create_req_parse((const char *)data, size, &r, &err);
    check_err(rc, err);
    moat_error_free(err);
    err = NULL;
    if (rc == 0) {
        for (size_t i = 0; i < r->n_mounts; i++)
            if (!r->mounts[i].type || !r->mounts[i].target || r->mounts[i].target[0] != '/')
                __builtin_trap(); /* parsed mounts are well-formed */
        build_and_exec(r, NULL);
    }
    struct moat_exec_req *er = NULL;
    int erc = moat_exec_req_parse((const char *)data, size, &er, &err);
    check_err(erc, err);
    moat_error_free(err);
    err = NULL;
    if (erc == 0) {
        if (!er->cmd || !er->cmd[0])
            __builtin_trap();
        /* exec on a fixed container */
        static const char body[] = "{\"Image\":\"busybox\",\"Cmd\":[\"sleep\",\"9\"],\"User\":\"app\"}";
        struct moat_create_req *base = NULL;
        if (moat_create_req_parse(body, sizeof body - 1, &base, &err) < 0)
            __builtin_trap();
        build_and_exec(base, er);
        moat_create_req_free(base);
        moat_exec_req_free(er);
    }
    moat_create_req_free(r);
    return 0;
}
