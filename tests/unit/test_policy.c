/* Policy (src/policy): parsing with file/line errors, the built-ins, merging
 * (tighten works, widen is refused), the host directory and scopes, and
 * evaluation: each rule type allowing and denying. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "moat/json.h"
#include "moat/policy.h"
#include "moat/spec.h"
#include "moat/util.h"
#include "unit.h"

static struct moat_policy *parse(const char *doc, moat_error **err)
{
    struct moat_policy *p = NULL;
    if (moat_policy_parse(doc, strlen(doc), "t.json", &p, err) < 0)
        return NULL;
    return p;
}

/* baseline + one layer (NULL on a merge error, kept in *err) */
static struct moat_policy *over_baseline(const char *doc, moat_error **err)
{
    struct moat_policy *eff = moat_policy_dup(moat_policy_default());
    _cleanup_policy_ struct moat_policy *l = parse(doc, err);
    if (!l || moat_policy_merge(eff, l, err) < 0) {
        moat_policy_free(eff);
        return NULL;
    }
    return eff;
}

static void test_policy_builtins(void)
{
    const char *names[] = {"privileged", "baseline", "restricted"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_error_ moat_error *err = NULL;
        _cleanup_policy_ struct moat_policy *p = NULL;
        CHECK(moat_policy_builtin(names[i], &p, &err) == 0);
        /* a built-in sets every rule: it is a complete base */
        CHECK(p && p->set == (UINT64_C(1) << POL_N) - 1);
        CHECK_STR(p ? p->name : NULL, names[i]);
    }
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_policy_ struct moat_policy *p = NULL;
    CHECK(moat_policy_builtin("nope", &p, &err) < 0 && err->errnum == ENOENT);
    /* baseline is tighter than privileged; restricted tighter than baseline */
    _cleanup_policy_ struct moat_policy *priv = NULL, *base = NULL, *restr = NULL;
    moat_error *e2 = NULL;
    CHECK(moat_policy_builtin("privileged", &priv, &e2) == 0 && moat_policy_builtin("baseline", &base, &e2) == 0 &&
          moat_policy_builtin("restricted", &restr, &e2) == 0);
    CHECK(priv && base && moat_policy_merge(priv, base, &e2) == 0);
    CHECK(priv && restr && moat_policy_merge(priv, restr, &e2) == 0);
    if (e2)
        fprintf(stderr, "    %s\n", e2->msg);
    moat_error_free(e2);
    /* the default's capabilities are moat's 8 */
    uint64_t m = moat_policy_caps_default(moat_policy_default());
    CHECK(__builtin_popcountll(m) == 8);
    CHECK_STR(moat_policy_seccomp_default(moat_policy_default()), "default");
    CHECK(moat_policy_pids_default(moat_policy_default()) == 1024);
}

static void test_policy_parse_errors(void)
{
    static const struct {
        const char *doc, *msg;
    } bad[] = {
        {"{\"moatPolicy\": 1,\n \"privileged\": \"yes\"}", "t.json:2: /privileged: expected true or false"},
        {"{\"moatPolicy\": 2}", "t.json:1: /moatPolicy: version 2 is not supported"},
        {"{\"privileged\": false}", "\"moatPolicy\": 1 is missing"},
        {"{\"moatPolicy\": 1,\n\n \"capabilites\": {}}", "t.json:3: /capabilites: unknown key 'capabilites'"},
        {"{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"FLY\"]}}", "unknown capability \"FLY\""},
        {"{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"KILL\"], \"default\": [\"CHOWN\"]}}",
         "/capabilities/default: CAP_CHOWN is a default but not in /capabilities/allowed"},
        {"{\"moatPolicy\": 1, \"seccomp\": {\"profiles\": [\"restricted\"], \"default\": \"default\"}}",
         "'default' is not among /seccomp/profiles"},
        {"{\"moatPolicy\": 1, \"resources\": {\"pids\": {\"max\": 10, \"default\": 100}}}", "is above"},
        {"{\"moatPolicy\": 1, \"network\": {\"modes\": [\"wifi\"]}}", "'wifi' is not a valid network mode"},
        {"{\"moatPolicy\": 1, \"network\": {\"publishPorts\": [\"80-70\"]}}", "is not a port or a range"},
        {"{\"moatPolicy\": 1, \"mounts\": {\"hostBinds\": [{\"prefix\": \"srv\"}]}}", "expected a clean absolute path"},
        {"{\"moatPolicy\": 1, \"mounts\": {\"hostBinds\": [{\"prefix\": \"/a/../b\"}]}}",
         "expected a clean absolute path"},
        {"{\"moatPolicy\": 1, \"userNamespace\": {\"required\": false}}", "false is not supported"},
        {"{\"moatPolicy\": 1, \"base\": \"wide-open\"}", "not a built-in profile"},
        {"{\"moatPolicy\": 1, \"scope\": {}}", "an empty scope matches nobody"},
        {"{\"moatPolicy\": 1, \"images\": {\"requireSigned\": true}}", "expected \"never\", \"registry\" or \"always\""},
        {"{\"moatPolicy\": 1,\n \"resources\": {\"memory\": {\"max\": \"lots\"}}}", "t.json:2: /resources/memory/max"},
        {"[1]", "a policy is a JSON object"},
        {"{\"moatPolicy\": 1,,}", "t.json: line 1 column"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_error_ moat_error *err = NULL;
        struct moat_policy *p = parse(bad[i].doc, &err);
        CHECK(!p);
        moat_policy_free(p);
        CHECK_ERR_HAS(err, bad[i].msg);
    }
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_policy_ struct moat_policy *p =
        parse("{\"moatPolicy\": 1, \"resources\": {\"memory\": {\"max\": \"512m\"}, \"cpus\": {\"max\": 1.5}}}", &err);
    CHECK(p && p->n[POL_MEMORY_MAX] == 512 << 20 && p->n[POL_CPUS_MAX] == 1500000000);
    CHECK(p && p->set == ((UINT64_C(1) << POL_MEMORY_MAX) | (UINT64_C(1) << POL_CPUS_MAX)));
}

static void test_policy_tighten_and_widen(void)
{
    _cleanup_error_ moat_error *err = NULL;
    /* tightening works and takes the narrower source */
    _cleanup_policy_ struct moat_policy *t = over_baseline(
        "{\"moatPolicy\": 1, \"name\": \"site\", \"capabilities\": {\"allowed\": [\"CHOWN\", \"KILL\"]},"
        " \"resources\": {\"memory\": {\"max\": \"1g\"}}, \"exec\": false}",
        &err);
    CHECK(t);
    if (!t)
        return;
    CHECK(__builtin_popcountll((uint64_t)t->n[POL_CAPS_ALLOWED]) == 2);
    /* the default set follows what is still allowed */
    CHECK(__builtin_popcountll(moat_policy_caps_default(t)) == 2);
    CHECK_STR(t->src[POL_CAPS_ALLOWED].file, "t.json");
    CHECK_STR(t->src[POL_PRIVILEGED].file, "baseline.json");
    CHECK(!t->b[POL_EXEC]);
    /* widening is refused, naming both places */
    static const struct {
        const char *doc, *msg;
    } wide[] = {
        {"{\"moatPolicy\": 1, \"privileged\": true}", "/privileged: would widen the policy in force"},
        {"{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"NET_ADMIN\"]}}", "capability NET_ADMIN"},
        {"{\"moatPolicy\": 1, \"noNewPrivileges\": false}", "it stops requiring no_new_privs"},
        {"{\"moatPolicy\": 1, \"seccomp\": {\"unconfined\": true}}", "it allows seccomp=unconfined"},
        {"{\"moatPolicy\": 1, \"devices\": [\"/dev/kvm\"]}", "device '/dev/kvm'"},
        {"{\"moatPolicy\": 1, \"resources\": {\"memory\": {\"max\": \"2g\"}}}", "a higher maximum"},
        {"{\"moatPolicy\": 1, \"resources\": {\"memory\": {\"max\": 0}}}", "no maximum"},
        {"{\"moatPolicy\": 1, \"images\": {\"requireSigned\": \"never\"}}", "'never' instead of 'registry'"},
        {"{\"moatPolicy\": 1, \"sysctls\": [\"kernel.*\"]}", "sysctl 'kernel.*'"},
        {"{\"moatPolicy\": 1, \"exec\": true}", "it allows exec"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(wide); i++) {
        _cleanup_error_ moat_error *e2 = NULL;
        _cleanup_policy_ struct moat_policy *l = parse(wide[i].doc, &e2);
        CHECK(l);
        if (!l)
            continue;
        _cleanup_policy_ struct moat_policy *eff = moat_policy_dup(t);
        CHECK(moat_policy_merge(eff, l, &e2) < 0);
        CHECK_ERR_HAS(e2, wide[i].msg);
        CHECK(e2 && e2->errnum == EPERM);
    }
    /* restricted over privileged: fine; privileged over baseline: widening */
    _cleanup_policy_ struct moat_policy *eff = moat_policy_dup(moat_policy_default());
    _cleanup_policy_ struct moat_policy *priv = NULL;
    CHECK(moat_policy_builtin("privileged", &priv, &err) == 0);
    CHECK(priv && moat_policy_merge(eff, priv, &err) < 0);
    CHECK_ERR_HAS(err, "privileged.json");
    /* binds: a read-only prefix stays read-only; ports stay inside */
    _cleanup_error_ moat_error *e3 = NULL;
    _cleanup_policy_ struct moat_policy *b =
        over_baseline("{\"moatPolicy\": 1, \"mounts\": {\"hostBinds\": [{\"prefix\": \"/srv\", \"readOnly\": true}]},"
                      " \"network\": {\"publishPorts\": [\"8000-8099\"]}}",
                      &e3);
    CHECK(b);
    _cleanup_policy_ struct moat_policy *b2 =
        b ? parse("{\"moatPolicy\": 1, \"mounts\": {\"hostBinds\": [{\"prefix\": \"/srv/data\"}]}}", &e3) : NULL;
    CHECK(b2 && moat_policy_merge(b, b2, &e3) < 0);
    CHECK_ERR_HAS(e3, "read-write of /srv/data");
}

static struct moat_create_req *req(const char *body)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_create_req *r = NULL;
    if (moat_create_req_parse(body, strlen(body), &r, &err) < 0) {
        fprintf(stderr, "    parse %s: %s\n", body, err->msg);
        return NULL;
    }
    return r;
}

/* The reasons of evaluating body under p, joined ("" when allowed). */
static char *eval(const struct moat_policy *p, const char *hc, const char *user)
{
    _cleanup_free_ char *body = xasprintf("{\"Image\":\"busybox\",\"User\":\"%s\",\"HostConfig\":{%s}}", user, hc);
    struct moat_create_req *r = req(body);
    if (!r)
        return xstrdup("(parse error)");
    char *const engine[] = {"/run/moat/moat.sock", "/var/lib/moat", NULL};
    struct moat_policy_input in = {.req = r, .image_name = "docker.io/library/busybox:latest",
                                   .image_id = "sha256:0123", .engine_paths = engine};
    _cleanup_strv_ char **reasons = moat_policy_eval_create(p, &in);
    moat_create_req_free(r);
    _cleanup_error_ moat_error *err = NULL;
    if (!reasons)
        return xstrdup("");
    moat_policy_deny(&err, reasons);
    return xstrdup(err->msg);
}

#define ALLOWS(p, hc, user)                                                                        \
    do {                                                                                           \
        _cleanup_free_ char *r_ = eval(p, hc, user);                                               \
        if (r_[0]) {                                                                               \
            fprintf(stderr, "    %s:%d: {%s} denied: %s\n", __FILE__, __LINE__, hc, r_);           \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)
#define DENIES(p, hc, user, needle)                                                                \
    do {                                                                                           \
        _cleanup_free_ char *r_ = eval(p, hc, user);                                               \
        if (!strstr(r_, needle) || strncmp(r_, "denied by policy: ", 18)) {                        \
            fprintf(stderr, "    %s:%d: {%s}: '%s' lacks '%s'\n", __FILE__, __LINE__, hc, r_, needle); \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

static void test_policy_eval_rules(void)
{
    const struct moat_policy *b = moat_policy_default();
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_policy_ struct moat_policy *r = NULL;
    CHECK(moat_policy_builtin("restricted", &r, &err) == 0);
    if (!r)
        return;
    /* baseline allows a plain container, and what Docker users do every day */
    ALLOWS(b, "", "");
    ALLOWS(b, "\"Binds\":[\"/srv:/srv\"],\"Memory\":67108864,\"PidsLimit\":50", "");
    ALLOWS(b, "\"CapAdd\":[\"SYS_CHROOT\"],\"SecurityOpt\":[\"seccomp=restricted\"]", "");
    ALLOWS(b, "\"NetworkMode\":\"host\"", "");
    /* baseline denials, each naming its rule */
    DENIES(b, "\"Privileged\":true", "", "privileged containers are not allowed (baseline.json: /privileged)");
    DENIES(b, "\"CapAdd\":[\"NET_ADMIN\"]", "",
           "capability NET_ADMIN is not allowed (baseline.json: /capabilities/allowed)");
    DENIES(b, "\"CapAdd\":[\"ALL\"]", "", "are not allowed (baseline.json: /capabilities/allowed)");
    DENIES(b, "\"SecurityOpt\":[\"seccomp=unconfined\"]", "", "(baseline.json: /seccomp/unconfined)");
    DENIES(b, "\"SecurityOpt\":[\"no-new-privileges=false\"]", "", "(baseline.json: /noNewPrivileges)");
    DENIES(b, "\"SecurityOpt\":[\"apparmor=unconfined\"]", "", "/apparmor/unconfined");
    DENIES(b, "\"SecurityOpt\":[\"label=disable\"]", "", "/selinux/disable");
    DENIES(b, "\"PidMode\":\"host\"", "", "PidMode=host is not allowed");
    DENIES(b, "\"UsernsMode\":\"host\"", "", "UsernsMode=host is not allowed");
    DENIES(b, "\"Binds\":[\"/proc:/p\"]", "", "bind mount of /proc is not allowed");
    DENIES(b, "\"Binds\":[\"/:/host\"]", "", "bind mount of / is not allowed");
    DENIES(b, "\"Binds\":[\"/var/lib/moat/x:/x\"]", "", "the engine's own files are there");
    DENIES(b, "\"Binds\":[\"/var:/x\"]", "", "the engine's own files are under it");
    DENIES(b, "\"PidsLimit\":-1", "", "a pids limit is required");
    DENIES(b, "\"Sysctls\":{\"kernel.panic\":\"1\"}", "", "sysctl 'kernel.panic' is not allowed");
    DENIES(b, "\"Devices\":[{\"PathOnHost\":\"/dev/kvm\",\"PathInContainer\":\"/dev/kvm\"}]", "",
           "host device /dev/kvm is not allowed");
    /* every reason at once */
    {
        _cleanup_free_ char *s = eval(b, "\"Privileged\":true,\"CapAdd\":[\"NET_ADMIN\"],\"PidMode\":\"host\"", "");
        CHECK(strstr(s, "privileged") && strstr(s, "NET_ADMIN") && strstr(s, "PidMode"));
    }
    /* the privileged base allows what moat's privileged needs; a narrower host layer takes it back, per rule */
    {
        _cleanup_policy_ struct moat_policy *w = NULL;
        CHECK(moat_policy_builtin("privileged", &w, &err) == 0);
        if (w) {
            ALLOWS(w, "\"Privileged\":true,\"PidMode\":\"host\",\"IpcMode\":\"host\",\"UTSMode\":\"host\","
                      "\"CgroupnsMode\":\"host\",\"Devices\":[{\"PathOnHost\":\"/dev/null\"}],\"SecurityOpt\":["
                      "\"seccomp=unconfined\",\"no-new-privileges=false\",\"apparmor=unconfined\",\"label=disable\"]", "");
            DENIES(w, "\"UsernsMode\":\"host\"", "", "a user namespace is required (privileged.json: /userNamespace/required)");
            _cleanup_policy_ struct moat_policy *nc = moat_policy_dup(w), *ns = moat_policy_dup(w), *nd = moat_policy_dup(w);
            _cleanup_policy_ struct moat_policy *l1 = parse("{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"CHOWN\"], "
                                                           "\"default\": [\"CHOWN\"]}}", &err);
            _cleanup_policy_ struct moat_policy *l2 = parse("{\"moatPolicy\": 1, \"seccomp\": {\"unconfined\": false}}", &err);
            _cleanup_policy_ struct moat_policy *l3 = parse("{\"moatPolicy\": 1, \"devices\": [\"/dev/snd/*\"]}", &err);
            CHECK(l1 && l2 && l3 && moat_policy_merge(nc, l1, &err) == 0 && moat_policy_merge(ns, l2, &err) == 0 &&
                  moat_policy_merge(nd, l3, &err) == 0);
            DENIES(nc, "\"Privileged\":true", "", "a privileged container holds every capability, and not all are "
                                                  "allowed (t.json: /capabilities/allowed)");
            DENIES(ns, "\"Privileged\":true", "", "a privileged container runs without a seccomp filter, which is not "
                                                  "allowed (keep one with --security-opt seccomp=default) (t.json: "
                                                  "/seccomp/unconfined)");
            ALLOWS(ns, "\"Privileged\":true,\"SecurityOpt\":[\"seccomp=default\"]", "");
            /* device paths are matched cleaned: ".." can't leave a pattern's directory */
            ALLOWS(nd, "\"Devices\":[{\"PathOnHost\":\"/dev/snd/timer\"}]", "");
            DENIES(nd, "\"Devices\":[{\"PathOnHost\":\"/dev/snd/../sda\"}]", "",
                   "host device /dev/sda is not allowed (t.json: /devices)");
            DENIES(nd, "\"Devices\":[{\"PathOnHost\":\"/dev/snd//../../etc/shadow\"}]", "", "host device /etc/shadow");
        }
    }
    /* restricted: what the issue lists */
    ALLOWS(r, "\"ReadonlyRootfs\":true,\"CapDrop\":[\"ALL\"]", "1000");
    ALLOWS(r, "\"ReadonlyRootfs\":true", "1000:1000");
    DENIES(r, "\"ReadonlyRootfs\":true,\"Privileged\":true", "1000", "(restricted.json: /privileged)");
    DENIES(r, "\"ReadonlyRootfs\":true,\"NetworkMode\":\"host\"", "1000",
           "network mode host is not allowed (restricted.json: /network/modes)");
    DENIES(r, "\"ReadonlyRootfs\":true,\"CapAdd\":[\"NET_BIND_SERVICE\"]", "1000",
           "capability NET_BIND_SERVICE is not allowed (restricted.json: /capabilities/allowed)");
    DENIES(r, "\"ReadonlyRootfs\":true", "", "would run as root");
    DENIES(r, "\"ReadonlyRootfs\":true", "root", "(restricted.json: /runAsNonRoot)");
    DENIES(r, "\"ReadonlyRootfs\":true", "0:0", "/runAsNonRoot");
    DENIES(r, "", "1000", "a read-only root filesystem is required (restricted.json: /readOnlyRootfs)");
    DENIES(r, "\"ReadonlyRootfs\":true,\"Binds\":[\"/srv:/srv:ro\"]", "1000",
           "bind mount of host path /srv is not allowed (restricted.json: /mounts/hostBinds)");
    DENIES(r, "\"ReadonlyRootfs\":true,\"SecurityOpt\":[\"seccomp=default\"]", "1000",
           "seccomp profile 'default' is not allowed (restricted.json: /seccomp/profiles)");
    DENIES(r, "\"ReadonlyRootfs\":true,\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"80\"}]}", "1000",
           "publishing host port 80");
    /* a site policy: images, read-only binds, limits */
    _cleanup_policy_ struct moat_policy *s = over_baseline(
        "{\"moatPolicy\": 1, \"images\": {\"allow\": [\"docker.io/library/*\"]},"
        " \"mounts\": {\"hostBinds\": [{\"prefix\": \"/srv\", \"readOnly\": true}], \"volumes\": false},"
        " \"resources\": {\"memory\": {\"max\": \"1g\", \"required\": true}, \"cpus\": {\"max\": 1}, \"pids\": {\"max\": 100}},"
        " \"network\": {\"modes\": [\"none\"]}}",
        &err);
    CHECK(s);
    if (!s)
        return;
    ALLOWS(s, "\"Memory\":67108864,\"NanoCpus\":500000000,\"Binds\":[\"/srv/a:/a:ro\"]", "");
    /* a maximum means a limit must be given: unlimited is above any maximum */
    DENIES(s, "\"Memory\":67108864", "", "a CPU limit (--cpus) is required (t.json: /resources/cpus/max)");
    DENIES(s, "\"Memory\":67108864,\"Binds\":[\"/srv/a:/a\"]", "", "must be read-only");
    DENIES(s, "\"Memory\":67108864,\"Binds\":[\"/etc:/a:ro\"]", "", "host path /etc is not allowed (t.json: /mounts/hostBinds)");
    DENIES(s, "", "", "a memory limit (-m) of at most 1GiB is required");
    DENIES(s, "\"Memory\":4294967296", "", "memory limit 4GiB is above the maximum 1GiB");
    DENIES(s, "\"Memory\":67108864,\"NanoCpus\":2000000000", "", "CPU limit 2.00 is above the maximum 1.00");
    DENIES(s, "\"Memory\":67108864,\"PidsLimit\":1000", "", "pids limit 1000 is above the maximum 100");
    DENIES(s, "\"Memory\":67108864,\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/v\"}]", "",
           "volumes are not allowed");
    DENIES(s, "\"Memory\":67108864,\"NetworkMode\":\"bridge\"", "", "network mode bridge is not allowed");
    {
        /* the image patterns */
        struct moat_create_req *q = req("{\"Image\":\"quay.io/x/y\",\"HostConfig\":{\"Memory\":67108864}}");
        struct moat_policy_input in = {.req = q, .image_name = "quay.io/x/y:latest", .image_id = "sha256:ab"};
        _cleanup_strv_ char **rs = q ? moat_policy_eval_create(s, &in) : NULL;
        CHECK(rs && rs[0] && strstr(rs[0], "image quay.io/x/y:latest is not allowed (t.json: /images/allow)"));
        moat_create_req_free(q);
    }
    /* exec, cp, update */
    struct moat_exec_req er = {.user = (char *)"root"};
    _cleanup_strv_ char **x1 = moat_policy_eval_exec(r, &er, "1000");
    CHECK(x1 && strstr(x1[0], "exec as root"));
    er.user = NULL;
    _cleanup_strv_ char **x2 = moat_policy_eval_exec(r, &er, "1000");
    CHECK(!x2);
    _cleanup_policy_ struct moat_policy *noexec = over_baseline("{\"moatPolicy\": 1, \"exec\": false, \"cp\": false}", &err);
    _cleanup_strv_ char **x3 = noexec ? moat_policy_eval_exec(noexec, &er, "") : NULL;
    CHECK(x3 && strstr(x3[0], "exec is not allowed (t.json: /exec)"));
    _cleanup_strv_ char **x4 = noexec ? moat_policy_eval_simple(noexec, POL_CP, "cp") : NULL;
    CHECK(x4 && strstr(x4[0], "cp is not allowed (t.json: /cp)"));
    _cleanup_strv_ char **u1 = moat_policy_eval_update(s, INT64_C(8) << 30, 0, 0);
    CHECK(u1 && strstr(u1[0], "above the maximum"));
    _cleanup_strv_ char **u2 = moat_policy_eval_update(s, 0, 50, 0);
    CHECK(!u2);
    _cleanup_strv_ char **u3 = moat_policy_eval_update(b, 0, -1, 0);
    CHECK(u3 && strstr(u3[0], "a pids limit is required"));
}

static void write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_policy_dir_and_scope(void)
{
    char dir[] = "/tmp/moat-unit-pol-XXXXXX";
    CHECK(mkdtemp(dir));
    _cleanup_error_ moat_error *err = NULL;
    struct moat_policy_set *s = NULL;
    /* a missing or empty directory: baseline */
    _cleanup_free_ char *missing = xasprintf("%s/none", dir);
    CHECK(moat_policy_set_load(missing, &s, &err) == 0);
    CHECK(s && s->host && !strcmp(s->host->layers[0], "baseline.json"));
    moat_policy_set_free(s);
    s = NULL;
    write_file(dir, "10-site.json", "{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"CHOWN\", \"KILL\", \"SETUID\"]}}");
    write_file(dir, "20-uid1000.json",
               "{\"moatPolicy\": 1, \"scope\": {\"uids\": [1000]}, \"exec\": false}");
    write_file(dir, "README", "not a policy");
    CHECK(moat_policy_set_load(dir, &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "    %s\n", err ? err->msg : "?");
        return;
    }
    struct moat_identity root = {.uid = 0}, u1000 = {.uid = 1000};
    _cleanup_policy_ struct moat_policy *p0 = NULL, *p1 = NULL, *pc = NULL, *pw = NULL;
    CHECK(moat_policy_for(s, &root, NULL, &p0, &err) == 0 && p0->b[POL_EXEC]);
    CHECK(moat_policy_for(s, &u1000, NULL, &p1, &err) == 0 && !p1->b[POL_EXEC]);
    CHECK(p1 && moat_strv_len(p1->layers) == 3);
    /* the per-container layer: restricted tightens; a document that widens is refused */
    CHECK(moat_policy_for(s, &root, "restricted", &pc, &err) == 0 && pc->b[POL_READONLY_ROOTFS]);
    CHECK(moat_policy_for(s, &root, "{\"moatPolicy\": 1, \"capabilities\": {\"allowed\": [\"NET_RAW\"]}}", &pw,
                          &err) < 0);
    CHECK_ERR_HAS(err, "capability NET_RAW");
    CHECK_ERR_HAS(err, "10-site.json");
    moat_policy_set_free(s);
    s = NULL;
    /* a host file that widens the base, a contradiction between files */
    write_file(dir, "30-wide.json", "{\"moatPolicy\": 1, \"privileged\": true}");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_policy_set_load(dir, &s, &err) < 0);
    CHECK_ERR_HAS(err, "30-wide.json:1: /privileged: would widen");
    /* ... unless the host chooses the privileged base and tightens from there */
    write_file(dir, "00-base.json", "{\"moatPolicy\": 1, \"base\": \"privileged\"}");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_policy_set_load(dir, &s, &err) == 0);
    CHECK(s && s->host->b[POL_PRIVILEGED]);
    moat_policy_set_free(s);
    s = NULL;
    write_file(dir, "40-bad.json", "{\"moatPolicy\": 1,\n  \"exec\": 1}");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_policy_set_load(dir, &s, &err) < 0);
    CHECK_ERR_HAS(err, "40-bad.json:2: /exec: expected true or false");
    const char *names[] = {"00-base.json", "10-site.json", "20-uid1000.json", "30-wide.json", "40-bad.json", "README"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void test_policy_json_and_digest(void)
{
    _cleanup_json_ struct json_object *o = moat_policy_to_json(moat_policy_default(), true);
    struct json_object *v = NULL, *s = NULL;
    CHECK(json_object_object_get_ex(o, "privileged", &v) && !json_object_get_boolean(v));
    CHECK(json_object_object_get_ex(o, "sources", &s) && json_object_object_get_ex(s, "/privileged", &v));
    CHECK(v && strstr(json_object_get_string(v), "baseline.json:"));
    /* the shown document parses back to the same rules */
    const char *txt = json_object_to_json_string(o);
    _cleanup_json_ struct json_object *o2 = NULL;
    moat_error *err = NULL;
    CHECK(moat_json_parse(txt, strlen(txt), 1 << 20, "x", &o2, &err) == 0);
    json_object_object_del(o2, "sources");
    json_object_object_del(o2, "layers");
    const char *t2 = json_object_to_json_string(o2);
    _cleanup_policy_ struct moat_policy *back = parse(t2, &err);
    CHECK(back);
    _cleanup_free_ char *d1 = moat_policy_digest(moat_policy_default());
    _cleanup_free_ char *d2 = back ? moat_policy_digest(back) : NULL;
    CHECK_STR(d1, d2);
    if (err)
        fprintf(stderr, "    %s\n", err->msg);
    moat_error_free(err);
    CHECK(moat_policy_user_is_root("") && moat_policy_user_is_root("root:1") && moat_policy_user_is_root("00") &&
          !moat_policy_user_is_root("1000") && !moat_policy_user_is_root("nobody") && !moat_policy_user_is_root("10"));
}

/* Sockets and the other engines' paths: a bind of an API socket (Docker's, containerd's, another
 * moatd's) hands the container the host, so baseline refuses it unless /mounts/sockets allows
 * it; "@engines" refuses the well-known engine paths and the directories above them. */
static void test_policy_sockets_engines(void)
{
    const struct moat_policy *b = moat_policy_default();
    char dir[] = "/tmp/moat-unit-sock-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    _cleanup_free_ char *sock = xasprintf("%s/api.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    _cleanup_free_ char *hc = xasprintf("\"Binds\":[\"%s:/s\"]", sock);
    DENIES(b, hc, "", "bind mount of /tmp/moat-unit-sock-");
    DENIES(b, hc, "", "it is a socket (baseline.json: /mounts/sockets)");
    _cleanup_free_ char *hd = xasprintf("\"Binds\":[\"%s:/d:ro\"]", dir);
    ALLOWS(b, hd, ""); /* the directory holding it is not itself a socket */
    _cleanup_policy_ struct moat_policy *priv = NULL;
    moat_error *e2 = NULL;
    CHECK(moat_policy_builtin("privileged", &priv, &e2) == 0);
    moat_error_free(e2);
    if (priv)
        ALLOWS(priv, hc, "");
    DENIES(b, "\"Binds\":[\"/run/docker.sock:/var/run/docker.sock\"]", "",
           "/run/docker.sock is not allowed: it is /run/docker.sock a container engine's (baseline.json: /mounts/forbidden)");
    DENIES(b, "\"Binds\":[\"/var/lib/containers/storage:/s\"]", "", "it is /var/lib/containers");
    DENIES(b, "\"Binds\":[\"/run:/r\"]", "", "bind mount of /run is not allowed: it holds /run/docker.sock");
    DENIES(b, "\"Binds\":[\"/var/./lib/:/r\"]", "", "bind mount of /var/lib is not allowed: it holds");
    ALLOWS(b, "\"Binds\":[\"/run/user-data-not-an-engine:/r\"]", "");
    /* widening sockets over baseline is refused */
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_policy_ struct moat_policy *w =
        over_baseline("{\"moatPolicy\": 1, \"mounts\": {\"sockets\": true}}", &err);
    CHECK(!w && err && err->errnum == EPERM && strstr(err->msg, "/mounts/sockets: would widen"));
    if (fd >= 0)
        close(fd);
    unlink(sock);
    rmdir(dir);
}

static const struct unit_test policy_tests[] = {
    UNIT_TEST(test_policy_builtins),
    UNIT_TEST(test_policy_parse_errors),
    UNIT_TEST(test_policy_tighten_and_widen),
    UNIT_TEST(test_policy_eval_rules),
    UNIT_TEST(test_policy_dir_and_scope),
    UNIT_TEST(test_policy_json_and_digest),
    UNIT_TEST(test_policy_sockets_engines),
    UNIT_END,
};
UNIT_SUITE(policy, policy_tests);
