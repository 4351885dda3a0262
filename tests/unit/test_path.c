#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/path.h"
#include "moat/util.h"
#include "unit.h"

static void test_clean(void)
{
    const char *cases[][2] = {{"", "/"},           {"/", "/"},         {"//a//b/", "/a/b"},
                              {"/a/./b/../c", "/a/c"}, {"../../x", "/x"}, {"/a/b/../../..", "/"},
                              {"a/b", "/a/b"},     {"/..", "/"},       {"/a/..b/c", "/a/..b/c"}};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *c = moat_path_clean(cases[i][0]);
        CHECK_STR(c, cases[i][1]);
    }
}

/* Build a hostile tree:  root/etc/passwd, root/abs -> /etc, root/rel -> ../../../etc,
 * root/loop -> loop, root/dangling -> /nowhere/x, and a canary outside the root. */
static char *make_tree(char **ret_outside)
{
    char tmpl[] = "/tmp/moat-unit-path-XXXXXX";
    char *base = mkdtemp(tmpl);
    if (!base)
        abort();
    char *root = xasprintf("%s/root", base);
    char *p;
    mkdir(root, 0755);
    p = xasprintf("%s/etc", root); mkdir(p, 0755); free(p);
    p = xasprintf("%s/etc/passwd", root); close(open(p, O_CREAT | O_WRONLY, 0644)); free(p);
    p = xasprintf("%s/abs", root); if (symlink("/etc", p)) abort(); free(p);
    p = xasprintf("%s/rel", root); if (symlink("../../../../../../etc", p)) abort(); free(p);
    p = xasprintf("%s/loop", root); if (symlink("loop", p)) abort(); free(p);
    p = xasprintf("%s/dangling", root); if (symlink("/nowhere/x", p)) abort(); free(p);
    p = xasprintf("%s/file", root); close(open(p, O_CREAT | O_WRONLY, 0644)); free(p);
    *ret_outside = xasprintf("%s/outside", base);
    mkdir(*ret_outside, 0755);
    p = xasprintf("%s/esc", root); if (symlink(*ret_outside, p)) abort(); free(p);
    return root;
}

static void run_resolution_checks(bool fallback)
{
    moat_path_force_fallback(fallback);
    _cleanup_free_ char *outside = NULL;
    _cleanup_free_ char *root = make_tree(&outside);
    _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_error_ moat_error *err = NULL;
    struct stat a, b;

    /* absolute and relative symlinks resolve inside the root */
    _cleanup_free_ char *inner = xasprintf("%s/etc/passwd", root);
    stat(inner, &a);
    int fd = moat_open_in_root(rootfd, "/abs/passwd", O_RDONLY, 0, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        fstat(fd, &b);
        CHECK(a.st_ino == b.st_ino);
        close(fd);
    }
    fd = moat_open_in_root(rootfd, "rel/passwd", O_RDONLY, 0, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* ".." never leaves */
    fd = moat_open_in_root(rootfd, "/../../../etc/passwd", O_RDONLY, 0, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        fstat(fd, &b);
        CHECK(a.st_ino == b.st_ino);
        close(fd);
    }
    /* a loop is ELOOP, a NO_SYMLINKS walk refuses any link */
    CHECK(moat_open_in_root(rootfd, "/loop", O_RDONLY, 0, 0, &err) < 0 && err->errnum == ELOOP);
    CHECK(moat_open_in_root(rootfd, "/abs/passwd", O_RDONLY, 0, MOAT_RESOLVE_NO_SYMLINKS, &err) < 0 &&
          err->errnum == ELOOP);
    /* mkdir through a symlink to an absolute path creates inside the root */
    fd = moat_mkdirs_in_root(rootfd, "/esc/made/here", 0755, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    _cleanup_free_ char *made_in = xasprintf("%s%s/made/here", root, outside);
    _cleanup_free_ char *made_out = xasprintf("%s/made", outside);
    CHECK(access(made_in, F_OK) == 0);
    CHECK(access(made_out, F_OK) != 0);
    /* a file target through a dangling symlink cannot be created outside */
    fd = moat_ensure_in_root(rootfd, "/dangling", false, 0644, 0, &err);
    CHECK(access("/nowhere/x", F_OK) != 0);
    if (fd >= 0)
        close(fd);
    /* ensure refuses the wrong kind of existing target */
    CHECK(moat_ensure_in_root(rootfd, "/etc", false, 0644, 0, &err) < 0);
    CHECK(moat_ensure_in_root(rootfd, "/file", true, 0755, 0, &err) < 0);
    fd = moat_ensure_in_root(rootfd, "/new/dir/file", false, 0644, 0, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* NO_FOLLOW_LAST opens the link itself with O_PATH */
    fd = moat_open_in_root(rootfd, "/abs", O_PATH, 0, MOAT_RESOLVE_NO_FOLLOW_LAST, &err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        fstat(fd, &b);
        CHECK(S_ISLNK(b.st_mode));
        close(fd);
    }
    *strrchr(root, '/') = '\0';
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        unit_failures++;
    moat_path_force_fallback(false);
}

static void test_openat2(void) { run_resolution_checks(false); }
static void test_fallback(void) { run_resolution_checks(true); }

static const struct unit_test path_tests[] = {UNIT_TEST(test_clean), UNIT_TEST(test_openat2), UNIT_TEST(test_fallback),
                                       UNIT_END};
UNIT_SUITE(path, path_tests);
