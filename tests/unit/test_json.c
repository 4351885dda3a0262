#include "moat/json.h"
#include "moat/util.h"
#include "unit.h"

static void test_parse_errors(void)
{
    _cleanup_error_ moat_error *err = NULL;
    struct json_object *o = NULL;
    CHECK(moat_json_parse("{\"a\": 1,\n \"b\": }", 16, 1000, "x.json", &o, &err) < 0);
    CHECK_ERR_HAS(err, "x.json: line 2");
    CHECK(moat_json_parse("{} {}", 5, 1000, "x.json", &o, &err) < 0);
    CHECK_ERR_HAS(err, "line 1 column 4");
    CHECK(moat_json_parse("{\"a\":", 5, 1000, "x.json", &o, &err) < 0);
    CHECK_ERR_HAS(err, "unexpected end");
    CHECK(moat_json_parse("[1,2,3]", 7, 3, "x.json", &o, &err) < 0);
    CHECK_ERR_HAS(err, "limit");
    /* nesting deeper than the limit */
    char deep[300];
    for (int i = 0; i < 150; i++) {
        deep[i] = '[';
        deep[299 - i] = ']';
    }
    CHECK(moat_json_parse(deep, 300, 1000, "deep", &o, &err) < 0);
    CHECK(moat_json_parse("\"a\\u0000b\"", 10, 100, "nul", &o, &err) == 0);
    if (o) {
        char *s = NULL;
        CHECK(moat_json_val_str(o, "/", &s, &err) < 0);
        CHECK_ERR_HAS(err, "NUL");
        json_object_put(o);
    }
}

static void test_accessors(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *o = NULL;
    const char *doc = "{\"s\":\"x\",\"i\":-5,\"u\":18446744073709551615,\"b\":true,\"n\":null,\"v\":[\"a\",\"b\"]}";
    CHECK(moat_json_parse(doc, strlen(doc), 1000, "d", &o, &err) == 0);
    _cleanup_free_ char *s = NULL;
    CHECK(moat_json_str(o, "", "s", true, &s, &err) == 1);
    CHECK_STR(s, "x");
    int64_t i = 0;
    CHECK(moat_json_i64(o, "", "i", true, -10, 10, &i, &err) == 1 && i == -5);
    CHECK(moat_json_i64(o, "", "i", true, 0, 10, &i, &err) < 0);
    CHECK_ERR_HAS(err, "/i: -5 is out of range");
    uint64_t u = 0;
    CHECK(moat_json_u64(o, "", "u", true, &u, &err) == 1 && u == UINT64_MAX);
    CHECK(moat_json_u64(o, "", "i", true, &u, &err) < 0);
    CHECK(moat_json_i64(o, "", "u", true, INT64_MIN, INT64_MAX, &i, &err) < 0);
    bool b = false;
    CHECK(moat_json_bool(o, "", "b", true, &b, &err) == 1 && b);
    CHECK(moat_json_str(o, "", "n", false, &s, &err) == 0);
    CHECK(moat_json_str(o, "", "n", true, &s, &err) < 0);
    CHECK_ERR_HAS(err, "/n: required but missing");
    CHECK(moat_json_str(o, "/top", "b", true, &s, &err) < 0);
    CHECK_ERR_HAS(err, "/top/b: expected a string, got a boolean");
    _cleanup_strv_ char **v = NULL;
    CHECK(moat_json_strv(o, "", "v", true, 10, &v, &err) == 1 && moat_strv_len(v) == 2);
    CHECK(moat_json_strv(o, "", "v", true, 1, &v, &err) < 0);
}

static const struct unit_test json_tests[] = {UNIT_TEST(test_parse_errors), UNIT_TEST(test_accessors), UNIT_END};
UNIT_SUITE(json, json_tests);
