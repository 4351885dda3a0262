#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "moat/oci.h"
#include "moat/util.h"
#include "unit.h"

static const char *good =
    "{\"ociVersion\":\"1.0.2\",\"unknownTopLevel\":{\"x\":1},"
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":1000,\"gid\":1000,\"umask\":18,\"additionalGids\":[5,6]},"
    " \"args\":[\"sh\",\"-c\",\"true\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\","
    " \"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_CHOWN\"],\"effective\":[\"CAP_KILL\"]},"
    " \"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":512}],"
    " \"noNewPrivileges\":true,\"oomScoreAdj\":100},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"box\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "  {\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "   \"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "  {\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv\",\"options\":[\"rbind\",\"ro\",\"rprivate\",\"nodev\"]}],"
    "\"annotations\":{\"run.moat.landlock\":\"true\"},"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"user\"},{\"type\":\"uts\"},{\"type\":\"network\",\"path\":\"/var/run/netns/x\"}],"
    " \"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}],"
    " \"gidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}],"
    " \"resources\":{\"pids\":{\"limit\":100},\"memory\":{\"limit\":67108864},"
    "   \"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}]},"
    " \"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
    "   \"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]},"
    " \"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
    " \"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},\"rootfsPropagation\":\"rslave\"}}";

static void test_good(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_spec_ struct oci_spec *s = NULL;
    CHECK(oci_spec_parse(good, strlen(good), "config.json", &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    CHECK_STR(s->root_path, "rootfs");
    CHECK(s->root_readonly);
    CHECK(s->process->user.uid == 1000 && s->process->user.umask == 18);
    CHECK(s->process->user.n_additional_gids == 2);
    CHECK(s->process->caps.present);
    CHECK(s->process->caps.bounding == ((1ull << 5) | (1ull << 0)));
    CHECK(s->process->caps.effective == (1ull << 5));
    CHECK(s->process->n_rlimits == 1 && s->process->rlimits[0].resource == RLIMIT_NOFILE);
    CHECK(s->n_mounts == 3);
    CHECK(s->mounts[1].attr_set & 0x2); /* nosuid */
    CHECK_STR(s->mounts[1].data, "mode=755,size=65536k");
    CHECK(s->mounts[2].bind && s->mounts[2].rbind);
    CHECK(s->mounts[2].propagation == (MS_PRIVATE | MS_REC));
    CHECK(s->linux_.ns[OCI_NS_PID].present && !s->linux_.ns[OCI_NS_PID].path);
    CHECK_STR(s->linux_.ns[OCI_NS_NET].path, "/var/run/netns/x");
    CHECK(!s->linux_.ns[OCI_NS_IPC].present);
    CHECK(s->linux_.resources.has_pids_limit && s->linux_.resources.pids_limit == 100);
    CHECK(s->linux_.resources.n_devices == 2 && s->linux_.resources.devices[0].type == 'a');
    CHECK(s->linux_.seccomp && s->linux_.seccomp->n_rules == 1);
    CHECK(s->linux_.rootfs_propagation == (MS_SLAVE | MS_REC));
    CHECK(oci_annotation_true(s, "run.moat.landlock"));
}

static void expect_error(const char *doc, const char *needle)
{
    _cleanup_error_ moat_error *err = NULL;
    struct oci_spec *s = NULL;
    CHECK(oci_spec_parse(doc, strlen(doc), "config.json", &s, &err) < 0);
    CHECK(s == NULL);
    CHECK_ERR_HAS(err, needle);
    oci_spec_free(s);
}

static void test_errors(void)
{
    expect_error("[]", "expected a JSON object");
    expect_error("{}", "/ociVersion: required but missing");
    expect_error("{\"ociVersion\":\"2.0\"}", "not supported");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"rel\"}}", "/process/cwd: 'rel' must be an absolute path");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_FLY\"]}}}",
                 "unknown capability 'CAP_FLY'");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_X\",\"soft\":1,\"hard\":1}]}}",
                 "unknown rlimit");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,\"hard\":1}]}}",
                 "above the hard limit");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"/\",\"env\":[\"NOEQUALS\"]}}", "NAME=VALUE");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}",
                 "given twice");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}", "unknown namespace type");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"namespaces\":[{\"type\":\"user\"}]}}",
                 "needs uidMappings and gidMappings");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":1,\"size\":0}]}}",
                 "size must be non-zero");
    expect_error("{\"ociVersion\":\"1.0\",\"mounts\":[{\"destination\":\"rel\",\"type\":\"tmpfs\"}]}", "absolute path");
    expect_error("{\"ociVersion\":\"1.0\",\"mounts\":[{\"destination\":\"/x\",\"options\":[\"bind\"],\"source\":\"rel\"}]}",
                 "absolute source");
    expect_error("{\"ociVersion\":\"1.0\",\"mounts\":[{\"destination\":\"/x\"}]}", "type: required");
    expect_error("{\"ociVersion\":\"1.0\",\"hostname\":\"h\"}", "needs a uts namespace");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"sysctl\":{\"../../etc/x\":\"1\"}}}", "not a sysctl name");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"resources\":{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}}}",
                 "subset of rwm");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"resources\":{\"memory\":{\"limit\":100,\"swap\":50}}}}",
                 "below the memory limit");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ALLOW\"}]}}}",
                 "must not be empty");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"intelRdt\":{}}}", "not supported");
    expect_error("{\"ociVersion\":\"1.0\",\"process\":{\"cwd\":\"/\",\"oomScoreAdj\":5000}}", "out of range");
}

static void test_mount_options(void)
{
    _cleanup_error_ moat_error *err = NULL;
    char *opts[] = {"rro", "nosuid", "rw", "noatime", "x-systemd.automount", "size=1m", "tmpcopyup", NULL};
    struct oci_mount m = {.options = opts, .type = "tmpfs"};
    CHECK(oci_mount_parse_options(&m, "/mounts/0", &err) == 0);
    CHECK(m.recursive_attrs);
    CHECK(!(m.attr_set & 0x1) && (m.attr_clr & 0x1)); /* rw after rro wins */
    CHECK(m.attr_set & 0x2);
    CHECK(m.attr_set & 0x10);                          /* noatime */
    CHECK(m.tmpcopyup);
    CHECK_STR(m.data, "size=1m");
    free(m.data);
    char *bad[] = {"a,b", NULL};
    struct oci_mount m2 = {.options = bad};
    CHECK(oci_mount_parse_options(&m2, "/mounts/1", &err) < 0);
    free(m2.data);
}

static void test_caps_names(void)
{
    CHECK(oci_cap_from_name("CAP_SYS_ADMIN") == 21);
    CHECK(oci_cap_from_name("net_admin") == 12);
    CHECK(oci_cap_from_name("CAP_NOPE") < 0);
    CHECK_STR(oci_cap_name(0), "CAP_CHOWN");
    CHECK(oci_rlimit_from_name("RLIMIT_NPROC") == RLIMIT_NPROC);
}

/* podman passes fileMode as stat's st_mode, file type bits included. */
static void test_device_file_mode(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct oci_spec *s = NULL;
    const char *doc = "{\"ociVersion\":\"1.0\",\"linux\":{\"devices\":[{\"path\":\"/dev/mynull\",\"type\":\"c\","
                      "\"major\":1,\"minor\":3,\"fileMode\":8630},{\"path\":\"/dev/loop9\",\"type\":\"b\","
                      "\"major\":7,\"minor\":9,\"fileMode\":432}]}}";
    CHECK(oci_spec_parse(doc, strlen(doc), "config.json", &s, &err) == 0);
    CHECK(s && s->linux_.n_devices == 2);
    if (s && s->linux_.n_devices == 2) {
        CHECK(s->linux_.devices[0].has_file_mode && s->linux_.devices[0].file_mode == 0666);
        CHECK(s->linux_.devices[1].file_mode == 0660);
    }
    oci_spec_free(s);
    /* a char device's st_mode on a block device entry, and a stray bit */
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"b\",\"major\":1,"
                 "\"minor\":3,\"fileMode\":8630}]}}",
                 "disagree with type 'b'");
    expect_error("{\"ociVersion\":\"1.0\",\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"c\",\"major\":1,"
                 "\"minor\":3,\"fileMode\":1000000}]}}",
                 "fileMode");
}

static void test_process_file(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct oci_process *p = NULL;
    const char *doc = "{\"args\":[\"ls\"],\"cwd\":\"/tmp\",\"env\":[\"A=1\"]}";
    CHECK(oci_process_parse(doc, strlen(doc), "process.json", &p, &err) == 0);
    CHECK(p && p->args && strcmp(p->args[0], "ls") == 0);
    oci_process_free(p);
    p = NULL;
    const char *noargs = "{\"cwd\":\"/\"}";
    CHECK(oci_process_parse(noargs, strlen(noargs), "process.json", &p, &err) < 0);
    CHECK_ERR_HAS(err, "at least one argument");
}

static const struct unit_test config_tests[] = {UNIT_TEST(test_good), UNIT_TEST(test_errors), UNIT_TEST(test_mount_options),
                                         UNIT_TEST(test_caps_names), UNIT_TEST(test_device_file_mode),
                                         UNIT_TEST(test_process_file), UNIT_END};
UNIT_SUITE(config, config_tests);
