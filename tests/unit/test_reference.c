#include <stdlib.h>

#include "moat/digest.h"
#include "moat/reference.h"
#include "moat/util.h"
#include "unit.h"

/* parse s; expect the full normalized string and the familiar one */
static void ok(const char *s, const char *full, const char *familiar)
{
    struct moat_ref r;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_ref_parse(s, &r, &err) < 0) {
        fprintf(stderr, "    '%s': unexpected error: %s\n", s, err->msg);
        unit_failures++;
        return;
    }
    moat_ref_default_tag(&r);
    _cleanup_free_ char *f = moat_ref_string(&r);
    _cleanup_free_ char *fam = moat_ref_familiar_string(&r);
    CHECK_STR(f, full);
    CHECK_STR(fam, familiar);
    moat_ref_clear(&r);
}

static void bad(const char *s, const char *msg)
{
    struct moat_ref r;
    _cleanup_error_ moat_error *err = NULL;
    int rc = moat_ref_parse(s, &r, &err);
    if (rc == 0) {
        fprintf(stderr, "    '%s' parsed but should not\n", s);
        unit_failures++;
        moat_ref_clear(&r);
        return;
    }
    CHECK_ERR_HAS(err, msg);
}

static void test_normalize(void)
{
    ok("busybox", "docker.io/library/busybox:latest", "busybox:latest");
    ok("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36");
    ok("library/busybox", "docker.io/library/busybox:latest", "busybox:latest");
    ok("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest");
    ok("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest");
    ok("user/app:v1", "docker.io/user/app:v1", "user/app:v1");
    ok("localhost/app", "localhost/app:latest", "localhost/app:latest");
    ok("localhost:5000/ns/app:t", "localhost:5000/ns/app:t", "localhost:5000/ns/app:t");
    ok("registry.example:5000/ns/name", "registry.example:5000/ns/name:latest", "registry.example:5000/ns/name:latest");
    ok("[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo:latest");
    ok("Registry.Example/foo", "Registry.Example/foo:latest", "Registry.Example/foo:latest");
    ok("a__b/c-d---e.f_g:T_a.g-1", "docker.io/a__b/c-d---e.f_g:T_a.g-1", "a__b/c-d---e.f_g:T_a.g-1");
    /* "localhost:5000" without a path is image "localhost", tag "5000" */
    ok("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000");
    char dig[80];
    snprintf(dig, sizeof dig, "sha256:%064d", 0);
    _cleanup_free_ char *in = xasprintf("busybox@%s", dig);
    _cleanup_free_ char *out = xasprintf("docker.io/library/busybox@%s", dig);
    _cleanup_free_ char *fam = xasprintf("busybox@%s", dig);
    ok(in, out, fam); /* no default tag when a digest is given */
    _cleanup_free_ char *in2 = xasprintf("busybox:1@%s", dig);
    _cleanup_free_ char *out2 = xasprintf("docker.io/library/busybox:1@%s", dig);
    _cleanup_free_ char *fam2 = xasprintf("busybox:1@%s", dig);
    ok(in2, out2, fam2);
}

static void test_invalid(void)
{
    bad("", "at least one component");
    bad("Busybox", "repository name (library/Busybox) must be lowercase");
    bad("user/App", "must be lowercase");
    bad("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "cannot specify 64-byte hexadecimal");
    bad("busybox:", "invalid reference format");
    bad("busybox:-x", "invalid reference format");
    bad("bu..sy", "invalid reference format");
    bad("-busybox", "invalid reference format");
    bad("busybox-", "invalid reference format");
    bad("a//b", "invalid reference format");
    bad("a/b/", "invalid reference format");
    bad("/a", "invalid reference format");
    bad("host:/a", "invalid reference format");
    bad("host:port/a", "invalid reference format");
    bad("-host.x/a", "invalid reference format");
    bad("busybox@sha256:abc", "invalid checksum digest length");
    bad("busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm");
    bad("busybox@sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
        "invalid checksum digest format");
    bad("busy box", "invalid reference format");
    bad("busybox:tag:tag", "invalid reference format");
    char longtag[200];
    memset(longtag, 'a', sizeof longtag);
    memcpy(longtag, "busybox:", 8);
    longtag[8 + 129] = '\0';
    bad(longtag, "invalid reference format");
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[260] = '\0';
    bad(longname, "must not be more than 255 characters");
}

static void test_ids(void)
{
    CHECK(moat_ref_is_full_id("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(moat_ref_is_full_id("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!moat_ref_is_full_id("0123456789abcdef"));
    CHECK(!moat_ref_is_full_id("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(moat_ref_is_id_prefix("6fd9"));
    CHECK(moat_ref_is_id_prefix("sha256:6fd9"));
    CHECK(!moat_ref_is_id_prefix("busybox"));
    CHECK(!moat_ref_is_id_prefix(""));
    _cleanup_free_ char *f = moat_ref_familiarize("docker.io/library/busybox:latest");
    CHECK_STR(f, "busybox:latest");
    _cleanup_free_ char *g = moat_ref_familiarize("not a ref");
    CHECK_STR(g, "not a ref");
}

static void test_digest(void)
{
    char d[MOAT_DIGEST_SIZE];
    moat_sha256_buf("", 0, d);
    CHECK_STR(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    moat_sha256_buf("abc", 3, d);
    CHECK_STR(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(moat_digest_valid(d));
    CHECK(!moat_digest_valid("sha256:ba78"));
    CHECK(!moat_digest_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    struct moat_sha256 h;
    moat_sha256_init(&h);
    moat_sha256_update(&h, "a", 1);
    moat_sha256_update(&h, "bc", 2);
    CHECK(h.size == 3);
    char d2[MOAT_DIGEST_SIZE];
    moat_sha256_final(&h, d2);
    CHECK_STR(d2, d);
}

static const struct unit_test reference_tests[] = {UNIT_TEST(test_normalize), UNIT_TEST(test_invalid),
                                                   UNIT_TEST(test_ids), UNIT_TEST(test_digest), UNIT_END};
UNIT_SUITE(reference, reference_tests);
