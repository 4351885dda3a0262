/* The container I/O endpoints' pure parts (src/engine/archive.c): Go
 * FileMode bits, base64, the docker cp stat header, id maps, and tar
 * round trips / refusals on a scratch directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "engine/archive.h"
#include "moat/cleanup.h"
#include "moat/util.h"
#include "unit.h"

static void test_go_mode(void)
{
    CHECK(archive_go_mode(S_IFREG | 0644) == 0644);
    CHECK(archive_go_mode(S_IFDIR | 0755) == (1u << 31 | 0755));
    CHECK(archive_go_mode(S_IFLNK | 0777) == (1u << 27 | 0777));
    CHECK(archive_go_mode(S_IFREG | S_ISUID | 0755) == (1u << 23 | 0755));
    CHECK(archive_go_mode(S_IFREG | S_ISGID | 0755) == (1u << 22 | 0755));
    CHECK(archive_go_mode(S_IFDIR | S_ISVTX | 0777) == (1u << 31 | 1u << 20 | 0777));
    CHECK(archive_go_mode(S_IFIFO | 0600) == (1u << 25 | 0600));
    CHECK(archive_go_mode(S_IFCHR | 0666) == (1u << 26 | 1u << 21 | 0666));
    CHECK(archive_go_mode(S_IFBLK | 0660) == (1u << 26 | 0660));
}

static void test_base64(void)
{
    static const struct { const char *in, *out; } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"}, {"\xff\xfe\xfd", "//79"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        _cleanup_free_ char *s = archive_base64(v[i].in, strlen(v[i].in));
        CHECK_STR(s, v[i].out);
    }
}

static void test_stat_header(void)
{
    struct timespec t = {1700000000, 0};
    _cleanup_free_ char *h = archive_stat_header("passwd", 340, S_IFREG | 0644, &t, NULL);
    const char *want = "{\"name\":\"passwd\",\"size\":340,\"mode\":420,\"mtime\":\"2023-11-14T22:13:20Z\",\"linkTarget\":\"\"}";
    _cleanup_free_ char *w = archive_base64(want, strlen(want));
    CHECK_STR(h, w);
    struct timespec t2 = {1700000000, 120000000};
    _cleanup_free_ char *h2 = archive_stat_header("sh", 7, S_IFLNK | 0777, &t2, "/bin/busybox");
    const char *want2 = "{\"name\":\"sh\",\"size\":7,\"mode\":134218239,\"mtime\":\"2023-11-14T22:13:20.12Z\","
                        "\"linkTarget\":\"/bin/busybox\"}";
    _cleanup_free_ char *w2 = archive_base64(want2, strlen(want2));
    CHECK_STR(h2, w2);
    _cleanup_free_ char *h3 = archive_stat_header("etc", 4096, S_IFDIR | 0755, &t, "");
    const char *want3 = "{\"name\":\"etc\",\"size\":4096,\"mode\":2147484141,\"mtime\":\"2023-11-14T22:13:20Z\","
                        "\"linkTarget\":\"\"}";
    _cleanup_free_ char *w3 = archive_base64(want3, strlen(want3));
    CHECK_STR(h3, w3);
}

static void test_idmap(void)
{
    struct archive_idmap m[4];
    size_t n = 0;
    CHECK(archive_idmap_parse("0:1001:1,1:100000:65535", m, 4, &n) == 0);
    CHECK(n == 2);
    CHECK(m[1].cid == 1 && m[1].hid == 100000 && m[1].size == 65535);
    CHECK(archive_id_to_container(m, n, 1001) == 0);
    CHECK(archive_id_to_container(m, n, 100000) == 1);
    CHECK(archive_id_to_container(m, n, 100099) == 100);
    CHECK(archive_id_to_container(m, n, 5) == 5);            /* unmapped, small: kept */
    CHECK(archive_id_to_container(m, n, 900000) == 65534);   /* unmapped: overflow id */
    uint32_t h = 0;
    CHECK(archive_id_to_host(m, n, 0, &h) && h == 1001);
    CHECK(archive_id_to_host(m, n, 65535, &h) && h == 165534);
    CHECK(!archive_id_to_host(m, n, 65536, &h));
    CHECK(archive_idmap_parse("", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("0:1", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("0:1:0", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("0:1:1,", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("a:1:1", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("0:4294967295:2", m, 4, &n) < 0);
    CHECK(archive_idmap_parse("0:1:1,1:2:1", m, 1, &n) < 0);
}

/* A tar in a memfd: entries "type name [target]" (f: file with data "x", l: symlink, h: hardlink, c: char dev). */
static int mk_tar(const char *const *ents)
{
    int fd = memfd_create("t", MFD_CLOEXEC);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_fd(a, fd);
    for (size_t i = 0; ents[i]; i += 3) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i + 1]);
        archive_entry_set_perm(e, 0644);
        char t = ents[i][0];
        archive_entry_set_filetype(e, t == 'f' || t == 'h' ? AE_IFREG : t == 'l' ? AE_IFLNK : t == 'd' ? AE_IFDIR
                                                                                              : AE_IFCHR);
        if (t == 'l')
            archive_entry_set_symlink(e, ents[i + 2]);
        if (t == 'h')
            archive_entry_set_hardlink(e, ents[i + 2]);
        archive_entry_set_size(e, t == 'f' ? 1 : 0);
        archive_write_header(a, e);
        if (t == 'f')
            archive_write_data(a, "x", 1);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int extract(int dfd, const char *const *ents, moat_error **err)
{
    _cleanup_close_ int t = mk_tar(ents);
    struct archive_extract_opts o = {.no_overwrite_dir_non_dir = true};
    return archive_extract(dfd, t, &o, err);
}

static void test_extract_refusals(void)
{
    char tmpl[] = "/tmp/moat-unit-ctrio-XXXXXX";
    char *d = mkdtemp(tmpl);
    CHECK(d != NULL);
    if (!d)
        return;
    _cleanup_free_ char *root = xasprintf("%s/root", d), *out = xasprintf("%s/outside", d);
    CHECK(mkdir(root, 0755) == 0 && mkdir(out, 0755) == 0);
    _cleanup_close_ int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    static const char *const dotdot[] = {"f", "../outside/x", "", NULL};
    static const char *const abs[] = {"f", "/tmp/x", "", NULL};
    static const char *const dev[] = {"c", "null", "", NULL};
    static const char *const hard[] = {"h", "hl", "/etc/passwd", NULL};
    _cleanup_free_ char *linkto = xasprintf("%s", out);
    const char *const sym[] = {"l", "evil", linkto, "f", "evil/x", "", NULL};
    const char *const *bad[] = {dotdot, abs, dev, hard, sym};
    const char *names[] = {"../outside/x", "/tmp/x", "null", "hl", "evil/x"};
    for (size_t i = 0; i < 5; i++) {
        _cleanup_error_ moat_error *e = NULL;
        CHECK(extract(dfd, bad[i], &e) < 0);
        CHECK(e && e->errnum == EINVAL);
        CHECK_ERR_HAS(e, names[i]);
    }
    _cleanup_free_ char *x = xasprintf("%s/x", out);
    CHECK(access(x, F_OK) < 0);
    /* allowed: a file, a link, a hardlink to an entry of the same archive; "./" is the destination */
    static const char *const good[] = {"d", "./", "", "d", "a", "", "f", "a/f", "", "l", "a/l", "/etc/passwd",
                                       "h", "a/h", "a/f", NULL};
    _cleanup_error_ moat_error *e = NULL;
    CHECK(extract(dfd, good, &e) == 0);
    struct stat s1, s2;
    CHECK(fstatat(dfd, "a/f", &s1, 0) == 0 && fstatat(dfd, "a/h", &s2, 0) == 0 && s1.st_ino == s2.st_ino);
    /* round trip: write the tree, extract it elsewhere */
    _cleanup_free_ char *copy = xasprintf("%s/copy", d);
    CHECK(mkdir(copy, 0755) == 0);
    _cleanup_close_ int cfd = open(copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int t = memfd_create("rt", MFD_CLOEXEC);
    CHECK(archive_write_tree(dfd, "a", "a", NULL, t, &e) == 0);
    lseek(t, 0, SEEK_SET);
    struct archive_extract_opts o = {0};
    CHECK(archive_extract(cfd, t, &o, &e) == 0);
    close(t);
    char buf[16] = "";
    CHECK(readlinkat(cfd, "a/l", buf, sizeof buf - 1) > 0);
    CHECK_STR(buf, "/etc/passwd");
    CHECK(fstatat(cfd, "a/f", &s1, 0) == 0 && s1.st_size == 1 && fstatat(cfd, "a/h", &s2, 0) == 0 &&
          s1.st_ino == s2.st_ino);
    /* a directory never replaces a file with noOverwriteDirNonDir */
    static const char *const dir_over_file[] = {"d", "a/f", "", NULL};
    moat_error_free(e), e = NULL;
    CHECK(extract(dfd, dir_over_file, &e) < 0);
    CHECK_ERR_HAS(e, "a/f");
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", d);
    CHECK(system(cmd) == 0);
}

static const struct unit_test ctr_io_tests[] = {UNIT_TEST(test_go_mode), UNIT_TEST(test_base64),
                                                UNIT_TEST(test_stat_header), UNIT_TEST(test_idmap),
                                                UNIT_TEST(test_extract_refusals), UNIT_END};
UNIT_SUITE(ctr_io, ctr_io_tests);
