/* The store's sandbox for work on untrusted bytes: results and errors come
 * back; inside, writes outside the allowed directory, sockets, exec, real
 * device nodes and inherited fds are gone. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/util.h"
#include "unit.h"

struct probe_arg {
    int dir;      /* allowed */
    int outside;  /* a directory fd the child keeps but may not write beneath */
    int stray_fd; /* not listed: must be closed in the child */
};

static int probe(void *argp, struct json_object **ret, moat_error **err)
{
    (void)err;
    struct probe_arg *a = argp;
    struct json_object *o = json_object_new_object();
    int fd = openat(a->dir, "inside", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    json_object_object_add(o, "inside", json_object_new_boolean(fd >= 0));
    if (fd >= 0)
        close(fd);
    fd = openat(a->outside, "escaped", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    json_object_object_add(o, "outside_errno", json_object_new_int(fd < 0 ? errno : 0));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    json_object_object_add(o, "socket_errno", json_object_new_int(fd < 0 ? errno : 0));
    char *argv[] = {"/bin/true", NULL};
    execve("/bin/true", argv, NULL);
    json_object_object_add(o, "exec_errno", json_object_new_int(errno));
    int r = mknodat(a->dir, "null", S_IFCHR | 0666, makedev(1, 3));
    json_object_object_add(o, "mknod_dev_errno", json_object_new_int(r < 0 ? errno : 0));
    r = mknodat(a->dir, "wh", S_IFCHR, makedev(0, 0));
    json_object_object_add(o, "whiteout", json_object_new_boolean(r == 0));
    json_object_object_add(o, "stray_closed", json_object_new_boolean(fcntl(a->stray_fd, F_GETFD) < 0));
    json_object_object_add(o, "uid", json_object_new_int((int)getuid()));
    *ret = o;
    return 0;
}

static int failing(void *arg, struct json_object **ret, moat_error **err)
{
    (void)arg;
    (void)ret;
    return moat_err(err, EXDEV, "it failed on purpose");
}

static void mk(char *tmpl, int *dir, int *outside)
{
    if (!mkdtemp(tmpl))
        abort();
    char p[128];
    snprintf(p, sizeof p, "%s/in", tmpl);
    mkdir(p, 0755);
    *dir = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof p, "%s/out", tmpl);
    mkdir(p, 0777);
    *outside = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void rm(const char *tmpl)
{
    int t = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    if (moat_rm_rf_at(t, tmpl + 5, &err) < 0)
        moat_error_free(err);
    close(t);
}

/* run the probe; returns a bitmask of failed expectations (0: all good) */
static int run_probe(const struct image_userns *ns, int dir, int outside, uid_t expect_uid)
{
    int stray = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct probe_arg a = {dir, outside, stray};
    struct sbx_opts o = {.userns = ns, .write_fd = dir, .keep_fds = {outside}, .n_keep = 1};
    struct json_object *res = NULL;
    moat_error *err = NULL;
    int bad = 0;
    if (sbx_run(&o, probe, &a, &res, &err) < 0) {
        fprintf(stderr, "    sbx_run: %s\n", err->msg);
        moat_error_free(err);
        close(stray);
        return 1;
    }
    struct json_object *v;
#define GET(k) (json_object_object_get_ex(res, k, &v) ? v : NULL)
    if (!json_object_get_boolean(GET("inside")))
        bad |= 2;
    if (json_object_get_int(GET("outside_errno")) != EACCES)
        bad |= 4;
    if (json_object_get_int(GET("socket_errno")) != EPERM)
        bad |= 8;
    if (json_object_get_int(GET("exec_errno")) != EPERM)
        bad |= 16;
    if (json_object_get_int(GET("mknod_dev_errno")) != EPERM)
        bad |= 32;
    if (!json_object_get_boolean(GET("whiteout")))
        bad |= 64;
    if (!json_object_get_boolean(GET("stray_closed")))
        bad |= 128;
    if ((uid_t)json_object_get_int(GET("uid")) != (ns && ns->enabled ? 0 : getuid()))
        bad |= 256;
#undef GET
    struct stat st;
    if (fstatat(dir, "inside", &st, 0) < 0 || st.st_uid != expect_uid)
        bad |= 512;
    if (faccessat(outside, "escaped", F_OK, 0) == 0)
        bad |= 1024;
    json_object_put(res);
    close(stray);
    return bad;
}

static void test_sandbox_root(void)
{
    char tmpl[] = "/tmp/moat-unit-sbx-XXXXXX";
    int dir, outside;
    mk(tmpl, &dir, &outside);
    int bad = run_probe(NULL, dir, outside, getuid());
    if (bad)
        fprintf(stderr, "    failed expectations: 0x%x\n", bad);
    CHECK(bad == 0);
    struct sbx_opts o = {.write_fd = -1};
    _cleanup_error_ moat_error *err = NULL;
    CHECK(sbx_run(&o, failing, NULL, NULL, &err) < 0);
    CHECK_ERR_HAS(err, "it failed on purpose");
    CHECK(err && err->errnum == EXDEV);
    close(dir);
    close(outside);
    rm(tmpl);
}

/* As a normal user (a forked child that drops to an unprivileged uid): the
 * sandbox runs in the user's namespace, root inside is the user outside. */
static void test_sandbox_rootless(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root to switch to an unprivileged test uid");
    struct passwd *pw = getpwnam("moattest");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    char tmpl[] = "/tmp/moat-unit-sbx-XXXXXX";
    int dir, outside;
    mk(tmpl, &dir, &outside);
    CHECK(fchown(dir, uid, gid) == 0 && fchown(outside, uid, gid) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(100);
        prctl(PR_SET_DUMPABLE, 1); /* the uid change made /proc/<pid> root's */
        struct image_userns ns;
        moat_error *err = NULL;
        if (image_userns_default(&ns, &err) < 0 || !ns.enabled)
            _exit(101);
        int bad = run_probe(&ns, dir, outside, uid);
        _exit(bad & 0xff ? 1 : bad ? 2 : 0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "    rootless probe: status 0x%x\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(dir);
    close(outside);
    rm(tmpl);
}

static const struct unit_test sandbox_tests[] = {UNIT_TEST(test_sandbox_root), UNIT_TEST(test_sandbox_rootless),
                                                 UNIT_END};
UNIT_SUITE(sandbox, sandbox_tests);
