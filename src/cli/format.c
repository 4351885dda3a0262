/* Output helpers in Docker's shapes: sizes, durations, tables, --format. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "moat/util.h"

void cli_human_size(uint64_t n, int precision, char *buf, size_t len)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    double size = (double)n;
    size_t i = 0;
    while (size >= 1000.0 && i < ARRAY_SIZE(units) - 1) {
        size /= 1000.0;
        i++;
    }
    snprintf(buf, len, "%.*g%s", precision, size, units[i]);
}

void cli_human_duration(int64_t secs, char *buf, size_t len)
{
    int64_t minutes = secs / 60;
    int64_t hours = (secs + 1800) / 3600; /* Go: d.Round(time.Hour).Hours() */
    if (secs < 1)
        snprintf(buf, len, "Less than a second");
    else if (secs == 1)
        snprintf(buf, len, "1 second");
    else if (secs < 60)
        snprintf(buf, len, "%" PRId64 " seconds", secs);
    else if (minutes == 1)
        snprintf(buf, len, "About a minute");
    else if (minutes < 60)
        snprintf(buf, len, "%" PRId64 " minutes", minutes);
    else if (hours == 1)
        snprintf(buf, len, "About an hour");
    else if (hours < 48)
        snprintf(buf, len, "%" PRId64 " hours", hours);
    else if (hours < 24 * 7 * 2)
        snprintf(buf, len, "%" PRId64 " days", hours / 24);
    else if (hours < 24 * 30 * 2)
        snprintf(buf, len, "%" PRId64 " weeks", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        snprintf(buf, len, "%" PRId64 " months", hours / 24 / 30);
    else
        snprintf(buf, len, "%" PRId64 " years", secs / 3600 / 24 / 365);
}

void cli_created_since(int64_t t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "N/A");
        return;
    }
    char d[64];
    cli_human_duration((int64_t)time(NULL) - t, d, sizeof d);
    snprintf(buf, len, "%s ago", d);
}

void cli_short_id(const char *id, char buf[13])
{
    const char *hex = moat_str_has_prefix(id, "sha256:") ? id + 7 : id;
    snprintf(buf, 13, "%s", hex);
}

/* runes of UTF-8 text */
static size_t runes(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

char *cli_ellipsis(const char *s, size_t max)
{
    if (runes(s) <= max)
        return xstrdup(s);
    size_t n = 0, i = 0;
    for (; s[i] && n < max - 1; i++) {
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
        while (s[i + 1] && ((unsigned char)s[i + 1] & 0xc0) == 0x80)
            i++;
    }
    return xasprintf("%.*s…", (int)i, s);
}

void cli_table_init(struct cli_table *t, size_t ncols, ...)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    va_list ap;
    va_start(ap, ncols);
    t->cells = xcalloc(ncols, sizeof(char *));
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = xstrdup(va_arg(ap, const char *));
    va_end(ap);
    t->nrows = 1;
}

void cli_table_row(struct cli_table *t, ...)
{
    va_list ap;
    va_start(ap, t);
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + i] = xstrdup(v ? v : "");
    }
    va_end(ap);
    t->nrows++;
}

void cli_table_print(struct cli_table *t, FILE *f)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = runes(t->cells[r * t->ncols + c]) + 3;
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *v = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols) {
                fprintf(f, "%s\n", v);
            } else {
                size_t width = w[c] < 10 ? 10 : w[c];
                fputs(v, f);
                for (size_t k = runes(v); k < width; k++)
                    fputc(' ', f);
            }
        }
    }
    free(w);
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* ---- --format --------------------------------------------------------------- */

int cli_format_check(const char *fmt, const char *const *keys, moat_error **err)
{
    for (const char *p = strstr(fmt, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *e = strstr(p, "}}");
        if (!e)
            return moat_err(err, EINVAL, "template: unclosed action in '%s'", fmt);
        const char *k = p + 2;
        while (*k == ' ')
            k++;
        if (*k != '.')
            return moat_err(err, EINVAL, "template: only {{.Field}} placeholders are supported, not '%.*s'",
                            (int)(e + 2 - p), p);
        k++;
        size_t kl = (size_t)(e - k);
        while (kl && k[kl - 1] == ' ')
            kl--;
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strlen(keys[i]) == kl && !strncmp(keys[i], k, kl);
        if (!known)
            return moat_err(err, EINVAL, "template: can't evaluate field %.*s", (int)kl, k);
    }
    return 0;
}

char *cli_format(const char *fmt, cli_field_fn fn, void *ctx)
{
    if (moat_str_has_prefix(fmt, "table "))
        fmt += 6;
    size_t cap = strlen(fmt) + 64, n = 0;
    char *out = xmalloc(cap);
    for (const char *p = fmt; *p;) {
        const char *piece = NULL;
        size_t plen = 0;
        char esc[2] = {0};
        if (p[0] == '{' && p[1] == '{' && strstr(p, "}}")) {
            const char *e = strstr(p, "}}");
            const char *k = p + 2;
            while (*k == ' ' || *k == '.')
                k++;
            size_t kl = (size_t)(e - k);
            while (kl && k[kl - 1] == ' ')
                kl--;
            _cleanup_free_ char *key = xstrndup(k, kl);
            piece = fn(ctx, key);
            plen = piece ? strlen(piece) : 0;
            p = e + 2;
        } else if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n')) {
            esc[0] = p[1] == 't' ? '\t' : '\n';
            piece = esc;
            plen = 1;
            p += 2;
        } else {
            piece = p;
            plen = 1;
            p++;
        }
        if (n + plen + 1 > cap) {
            cap = (n + plen + 1) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + n, piece ? piece : "", plen);
        n += plen;
    }
    out[n] = '\0';
    return out;
}
