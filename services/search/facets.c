/*
 * Facets over the whole match set, in the Search call's snapshot: term
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

static int run_one(rpc_call *c, db_conn *conn, search_plan *p,
                   const Gavel__Search__V1__FacetRequest *f, int64_t total,
                   Gavel__Search__V1__FacetResult *out)
{
    int k = field_of(f->field);
    const char *col = facet_fields[k].column;
    int size = f->size == 0 ? FACET_SIZE_DEFAULT : f->size;
    char *sql;
    if (f->interval > 0)
        sql = xasprintf("SELECT floor(%s::numeric / %lld)::bigint AS b, count(*) FROM docs d "
                        "WHERE %s AND %s IS NOT NULL GROUP BY b ORDER BY b LIMIT %d",
                        col, (long long)f->interval, p->where, col, HISTOGRAM_BUCKETS_MAX);
    else
        sql = xasprintf("SELECT %s::text AS v, count(*) AS n FROM docs d WHERE %s AND %s IS NOT "
                        "NULL GROUP BY v ORDER BY n DESC, v LIMIT %d",
                        col, p->where, col, size);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "a facet", sql, p->nparams, p->params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    int n = PQntuples(r);
    out->field = f->field;
    out->n_buckets = (size_t)n;
    out->buckets = rpc_alloc(c, (size_t)n * sizeof *out->buckets);
    int64_t in_buckets = 0;
    for (int i = 0; i < n; i++) {
        Gavel__Search__V1__FacetBucket *b = rpc_alloc(c, sizeof *b);
        gavel__search__v1__facet_bucket__init(b);
        b->count = db_get_i64(r, i, 1);
        if (f->interval > 0) {
            b->range_from = db_get_i64(r, i, 0) * f->interval;
            b->range_to = b->range_from + f->interval;
            char key[24];
            b->key = rpc_strdup(c, db_i64(key, b->range_from));
        } else {
            b->key = rpc_strdup(c, db_get_str(r, i, 0));
        }
        in_buckets += b->count;
        out->buckets[i] = b;
    }
    out->other_count = total > in_buckets ? total - in_buckets : 0;
    return GRPC_STATUS_OK;
}

int search_facets_run(rpc_call *c, db_conn *conn, search_plan *p,
                      const Gavel__Search__V1__SearchRequest *req,
                      Gavel__Search__V1__SearchResponse *resp)
{
    if (req->n_facets == 0)
        return GRPC_STATUS_OK;
    /* other_count needs the exact count, not the total's lower bound */
    char *sql = xasprintf("SELECT count(*) FROM docs d WHERE %s", p->where);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "the facet total", sql, p->nparams, p->params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    int64_t total = db_get_i64(r, 0, 0);
    resp->n_facets = req->n_facets;
    resp->facets = rpc_alloc(c, req->n_facets * sizeof *resp->facets);
    for (size_t i = 0; i < req->n_facets && rc == GRPC_STATUS_OK; i++) {
        resp->facets[i] = rpc_alloc(c, sizeof *resp->facets[i]);
        gavel__search__v1__facet_result__init(resp->facets[i]);
        rc = run_one(c, conn, p, req->facets[i], total, resp->facets[i]);
    }
    return rc;
}
