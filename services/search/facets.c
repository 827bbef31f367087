/*
 * Facets over the whole match set, in the Search call's snapshot and in
 * one statement that also counts the matches exactly: term
 * facets (top N by count, then key; the rest in other_count) and
 * histograms (buckets of `interval` from a multiple of it, by lower bound).
 * A lot without a value (no category) is counted in no bucket: it is in
 * other_count of a term facet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

#define FACETS_MAX 10
#define FACET_SIZE_MAX 100
#define FACET_SIZE_DEFAULT 10
#define HISTOGRAM_BUCKETS_MAX 1000

static const struct {
    const char *name;
    const char *column;
    bool is_numeric;
} facet_fields[] = {
    { "make", "d.make", false },        { "model", "d.model", false },
    { "region", "d.region", false },    { "city_id", "d.city_id", true },
    { "category_id", "d.category_id", true }, { "year", "d.year::bigint", true },
    { "state", "d.state", false },      { "mileage_km", "d.mileage_km::bigint", true },
    { "current_price", "d.price", true },
};
#define NFIELDS (sizeof facet_fields / sizeof facet_fields[0])

static int field_of(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(facet_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int search_facets_check(rpc_call *c, const Gavel__Search__V1__SearchRequest *req)
{
    if (req->n_facets > FACETS_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "facets: at most %d, got %zu",
                        FACETS_MAX, req->n_facets);
    for (size_t i = 0; i < req->n_facets; i++) {
        const Gavel__Search__V1__FacetRequest *f = req->facets[i];
        int k = field_of(f->field);
        if (k < 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "facets[%zu].field: \"%.64s\" is not a facet field (make, model, "
                            "region, city_id, category_id, year, state, mileage_km, "
                            "current_price)", i, f->field);
        if (f->size < 0 || f->size > FACET_SIZE_MAX)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "facets[%zu].size must be 0 to %d", i, FACET_SIZE_MAX);
        if (f->interval < 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "facets[%zu].interval must not be negative", i);
        if (f->interval > 0 && !facet_fields[k].is_numeric)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "facets[%zu].interval: %s is not numeric", i, f->field);
    }
    return GRPC_STATUS_OK;
}

char *search_facet_columns(const Gavel__Search__V1__SearchRequest *req)
{
    char *cols = xstrdup("");
    for (size_t i = 0; i < req->n_facets; i++) {
        const Gavel__Search__V1__FacetRequest *f = req->facets[i];
        const char *col = facet_fields[field_of(f->field)].column;
        char *col_i = f->interval > 0
                          ? xasprintf("floor(%s::numeric / %lld)::bigint", col, (long long)f->interval)
                          : xasprintf("%s::text", col);
        char *next = xasprintf("%s%s%s AS f%zu", cols, i > 0 ? ", " : "", col_i, i);
        free(col_i);
        free(cols);
        cols = next;
    }
    return cols;
}

/* Every facet and the exact total in one pass over the matches: one
 * grouping set per facet plus () for the total. Each set's groups are
 * ranked in the set (terms: count, then key; histograms: by lower bound;
 * a NULL key last, it is no bucket) and cut at its size, so only what is
 * returned leaves the database. Columns: the set's GROUPING() mask, the
 * key as text, the count, the rank in the set. */
char *search_facet_groups_sql(const Gavel__Search__V1__SearchRequest *req, const char *source)
{
    size_t nf = req->n_facets;
    char *sets = xstrdup(""), *keys = xstrdup(""), *hist = xstrdup(""), *cut = xstrdup("");
    for (size_t i = 0; i < nf; i++) {
        const Gavel__Search__V1__FacetRequest *f = req->facets[i];
        unsigned mask = ((1u << nf) - 1) & ~(1u << (nf - 1 - i)); /* set i: f<i> grouped */
        int size = f->interval > 0 ? HISTOGRAM_BUCKETS_MAX
                   : f->size == 0  ? FACET_SIZE_DEFAULT
                                   : f->size;
        char *next[4] = {
            xasprintf("%s(f%zu), ", sets, i),
            xasprintf("%s%sf%zu::text", keys, i > 0 ? ", " : "", i),
            f->interval > 0 ? xasprintf("%s WHEN %u THEN f%zu", hist, mask, i) : xstrdup(hist),
            xasprintf("%s WHEN %u THEN %d", cut, mask, size),
        };
        free(sets), free(keys), free(hist), free(cut);
        sets = next[0], keys = next[1], hist = next[2], cut = next[3];
    }
    char *grouping = xstrdup("");
    for (size_t i = 0; i < nf; i++) {
        char *g = xasprintf("%s%sf%zu", grouping, i > 0 ? ", " : "", i);
        free(grouping);
        grouping = g;
    }
    char *sql = xasprintf(
        "SELECT g, v, n, rn FROM (SELECT GROUPING(%s) AS g, coalesce(%s) AS v, count(*) AS n, "
        "row_number() OVER (PARTITION BY GROUPING(%s) ORDER BY coalesce(%s) IS NULL, "
        "CASE GROUPING(%s) WHEN -1 THEN 0%s ELSE 0 END, count(*) DESC, coalesce(%s)) AS rn "
        "FROM %s GROUP BY GROUPING SETS (%s())) s "
        "WHERE rn <= CASE g%s ELSE 1 END",
        grouping, keys, grouping, keys, grouping, hist, keys, source, sets, cut);
    free(sets), free(keys), free(hist), free(cut), free(grouping);
    return sql;
}

static char *facets_sql(const search_plan *p, const Gavel__Search__V1__SearchRequest *req)
{
    char *cols = search_facet_columns(req);
    char *source = xasprintf("(SELECT %s FROM docs d WHERE %s) m", cols, p->where);
    char *groups = search_facet_groups_sql(req, source);
    char *sql = xasprintf("%s ORDER BY g, rn", groups);
    free(cols);
    free(source);
    free(groups);
    return sql;
}

int search_facets_run(rpc_call *c, db_conn *conn, search_plan *p,
                      const Gavel__Search__V1__SearchRequest *req,
                      Gavel__Search__V1__SearchResponse *resp, int64_t *total)
{
    char *sql = facets_sql(p, req);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "the facets", sql, p->nparams, p->params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    search_facets_read(c, r, 0, 0, req, resp, total);
    return GRPC_STATUS_OK;
}

void search_facets_read(rpc_call *c, const PGresult *r, int first_row, int col,
                        const Gavel__Search__V1__SearchRequest *req,
                        Gavel__Search__V1__SearchResponse *resp, int64_t *total)
{
    size_t nf = req->n_facets;
    unsigned all = (1u << nf) - 1;
    int nrows = PQntuples(r) - first_row;
    resp->n_facets = nf;
    resp->facets = rpc_alloc(c, nf * sizeof *resp->facets);
    int64_t in_buckets[FACETS_MAX] = { 0 };
    *total = 0;
    for (size_t i = 0; i < nf; i++) {
        Gavel__Search__V1__FacetResult *out = rpc_alloc(c, sizeof *out);
        gavel__search__v1__facet_result__init(out);
        out->field = req->facets[i]->field;
        out->buckets = rpc_alloc(c, (size_t)nrows * sizeof *out->buckets);
        resp->facets[i] = out;
    }
    /* rows come set by set, each in its rank order */
    for (int row = first_row; row < PQntuples(r); row++) {
        unsigned g = (unsigned)db_get_i64(r, row, col);
        if (g == all) {
            *total = db_get_i64(r, row, col + 2);
            continue;
        }
        if (PQgetisnull(r, row, col + 1))
            continue; /* no value: in no bucket */
        size_t i = 0;
        while (i < nf && g != (all & ~(1u << (nf - 1 - i))))
            i++;
        if (i == nf)
            continue;
        const Gavel__Search__V1__FacetRequest *f = req->facets[i];
        Gavel__Search__V1__FacetBucket *b = rpc_alloc(c, sizeof *b);
        gavel__search__v1__facet_bucket__init(b);
        b->count = db_get_i64(r, row, col + 2);
        if (f->interval > 0) {
            b->range_from = db_get_i64(r, row, col + 1) * f->interval;
            b->range_to = b->range_from + f->interval;
            char key[24];
            b->key = rpc_strdup(c, db_i64(key, b->range_from));
        } else {
            b->key = rpc_strdup(c, db_get_str(r, row, col + 1));
        }
        in_buckets[i] += b->count;
        resp->facets[i]->buckets[resp->facets[i]->n_buckets++] = b;
    }
    for (size_t i = 0; i < nf; i++)
        resp->facets[i]->other_count = *total > in_buckets[i] ? *total - in_buckets[i] : 0;
}
