/*
 * Cursors: where the next page starts. A cursor holds version 1, the first
 * page's `now`, the last row's order-key values (integers as 8 big-endian
 * bytes, text with a 2-byte length) and a tag over the canonical form of
 * the filters and order and all of the above. It is checked for shape
 * before its tag, so a cursor of the wrong shape is "malformed" and one of
 * the right shape for other filters or order "does not match". The format
 * is the same for every schema: a schema's fields are named by their row.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "dsl_int.h"

/* The canonical form of the filters and order that a cursor is bound to:
 * relative times stay relative, so later pages (evaluated against the
 * cursor's `now`) digest the same. */
static void canonical(const dsl_query *q, buf *b)
{
    dsl__buf_add(b, "gavel.dsl.1", 12);
    for (int i = 0; i < q->nfilters; i++) {
        const filter *f = &q->filters[i];
        uint8_t head[3] = { (uint8_t)f->op->code, (uint8_t)(f->f - q->schema->fields),
                            (uint8_t)f->nvals };
        dsl__buf_add(b, head, 3);
        for (int k = 0; k < f->nvals; k++) {
            const value *v = &f->vals[k];
            if (f->f->type == DSL_TEXT || f->f->type == DSL_ENUM) {
                dsl__buf_i64(b, (int64_t)strlen(v->text));
                dsl__buf_str(b, v->text);
            } else {
                dsl__buf_add(b, v->is_relative ? "r" : "a", 1);
                dsl__buf_i64(b, v->num);
            }
        }
    }
    for (int k = 0; k < q->nkeys; k++) {
        uint8_t kb[3] = { 'k', (uint8_t)(q->keys[k].f - q->schema->fields), q->keys[k].is_desc };
        dsl__buf_add(b, kb, 3);
    }
}

#define TAG_LEN 16
#define CURSOR_HEAD 10 /* version, now_us, key count */

/* The tag of cursor body[0..n): SHA-256 over the query's canonical form and it. */
static void cursor_tag(const dsl_query *q, const void *body, size_t n, uint8_t tag[TAG_LEN])
{
    buf b = { 0 };
    canonical(q, &b);
    dsl__buf_add(&b, body, n);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)b.p, b.len, d);
    free(b.p);
    memcpy(tag, d, TAG_LEN);
}

const char *dsl_cursor_encode(dsl_query *q, const char *const *key_values)
{
    buf b = { 0 };
    const char *out = NULL;
    uint8_t head[2] = { 1, (uint8_t)q->nkeys };
    dsl__buf_add(&b, head, 1);
    dsl__buf_i64(&b, q->now_us);
    dsl__buf_add(&b, head + 1, 1);
    for (int k = 0; k < q->nkeys; k++) {
        const char *v = key_values[k];
        size_t n = strlen(v);
        int64_t num;
        if (dsl__key_is_text(&q->keys[k])) {
            if (n > DSL_MAX_TEXT || !utf8_valid(v, n))
                goto out;
            uint8_t th[3] = { 't', (uint8_t)(n >> 8), (uint8_t)n };
            dsl__buf_add(&b, th, 3);
            dsl__buf_add(&b, v, n);
        } else {
            if (!dsl__parse_i64(v, n, &num))
                goto out;
            dsl__buf_add(&b, "i", 1);
            dsl__buf_i64(&b, num);
        }
    }
    uint8_t tag[TAG_LEN];
    cursor_tag(q, b.p, b.len, tag);
    dsl__buf_add(&b, tag, TAG_LEN);
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
        if (raw[at] != (dsl__key_is_text(&q->keys[k]) ? 't' : 'i'))
            goto mismatch;
        if (raw[at] == 'i') {
            if (at + 9 > n - TAG_LEN)
                goto malformed;
            vals[k] = arena_printf(q->mem, "%lld", (long long)dsl__be64(raw + at + 1));
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
    q->now_us = dsl__be64(raw + 1);
    q->after = vals;
    return 0;
malformed:
    return dsl__fail(p, DSL_E_CURSOR,
                     "malformed cursor; pass next_cursor exactly as %s returned it",
                     q->schema->listing);
mismatch:
    return dsl__fail(p, DSL_E_CURSOR,
                     "cursor does not match these filters and order; start again without it");
}

