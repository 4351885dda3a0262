/* Landlock: annotation parsing, ABI masks, and the real restriction, applied
 * in fork()ed children (Landlock is process-wide and irreversible). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cap-ng.h>
#include <json-c/json.h>

#include "moat/lsm.h"
#include "moat/oci.h"
#include "moat/util.h"
#include "runtime/lsm-internal.h"
#include "unit.h"

static struct oci_spec *spec_with_landlock(const char *value)
{
    struct json_object *root = json_object_new_object();
    json_object_object_add(root, "ociVersion", json_object_new_string("1.0.2"));
    if (value) {
        struct json_object *an = json_object_new_object();
        json_object_object_add(an, MOAT_LANDLOCK_ANNOTATION, json_object_new_string(value));
        json_object_object_add(root, "annotations", an);
    }
    const char *text = json_object_to_json_string(root);
    struct oci_spec *spec = NULL;
    moat_error *err = NULL;
    if (oci_spec_parse(text, strlen(text), "test config", &spec, &err) < 0) {
        fprintf(stderr, "    spec_with_landlock: %s\n", err->msg);
        abort();
    }
    json_object_put(root);
    return spec;
}

/* Run fn in a child; its CHECKs come back as the exit status; 77: skipped. */
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

/* The sandbox used by the restriction tests: base/root is the "container
 * root", base/outside.txt a host file next to it. */
static char *base_dir, *root_dir, *outside_file;
static int test_abi; /* ABI the child applies; 0: the kernel's */

static void sandbox_make(void)
{
    char tmpl[] = "/tmp/moat-unit-landlock-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    base_dir = xstrdup(tmpl);
    root_dir = xasprintf("%s/root", base_dir);
    outside_file = xasprintf("%s/outside.txt", base_dir);
    _cleanup_free_ char *d1 = xasprintf("%s/d1", root_dir), *d2 = xasprintf("%s/d2", root_dir);
    _cleanup_free_ char *a = xasprintf("%s/a", root_dir);
    if (mkdir(root_dir, 0755) || mkdir(d1, 0755) || mkdir(d2, 0755))
        abort();
    const char *files[][2] = {{a, "inside"}, {outside_file, "outside"}};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_close_ int fd = open(files[i][0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || moat_write_all(fd, files[i][1], strlen(files[i][1])) < 0)
            abort();
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void sandbox_remove(void)
{
    nftw(base_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(base_dir);
    free(root_dir);
    free(outside_file);
    base_dir = root_dir = outside_file = NULL;
}

/* Apply Landlock beneath root_dir (with the ABI under test). */
static int restrict_to_root(moat_error **err)
{
    struct moat_landlock *ll = NULL;
    int abi = test_abi ? test_abi : moat_landlock_abi();
    if (moat_landlock_plan_new(abi, 0, &ll, err) < 0)
        return -1;
    _cleanup_close_ int rootfd = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int r = moat_landlock_apply(ll, rootfd, err);
    moat_landlock_free(ll);
    return r;
}

static bool fails_with(int r, int e) { return r < 0 && errno == e; }

static void test_landlock_masks(void)
{
    CHECK(moat_landlock_fs_access(0) == 0);
    CHECK(moat_landlock_fs_access(1) == 0x1fff);
    CHECK(moat_landlock_fs_access(2) == 0x3fff); /* + REFER */
    CHECK(moat_landlock_fs_access(3) == 0x7fff); /* + TRUNCATE */
    CHECK(moat_landlock_fs_access(4) == 0x7fff); /* ABI 4 adds network rights only */
    CHECK(moat_landlock_fs_access(5) == 0xffff); /* + IOCTL_DEV */
    CHECK(moat_landlock_fs_access(7) == 0xffff);
    CHECK(moat_landlock_scopes(5) == 0);
    CHECK(moat_landlock_scopes(6) == 0x3); /* ABSTRACT_UNIX_SOCKET | SIGNAL */
    CHECK(moat_landlock_scopes(7) == 0x3);
}

static void test_landlock_annotation(void)
{
    struct moat_landlock *ll = (struct moat_landlock *)&ll; /* must be reset */
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_landlock_prepare(NULL, &ll, &err) == 0 && ll == NULL);
    const char *off[] = {NULL, "false"};
    for (size_t i = 0; i < ARRAY_SIZE(off); i++) {
        _cleanup_spec_ struct oci_spec *spec = spec_with_landlock(off[i]);
        ll = (struct moat_landlock *)&ll;
        CHECK(moat_landlock_prepare(spec, &ll, &err) == 0);
        CHECK(ll == NULL);
        CHECK(moat_landlock_apply(ll, -1, &err) == 0); /* NULL plan: no-op */
    }
    const char *on[] = {"true", "rootfs"};
    int abi = moat_landlock_abi();
    for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
        _cleanup_spec_ struct oci_spec *spec = spec_with_landlock(on[i]);
        int r = moat_landlock_prepare(spec, &ll, &err);
        if (abi > 0) {
            CHECK(r == 0 && ll != NULL);
            CHECK(moat_landlock_plan_abi(ll) == abi);
        } else {
            CHECK(r < 0 && ll == NULL);
            CHECK_ERR_HAS(err, "annotation run.moat.landlock requested, but");
            moat_error_freep(&err);
        }
        moat_landlock_free(ll);
    }
    const char *bad[] = {"", "TRUE", "yes", "1", "on", "rootfs ", " true", "none",
                         "rootfs,net", "a-very-long-value-that-goes-on-and-on-and-on-and-on"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_spec_ struct oci_spec *spec = spec_with_landlock(bad[i]);
        ll = (struct moat_landlock *)&ll;
        CHECK(moat_landlock_prepare(spec, &ll, &err) < 0);
        CHECK(ll == NULL);
        CHECK(err && err->errnum == EINVAL);
        CHECK_ERR_HAS(err, "annotation run.moat.landlock: invalid value '");
        CHECK_ERR_HAS(err, "' (accepted: true, rootfs, false)");
        moat_error_freep(&err);
    }
    /* hostile bytes are not echoed raw; long values are cut */
    CHECK(moat_landlock_parse_mode("x\ny", &(bool){0}, &err) < 0);
    CHECK_ERR_HAS(err, "invalid value 'x?y'");
    moat_error_freep(&err);
    CHECK(moat_landlock_parse_mode(bad[9], &(bool){0}, &err) < 0);
    CHECK_ERR_HAS(err, "'a-very-long-value-that-goes-on-and-o...'");
}

static void test_landlock_unsupported_kernel(void)
{
    struct moat_landlock *ll = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_landlock_plan_new(0, ENOSYS, &ll, &err) < 0 && ll == NULL);
    CHECK(err && err->errnum == ENOSYS);
    CHECK_ERR_HAS(err, "annotation run.moat.landlock requested, but the kernel was built without Landlock "
                       "(landlock_create_ruleset: Function not implemented)");
    moat_error_freep(&err);
    CHECK(moat_landlock_plan_new(0, EOPNOTSUPP, &ll, &err) < 0 && ll == NULL);
    CHECK_ERR_HAS(err, "Landlock is built in but not enabled (add landlock to the kernel's lsm= boot parameter)");
    moat_error_freep(&err);
    CHECK(moat_landlock_plan_new(7, 0, &ll, &err) == 0 && ll != NULL);
    CHECK(moat_landlock_plan_abi(ll) == 7);
    moat_landlock_free(ll);
    moat_landlock_free(NULL);
}

static void test_landlock_abi(void)
{
    int abi = moat_landlock_abi();
    CHECK(abi >= 0);
    _cleanup_free_ char *lsm = NULL;
    _cleanup_error_ moat_error *err = NULL;
    size_t len;
    if (moat_read_file_at(AT_FDCWD, "/sys/kernel/security/lsm", 4096, &lsm, &len, &err) < 0)
        UNIT_SKIP("/sys/kernel/security/lsm is not readable (securityfs not mounted)");
    CHECK((abi > 0) == (strstr(lsm, "landlock") != NULL));
}

/* Everything beneath the root works; nothing outside it does. */
static void child_files(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_close_ int etcfd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* leaked before */
    _cleanup_close_ int rootfd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(etcfd >= 0 && rootfd >= 0);
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(restrict_to_root(&err) == 0);
    if (err)
        fprintf(stderr, "    %s\n", err->msg);

    /* inside: read, write, create, rename across directories, truncate, remove */
    char buf[16] = {0};
    int fd = openat(rootfd, "a", O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 6 && strcmp(buf, "inside") == 0);
    CHECK(fd >= 0 && pwrite(fd, "INSIDE", 6, 0) == 6);
    close(fd);
    fd = openat(rootfd, "new", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0 && write(fd, "n", 1) == 1);
    close(fd);
    CHECK(renameat(rootfd, "new", rootfd, "d1/new") == 0);
    CHECK(renameat(rootfd, "d1/new", rootfd, "d2/renamed") == 0);
    CHECK(mkdirat(rootfd, "d1/sub", 0755) == 0 && unlinkat(rootfd, "d1/sub", AT_REMOVEDIR) == 0);
    CHECK(symlinkat("a", rootfd, "link") == 0);
    fd = openat(rootfd, "link", O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    _cleanup_free_ char *abs_inside = xasprintf("%s/d2/renamed", root_dir);
    fd = open(abs_inside, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0); /* an absolute path that lands beneath the root is fine */
    close(fd);

    /* outside: refused with EACCES, however it is reached */
    CHECK(fails_with(open("/etc/hostname", O_RDONLY | O_CLOEXEC), EACCES));
    CHECK(fails_with(openat(etcfd, "hostname", O_RDONLY | O_CLOEXEC), EACCES)); /* leaked dir fd */
    CHECK(fails_with(open("/proc/self/root/etc/hostname", O_RDONLY | O_CLOEXEC), EACCES)); /* magic link */
    CHECK(fails_with(open(outside_file, O_RDONLY | O_CLOEXEC), EACCES));
    CHECK(fails_with(open(outside_file, O_WRONLY | O_CLOEXEC), EACCES));
    /* ABI 1-2 do not handle TRUNCATE: truncate(2) outside is not refused there */
    if (moat_landlock_abi() >= 3)
        CHECK(fails_with(truncate(outside_file, 0), EACCES));
    CHECK(fails_with(openat(etcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), EACCES));
    _cleanup_free_ char *escape = xasprintf("%s/escape", base_dir), *link = xasprintf("%s/link", base_dir);
    _cleanup_free_ char *moved = xasprintf("%s/moved", base_dir);
    CHECK(fails_with(symlinkat(root_dir, AT_FDCWD, escape), EACCES));
    /* hard link and rename out of the root (the destination is not beneath it) */
    CHECK(fails_with(linkat(rootfd, "a", AT_FDCWD, link, 0), EACCES));
    CHECK(fails_with(renameat(rootfd, "d2/renamed", AT_FDCWD, moved), EACCES));
}

static void test_landlock_files(void)
{
    if (moat_landlock_abi() < 1)
        UNIT_SKIP("the kernel has no Landlock");
    sandbox_make();
    test_abi = 0;
    CHECK(in_child(child_files) == 0);
    /* what the child did beneath the root is there; the outside file is intact */
    _cleanup_free_ char *renamed = xasprintf("%s/d2/renamed", root_dir), *out = NULL, *a = NULL;
    _cleanup_free_ char *apath = xasprintf("%s/a", root_dir);
    _cleanup_error_ moat_error *err = NULL;
    size_t len;
    CHECK(access(renamed, F_OK) == 0);
    CHECK(moat_read_file_at(AT_FDCWD, outside_file, 64, &out, &len, &err) == 0 && strcmp(out, "outside") == 0);
    CHECK(moat_read_file_at(AT_FDCWD, apath, 64, &a, &len, &err) == 0 && len == 0); /* truncated via link */
    const char *never[] = {"escape", "link", "moved"};
    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", base_dir, never[i]);
        CHECK(faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
    }
    sandbox_remove();
}

/* Each older ABI mask is accepted by this kernel and still confines; ABI 1
 * lacks REFER, so cross-directory renames are refused (EXDEV) there. */
static void child_older_abi(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_close_ int rootfd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(restrict_to_root(&err) == 0);
    CHECK(fails_with(open("/etc/hostname", O_RDONLY | O_CLOEXEC), EACCES));
    int fd = openat(rootfd, "a", O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    if (test_abi == 1)
        CHECK(fails_with(renameat(rootfd, "a", rootfd, "d1/a"), EXDEV));
    else
        CHECK(renameat(rootfd, "a", rootfd, "d1/a") == 0 && renameat(rootfd, "d1/a", rootfd, "a") == 0);
}

static void test_landlock_older_abi(void)
{
    int kabi = moat_landlock_abi();
    if (kabi < 1)
        UNIT_SKIP("the kernel has no Landlock");
    sandbox_make();
    for (test_abi = 1; test_abi <= kabi && test_abi <= 7; test_abi++) {
        int rc = in_child(child_older_abi);
        if (rc != 0)
            fprintf(stderr, "    ABI %d mask: child failed (%d)\n", test_abi, rc);
        CHECK(rc == 0);
    }
    test_abi = 0;
    sandbox_remove();
}

static char parent_sock[108];

static int abstract_socket(const char *name, bool listen_on, bool connect_to)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path + 1, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int r = listen_on ? (bind(s, (struct sockaddr *)&sa, len) == 0 ? listen(s, 4) : -1)
                      : connect_to ? connect(s, (struct sockaddr *)&sa, len) : 0;
    if (r < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* IPC scoping: abstract unix sockets and signals stay inside the domain. */
static void child_scopes(void)
{
    _cleanup_error_ moat_error *err = NULL;
    pid_t parent = getppid();
    /* unrestricted, the parent's socket and signals are reachable */
    int s = abstract_socket(parent_sock, false, true);
    CHECK(s >= 0);
    close(s);
    CHECK(kill(parent, 0) == 0);

    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(restrict_to_root(&err) == 0);
    CHECK(fails_with(abstract_socket(parent_sock, false, true), EPERM));
    CHECK(fails_with(kill(parent, 0), EPERM));
    CHECK(fails_with(kill(parent, SIGWINCH), EPERM)); /* ignored by default, should it get through */

    /* within the domain: its own socket and its own processes */
    _cleanup_free_ char *own = xasprintf("%s-child", parent_sock);
    _cleanup_close_ int l = abstract_socket(own, true, false);
    CHECK(l >= 0);
    s = abstract_socket(own, false, true);
    CHECK(s >= 0);
    close(s);
    CHECK(kill(getpid(), 0) == 0);
    pid_t kid = fork();
    if (kid == 0) {
        pause();
        _exit(0);
    }
    CHECK(kid > 0 && kill(kid, SIGKILL) == 0);
    waitpid(kid, NULL, 0);
}

static void test_landlock_scopes(void)
{
    int abi = moat_landlock_abi();
    if (abi < 6)
        UNIT_SKIP("Landlock ABI < 6 has no IPC scoping (abstract unix sockets, signals)");
    sandbox_make();
    snprintf(parent_sock, sizeof(parent_sock), "moat-unit-landlock-%d", (int)getpid());
    _cleanup_close_ int l = abstract_socket(parent_sock, true, false);
    CHECK(l >= 0);
    CHECK(in_child(child_scopes) == 0);
    sandbox_remove();
}

/* As root without no_new_privs: CAP_SYS_ADMIN is enough (the runtime's path). */
static void child_root_no_nnp(void)
{
    _cleanup_error_ moat_error *err = NULL;
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    CHECK(restrict_to_root(&err) == 0);
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0); /* not set behind our back */
    CHECK(fails_with(open("/etc/hostname", O_RDONLY | O_CLOEXEC), EACCES));
}

static void test_landlock_cap_sys_admin(void)
{
    if (moat_landlock_abi() < 1)
        UNIT_SKIP("the kernel has no Landlock");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        UNIT_SKIP("no_new_privs is already set on the test process");
    if (capng_get_caps_process() < 0 || !capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN))
        UNIT_SKIP("needs CAP_SYS_ADMIN (run as root)");
    sandbox_make();
    CHECK(in_child(child_root_no_nnp) == 0);
    sandbox_remove();
}

/* Neither no_new_privs nor CAP_SYS_ADMIN: refused, clearly, and nothing applied. */
static void child_no_nnp_no_cap(void)
{
    _cleanup_error_ moat_error *err = NULL;
    CHECK(capng_get_caps_process() == 0);
    capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN);
    CHECK(capng_apply(CAPNG_SELECT_CAPS) == 0);
    CHECK(restrict_to_root(&err) < 0);
    CHECK(err && err->errnum == EPERM);
    CHECK_ERR_HAS(err, "landlock_restrict_self: Operation not permitted (the process needs no_new_privs or "
                       "CAP_SYS_ADMIN in its user namespace)");
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
}

static void test_landlock_eperm(void)
{
    if (moat_landlock_abi() < 1)
        UNIT_SKIP("the kernel has no Landlock");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        UNIT_SKIP("no_new_privs is already set on the test process");
    sandbox_make();
    CHECK(in_child(child_no_nnp_no_cap) == 0);
    sandbox_remove();
}

/* Bad root fds are refused before anything is applied. */
static void child_bad_root(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_landlock *ll = NULL;
    CHECK(moat_landlock_plan_new(1, 0, &ll, &err) == 0);
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(moat_landlock_apply(ll, -1, &err) < 0);
    CHECK_ERR_HAS(err, "landlock: fstat container root fd -1: Bad file descriptor");
    moat_error_freep(&err);
    _cleanup_close_ int file = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    CHECK(moat_landlock_apply(ll, file, &err) < 0);
    CHECK(err && err->errnum == ENOTDIR);
    CHECK_ERR_HAS(err, "is not a directory");
    moat_landlock_free(ll);
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0); /* still unrestricted */
    if (fd >= 0)
        close(fd);
}

static void test_landlock_bad_root(void) { CHECK(in_child(child_bad_root) == 0); }

static const struct unit_test landlock_tests[] = {
    UNIT_TEST(test_landlock_masks),
    UNIT_TEST(test_landlock_annotation),
    UNIT_TEST(test_landlock_unsupported_kernel),
    UNIT_TEST(test_landlock_abi),
    UNIT_TEST(test_landlock_files),
    UNIT_TEST(test_landlock_older_abi),
    UNIT_TEST(test_landlock_scopes),
    UNIT_TEST(test_landlock_cap_sys_admin),
    UNIT_TEST(test_landlock_eperm),
    UNIT_TEST(test_landlock_bad_root),
    UNIT_END,
};
UNIT_SUITE(landlock, landlock_tests);
