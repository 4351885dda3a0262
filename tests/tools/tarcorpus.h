/* Build tar streams for tests (libarchive writer): the malicious corpus the
 * unpacker must refuse, and well-formed layers it must reproduce exactly.
 * Included by tests/unit/test_unpack.c and tests/tools/mktar.c. */
#ifndef MOAT_TEST_TARCORPUS_H
#define MOAT_TEST_TARCORPUS_H

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TC_UNUSED __attribute__((unused))

struct tb {
    struct archive *a;
};

TC_UNUSED static void tb_die(struct tb *t, const char *what)
{
    fprintf(stderr, "tarcorpus: %s: %s\n", what, archive_error_string(t->a));
    abort();
}

/* filter: "none", "gzip" or "zstd" */
TC_UNUSED static void tb_open(struct tb *t, int fd, const char *filter)
{
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    if (!strcmp(filter, "gzip"))
        archive_write_add_filter_gzip(t->a);
    else if (!strcmp(filter, "zstd"))
        archive_write_add_filter_zstd(t->a);
    archive_write_set_bytes_in_last_block(t->a, 1);
    if (archive_write_open_fd(t->a, fd) != ARCHIVE_OK)
        tb_die(t, "open");
}

TC_UNUSED static void tb_close(struct tb *t)
{
    if (archive_write_close(t->a) != ARCHIVE_OK)
        tb_die(t, "close");
    archive_write_free(t->a);
}

TC_UNUSED static struct archive_entry *tb_entry(const char *name, mode_t type, mode_t perm)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1700000000, 0);
    return e;
}

TC_UNUSED static void tb_put(struct tb *t, struct archive_entry *e, const void *data, size_t len)
{
    if (archive_write_header(t->a, e) < ARCHIVE_WARN) /* WARN: a name stored as binary */
        tb_die(t, "header");
    if (len && archive_write_data(t->a, data, len) != (la_ssize_t)len)
        tb_die(t, "data");
    archive_entry_free(e);
}

TC_UNUSED static void tb_file(struct tb *t, const char *name, const char *data, mode_t perm)
{
    struct archive_entry *e = tb_entry(name, AE_IFREG, perm);
    archive_entry_set_size(e, (la_int64_t)strlen(data));
    tb_put(t, e, data, strlen(data));
}

TC_UNUSED static void tb_dir(struct tb *t, const char *name, mode_t perm)
{
    tb_put(t, tb_entry(name, AE_IFDIR, perm), NULL, 0);
}

TC_UNUSED static void tb_symlink(struct tb *t, const char *name, const char *target)
{
    struct archive_entry *e = tb_entry(name, AE_IFLNK, 0777);
    archive_entry_set_symlink(e, target);
    tb_put(t, e, NULL, 0);
}

TC_UNUSED static void tb_hardlink(struct tb *t, const char *name, const char *target)
{
    struct archive_entry *e = tb_entry(name, AE_IFREG, 0644);
    archive_entry_set_hardlink(e, target);
    archive_entry_set_size(e, 0);
    tb_put(t, e, NULL, 0);
}

TC_UNUSED static void tb_dev(struct tb *t, const char *name, mode_t type, unsigned maj, unsigned min)
{
    struct archive_entry *e = tb_entry(name, type, 0666);
    archive_entry_set_rdevmajor(e, maj);
    archive_entry_set_rdevminor(e, min);
    tb_put(t, e, NULL, 0);
}

/* A file of `size` zero bytes, streamed. */
TC_UNUSED static void tb_zeros(struct tb *t, const char *name, size_t size)
{
    struct archive_entry *e = tb_entry(name, AE_IFREG, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    if (archive_write_header(t->a, e) < ARCHIVE_WARN) /* WARN: a name stored as binary */
        tb_die(t, "header");
    static char zero[1 << 16];
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof(zero) ? size - done : sizeof(zero);
        if (archive_write_data(t->a, zero, n) != (la_ssize_t)n)
            tb_die(t, "data");
        done += n;
    }
    archive_entry_free(e);
}

TC_UNUSED static void tb_xattr_file(struct tb *t, const char *name, const char *xname, size_t xsize)
{
    struct archive_entry *e = tb_entry(name, AE_IFREG, 0644);
    char *v = malloc(xsize ? xsize : 1);
    memset(v, 'x', xsize);
    archive_entry_xattr_add_entry(e, xname, v, xsize);
    free(v);
    archive_entry_set_size(e, 2);
    tb_put(t, e, "x\n", 2);
}

/* ---- the malicious corpus ---------------------------------------------------
 * Each case writes one tar to fd.  `outside` is an absolute directory outside
 * the layer holding the canary file "canary" (content "canary\n"); a case
 * that could touch it must be refused before it does. */
struct tc_case {
    const char *name;
    const char *expect; /* a substring of the refusal */
    void (*build)(int fd, const char *outside);
};

static void tc_traversal(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, "ok", "fine\n", 0644);
    tb_file(&t, "../../../../../../../../tmp/moat-evil", "evil\n", 0644);
    tb_close(&t);
}

static void tc_traversal_inner(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_dir(&t, "a/", 0755);
    tb_file(&t, "a/../../canary", "evil\n", 0644);
    tb_close(&t);
}

static void tc_absolute(int fd, const char *outside)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/canary", outside);
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, p, "evil\n", 0644);
    tb_close(&t);
}

static void tc_symlink_escape(int fd, const char *outside)
{
    struct tb t;
    tb_open(&t, fd, "none");
    tb_symlink(&t, "escape", outside);
    tb_file(&t, "escape/canary", "evil\n", 0644);
    tb_close(&t);
}

static void tc_symlink_relative_escape(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_dir(&t, "d/", 0755);
    tb_symlink(&t, "d/up", "../../../../../../../../../../tmp");
    tb_file(&t, "d/up/moat-evil", "evil\n", 0644);
    tb_close(&t);
}

static void tc_symlink_then_file(int fd, const char *outside)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/canary", outside);
    struct tb t;
    tb_open(&t, fd, "none");
    tb_symlink(&t, "victim", p);
    tb_file(&t, "victim", "evil\n", 0644);
    tb_close(&t);
}

static void tc_hardlink_escape(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_hardlink(&t, "passwd", "../../../../../../../../etc/passwd");
    tb_close(&t);
}

static void tc_hardlink_absolute(int fd, const char *outside)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/canary", outside);
    struct tb t;
    tb_open(&t, fd, "none");
    tb_hardlink(&t, "canary", p);
    tb_close(&t);
}

static void tc_hardlink_via_symlink(int fd, const char *outside)
{
    struct tb t;
    tb_open(&t, fd, "none");
    tb_symlink(&t, "out", outside);
    tb_hardlink(&t, "canary", "out/canary");
    tb_close(&t);
}

static void tc_device_char(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_dir(&t, "dev/", 0755);
    tb_dev(&t, "dev/mem", AE_IFCHR, 1, 1);
    tb_close(&t);
}

static void tc_device_block(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_dev(&t, "sda", AE_IFBLK, 8, 0);
    tb_close(&t);
}

static void tc_bomb(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "zstd");
    tb_zeros(&t, "zeros", 160u << 20);
    tb_close(&t);
}

static void tc_truncated(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_zeros(&t, "big", 200000);
    tb_file(&t, "after", "x\n", 0644);
    tb_close(&t);
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (ftruncate(fd, end / 2) < 0)
        abort();
    lseek(fd, end / 2, SEEK_SET);
}

static void tc_truncated_gzip(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "gzip");
    for (int i = 0; i < 64; i++) {
        char n[32], data[200];
        snprintf(n, sizeof n, "f%d", i);
        for (size_t j = 0; j < sizeof(data) - 1; j++)
            data[j] = (char)('a' + (i * 7 + (int)j * 13) % 26);
        data[sizeof(data) - 1] = 0;
        tb_file(&t, n, data, 0644);
    }
    tb_close(&t);
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (ftruncate(fd, end / 2) < 0)
        abort();
    lseek(fd, end / 2, SEEK_SET);
}

static void tc_duplicate(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
    tb_file(&t, "./etc/passwd", "root::0:0::/root:/bin/sh\n", 0644);
    tb_close(&t);
}

static void tc_huge_xattr(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_xattr_file(&t, "f", "user.big", 256 << 10);
    tb_close(&t);
}

static void tc_long_path(int fd, const char *outside)
{
    (void)outside;
    char p[6000];
    size_t o = 0;
    while (o + 101 < 5000) {
        memset(p + o, 'd', 100);
        p[o + 100] = '/';
        o += 101;
    }
    memcpy(p + o, "f", 2);
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, p, "x\n", 0644);
    tb_close(&t);
}

static void tc_whiteout_and_file(int fd, const char *outside)
{
    (void)outside;
    struct tb t;
    tb_open(&t, fd, "none");
    tb_file(&t, "a", "x\n", 0644);
    tb_file(&t, ".wh.a", "", 0644);
    tb_close(&t);
}

static void tc_xz(int fd, const char *outside)
{
    (void)outside;
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_xz(a);
    archive_write_open_fd(a, fd);
    struct archive_entry *e = tb_entry("f", AE_IFREG, 0644);
    archive_entry_set_size(e, 2);
    archive_write_header(a, e);
    archive_write_data(a, "x\n", 2);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
}

static void tc_not_tar(int fd, const char *outside)
{
    (void)outside;
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    if (write(fd, junk, sizeof junk) != (ssize_t)sizeof junk)
        abort();
}

TC_UNUSED static const struct tc_case tc_corpus[] = {
    {"traversal", "path escapes the layer", tc_traversal},
    {"traversal-inner", "path escapes the layer", tc_traversal_inner},
    {"absolute", "absolute path", tc_absolute},
    {"symlink-escape", "is a symlink", tc_symlink_escape},
    {"symlink-relative-escape", "is a symlink", tc_symlink_relative_escape},
    {"symlink-then-file", "duplicate entry", tc_symlink_then_file},
    {"hardlink-escape", "path escapes the layer", tc_hardlink_escape},
    {"hardlink-absolute", "absolute path", tc_hardlink_absolute},
    {"hardlink-via-symlink", "is not an earlier file of this layer", tc_hardlink_via_symlink},
    {"device-char", "device nodes are not allowed", tc_device_char},
    {"device-block", "device nodes are not allowed", tc_device_block},
    {"bomb", "exceeds limit compressionRatio", tc_bomb},
    {"truncated", "runcated", tc_truncated},
    {"truncated-gzip", "runcated", tc_truncated_gzip},
    {"duplicate", "duplicate entry", tc_duplicate},
    {"huge-xattr", "exceed limit xattrBytes", tc_huge_xattr},
    {"long-path", "exceeds limit pathLength", tc_long_path},
    {"whiteout-and-file", "duplicate entry", tc_whiteout_and_file},
    {"xz", "unsupported compression", tc_xz},
    {"not-tar", "", tc_not_tar},
};

#endif
