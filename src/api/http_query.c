/* Pure parts of the HTTP server: percent-decoding, query strings, reason
 * phrases.  Everything here reads untrusted bytes (fuzzed through
 * fuzz/fuzz_http_request.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "moat/http.h"
#include "moat/util.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int moat_http_pct_decode(const char *s, size_t len, bool plus_as_space, char **ret, moat_error **err)
{
    _cleanup_free_ char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return moat_err(err, EINVAL, "invalid percent escape at offset %zu", i);
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus_as_space) {
            ch = ' ';
        }
        if (ch == '\0')
            return moat_err(err, EINVAL, "NUL byte at offset %zu", i);
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    *ret = TAKE_PTR(out);
    return 0;
}

int moat_http_parse_query(const char *q, size_t len, char ***ret, moat_error **err)
{
    _cleanup_strv_ char **v = xcalloc(1, sizeof(char *));
    size_t n = 0, cap = 1;
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
            _cleanup_free_ char *k = NULL;
            _cleanup_free_ char *val = NULL;
            if (moat_http_pct_decode(q + i, klen, true, &k, err) < 0)
                return moat_err_wrap(err, "query parameter");
            if (eq && moat_http_pct_decode(eq + 1, (size_t)(q + end - (eq + 1)), true, &val, err) < 0)
                return moat_err_wrap(err, "query parameter '%s'", k);
            if (!val)
                val = xstrdup("");
            if (n + 3 > cap) {
                cap = cap * 2 + 4;
                v = xrealloc(v, cap * sizeof(char *));
            }
            v[n++] = TAKE_PTR(k);
            v[n++] = TAKE_PTR(val);
            v[n] = NULL;
        }
        i = end + 1;
    }
    *ret = TAKE_PTR(v);
    return 0;
}

const char *moat_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}
