/* The cache of compiled seccomp programs: hits give the stored program,
 * anything not exactly right is a miss (then compiled and stored anew). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/oci.h"
#include "moat/seccomp.h"
#include "moat/util.h"
#include "runtime/seccomp_internal.h"
#include "unit.h"

#define SECTION(errno_ret, argval)                                                                                 \
    "{\"ociVersion\":\"1.0.2\",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":"   \
    errno_ret ",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],\"syscalls\":[{\"names\":[\"read\","    \
    "\"write\",\"exit_group\",\"personality\"],\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"personality\"],"        \
    "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":" argval ",\"op\":\"SCMP_CMP_EQ\"}]}]}}}"

static struct oci_spec *parse(const char *doc)
{
    struct oci_spec *s = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (oci_spec_parse(doc, strlen(doc), "config.json", &s, &err) < 0)
        fprintf(stderr, "    parse: %s\n", err->msg);
    return s;
}

static int make_dir(char *tmpl)
{
    if (!mkdtemp(tmpl))
        return -1;
    return open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void remove_dir(int dfd, const char *path)
{
    DIR *d = fdopendir(openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dfd, de->d_name, 0);
    if (d)
        closedir(d);
    close(dfd);
    rmdir(path);
}

static size_t count_files(int dfd)
{
    DIR *d = fdopendir(openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct dirent *de;
    size_t n = 0;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".bpf") != NULL && de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static bool same_prog(const struct moat_seccomp_prog *a, const struct moat_seccomp_prog *b)
{
    size_t na, nb;
    const struct sock_filter *ia = moat_seccomp_prog_insns(a, &na), *ib = moat_seccomp_prog_insns(b, &nb);
    return na == nb && memcmp(ia, ib, na * sizeof(*ia)) == 0;
}

static void test_hit_and_miss(void)
{
    char path[] = "/tmp/moat-unit-sccache-XXXXXX";
    int dfd = make_dir(path);
    CHECK(dfd >= 0);
    _cleanup_spec_ struct oci_spec *s = parse(SECTION("1", "0"));
    CHECK(s != NULL);
    if (dfd < 0 || !s)
        return;
    _cleanup_error_ moat_error *err = NULL;
    struct moat_seccomp_prog *plain = NULL, *first = NULL, *second = NULL, *fake = NULL;
    CHECK(moat_seccomp_compile(s->linux_.seccomp, &plain, &err) == 0);
    /* no directory: a plain compile */
    CHECK(moat_seccomp_compile_cached(s->linux_.seccomp, -1, &first, &err) == 0);
    CHECK(first && same_prog(first, plain));
    moat_seccomp_prog_free(first);
    /* miss: compiled and stored, private */
    CHECK(moat_seccomp_compile_cached(s->linux_.seccomp, dfd, &first, &err) == 0);
    CHECK(first && same_prog(first, plain));
    CHECK(count_files(dfd) == 1);
    _cleanup_free_ uint8_t *key = NULL;
    size_t key_len = 0;
    CHECK(moat_seccomp_cache_key(s->linux_.seccomp, &key, &key_len) == 0);
    char name[32];
    moat_seccomp_cache_name(key, key_len, name);
    struct stat st;
    CHECK(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & 0777) == 0600);
    /* hit: the stored program comes back, as stored (prove it with a fake) */
    CHECK(moat_seccomp_compile_cached(s->linux_.seccomp, dfd, &second, &err) == 0);
    CHECK(second && same_prog(second, plain));
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    moat_seccomp_cache_put(dfd, key, key_len, allow, 1, false);
    CHECK(moat_seccomp_compile_cached(s->linux_.seccomp, dfd, &fake, &err) == 0);
    size_t n = 0;
    CHECK(fake && moat_seccomp_prog_insns(fake, &n) && n == 1);
    /* another section: another key, another file */
    _cleanup_spec_ struct oci_spec *s2 = parse(SECTION("2", "0"));
    struct moat_seccomp_prog *other = NULL;
    CHECK(s2 && moat_seccomp_compile_cached(s2->linux_.seccomp, dfd, &other, &err) == 0);
    CHECK(count_files(dfd) == 2);
    moat_seccomp_prog_free(plain);
    moat_seccomp_prog_free(first);
    moat_seccomp_prog_free(second);
    moat_seccomp_prog_free(fake);
    moat_seccomp_prog_free(other);
    remove_dir(dfd, path);
}

/* Every field the compiler reads is in the key; equal sections, equal keys. */
static void test_key_covers_section(void)
{
    const char *docs[] = {SECTION("1", "0"), SECTION("2", "0"), SECTION("1", "4294967296"),
                          "{\"ociVersion\":\"1.0.2\",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"}}}",
                          "{\"ociVersion\":\"1.0.2\",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_KILL\"}}}",
                          "{\"ociVersion\":\"1.0.2\",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\","
                          "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"]}}}"};
    uint8_t *keys[ARRAY_SIZE(docs)] = {0};
    size_t lens[ARRAY_SIZE(docs)] = {0};
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
        _cleanup_spec_ struct oci_spec *s = parse(docs[i]);
        CHECK(s && moat_seccomp_cache_key(s->linux_.seccomp, &keys[i], &lens[i]) == 0);
    }
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
        for (size_t j = i + 1; j < ARRAY_SIZE(docs); j++)
            CHECK(keys[i] && keys[j] && (lens[i] != lens[j] || memcmp(keys[i], keys[j], lens[i]) != 0));
    _cleanup_spec_ struct oci_spec *again = parse(docs[0]);
    _cleanup_free_ uint8_t *k = NULL;
    size_t kl = 0;
    CHECK(again && moat_seccomp_cache_key(again->linux_.seccomp, &k, &kl) == 0);
    CHECK(keys[0] && kl == lens[0] && memcmp(k, keys[0], kl) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
        free(keys[i]);
}

/* A file that is not exactly what we wrote is a miss, then replaced. */
static void test_rejects_bad_files(void)
{
    char path[] = "/tmp/moat-unit-sccache-XXXXXX";
    int dfd = make_dir(path);
    _cleanup_spec_ struct oci_spec *s = parse(SECTION("1", "0"));
    _cleanup_spec_ struct oci_spec *s2 = parse(SECTION("2", "0"));
    CHECK(dfd >= 0 && s && s2);
    if (dfd < 0 || !s || !s2)
        return;
    _cleanup_free_ uint8_t *key = NULL, *key2 = NULL;
    size_t key_len = 0, key2_len = 0;
    CHECK(moat_seccomp_cache_key(s->linux_.seccomp, &key, &key_len) == 0);
    CHECK(moat_seccomp_cache_key(s2->linux_.seccomp, &key2, &key2_len) == 0);
    char name[32], name2[32];
    moat_seccomp_cache_name(key, key_len, name);
    moat_seccomp_cache_name(key2, key2_len, name2);
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                                  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_filter *insns = NULL;
    size_t n = 0;
    bool notify = false;
    _cleanup_error_ moat_error *err = NULL;

    moat_seccomp_cache_put(dfd, key, key_len, allow, 2, false);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) == 0 && n == 2);
    free(insns);
    insns = NULL;
    /* one flipped bit in the program: checksum */
    int fd = openat(dfd, name, O_RDWR | O_CLOEXEC);
    struct stat st;
    CHECK(fd >= 0 && fstat(fd, &st) == 0);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, st.st_size - 3) == 1);
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, st.st_size - 3) == 1);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) < 0);
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, st.st_size - 3) == 1);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) == 0);
    free(insns);
    insns = NULL;
    /* truncated */
    CHECK(ftruncate(fd, st.st_size - 8) == 0);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) < 0);
    close(fd);
    /* group- or world-accessible */
    moat_seccomp_cache_put(dfd, key, key_len, allow, 2, false);
    CHECK(fchmodat(dfd, name, 0644, 0) == 0);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) < 0);
    CHECK(unlinkat(dfd, name, 0) == 0);
    /* another key's file under our name (a hash collision): the full key decides */
    moat_seccomp_cache_put(dfd, key2, key2_len, allow, 2, false);
    CHECK(renameat(dfd, name2, dfd, name) == 0);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) < 0);
    CHECK(unlinkat(dfd, name, 0) == 0);
    /* a symlink to a valid file */
    moat_seccomp_cache_put(dfd, key, key_len, allow, 2, false);
    CHECK(renameat(dfd, name, dfd, "real") == 0);
    CHECK(symlinkat("real", dfd, name) == 0);
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) < 0);
    CHECK(unlinkat(dfd, name, 0) == 0 && unlinkat(dfd, "real", 0) == 0);
    /* after a bad file, compile_cached compiles and stores a good one */
    moat_seccomp_cache_put(dfd, key, key_len, allow, 2, false);
    CHECK(fchmodat(dfd, name, 0666, 0) == 0);
    struct moat_seccomp_prog *got = NULL, *plain = NULL;
    CHECK(moat_seccomp_compile_cached(s->linux_.seccomp, dfd, &got, &err) == 0);
    CHECK(moat_seccomp_compile(s->linux_.seccomp, &plain, &err) == 0);
    CHECK(got && plain && same_prog(got, plain));
    CHECK(moat_seccomp_cache_get(dfd, key, key_len, &insns, &n, &notify) == 0);
    free(insns);
    moat_seccomp_prog_free(got);
    moat_seccomp_prog_free(plain);
    remove_dir(dfd, path);
}

/* The directory stays bounded however many sections pass through. */
static void test_bounded(void)
{
    char path[] = "/tmp/moat-unit-sccache-XXXXXX";
    int dfd = make_dir(path);
    CHECK(dfd >= 0);
    if (dfd < 0)
        return;
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    for (int i = 0; i < 80; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key-%d", i);
        moat_seccomp_cache_put(dfd, (const uint8_t *)key, strlen(key), allow, 1, false);
    }
    size_t n = count_files(dfd);
    CHECK(n > 0 && n <= 64);
    remove_dir(dfd, path);
}

static const struct unit_test seccomp_cache_tests[] = {UNIT_TEST(test_hit_and_miss), UNIT_TEST(test_key_covers_section),
                                                       UNIT_TEST(test_rejects_bad_files), UNIT_TEST(test_bounded),
                                                       UNIT_END};
UNIT_SUITE(seccomp_cache, seccomp_cache_tests);
