/* The create/exec body parsers, the -v grammar and the OCI spec builder
 * (src/engine/create_req.c, spec.c, spec_parts.c): real bodies in, and
 * json-c lookups on the built config.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "engine/spec_internal.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/oci.h"
#include "moat/policy.h"
#include "moat/spec.h"
#include "moat/util.h"
#include "unit.h"

#define UID_BASE 1000065536u

/* The docker CLI 20.10's body for `docker run --rm busybox echo hi`: every
 * field, zero values and nulls. */
static const char CLI_BODY[] =
    "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\"AttachStdout\":true,"
    "\"AttachStderr\":true,\"Tty\":false,\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":[],\"Cmd\":[\"echo\",\"hi\"],"
    "\"Image\":\"busybox\",\"Volumes\":{},\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":{},"
    "\"HostConfig\":{\"Binds\":null,\"ContainerIDFile\":\"\",\"LogConfig\":{\"Type\":\"\",\"Config\":{}},"
    "\"NetworkMode\":\"default\",\"PortBindings\":{},\"RestartPolicy\":{\"Name\":\"no\",\"MaximumRetryCount\":0},"
    "\"AutoRemove\":true,\"VolumeDriver\":\"\",\"VolumesFrom\":null,\"CapAdd\":null,\"CapDrop\":null,"
    "\"CgroupnsMode\":\"\",\"Dns\":[],\"DnsOptions\":[],\"DnsSearch\":[],\"ExtraHosts\":null,\"GroupAdd\":null,"
    "\"IpcMode\":\"\",\"Cgroup\":\"\",\"Links\":null,\"OomScoreAdj\":0,\"PidMode\":\"\",\"Privileged\":false,"
    "\"PublishAllPorts\":false,\"ReadonlyRootfs\":false,\"SecurityOpt\":null,\"UTSMode\":\"\",\"UsernsMode\":\"\","
    "\"ShmSize\":0,\"ConsoleSize\":[0,0],\"Isolation\":\"\",\"CpuShares\":0,\"Memory\":0,\"NanoCpus\":0,"
    "\"CgroupParent\":\"\",\"BlkioWeight\":0,\"BlkioWeightDevice\":[],\"BlkioDeviceReadBps\":null,"
    "\"BlkioDeviceWriteBps\":null,\"BlkioDeviceReadIOps\":null,\"BlkioDeviceWriteIOps\":null,\"CpuPeriod\":0,"
    "\"CpuQuota\":0,\"CpuRealtimePeriod\":0,\"CpuRealtimeRuntime\":0,\"CpusetCpus\":\"\",\"CpusetMems\":\"\","
    "\"Devices\":[],\"DeviceCgroupRules\":null,\"DeviceRequests\":null,\"KernelMemory\":0,\"KernelMemoryTCP\":0,"
    "\"MemoryReservation\":0,\"MemorySwap\":0,\"MemorySwappiness\":-1,\"OomKillDisable\":false,\"PidsLimit\":null,"
    "\"Ulimits\":null,\"CpuCount\":0,\"CpuPercent\":0,\"IOMaximumIOps\":0,\"IOMaximumBandwidth\":0,"
    "\"MaskedPaths\":null,\"ReadonlyPaths\":null},\"NetworkingConfig\":{\"EndpointsConfig\":{}}}";

/* docker-py 5.0.3's containers.create("busybox", "sleep 1000", labels={"a": "b"}) (SEQUENCES.txt). */
static const char PY_BODY[] = "{\"Cmd\": [\"sleep\", \"1000\"], \"Image\": \"busybox\", \"Labels\": {\"a\": \"b\"}, "
                              "\"HostConfig\": {\"NetworkMode\": \"default\"}}";

static struct json_object *jp(struct json_object *o, const char *path)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *save = NULL, *k = strtok_r(p, "/", &save); k && o; k = strtok_r(NULL, "/", &save)) {
        if (json_object_is_type(o, json_type_array)) {
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        } else {
            struct json_object *v = NULL;
            o = json_object_object_get_ex(o, k, &v) ? v : NULL;
        }
    }
    return o;
}

static const char *jps(struct json_object *o, const char *path)
{
    struct json_object *v = jp(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t jpi(struct json_object *o, const char *path)
{
    struct json_object *v = jp(o, path);
    return v ? json_object_get_int64(v) : -12345;
}

/* The array at path as "a,b,c". */
static char *jpj(struct json_object *o, const char *path)
{
    struct json_object *a = jp(o, path);
    if (!a || !json_object_is_type(a, json_type_array))
        return xstrdup("(none)");
    char *s = xstrdup("");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        char *n = xasprintf("%s%s%s", s, i ? "," : "", json_object_get_string(json_object_array_get_idx(a, i)));
        free(s);
        s = n;
    }
    return s;
}

static struct json_object *mount_at(struct json_object *c, const char *dest)
{
    struct json_object *m = jp(c, "mounts");
    for (size_t i = 0; m && i < json_object_array_length(m); i++)
        if (!strcmp(jps(json_object_array_get_idx(m, i), "destination"), dest))
            return json_object_array_get_idx(m, i);
    return NULL;
}

struct build_opts {
    bool rootless, host_network;
    const char *rootfs, *netns;
    const struct moat_image_config *image;
    const struct moat_spec_mount *mounts;
    size_t n_mounts;
    const struct moat_policy *policy; /* NULL: baseline */
    const int *rootfs_view;
    char *const *ovl_lower;
    const char *ovl_upper, *ovl_work;
};

/* Parse body and build; NULL with *err on failure. */
static struct json_object *build_with(const char *body, const struct build_opts *o, moat_error **err)
{
    struct moat_create_req *r = NULL;
    if (moat_create_req_parse(body, strlen(body), &r, err) < 0)
        return NULL;
    struct moat_spec_in in = {.req = r, .image = o->image, .container_id = "0123456789abcdef0123456789abcdef",
                              .rootfs = o->rootfs, .rootless = o->rootless, .uid_base = UID_BASE,
                              .gid_base = UID_BASE, .id_range = 65536, .mounts = o->mounts, .n_mounts = o->n_mounts,
                              .netns_path = o->netns, .host_network = o->host_network,
                              .cgroup_parent = o->rootless ? NULL : "/moat", .policy = o->policy,
                              .rootfs_view = o->rootfs_view, .overlay_lower = o->ovl_lower,
                              .overlay_upper = o->ovl_upper, .overlay_work = o->ovl_work};
    struct json_object *c = NULL;
    int rc = moat_spec_build(&in, &c, err);
    moat_create_req_free(r);
    if (rc < 0)
        return NULL;
    /* whatever the builder makes, the runtime's config.json parser accepts */
    const char *s = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
    struct oci_spec *spec = NULL;
    _cleanup_error_ moat_error *perr = NULL;
    CHECK(oci_spec_parse(s, strlen(s), "config.json", &spec, &perr) == 0);
    if (perr)
        fprintf(stderr, "    runtime parser: %s\n", perr->msg);
    oci_spec_free(spec);
    return c;
}

static struct json_object *build(const char *body, moat_error **err)
{
    struct build_opts o = {0};
    return build_with(body, &o, err);
}

/* ---- parsing --------------------------------------------------------------------------- */

static void test_cli_and_py_bodies(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_create_req *r = NULL;
    CHECK(moat_create_req_parse(CLI_BODY, strlen(CLI_BODY), &r, &err) == 0);
    if (r) {
        CHECK_STR(r->image, "busybox");
        CHECK(r->cmd_set && moat_strv_len(r->cmd) == 2 && !strcmp(r->cmd[1], "hi"));
        CHECK(!r->entrypoint_set && !r->entrypoint);
        CHECK(r->auto_remove && r->attach_stdout && !r->tty);
        CHECK_STR(r->restart.name, "no");
        CHECK_STR(r->network_mode, "default");
        CHECK(r->pids_limit == 0 && r->memory == 0 && r->n_mounts == 0 && r->stop_timeout == -1);
        CHECK(r->config_json && !jp(r->config_json, "HostConfig") && jp(r->host_config_json, "MemorySwappiness"));
        moat_create_req_free(r);
        r = NULL;
    }
    CHECK(moat_create_req_parse(PY_BODY, strlen(PY_BODY), &r, &err) == 0);
    if (r) {
        CHECK(r->labels && !strcmp(r->labels[0], "a") && !strcmp(r->labels[1], "b") && !r->labels[2]);
        moat_create_req_free(r);
        r = NULL;
    }
    /* docker-compose with binds, ports, volumes, endpoint aliases */
    const char *co = "{\"ExposedPorts\":{\"80/tcp\":{}},\"Env\":[\"FOO=bar\"],\"Image\":\"projimg:latest\","
                     "\"Volumes\":{\"/data\":{},\"/src\":{}},\"NetworkingConfig\":{\"EndpointsConfig\":{\"proj_front\":"
                     "{\"Aliases\":[\"web\"],\"IPAMConfig\":{}}}},\"HostConfig\":{\"NetworkMode\":\"proj_front\","
                     "\"Binds\":[\"proj_data:/data:rw\",\"/tmp/app:/src:ro\"],\"PortBindings\":{\"80/tcp\":"
                     "[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]},\"Tmpfs\":{\"/run\":\"rw,size=64m\"},"
                     "\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v2\",\"Target\":\"/v\",\"VolumeOptions\":"
                     "{\"NoCopy\":true,\"Labels\":{\"x\":\"y\"}}}],\"LogConfig\":{\"Type\":\"\",\"Config\":{}}}}";
    CHECK(moat_create_req_parse(co, strlen(co), &r, &err) == 0);
    if (r) {
        CHECK(r->n_mounts == 4);
        if (r->n_mounts == 4) {
            CHECK_STR(r->mounts[0].type, "volume");
            CHECK_STR(r->mounts[0].source, "proj_data");
            CHECK(!r->mounts[0].read_only);
            CHECK_STR(r->mounts[1].type, "bind");
            CHECK_STR(r->mounts[1].propagation, "rprivate");
            CHECK(r->mounts[1].read_only);
            CHECK_STR(r->mounts[2].type, "tmpfs");
            CHECK_STR(r->mounts[2].target, "/run");
            CHECK(r->mounts[2].tmpfs_size == 64 << 20 && r->mounts[2].noexec);
            CHECK_STR(r->mounts[3].source, "v2");
            CHECK(r->mounts[3].no_copy && r->mounts[3].labels && !strcmp(r->mounts[3].labels[1], "y"));
        }
        CHECK(r->n_ports == 1 && !strcmp(r->ports[0].container_port, "80/tcp") &&
              !strcmp(r->ports[0].host_port, "8080"));
        CHECK(r->endpoint_names && !strcmp(r->endpoint_names[0], "proj_front") &&
              !strcmp(r->endpoint_aliases[0][0], "web"));
        CHECK(moat_strv_len(r->volumes) == 2 && !strcmp(r->exposed_ports[0], "80/tcp"));
        moat_create_req_free(r);
        r = NULL;
    }
    /* Cmd and Entrypoint as strings */
    const char *s = "{\"Image\":\"x\",\"Cmd\":\"echo hi\",\"Entrypoint\":\"\"}";
    CHECK(moat_create_req_parse(s, strlen(s), &r, &err) == 0);
    if (r) {
        CHECK(moat_strv_len(r->cmd) == 1 && !strcmp(r->cmd[0], "echo hi"));
        CHECK(r->entrypoint_set && moat_strv_len(r->entrypoint) == 1 && !r->entrypoint[0][0]);
        moat_create_req_free(r);
    }
}

static void test_type_errors(void)
{
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"{\"Image\":\"x\",\"HostConfig\":{\"Memory\":\"1g\"}}", "HostConfig.Memory: expected an integer, got a string"},
        {"{\"Image\":\"x\",\"Cmd\":[1]}", "Cmd[0]: expected a string"},
        {"{\"Image\":\"x\",\"Tty\":\"yes\"}", "Tty: expected a boolean"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"rel\",\"Target\":\"/a\"}]}}",
         "HostConfig.Mounts[0].Source"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"npipe\",\"Target\":\"/a\"}]}}",
         "HostConfig.Mounts[0].Type"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":\"1\"}]}}",
         "HostConfig.Ulimits[0].Soft: expected an integer"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"sometimes\"}}}", "HostConfig.RestartPolicy.Name"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"a b:/x\"]}}", "includes invalid characters"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"Tmpfs\":{\"/run\":\"size=lots\"}}}", "HostConfig.Tmpfs./run: invalid tmpfs size"},
        {"{\"Image\":\"x\",\"HostConfig\":{\"OomScoreAdj\":5000}}", "HostConfig.OomScoreAdj: 5000 is out of range"},
        {"{\"Image\":\"x\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"n\":{\"Aliases\":\"a\"}}}}",
         "NetworkingConfig.EndpointsConfig.n.Aliases: expected an array"},
        {"{\"Cmd\":[\"sh\"]}", "Image: required"},
        {"[1]", "expected a JSON object"},
        {"{\"Image\":\"x\"", "unexpected end of input"},
        {"", "cannot be empty"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ moat_error *err = NULL;
        struct moat_create_req *r = NULL;
        int rc = moat_create_req_parse(cases[i].body, strlen(cases[i].body), &r, &err);
        CHECK(rc < 0);
        if (rc == 0)
            moat_create_req_free(r);
        CHECK_ERR_HAS(err, cases[i].msg);
    }
    /* bounds: a list over 4096 entries and a string over 64 KiB */
    _cleanup_free_ char *big = xstrdup("{\"Image\":\"x\",\"Env\":[");
    for (int i = 0; i < 4097; i++) {
        char *n = xasprintf("%s%s\"A=1\"", big, i ? "," : "");
        free(big);
        big = n;
    }
    char *n = xasprintf("%s]}", big);
    free(big);
    big = n;
    _cleanup_error_ moat_error *err = NULL;
    struct moat_create_req *r = NULL;
    CHECK(moat_create_req_parse(big, strlen(big), &r, &err) < 0);
    CHECK_ERR_HAS(err, "Env: 4097 entries is over the limit");
    moat_error_free(err);
    err = NULL;
    _cleanup_free_ char *pad = xmalloc(70000);
    memset(pad, 'a', 69999);
    pad[69999] = '\0';
    _cleanup_free_ char *longenv = xasprintf("{\"Image\":\"x\",\"Env\":[\"A=%s\"]}", pad);
    CHECK(moat_create_req_parse(longenv, strlen(longenv), &r, &err) < 0);
    CHECK_ERR_HAS(err, "Env[0]: a string of 70001 bytes is over the limit");
}

static void test_exec_body(void)
{
    const char *cli = "{\"User\": \"\", \"Privileged\": false, \"Tty\": true, \"AttachStdin\": true, \"AttachStderr\": "
                      "true, \"AttachStdout\": true, \"Detach\": false, \"DetachKeys\": \"\", \"Env\": null, "
                      "\"WorkingDir\": \"\", \"Cmd\": [\"sh\"]}";
    _cleanup_error_ moat_error *err = NULL;
    struct moat_exec_req *er = NULL;
    CHECK(moat_exec_req_parse(cli, strlen(cli), &er, &err) == 0);
    if (er) {
        CHECK(er->tty && er->attach_stdin && !er->privileged && !strcmp(er->cmd[0], "sh") && !er->env);
        moat_exec_req_free(er);
        er = NULL;
    }
    const char *bad = "{\"Cmd\": []}";
    CHECK(moat_exec_req_parse(bad, strlen(bad), &er, &err) < 0);
    CHECK_ERR_HAS(err, "No exec command specified");
    moat_error_free(err);
    err = NULL;
    const char *bad2 = "{\"Cmd\": [\"sh\"], \"Privileged\": 1}";
    CHECK(moat_exec_req_parse(bad2, strlen(bad2), &er, &err) < 0);
    CHECK_ERR_HAS(err, "Privileged: expected a boolean");
}

static void test_bind_grammar(void)
{
    static const struct {
        const char *spec, *type, *src, *dst, *prop;
        bool ro, nocopy, noexec;
        const char *err;
    } cases[] = {
        {"/tmp:/data", "bind", "/tmp", "/data", "rprivate", false, false, false, NULL},
        {"/tmp/:/data/x/../y:ro", "bind", "/tmp", "/data/y", "rprivate", true, false, false, NULL},
        {"/h:/c:rw,rshared,z", "bind", "/h", "/c", "rshared", false, false, false, NULL},
        {"/h:/c:ro,noexec,nosuid,nodev", "bind", "/h", "/c", "rprivate", true, false, true, NULL},
        {"vol1:/x:ro", "volume", "vol1", "/x", NULL, true, false, false, NULL},
        {"my.vol-1_a:/x:nocopy", "volume", "my.vol-1_a", "/x", NULL, false, true, false, NULL},
        {"/anon", "volume", NULL, "/anon", NULL, false, false, false, NULL},
        {"/h:/", NULL, NULL, NULL, NULL, false, false, false, "destination can't be '/'"},
        {"/h:rel", NULL, NULL, NULL, NULL, false, false, false, "mount path must be absolute"},
        {"rel", NULL, NULL, NULL, NULL, false, false, false, "mount path must be absolute"},
        {"/", NULL, NULL, NULL, NULL, false, false, false, "destination can't be '/'"},
        {"_bad:/x", NULL, NULL, NULL, NULL, false, false, false, "invalid characters for a local volume name"},
        {"/h:/c:bogus", NULL, NULL, NULL, NULL, false, false, false, "invalid mode: bogus"},
        {"/h:/c:ro,rw", NULL, NULL, NULL, NULL, false, false, false, "invalid mode"},
        {"/h:/c:nocopy", NULL, NULL, NULL, NULL, false, false, false, "nocopy is only valid for volumes"},
        {"v:/c:rshared", NULL, NULL, NULL, NULL, false, false, false, "only valid for bind mounts"},
        {"/a:/b:ro:x", NULL, NULL, NULL, NULL, false, false, false, "too many colons"},
        {":/b", NULL, NULL, NULL, NULL, false, false, false, "empty source"},
        {"", NULL, NULL, NULL, NULL, false, false, false, "invalid volume specification"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ moat_error *err = NULL;
        struct moat_mount_req m = {0};
        int rc = moat_bind_parse(cases[i].spec, &m, &err);
        if (cases[i].err) {
            CHECK(rc < 0);
            CHECK_ERR_HAS(err, cases[i].err);
            continue;
        }
        CHECK(rc == 0);
        if (rc < 0) {
            fprintf(stderr, "    %s: %s\n", cases[i].spec, err ? err->msg : "");
            continue;
        }
        CHECK_STR(m.type, cases[i].type);
        CHECK(cases[i].src ? m.source && !strcmp(m.source, cases[i].src) : !m.source);
        CHECK_STR(m.target, cases[i].dst);
        CHECK(cases[i].prop ? m.propagation && !strcmp(m.propagation, cases[i].prop) : !m.propagation);
        CHECK(m.read_only == cases[i].ro && m.no_copy == cases[i].nocopy && m.noexec == cases[i].noexec);
        moat_mount_req_clear(&m);
    }
}

/* ---- building ----------------------------------------------------------------------------- */

static void test_default_caps(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build(CLI_BODY, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    const char *want = "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,CAP_SETUID,"
                       "CAP_NET_BIND_SERVICE";
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
        _cleanup_free_ char *p = xasprintf("process/capabilities/%s", sets[i]);
        _cleanup_free_ char *got = jpj(c, p);
        CHECK_STR(got, want);
    }
    _cleanup_free_ char *inh = jpj(c, "process/capabilities/inheritable"), *amb = jpj(c, "process/capabilities/ambient");
    CHECK_STR(inh, "");
    CHECK_STR(amb, "");
    CHECK(moat_strv_len((char **)moat_default_caps) == 8);
    CHECK(json_object_get_boolean(jp(c, "process/noNewPrivileges")));
    _cleanup_free_ char *args = jpj(c, "process/args");
    CHECK_STR(args, "echo,hi");
    CHECK_STR(jps(c, "hostname"), "0123456789ab");
    CHECK_STR(jps(c, "linux/cgroupsPath"), "/moat/0123456789abcdef0123456789abcdef");
    CHECK(jpi(c, "linux/resources/pids/limit") == 1024);
    CHECK(jp(c, "linux/seccomp/syscalls") != NULL);
    CHECK(!json_object_get_boolean(jp(c, "root/readonly")));
    CHECK(!jp(c, "annotations/run.moat.cgroup.optional"));
    CHECK_STR(jps(c, "process/cwd"), "/");
    CHECK(jpi(c, "process/user/uid") == 0 && jpi(c, "process/user/gid") == 0);
}

static bool seccomp_allows(struct json_object *c, const char *name)
{
    struct json_object *sc = jp(c, "linux/seccomp/syscalls");
    for (size_t i = 0; sc && i < json_object_array_length(sc); i++) {
        struct json_object *r = json_object_array_get_idx(sc, i), *names = jp(r, "names");
        if (!jps(r, "action") || strcmp(jps(r, "action"), "SCMP_ACT_ALLOW"))
            continue;
        for (size_t k = 0; names && k < json_object_array_length(names); k++)
            if (!strcmp(json_object_get_string(json_object_array_get_idx(names, k)), name))
                return true;
    }
    return false;
}

/* The built-in privileged profile: the widest a host may allow. */
static struct moat_policy *wide_policy(void)
{
    struct moat_policy *p = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_policy_builtin("privileged", &p, &err) == 0);
    return p;
}

static void test_cap_add_drop(void)
{
    _cleanup_error_ moat_error *err = NULL;
    const char *netraw =
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"CapDrop\":[\"ALL\"],\"CapAdd\":[\"net_raw\",\"CAP_SYS_CHROOT\"]}}";
    /* baseline does not allow NET_RAW: the builder asks the policy, and says why */
    CHECK(!build(netraw, &err));
    CHECK_ERR_HAS(err, "denied by policy: capability NET_RAW is not allowed (baseline.json: /capabilities/allowed)");
    _cleanup_policy_ struct moat_policy *wide = wide_policy();
    struct build_opts wo = {.policy = wide};
    _cleanup_json_ struct json_object *a = build_with(netraw, &wo, &err);
    CHECK(a);
    _cleanup_free_ char *ab = a ? jpj(a, "process/capabilities/bounding") : NULL;
    CHECK_STR(ab, "CAP_NET_RAW,CAP_SYS_CHROOT");
    /* the seccomp profile follows the final capability set */
    CHECK(a && seccomp_allows(a, "chroot"));
    _cleanup_json_ struct json_object *d = build("{\"Image\":\"x\",\"Cmd\":[\"sh\"]}", &err);
    CHECK(d && !seccomp_allows(d, "chroot") && seccomp_allows(d, "read"));
    _cleanup_json_ struct json_object *b =
        build("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"CapDrop\":[\"chown\",\"Cap_Kill\"]}}", &err);
    _cleanup_free_ char *bb = b ? jpj(b, "process/capabilities/effective") : NULL;
    CHECK_STR(bb, "CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_SETGID,CAP_SETUID,CAP_NET_BIND_SERVICE");
    CHECK(!build("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"CapAdd\":[\"FLY\"]}}", &err));
    CHECK_ERR_HAS(err, "CapAdd: unknown capability: \"FLY\"");
    CHECK(err && err->errnum == EINVAL);
}

static void test_security_opts(void)
{
    static const struct {
        const char *opt;
        int errnum;
        const char *msg;
    } refused[] = {
        {"seccomp=unconfined", EPERM, "seccomp=unconfined is not allowed: system calls are always filtered "
                                      "(baseline.json: /seccomp/unconfined)"},
        {"seccomp:unconfined", EPERM, "seccomp=unconfined is not allowed"},
        {"no-new-privileges:false", EPERM, "no-new-privileges=false is not allowed: no_new_privs is required "
                                           "(baseline.json: /noNewPrivileges)"},
        {"label=disable", EPERM, "label=disable is not allowed (baseline.json: /selinux/disable)"},
        {"apparmor=unconfined", EPERM, "apparmor=unconfined is not allowed (baseline.json: /apparmor/unconfined)"},
        {"seccomp=relative.json", EINVAL, "expected default, restricted"},
        /* a file on the engine's host only when the host's policy names it (clients send content) */
        {"seccomp=/nonexistent/profile.json", EPERM,
         "seccomp profile /nonexistent/profile.json is not allowed (baseline.json: /seccomp/profiles)"},
        {"seccomp=/etc/shadow", EPERM, "seccomp profile /etc/shadow is not allowed"},
        {"seccomp={\"defaultAction\":7}", EINVAL, "seccomp"},
        {"bogus=1", EINVAL, "invalid --security-opt"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        _cleanup_error_ moat_error *err = NULL;
        _cleanup_free_ char *body =
            xasprintf("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"SecurityOpt\":[\"%s\"]}}", refused[i].opt);
        /* the JSON case needs escaping */
        if (strchr(refused[i].opt, '"')) {
            free(body);
            body = xstrdup("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"SecurityOpt\":"
                           "[\"seccomp={\\\"defaultAction\\\":7}\"]}}");
        }
        struct json_object *c = build(body, &err);
        CHECK(!c);
        json_object_put(c);
        CHECK_ERR_HAS(err, refused[i].msg);
        CHECK(err && err->errnum == refused[i].errnum);
    }
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"SecurityOpt\":[\"no-new-privileges\",\"apparmor=moat-x\","
        "\"label=type:svirt_t\",\"label=level:s0:c1,c2\",\"landlock\",\"seccomp=restricted\"]}}",
        &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK_STR(jps(c, "process/apparmorProfile"), "moat-x");
    CHECK_STR(jps(c, "process/selinuxLabel"), "system_u:system_r:svirt_t:s0:c1,c2");
    CHECK_STR(jps(c, "annotations/run.moat.landlock"), "true");
    CHECK(jp(c, "linux/seccomp/syscalls"));
    /* a profile given as JSON content, the docker CLI's way */
    _cleanup_json_ struct json_object *j = build(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":"
        "\\\"SCMP_ACT_ERRNO\\\",\\\"syscalls\\\":[{\\\"names\\\":[\\\"read\\\"],\\\"action\\\":\\\"SCMP_ACT_ALLOW\\\"}]}\"]}}",
        &err);
    CHECK(j && seccomp_allows(j, "read") && !seccomp_allows(j, "write"));
    CHECK_STR(j ? jps(j, "linux/seccomp/defaultAction") : NULL, "SCMP_ACT_ERRNO");
}

static void test_refusals(void)
{
    static const struct {
        const char *hc;
        int errnum;
        const char *msg;
    } cases[] = {
        /* the policy's refusals (baseline), with their sources */
        {"\"Privileged\":true", EPERM,
         "denied by policy: privileged containers are not allowed (baseline.json: /privileged)"},
        {"\"PidMode\":\"host\"", EPERM, "HostConfig.PidMode=host is not allowed: a container never shares the "
                                        "host's namespaces (baseline.json: /hostNamespaces)"},
        {"\"IpcMode\":\"host\"", EPERM, "IpcMode=host is not allowed: a container never shares the host's namespaces "
                                        "(baseline.json: /hostNamespaces)"},
        {"\"UTSMode\":\"host\"", EPERM, "UTSMode=host is not allowed: a container never shares the host's namespaces "
                                        "(baseline.json: /hostNamespaces)"},
        {"\"CgroupnsMode\":\"host\"", EPERM, "CgroupnsMode=host is not allowed: a container never shares the host's "
                                             "namespaces (baseline.json: /hostNamespaces)"},
        {"\"UsernsMode\":\"host\"", EPERM, "UsernsMode=host is not allowed: a user namespace is required "
                                           "(baseline.json: /userNamespace/required)"},
        {"\"Devices\":[{\"PathOnHost\":\"/dev/kvm\",\"PathInContainer\":\"/dev/kvm\",\"CgroupPermissions\":\"rwm\"}]",
         EPERM, "denied by policy: host device /dev/kvm is not allowed (baseline.json: /devices)"},
        {"\"Sysctls\":{\"kernel.panic\":\"1\"}", EPERM, "sysctl 'kernel.panic' is not allowed (baseline.json: /sysctls)"},
        /* syntax, whatever the policy */
        {"\"PidMode\":\"container:abc\"", EINVAL, "HostConfig.PidMode: 'container:abc' is not supported"},
        {"\"IpcMode\":\"bogus\"", EINVAL, "HostConfig.IpcMode: 'bogus' is not supported"},
        /* found by fuzz_create_req: the runtime refuses such a name, so the builder must too */
        {"\"Sysctls\":{\"net.ipv4.ip_forw^rd\":\"1\"}", EINVAL, "'net.ipv4.ip_forw^rd' is not a sysctl name"},
        {"\"Sysctls\":{\"net.a\":\"1\\n2\"}", EINVAL, "must be a single line"},
        {"\"OomScoreAdj\":-500", EPERM, "OomScoreAdj=-500 is not allowed"},
        {"\"Memory\":1000", EINVAL, "Minimum memory limit allowed is 6MB"},
        {"\"NanoCpus\":1000000000,\"CpuQuota\":50000", EINVAL, "Conflicting options"},
        {"\"Ulimits\":[{\"Name\":\"bogus\",\"Soft\":1,\"Hard\":1}]", EINVAL, "invalid ulimit type: bogus"},
        {"\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":10,\"Hard\":5}]", EINVAL, "above the hard limit"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ moat_error *err = NULL;
        _cleanup_free_ char *body = xasprintf("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{%s}}", cases[i].hc);
        struct json_object *c = build(body, &err);
        CHECK(!c);
        json_object_put(c);
        CHECK_ERR_HAS(err, cases[i].msg);
        CHECK(err && err->errnum == cases[i].errnum);
    }
    /* namespaced sysctls pass, and net.* is refused with the host network */
    _cleanup_error_ moat_error *err = NULL;
    const char *ok = "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Sysctls\":{\"net.ipv4.ip_forward\":\"1\","
                     "\"kernel.shmmax\":\"65536\",\"fs.mqueue.msg_max\":\"20\"}}}";
    _cleanup_json_ struct json_object *c = build(ok, &err);
    CHECK_STR(c ? jps(c, "linux/sysctl/net.ipv4.ip_forward") : NULL, "1");
    CHECK_STR(c ? jps(c, "linux/sysctl/fs.mqueue.msg_max") : NULL, "20");
    _cleanup_json_ struct json_object *ipc =
        build("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"IpcMode\":\"none\"}}", &err);
    CHECK(ipc && !mount_at(ipc, "/dev/shm") && mount_at(ipc, "/dev/mqueue"));
    struct build_opts hn = {.host_network = true};
    CHECK(!build_with(ok, &hn, &err));
    CHECK_ERR_HAS(err, "host's network namespace");
}

static void test_args_rules(void)
{
    char *ient[] = {"/entry", "e1", NULL}, *icmd[] = {"icmd", "c1", NULL};
    struct moat_image_config img = {.entrypoint = ient, .cmd = icmd};
    static const struct {
        const char *cfg; /* Config fields */
        bool with_image;
        const char *want; /* NULL: "No command specified" */
    } cases[] = {
        {"", true, "/entry,e1,icmd,c1"},
        {"\"Cmd\":[\"x\",\"y\"]", true, "/entry,e1,x,y"},
        {"\"Cmd\":[]", true, "/entry,e1,icmd,c1"},
        {"\"Entrypoint\":[\"/new\"]", true, "/new"},
        {"\"Entrypoint\":\"/new\",\"Cmd\":[\"a\"]", true, "/new,a"},
        {"\"Entrypoint\":[\"\"]", true, NULL},
        {"\"Entrypoint\":\"\",\"Cmd\":[\"ls\",\"-l\"]", true, "ls,-l"},
        {"\"Entrypoint\":[]", true, "icmd,c1"},
        {"\"Entrypoint\":null,\"Cmd\":null", true, "/entry,e1,icmd,c1"},
        {"\"Cmd\":\"echo hi\"", false, "echo hi"},
        {"", false, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ moat_error *err = NULL;
        _cleanup_free_ char *body = xasprintf("{\"Image\":\"x\"%s%s}", cases[i].cfg[0] ? "," : "", cases[i].cfg);
        struct moat_create_req *r = NULL;
        CHECK(moat_create_req_parse(body, strlen(body), &r, &err) == 0);
        if (!r)
            continue;
        _cleanup_strv_ char **args = NULL;
        int rc = moat_spec_args(r, cases[i].with_image ? &img : NULL, &args, &err);
        if (!cases[i].want) {
            CHECK(rc < 0);
            CHECK_ERR_HAS(err, "No command specified");
            CHECK(err && err->errnum == EINVAL);
        } else {
            CHECK(rc == 0);
            _cleanup_free_ char *j = xstrdup("");
            for (size_t k = 0; args && args[k]; k++) {
                char *n = xasprintf("%s%s%s", j, k ? "," : "", args[k]);
                free(j);
                j = n;
            }
            if (strcmp(j, cases[i].want))
                fprintf(stderr, "    case %zu: %s\n", i, body);
            CHECK_STR(j, cases[i].want);
        }
        moat_create_req_free(r);
    }
}

static void test_env_cwd_hostname(void)
{
    char *ienv[] = {"PATH=/img/bin", "A=image", "B=keep", NULL};
    struct moat_image_config img = {.env = ienv, .cmd = (char *[]){"sh", NULL}, .working_dir = "/srv"};
    struct build_opts o = {.image = &img};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with(
        "{\"Image\":\"x\",\"Tty\":true,\"Hostname\":\"web\",\"Env\":[\"A=req\",\"C=new\",\"B\"]}", &o, &err);
    CHECK(c);
    _cleanup_free_ char *env = c ? jpj(c, "process/env") : NULL;
    CHECK_STR(env, "HOSTNAME=web,TERM=xterm,PATH=/img/bin,A=req,C=new");
    CHECK_STR(c ? jps(c, "hostname") : NULL, "web");
    CHECK_STR(c ? jps(c, "process/cwd") : NULL, "/srv");
    CHECK(c && json_object_get_boolean(jp(c, "process/terminal")));
    _cleanup_json_ struct json_object *d =
        build("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"WorkingDir\":\"/a/../b\",\"Env\":[\"X=1\"]}", &err);
    _cleanup_free_ char *denv = d ? jpj(d, "process/env") : NULL;
    CHECK_STR(denv, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,HOSTNAME=0123456789ab,X=1");
    CHECK_STR(d ? jps(d, "process/cwd") : NULL, "/b");
    CHECK(d && !json_object_get_boolean(jp(d, "process/terminal")));
    CHECK(!build("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"WorkingDir\":\"rel\"}", &err));
    CHECK_ERR_HAS(err, "needs to be an absolute path");
}

static void write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    _cleanup_close_ int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || moat_write_all(fd, text, strlen(text)) < 0)
        abort();
}

/* base/root/etc/{passwd,group}; base/outside/passwd with a user "evil". */
static char *make_rootfs(char **ret_base)
{
    char tmpl[] = "/tmp/moat-unit-spec-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    char *root = xasprintf("%s/root", tmpl);
    _cleanup_free_ char *etc = xasprintf("%s/etc", root), *out = xasprintf("%s/outside", tmpl);
    if (mkdir(root, 0755) || mkdir(etc, 0755) || mkdir(out, 0755))
        abort();
    write_file(etc, "passwd",
               "root:x:0:0:root:/root:/bin/sh\n# comment\nwww:x:33:33:www:/var/www:/bin/false\n"
               "app:x:1000:1000::/home/app:/bin/sh\nbroken:line\n");
    write_file(etc, "group", "root:x:0:\nwww:x:33:\nstaff:x:50:app,www\naudio:x:29:app\napp:x:1000:\ndocker:x:999:\n");
    write_file(out, "passwd", "evil:x:0:0::/:/bin/sh\n");
    *ret_base = xstrdup(tmpl);
    return root;
}

static void rm_tree(const char *base)
{
    const char *files[] = {"root/etc/passwd", "root/etc/group", "outside/passwd", "root/etc", "root", "outside"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", base, files[i]);
        if (unlink(p) < 0)
            rmdir(p);
    }
    rmdir(base);
}

static void test_user_resolution(void)
{
    _cleanup_free_ char *base = NULL;
    _cleanup_free_ char *root = make_rootfs(&base);
    static const struct {
        const char *user;
        uint32_t uid, gid;
        const char *gids, *err;
    } cases[] = {
        {"", 0, 0, "", NULL},
        {"app", 1000, 1000, "50,29", NULL},
        {"1000", 1000, 1000, "50,29", NULL},
        {"app:www", 1000, 33, "", NULL},
        {"www:1234", 33, 1234, "", NULL},
        {"4242", 4242, 0, "", NULL},
        {"4242:4243", 4242, 4243, "", NULL},
        {"nobody", 0, 0, NULL, "unable to find user nobody: no matching entries in passwd file"},
        {"app:nogroup", 0, 0, NULL, "unable to find group nogroup"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ moat_error *err = NULL;
        struct spec_ids ids = {0};
        int rc = spec_resolve_user(root, cases[i].user, NULL, &ids, &err);
        if (cases[i].err) {
            CHECK(rc < 0);
            CHECK_ERR_HAS(err, cases[i].err);
            CHECK(err && err->errnum == EINVAL);
            continue;
        }
        CHECK(rc == 0);
        CHECK(ids.uid == cases[i].uid && ids.gid == cases[i].gid);
        _cleanup_free_ char *g = xstrdup("");
        for (size_t k = 0; k < ids.n_gids; k++) {
            char *n = xasprintf("%s%s%u", g, k ? "," : "", ids.gids[k]);
            free(g);
            g = n;
        }
        CHECK_STR(g, cases[i].gids);
        free(ids.gids);
    }
    /* through the builder: user, GroupAdd, and the non-root capability rule */
    struct build_opts o = {.rootfs = root};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with(
        "{\"Image\":\"x\",\"Cmd\":[\"id\"],\"User\":\"app\",\"HostConfig\":{\"GroupAdd\":[\"docker\",\"777\"]}}", &o, &err);
    CHECK(c);
    if (c) {
        CHECK(jpi(c, "process/user/uid") == 1000 && jpi(c, "process/user/gid") == 1000);
        _cleanup_free_ char *ag = jpj(c, "process/user/additionalGids");
        CHECK_STR(ag, "50,29,999,777");
        _cleanup_free_ char *eff = jpj(c, "process/capabilities/effective"), *bnd = jpj(c, "process/capabilities/bounding");
        CHECK_STR(eff, "");
        CHECK(strstr(bnd, "CAP_CHOWN") != NULL);
        CHECK_STR(jps(c, "root/path"), root);
    }
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"id\"],\"HostConfig\":{\"GroupAdd\":[\"nope\"]}}", &o, &err));
    CHECK_ERR_HAS(err, "Unable to find group nope");
    /* the image's user applies when the request has none */
    struct moat_image_config img = {.user = "www", .cmd = (char *[]){"sh", NULL}};
    o.image = &img;
    _cleanup_json_ struct json_object *w = build_with("{\"Image\":\"x\"}", &o, &err);
    CHECK(w && jpi(w, "process/user/uid") == 33);
    /* /etc/passwd as an absolute symlink out of the rootfs: resolved inside (no such file), never followed out */
    _cleanup_free_ char *pw = xasprintf("%s/etc/passwd", root), *outside = xasprintf("%s/outside/passwd", base);
    unlink(pw);
    CHECK(symlink(outside, pw) == 0);
    struct spec_ids ids = {0};
    moat_error_free(err);
    err = NULL;
    CHECK(spec_resolve_user(root, "evil", NULL, &ids, &err) < 0);
    CHECK_ERR_HAS(err, "unable to find user evil");
    moat_error_free(err);
    err = NULL;
    CHECK(spec_resolve_user(root, "0", NULL, &ids, &err) == 0 && ids.uid == 0);
    free(ids.gids);
    unlink(pw);
    rm_tree(base);
}

/* A rootless overlay: root.path is the empty mount point, users come from the
 * view's fd, and run.moat.overlay.* carry the layers to moat-runtime. */
static void test_rootless_overlay(void)
{
    _cleanup_free_ char *base = NULL;
    _cleanup_free_ char *root = make_rootfs(&base);
    _cleanup_free_ char *empty = xasprintf("%s/outside", base);
    int view = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(view >= 0);
    char *lower[] = {"/s/layers/b/diff", "/s/layers/a/diff", NULL};
    struct build_opts o = {.rootless = true, .rootfs = empty, .rootfs_view = &view, .ovl_lower = lower,
                           .ovl_upper = "/s/snapshots/x/upper", .ovl_work = "/s/snapshots/x/work"};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with("{\"Image\":\"x\",\"Cmd\":[\"id\"],\"User\":\"app\"}", &o, &err);
    CHECK(c);
    if (c) {
        CHECK(jpi(c, "process/user/uid") == 1000); /* found through the view, not root.path */
        CHECK_STR(jps(c, "root/path"), empty);
        struct json_object *ann = jp(c, "annotations");
        struct json_object *v = NULL;
        CHECK(json_object_object_get_ex(ann, "run.moat.overlay.lowerdir", &v) &&
              !strcmp(json_object_get_string(v), "/s/layers/b/diff:/s/layers/a/diff"));
        CHECK(json_object_object_get_ex(ann, "run.moat.overlay.upperdir", &v) &&
              !strcmp(json_object_get_string(v), "/s/snapshots/x/upper"));
        CHECK(json_object_object_get_ex(ann, "run.moat.overlay.workdir", &v) &&
              !strcmp(json_object_get_string(v), "/s/snapshots/x/work"));
    }
    /* no overlay: no annotation */
    struct build_opts plain = {.rootless = true, .rootfs = root};
    _cleanup_json_ struct json_object *p = build_with("{\"Image\":\"x\",\"Cmd\":[\"id\"]}", &plain, &err);
    CHECK(p && !json_object_object_get_ex(jp(p, "annotations"), "run.moat.overlay.lowerdir", NULL));
    close(view);
    rm_tree(base);
}

static void test_mounts_tmpfs_readonly(void)
{
    char *bopts[] = {"rbind", "ro", NULL};
    char *topts[] = {"nosuid", "nodev", "size=1m", NULL};
    struct moat_spec_mount ms[] = {
        {.destination = "/data", .type = "bind", .source = "/var/lib/moat/volumes/v/_data", .options = bopts},
        {.destination = "/cache", .type = "tmpfs", .source = "tmpfs", .options = topts},
    };
    struct build_opts o = {.mounts = ms, .n_mounts = 2};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"ReadonlyRootfs\":true,\"ShmSize\":134217728,"
        "\"Tmpfs\":{\"/run\":\"rw,size=64m,mode=1777\",\"/x\":\"exec\"}}}",
        &o, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK(json_object_get_boolean(jp(c, "root/readonly")));
    _cleanup_free_ char *d = jpj(mount_at(c, "/data"), "options");
    CHECK_STR(d, "rbind,ro,nosuid,nodev");
    _cleanup_free_ char *ca = jpj(mount_at(c, "/cache"), "options");
    CHECK_STR(ca, "nosuid,nodev,size=1m,noexec");
    _cleanup_free_ char *run = jpj(mount_at(c, "/run"), "options");
    CHECK_STR(run, "rw,size=64m,mode=1777,nosuid,nodev,noexec");
    CHECK_STR(jps(mount_at(c, "/run"), "type"), "tmpfs");
    _cleanup_free_ char *x = jpj(mount_at(c, "/x"), "options");
    CHECK_STR(x, "exec,nosuid,nodev");
    _cleanup_free_ char *shm = jpj(mount_at(c, "/dev/shm"), "options");
    CHECK_STR(shm, "nosuid,noexec,nodev,mode=1777,size=134217728");
    CHECK(mount_at(c, "/proc") && mount_at(c, "/dev/pts"));
    /* engine mounts follow the template's, in order */
    struct json_object *all = jp(c, "mounts");
    size_t n = json_object_array_length(all);
    CHECK(n == 7 + 4);
    CHECK_STR(jps(all, "7/destination"), "/data");
    CHECK_STR(jps(all, "8/destination"), "/cache");
    /* a tmpfs the engine already resolved is not added twice */
    struct moat_spec_mount run_m = {.destination = "/run", .type = "tmpfs", .source = "tmpfs", .options = topts};
    struct build_opts o2 = {.mounts = &run_m, .n_mounts = 1};
    _cleanup_json_ struct json_object *c2 =
        build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Tmpfs\":{\"/run\":\"size=64m\"}}}", &o2, &err);
    CHECK(c2 && json_object_array_length(jp(c2, "mounts")) == 8);
    /* the default is a writable root (Docker) */
    _cleanup_json_ struct json_object *w = build(PY_BODY, &err);
    CHECK(w && !json_object_get_boolean(jp(w, "root/readonly")));
}

static void test_resources(void)
{
    _cleanup_error_ moat_error *err = NULL;
    const char *body = "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Memory\":67108864,\"MemoryReservation\":"
                       "33554432,\"NanoCpus\":1500000000,\"CpuShares\":512,\"CpusetCpus\":\"0\",\"PidsLimit\":50,"
                       "\"BlkioWeight\":300,\"OomScoreAdj\":100,\"OomKillDisable\":true,"
                       "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":2048,\"Hard\":4096},{\"Name\":\"core\",\"Soft\":-1,"
                       "\"Hard\":-1}]}}";
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        UNIT_SKIP("needs 2 CPUs for NanoCpus=1.5");
    _cleanup_json_ struct json_object *c = build(body, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK(jpi(c, "linux/resources/memory/limit") == 67108864);
    CHECK(jpi(c, "linux/resources/memory/reservation") == 33554432);
    CHECK(jpi(c, "linux/resources/memory/swap") == 2 * 67108864);
    CHECK(json_object_get_boolean(jp(c, "linux/resources/memory/disableOOMKiller")));
    CHECK(jpi(c, "linux/resources/cpu/quota") == 150000 && jpi(c, "linux/resources/cpu/period") == 100000);
    CHECK(jpi(c, "linux/resources/cpu/shares") == 512);
    CHECK_STR(jps(c, "linux/resources/cpu/cpus"), "0");
    CHECK(jpi(c, "linux/resources/pids/limit") == 50);
    CHECK(jpi(c, "linux/resources/blockIO/weight") == 300);
    CHECK(jpi(c, "process/oomScoreAdj") == 100);
    CHECK_STR(jps(c, "process/rlimits/0/type"), "RLIMIT_NOFILE");
    CHECK(jpi(c, "process/rlimits/0/soft") == 2048 && jpi(c, "process/rlimits/0/hard") == 4096);
    CHECK_STR(jps(c, "process/rlimits/1/type"), "RLIMIT_CORE");
    CHECK(json_object_get_uint64(jp(c, "process/rlimits/1/hard")) == UINT64_MAX);
    CHECK(jp(c, "linux/resources/devices/0") && !json_object_get_boolean(jp(c, "linux/resources/devices/0/allow")));
    /* rootless: no cgroup resources (the template's), the optional-cgroup annotation */
    struct build_opts rl = {.rootless = true};
    _cleanup_json_ struct json_object *r = build_with(body, &rl, &err);
    CHECK(r && !jp(r, "linux/resources") && !jp(r, "linux/cgroupsPath"));
    CHECK_STR(r ? jps(r, "annotations/run.moat.cgroup.optional") : NULL, "true");
    CHECK(r && !jp(r, "annotations/a"));
}

static void test_id_maps_and_netns(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build(PY_BODY, &err);
    CHECK(c);
    if (!c)
        return;
    CHECK(json_object_array_length(jp(c, "linux/uidMappings")) == 1);
    CHECK(jpi(c, "linux/uidMappings/0/containerID") == 0 && jpi(c, "linux/uidMappings/0/hostID") == UID_BASE &&
          jpi(c, "linux/uidMappings/0/size") == 65536);
    CHECK(jpi(c, "linux/gidMappings/0/hostID") == UID_BASE);
    CHECK(!jp(c, "annotations/a")); /* labels are not annotations */
    struct build_opts rl = {.rootless = true};
    _cleanup_json_ struct json_object *r = build_with(PY_BODY, &rl, &err);
    CHECK(r && jpi(r, "linux/uidMappings/0/hostID") == (int64_t)geteuid() && jpi(r, "linux/uidMappings/0/size") == 1);
    /* network namespace: a path to join, or the host's (no network entry, /sys bound) */
    struct build_opts ns = {.netns = "/run/netns/moat-x"};
    _cleanup_json_ struct json_object *n = build_with(PY_BODY, &ns, &err);
    bool found = false;
    struct json_object *nss = n ? jp(n, "linux/namespaces") : NULL;
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++)
        if (!strcmp(jps(json_object_array_get_idx(nss, i), "type"), "network")) {
            found = true;
            CHECK_STR(jps(json_object_array_get_idx(nss, i), "path"), "/run/netns/moat-x");
        }
    CHECK(found);
    struct build_opts hn = {.host_network = true};
    _cleanup_json_ struct json_object *h = build_with(PY_BODY, &hn, &err);
    nss = h ? jp(h, "linux/namespaces") : NULL;
    CHECK(nss && json_object_array_length(nss) == 6);
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++)
        CHECK(strcmp(jps(json_object_array_get_idx(nss, i), "type"), "network") != 0);
    CHECK_STR(h ? jps(mount_at(h, "/sys"), "type") : NULL, "bind");
}

static void test_exec_process(void)
{
    _cleanup_free_ char *base = NULL;
    _cleanup_free_ char *root = make_rootfs(&base);
    struct build_opts o = {.rootfs = root};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c =
        build_with("{\"Image\":\"x\",\"Cmd\":[\"sleep\",\"9\"],\"Env\":[\"A=1\"],\"User\":\"app\"}", &o, &err);
    CHECK(c);
    if (!c) {
        rm_tree(base);
        return;
    }
    const char *body = "{\"Cmd\":[\"ls\",\"/\"],\"Env\":[\"A=2\",\"B=3\"],\"User\":\"root\",\"WorkingDir\":\"/tmp\","
                       "\"Tty\":true}";
    struct moat_exec_req *er = NULL;
    CHECK(moat_exec_req_parse(body, strlen(body), &er, &err) == 0);
    _cleanup_json_ struct json_object *p = NULL;
    CHECK(er && moat_spec_exec_process(c, er, &p, &err) == 0);
    if (p) {
        _cleanup_free_ char *args = jpj(p, "args"), *env = jpj(p, "env"), *eff = jpj(p, "capabilities/effective");
        CHECK_STR(args, "ls,/");
        CHECK_STR(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,HOSTNAME=0123456789ab,A=2,B=3");
        CHECK(jpi(p, "user/uid") == 0 && jpi(p, "user/gid") == 0);
        CHECK(strstr(eff, "CAP_KILL") != NULL);
        CHECK_STR(jps(p, "cwd"), "/tmp");
        CHECK(json_object_get_boolean(jp(p, "terminal")) && json_object_get_boolean(jp(p, "noNewPrivileges")));
        CHECK(jp(p, "rlimits/0"));
    }
    if (er) {
        /* admitted by the container's policy (the engine's ctr_admit_op): every capability */
        er->privileged = true;
        json_object_put(p);
        p = NULL;
        CHECK(moat_spec_exec_process(c, er, &p, &err) == 0);
        _cleanup_free_ char *eff = p ? jpj(p, "capabilities/effective") : NULL;
        CHECK(eff && strstr(eff, "CAP_SYS_ADMIN") && strstr(eff, "CAP_NET_ADMIN"));
        CHECK(p && json_object_get_boolean(jp(p, "noNewPrivileges")));
        moat_exec_req_free(er);
    }
    rm_tree(base);
}

/* ---- what the policy allows is built -------------------------------------------------- */

static bool has_ns(struct json_object *c, const char *type)
{
    struct json_object *nss = jp(c, "linux/namespaces");
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++)
        if (!strcmp(jps(json_object_array_get_idx(nss, i), "type"), type))
            return true;
    return false;
}

static bool has_str(struct json_object *arr, const char *s)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s))
            return true;
    return false;
}

static void test_privileged_allowed(void)
{
    _cleanup_policy_ struct moat_policy *wide = wide_policy();
    struct build_opts wo = {.policy = wide};
    _cleanup_error_ moat_error *err = NULL;
    const char *body = "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Privileged\":true,\"CapDrop\":[\"KILL\"]}}";
    _cleanup_json_ struct json_object *c = build_with(body, &wo, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    /* every capability (CapDrop aside, as Docker) in bounding, effective, permitted */
    int last = oci_cap_last();
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
        _cleanup_free_ char *p = xasprintf("process/capabilities/%s", sets[i]);
        CHECK(json_object_array_length(jp(c, p)) == (size_t)last + 1);
        CHECK(has_str(jp(c, p), "CAP_SYS_ADMIN") && has_str(jp(c, p), "CAP_KILL"));
    }
    CHECK(json_object_array_length(jp(c, "process/capabilities/inheritable")) == 0);
    CHECK(json_object_array_length(jp(c, "process/capabilities/ambient")) == 0);
    CHECK(!jp(c, "linux/seccomp"));
    CHECK(jp(c, "linux/maskedPaths") && json_object_array_length(jp(c, "linux/maskedPaths")) == 0);
    CHECK(jp(c, "linux/readonlyPaths") && json_object_array_length(jp(c, "linux/readonlyPaths")) == 0);
    CHECK(!has_str(jp(mount_at(c, "/sys"), "options"), "ro"));
    CHECK(has_str(jp(mount_at(c, "/sys/fs/cgroup"), "options"), "ro"));
    /* still a user namespace, still no_new_privs, no host device added */
    CHECK(has_ns(c, "user") && has_ns(c, "pid") && json_object_get_boolean(jp(c, "process/noNewPrivileges")));
    CHECK(!jp(c, "linux/devices") && json_object_array_length(jp(c, "mounts")) == 7);
    CHECK(jpi(c, "linux/uidMappings/0/hostID") == UID_BASE);
    /* with a profile named, privileged keeps its filter */
    _cleanup_json_ struct json_object *f = build_with(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Privileged\":true,\"SecurityOpt\":[\"seccomp=default\"]}}",
        &wo, &err);
    CHECK(f && jp(f, "linux/seccomp/syscalls"));
    /* the host allows privileged but not unconfined seccomp: refused, with both the reason and the source */
    _cleanup_policy_ struct moat_policy *tight = moat_policy_dup(wide);
    const char *doc = "{\"moatPolicy\": 1, \"seccomp\": {\"unconfined\": false}}";
    _cleanup_policy_ struct moat_policy *layer = NULL;
    CHECK(moat_policy_parse(doc, strlen(doc), "20-filter.json", &layer, &err) == 0);
    CHECK(layer && moat_policy_merge(tight, layer, &err) == 0);
    struct build_opts to = {.policy = tight};
    CHECK(!build_with(body, &to, &err));
    CHECK_ERR_HAS(err, "a privileged container runs without a seccomp filter, which is not allowed (keep one with "
                       "--security-opt seccomp=default) (20-filter.json: /seccomp/unconfined)");
    /* the create check is syntax only: privileged and host modes are the policy's */
    struct moat_create_req *r = NULL;
    const char *hb = "{\"Image\":\"x\",\"HostConfig\":{\"Privileged\":true,\"PidMode\":\"host\",\"IpcMode\":\"host\"}}";
    CHECK(moat_create_req_parse(hb, strlen(hb), &r, &err) == 0);
    CHECK(r && moat_spec_check(r, &err) == 0);
    moat_create_req_free(r);
}

static void test_secopts_allowed(void)
{
    _cleanup_policy_ struct moat_policy *wide = wide_policy();
    struct build_opts wo = {.policy = wide};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"SecurityOpt\":[\"seccomp=unconfined\","
        "\"no-new-privileges=false\",\"apparmor=unconfined\",\"label=type:svirt_t\",\"label=disable\"]}}",
        &wo, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK(!jp(c, "linux/seccomp"));
    CHECK(jp(c, "process/noNewPrivileges") && !json_object_get_boolean(jp(c, "process/noNewPrivileges")));
    CHECK_STR(jps(c, "process/apparmorProfile"), "unconfined");
    CHECK(!jp(c, "process/selinuxLabel"));
    /* the default capabilities and paths stay: only what was asked changes */
    CHECK(json_object_array_length(jp(c, "process/capabilities/bounding")) == 8);
    CHECK(json_object_array_length(jp(c, "linux/maskedPaths")) > 0);
}

static void test_devices_allowed(void)
{
    _cleanup_policy_ struct moat_policy *wide = wide_policy();
    struct build_opts wo = {.policy = wide};
    _cleanup_error_ moat_error *err = NULL;
    const char *body = "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Devices\":[{\"PathOnHost\":\"/dev/null\","
                       "\"PathInContainer\":\"/dev/mydev\",\"CgroupPermissions\":\"rw\"},{\"PathOnHost\":\"/dev/zero\"}]}}";
    _cleanup_json_ struct json_object *c = build_with(body, &wo, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    struct json_object *m = mount_at(c, "/dev/mydev");
    CHECK_STR(m ? jps(m, "type") : NULL, "bind");
    CHECK_STR(m ? jps(m, "source") : NULL, "/dev/null");
    _cleanup_free_ char *o = m ? jpj(m, "options") : NULL;
    CHECK_STR(o, "bind,nosuid,rw");
    CHECK(mount_at(c, "/dev/zero")); /* PathInContainer defaults to PathOnHost */
    /* after the template's /dev tmpfs */
    struct json_object *all = jp(c, "mounts");
    CHECK_STR(jps(all, "1/destination"), "/dev");
    CHECK_STR(jps(all, "7/destination"), "/dev/mydev");
    /* the device cgroup: the template's deny-all, then an allow for each */
    CHECK(!json_object_get_boolean(jp(c, "linux/resources/devices/0/allow")));
    CHECK(json_object_get_boolean(jp(c, "linux/resources/devices/1/allow")));
    CHECK_STR(jps(c, "linux/resources/devices/1/type"), "c");
    CHECK(jpi(c, "linux/resources/devices/1/major") == 1 && jpi(c, "linux/resources/devices/1/minor") == 3);
    CHECK_STR(jps(c, "linux/resources/devices/1/access"), "rw");
    CHECK(jpi(c, "linux/resources/devices/2/minor") == 5);
    CHECK_STR(jps(c, "linux/resources/devices/2/access"), "rwm");
    /* rootless: the bind only (no device cgroup), and permissions it could not enforce are refused */
    struct build_opts rl = {.policy = wide, .rootless = true};
    _cleanup_json_ struct json_object *r = build_with(body, &rl, &err);
    CHECK(r && mount_at(r, "/dev/mydev") && !jp(r, "linux/resources"));
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Devices\":[{\"PathOnHost\":\"/dev/null\","
                      "\"CgroupPermissions\":\"r\"}]}}", &rl, &err));
    CHECK_ERR_HAS(err, "--device /dev/null: permissions 'r' are not supported in rootless mode because a rootless "
                       "container has no device cgroup");
    /* what is wrong with the host's node is said, at create already (moat_spec_check) */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *via_fd = xasprintf("/dev/fd/%d", fd);
    static const struct {
        const char *host, *perms, *msg;
        int errnum;
    } bad[] = {
        {"/dev/moat-no-such-device", "rwm", "--device /dev/moat-no-such-device: the host has no device node at "
                                            "'/dev/moat-no-such-device'", ENOENT},
        {"/dev/shm", "rwm", "--device /dev/shm: '/dev/shm' is not a character or block device", EINVAL},
        {NULL, "rwm", "the path goes through a symbolic link (to '/dev/null'): give the device's own path", EINVAL},
        {"/dev/null", "rwx", "invalid permissions 'rwx'", EINVAL},
        {"dev/null", "rwm", "PathOnHost must be an absolute path", EINVAL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_free_ char *b = xasprintf("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Devices\":[{\"PathOnHost\":"
                                           "\"%s\",\"CgroupPermissions\":\"%s\"}]}}",
                                           bad[i].host ? bad[i].host : via_fd, bad[i].perms);
        struct moat_create_req *req = NULL;
        CHECK(moat_create_req_parse(b, strlen(b), &req, &err) == 0);
        CHECK(req && moat_spec_check(req, &err) < 0);
        CHECK_ERR_HAS(err, bad[i].msg);
        CHECK(err && err->errnum == bad[i].errnum);
        moat_error_free(err);
        err = NULL;
        moat_create_req_free(req);
        if (bad[i].host && bad[i].host[0] == '/') {
            CHECK(!build_with(b, &wo, &err));
            CHECK_ERR_HAS(err, bad[i].msg);
        }
    }
    close(fd);
}

static void test_host_namespaces_allowed(void)
{
    _cleanup_policy_ struct moat_policy *wide = wide_policy();
    struct build_opts wo = {.policy = wide};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *c = build_with(
        "{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"PidMode\":\"host\",\"IpcMode\":\"host\",\"UTSMode\":\"host\","
        "\"CgroupnsMode\":\"host\"}}",
        &wo, &err);
    CHECK(c);
    if (!c) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK(!has_ns(c, "pid") && !has_ns(c, "ipc") && !has_ns(c, "uts") && !has_ns(c, "cgroup"));
    CHECK(has_ns(c, "user") && has_ns(c, "mount") && has_ns(c, "network"));
    CHECK(!jp(c, "hostname"));
    char hn[256] = "";
    gethostname(hn, sizeof hn - 1);
    _cleanup_free_ char *want = xasprintf("HOSTNAME=%s", hn);
    CHECK(has_str(jp(c, "process/env"), want));
    /* /proc stays a proc mount: moat-runtime binds the host's when a fresh one is refused */
    CHECK_STR(jps(mount_at(c, "/proc"), "type"), "proc");
    struct statfs sfs;
    if (statfs("/dev/shm", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
        CHECK_STR(jps(mount_at(c, "/dev/shm"), "type"), "bind");
        CHECK_STR(jps(mount_at(c, "/dev/shm"), "source"), "/dev/shm");
    }
    if (statfs("/dev/mqueue", &sfs) == 0 && sfs.f_type == 0x19800202)
        CHECK_STR(jps(mount_at(c, "/dev/mqueue"), "type"), "bind");
    else
        CHECK(!mount_at(c, "/dev/mqueue"));
    /* kernel rules and syntax stay, whatever the policy */
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"Hostname\":\"box\",\"HostConfig\":{\"UTSMode\":\"host\"}}",
                      &wo, &err));
    CHECK_ERR_HAS(err, "Conflicting options: hostname and the UTS mode");
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"IpcMode\":\"host\",\"Sysctls\":"
                      "{\"kernel.shmmax\":\"1\"}}}", &wo, &err));
    CHECK_ERR_HAS(err, "sysctl 'kernel.shmmax' is not allowed with the host's ipc namespace");
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"PidMode\":\"container:abc\"}}", &wo, &err));
    CHECK_ERR_HAS(err, "HostConfig.PidMode: 'container:abc' is not supported");
    CHECK(err && err->errnum == EINVAL);
    /* the user namespace is never optional */
    CHECK(!build_with("{\"Image\":\"x\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"UsernsMode\":\"host\"}}", &wo, &err));
    CHECK_ERR_HAS(err, "a user namespace is required (privileged.json: /userNamespace/required)");
}

static const struct unit_test spec_tests[] = {
    UNIT_TEST(test_cli_and_py_bodies),   UNIT_TEST(test_type_errors),        UNIT_TEST(test_exec_body),
    UNIT_TEST(test_bind_grammar),        UNIT_TEST(test_default_caps),       UNIT_TEST(test_cap_add_drop),
    UNIT_TEST(test_security_opts),       UNIT_TEST(test_refusals),           UNIT_TEST(test_args_rules),
    UNIT_TEST(test_env_cwd_hostname),    UNIT_TEST(test_user_resolution),    UNIT_TEST(test_mounts_tmpfs_readonly),
    UNIT_TEST(test_resources),           UNIT_TEST(test_id_maps_and_netns),  UNIT_TEST(test_rootless_overlay),  UNIT_TEST(test_exec_process),
    UNIT_TEST(test_privileged_allowed),  UNIT_TEST(test_secopts_allowed),    UNIT_TEST(test_devices_allowed),
    UNIT_TEST(test_host_namespaces_allowed),
    UNIT_END,
};
UNIT_SUITE(spec, spec_tests);
