/*
 * The statement and the cursors of a parsed DSL query. The SQL text is made
 * of the field table's expressions, fixed operators and $n placeholders
 * only. A cursor is checked for shape before its tag, so a cursor of the
 * wrong shape is "malformed" and one of the right shape for other filters
 * or order "does not match".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "dsl_int.h"

static void buf_add(buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        panic("dsl: buf_printf overflow for \"%s\"", fmt);
    buf_add(b, tmp, (size_t)n);
}

static void buf_i64(buf *b, int64_t v)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    buf_add(b, be, 8);
}

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* ---- cursors ---- */

/* The canonical form of the filters and order that a cursor is bound to:
 * relative times stay relative, so later pages (evaluated against the
 * cursor's `now`) digest the same. */
static void canonical(const dsl_query *q, buf *b)
{
    buf_add(b, "gavel.dsl.1", 12);
    for (int i = 0; i < q->nfilters; i++) {
        const filter *f = &q->filters[i];
        uint8_t head[3] = { (uint8_t)f->op->code, (uint8_t)(f->f - dsl_fields),
                            (uint8_t)f->nvals };
        buf_add(b, head, 3);
        for (int k = 0; k < f->nvals; k++) {
            const value *v = &f->vals[k];
            if (f->f->type == DSL_TEXT || f->f->type == DSL_STATE) {
                buf_i64(b, (int64_t)strlen(v->text));
                buf_str(b, v->text);
            } else {
                buf_add(b, v->is_relative ? "r" : "a", 1);
                buf_i64(b, v->num);
            }
        }
    }
    for (int k = 0; k < q->nkeys; k++) {
        uint8_t kb[3] = { 'k', (uint8_t)(q->keys[k].f - dsl_fields), q->keys[k].is_desc };
        buf_add(b, kb, 3);
    }
}

#define TAG_LEN 16
#define CURSOR_HEAD 10 /* version, now_us, key count */

/* The tag of cursor body[0..n): SHA-256 over the query's canonical form and it. */
static void cursor_tag(const dsl_query *q, const void *body, size_t n, uint8_t tag[TAG_LEN])
{
    buf b = { 0 };
    canonical(q, &b);
    buf_add(&b, body, n);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)b.p, b.len, d);
    free(b.p);
    memcpy(tag, d, TAG_LEN);
}

static bool key_is_text(const key *k)
{
    return k->f->type == DSL_TEXT;
}

const char *dsl_cursor_encode(dsl_query *q, const char *const *key_values)
{
    buf b = { 0 };
    const char *out = NULL;
    uint8_t head[2] = { 1, (uint8_t)q->nkeys };
    buf_add(&b, head, 1);
    buf_i64(&b, q->now_us);
    buf_add(&b, head + 1, 1);
    for (int k = 0; k < q->nkeys; k++) {
        const char *v = key_values[k];
        size_t n = strlen(v);
        int64_t num;
        if (key_is_text(&q->keys[k])) {
            if (n > DSL_MAX_TEXT || !utf8_valid(v, n))
                goto out;
            uint8_t th[3] = { 't', (uint8_t)(n >> 8), (uint8_t)n };
            buf_add(&b, th, 3);
            buf_add(&b, v, n);
        } else {
            if (!dsl__parse_i64(v, n, &num))
                goto out;
            buf_add(&b, "i", 1);
            buf_i64(&b, num);
        }
    }
    uint8_t tag[TAG_LEN];
    cursor_tag(q, b.p, b.len, tag);
    buf_add(&b, tag, TAG_LEN);
    if (2 * b.len > DSL_MAX_CURSOR)
        goto out;
    char *hex = arena_alloc(q->mem, 2 * b.len + 1);
    hex_encode((const uint8_t *)b.p, b.len, hex);
    out = hex;
out:
    free(b.p);
    return out;
}

/* Checks the cursor's structure first, then its tag; on success later
 * pages continue after its key values and evaluate times at its `now`. */
int dsl__cursor_decode(parser *p)
{
    dsl_query *q = p->q;
    size_t hexlen = strlen(q->cursor), n = hexlen / 2, at = CURSOR_HEAD;
    bool ok = hexlen % 2 == 0 && n >= CURSOR_HEAD + TAG_LEN;
    for (size_t i = 0; ok && i < hexlen; i++)
        ok = (q->cursor[i] >= '0' && q->cursor[i] <= '9') ||
             (q->cursor[i] >= 'a' && q->cursor[i] <= 'f');
    uint8_t *raw = arena_alloc(q->mem, n + 1);
    if (!ok || hex_decode(q->cursor, raw, n) < 0 || raw[0] != 1)
        goto malformed;
    if (raw[9] != q->nkeys)
        goto mismatch;
    const char **vals = arena_calloc(q->mem, (size_t)q->nkeys, sizeof *vals);
    for (int k = 0; k < q->nkeys; k++) {
        if (at >= n - TAG_LEN || (raw[at] != 'i' && raw[at] != 't'))
            goto malformed;
        if (raw[at] != (key_is_text(&q->keys[k]) ? 't' : 'i'))
            goto mismatch;
        if (raw[at] == 'i') {
            if (at + 9 > n - TAG_LEN)
                goto malformed;
            vals[k] = arena_printf(q->mem, "%lld", (long long)be64(raw + at + 1));
            at += 9;
            continue;
        }
        if (at + 3 > n - TAG_LEN)
            goto malformed;
        size_t len = (size_t)raw[at + 1] << 8 | raw[at + 2];
        if (len > DSL_MAX_TEXT || at + 3 + len > n - TAG_LEN ||
            !utf8_valid((const char *)raw + at + 3, len))
            goto malformed;
        vals[k] = arena_strndup(q->mem, (const char *)raw + at + 3, len);
        at += 3 + len;
    }
    if (at != n - TAG_LEN)
        goto malformed;
    uint8_t tag[TAG_LEN];
    cursor_tag(q, raw, at, tag);
    if (memcmp(tag, raw + at, TAG_LEN) != 0)
        goto mismatch;
    q->now_us = be64(raw + 1);
    q->after = vals;
    return 0;
malformed:
    return dsl__fail(p, DSL_E_CURSOR,
                     "malformed cursor; pass next_cursor exactly as ListLots returned it");
mismatch:
    return dsl__fail(p, DSL_E_CURSOR,
                     "cursor does not match these filters and order; start again without it");
}

/* ---- SQL ---- */

static const char *cast_of(dsl_type t)
{
    return t == DSL_TEXT || t == DSL_STATE ? "::text" : "::bigint";
}

static void add_filter(buf *b, const filter *f, const char **params, int *np)
{
    const char *col = f->f->column, *cast = cast_of(f->f->type);
    if (f->op->code == OP_IN) {
        buf_str(b, col);
        buf_str(b, " IN (");
        for (int i = 0; i < f->nvals; i++) {
            params[*np] = f->vals[i].text;
            buf_printf(b, "%s$%d%s", i > 0 ? ", " : "", ++*np, cast);
        }
        buf_str(b, ")");
        return;
    }
    params[*np] = f->vals[0].text;
    if (f->op->code == OP_LIKE) {
        /* Case-insensitive in every script: the cluster's C locale folds
         * ASCII only, so both sides are lower-cased through ICU. */
        buf_str(b, "lower(");
        buf_str(b, col);
        buf_printf(b, " COLLATE gavel_ci) LIKE lower($%d::text", ++*np);
        buf_str(b, " COLLATE gavel_ci)");
        return;
    }
    buf_str(b, col);
    if (f->op->code == OP_NE && (f->f->flags & DSL_NULLABLE))
        buf_str(b, " IS DISTINCT FROM");
    else
        buf_printf(b, " %s", f->op->sql);
    buf_printf(b, " $%d%s", ++*np, cast);
}

/* Rows after the cursor's: a row comparison when every key runs the same
 * way, else the expanded form k1 > v1 OR (k1 = v1 AND k2 < v2) OR …. */
static void add_keyset(buf *b, const dsl_query *q, const char **params, int *np)
{
    int first = *np + 1;
    bool is_mixed = false;
    for (int k = 0; k < q->nkeys; k++) {
        params[(*np)++] = q->after[k];
        is_mixed |= q->keys[k].is_desc != q->keys[0].is_desc;
    }
    if (!is_mixed) {
        const char *open = q->nkeys > 1 ? "(" : "", *close = q->nkeys > 1 ? ")" : "";
        buf_str(b, open);
        for (int k = 0; k < q->nkeys; k++) {
            if (k > 0)
                buf_str(b, ", ");
            buf_str(b, q->keys[k].f->sort);
        }
        buf_printf(b, "%s %s %s", close, q->keys[0].is_desc ? "<" : ">", open);
        for (int k = 0; k < q->nkeys; k++)
            buf_printf(b, "%s$%d%s", k > 0 ? ", " : "", first + k,
                       key_is_text(&q->keys[k]) ? "::text" : "::bigint");
        buf_str(b, close);
        return;
    }
    buf_str(b, "(");
    for (int k = 0; k < q->nkeys; k++) {
        buf_str(b, k > 0 ? " OR (" : "(");
        for (int j = 0; j <= k; j++) {
            const key *kj = &q->keys[j];
            buf_str(b, kj->f->sort);
            buf_printf(b, " %s $%d%s%s", j < k ? "=" : kj->is_desc ? "<" : ">", first + j,
                       key_is_text(kj) ? "::text" : "::bigint", j < k ? " AND " : ")");
        }
    }
    buf_str(b, ")");
}

void dsl_build_sql(dsl_query *q, const char *select_list, const char *visibility,
                   int nvis, const char *const *vis_params, dsl_sql *out)
{
    int total = nvis + 1 + (q->after != NULL ? q->nkeys : 0);
    for (int i = 0; i < q->nfilters; i++)
        total += q->filters[i].nvals;
    const char **params = arena_calloc(q->mem, (size_t)total, sizeof *params);
    int np = 0;
    for (; np < nvis; np++)
        params[np] = vis_params[np];
    buf b = { 0 };
    buf_str(&b, "SELECT ");
    buf_str(&b, select_list);
    for (int k = 0; k < q->nkeys; k++) {
        buf_str(&b, ", ");
        buf_str(&b, q->keys[k].f->sort);
    }
    buf_str(&b, " FROM lots l WHERE (");
    buf_str(&b, visibility != NULL ? visibility : "true");
    buf_str(&b, ")");
    for (int i = 0; i < q->nfilters; i++) {
        buf_str(&b, " AND ");
        add_filter(&b, &q->filters[i], params, &np);
    }
    if (q->after != NULL) {
        buf_str(&b, " AND ");
        add_keyset(&b, q, params, &np);
    }
    buf_str(&b, " ORDER BY ");
    for (int k = 0; k < q->nkeys; k++) {
        buf_str(&b, k > 0 ? ", " : "");
        buf_str(&b, q->keys[k].f->sort);
        buf_str(&b, q->keys[k].is_desc ? " DESC" : " ASC");
    }
    params[np] = arena_printf(q->mem, "%d", q->limit + 1);
    buf_printf(&b, " LIMIT $%d", ++np);
    *out = (dsl_sql){ .sql = arena_strndup(q->mem, b.p, b.len), .nparams = np,
                      .params = params, .nkeys = q->nkeys };
    free(b.p);
}
