/* Docker image references (see include/moat/reference.h).  Pure string code,
 * fuzzed by fuzz/fuzz_reference.c. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "moat/reference.h"
#include "moat/util.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return isalnum((unsigned char)c) != 0; }
static bool is_word(char c) { return is_alnum(c) || c == '_'; }
static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* path-component := [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*  over s[0..n) */
static bool path_component_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < n) {
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        /* a separator, then at least one alnum */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* domain := (domain-name | "[" ipv6 "]") [":" port] */
static bool domain_ok(const char *s, size_t n)
{
    size_t hostlen = n;
    const char *colon = NULL;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        hostlen = (size_t)(close - s) + 1;
        if (hostlen < n) {
            if (s[hostlen] != ':')
                return false;
            colon = s + hostlen;
        }
    } else {
        colon = memchr(s, ':', n);
        if (colon)
            hostlen = (size_t)(colon - s);
        size_t start = 0;
        for (size_t i = 0; i <= hostlen; i++) {
            if (i == hostlen || s[i] == '.') {
                if (!domain_component_ok(s + start, i - start))
                    return false;
                start = i + 1;
            }
        }
    }
    if (colon) {
        const char *port = colon + 1;
        size_t plen = n - (size_t)(port - s);
        if (plen == 0)
            return false;
        for (size_t i = 0; i < plen; i++)
            if (!isdigit((unsigned char)port[i]))
                return false;
    }
    return true;
}

static bool tag_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !is_word(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static int digest_check(const char *s, moat_error **err)
{
    static const struct {
        const char *alg;
        size_t hexlen;
    } algs[] = {{"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return moat_err(err, EINVAL, "invalid reference format");
    size_t alen = (size_t)(colon - s);
    for (size_t i = 0; i < alen; i++)
        if (!is_alnum(s[i]) && !strchr("+.-_", s[i]))
            return moat_err(err, EINVAL, "invalid reference format");
    for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
        if (strlen(algs[a].alg) != alen || strncmp(s, algs[a].alg, alen) != 0)
            continue;
        const char *hex = colon + 1;
        if (strlen(hex) != algs[a].hexlen)
            return moat_err(err, EINVAL, "invalid checksum digest length");
        for (size_t i = 0; i < algs[a].hexlen; i++)
            if (!is_hex(hex[i]))
                return moat_err(err, EINVAL, "invalid checksum digest format");
        return 0;
    }
    return moat_err(err, EINVAL, "unsupported digest algorithm");
}

bool moat_ref_is_full_id(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    size_t n = strlen(s);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i]))
            return false;
    return true;
}

bool moat_ref_is_id_prefix(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i]))
            return false;
    return true;
}

void moat_ref_clear(struct moat_ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

/* Validate "domain/remainder" split by Docker's rule and fill r. */
static int parse_name(const char *name, size_t n, struct moat_ref *r, moat_error **err)
{
    const char *slash = memchr(name, '/', n);
    const char *rem = name;
    size_t remlen = n;
    char *domain;
    bool is_domain = false;
    if (slash) {
        size_t fl = (size_t)(slash - name);
        is_domain = memchr(name, '.', fl) || memchr(name, ':', fl) || (fl == 9 && !strncmp(name, "localhost", 9));
        for (size_t i = 0; i < fl && !is_domain; i++)
            if (isupper((unsigned char)name[i]))
                is_domain = true;
    }
    if (is_domain) {
        size_t fl = (size_t)(slash - name);
        if (!domain_ok(name, fl))
            return moat_err(err, EINVAL, "invalid reference format");
        domain = xstrndup(name, fl);
        rem = slash + 1;
        remlen = n - fl - 1;
        if (!strcmp(domain, LEGACY_DOMAIN)) {
            free(domain);
            domain = xstrdup(DEFAULT_DOMAIN);
        }
    } else {
        domain = xstrdup(DEFAULT_DOMAIN);
    }
    _cleanup_free_ char *dom = domain;
    /* the repository path must be lower case: say so rather than "invalid format" */
    for (size_t i = 0; i < remlen; i++)
        if (isupper((unsigned char)rem[i])) {
            bool official = !strcmp(dom, DEFAULT_DOMAIN) && !memchr(rem, '/', remlen);
            return moat_err(err, EINVAL, "invalid reference format: repository name (%s%.*s) must be lowercase",
                            official ? OFFICIAL_PREFIX : "", (int)remlen, rem);
        }
    size_t start = 0;
    if (remlen == 0)
        return moat_err(err, EINVAL, "invalid reference format");
    for (size_t i = 0; i <= remlen; i++) {
        if (i == remlen || rem[i] == '/') {
            if (!path_component_ok(rem + start, i - start))
                return moat_err(err, EINVAL, "invalid reference format");
            start = i + 1;
        }
    }
    bool official = !strcmp(dom, DEFAULT_DOMAIN) && !memchr(rem, '/', remlen);
    char *path = official ? xasprintf(OFFICIAL_PREFIX "%.*s", (int)remlen, rem) : xstrndup(rem, remlen);
    if (strlen(dom) + 1 + strlen(path) > MOAT_REF_MAX_NAME) {
        free(path);
        return moat_err(err, EINVAL, "repository name must not be more than %d characters", MOAT_REF_MAX_NAME);
    }
    r->domain = TAKE_PTR(dom);
    r->path = path;
    return 0;
}

int moat_ref_parse(const char *s, struct moat_ref *ret, moat_error **err)
{
    struct moat_ref r = {0};
    size_t len = strlen(s);
    if (len == 0)
        return moat_err(err, EINVAL, "invalid reference format: repository name must have at least one component");
    if (len > MOAT_REF_MAX_INPUT)
        return moat_err(err, EINVAL, "invalid reference format: longer than %d bytes", MOAT_REF_MAX_INPUT);
    if (len == 64 && moat_ref_is_full_id(s))
        return moat_err(err, EINVAL, "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);
    _cleanup_free_ char *buf = xstrdup(s);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (digest_check(at + 1, err) < 0)
            return -1;
        r.digest = xstrdup(at + 1);
    }
    /* A tag is after the last ':' that follows the last '/'. */
    char *lastslash = strrchr(buf, '/');
    char *colon = strrchr(lastslash ? lastslash : buf, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_ok(colon + 1)) {
            moat_ref_clear(&r);
            return moat_err(err, EINVAL, "invalid reference format");
        }
        r.tag = xstrdup(colon + 1);
    }
    if (parse_name(buf, strlen(buf), &r, err) < 0) {
        moat_ref_clear(&r);
        return -1;
    }
    *ret = r;
    return 0;
}

void moat_ref_default_tag(struct moat_ref *r)
{
    if (!r->tag && !r->digest)
        r->tag = xstrdup("latest");
}

char *moat_ref_name(const struct moat_ref *r) { return xasprintf("%s/%s", r->domain, r->path); }

static char *with_suffix(char *name, const struct moat_ref *r)
{
    char *s = xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
                        r->digest ? r->digest : "");
    free(name);
    return s;
}

char *moat_ref_string(const struct moat_ref *r) { return with_suffix(moat_ref_name(r), r); }

char *moat_ref_familiar_name(const struct moat_ref *r)
{
    if (strcmp(r->domain, DEFAULT_DOMAIN) != 0)
        return moat_ref_name(r);
    const char *p = r->path;
    if (moat_str_has_prefix(p, OFFICIAL_PREFIX) && !strchr(p + strlen(OFFICIAL_PREFIX), '/'))
        p += strlen(OFFICIAL_PREFIX);
    return xstrdup(p);
}

char *moat_ref_familiar_string(const struct moat_ref *r) { return with_suffix(moat_ref_familiar_name(r), r); }

char *moat_ref_familiarize(const char *full)
{
    struct moat_ref r;
    moat_error *err = NULL;
    if (moat_ref_parse(full, &r, &err) < 0) {
        moat_error_free(err);
        return xstrdup(full);
    }
    char *s = moat_ref_familiar_string(&r);
    moat_ref_clear(&r);
    return s;
}
