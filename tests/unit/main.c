/* Unit runner: runs every suite, prints TAP-like lines and a tally. */
#include <stdlib.h>

#include "unit.h"

int unit_failures;
const char *unit_skip;

#define SUITES(X) X(path) X(json) X(config) X(util)
#define DECL(n) extern const struct unit_test n##_tests[];
SUITES(DECL)
#define ENTRY(n) {#n, n##_tests},
static const struct unit_suite suites[] = {SUITES(ENTRY){NULL, NULL}};

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (const struct unit_suite *s = suites; s->name; s++) {
        for (const struct unit_test *t = s->tests; t->name; t++) {
            if (only && !strstr(t->name, only) && strcmp(s->name, only) != 0)
                continue;
            unit_failures = 0;
            unit_skip = NULL;
            t->fn();
            if (unit_skip) {
                printf("ok - unit %s.%s # skip %s\n", s->name, t->name, unit_skip);
                skipped++;
            } else if (unit_failures) {
                printf("not ok - unit %s.%s\n", s->name, t->name);
                failed++;
            } else {
                printf("ok - unit %s.%s\n", s->name, t->name);
                passed++;
            }
        }
    }
    printf("# unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
