/* Unit runner: runs every suite, prints TAP-like lines and a tally. */
#include <stdlib.h>

#include "unit.h"

int unit_failures;
const char *unit_skip;

extern const struct unit_suite __start_moat_unit_suites[];
extern const struct unit_suite __stop_moat_unit_suites[];

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (const struct unit_suite *s = __start_moat_unit_suites; s < __stop_moat_unit_suites; s++) {
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
