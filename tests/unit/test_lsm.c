/* AppArmor / SELinux label decisions.  The decision logic runs against
 * stated host facts (moat_lsm_host), so every path is tested on any host;
 * the library calls are tested for what the host in front of us offers. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <selinux/selinux.h>

#include "moat/log.h"
#include "moat/lsm.h"
#include "moat/oci.h"
#include "moat/util.h"
#include "runtime/lsm-internal.h"
#include "unit.h"

/* A config.json with the given labels and annotations (NULL: absent). */
static struct oci_spec *spec_with(const char *apparmor, const char *selinux, const char *mount_label,
                                  const char *optional)
{
    struct json_object *root = json_object_new_object();
    struct json_object *proc = json_object_new_object();
    struct json_object *args = json_object_new_array();
    json_object_array_add(args, json_object_new_string("true"));
    json_object_object_add(proc, "args", args);
    json_object_object_add(proc, "cwd", json_object_new_string("/"));
    if (apparmor)
        json_object_object_add(proc, "apparmorProfile", json_object_new_string(apparmor));
    if (selinux)
        json_object_object_add(proc, "selinuxLabel", json_object_new_string(selinux));
    json_object_object_add(root, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(root, "process", proc);
    if (mount_label) {
        struct json_object *lx = json_object_new_object();
        json_object_object_add(lx, "mountLabel", json_object_new_string(mount_label));
        json_object_object_add(root, "linux", lx);
    }
    if (optional) {
        struct json_object *an = json_object_new_object();
        json_object_object_add(an, MOAT_LSM_OPTIONAL_ANNOTATION, json_object_new_string(optional));
        json_object_object_add(root, "annotations", an);
    }
    const char *text = json_object_to_json_string(root);
    struct oci_spec *spec = NULL;
    moat_error *err = NULL;
    if (oci_spec_parse(text, strlen(text), "test config", &spec, &err) < 0) {
        fprintf(stderr, "    spec_with: %s\n", err->msg);
        abort();
    }
    json_object_put(root);
    return spec;
}

static bool plan_empty(const struct moat_lsm_plan *p)
{
    return !p->apparmor_profile && !p->selinux_label && !p->mount_label;
}

/* Capture moat_log output in a memfd for the duration of a test. */
static int log_capture_start(void)
{
    int fd = memfd_create("moat-unit-log", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    struct moat_log_config c = {.progname = "moat", .level = MOAT_LOG_WARN, .file_fd = fd, .stderr_on = 0};
    moat_log_setup(&c);
    return fd;
}

static char *log_capture_end(int fd)
{
    struct moat_log_config c = {.progname = "moat", .level = MOAT_LOG_WARN, .file_fd = -1, .stderr_on = 1};
    moat_log_setup(&c);
    char *text = NULL;
    size_t len;
    moat_error *err = NULL;
    lseek(fd, 0, SEEK_SET);
    if (moat_read_fd_bounded(fd, 1 << 16, &text, &len, &err) < 0)
        abort();
    close(fd);
    return text;
}

/* Run fn in a child (it may change process-wide state); its CHECKs count
 * there and come back as the exit status; 77 means it skipped. */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        unit_failures = 0;
        unit_skip = NULL;
        fn();
        _exit(unit_skip ? 77 : unit_failures ? 1 : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const struct moat_lsm_host host_none = {false, false};
static const struct moat_lsm_host host_both = {true, true};

static void test_lsm_nothing_requested(void)
{
    const struct moat_lsm_host *hosts[] = {&host_none, &host_both};
    _cleanup_spec_ struct oci_spec *plain = spec_with(NULL, NULL, NULL, NULL);
    _cleanup_spec_ struct oci_spec *blank = spec_with("", "", "", NULL);
    struct oci_spec *specs[] = {plain, blank};
    for (size_t h = 0; h < 2; h++)
        for (size_t s = 0; s < 2; s++) {
            _cleanup_error_ moat_error *err = NULL;
            struct moat_lsm_plan plan = {0};
            CHECK(moat_lsm_plan_decide(specs[s], NULL, hosts[h], &plan, &err) == 0);
            CHECK(plan_empty(&plan));
            CHECK(moat_lsm_mount_option(&plan) == NULL);
            moat_lsm_plan_clear(&plan);
        }
    /* The real entry point on this host, and a bare spec with no process. */
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    CHECK(moat_lsm_plan_make(plain, NULL, &plan, &err) == 0);
    CHECK(plan_empty(&plan));
    struct oci_spec bare = {0};
    CHECK(moat_lsm_plan_make(&bare, NULL, &plan, &err) == 0);
    CHECK(plan_empty(&plan));
}

static void test_lsm_not_enabled_refused(void)
{
    struct {
        const char *aa, *se, *ml, *msg;
    } cases[] = {
        {"docker-default", NULL, NULL,
         "AppArmor profile 'docker-default' requested, but AppArmor is not enabled on this host "
         "(set run.moat.lsm.optional=true to run without it)"},
        {NULL, "system_u:system_r:container_t:s0:c1,c2", NULL,
         "SELinux label 'system_u:system_r:container_t:s0:c1,c2' requested, but SELinux is not enabled on this "
         "host (set run.moat.lsm.optional=true to run without it)"},
        {NULL, NULL, "system_u:object_r:container_file_t:s0",
         "SELinux mount label 'system_u:object_r:container_file_t:s0' requested, but SELinux is not enabled on "
         "this host (set run.moat.lsm.optional=true to run without it)"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        /* "false" and any non-true value keep the refusal */
        _cleanup_spec_ struct oci_spec *spec = spec_with(cases[i].aa, cases[i].se, cases[i].ml, "false");
        _cleanup_error_ moat_error *err = NULL;
        struct moat_lsm_plan plan = {0};
        CHECK(moat_lsm_plan_decide(spec, NULL, &host_none, &plan, &err) < 0);
        CHECK(err && err->errnum == EOPNOTSUPP);
        CHECK_STR(err ? err->msg : NULL, cases[i].msg);
        CHECK(plan_empty(&plan));
    }
    /* A partly possible plan is not half-applied: AppArmor active, SELinux not. */
    _cleanup_spec_ struct oci_spec *spec = spec_with("docker-default", "u:r:t:s0", NULL, NULL);
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    struct moat_lsm_host aa_only = {true, false};
    CHECK(moat_lsm_plan_decide(spec, NULL, &aa_only, &plan, &err) < 0);
    CHECK_ERR_HAS(err, "SELinux label 'u:r:t:s0' requested, but SELinux is not enabled");
    CHECK(plan_empty(&plan));
}

static void test_lsm_optional_warns(void)
{
    _cleanup_spec_ struct oci_spec *spec =
        spec_with("docker-default", "system_u:system_r:container_t:s0:c1,c2", "system_u:object_r:container_file_t:s0",
                  "true");
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    int fd = log_capture_start();
    int r = moat_lsm_plan_decide(spec, NULL, &host_none, &plan, &err);
    _cleanup_free_ char *log = log_capture_end(fd);
    CHECK(r == 0);
    CHECK(plan_empty(&plan));
    CHECK(moat_lsm_mount_option(&plan) == NULL);
    CHECK(strstr(log, "warning: AppArmor profile 'docker-default' requested, but AppArmor is not enabled on this "
                      "host; running without it (run.moat.lsm.optional=true)") != NULL);
    CHECK(strstr(log, "warning: SELinux label 'system_u:system_r:container_t:s0:c1,c2' requested, but SELinux is "
                      "not enabled") != NULL);
    CHECK(strstr(log, "warning: SELinux mount label 'system_u:object_r:container_file_t:s0' requested") != NULL);

    /* Optional does not drop labels on a host that has the LSM. */
    CHECK(moat_lsm_plan_decide(spec, NULL, &host_both, &plan, &err) == 0);
    CHECK_STR(plan.apparmor_profile, "docker-default");
    moat_lsm_plan_clear(&plan);
}

static void test_lsm_active_plan(void)
{
    _cleanup_spec_ struct oci_spec *spec =
        spec_with("docker-default", "system_u:system_r:container_t:s0:c1,c2", "system_u:object_r:container_file_t:s0:c1,c2",
                  NULL);
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    CHECK(moat_lsm_plan_decide(spec, NULL, &host_both, &plan, &err) == 0);
    CHECK_STR(plan.apparmor_profile, "docker-default");
    CHECK_STR(plan.selinux_label, "system_u:system_r:container_t:s0:c1,c2");
    CHECK_STR(plan.mount_label, "system_u:object_r:container_file_t:s0:c1,c2");
    moat_lsm_plan_clear(&plan);
    CHECK(plan_empty(&plan));

    /* An exec process brings its own labels; the spec still gives the mount label. */
    _cleanup_spec_ struct oci_spec *other = spec_with("exec-profile", "u:r:exec_t", NULL, NULL);
    CHECK(moat_lsm_plan_decide(spec, other->process, &host_both, &plan, &err) == 0);
    CHECK_STR(plan.apparmor_profile, "exec-profile");
    CHECK_STR(plan.selinux_label, "u:r:exec_t");
    CHECK_STR(plan.mount_label, "system_u:object_r:container_file_t:s0:c1,c2");
    moat_lsm_plan_clear(&plan);
}

static void test_lsm_unconfined(void)
{
    /* An explicit "unconfined" is accepted on any host and applies nothing. */
    _cleanup_spec_ struct oci_spec *spec = spec_with("unconfined", NULL, NULL, NULL);
    const struct moat_lsm_host *hosts[] = {&host_none, &host_both};
    for (size_t h = 0; h < 2; h++) {
        _cleanup_error_ moat_error *err = NULL;
        struct moat_lsm_plan plan = {0};
        int fd = log_capture_start();
        CHECK(moat_lsm_plan_decide(spec, NULL, hosts[h], &plan, &err) == 0);
        _cleanup_free_ char *log = log_capture_end(fd);
        CHECK(plan_empty(&plan));
        CHECK_STR(log, "");
    }
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    CHECK(moat_lsm_plan_make(spec, NULL, &plan, &err) == 0);
    CHECK(plan_empty(&plan));
}

static void test_lsm_invalid_labels(void)
{
    char long_label[MOAT_LSM_LABEL_MAX + 2];
    memset(long_label, 'a', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = '\0';
    char long_context[MOAT_LSM_LABEL_MAX + 16];
    snprintf(long_context, sizeof(long_context), "u:r:t:%s", long_label);
    struct {
        const char *aa, *se, *ml, *msg;
    } bad[] = {
        {"docker\ndefault", NULL, NULL, "AppArmor profile 'docker\\x0adefault' contains a control character at byte 6"},
        {"docker\tx", NULL, NULL, "contains a control character"},
        {" docker-default", NULL, NULL, "leading or trailing spaces"},
        {long_label, NULL, NULL, "is longer than 1024 bytes"},
        {NULL, "container_t", NULL, "SELinux label 'container_t' is not an SELinux context of the form"},
        {NULL, "u:r", NULL, "not an SELinux context"},
        {NULL, "u::t:s0", NULL, "not an SELinux context"},
        {NULL, "u:r:t:", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0:", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0:c1,,c2", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0:c1.", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0-", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0-s0-s0", NULL, "not an SELinux context"},
        {NULL, "u:r:t\":s0", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0:c1,c2\",rw", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0 c1", NULL, "not an SELinux context"},
        {NULL, "u:r:t:s0\n", NULL, "contains a control character"},
        {NULL, long_context, NULL, "is longer than 1024 bytes"},
        {NULL, NULL, "u:object_r", "SELinux mount label 'u:object_r' is not an SELinux context"},
        {NULL, NULL, "u:object_r:t:s0:c1,c2\"", "SELinux mount label"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        /* refused even when optional and whatever the host has */
        _cleanup_spec_ struct oci_spec *spec = spec_with(bad[i].aa, bad[i].se, bad[i].ml, "true");
        const struct moat_lsm_host *hosts[] = {&host_none, &host_both};
        for (size_t h = 0; h < 2; h++) {
            _cleanup_error_ moat_error *err = NULL;
            struct moat_lsm_plan plan = {0};
            CHECK(moat_lsm_plan_decide(spec, NULL, hosts[h], &plan, &err) < 0);
            CHECK(err && err->errnum == EINVAL);
            CHECK_ERR_HAS(err, bad[i].msg);
            CHECK(plan_empty(&plan));
        }
    }
    const char *good_ctx[] = {"u:r:t",
                              "system_u:system_r:container_t:s0",
                              "system_u:system_r:container_t:s0:c1,c2",
                              "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
                              "system_u:system_r:spc_t:s0-s15:c0.c255,c300",
                              "staff_u:staff_r:my-app.sub_t:SystemLow-SystemHigh"};
    for (size_t i = 0; i < ARRAY_SIZE(good_ctx); i++) {
        _cleanup_error_ moat_error *err = NULL;
        CHECK(moat_selinux_context_check(good_ctx[i], "SELinux label", &err) == 0);
        if (err)
            fprintf(stderr, "    %s\n", err->msg);
    }
    const char *good_aa[] = {"docker-default", "localhost/my profile", ":ns:profile//hat", "a"};
    for (size_t i = 0; i < ARRAY_SIZE(good_aa); i++) {
        _cleanup_error_ moat_error *err = NULL;
        CHECK(moat_apparmor_profile_check(good_aa[i], &err) == 0);
    }
}

static void test_lsm_mount_option(void)
{
    struct moat_lsm_plan plan = {0};
    CHECK(moat_lsm_mount_option(NULL) == NULL);
    CHECK(moat_lsm_mount_option(&plan) == NULL);
    plan.selinux_label = xstrdup("system_u:system_r:container_t:s0:c1,c2");
    CHECK(moat_lsm_mount_option(&plan) == NULL); /* the process label is not a mount label */
    plan.mount_label = xstrdup("system_u:object_r:container_file_t:s0:c1,c2");
    _cleanup_free_ char *opt = moat_lsm_mount_option(&plan);
    CHECK_STR(opt, "context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
    /* Split the way the kernel splits mount data (commas outside quotes): one option. */
    size_t commas_outside = 0;
    bool quoted = false;
    for (const char *p = opt; p && *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == ',' && !quoted)
            commas_outside++;
    }
    CHECK(commas_outside == 0 && !quoted);
    moat_lsm_plan_clear(&plan);
    CHECK(plan_empty(&plan));
    moat_lsm_plan_clear(NULL);
}

/* moat_apparmor_enabled / moat_selinux_enabled agree with the kernel's LSM list. */
static void test_lsm_enabled_matches_kernel(void)
{
    _cleanup_free_ char *lsm = NULL;
    _cleanup_error_ moat_error *err = NULL;
    size_t len;
    if (moat_read_file_at(AT_FDCWD, "/sys/kernel/security/lsm", 4096, &lsm, &len, &err) < 0)
        UNIT_SKIP("/sys/kernel/security/lsm is not readable (securityfs not mounted)");
    bool aa_listed = strstr(lsm, "apparmor") != NULL, se_listed = strstr(lsm, "selinux") != NULL;
    if (!aa_listed)
        CHECK(!moat_apparmor_enabled());
    if (!se_listed)
        CHECK(!moat_selinux_enabled());
    if (moat_apparmor_enabled())
        CHECK(aa_listed);
    if (moat_selinux_enabled())
        CHECK(se_listed);
}

/* The real entry point on this host: refused where the LSM is missing,
 * planned where it is active. */
static void test_lsm_plan_make_host(void)
{
    _cleanup_spec_ struct oci_spec *aa = spec_with("docker-default", NULL, NULL, NULL);
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    int r = moat_lsm_plan_make(aa, NULL, &plan, &err);
    if (moat_apparmor_enabled()) {
        CHECK(r == 0);
        CHECK_STR(plan.apparmor_profile, "docker-default");
    } else {
        CHECK(r < 0);
        CHECK_ERR_HAS(err, "AppArmor profile 'docker-default' requested, but AppArmor is not enabled on this host");
    }
    moat_lsm_plan_clear(&plan);
    moat_error_freep(&err);

    if (moat_selinux_enabled()) {
        /* the policy judges contexts: a type that no policy defines is refused */
        _cleanup_spec_ struct oci_spec *se = spec_with(NULL, "system_u:system_r:moat_unit_no_such_t:s0", NULL, NULL);
        CHECK(moat_lsm_plan_make(se, NULL, &plan, &err) < 0);
        CHECK_ERR_HAS(err, "is not a valid context under the loaded SELinux policy");
    } else {
        _cleanup_spec_ struct oci_spec *se = spec_with(NULL, NULL, "system_u:object_r:container_file_t:s0", NULL);
        CHECK(moat_lsm_plan_make(se, NULL, &plan, &err) < 0);
        CHECK_ERR_HAS(err, "SELinux mount label 'system_u:object_r:container_file_t:s0' requested, but SELinux is "
                           "not enabled on this host");
    }
    CHECK(plan_empty(&plan));
}

static void test_lsm_apply_exec_empty(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    CHECK(moat_lsm_apply_exec(NULL, &err) == 0);
    CHECK(moat_lsm_apply_exec(&plan, &err) == 0);
    CHECK(err == NULL);
}

/* AppArmor: a profile no policy loads is refused by aa_change_onexec, on an
 * AppArmor host (ENOENT) and on one without it; the error names the call. */
static void child_apply_apparmor(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {.apparmor_profile = xstrdup("moat-unit-no-such-profile")};
    CHECK(moat_lsm_apply_exec(&plan, &err) < 0);
    CHECK_ERR_HAS(err, "aa_change_onexec('moat-unit-no-such-profile'): ");
    moat_lsm_plan_clear(&plan);
}

static void test_lsm_apply_exec_apparmor(void) { CHECK(in_child(child_apply_apparmor) == 0); }

/* SELinux: with SELinux active, setexeccon(current context) takes effect;
 * without it, setexeccon fails and the error names the call. */
static void child_apply_selinux(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_lsm_plan plan = {0};
    if (moat_selinux_enabled()) {
        char *con = NULL;
        if (getcon(&con) < 0)
            UNIT_SKIP("getcon failed");
        plan.selinux_label = xstrdup(con);
        freecon(con);
        CHECK(moat_lsm_apply_exec(&plan, &err) == 0);
        char *exec = NULL;
        CHECK(getexeccon(&exec) == 0 && exec && strcmp(exec, plan.selinux_label) == 0);
        freecon(exec);
    } else {
        plan.selinux_label = xstrdup("system_u:system_r:container_t:s0");
        CHECK(moat_lsm_apply_exec(&plan, &err) < 0);
        CHECK_ERR_HAS(err, "setexeccon('system_u:system_r:container_t:s0'): ");
    }
    moat_lsm_plan_clear(&plan);
}

static void test_lsm_apply_exec_selinux(void) { CHECK(in_child(child_apply_selinux) == 0); }

/* Label writes go only through an unmounted-over procfs attribute
 * (CVE-2025-52881): bind-mount another procfs file over attr/exec, or hide
 * /proc under a tmpfs, and the write is refused before it happens. */
static void child_procattr_mounts(void)
{
    _cleanup_error_ moat_error *err = NULL;
    if (unshare(CLONE_NEWNS) < 0)
        UNIT_SKIP("needs CAP_SYS_ADMIN to unshare a mount namespace");
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    CHECK(moat_lsm_procattr_check("thread-self/attr/exec", &err) == 0);

    CHECK(mount("/proc/thread-self/attr/current", "/proc/thread-self/attr/exec", NULL, MS_BIND, NULL) == 0);
    CHECK(moat_lsm_procattr_check("thread-self/attr/exec", &err) < 0);
    CHECK_ERR_HAS(err, "'/proc/thread-self/attr/exec' crosses a mount point: refusing to write an LSM label");
    moat_error_freep(&err);
    struct moat_lsm_plan plan = {.selinux_label = xstrdup("u:r:t:s0")};
    CHECK(moat_lsm_apply_exec(&plan, &err) < 0);
    CHECK_ERR_HAS(err, "SELinux label 'u:r:t:s0': '/proc/thread-self/attr/exec' crosses a mount point");
    moat_error_freep(&err);
    moat_lsm_plan_clear(&plan);

    CHECK(mount("tmpfs", "/proc", "tmpfs", 0, "size=64k") == 0);
    CHECK(moat_lsm_procattr_check("thread-self/attr/exec", &err) < 0);
    CHECK_ERR_HAS(err, "'/proc' is not the root of a procfs mount");
}

static void test_lsm_procattr_check(void)
{
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_lsm_procattr_check("thread-self/attr/exec", &err) == 0);
    CHECK(moat_lsm_procattr_check("thread-self/attr/no-such-attr", &err) < 0);
    CHECK(err && err->errnum == ENOENT);
    CHECK_ERR_HAS(err, "open '/proc/thread-self/attr/no-such-attr'");
    moat_error_freep(&err);
    CHECK(moat_lsm_procattr_check("../etc/hostname", &err) < 0); /* stays beneath /proc */
    int rc = in_child(child_procattr_mounts);
    if (rc == 77)
        UNIT_SKIP("needs CAP_SYS_ADMIN to unshare a mount namespace");
    CHECK(rc == 0);
}

static const struct unit_test lsm_tests[] = {
    UNIT_TEST(test_lsm_nothing_requested),
    UNIT_TEST(test_lsm_not_enabled_refused),
    UNIT_TEST(test_lsm_optional_warns),
    UNIT_TEST(test_lsm_active_plan),
    UNIT_TEST(test_lsm_unconfined),
    UNIT_TEST(test_lsm_invalid_labels),
    UNIT_TEST(test_lsm_mount_option),
    UNIT_TEST(test_lsm_enabled_matches_kernel),
    UNIT_TEST(test_lsm_plan_make_host),
    UNIT_TEST(test_lsm_apply_exec_empty),
    UNIT_TEST(test_lsm_apply_exec_apparmor),
    UNIT_TEST(test_lsm_apply_exec_selinux),
    UNIT_TEST(test_lsm_procattr_check),
    UNIT_END,
};
UNIT_SUITE(lsm, lsm_tests);
