#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "moat/error.h"
#include "moat/util.h"
#include "unit.h"

static void test_errors(void)
{
    moat_error *err = NULL;
    CHECK(moat_err_errno(&err, ENOENT, "open '%s'", "/x") == -1);
    CHECK_STR(err->msg, "open '/x': No such file or directory");
    moat_err_wrap(&err, "create container %s", "c1");
    CHECK_STR(err->msg, "create container c1: open '/x': No such file or directory");
    CHECK(err->errnum == ENOENT);
    moat_error_free(err);
    err = NULL;
    moat_err(&err, EINVAL, "bad value");
    CHECK_STR(err->msg, "bad value");
    CHECK(err->errnum == EINVAL);
    moat_error_free(err);
}

static void test_parse_numbers(void)
{
    uint64_t u;
    int64_t i;
    CHECK(moat_parse_u64("42", &u) == 0 && u == 42);
    CHECK(moat_parse_u64("-1", &u) < 0);
    CHECK(moat_parse_u64("1x", &u) < 0);
    CHECK(moat_parse_u64("", &u) < 0);
    CHECK(moat_parse_u64("99999999999999999999999", &u) < 0);
    CHECK(moat_parse_i64("-7", &i) == 0 && i == -7);
}

static void test_atomic_write(void)
{
    char tmpl[] = "/tmp/moat-unit-atomic-XXXXXX";
    char *d = mkdtemp(tmpl);
    CHECK(d != NULL);
    _cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_write_file_atomic(dfd, "state.json", "{}", 2, 0600, &err) == 0);
    CHECK(moat_write_file_atomic(dfd, "state.json", "{\"a\":1}", 7, 0600, &err) == 0);
    _cleanup_free_ char *buf = NULL;
    size_t len;
    CHECK(moat_read_file_at(dfd, "state.json", 100, &buf, &len, &err) == 0);
    CHECK_STR(buf, "{\"a\":1}");
    CHECK(moat_read_file_at(dfd, "state.json", 3, &buf, &len, &err) < 0);
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", d);
    CHECK(system(cmd) == 0);
}

static const struct unit_test util_tests[] = {UNIT_TEST(test_errors), UNIT_TEST(test_parse_numbers),
                                       UNIT_TEST(test_atomic_write), UNIT_END};
UNIT_SUITE(util, util_tests);
