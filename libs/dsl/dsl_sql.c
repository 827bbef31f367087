/*
 * The statement of a parsed DSL query. Its text is made of the schema's
 * FROM item, column expressions and enumerated names, fixed operators and
 * $n placeholders only. Each field has one sort expression, written here
 * from its row (the column; the rank of an enumerated value in its names;
 * NULL as DSL_NULL_SORTS_AS when nullable) and used alike in the select
 * list, the keyset condition and ORDER BY.
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"

bool dsl__key_is_text(const key *k)
{
    return k->f->type == DSL_TEXT;
}

/* The sort expression of f: e.g. "coalesce(l.session_id, 9223372036854775807)"
 * or "array_position('{draft,live}'::text[], l.state)". */
static void add_sort(buf *b, const dsl_field *f)
{
    bool is_nullable = f->flags & DSL_NULLABLE;
    if (is_nullable)
        dsl__buf_str(b, "coalesce(");
    if (f->type == DSL_ENUM) {
        dsl__buf_str(b, "array_position('{");
        for (size_t i = 0; f->names[i] != NULL; i++) {
            dsl__buf_str(b, i > 0 ? "," : "");
            dsl__buf_str(b, f->names[i]);
        }
        dsl__buf_str(b, "}'::text[], ");
    }
    dsl__buf_str(b, f->column);
    if (f->type == DSL_ENUM)
        dsl__buf_str(b, ")");
    if (is_nullable)
        dsl__buf_str(b, ", " DSL_NULL_SORTS_AS ")");
}

static const char *cast_of(dsl_type t)
{
    return t == DSL_TEXT || t == DSL_ENUM ? "::text" : "::bigint";
}

/* The parameters of a statement being written: params[0..n) are bound to
 * $base+1 … $base+n. */
typedef struct {
    const char **params;
    int n;
    int base;
} binds;

/* Binds text to the next placeholder; returns its number. */
static int bind(binds *bd, const char *text)
{
    bd->params[bd->n++] = text;
    return bd->base + bd->n;
}

/* The parameters q binds besides the caller's: filter values, the cursor's
 * keys, the limit. */
static int params_of(const dsl_query *q)
{
    int n = 1 + (q->after != NULL ? q->nkeys : 0);
    for (int i = 0; i < q->nfilters; i++)
        n += q->filters[i].nvals;
    return n;
}

static void add_filter(buf *b, const filter *f, binds *bd)
{
    const char *col = f->f->column, *cast = cast_of(f->f->type);
    if (f->op->code == OP_IN) {
        dsl__buf_str(b, col);
        dsl__buf_str(b, " IN (");
        for (int i = 0; i < f->nvals; i++)
            dsl__buf_printf(b, "%s$%d%s", i > 0 ? ", " : "", bind(bd, f->vals[i].text), cast);
        dsl__buf_str(b, ")");
        return;
    }
    if (f->op->code == OP_LIKE) {
        /* Case-insensitive in every script: the cluster's C locale folds
         * ASCII only, so both sides are lower-cased through ICU. */
        dsl__buf_str(b, "lower(");
        dsl__buf_str(b, col);
        dsl__buf_printf(b, " COLLATE gavel_ci) LIKE lower($%d::text", bind(bd, f->vals[0].text));
        dsl__buf_str(b, " COLLATE gavel_ci)");
        return;
    }
    dsl__buf_str(b, col);
    if (f->op->code == OP_NE && (f->f->flags & DSL_NULLABLE))
        dsl__buf_str(b, " IS DISTINCT FROM");
    else
        dsl__buf_printf(b, " %s", f->op->sql);
    dsl__buf_printf(b, " $%d%s", bind(bd, f->vals[0].text), cast);
}

/* Every filter, joined by AND; led by one when is_continued. */
static void add_filters(buf *b, const dsl_query *q, binds *bd, bool is_continued)
{
    for (int i = 0; i < q->nfilters; i++) {
        if (is_continued || i > 0)
            dsl__buf_str(b, " AND ");
        add_filter(b, &q->filters[i], bd);
    }
}

static const char *key_cast(const key *k)
{
    return dsl__key_is_text(k) ? "::text" : "::bigint";
}

/* Rows after the cursor's: a row comparison when every key runs the same
 * way, else the expanded form k1 > v1 OR (k1 = v1 AND k2 < v2) OR …. */
static void add_keyset(buf *b, const dsl_query *q, binds *bd)
{
    int first = bd->base + bd->n + 1;
    bool is_mixed = false;
    for (int k = 0; k < q->nkeys; k++) {
        bind(bd, q->after[k]);
        is_mixed |= q->keys[k].is_desc != q->keys[0].is_desc;
    }
    if (!is_mixed) {
        const char *open = q->nkeys > 1 ? "(" : "", *close = q->nkeys > 1 ? ")" : "";
        dsl__buf_str(b, open);
        for (int k = 0; k < q->nkeys; k++) {
            if (k > 0)
                dsl__buf_str(b, ", ");
            add_sort(b, q->keys[k].f);
        }
        dsl__buf_printf(b, "%s %s %s", close, q->keys[0].is_desc ? "<" : ">", open);
        for (int k = 0; k < q->nkeys; k++)
            dsl__buf_printf(b, "%s$%d%s", k > 0 ? ", " : "", first + k, key_cast(&q->keys[k]));
        dsl__buf_str(b, close);
        return;
    }
    dsl__buf_str(b, "(");
    for (int k = 0; k < q->nkeys; k++) {
        dsl__buf_str(b, k > 0 ? " OR (" : "(");
        for (int j = 0; j <= k; j++) {
            const key *kj = &q->keys[j];
            add_sort(b, kj->f);
            dsl__buf_printf(b, " %s $%d%s%s", j < k ? "=" : kj->is_desc ? "<" : ">", first + j,
                            key_cast(kj), j < k ? " AND " : ")");
        }
    }
    dsl__buf_str(b, ")");
}

void dsl_build_sql(dsl_query *q, const char *select_list, const char *visibility,
                   int nvis, const char *const *vis_params, dsl_sql *out)
{
    binds bd = { .params = arena_calloc(q->mem, (size_t)(nvis + params_of(q)),
                                        sizeof *bd.params) };
    for (int i = 0; i < nvis; i++)
        bind(&bd, vis_params[i]);
    buf b = { 0 };
    dsl__buf_str(&b, "SELECT ");
    dsl__buf_str(&b, select_list);
    for (int k = 0; k < q->nkeys; k++) {
        dsl__buf_str(&b, ", ");
        add_sort(&b, q->keys[k].f);
    }
    dsl__buf_str(&b, " FROM ");
    dsl__buf_str(&b, q->schema->from);
    dsl__buf_str(&b, " WHERE (");
    dsl__buf_str(&b, visibility != NULL ? visibility : "true");
    dsl__buf_str(&b, ")");
    add_filters(&b, q, &bd, true);
    if (q->after != NULL) {
        dsl__buf_str(&b, " AND ");
        add_keyset(&b, q, &bd);
    }
    dsl__buf_str(&b, " ORDER BY ");
    for (int k = 0; k < q->nkeys; k++) {
        dsl__buf_str(&b, k > 0 ? ", " : "");
        add_sort(&b, q->keys[k].f);
        dsl__buf_str(&b, q->keys[k].is_desc ? " DESC" : " ASC");
    }
    dsl__buf_printf(&b, " LIMIT $%d", bind(&bd, arena_printf(q->mem, "%d", q->limit + 1)));
    *out = (dsl_sql){ .sql = arena_strndup(q->mem, b.p, b.len), .nparams = bd.n,
                      .params = bd.params, .nkeys = q->nkeys };
    free(b.p);
}

void dsl_build_where(dsl_query *q, int first, dsl_where *out)
{
    binds bd = { .params = arena_calloc(q->mem, (size_t)params_of(q), sizeof *bd.params),
                 .base = first - 1 };
    buf b = { 0 };
    if (q->nfilters == 0)
        dsl__buf_str(&b, "true");
    add_filters(&b, q, &bd, false);
    *out = (dsl_where){ .sql = arena_strndup(q->mem, b.p, b.len), .nparams = bd.n,
                        .params = bd.params };
    free(b.p);
}
