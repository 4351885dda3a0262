/* Internal to src/policy. */
#ifndef MOAT_POLICY_INTERNAL_H
#define MOAT_POLICY_INTERNAL_H

#include <stddef.h>

#include "moat/policy.h"

/* policy/NAME.json, compiled in by the GNUmakefile (build/gen/policy_profiles.c). */
struct moat_policy_builtin {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct moat_policy_builtin moat_policy_builtins[];

enum pol_kind {
    K_ALLOW,      /* boolean: true allows more (narrower may only turn it off) */
    K_REQUIRE,    /* boolean: true requires (narrower may only turn it on) */
    K_CAPS,       /* capability set: narrower must be a subset */
    K_CAPS_DEF,   /* default capability set: free, intersected with the allowed set */
    K_LIST,       /* exact strings: narrower must be a subset */
    K_PATTERNS,   /* fnmatch patterns: each narrower pattern must be matched by a wider one */
    K_UNION,      /* forbidden things: layers add, never remove */
    K_BINDS,      /* [{"prefix","readOnly"}]: each narrower prefix under a wider one, ro stays ro */
    K_PORTS,      /* "lo-hi" ranges: narrower within wider */
    K_MAX,        /* number, 0 = unlimited: narrower <= wider */
    K_DEFAULT,    /* number: free, clamped to the maximum */
    K_STR_DEF,    /* one string: free, must be in its allowed list */
    K_SIGNED,     /* "never" < "registry" < "always" */
    K_BYTES,      /* K_MAX for memory: a number of bytes or "512m" */
    K_CPUS,       /* K_MAX for CPUs: a number (1.5) stored as nano CPUs */
};

struct pol_field {
    const char *path; /* JSON pointer */
    enum pol_kind kind;
    const char *what; /* for messages */
};
extern const struct pol_field moat_pol_fields[POL_N];

/* "reason (file: /path)". */
char *pol_reason(const struct moat_policy *p, enum moat_policy_rule r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool pol_port_range(const char *s, unsigned *lo, unsigned *hi);
/* Does path (clean, absolute) equal prefix or lie beneath it? */
bool pol_path_under(const char *path, const char *prefix);
const char *pol_signed_name(int64_t v);

#endif
