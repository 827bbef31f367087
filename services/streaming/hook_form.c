/*
 * application/x-www-form-urlencoded bodies, as nginx-rtmp's notify module
 * posts them (call=publish&app=live&name=...&clientid=...). Fields are
 * found by exact name and percent-decoded into a caller's bounded buffer;
 * anything malformed is reported, never guessed.
 */
#include <string.h>

#include "streaming.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes v[0..n) into out (cap bytes incl. NUL): length, or -2. */
static int decode(const char *v, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)v[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -2;
            int hi = hexval(v[i + 1]), lo = hexval(v[i + 2]);
            if (hi < 0 || lo < 0)
                return -2;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || len + 1 >= cap)
            return -2;
        out[len++] = (char)ch;
    }
    out[len] = '\0';
    return (int)len;
}

int strm_form_get(const char *body, size_t n, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key), at = 0;
    while (at <= n) {
        const char *f = body + at;
        const char *amp = memchr(f, '&', n - at);
        size_t flen = amp != NULL ? (size_t)(amp - f) : n - at;
        if (flen > klen && memcmp(f, key, klen) == 0 && f[klen] == '=')
            return decode(f + klen + 1, flen - klen - 1, out, cap);
        if (flen == klen && memcmp(f, key, klen) == 0)
            return decode("", 0, out, cap);
        at += flen + 1;
    }
    return -1;
}
