/* The layer unpacker on well-formed layers and on the malicious corpus
 * (tests/tools/tarcorpus.h), in-process (the store runs it sandboxed). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../tools/tarcorpus.h"
#include "moat/layer.h"
#include "moat/util.h"
#include "unit.h"

struct tdir {
    char path[64];
    int layer;   /* fd of <path>/layer */
    char outside[128];
};

static void tdir_make(struct tdir *t)
{
    snprintf(t->path, sizeof t->path, "/tmp/moat-unit-unpack-XXXXXX");
    if (!mkdtemp(t->path))
        abort();
    char p[256];
    snprintf(p, sizeof p, "%s/layer", t->path);
    mkdir(p, 0755);
    t->layer = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(t->outside, sizeof t->outside, "%s/outside", t->path);
    mkdir(t->outside, 0755);
    snprintf(p, sizeof p, "%s/canary", t->outside);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (write(fd, "canary\n", 7) != 7)
        abort();
    close(fd);
}

static void tdir_free(struct tdir *t)
{
    close(t->layer);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    if (moat_rm_rf_at(d, t->path + 5, &err) < 0)
        moat_error_free(err);
    close(d);
}

static bool canary_intact(const struct tdir *t)
{
    char p[256], buf[64] = {0};
    snprintf(p, sizeof p, "%s/canary", t->outside);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    struct stat st;
    if (lstat(p, &st) < 0 || st.st_nlink != 1)
        return false;
    /* nothing else appeared beside it */
    int entries = 0;
    DIR *d = opendir(t->outside);
    for (struct dirent *de; d && (de = readdir(d));)
        entries += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n == 7 && !strcmp(buf, "canary\n") && entries == 1 && access("/tmp/moat-evil", F_OK) != 0;
}

static int memfd(void)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    return fd;
}

static int unpack(int in, int dirfd, const struct moat_limits *lim, struct moat_unpack_result *r, moat_error **err)
{
    struct moat_limits def;
    moat_limits_default(&def);
    struct moat_unpack_opts o = {.limits = lim ? lim : &def};
    lseek(in, 0, SEEK_SET);
    return moat_layer_unpack(in, dirfd, &o, r, err);
}

static void test_corpus(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(tc_corpus); i++) {
        struct tdir t;
        tdir_make(&t);
        _cleanup_close_ int fd = memfd();
        tc_corpus[i].build(fd, t.outside);
        struct moat_unpack_result r;
        _cleanup_error_ moat_error *err = NULL;
        int rc = unpack(fd, t.layer, NULL, &r, &err);
        if (rc == 0) {
            fprintf(stderr, "    corpus '%s' was accepted\n", tc_corpus[i].name);
            unit_failures++;
        } else {
            CHECK_ERR_HAS(err, tc_corpus[i].expect);
        }
        if (!canary_intact(&t)) {
            fprintf(stderr, "    corpus '%s' touched something outside the layer\n", tc_corpus[i].name);
            unit_failures++;
        }
        tdir_free(&t);
    }
}

static void build_good(int fd, const char *filter, uid_t uid)
{
    struct tb t;
    tb_open(&t, fd, filter);
    struct archive_entry *e = tb_entry("./", AE_IFDIR, 0755);
    tb_put(&t, e, NULL, 0);
    tb_dir(&t, "ro/", 0555);
    tb_file(&t, "ro/inside", "data\n", 0644);
    e = tb_entry("ro/suid", AE_IFREG, 04755);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, uid);
    archive_entry_set_size(e, 3);
    tb_put(&t, e, "#!\n", 3);
    tb_symlink(&t, "abs", "/etc/passwd");
    tb_symlink(&t, "rel", "../../../../x");
    tb_hardlink(&t, "ro/hard", "ro/inside");
    tb_dev(&t, "fifo", AE_IFIFO, 0, 0);
    tb_file(&t, "lower/.wh.gone", "", 0644);
    tb_dir(&t, "opq/", 0755);
    tb_file(&t, "opq/.wh..wh..opq", "", 0644);
    tb_file(&t, "opq/new", "n\n", 0644);
    tb_file(&t, ".wh..wh.plnk", "", 0644); /* AUFS bookkeeping: ignored */
    e = tb_entry("xa", AE_IFREG, 0600);
    archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
    archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
    archive_entry_xattr_add_entry(e, "user.overlay.opaque", "y", 1);
    archive_entry_set_size(e, 0);
    tb_put(&t, e, NULL, 0);
    char longname[400];
    memset(longname, 'n', 301);
    longname[150] = '/';
    strcpy(longname + 301, "/f\xc3\xa9");
    tb_file(&t, longname, "long\n", 0644);
    tb_close(&t);
}

static void test_good_layer(void)
{
    static const char *const filters[] = {"none", "gzip", "zstd"};
    char first_diff[MOAT_DIGEST_SIZE] = "";
    uid_t uid = geteuid() == 0 ? 1234 : geteuid();
    for (size_t f = 0; f < ARRAY_SIZE(filters); f++) {
        struct tdir t;
        tdir_make(&t);
        _cleanup_close_ int fd = memfd();
        build_good(fd, filters[f], uid);
        struct moat_unpack_result r;
        _cleanup_error_ moat_error *err = NULL;
        if (unpack(fd, t.layer, NULL, &r, &err) < 0) {
            fprintf(stderr, "    %s: %s\n", filters[f], err->msg);
            unit_failures++;
            tdir_free(&t);
            continue;
        }
        CHECK(r.compression == (f == 0 ? MOAT_COMP_NONE : f == 1 ? MOAT_COMP_GZIP : MOAT_COMP_ZSTD));
        if (f == 0) {
            char d[MOAT_DIGEST_SIZE];
            lseek(fd, 0, SEEK_SET);
            uint64_t size;
            CHECK(moat_sha256_fd(fd, d, &size, &err) == 0);
            CHECK_STR(r.diff_id, d);
            CHECK(r.tar_bytes == size);
            memcpy(first_diff, r.diff_id, sizeof first_diff);
        } else {
            CHECK_STR(r.diff_id, first_diff); /* same tar, any compression */
        }
        CHECK(r.entries == 15);
        struct stat st;
        CHECK(fstatat(t.layer, "ro", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0555 && st.st_mtime == 1700000000);
        CHECK(fstatat(t.layer, "ro/suid", &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & 07777) == 04755 &&
              st.st_uid == uid);
        struct stat a, b;
        CHECK(fstatat(t.layer, "ro/inside", &a, 0) == 0 && fstatat(t.layer, "ro/hard", &b, 0) == 0 &&
              a.st_ino == b.st_ino);
        char target[64] = {0};
        CHECK(readlinkat(t.layer, "abs", target, sizeof target - 1) > 0 && !strcmp(target, "/etc/passwd"));
        CHECK(fstatat(t.layer, "fifo", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode));
        CHECK(fstatat(t.layer, "lower/gone", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
              st.st_rdev == makedev(0, 0));
        CHECK(faccessat(t.layer, "lower/.wh.gone", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
        CHECK(faccessat(t.layer, ".wh..wh.plnk", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
        char v[16] = {0};
        _cleanup_close_ int opq = openat(t.layer, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fgetxattr(opq, MOAT_OPAQUE_XATTR, v, sizeof v) == 1 && v[0] == 'y');
        _cleanup_close_ int xa = openat(t.layer, "xa", O_RDONLY | O_CLOEXEC);
        memset(v, 0, sizeof v);
        CHECK(fgetxattr(xa, "user.note", v, sizeof v) == 5 && !strcmp(v, "hello"));
        CHECK(fgetxattr(xa, "user.overlay.opaque", v, sizeof v) < 0);
        CHECK(fgetxattr(xa, "trusted.overlay.redirect", v, sizeof v) < 0);
        char longname[400];
        memset(longname, 'n', 301);
        longname[150] = '/';
        strcpy(longname + 301, "/f\xc3\xa9");
        CHECK(fstatat(t.layer, longname, &st, 0) == 0 && st.st_size == 5);
        tdir_free(&t);
    }
}

/* input_digest: a plain tar's diff ID is the caller's digest (not hashed
 * again), a compressed stream is still hashed, and an expected diff ID is
 * still compared with it. */
static void test_input_digest(void)
{
    static const char *const filters[] = {"none", "gzip"};
    const char *given = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    for (size_t f = 0; f < ARRAY_SIZE(filters); f++) {
        struct tdir t;
        tdir_make(&t);
        _cleanup_close_ int fd = memfd();
        build_good(fd, filters[f], geteuid() == 0 ? 1234 : geteuid());
        struct moat_limits def;
        moat_limits_default(&def);
        struct moat_unpack_opts o = {.limits = &def, .input_digest = given};
        struct moat_unpack_result r;
        _cleanup_error_ moat_error *err = NULL;
        lseek(fd, 0, SEEK_SET);
        CHECK(moat_layer_unpack(fd, t.layer, &o, &r, &err) == 0);
        if (f == 0) {
            CHECK_STR(r.diff_id, given);
        } else {
            CHECK(strcmp(r.diff_id, given) != 0 && moat_digest_valid(r.diff_id));
        }
        CHECK(r.entries == 15);
        tdir_free(&t);
        /* verify only, with an expected diff ID the given digest doesn't match: refused */
        o.expect_diff_id = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        lseek(fd, 0, SEEK_SET);
        CHECK(moat_layer_unpack(fd, -1, &o, &r, &err) < 0);
        CHECK_ERR_HAS(err, "content digest mismatch");
    }
}

static void test_limits(void)
{
    struct tdir t;
    tdir_make(&t);
    _cleanup_close_ int fd = memfd();
    struct tb tb;
    tb_open(&tb, fd, "none");
    tb_zeros(&tb, "a", 300000);
    tb_file(&tb, "b", "b\n", 0644);
    tb_file(&tb, "c", "c\n", 0644);
    tb_close(&tb);
    struct moat_limits l;
    moat_limits_default(&l);
    struct moat_unpack_result r;
    {
        _cleanup_error_ moat_error *err = NULL;
        l.layer_bytes = 290000; /* above the first read-ahead block */
        CHECK(unpack(fd, t.layer, &l, &r, &err) < 0);
        CHECK_ERR_HAS(err, "entry 'a' of 300000 bytes exceeds limit layerBytes (290000 bytes) by 10512 bytes");
        moat_error_free(err);
        err = NULL;
        l.layer_bytes = 1000;
        CHECK(unpack(fd, t.layer, &l, &r, &err) < 0);
        CHECK_ERR_HAS(err, "the uncompressed layer exceeds limit layerBytes (1000 bytes) by at least");
    }
    moat_limits_default(&l);
    {
        _cleanup_error_ moat_error *err = NULL;
        l.layer_entries = 2;
        CHECK(unpack(fd, -1, &l, &r, &err) < 0);
        CHECK_ERR_HAS(err, "exceeds limit layerEntries (2) by 1");
    }
    moat_limits_default(&l);
    {
        _cleanup_error_ moat_error *err = NULL;
        l.image_bytes = 400000;
        struct moat_unpack_opts o = {.limits = &l, .image_bytes_before = 200000};
        lseek(fd, 0, SEEK_SET);
        CHECK(moat_layer_unpack(fd, -1, &o, &r, &err) < 0);
        CHECK_ERR_HAS(err, "exceeds limit imageBytes");
    }
    moat_limits_default(&l);
    {
        _cleanup_error_ moat_error *err = NULL;
        /* verify-only: nothing is created, the digest is known */
        CHECK(unpack(fd, -1, &l, &r, &err) == 0);
        CHECK(r.entries == 3 && r.size == 300004);
        struct moat_unpack_opts o = {.limits = &l, .expect_diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000"};
        lseek(fd, 0, SEEK_SET);
        CHECK(moat_layer_unpack(fd, -1, &o, &r, &err) < 0);
        CHECK_ERR_HAS(err, "content digest mismatch");
    }
    DIR *d = fdopendir(dup(t.layer));
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    CHECK(n == 0);
    tdir_free(&t);
}

static void test_devices_allowed(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root (mknod of a real device)");
    struct tdir t;
    tdir_make(&t);
    _cleanup_close_ int fd = memfd();
    tc_device_char(fd, t.outside);
    struct moat_limits l;
    moat_limits_default(&l);
    struct moat_unpack_opts o = {.limits = &l, .allow_devices = true};
    struct moat_unpack_result r;
    _cleanup_error_ moat_error *err = NULL;
    lseek(fd, 0, SEEK_SET);
    CHECK(moat_layer_unpack(fd, t.layer, &o, &r, &err) == 0);
    struct stat st;
    CHECK(fstatat(t.layer, "dev/mem", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
          st.st_rdev == makedev(1, 1));
    tdir_free(&t);
}

static void test_limits_file(void)
{
    struct moat_limits l;
    moat_limits_default(&l);
    _cleanup_error_ moat_error *err = NULL;
    const char *ok = "{\"layerBytes\": 1048576, \"allowDevices\": true, \"compressionRatio\": 50}";
    CHECK(moat_limits_parse(ok, strlen(ok), "limits.json", &l, &err) == 0);
    CHECK(l.layer_bytes == 1048576 && l.allow_devices && l.compression_ratio == 50 && l.layer_entries == 1000000);
    const char *unknown = "{\"layerBites\": 1}";
    CHECK(moat_limits_parse(unknown, strlen(unknown), "limits.json", &l, &err) < 0);
    CHECK_ERR_HAS(err, "limits.json: /layerBites: unknown limit");
    moat_error_free(err);
    err = NULL;
    const char *zero = "{\"pathLength\": 0}";
    CHECK(moat_limits_parse(zero, strlen(zero), "limits.json", &l, &err) < 0);
    CHECK_ERR_HAS(err, "must be at least 1");
    moat_error_free(err);
    err = NULL;
    const char *neg = "{\"imageBytes\": -5}";
    CHECK(moat_limits_parse(neg, strlen(neg), "limits.json", &l, &err) < 0);
    char h[32];
    moat_limits_human(32ull << 30, h, sizeof h);
    CHECK_STR(h, "32 GiB");
    moat_limits_human(1000, h, sizeof h);
    CHECK_STR(h, "1000 bytes");
}

static void test_rm_rf(void)
{
    struct tdir t;
    tdir_make(&t);
    CHECK(mkdirat(t.layer, "a", 0755) == 0);
    CHECK(mkdirat(t.layer, "a/b", 0755) == 0);
    int fd = openat(t.layer, "a/b/f", O_CREAT | O_WRONLY | O_CLOEXEC, 0);
    close(fd);
    CHECK(symlinkat(t.outside, t.layer, "a/out") == 0);
    CHECK(fchmodat(t.layer, "a/b", 0555, 0) == 0);
    CHECK(fchmodat(t.layer, "a", 0, 0) == 0);
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_rm_rf_at(t.layer, "a", &err) == 0);
    CHECK(faccessat(t.layer, "a", F_OK, AT_SYMLINK_NOFOLLOW) != 0);
    CHECK(canary_intact(&t));
    CHECK(moat_rm_rf_at(t.layer, "missing", &err) == 0);
    tdir_free(&t);
}

static const struct unit_test unpack_tests[] = {
    UNIT_TEST(test_corpus),          UNIT_TEST(test_good_layer), UNIT_TEST(test_input_digest), UNIT_TEST(test_limits),
    UNIT_TEST(test_devices_allowed), UNIT_TEST(test_limits_file), UNIT_TEST(test_rm_rf), UNIT_END};
UNIT_SUITE(unpack, unpack_tests);
