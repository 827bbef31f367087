/*
 * Search: one read-only snapshot (REPEATABLE READ) answers the page, the
 * total and the facets, so they agree with each other. Text that no stem
 * matches is asked again by trigrams (typos) in the same snapshot. The page is a
 * keyset over the plan's sort keys; highlights are computed for the page's
 * hits only, from HTML-escaped text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200
#define DEPTH_MAX 10000
#define TOTAL_EXACT 10000

static void result_free(void *r)
{
    PQclear(r);
}

int search_exec(rpc_call *c, db_conn *conn, const char *what, const char *sql, int n,
                const char *const *params, PGresult **out)
{
    PGconn *pg = db_pg(conn);
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    int rc = r == NULL ? DB_E_CONN : db_classify(r, pg);
    if (rc == 0 && PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = DB_E_SQL;
    if (rc < 0) {
        log_error("search: %s failed (%s): %s", what, db_strerror(rc),
                  r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        PQclear(r);
        return check_fail_db(c, rc);
    }
    arena_on_free(rpc_arena(c), result_free, r);
    *out = r;
    return GRPC_STATUS_OK;
}

/* Escaped for HTML, then highlighted in the configuration that matched. */
#define ESC(col)                                                                          \
    "replace(replace(replace(replace(" col ", '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), " \
    "'\"', '&quot;')"
#define HL_CFG(q)                                                                         \
    "(CASE WHEN x.tsv_ru @@ plainto_tsquery('russian', $" q ") THEN 'russian' "           \
    "ELSE 'english' END)::regconfig"

/* The page's two highlights (title, description) of row x (heap). */
static char *highlights_sql(const search_plan *p)
{
    return p->has_text
                   ? xasprintf("ts_headline(" HL_CFG("1") ", " ESC("x.title") ", "
                               "plainto_tsquery(" HL_CFG("1") ", $1), "
                               "'StartSel=<em>,StopSel=</em>,HighlightAll=true'), "
                               "ts_headline(" HL_CFG("1") ", " ESC("x.description") ", "
                               "plainto_tsquery(" HL_CFG("1") ", $1), "
                               "'StartSel=<em>,StopSel=</em>,MaxFragments=2,MaxWords=20,"
                               "MinWords=5')")
                   : xstrdup("'', ''");
}

/* Sorted by score, the score is computed once per match in a subquery
 * the planner keeps (OFFSET 0: pulled up, it would be computed for the
 * sort key and again for the output); other sorts keep their plain form,
 * which can walk a sort index and stop at the page's end. */
static char *page_sql(const search_plan *p, bool after, int first_extra)
{
    const char *dir = p->is_desc ? "DESC" : "ASC";
    char *from = p->k1_is_score
                     ? xasprintf("(SELECT d.*, %s AS score_ FROM docs d WHERE %s OFFSET 0) d "
                                 "WHERE true", p->score, p->where)
                     : xasprintf("docs d WHERE %s", p->where);
    const char *k1 = p->k1_is_score ? "(1000000 * d.score_)::bigint" : p->k1;
    const char *score = p->k1_is_score ? "d.score_" : p->score;
    char *keyset = after ? xasprintf(" AND (%s, %s, d.lot_id) %s ($%d, $%d, $%d)", k1, p->k2,
                                     p->is_desc ? "<" : ">", first_extra, first_extra + 1,
                                     first_extra + 2)
                         : xstrdup("");
    int lim = first_extra + (after ? 3 : 0);
    char *hl = highlights_sql(p);
    char *sql = xasprintf("SELECT " SUMMARY_COLUMNS ", x.k1, x.k2, x.score, %s FROM ("
                          "SELECT d.*, %s AS k1, %s AS k2, %s AS score FROM %s%s "
                          "ORDER BY k1 %s, k2 %s, d.lot_id %s LIMIT $%d) x "
                          "ORDER BY x.k1 %s, x.k2 %s, x.lot_id %s",
                          hl, k1, p->k2, score, from, keyset, dir, dir, dir, lim, dir, dir, dir);
    free(from);
    free(keyset);
    free(hl);
    return sql;
}

static void add_highlight(rpc_call *c, Gavel__Search__V1__SearchHit *hit, const char *text)
{
    if (strstr(text, "<em>") == NULL)
        return;
    hit->highlights[hit->n_highlights++] = rpc_strdup(c, text);
}

/* A page's parameters: the plan's, then the keyset after the last hit
 * (when there is one), then the limit (a page and one more). */
typedef struct {
    const char *params[SEARCH_MAX_PARAMS + 4];
    char k1[24], k2[24], lot_id[24], lim[24];
} page_params;

static int page_params_fill(page_params *pp, const search_plan *p, const search_pos *after,
                            int size)
{
    memcpy(pp->params, p->params, (size_t)p->nparams * sizeof *pp->params);
    int n = p->nparams;
    if (after != NULL) {
        pp->params[n++] = db_i64(pp->k1, after->k1);
        pp->params[n++] = db_i64(pp->k2, after->k2);
        pp->params[n++] = db_i64(pp->lot_id, after->lot_id);
    }
    pp->params[n++] = db_i64(pp->lim, size + 1);
    return n;
}

/* The first nrows rows of r (SUMMARY_COLUMNS, k1, k2, score and two
 * highlights): up to size hits, and one more when a next page exists. */
static void read_hits(rpc_call *c, const PGresult *r, int nrows, int size,
                      Gavel__Search__V1__SearchResponse *resp, search_pos *last)
{
    int rows = nrows > size ? size : nrows;
    resp->n_hits = (size_t)rows;
    resp->hits = rpc_alloc(c, (size_t)rows * sizeof *resp->hits);
    for (int i = 0; i < rows; i++) {
        Gavel__Search__V1__SearchHit *hit = rpc_alloc(c, sizeof *hit);
        gavel__search__v1__search_hit__init(hit);
        hit->lot = search_summary_from_row(c, r, i);
        hit->score = strtod(PQgetvalue(r, i, SUMMARY_NCOLS + 2), NULL);
        hit->highlights = rpc_alloc(c, 2 * sizeof *hit->highlights);
        add_highlight(c, hit, PQgetvalue(r, i, SUMMARY_NCOLS + 3));
        add_highlight(c, hit, PQgetvalue(r, i, SUMMARY_NCOLS + 4));
        resp->hits[i] = hit;
    }
    if (nrows > size && rows > 0) {
        last->k1 = db_get_i64(r, rows - 1, SUMMARY_NCOLS);
        last->k2 = db_get_i64(r, rows - 1, SUMMARY_NCOLS + 1);
        last->lot_id = db_get_i64(r, rows - 1, 0);
        last->served += rows;
    } else {
        last->served = -1; /* no further page */
    }
}

/* Sorted by score with facets: the matches are read once, into a
 * materialised set of (lot, score, sort key, facet values) that both the
 * page and the facets use, instead of a pass over the heap for each; the
 * page's ≤ size + 1 documents are then read again by key for their
 * display columns and highlights. One statement, page rows first (in page
 * order), then the facet rows set by set (columns as search_facets_read
 * reads them, from SUMMARY_NCOLS + 5). */
#define TOGETHER_PART_COL (SUMMARY_NCOLS + 8)

static char *together_sql(const search_plan *p, const Gavel__Search__V1__SearchRequest *req,
                          bool after, int first_extra)
{
    const char *dir = p->is_desc ? "DESC" : "ASC";
    char *cols = search_facet_columns(req);
    char *groups = search_facet_groups_sql(req, "m");
    char *hl = highlights_sql(p);
    char *keyset = after ? xasprintf(" AND ((1000000 * score_)::bigint, k2_, lot_id) %s "
                                     "($%d, $%d, $%d)", p->is_desc ? "<" : ">", first_extra,
                                     first_extra + 1, first_extra + 2)
                         : xstrdup("");
    int lim = first_extra + (after ? 3 : 0);
    enum { NNULLS = SUMMARY_NCOLS + 5, NULL_LEN = sizeof "NULL, " - 1 };
    char nulls[NNULLS * NULL_LEN + 1]; /* the page's columns, in a facet row */
    for (int i = 0; i < NNULLS; i++)
        memcpy(nulls + i * NULL_LEN, "NULL, ", NULL_LEN);
    nulls[NNULLS * NULL_LEN] = '\0';
    char *sql = xasprintf(
        "WITH m AS MATERIALIZED (SELECT d.lot_id, %s AS score_, %s AS k2_, %s "
        "FROM docs d WHERE %s), "
        "pg AS (SELECT lot_id, (1000000 * score_)::bigint AS k1, k2_ AS k2, score_ AS score "
        "FROM m WHERE true%s ORDER BY k1 %s, k2 %s, lot_id %s LIMIT $%d) "
        "SELECT " SUMMARY_COLUMNS ", x.k1, x.k2, x.score, %s, NULL::int AS g, NULL::text AS v, "
        "NULL::bigint AS n, 0 AS part_, row_number() OVER (ORDER BY x.k1 %s, x.k2 %s, "
        "x.lot_id %s) AS o1_, 0::bigint AS o2_ "
        "FROM (SELECT d.*, pg.k1, pg.k2, pg.score FROM pg JOIN docs d ON d.lot_id = pg.lot_id) x "
        "UNION ALL SELECT %sf.g, f.v, f.n, 1, f.g, f.rn FROM (%s) f "
        "ORDER BY part_, o1_, o2_",
        p->score, p->k2, cols, p->where, keyset, dir, dir, dir, lim, hl, dir, dir, dir, nulls,
        groups);
    free(cols);
    free(groups);
    free(hl);
    free(keyset);
    return sql;
}

static int run_together(rpc_call *c, db_conn *conn, search_plan *p,
                        const Gavel__Search__V1__SearchRequest *req, const search_pos *after,
                        int size, Gavel__Search__V1__SearchResponse *resp, search_pos *last)
{
    page_params pp;
    int n = page_params_fill(&pp, p, after, size);
    char *sql = together_sql(p, req, after != NULL, p->nparams + 1);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "the page and the facets", sql, n, pp.params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    int hits = 0;
    while (hits < PQntuples(r) && db_get_i64(r, hits, TOGETHER_PART_COL) == 0)
        hits++;
    read_hits(c, r, hits, size, resp, last);
    int64_t total = 0;
    search_facets_read(c, r, hits, SUMMARY_NCOLS + 5, req, resp, &total);
    resp->total_hits = total > TOTAL_EXACT ? TOTAL_EXACT : total;
    resp->total_is_lower_bound = total > TOTAL_EXACT;
    return GRPC_STATUS_OK;
}

static int run_page(rpc_call *c, db_conn *conn, search_plan *p, const search_pos *after,
                    int size, Gavel__Search__V1__SearchResponse *resp, search_pos *last)
{
    page_params pp;
    int n = page_params_fill(&pp, p, after, size);
    char *sql = page_sql(p, after != NULL, p->nparams + 1);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "the page", sql, n, pp.params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    read_hits(c, r, PQntuples(r), size, resp, last);
    return GRPC_STATUS_OK;
}

static int run_total(rpc_call *c, db_conn *conn, search_plan *p,
                     Gavel__Search__V1__SearchResponse *resp)
{
    char *sql = xasprintf("SELECT count(*) FROM (SELECT 1 FROM docs d WHERE %s LIMIT %d) t",
                          p->where, TOTAL_EXACT + 1);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "the total", sql, p->nparams, p->params, &r);
    free(sql);
    if (rc != GRPC_STATUS_OK)
        return rc;
    int64_t n = db_get_i64(r, 0, 0);
    resp->total_hits = n > TOTAL_EXACT ? TOTAL_EXACT : n;
    resp->total_is_lower_bound = n > TOTAL_EXACT;
    return GRPC_STATUS_OK;
}

static int read_page(rpc_call *c, const Gavel__Search__V1__SearchRequest *req, int *size,
                     search_pos *after, bool *has_after, uint8_t digest[16])
{
    const Gavel__Common__V1__PageRequest *pg = req->page;
    int n = pg != NULL ? pg->page_size : 0;
    if (n < 0 || n > PAGE_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to %d",
                        PAGE_MAX);
    *size = n == 0 ? PAGE_DEFAULT : n;
    search_request_digest(req, digest);
    *has_after = pg != NULL && pg->page_token[0] != '\0';
    if (*has_after && search_token_decode(pg->page_token, digest, after) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "page.page_token is malformed or belongs to another query, filter or sort");
    int64_t served = *has_after ? after->served : 0;
    if (served + *size > DEPTH_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "page too deep: at most %d hits are served (asked for hits %lld to %lld)",
                        DEPTH_MAX, (long long)served + 1, (long long)served + *size);
    return GRPC_STATUS_OK;
}

/* Session settings for this transaction: the typo threshold, the rest of
 * the caller's deadline, and no JIT (a search's statements cost enough on
 * paper to be compiled, which takes longer than running them). */
static int begin(rpc_call *c, db_conn *conn)
{
    char sql[320];
    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
             "SET LOCAL pg_trgm.word_similarity_threshold = %.2f; "
             "SET LOCAL statement_timeout = %d; SET LOCAL jit = off",
             (double)search.trgm_threshold_pct / 100.0, rpc_time_left_ms(c) + 1);
    return db_command(conn, sql);
}

/* A ranked page with facets comes in one pass (run_together). */
static bool together(const search_plan *p, const Gavel__Search__V1__SearchRequest *req)
{
    return req->n_facets > 0 && p->k1_is_score;
}

static int run_hits(rpc_call *c, db_conn *conn, search_plan *p,
                    const Gavel__Search__V1__SearchRequest *req, const search_pos *after,
                    int size, Gavel__Search__V1__SearchResponse *resp, search_pos *last)
{
    return together(p, req) ? run_together(c, conn, p, req, after, size, resp, last)
                            : run_page(c, conn, p, after, size, resp, last);
}

/* With text and an empty page: when no document matches the query's
 * stems under the filters (a first page says so itself; a later one asks),
 * the plan becomes the fuzzy one and the page is asked again. */
static int page_or_fuzzy(rpc_call *c, db_conn *conn, const Gavel__Search__V1__SearchRequest *req,
                         search_plan *p, const search_pos *after, int size,
                         Gavel__Search__V1__SearchResponse *resp, search_pos *last)
{
    search_pos start = *last;
    int rc = run_hits(c, conn, p, req, after, size, resp, last);
    if (rc != GRPC_STATUS_OK || !p->has_text || p->is_fuzzy || resp->n_hits > 0)
        return rc;
    if (after != NULL) {
        char *sql = xasprintf("SELECT 1 FROM docs d WHERE %s LIMIT 1", p->where);
        PGresult *r = NULL;
        rc = search_exec(c, conn, "the stem probe", sql, p->nparams, p->params, &r);
        free(sql);
        if (rc != GRPC_STATUS_OK || PQntuples(r) > 0)
            return rc;
    }
    search_plan_free(p);
    if ((rc = search_plan_build(c, req, true, p)) != GRPC_STATUS_OK)
        return rc;
    *last = start;
    return run_hits(c, conn, p, req, after, size, resp, last);
}

static int answer(rpc_call *c, db_conn *conn, const Gavel__Search__V1__SearchRequest *req,
                  search_plan *p, const search_pos *after, int size, const uint8_t digest[16],
                  Gavel__Search__V1__SearchResponse *resp)
{
    search_pos last = { .served = after != NULL ? after->served : 0 };
    int rc = page_or_fuzzy(c, conn, req, p, after, size, resp, &last);
    if (rc != GRPC_STATUS_OK)
        return rc;
    if (together(p, req)) {
        /* the facets and the total came with the page */
    } else if (req->n_facets > 0) {
        /* the facets' pass counts every match exactly anyway */
        int64_t n = 0;
        rc = search_facets_run(c, conn, p, req, resp, &n);
        resp->total_hits = n > TOTAL_EXACT ? TOTAL_EXACT : n;
        resp->total_is_lower_bound = n > TOTAL_EXACT;
    } else {
        rc = run_total(c, conn, p, resp);
    }
    if (rc != GRPC_STATUS_OK)
        return rc;
    PGresult *r = NULL;
    int dbrc = 0;
    if ((r = db_exec(conn, "state_get", 0, NULL, &dbrc)) == NULL)
        return check_fail_db(c, dbrc);
    resp->indexed_through_us = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : 0;
    PQclear(r);
    resp->page = rpc_alloc(c, sizeof *resp->page);
    gavel__common__v1__page_response__init(resp->page);
    if (last.served >= 0 && last.served < DEPTH_MAX) {
        char *tok = rpc_alloc(c, SEARCH_TOKEN_MAX);
        search_token_encode(&last, digest, tok);
        resp->page->next_page_token = tok;
    }
    return GRPC_STATUS_OK;
}

int search_search(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Search__V1__SearchRequest *req = (const void *)in;
    int64_t t0 = now_us();
    int size = 0;
    bool has_after;
    search_pos after = { 0 };
    uint8_t digest[16];
    int rc = read_page(c, req, &size, &after, &has_after, digest);
    if (rc == GRPC_STATUS_OK)
        rc = search_facets_check(c, req);
    search_plan p;
    if (rc == GRPC_STATUS_OK)
        rc = search_plan_build(c, req, false, &p);
    if (rc != GRPC_STATUS_OK)
        return rc;
    db_conn *conn = db_pool_get(search.db, rpc_time_left_ms(c));
    if (conn == NULL) {
        search_plan_free(&p);
        return check_fail_db(c, DB_E_TIMEOUT);
    }
    Gavel__Search__V1__SearchResponse *resp =
        (void *)rpc_new(c, &gavel__search__v1__search_response__descriptor);
    int dbrc = begin(c, conn);
    if (dbrc < 0)
        rc = check_fail_db(c, dbrc);
    else
        rc = answer(c, conn, req, &p, has_after ? &after : NULL, size, digest, resp);
    if (dbrc == 0)
        db_command(conn, rc == GRPC_STATUS_OK ? "COMMIT" : "ROLLBACK");
    db_pool_put(search.db, conn);
    search_plan_free(&p);
    if (rc != GRPC_STATUS_OK)
        return rc;
    mx_observe(search_mx.query_seconds, (double)(now_us() - t0) / 1e6);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
