/* Minimal unit test runner for pure logic.  Each test file defines a table
 * with UNIT_SUITE(name) { UNIT_TEST(fn), ... } and main.c lists the suites. */
#ifndef MOAT_UNIT_H
#define MOAT_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit_test {
    const char *name;
    void (*fn)(void);
};
struct unit_suite {
    const char *name;
    const struct unit_test *tests;
};

extern int unit_failures;     /* failures in the current test */
extern const char *unit_skip; /* set by UNIT_SKIP */

#define UNIT_TEST(fn) {#fn, fn}
#define UNIT_END {NULL, NULL}
/* Register a suite: its descriptor goes to a linker section that the runner
 * walks (plain data, no constructor). */
#define UNIT_SUITE(sname, table)                                                                   \
    __attribute__((used, section("moat_unit_suites"), aligned(sizeof(void *))))                   \
    static const struct unit_suite unit_suite_##sname = {#sname, table}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "    %s:%d: '%s' != '%s'\n", __FILE__, __LINE__, _a ? _a : "(null)",  \
                    _b ? _b : "(null)");                                                           \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

/* The error message of a failed call must contain `needle`. */
#define CHECK_ERR_HAS(e, needle)                                                                   \
    do {                                                                                           \
        if (!(e) || !(e)->msg || !strstr((e)->msg, (needle))) {                                    \
            fprintf(stderr, "    %s:%d: error '%s' lacks '%s'\n", __FILE__, __LINE__,              \
                    (e) && (e)->msg ? (e)->msg : "(none)", (needle));                              \
            unit_failures++;                                                                       \
        }                                                                                          \
    } while (0)

#define UNIT_SKIP(why)                                                                             \
    do {                                                                                           \
        unit_skip = (why);                                                                         \
        return;                                                                                    \
    } while (0)

#endif
