/*
 * The growable buffer the statement and the cursors are written into. It
 * is NUL-terminated once anything was added, and grows through xrealloc,
 * so running out of memory aborts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dsl_int.h"

void dsl__buf_add(buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dsl__buf_str(buf *b, const char *s)
{
    dsl__buf_add(b, s, strlen(s));
}

void dsl__buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        panic("dsl: buf_printf overflow for \"%s\"", fmt);
    dsl__buf_add(b, tmp, (size_t)n);
}

void dsl__buf_i64(buf *b, int64_t v)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    dsl__buf_add(b, be, 8);
}

int64_t dsl__be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}
