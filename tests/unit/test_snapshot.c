/* Snapshots: overlay (as root and inside a user namespace) and copy, what
 * they show, docker diff, the changes as a layer, commit; id-mapped layers. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tools/tarcorpus.h"
#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"
#include "unit.h"

struct env {
    char dir[64];
    struct moat_store *s;
};

static int layer1(void)
{
    int fd = memfd_create("l1", MFD_CLOEXEC);
    struct tb t;
    tb_open(&t, fd, "gzip");
    tb_dir(&t, "etc/", 0755);
    tb_file(&t, "etc/hello", "hello\n", 0644);
    tb_file(&t, "etc/gone", "bye\n", 0644);
    tb_dir(&t, "opq/", 0755);
    tb_file(&t, "opq/old", "old\n", 0644);
    tb_file(&t, "keep", "k\n", 0644);
    tb_hardlink(&t, "keep2", "keep");
    tb_close(&t);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int layer2(void)
{
    int fd = memfd_create("l2", MFD_CLOEXEC);
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, "etc/.wh.gone", "", 0644);
    tb_dir(&t, "opq/", 0755);
    tb_file(&t, "opq/.wh..wh..opq", "", 0644);
    tb_file(&t, "opq/new", "new\n", 0644);
    tb_close(&t);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* a store with image "base" (two layers: a whiteout and an opaque dir on top) */
static int env_open(struct env *e, moat_error **err)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/moat-unit-snap-XXXXXX");
    if (!mkdtemp(e->dir))
        return moat_err_sys(err, "mkdtemp");
    chmod(e->dir, 0755);
    _cleanup_free_ char *root = xasprintf("%s/store", e->dir);
    _cleanup_free_ char *cfg = xasprintf("%s/nocfg", e->dir);
    struct moat_store_opts o = {.root = root, .config_dir = cfg};
    if (moat_store_open(&o, &e->s, err) < 0)
        return -1;
    _cleanup_close_ int l1 = layer1(), l2 = layer2();
    struct moat_import_opts io = {.ref = "base:l1"};
    _cleanup_free_ char *id1 = NULL, *id2 = NULL;
    struct moat_commit_opts co = {.ref = "base", .created_by = "test"};
    if (moat_image_import(e->s, l1, &io, &id1, err) < 0 || moat_image_add_layer(e->s, "base:l1", l2, &co, &id2, err) < 0)
        return -1;
    return 0;
}

static void env_close(struct env *e)
{
    moat_store_close(e->s);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    /* rootless trees hold subordinate ids: the test's own uid can't always remove them */
    if (moat_rm_rf_at(d, e->dir + 5, &err) < 0)
        moat_error_free(err);
    close(d);
}

static bool has(int dfd, const char *path) { return faccessat(dfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0; }

static bool content_is(int dfd, const char *path, const char *want)
{
    char buf[64] = {0};
    int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 0 && !strcmp(buf, want);
}

/* What every driver must show for "base", then the container's changes. */
static int check_view_and_change(int root)
{
    int bad = 0;
    if (!content_is(root, "etc/hello", "hello\n"))
        bad |= 1;
    if (has(root, "etc/gone") || has(root, "opq/old") || !content_is(root, "opq/new", "new\n"))
        bad |= 2;
    struct stat a, b;
    if (fstatat(root, "keep", &a, 0) < 0 || fstatat(root, "keep2", &b, 0) < 0 || a.st_ino != b.st_ino)
        bad |= 4;
    int fd = openat(root, "etc/added", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "a\n", 2) != 2)
        bad |= 8;
    if (fd >= 0)
        close(fd);
    if (unlinkat(root, "etc/hello", 0) < 0 || mkdirat(root, "newdir", 0755) < 0)
        bad |= 16;
    return bad;
}

static void check_diff_export_commit(struct env *e, const char *id)
{
    _cleanup_error_ moat_error *err = NULL;
    struct moat_snapshot *sn = NULL;
    CHECK(moat_snapshot_get(e->s, id, &sn, &err) == 0);
    if (!sn)
        return;
    struct moat_change *v = NULL;
    size_t n = 0;
    CHECK(moat_snapshot_diff(e->s, sn, &v, &n, &err) == 0);
    static const char *const want[] = {"C /etc", "A /etc/added", "D /etc/hello", "A /newdir"};
    CHECK(n == ARRAY_SIZE(want));
    for (size_t i = 0; i < n && i < ARRAY_SIZE(want); i++) {
        char got[128];
        snprintf(got, sizeof got, "%c %s", v[i].kind, v[i].path);
        CHECK_STR(got, want[i]);
    }
    moat_changes_free(v, n);
    _cleanup_close_ int out = memfd_create("export", MFD_CLOEXEC);
    char diff[MOAT_DIGEST_SIZE];
    uint64_t size = 0;
    CHECK(moat_snapshot_export_layer(e->s, sn, out, diff, &size, &err) == 0 && size > 0);
    /* the tar: etc/, etc/added, etc/.wh.hello, newdir/ */
    lseek(out, 0, SEEK_SET);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_fd(a, out, 4096);
    struct archive_entry *ae;
    char names[512] = "";
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        strcat(names, archive_entry_pathname(ae));
        strcat(names, " ");
    }
    archive_read_free(a);
    CHECK_STR(names, "etc/ etc/added etc/.wh.hello newdir/ ");
    struct moat_commit_opts co = {.ref = "committed:1", .comment = "c"};
    _cleanup_free_ char *img = NULL;
    CHECK(moat_snapshot_commit(e->s, id, &co, &img, &err) == 0);
    struct moat_image im;
    CHECK(moat_image_lookup(e->s, "committed:1", 0, &im, &err) == 0 && im.config->n_diff_ids == 3 &&
          !strcmp(im.config->diff_ids[2], diff));
    moat_image_clear(&im);
    moat_snapshot_free(sn);
    CHECK(moat_snapshot_remove(e->s, id, &err) == 0);
    CHECK(moat_snapshot_get(e->s, id, &sn, &err) < 0);
}

static void test_overlay_root(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root (mounts in a private mount namespace)");
    struct env e;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(env_open(&e, &err) == 0);
    struct moat_snapshot *sn = NULL;
    struct moat_snapshot_opts so = {.owner = "c1"};
    CHECK(moat_snapshot_create(e.s, "c1", "base", &so, &sn, &err) == 0);
    if (!sn || strcmp(sn->driver, "overlay") != 0) {
        moat_snapshot_free(sn);
        env_close(&e);
        UNIT_SKIP("overlayfs is not usable here (the store chose copy)");
    }
    /* the image is in use now */
    struct moat_removal r = {0};
    CHECK(moat_image_remove(e.s, "base", false, &r, &err) < 0);
    CHECK_ERR_HAS(err, "container c1 is using its referenced image");
    moat_error_free(err);
    err = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        moat_error *e2 = NULL;
        int m = -1;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            moat_snapshot_mount(e.s, sn, NULL, &m, &e2) < 0 ||
            move_mount(m, "", AT_FDCWD, sn->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
            fprintf(stderr, "    mount: %s\n", e2 ? e2->msg : strerror(errno));
            _exit(100);
        }
        int root = open(sn->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _exit(check_view_and_change(root));
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        fprintf(stderr, "    overlay view: status 0x%x\n", status);
    moat_snapshot_free(sn);
    check_diff_export_commit(&e, "c1");
    struct moat_check c;
    CHECK(moat_store_check(e.s, false, &c, &err) == 0 && !c.problems);
    moat_check_clear(&c);
    env_close(&e);
}

static void test_copy_driver(void)
{
    struct env e;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(env_open(&e, &err) == 0);
    struct moat_snapshot *sn = NULL;
    struct moat_snapshot_opts so = {.copy = true};
    CHECK(moat_snapshot_create(e.s, "c2", "base", &so, &sn, &err) == 0);
    CHECK(sn && !strcmp(sn->driver, "copy"));
    if (sn && geteuid() == 0) {
        int root = open(sn->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int bad = check_view_and_change(root);
        if (bad)
            fprintf(stderr, "    copy view: 0x%x\n", bad);
        CHECK(bad == 0);
        close(root);
        check_diff_export_commit(&e, "c2");
    }
    moat_snapshot_free(sn);
    env_close(&e);
}

/* Rootless: the store in the user's namespace, overlay mounted in a user
 * namespace of the user's own (kernel >= 5.11), whiteouts and opaque
 * directories honoured through user.overlay xattrs. */
static void test_overlay_rootless(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root to switch to an unprivileged test uid");
    struct passwd *pw = getpwnam("moattest");
    if (!pw)
        UNIT_SKIP("no user moattest (tests/lib/setup-test-user.sh)");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
            _exit(100);
        prctl(PR_SET_DUMPABLE, 1); /* the uid change made /proc/self root's */
        struct env e;
        moat_error *err = NULL;
        if (env_open(&e, &err) < 0) {
            fprintf(stderr, "    %s\n", err->msg);
            _exit(101);
        }
        struct moat_snapshot *sn = NULL;
        if (moat_snapshot_create(e.s, "r1", "base", NULL, &sn, &err) < 0) {
            fprintf(stderr, "    %s\n", err->msg);
            _exit(102);
        }
        if (strcmp(sn->driver, "overlay") != 0)
            _exit(103);
        pid_t g = fork();
        if (g == 0) {
            uid_t uid = getuid();
            gid_t gid = getgid();
            if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                _exit(110);
            char map[64];
            int fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
            snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
            if (fd < 0 || write(fd, map, strlen(map)) < 0)
                _exit(111);
            close(fd);
            fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "deny", 4) < 0)
                _exit(112);
            close(fd);
            fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
            snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
            if (fd < 0 || write(fd, map, strlen(map)) < 0)
                _exit(113);
            close(fd);
            int m = -1;
            moat_error *e2 = NULL;
            if (moat_snapshot_mount(e.s, sn, NULL, &m, &e2) < 0 ||
                move_mount(m, "", AT_FDCWD, sn->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
                fprintf(stderr, "    rootless mount: %s\n", e2 ? e2->msg : strerror(errno));
                _exit(114);
            }
            int root = open(sn->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            _exit(check_view_and_change(root));
        }
        int st;
        waitpid(g, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "    rootless overlay: status 0x%x\n", st);
            _exit(104);
        }
        struct moat_change *v = NULL;
        size_t n = 0;
        if (moat_snapshot_diff(e.s, sn, &v, &n, &err) < 0 || n != 4)
            _exit(105);
        moat_changes_free(v, n);
        moat_snapshot_free(sn);
        if (moat_snapshot_remove(e.s, "r1", &err) < 0)
            _exit(106);
        struct moat_removal r = {0};
        if (moat_images_prune(e.s, true, &r, &err) < 0)
            _exit(107);
        env_close(&e);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "    rootless: status 0x%x\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* As root, the layers can be id-mapped into the container's user namespace
 * (FSCONFIG_SET_FD, kernel >= 6.13): image root shows as the container's root. */
static void test_idmapped_layers(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root");
    struct env e;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(env_open(&e, &err) == 0);
    struct moat_snapshot *sn = NULL;
    CHECK(moat_snapshot_create(e.s, "i1", "base", NULL, &sn, &err) == 0);
    if (!sn || strcmp(sn->driver, "overlay") != 0) {
        moat_snapshot_free(sn);
        env_close(&e);
        UNIT_SKIP("overlayfs is not usable here");
    }
    /* a user namespace mapping 0 -> 100000 (65536 ids), held by a sleeping child */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    fflush(stdout);
    pid_t holder = fork();
    if (holder == 0) {
        char c;
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(1);
        close(p[1]);
        if (read(p[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    close(p[0]);
    usleep(50000);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)holder);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "0 100000 65536", 14) == 14);
    close(fd);
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)holder);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "0 100000 65536", 14) == 14);
    close(fd);
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)holder);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        int m = -1;
        moat_error *e2 = NULL;
        struct moat_snapshot_mount_opts mo = {.userns_fd = ns, .read_only = true};
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(100);
        if (moat_snapshot_mount(e.s, sn, &mo, &m, &e2) < 0) {
            fprintf(stderr, "    idmapped mount: %s\n", e2->msg);
            _exit(e2->errnum == EINVAL ? 77 : 101);
        }
        struct stat st;
        if (fstatat(m, "etc/hello", &st, 0) < 0)
            _exit(102);
        _exit(st.st_uid == 100000 && st.st_gid == 100000 ? 0 : 103);
    }
    int status;
    waitpid(pid, &status, 0);
    close(p[1]);
    waitpid(holder, NULL, 0);
    close(ns);
    moat_snapshot_free(sn);
    env_close(&e);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        UNIT_SKIP("this kernel takes no id-mapped overlay layers by fd (needs >= 6.13)");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const struct unit_test snapshot_tests[] = {UNIT_TEST(test_overlay_root), UNIT_TEST(test_copy_driver),
                                                  UNIT_TEST(test_overlay_rootless), UNIT_TEST(test_idmapped_layers),
                                                  UNIT_END};
UNIT_SUITE(snapshot, snapshot_tests);
