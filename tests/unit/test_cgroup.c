/* cgroup module: parsers, path resolution, state JSON and the device
 * program are pure logic and run everywhere; the live tests need root and
 * create (and always remove) uniquely named cgroups on this host. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moat/cgroup.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/oci.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"
#include "runtime/seccomp_internal.h" /* moat_kernel_version */
#include "unit.h"

/* ---- synthetic hosts ------------------------------------------------------- */

/* This machine: v1 controllers, cgroup2 at /sys/fs/cgroup/unified (hugetlb). */
static const char *mi_hybrid =
    "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
    "23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
static const char *pc_hybrid = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
                               "4:memory:/process_api/74d0\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

/* A classic systemd v1 host (Debian 10): combined hierarchies, optional
 * fields, a second mount of the memory hierarchy elsewhere, escapes. */
static const char *mi_v1 =
    "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 26 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:14 - cgroup cgroup rw,net_cls,net_prio\n"
    "32 26 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
    "33 26 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids\n"
    "34 26 0:31 / /sys/fs/cgroup/devices rw shared:17 - cgroup cgroup rw,devices\n"
    "35 26 0:32 / /sys/fs/cgroup/freezer rw shared:18 - cgroup cgroup rw,freezer\n"
    "36 26 0:33 / /sys/fs/cgroup/blkio rw shared:19 - cgroup cgroup rw,blkio\n"
    "37 26 0:34 / /sys/fs/cgroup/cpuset rw shared:20 - cgroup cgroup rw,cpuset,clone_children\n"
    "38 26 0:35 / /sys/fs/cgroup/hugetlb rw shared:21 - cgroup cgroup rw,hugetlb\n"
    "39 26 0:36 / /sys/fs/cgroup/perf_event rw shared:22 - cgroup cgroup rw,perf_event\n"
    "40 25 0:29 /docker /mnt/with\\040space rw shared:23 - cgroup cgroup rw,memory\n"
    "41 26 0:29 / /sys/fs/cgroup/memory2 rw shared:24 - cgroup cgroup rw,memory\n";
static const char *pc_v1 = "12:hugetlb:/\n11:cpuset:/\n10:blkio:/user.slice\n9:freezer:/\n8:devices:/user.slice\n"
                           "7:pids:/user.slice/user-1000.slice/session-2.scope\n6:memory:/user.slice\n"
                           "5:net_cls,net_prio:/\n4:cpu,cpuacct:/user.slice\n3:perf_event:/\n"
                           "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n";

/* Pure cgroup v2 at /sys/fs/cgroup. */
static const char *mi_v2 = "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                           "26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
                           "rw,nsdelegate,memory_recursiveprot\n";
static const char *pc_v2 = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope\n";

static int find_hier(const struct cg_layout *l, const char *mount)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->h[i].mount, mount) == 0)
            return (int)i;
    return -1;
}

static void test_mountinfo_hybrid(void)
{
    struct cg_layout l;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_parse_mountinfo(mi_hybrid, &l, &err) == 0);
    CHECK(l.n == 10);
    CHECK_STR(cg_layout_kind(&l), "hybrid");
    CHECK(l.v2 >= 0 && strcmp(l.h[l.v2].mount, "/sys/fs/cgroup/unified") == 0);
    cg_layout_set_v2_controllers(&l, "hugetlb\n");
    CHECK(l.h[l.v2].ctrls == CG_BIT(CG_HUGETLB)); /* devices, freezer, cpuacct stay on v1 */
    int m = find_hier(&l, "/sys/fs/cgroup/memory");
    CHECK(m >= 0 && l.h[m].ctrls == CG_BIT(CG_MEMORY) && !l.h[m].v2 && strcmp(l.h[m].root, "/") == 0);
    int s = find_hier(&l, "/sys/fs/cgroup/systemd");
    CHECK(s >= 0 && l.h[s].ctrls == 0 && l.h[s].named && strcmp(l.h[s].named, "systemd") == 0);
    CHECK(find_hier(&l, "/sys/fs/cgroup") < 0); /* the tmpfs */
    cg_layout_free(&l);
}

static void test_mountinfo_v1(void)
{
    struct cg_layout l;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_parse_mountinfo(mi_v1, &l, &err) == 0);
    CHECK_STR(cg_layout_kind(&l), "v1");
    CHECK(l.n == 11); /* the memory hierarchy's two other mounts do not count */
    CHECK(find_hier(&l, "/sys/fs/cgroup/memory2") < 0);
    int c = find_hier(&l, "/sys/fs/cgroup/cpu,cpuacct");
    CHECK(c >= 0 && l.h[c].ctrls == (CG_BIT(CG_CPU) | CG_BIT(CG_CPUACCT)));
    int n = find_hier(&l, "/sys/fs/cgroup/net_cls,net_prio");
    CHECK(n >= 0 && l.h[n].ctrls == (CG_BIT(CG_NET_CLS) | CG_BIT(CG_NET_PRIO)));
    int cs = find_hier(&l, "/sys/fs/cgroup/cpuset");
    CHECK(cs >= 0 && l.h[cs].ctrls == CG_BIT(CG_CPUSET)); /* clone_children is an option */
    cg_layout_set_v2_controllers(&l, "memory"); /* no cgroup2: no effect */
    CHECK(l.v2 < 0);
    cg_layout_free(&l);
    /* The caller's own cgroups, matched by controller set. */
    struct cg_proc p;
    CHECK(cg_parse_proc_cgroup(pc_v1, &p, &err) == 0);
    CHECK(p.n == 11);
    CHECK(cg_parse_mountinfo(mi_v1, &l, &err) == 0);
    _cleanup_free_ char *cpu = cg_proc_path_in(&p, &l.h[find_hier(&l, "/sys/fs/cgroup/cpu,cpuacct")]);
    _cleanup_free_ char *sd = cg_proc_path_in(&p, &l.h[find_hier(&l, "/sys/fs/cgroup/systemd")]);
    CHECK_STR(cpu, "/user.slice");
    CHECK_STR(sd, "/user.slice/user-1000.slice/session-2.scope");
    cg_proc_free(&p);
    cg_layout_free(&l);
}

static void test_mountinfo_v2(void)
{
    struct cg_layout l;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_parse_mountinfo(mi_v2, &l, &err) == 0);
    CHECK_STR(cg_layout_kind(&l), "v2");
    CHECK(l.n == 1 && l.v2 == 0);
    cg_layout_set_v2_controllers(&l, "cpuset cpu io memory hugetlb pids rdma misc");
    uint32_t want = CG_BIT(CG_CPUSET) | CG_BIT(CG_CPU) | CG_BIT(CG_BLKIO) | CG_BIT(CG_MEMORY) | CG_BIT(CG_HUGETLB) |
                    CG_BIT(CG_PIDS) | CG_BIT(CG_RDMA) | CG_BIT(CG_MISC) | CG_BIT(CG_DEVICES) | CG_BIT(CG_FREEZER) |
                    CG_BIT(CG_CPUACCT);
    CHECK(l.h[0].ctrls == want);
    cg_layout_free(&l);
    /* Nothing at all, and junk. */
    CHECK(cg_parse_mountinfo("", &l, &err) == 0 && l.n == 0);
    CHECK_STR(cg_layout_kind(&l), "none");
    CHECK(cg_parse_mountinfo("garbage\n1 2 3\n- - -\n\n", &l, &err) == 0 && l.n == 0);
}

static void test_proc_cgroup(void)
{
    struct cg_proc p;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_parse_proc_cgroup(pc_hybrid, &p, &err) == 0);
    CHECK(p.n == 10);
    struct cg_layout l;
    CHECK(cg_parse_mountinfo(mi_hybrid, &l, &err) == 0);
    _cleanup_free_ char *mem = cg_proc_path_in(&p, &l.h[find_hier(&l, "/sys/fs/cgroup/memory")]);
    _cleanup_free_ char *uni = cg_proc_path_in(&p, &l.h[l.v2]);
    CHECK_STR(mem, "/process_api/74d0");
    CHECK_STR(uni, "/");
    /* A mount of a sub-tree: paths are taken relative to its root. */
    free(l.h[l.v2].root);
    l.h[l.v2].root = xstrdup("/process_api");
    cg_proc_free(&p);
    CHECK(cg_parse_proc_cgroup("0::/process_api/x/y\n", &p, &err) == 0);
    _cleanup_free_ char *sub = cg_proc_path_in(&p, &l.h[l.v2]);
    CHECK_STR(sub, "/x/y");
    cg_proc_free(&p);
    CHECK(cg_parse_proc_cgroup("0::/elsewhere\n", &p, &err) == 0);
    CHECK(cg_proc_path_in(&p, &l.h[l.v2]) == NULL);
    cg_proc_free(&p);
    cg_layout_free(&l);
    /* Malformed input. */
    CHECK(cg_parse_proc_cgroup("4:memory\n", &p, &err) < 0);
    CHECK_ERR_HAS(err, "malformed line");
    moat_error_free(err);
    err = NULL;
    CHECK(cg_parse_proc_cgroup("x:memory:/\n", &p, &err) < 0);
    CHECK_ERR_HAS(err, "bad hierarchy id");
    moat_error_free(err);
    err = NULL;
    CHECK(cg_parse_proc_cgroup("4:memory:relative\n", &p, &err) < 0);
}

static void check_path(const char *in, bool systemd, const char *want)
{
    struct moat_cgroup_opts o = {.id = "c1", .systemd = systemd};
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_free_ char *out = NULL;
    int r = cg_spec_path(in, &o, &out, &err);
    if (want) {
        CHECK(r == 0);
        CHECK_STR(out, want);
        if (r < 0)
            fprintf(stderr, "    %s: %s\n", in ? in : "(null)", err->msg);
    } else {
        CHECK(r < 0);
        if (r == 0)
            fprintf(stderr, "    '%s' accepted as '%s'\n", in, out);
    }
}

static void test_paths(void)
{
    check_path(NULL, false, "/moat/c1");
    check_path("", false, "/moat/c1");
    check_path("/a/b", false, "/a/b");
    check_path("a/b", false, "a/b");
    check_path("/", false, NULL);
    check_path("/a/../b", false, NULL);
    check_path("../x", false, NULL);
    check_path("/a/./b", false, NULL);
    check_path("//a", false, NULL);
    check_path("/a/", false, NULL);
    check_path("/a b", false, NULL);
    check_path("/a\nb", false, NULL);
    char long_path[1100];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    check_path(long_path, false, NULL);
    /* systemd "slice:prefix:name" mapped onto cgroupfs */
    check_path("machine.slice:libpod:abc", true, "/machine.slice/libpod-abc.scope");
    check_path("a-b.slice:moat:x", true, "/a.slice/a-b.slice/moat-x.scope");
    check_path("a-b-c.slice::x", true, "/a.slice/a-b.slice/a-b-c.slice/x.scope");
    check_path("a.slice::a-b.slice", true, "/a.slice/a-b.slice");
    check_path("-.slice:p:n", true, "/p-n.scope");
    check_path(":moat:n", true, "/system.slice/moat-n.scope");
    check_path(NULL, true, "/system.slice/moat-c1.scope");
    check_path("a--b.slice:p:n", true, NULL);
    check_path("-a.slice:p:n", true, NULL);
    check_path("a.slice:p", true, NULL);
    check_path("a.slice:p:n:x", true, NULL);
    check_path("a.slice:p:", true, NULL);
    check_path("a.slice:p:n/../..", true, NULL);
    check_path("notaslice:p:n", true, NULL);
    check_path("/abs/path", true, NULL);
    check_path("x.slice:p:a b", true, NULL);
}

static struct moat_cgroup *plan(const char *mi, const char *controllers, const char *pc, const char *path,
                                struct moat_cgroup_opts o, const char *deleg)
{
    struct cg_layout l;
    struct cg_proc p;
    _cleanup_error_ moat_error *err = NULL;
    struct moat_cgroup *cg = NULL;
    _cleanup_free_ char *sp = NULL;
    CHECK(cg_parse_mountinfo(mi, &l, &err) == 0);
    cg_layout_set_v2_controllers(&l, controllers);
    CHECK(cg_parse_proc_cgroup(pc, &p, &err) == 0);
    CHECK(cg_spec_path(path, &o, &sp, &err) == 0);
    if (sp && cg_plan(&l, &p, sp, &o, deleg, &cg, &err) < 0)
        fprintf(stderr, "    plan: %s\n", err->msg);
    cg_proc_free(&p);
    cg_layout_free(&l);
    return cg;
}

static const struct cg_dir *dir_driving(const struct moat_cgroup *cg, int c)
{
    return cg->drive[c] >= 0 ? &cg->dirs[cg->drive[c]] : NULL;
}

static void test_plan_hybrid(void)
{
    struct moat_cgroup_opts o = {.id = "c1"};
    struct moat_cgroup *cg = plan(mi_hybrid, "hugetlb", pc_hybrid, NULL, o, NULL);
    CHECK(cg && cg->n == 10);
    if (!cg)
        return;
    CHECK_STR(dir_driving(cg, CG_MEMORY)->full, "/sys/fs/cgroup/memory/moat/c1");
    CHECK_STR(dir_driving(cg, CG_HUGETLB)->full, "/sys/fs/cgroup/unified/moat/c1");
    CHECK(dir_driving(cg, CG_HUGETLB)->v2 && dir_driving(cg, CG_HUGETLB) == &cg->dirs[cg->v2]);
    CHECK(!dir_driving(cg, CG_DEVICES)->v2 && !dir_driving(cg, CG_FREEZER)->v2);
    CHECK(dir_driving(cg, CG_NET_CLS) == NULL);
    struct moat_cgroup_mount *m;
    size_t n;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_cgroup_mounts(cg, &m, &n, &err) == 0 && n == 10);
    bool uni = false, sd = false;
    for (size_t i = 0; i < n; i++) {
        uni = uni || (strcmp(m[i].name, "unified") == 0 && strcmp(m[i].host_path, "/sys/fs/cgroup/unified/moat/c1") == 0);
        sd = sd || (strcmp(m[i].name, "systemd") == 0 && strcmp(m[i].host_path, "/sys/fs/cgroup/systemd/moat/c1") == 0);
    }
    CHECK(uni && sd);
    moat_cgroup_mounts_free(m, n);
    moat_cgroup_free(cg);

    /* Relative: below the caller's own cgroup in each hierarchy. */
    cg = plan(mi_hybrid, "hugetlb", pc_hybrid, "sub/c1", o, NULL);
    CHECK(cg != NULL);
    if (!cg)
        return;
    CHECK_STR(dir_driving(cg, CG_MEMORY)->full, "/sys/fs/cgroup/memory/process_api/74d0/sub/c1");
    CHECK_STR(dir_driving(cg, CG_CPU)->full, "/sys/fs/cgroup/cpu/sub/c1");
    moat_cgroup_free(cg);

    /* Rootless on v1: nothing delegated, no directories. */
    o.rootless = true;
    cg = plan(mi_hybrid, "hugetlb", pc_hybrid, "/x", o, NULL);
    CHECK(cg && cg->no_cgroup && cg->n == 0);
    moat_cgroup_free(cg);
    /* Disabled: nothing either. */
    o.rootless = false;
    o.disabled = true;
    cg = plan(mi_hybrid, "hugetlb", pc_hybrid, "/x", o, NULL);
    CHECK(cg && cg->disabled && cg->n == 0);
    moat_cgroup_free(cg);
}

static void test_plan_v1_v2(void)
{
    struct moat_cgroup_opts o = {.id = "c1"};
    struct moat_cgroup *cg = plan(mi_v1, NULL, pc_v1, "/a/b", o, NULL);
    CHECK(cg && cg->n == 11 && cg->v2 < 0);
    if (!cg)
        return;
    CHECK(dir_driving(cg, CG_CPU) == dir_driving(cg, CG_CPUACCT));
    CHECK_STR(dir_driving(cg, CG_CPU)->full, "/sys/fs/cgroup/cpu,cpuacct/a/b");
    struct moat_cgroup_mount *m;
    size_t n;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_cgroup_mounts(cg, &m, &n, &err) == 0);
    bool combined = false;
    for (size_t i = 0; i < n; i++)
        combined = combined || strcmp(m[i].name, "cpu,cpuacct") == 0;
    CHECK(combined);
    moat_cgroup_mounts_free(m, n);
    moat_cgroup_free(cg);

    cg = plan(mi_v2, "cpuset cpu io memory pids", pc_v2, NULL, o, NULL);
    CHECK(cg && cg->n == 1 && cg->v2 == 0);
    if (!cg)
        return;
    CHECK_STR(cg->dirs[0].full, "/sys/fs/cgroup/moat/c1");
    CHECK(cg->drive[CG_DEVICES] == 0 && cg->drive[CG_FREEZER] == 0 && cg->drive[CG_MEMORY] == 0);
    CHECK(cg->drive[CG_HUGETLB] < 0);
    CHECK(moat_cgroup_mounts(cg, &m, &n, &err) == 0 && n == 1);
    CHECK_STR(m[0].name, "");
    moat_cgroup_mounts_free(m, n);
    moat_cgroup_free(cg);

    /* Rootless v2 with a delegated subtree: everything goes below it. */
    o.rootless = true;
    const char *deleg = "/user.slice/user-1000.slice/user@1000.service";
    cg = plan(mi_v2, "cpu memory pids", pc_v2, NULL, o, deleg);
    CHECK(cg && cg->n == 1 && !cg->no_cgroup);
    if (cg)
        CHECK_STR(cg->dirs[0].full, "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/moat/c1");
    moat_cgroup_free(cg);
    cg = plan(mi_v2, "cpu memory pids", pc_v2, "rel", o, deleg);
    if (cg)
        CHECK_STR(cg->dirs[0].full,
                  "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope/rel");
    moat_cgroup_free(cg);
    cg = plan(mi_v2, "cpu memory pids", pc_v2, NULL, o, NULL);
    CHECK(cg && cg->no_cgroup);
    moat_cgroup_free(cg);
}

/* Parse a config.json with the given linux object. */
static struct oci_spec *spec_with(const char *linux_json)
{
    _cleanup_free_ char *doc = xasprintf("{\"ociVersion\":\"1.0.2\",\"linux\":%s}", linux_json);
    _cleanup_error_ moat_error *err = NULL;
    struct oci_spec *s = NULL;
    if (oci_spec_parse(doc, strlen(doc), "config.json", &s, &err) < 0)
        fprintf(stderr, "    spec: %s\n", err->msg);
    return s;
}

static void test_rootless_v1_errors(void)
{
    struct moat_cgroup_opts o = {.id = "c1", .rootless = true};
    struct moat_cgroup *cg = plan(mi_hybrid, "hugetlb", pc_hybrid, NULL, o, NULL);
    _cleanup_spec_ struct oci_spec *lim = spec_with("{\"resources\":{\"pids\":{\"limit\":20}}}");
    _cleanup_spec_ struct oci_spec *none = spec_with("{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}");
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg && lim && none);
    if (!cg || !lim || !none)
        return;
    CHECK(moat_cgroup_enter(cg, &none->linux_, 1, false, &err) == 0); /* devices only: nothing to do */
    CHECK(moat_cgroup_enter(cg, &lim->linux_, 1, false, &err) < 0);
    CHECK_ERR_HAS(err, "cgroup limits cannot be applied: rootless on cgroup v1 has no delegated cgroup");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_cgroup_enter(cg, &lim->linux_, 1, true, &err) == 0); /* optional: a warning */
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK(moat_cgroup_pids(cg, &pids, &n, &err) < 0);
    CHECK_ERR_HAS(err, "has no cgroup");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_cgroup_freeze(cg, true, &err) < 0);
    struct moat_cgroup_stats st;
    CHECK(moat_cgroup_stats(cg, &st, &err) == 0 && st.mem_usage == -1 && st.pids_limit == -1);
    CHECK(moat_cgroup_destroy(cg, &err) == 0);
    moat_cgroup_free(cg);
}

static void test_json_roundtrip(void)
{
    struct moat_cgroup_opts o = {.id = "c1"};
    struct moat_cgroup *cg = plan(mi_hybrid, "hugetlb", pc_hybrid, "/moat/c1", o, NULL);
    CHECK(cg != NULL);
    if (!cg)
        return;
    _cleanup_json_ struct json_object *j = moat_cgroup_to_json(cg);
    _cleanup_free_ char *text = moat_json_dump(j, false);
    struct moat_cgroup *back = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_cgroup_from_json(j, &back, &err) == 0);
    if (back) {
        CHECK(back->n == cg->n && back->v2 == cg->v2);
        for (size_t i = 0; i < cg->n && i < back->n; i++) {
            CHECK_STR(back->dirs[i].full, cg->dirs[i].full);
            CHECK(back->dirs[i].ctrls == cg->dirs[i].ctrls && back->dirs[i].ops == cg->dirs[i].ops);
        }
        for (int c = 0; c < CG__COUNT; c++)
            CHECK(back->drive[c] == cg->drive[c]);
        CHECK_STR(back->layout, "hybrid");
        _cleanup_json_ struct json_object *j2 = moat_cgroup_to_json(back);
        _cleanup_free_ char *text2 = moat_json_dump(j2, false);
        CHECK_STR(text2, text);
    }
    moat_cgroup_free(back);
    moat_cgroup_free(cg);

    /* Tampered or broken state is refused. */
    static const struct {
        const char *from, *to, *why;
    } bad[] = {
        {"\"/sys/fs/cgroup/memory\"", "\"/etc\"", "is not a cgroup mount"},
        {"\"/sys/fs/cgroup/memory\"", "\"/sys/fs/cgroup/../../etc\"", "is not a cgroup mount"},
        {"\"/sys/fs/cgroup/memory\"", "\"/sys/fs/cgroup/a/b\"", "is not a cgroup mount"},
        {"\"path\":\"/moat/c1\"", "\"path\":\"/moat/../../..\"", "'.' or '..'"},
        {"\"path\":\"/moat/c1\"", "\"path\":\"/\"", "hierarchy root"},
        {"\"path\":\"/moat/c1\"", "\"path\":\"moat\"", "must be absolute"},
        {"[\"memory\"]", "[\"memory\",\"bogus\"]", "unknown controller"},
        {"[\"memory\"]", "[\"pids\"]", "appears twice"},
        {"\"version\":1", "\"version\":2", "version"},
        {"\"layout\":\"hybrid\"", "\"layout\":\"v3\"", "unknown layout"},
        {"\"v2\":true", "\"v2\":\"yes\"", "expected"},
        {"\"rootless\":false", "\"rootless\":0", "expected"},
        {"\"v2\":false", "\"v2\":true", "a second cgroup2"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *at = strstr(text, bad[i].from);
        CHECK(at != NULL);
        if (!at)
            continue;
        _cleanup_free_ char *t = xasprintf("%.*s%s%s", (int)(at - text), text, bad[i].to, at + strlen(bad[i].from));
        _cleanup_json_ struct json_object *bj = NULL;
        CHECK(moat_json_parse(t, strlen(t), 1 << 20, "state", &bj, &err) == 0);
        struct moat_cgroup *x = NULL;
        CHECK(moat_cgroup_from_json(bj, &x, &err) < 0);
        CHECK_ERR_HAS(err, bad[i].why);
        moat_cgroup_free(x);
        moat_error_free(err);
        err = NULL;
    }
}

static void test_conversions(void)
{
    CHECK(cg_shares_to_weight(0) == 0);
    CHECK(cg_shares_to_weight(2) == 1);
    CHECK(cg_shares_to_weight(1024) == 100);
    CHECK(cg_shares_to_weight(512) == 59);
    CHECK(cg_shares_to_weight(2048) == 174);
    CHECK(cg_shares_to_weight(262144) == 10000);
    CHECK(cg_shares_to_weight(1u << 30) == 10000);
    CHECK(cg_blkio_to_io_weight(10) == 1);
    CHECK(cg_blkio_to_io_weight(500) == 4950);
    CHECK(cg_blkio_to_io_weight(1000) == 10000);

    struct oci_resources r = {0};
    int64_t v;
    bool skip;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) == 0 && skip);
    r.has_mem_limit = true;
    r.mem_limit = 100;
    r.has_mem_swap = true;
    r.mem_swap = 300;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) == 0 && !skip && v == 200);
    r.mem_swap = -1;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) == 0 && v == -1);
    r.mem_swap = 50;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) < 0);
    moat_error_free(err);
    err = NULL;
    r.has_mem_limit = false;
    r.mem_swap = 300;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) < 0);
    CHECK_ERR_HAS(err, "needs a memory limit");
    moat_error_free(err);
    err = NULL;
    r.has_mem_limit = true;
    r.mem_limit = -1;
    r.has_mem_swap = false;
    CHECK(cg_swap_to_v2(&r, &v, &skip, &err) == 0 && !skip && v == -1);

    /* What counts as a limit. */
    struct oci_resources q = {0};
    CHECK(!cg_limits_requested(&q) && cg_needed(&q) == 0);
    q.has_mem_limit = true;
    q.mem_limit = -1;
    CHECK(!cg_limits_requested(&q) && cg_needed(&q) == CG_BIT(CG_MEMORY));
    q.has_pids_limit = true;
    q.pids_limit = 10;
    CHECK(cg_limits_requested(&q) && cg_needed(&q) == (CG_BIT(CG_MEMORY) | CG_BIT(CG_PIDS)));
}

/* The operation tables on a plain directory standing in for a cgroup that
 * lacks the files a request needs: each must fail saying what is missing. */
static void expect_apply_error(const struct cg_ops *ops, const char *dir, uint32_t ctrls, const struct oci_resources *r,
                               const char *needle)
{
    struct cg_dir d = {.mount = (char *)"/sys/fs/cgroup/x", .path = (char *)"/t", .full = (char *)dir, .ctrls = ctrls,
                       .v2 = ops == &cg_v2_ops, .ops = ops};
    _cleanup_error_ moat_error *err = NULL;
    CHECK(ops->apply(&d, r, NULL, &err) < 0);
    CHECK_ERR_HAS(err, needle);
}

static void test_missing_files(void)
{
    char tmpl[] = "/tmp/moat-unit-cgfiles-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir)
        return;
    static const char *const files[] = {"memory.limit_in_bytes", "memory.max", "cgroup.controllers", "pids.max"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_write(dir, "cgroup.controllers", "cpu pids", &err) == 0);

    struct oci_resources swap = {.has_mem_limit = true, .mem_limit = 100, .has_mem_swap = true, .mem_swap = 200};
    expect_apply_error(&cg_v1_ops, dir, CG_BIT(CG_MEMORY), &swap, "the kernel has no swap accounting");
    expect_apply_error(&cg_v2_ops, dir, CG_BIT(CG_MEMORY), &swap, "the kernel has no swap accounting");
    _cleanup_free_ char *lim = NULL;
    CHECK(cg_read(dir, "memory.limit_in_bytes", &lim, &err) == 0);
    CHECK_STR(lim, ""); /* failed before writing the limit */
    struct oci_resources blkio = {.has_blkio_weight = true, .blkio_weight = 500};
    expect_apply_error(&cg_v1_ops, dir, CG_BIT(CG_BLKIO), &blkio, "blkio weight is not supported by this kernel");
    expect_apply_error(&cg_v2_ops, dir, CG_BIT(CG_BLKIO), &blkio, "io weight is not supported by this kernel");
    struct oci_hugepage hp = {(char *)"2MB", 4096};
    struct oci_resources huge = {.hugepages = &hp, .n_hugepages = 1};
    expect_apply_error(&cg_v1_ops, dir, CG_BIT(CG_HUGETLB), &huge, "hugetlb page size '2MB' is not supported");
    expect_apply_error(&cg_v2_ops, dir, CG_BIT(CG_HUGETLB), &huge, "hugetlb page size '2MB' is not supported");
    struct oci_resources rt = {.has_cpu_rt_runtime = true, .cpu_rt_runtime = 1000};
    expect_apply_error(&cg_v1_ops, dir, CG_BIT(CG_CPU), &rt, "realtime CPU scheduling is not supported");
    expect_apply_error(&cg_v2_ops, dir, CG_BIT(CG_CPU), &rt, "not supported on cgroup v2");
    struct oci_kv high = {(char *)"memory.high", (char *)"max"}, procs = {(char *)"cgroup.procs", (char *)"1"};
    struct oci_resources uni = {.unified = &high, .n_unified = 1};
    expect_apply_error(&cg_v2_ops, dir, 0, &uni, "the memory controller is not enabled on cgroup v2 here");
    uni.unified = &procs;
    expect_apply_error(&cg_v2_ops, dir, 0, &uni, "is not a resource setting");

    /* And what can be written is. */
    struct cg_dir d = {.mount = (char *)"/sys/fs/cgroup/x", .path = (char *)"/t", .full = dir,
                       .ctrls = CG_BIT(CG_MEMORY) | CG_BIT(CG_PIDS), .ops = &cg_v1_ops};
    struct oci_resources ok = {.has_mem_limit = true, .mem_limit = 4096, .has_pids_limit = true, .pids_limit = 0};
    CHECK(cg_v1_ops.apply(&d, &ok, NULL, &err) == 0);
    _cleanup_free_ char *ml = NULL, *pm = NULL;
    CHECK(cg_read(dir, "memory.limit_in_bytes", &ml, &err) == 0 && cg_read(dir, "pids.max", &pm, &err) == 0);
    CHECK_STR(ml, "4096");
    CHECK_STR(pm, "max");
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- the device program ------------------------------------------------------ */

/* A tiny interpreter for the instructions the generator emits, to check the
 * decisions without the kernel.  Returns the program's verdict, or -1 on an
 * instruction it does not know. */
static int run_prog(const struct bpf_insn *p, size_t n, uint32_t type, uint32_t acc, uint32_t maj, uint32_t min)
{
    uint64_t reg[11] = {0};
    uint32_t ctx[3] = {(acc << 16) | type, maj, min};
    bool ctx_ok = true;
    for (size_t pc = 0; pc < n; pc++) {
        const struct bpf_insn *i = &p[pc];
        if (i->dst_reg == 1 && i->code != (BPF_JMP | BPF_JNE | BPF_K) && i->code != (BPF_JMP | BPF_JEQ | BPF_K))
            ctx_ok = false;
        switch (i->code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            if (i->src_reg != 1 || !ctx_ok || i->off < 0 || i->off > 8 || i->off % 4)
                return -1;
            reg[i->dst_reg] = ctx[i->off / 4];
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            reg[i->dst_reg] = (uint32_t)reg[i->dst_reg] & (uint32_t)i->imm;
            break;
        case BPF_ALU | BPF_RSH | BPF_K:
            reg[i->dst_reg] = (uint32_t)reg[i->dst_reg] >> i->imm;
            break;
        case BPF_ALU | BPF_MOV | BPF_X:
            reg[i->dst_reg] = (uint32_t)reg[i->src_reg];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_K:
            reg[i->dst_reg] = (uint64_t)(int64_t)i->imm;
            break;
        case BPF_JMP | BPF_JNE | BPF_K:
            if (reg[i->dst_reg] != (uint64_t)(int64_t)i->imm)
                pc += (size_t)i->off;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            if (reg[i->dst_reg] == (uint64_t)(int64_t)i->imm)
                pc += (size_t)i->off;
            break;
        case BPF_JMP | BPF_EXIT:
            return (int)reg[0];
        default:
            return -1;
        }
    }
    return -2;
}

#define R BPF_DEVCG_ACC_READ
#define W BPF_DEVCG_ACC_WRITE
#define M BPF_DEVCG_ACC_MKNOD
#define C BPF_DEVCG_DEV_CHAR
#define B BPF_DEVCG_DEV_BLOCK

static void test_bpf_program(void)
{
    struct oci_device_rule rules[] = {
        {false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 5, "r"},
        {true, 'c', 136, -1, "rw"},  {false, 'c', 1, 3, "w"},  {true, 'b', 8, 0, "m"},
    };
    struct cg_devrules dev = {rules, ARRAY_SIZE(rules)};
    _cleanup_free_ struct bpf_insn *p = NULL;
    size_t n = 0;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_bpf_devices_build(&dev, &p, &n, &err) == 0);
    /* prologue 6; b 8:0 m 8; deny c 1:3 w 8; c 136:* rw 7; c 1:5 r 8; c 1:3 rwm 5; deny-all 2 */
    CHECK(n == 44);
    static const struct {
        uint32_t type, acc, maj, min;
        int want;
    } cases[] = {
        {C, R, 1, 3, 1},       {C, W, 1, 3, 0},  {C, R | W, 1, 3, 0}, {C, M, 1, 3, 1},  {C, R, 1, 5, 1},
        {C, W, 1, 5, 0},       {C, R | W, 1, 5, 0}, {C, R | W, 136, 7, 1}, {C, M, 136, 7, 0}, {B, M, 8, 0, 1},
        {B, R, 8, 0, 0},       {C, M, 8, 0, 0},  {C, R, 1, 7, 0},     {B, R, 1, 3, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int got = run_prog(p, n, cases[i].type, cases[i].acc, cases[i].maj, cases[i].min);
        if (got != cases[i].want)
            fprintf(stderr, "    case %zu: got %d want %d\n", i, got, cases[i].want);
        CHECK(got == cases[i].want);
    }
    free(p);
    p = NULL;

    /* Privileged: allow everything, then a later deny still wins for its device. */
    struct oci_device_rule priv[] = {{true, 'a', -1, -1, "rwm"}, {false, 'c', 10, 229, "rwm"}};
    dev = (struct cg_devrules){priv, 2};
    CHECK(cg_bpf_devices_build(&dev, &p, &n, &err) == 0);
    CHECK(run_prog(p, n, C, R, 1, 3) == 1 && run_prog(p, n, B, M, 8, 1) == 1);
    CHECK(run_prog(p, n, C, R, 10, 229) == 0 && run_prog(p, n, C, R, 10, 200) == 1);
    free(p);
    p = NULL;

    /* No rules: a short program that denies. */
    dev = (struct cg_devrules){NULL, 0};
    CHECK(cg_bpf_devices_build(&dev, &p, &n, &err) == 0 && n == 8);
    CHECK(run_prog(p, n, C, R, 1, 3) == 0);
}

/* ---- live tests (root) -------------------------------------------------------- */

static int unit_seq;

/* Run fn in a forked child that reaps every orphan (it is a subreaper), so
 * processes killed in the test never linger; report back its checks. */
static void in_harness(void (*fn)(void))
{
    char *skip = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(skip != MAP_FAILED);
    if (skip == MAP_FAILED)
        return;
    skip[0] = '\0';
    fflush(stdout);
    fflush(stderr);
    pid_t h = fork();
    if (h == 0) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        unit_failures = 0;
        unit_skip = NULL;
        fn();
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
        if (unit_skip)
            snprintf(skip, 4096, "%s", unit_skip);
        exit(unit_failures ? 1 : 0); /* exit, not _exit: LeakSanitizer checks the harness too */
    }
    int st = 0;
    CHECK(h > 0 && waitpid(h, &st, 0) == h);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    static char reason[4096];
    if (skip[0]) {
        snprintf(reason, sizeof(reason), "%s", skip);
        unit_skip = reason;
    }
    munmap(skip, 4096);
}

static const char *live_skip_reason(void)
{
    if (geteuid() != 0)
        return "needs root to create cgroups";
    if (access(CG_ROOT, W_OK) < 0 && access(CG_ROOT "/pids", W_OK) < 0)
        return "/sys/fs/cgroup is not writable";
    if (strcmp(moat_cgroup_layout_name(), "none") == 0)
        return "no cgroup hierarchy mounted";
    return NULL;
}

/* A unique cgroupsPath: relative (below our own cgroups) where v1 drives the
 * controllers, absolute on pure v2 (our own cgroup there holds processes,
 * which cgroup v2 forbids for a parent with controllers). */
static char *unique_path(void)
{
    bool v2 = strcmp(moat_cgroup_layout_name(), "v2") == 0;
    return xasprintf("%smoat-unit-%d-%d", v2 ? "/" : "", (int)getpid(), ++unit_seq);
}

/* A child that waits for a byte on `go` and then runs `body`. */
static pid_t spawn(int go[2], int res[2], int (*body)(int resfd, int gofd))
{
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        close(res[0]);
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(99);
        _exit(body(res[1], go[0]));
    }
    close(go[0]);
    close(res[1]);
    return pid;
}

/* Fork until the pids limit stops us; report how many forks worked and the
 * errno of the one that failed, then wait until told (or killed). */
static int fork_bomb(int resfd, int gofd)
{
    int count = 0, e = 0;
    for (int i = 0; i < 200; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            e = errno;
            break;
        }
        count++;
    }
    int out[2] = {count, e};
    if (write(resfd, out, sizeof(out)) != sizeof(out))
        return 98;
    char b;
    if (read(gofd, &b, 1) < 0)
        return 97;
    return 0;
}

static char *read_cg(const struct moat_cgroup *cg, int ctrl, const char *file)
{
    if (cg->drive[ctrl] < 0)
        return NULL;
    char *s = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (cg_read(cg->dirs[cg->drive[ctrl]].full, file, &s, &err) < 0 && err->errnum != ENOENT)
        fprintf(stderr, "    %s\n", err->msg);
    return s;
}

static bool driven_by_v2(const struct moat_cgroup *cg, int ctrl)
{
    return cg->drive[ctrl] >= 0 && cg->dirs[cg->drive[ctrl]].v2;
}

static void check_files(const struct moat_cgroup *cg)
{
    _cleanup_free_ char *mem = read_cg(cg, CG_MEMORY, driven_by_v2(cg, CG_MEMORY) ? "memory.max" : "memory.limit_in_bytes");
    _cleanup_free_ char *pids = read_cg(cg, CG_PIDS, "pids.max");
    CHECK_STR(mem, "67108864");
    CHECK_STR(pids, "20");
    if (driven_by_v2(cg, CG_CPU)) {
        _cleanup_free_ char *max = read_cg(cg, CG_CPU, "cpu.max"), *w = read_cg(cg, CG_CPU, "cpu.weight");
        CHECK_STR(max, "50000 100000");
        CHECK_STR(w, "59");
    } else {
        _cleanup_free_ char *q = read_cg(cg, CG_CPU, "cpu.cfs_quota_us"), *s = read_cg(cg, CG_CPU, "cpu.shares");
        CHECK_STR(q, "50000");
        CHECK_STR(s, "512");
    }
    _cleanup_free_ char *cpus = read_cg(cg, CG_CPUSET, "cpuset.cpus");
    CHECK_STR(cpus, "0");
    if (driven_by_v2(cg, CG_DEVICES)) {
        size_t n = 0;
        _cleanup_error_ moat_error *err = NULL;
        CHECK(cg_bpf_devices_count(cg->dirs[cg->drive[CG_DEVICES]].full, &n, &err) == 0 && n == 1);
    } else {
        _cleanup_free_ char *list = read_cg(cg, CG_DEVICES, "devices.list");
        CHECK(list && strstr(list, "c 10:200 rwm") && strstr(list, "c 1:3 rwm") && strstr(list, "c 136:* rwm"));
        CHECK(list && !strstr(list, "a *:*") && !strstr(list, "c 1:1 "));
    }
}

/* Whether pid's /proc/PID/cgroup places it in `path` in every hierarchy. */
static bool placed(pid_t pid, const struct moat_cgroup *cg)
{
    _cleanup_free_ char *p = xasprintf("/proc/%d/cgroup", (int)pid), *buf = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_read_file_at(AT_FDCWD, p, 1 << 20, &buf, NULL, &err) < 0)
        return false;
    for (size_t i = 0; i < cg->n; i++) {
        _cleanup_free_ char *want = xasprintf("%s\n", cg->dirs[i].path);
        if (!strstr(buf, want))
            return false;
    }
    return true;
}

static void wait_empty(const struct moat_cgroup *cg)
{
    for (int i = 0; i < 200; i++) {
        pid_t *pids = NULL;
        size_t n = 1;
        _cleanup_error_ moat_error *err = NULL;
        if (moat_cgroup_pids(cg, &pids, &n, &err) == 0 && n == 0) {
            free(pids);
            return;
        }
        free(pids);
        usleep(10000);
    }
}

static void live_limits(void)
{
    const char *why = live_skip_reason();
    if (why)
        UNIT_SKIP(why);
    _cleanup_free_ char *path = unique_path();
    _cleanup_free_ char *lx = xasprintf(
        "{\"cgroupsPath\":\"%s\",\"resources\":{\"memory\":{\"limit\":67108864,\"reservation\":33554432},"
        "\"pids\":{\"limit\":20},\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\",\"mems\":\"0\"},"
        "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":10,\"minor\":200,"
        "\"access\":\"rwm\"}]}}",
        path);
    _cleanup_spec_ struct oci_spec *spec = spec_with(lx);
    CHECK(spec != NULL);
    if (!spec)
        return;
    struct moat_cgroup_opts o = {.id = "unit"};
    struct moat_cgroup *cg = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_cgroup_resolve(spec, &o, &cg, &err) == 0);
    if (!cg)
        return;
    int go[2], res[2];
    pid_t child = spawn(go, res, fork_bomb);
    CHECK(child > 0);
    if (moat_cgroup_enter(cg, &spec->linux_, child, false, &err) < 0) {
        kill(child, SIGKILL);
        moat_cgroup_free(cg);
        if (err->errnum == EBUSY)
            UNIT_SKIP("cgroup v2: controllers cannot be enabled below a cgroup that holds processes "
                      "(running inside a cgroup namespace?)");
        fprintf(stderr, "    enter: %s\n", err->msg);
        CHECK(!"enter");
        return;
    }
    check_files(cg);
    CHECK(placed(child, cg));
    CHECK(write(go[1], "g", 1) == 1);
    int out[2] = {0, 0};
    CHECK(read(res[0], out, sizeof(out)) == sizeof(out));
    CHECK(out[1] == EAGAIN);
    CHECK(out[0] >= 10 && out[0] <= 19); /* the child itself is the 20th */

    pid_t *pids = NULL;
    size_t n = 0;
    CHECK(moat_cgroup_pids(cg, &pids, &n, &err) == 0 && n == (size_t)out[0] + 1);
    bool has_child = false;
    for (size_t i = 0; i < n; i++)
        has_child = has_child || pids[i] == child;
    CHECK(has_child);
    free(pids);
    struct moat_cgroup_stats st;
    CHECK(moat_cgroup_stats(cg, &st, &err) == 0);
    CHECK(st.pids_current == out[0] + 1 && st.pids_limit == 20);
    CHECK(st.mem_limit == 67108864 && st.mem_usage > 0 && st.cpu_usage_ns > 0);

    bool frozen = true;
    CHECK(moat_cgroup_is_frozen(cg, &frozen, &err) == 0 && !frozen);
    CHECK(moat_cgroup_freeze(cg, true, &err) == 0);
    CHECK(moat_cgroup_is_frozen(cg, &frozen, &err) == 0 && frozen);
    CHECK(moat_cgroup_freeze(cg, false, &err) == 0);
    CHECK(moat_cgroup_is_frozen(cg, &frozen, &err) == 0 && !frozen);

    struct oci_resources up = {.has_pids_limit = true, .pids_limit = 30};
    CHECK(moat_cgroup_update(cg, &up, &err) == 0);
    _cleanup_free_ char *pmax = read_cg(cg, CG_PIDS, "pids.max");
    CHECK_STR(pmax, "30");

    /* State round trip, then act through the loaded copy as later commands do. */
    _cleanup_json_ struct json_object *j = moat_cgroup_to_json(cg);
    struct moat_cgroup *back = NULL;
    CHECK(moat_cgroup_from_json(j, &back, &err) == 0);
    struct moat_cgroup *use = back ? back : cg;
    /* Not SIGKILL: freeze, signal each pid, thaw. */
    CHECK(moat_cgroup_kill(use, SIGTERM, &err) == 0);
    if (err)
        fprintf(stderr, "    kill: %s\n", err->msg);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(moat_cgroup_is_frozen(use, &frozen, &err) == 0 && !frozen);
    wait_empty(use);
    CHECK(moat_cgroup_destroy(use, &err) == 0);
    if (err)
        fprintf(stderr, "    destroy: %s\n", err->msg);
    for (size_t i = 0; i < cg->n; i++) {
        CHECK(access(cg->dirs[i].full, F_OK) < 0 && errno == ENOENT);
        _cleanup_free_ char *parent = xstrdup(cg->dirs[i].full);
        *strrchr(parent, '/') = '\0';
        CHECK(access(parent, F_OK) == 0); /* nothing above the container's own path */
    }
    close(go[1]);
    close(res[0]);
    moat_cgroup_free(back);
    moat_cgroup_free(cg);
}

static void test_live_limits(void) { in_harness(live_limits); }

/* Open a device in the child: bit 0 /dev/null refused, bit 1 /dev/zero opened. */
static int probe_devices(int resfd, int gofd)
{
    (void)gofd;
    int r = 0;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == EPERM)
        r |= 1;
    if (fd >= 0)
        close(fd);
    fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        r |= 2;
        close(fd);
    }
    if (write(resfd, &r, sizeof(r)) != sizeof(r))
        return 98;
    return 0;
}

static int probe_in(const char *dir)
{
    int go[2], res[2];
    pid_t child = spawn(go, res, probe_devices);
    if (child < 0)
        return -1;
    _cleanup_error_ moat_error *err = NULL;
    int r = -1;
    if (cg_writef(dir, "cgroup.procs", &err, "%d", (int)child) == 0 && write(go[1], "g", 1) == 1 &&
        read(res[0], &r, sizeof(r)) != sizeof(r))
        r = -1;
    if (err)
        fprintf(stderr, "    %s\n", err->msg);
    close(go[1]);
    close(res[0]);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return r;
}

static void live_bpf(void)
{
    const char *why = live_skip_reason();
    if (why)
        UNIT_SKIP(why);
    struct cg_layout l;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cg_layout_detect(&l, &err) == 0);
    if (l.v2 < 0) {
        cg_layout_free(&l);
        UNIT_SKIP("no cgroup2 hierarchy mounted");
    }
    _cleanup_free_ char *dir = xasprintf("%s/moat-unit-bpf-%d", l.h[l.v2].mount, (int)getpid());
    cg_layout_free(&l);
    CHECK(mkdir(dir, 0755) == 0);
    /* Deny all, allow /dev/zero: null is refused, zero opens. */
    struct oci_device_rule one[] = {{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 5, "r"}};
    struct cg_devrules dev = {one, 2};
    int rc = cg_bpf_devices_apply(dir, &dev, &err);
    if (rc < 0)
        fprintf(stderr, "    %s\n", err->msg);
    CHECK(rc == 0);
    CHECK(probe_in(dir) == 3);
    /* Update: the other way round; the old program is replaced, not stacked. */
    struct oci_device_rule two[] = {{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}};
    dev = (struct cg_devrules){two, 2};
    CHECK(cg_bpf_devices_apply(dir, &dev, &err) == 0);
    size_t n = 0;
    CHECK(cg_bpf_devices_count(dir, &n, &err) == 0 && n == 1);
    CHECK(probe_in(dir) == 0);
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
        usleep(10000);
    CHECK(access(dir, F_OK) < 0);
}

static void test_live_bpf_device_filter(void) { in_harness(live_bpf); }

static int wait_for_go(int resfd, int gofd)
{
    (void)resfd;
    char b;
    if (read(gofd, &b, 1) < 0)
        return 97;
    return 0;
}

/* Enter a fresh child with `lx`; returns the child (or -1) with *ret set. */
static pid_t enter_child(const char *lx, struct moat_cgroup **ret, int go[2], moat_error **err)
{
    _cleanup_spec_ struct oci_spec *spec = spec_with(lx);
    struct moat_cgroup_opts o = {.id = "unit"};
    *ret = NULL;
    if (!spec || moat_cgroup_resolve(spec, &o, ret, err) < 0)
        return -1;
    int res[2];
    pid_t child = spawn(go, res, wait_for_go);
    close(res[0]);
    if (moat_cgroup_enter(*ret, &spec->linux_, child, false, err) < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        close(go[1]);
        return -1;
    }
    return child;
}

static void finish_child(struct moat_cgroup *cg, pid_t child, int go[2])
{
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_cgroup_kill(cg, SIGKILL, &err) == 0); /* cgroup.kill where there is one */
    int st = 0;
    CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(go[1]);
    CHECK(moat_cgroup_destroy(cg, &err) == 0);
    moat_cgroup_free(cg);
}

static void live_hugetlb(void)
{
    const char *why = live_skip_reason();
    if (why)
        UNIT_SKIP(why);
    if (access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) < 0)
        UNIT_SKIP("no 2MB huge pages on this machine");
    _cleanup_free_ char *path = unique_path();
    _cleanup_free_ char *lx = xasprintf(
        "{\"cgroupsPath\":\"%s\",\"resources\":{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}]}}", path);
    struct moat_cgroup *cg = NULL;
    _cleanup_error_ moat_error *err = NULL;
    int go[2];
    pid_t child = enter_child(lx, &cg, go, &err);
    if (child < 0 && cg && (cg->drive[CG_HUGETLB] < 0 || (err && err->errnum == EBUSY))) {
        moat_cgroup_free(cg);
        UNIT_SKIP("the hugetlb controller is not available (or cannot be enabled here)");
    }
    if (child < 0)
        fprintf(stderr, "    %s\n", err ? err->msg : "?");
    CHECK(child > 0);
    if (child < 0) {
        moat_cgroup_free(cg);
        return;
    }
    bool v2 = driven_by_v2(cg, CG_HUGETLB);
    _cleanup_free_ char *lim = read_cg(cg, CG_HUGETLB, v2 ? "hugetlb.2MB.max" : "hugetlb.2MB.limit_in_bytes");
    CHECK_STR(lim, "4194304");
    CHECK(placed(child, cg)); /* on a hybrid host: in the cgroup2 tree as well */
    if (strcmp(cg->layout, "hybrid") == 0)
        CHECK(cg->v2 >= 0 && v2 && placed(child, cg));
    finish_child(cg, child, go);
}

static void test_live_hugetlb(void) { in_harness(live_hugetlb); }

/* Requests this kernel cannot honour fail with a clear error, and a failed
 * enter leaves nothing behind. */
static void live_errors(void)
{
    const char *why = live_skip_reason();
    if (why)
        UNIT_SKIP(why);
    _cleanup_free_ char *path = unique_path();
    _cleanup_free_ char *lx =
        xasprintf("{\"cgroupsPath\":\"%s\",\"resources\":{\"blockIO\":{\"weight\":500}}}", path);
    struct moat_cgroup *cg = NULL;
    _cleanup_error_ moat_error *err = NULL;
    int go[2];
    pid_t child = enter_child(lx, &cg, go, &err);
    if (child > 0) {
        /* BFQ (or CFQ) is built in: the weight is where the kernel keeps it. */
        bool v2 = driven_by_v2(cg, CG_BLKIO);
        _cleanup_free_ char *bfq = read_cg(cg, CG_BLKIO, v2 ? "io.bfq.weight" : "blkio.bfq.weight");
        _cleanup_free_ char *plain = bfq ? NULL : read_cg(cg, CG_BLKIO, v2 ? "io.weight" : "blkio.weight");
        CHECK((bfq && strstr(bfq, "500")) || (plain && strstr(plain, v2 ? "4950" : "500")));
        finish_child(cg, child, go);
    } else if (cg) {
        CHECK_ERR_HAS(err, "weight is not supported by this kernel");
        for (size_t i = 0; i < cg->n; i++)
            CHECK(access(cg->dirs[i].full, F_OK) < 0);
        moat_cgroup_free(cg);
    }
    moat_error_free(err);
    err = NULL;

    /* linux.resources.unified on a controller v1 holds. */
    free(lx);
    lx = xasprintf("{\"cgroupsPath\":\"%s\",\"resources\":{\"unified\":{\"memory.high\":\"max\"}}}", path);
    child = enter_child(lx, &cg, go, &err);
    if (cg && cg->v2 >= 0 && !driven_by_v2(cg, CG_MEMORY)) {
        CHECK(child < 0);
        CHECK_ERR_HAS(err, "the memory controller is not enabled on cgroup v2 here");
    } else if (cg && cg->v2 < 0) {
        CHECK(child < 0);
        CHECK_ERR_HAS(err, "needs a cgroup v2 hierarchy");
    }
    if (child > 0)
        finish_child(cg, child, go);
    else
        moat_cgroup_free(cg);
}

static void test_live_errors(void) { in_harness(live_errors); }

/* As an unprivileged user on this kind of host: nothing is delegated. */
static void live_rootless(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root to become another user");
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(90);
        int logp[2];
        if (pipe2(logp, O_CLOEXEC) < 0)
            _exit(91);
        struct moat_log_config lc = {.progname = "unit", .level = MOAT_LOG_WARN, .file_fd = logp[1]};
        moat_log_setup(&lc);
        _cleanup_spec_ struct oci_spec *spec = spec_with("{\"resources\":{\"memory\":{\"limit\":67108864}}}");
        struct moat_cgroup_opts o = {.id = "unit", .rootless = true};
        struct moat_cgroup *cg = NULL;
        moat_error *err = NULL;
        if (!spec || moat_cgroup_resolve(spec, &o, &cg, &err) < 0)
            _exit(92);
        if (!cg->no_cgroup)
            _exit(93); /* a delegated subtree for nobody? */
        if (moat_cgroup_enter(cg, &spec->linux_, getpid(), false, &err) == 0 ||
            !strstr(err->msg, "cgroup limits cannot be applied"))
            _exit(94);
        moat_error_free(err);
        err = NULL;
        if (moat_cgroup_enter(cg, &spec->linux_, getpid(), true, &err) < 0)
            _exit(95);
        char buf[512] = {0};
        if (read(logp[0], buf, sizeof(buf) - 1) <= 0 || !strstr(buf, "cgroup limits ignored"))
            _exit(96);
        moat_cgroup_free(cg);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "    rootless child: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_live_rootless(void) { live_rootless(); }

/* Whether `pid` is listed in dir/cgroup.procs. */
static bool pid_in(const char *dir, pid_t pid)
{
    _cleanup_free_ char *procs = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (cg_read(dir, "cgroup.procs", &procs, &err) < 0)
        return false;
    char want[32];
    snprintf(want, sizeof(want), "%d", (int)pid);
    for (char *line = strtok(procs, "\n"); line; line = strtok(NULL, "\n"))
        if (strcmp(line, want) == 0)
            return true;
    return false;
}

/* moat_cgroup_fork + moat_cgroup_join_self: a child lands in every
 * directory, created and limited beforehand (enter with pid 0). */
static void live_fork_join(void)
{
    const char *why = live_skip_reason();
    if (why)
        UNIT_SKIP(why);
    _cleanup_free_ char *path = unique_path();
    _cleanup_free_ char *lx = xasprintf("{\"cgroupsPath\":\"%s\",\"resources\":{\"pids\":{\"limit\":20}}}", path);
    _cleanup_spec_ struct oci_spec *spec = spec_with(lx);
    struct moat_cgroup_opts o = {.id = "unit"};
    struct moat_cgroup *cg = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(spec && moat_cgroup_resolve(spec, &o, &cg, &err) == 0);
    if (!cg)
        return;
    if (moat_cgroup_enter(cg, &spec->linux_, 0, false, &err) < 0) {
        moat_cgroup_free(cg);
        if (err->errnum == EBUSY)
            UNIT_SKIP("cgroup v2: controllers cannot be enabled below a cgroup that holds processes");
        CHECK(!"enter with pid 0");
        return;
    }
    /* nobody moved in yet */
    for (size_t i = 0; i < cg->n; i++)
        CHECK(!pid_in(cg->dirs[i].full, getpid()));
    int go[2], res[2];
    CHECK(pipe2(go, O_CLOEXEC) == 0 && pipe2(res, O_CLOEXEC) == 0);
    bool in_v2 = false;
    pid_t child = moat_cgroup_fork(cg, &in_v2);
    if (child == 0) {
        close(go[1]);
        moat_error *e = NULL;
        char r = moat_cgroup_join_self(cg, in_v2, &e) == 0 ? 'y' : 'n';
        char b;
        if (write(res[1], &r, 1) != 1 || read(go[0], &b, 1) < 0)
            _exit(1);
        _exit(0);
    }
    CHECK(child > 0);
    unsigned major = 0, minor = 0;
    if (cg->v2 >= 0 && moat_kernel_version(&major, &minor) == 0 && (major > 5 || (major == 5 && minor >= 7)))
        CHECK(in_v2); /* born in the cgroup2 directory (clone3 CLONE_INTO_CGROUP) */
    char r = 0;
    CHECK(read(res[0], &r, 1) == 1 && r == 'y');
    for (size_t i = 0; i < cg->n; i++)
        CHECK(pid_in(cg->dirs[i].full, child));
    close(go[1]);
    waitpid(child, NULL, 0);
    close(go[0]);
    close(res[0]);
    close(res[1]);
    CHECK(moat_cgroup_destroy(cg, &err) == 0);
    moat_cgroup_free(cg);
}

static void test_live_fork_join(void) { in_harness(live_fork_join); }

static const struct unit_test cgroup_tests[] = {
    UNIT_TEST(test_mountinfo_hybrid), UNIT_TEST(test_mountinfo_v1),     UNIT_TEST(test_mountinfo_v2),
    UNIT_TEST(test_proc_cgroup),      UNIT_TEST(test_paths),            UNIT_TEST(test_plan_hybrid),
    UNIT_TEST(test_plan_v1_v2),       UNIT_TEST(test_rootless_v1_errors), UNIT_TEST(test_json_roundtrip),
    UNIT_TEST(test_conversions),      UNIT_TEST(test_missing_files),   UNIT_TEST(test_bpf_program),      UNIT_TEST(test_live_limits),
    UNIT_TEST(test_live_bpf_device_filter), UNIT_TEST(test_live_hugetlb), UNIT_TEST(test_live_errors),
    UNIT_TEST(test_live_rootless),    UNIT_TEST(test_live_fork_join), UNIT_END};
UNIT_SUITE(cgroup, cgroup_tests);
