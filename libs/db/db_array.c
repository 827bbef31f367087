/*
 * Array literals for parameters, so one statement can write many rows:
 *   INSERT … SELECT … FROM unnest($1::bigint[], $2::text[])
 * Elements are appended in order; text is always double-quoted with " and
 * \ escaped, so any input round-trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "db/db.h"

void db_array_init(db_array *a)
{
    a->cap = 256;
    a->buf = xmalloc(a->cap);
    a->buf[0] = '{';
    a->len = 1;
    a->n = 0;
}

static void reserve(db_array *a, size_t more)
{
    if (a->len + more + 2 <= a->cap)
        return;
    while (a->len + more + 2 > a->cap)
        a->cap *= 2;
    a->buf = xrealloc(a->buf, a->cap);
}

static void separator(db_array *a)
{
    reserve(a, 1);
    if (a->n++ > 0)
        a->buf[a->len++] = ',';
}

void db_array_i64(db_array *a, int64_t v)
{
    separator(a);
    reserve(a, 24);
    a->len += (size_t)snprintf(a->buf + a->len, 24, "%lld", (long long)v);
}

void db_array_bool(db_array *a, bool v)
{
    separator(a);
    reserve(a, 1);
    a->buf[a->len++] = v ? 't' : 'f';
}

void db_array_text(db_array *a, const char *s)
{
    separator(a);
    size_t n = strlen(s);
    reserve(a, 2 * n + 2);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

void db_array_hex(db_array *a, const uint8_t *p, size_t n)
{
    separator(a);
    reserve(a, 2 * n + 2);
    a->buf[a->len++] = '"';
    hex_encode(p, n, a->buf + a->len);
    a->len += 2 * n;
    a->buf[a->len++] = '"';
}

const char *db_array_str(db_array *a)
{
    reserve(a, 1);
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void db_array_free(db_array *a)
{
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = a->n = 0;
}
