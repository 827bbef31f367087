/*
 * A parsed query evaluated against one document in memory, so the one
 * parser serves both the catalog's SELECT (dsl_sql.c) and a matcher that
 * tests a new lot against many saved searches without a query each.
 *
 * Invariant: for every filter, dsl_eval answers as the SQL dsl_sql.c
 * writes for it would on the same row — the comparison operators on
 * bigint, bytewise text (the cluster's C collation), IS DISTINCT FROM for
 * "ne" on a nullable field, NULL failing everything else, and "like" as
 * lower(col) LIKE lower(pattern) with one character per "_". The one
 * difference: lower() folds every script through ICU, dsl_fold only ASCII
 * and Cyrillic.
 */
#include <string.h>

#include "dsl_int.h"

/* The next character of s[0..n) at *i, lower-cased where dsl_fold would;
 * advances *i. Bytes that do not start a valid sequence stand alone. */
static uint32_t next_char(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[(*i)++];
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32u : c;
    int more = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (c >= 0xf8 || *i + (size_t)more > n)
        return 0x80000000u | c;
    uint32_t cp = c & (0x3fu >> more);
    for (int k = 0; k < more; k++) {
        if ((u[*i + (size_t)k] & 0xc0) != 0x80)
            return 0x80000000u | c;
        cp = cp << 6 | (u[*i + (size_t)k] & 0x3fu);
    }
    *i += (size_t)more;
    if (cp >= 0x410 && cp <= 0x42f) /* А..Я */
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f) /* Ѐ..Џ, Ё among them */
        return cp + 0x50;
    return cp;
}

void dsl_fold(const char *s, char *out)
{
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c >= 'A' && c <= 'Z') {
            out[i] = (char)(c + 32);
        } else if (c == 0xd0 && i + 1 < n) {
            unsigned char d = (unsigned char)out[i + 1];
            if (d >= 0x80 && d <= 0x8f) { /* U+0400..040F -> U+0450..045F */
                out[i] = (char)0xd1;
                out[i + 1] = (char)(d + 0x10);
            } else if (d >= 0x90 && d <= 0x9f) { /* U+0410..041F -> U+0430..043F */
                out[i + 1] = (char)(d + 0x20);
            } else if (d >= 0xa0 && d <= 0xaf) { /* U+0420..042F -> U+0440..044F */
                out[i] = (char)0xd1;
                out[i + 1] = (char)(d - 0x20);
            }
            i++;
        }
    }
}

/* text LIKE pattern, both folded as they are read: % any run, _ one
 * character, \ takes the next character literally. One backtracking
 * point (the last %) suffices: a later % only ever moves forward. */
static bool like(const char *t, const char *p)
{
    size_t tn = strlen(t), pn = strlen(p), ti = 0, pi = 0, star_p = SIZE_MAX, star_t = 0;
    while (ti < tn) {
        if (pi < pn && p[pi] == '%') {
            while (pi < pn && p[pi] == '%')
                pi++;
            if (pi == pn)
                return true;
            star_p = pi;
            star_t = ti;
            continue;
        }
        if (pi < pn) {
            size_t p2 = pi, t2 = ti;
            bool is_any = p[p2] == '_';
            uint32_t pc = 0;
            if (is_any) {
                p2++;
            } else {
                if (p[p2] == '\\')
                    p2++;
                pc = next_char(p, pn, &p2);
            }
            uint32_t tc = next_char(t, tn, &t2);
            if (is_any || pc == tc) {
                pi = p2;
                ti = t2;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        next_char(t, tn, &star_t);
        pi = star_p;
        ti = star_t;
    }
    while (pi < pn && p[pi] == '%')
        pi++;
    return pi == pn;
}

/* <0, 0, >0 as the document's value d sorts against v. */
static int compare(const dsl_field *f, const dsl_datum *d, const value *v, int64_t now_us)
{
    if (f->type == DSL_TEXT || f->type == DSL_ENUM)
        return strcmp(d->text != NULL ? d->text : "", v->text);
    int64_t want = v->num;
    if (v->is_relative && __builtin_add_overflow(now_us, v->num, &want))
        want = v->num < 0 ? INT64_MIN : INT64_MAX;
    return d->num < want ? -1 : d->num > want;
}

static bool passes(const filter *fl, const dsl_datum *d, int64_t now_us)
{
    if (d->is_null)
        return fl->op->code == OP_NE && (fl->f->flags & DSL_NULLABLE);
    switch (fl->op->code) {
    case OP_EQ:
        return compare(fl->f, d, &fl->vals[0], now_us) == 0;
    case OP_NE:
        return compare(fl->f, d, &fl->vals[0], now_us) != 0;
    case OP_GT:
        return compare(fl->f, d, &fl->vals[0], now_us) > 0;
    case OP_GTE:
        return compare(fl->f, d, &fl->vals[0], now_us) >= 0;
    case OP_LT:
        return compare(fl->f, d, &fl->vals[0], now_us) < 0;
    case OP_LTE:
        return compare(fl->f, d, &fl->vals[0], now_us) <= 0;
    case OP_IN:
        for (int i = 0; i < fl->nvals; i++)
            if (compare(fl->f, d, &fl->vals[i], now_us) == 0)
                return true;
        return false;
    case OP_LIKE:
        return like(d->text != NULL ? d->text : "", fl->vals[0].text);
    default:
        panic("dsl: %s is not a filter", fl->op->name);
    }
}

bool dsl_eval(const dsl_query *q, const dsl_datum *row, int64_t now_us)
{
    for (int i = 0; i < q->nfilters; i++) {
        const filter *fl = &q->filters[i];
        if (!passes(fl, &row[fl->f - q->schema->fields], now_us))
            return false;
    }
    return true;
}

int dsl_required_values(const dsl_query *q, int field, const char **out, int max)
{
    for (int i = 0; i < q->nfilters; i++) {
        const filter *fl = &q->filters[i];
        if (fl->f - q->schema->fields != field ||
            (fl->op->code != OP_EQ && fl->op->code != OP_IN))
            continue;
        if (fl->nvals > max)
            return 0; /* a part of the values would index too little */
        for (int n = 0; n < fl->nvals; n++)
            out[n] = fl->vals[n].text;
        return fl->nvals;
    }
    return 0;
}

int dsl_field_index(const dsl_schema *schema, const char *name)
{
    const dsl_field *f = dsl__field_named(schema, name, strlen(name));
    return f != NULL ? (int)(f - schema->fields) : -1;
}
