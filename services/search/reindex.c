/*
 * The rebuild: a fresh docs_new filled from the auctions service's catalog
 * (ListLots with this daemon's service identity, which sees every lot,
 * page by page in id order), then swapped in for docs in one transaction.
 * Queries keep reading docs until the swap. From the moment docs_new
 * exists the consumer writes every event to both tables (apply.c), and
 * every write is version-guarded, so a lot copied before or after an event
 * ends the same; the bidding state the catalog does not carry is copied
 * over from docs, page by page and once more inside the swap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

const rpc_client_method search_list_lots = {
    "/gavel.auctions.v1.Auctions/ListLots", &gavel__auctions__v1__auctions__descriptor,
    &gavel__auctions__v1__list_lots_request__descriptor,
    &gavel__auctions__v1__list_lots_response__descriptor
};

enum { ST_RUNNING = 2, ST_CATCHING_UP = 3, ST_DONE = 4, ST_FAILED = 5 };

static pthread_t worker;
static bool worker_started;
static volatile bool stopping;
static pthread_mutex_t worker_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *state_text(Gavel__Auctions__V1__LotState s)
{
    static const char *const names[] = { "", "draft", "in_review", "approved", "rejected",
                                         "scheduled", "live", "closed", "cancelled" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "";
}

/* The catalog's lot as the event that would carry it (borrowing). */
static void lot_as_event(const Gavel__Auctions__V1__Lot *l, Gavel__Events__V1__LotUpserted *e)
{
    gavel__events__v1__lot_upserted__init(e);
    e->lot_id = l->id;
    e->seller_id = l->seller_id;
    e->state = (char *)state_text(l->state);
    e->title = l->title;
    e->description = l->description;
    e->make = l->make;
    e->model = l->model;
    e->year = l->year;
    e->mileage_km = l->mileage_km;
    e->vin = l->vin;
    e->region = l->region;
    e->city_id = l->city_id;
    e->category_id = l->category_id;
    e->n_photo_urls = l->n_photo_urls;
    e->photo_urls = l->photo_urls;
    e->start_price = l->start_price;
    e->buy_now_price = l->buy_now_price;
    e->has_reserve = l->has_reserve;
    e->session_id = l->session_id;
    e->starts_at_us = l->starts_at_us;
    e->ends_at_us = l->ends_at_us;
    e->damage_count = l->condition != NULL ? (int32_t)l->condition->n_damages : 0;
    e->created_at_us = l->created_at_us;
    e->updated_at_us = l->updated_at_us;
}

static int job_update(db_conn *conn, int64_t job, int status, int64_t done, int64_t total)
{
    char id[24], st[24], d[24], t[24];
    const char *p[] = { db_i64(id, job), db_i64(st, status), db_i64(d, done), db_i64(t, total) };
    int rc = 0;
    PGresult *r = db_exec(conn, "job_progress", 4, p, &rc);
    PQclear(r);
    return r == NULL ? rc : 0;
}

static void job_end(db_conn *conn, int64_t job, int status, const char *error)
{
    char id[24], st[24], at[24];
    const char *p[] = { db_i64(id, job), db_i64(st, status), db_i64(at, now_us()), error };
    PQclear(db_exec(conn, "job_finish", 4, p, NULL));
}

static int carry_bids(db_conn *conn, const char *ids)
{
    const char *p[] = { ids };
    int rc = 0;
    PGresult *r = db_exec(conn, "bids_carry", 1, p, &rc);
    PQclear(r);
    return r == NULL ? rc : 0;
}

/* One ListLots page into docs_new; *cursor becomes the next one ("" at
 * the end). Returns documents written or -1 with err set. */
static int copy_page(db_conn *conn, char **cursor, char *err, size_t errlen)
{
    char filter[4200];
    if ((*cursor)[0] != '\0')
        snprintf(filter, sizeof filter, "[[\"order\",\"id asc\"],[\"limit\",%lld],[\"cursor\",\"%s\"]]",
                 (long long)search.reindex_page, *cursor);
    else
        snprintf(filter, sizeof filter, "[[\"order\",\"id asc\"],[\"limit\",%lld]]",
                 (long long)search.reindex_page);
    Gavel__Auctions__V1__ListLotsRequest q = GAVEL__AUCTIONS__V1__LIST_LOTS_REQUEST__INIT;
    q.filter_json = filter;
    char *token = rpc_service_token();
    if (token == NULL) {
        snprintf(err, errlen, "no service token (GAVEL_SERVICE_KEY)");
        return -1;
    }
    rpc_call_opts o = { .token = token, .deadline_ms = 30000, .idempotent = true };
    ProtobufCMessage *m = NULL;
    grpc_status_code st = rpc_unary(rpc_channel_get(search.auctions_addr), &search_list_lots,
                                    &q.base, &m, &o, err, errlen);
    free(token);
    if (st != GRPC_STATUS_OK)
        return -1;
    const Gavel__Auctions__V1__ListLotsResponse *resp = (const void *)m;
    /* The page's writes, its carry-over and the COMMIT in one round trip. */
    static const char *const stmts[] = { "doc_upsert_new", "bids_carry" };
    db_array ids;
    db_array_init(&ids);
    int rc = db_pipe_begin(conn, stmts, 2);
    if (rc == 0) {
        db_pipe_send_sql(conn, "BEGIN", 0, NULL);
        for (size_t i = 0; i < resp->n_lots; i++) {
            Gavel__Events__V1__LotUpserted e;
            lot_as_event(resp->lots[i], &e);
            db_array_i64(&ids, e.lot_id);
            search_doc_send(conn, "doc_upsert_new", &e);
        }
        const char *carry[] = { db_array_str(&ids) };
        db_pipe_send(conn, "bids_carry", 1, carry);
        db_pipe_send_sql(conn, "COMMIT", 0, NULL);
        rc = db_pipe_finish(conn);
    }
    db_array_free(&ids);
    int n = (int)resp->n_lots;
    free(*cursor);
    *cursor = xstrdup(resp->next_cursor);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc < 0) {
        db_command(conn, "ROLLBACK");
        snprintf(err, errlen, "writing the new index failed (%s)", db_strerror(rc));
        return -1;
    }
    mx_add(search_mx.reindexed, n);
    return n;
}

/* Every valid index of docs but its primary key, as a statement building
 * the same index on docs_new without blocking the consumer's writes. */
static const char index_defs_sql[] =
    "SELECT regexp_replace(pg_get_indexdef(i.indexrelid), "
    "'^CREATE (UNIQUE )?INDEX \\S+ ON (ONLY )?\\S+', 'CREATE \\1INDEX CONCURRENTLY ON docs_new') "
    "FROM pg_index i WHERE i.indrelid = 'docs'::regclass AND NOT i.indisprimary "
    "AND i.indisvalid ORDER BY i.indexrelid";

/* Builds docs' secondary indexes on the filled docs_new, one at a time,
 * CONCURRENTLY so the consumer keeps applying events to both tables
 * meanwhile (the catch-up of the swap is then short). 0 or DB_E_*. */
static int build_indexes(db_conn *conn)
{
    PGresult *r = PQexec(db_pg(conn), index_defs_sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error("reindex: cannot read the indexes of docs: %s", PQresultErrorMessage(r));
        PQclear(r);
        return DB_E_SQL;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0 && !stopping; i++)
        rc = db_command(conn, PQgetvalue(r, i, 0));
    PQclear(r);
    return rc;
}

static const char swap_sql[] =
    "BEGIN; LOCK TABLE docs, docs_new IN ACCESS EXCLUSIVE MODE; "
    "ALTER TABLE docs RENAME TO docs_old; ALTER TABLE docs_new RENAME TO docs; "
    "DROP TABLE docs_old; COMMIT";

/* With the consumer held off: the last carry-over, then the swap. */
static int swap_in(db_conn *conn)
{
    pthread_mutex_lock(&search.apply_lock);
    int rc = db_command(conn, "BEGIN");
    if (rc == 0)
        rc = carry_bids(conn, NULL);
    if (rc == 0)
        rc = db_command(conn, "COMMIT");
    if (rc == 0)
        rc = db_command(conn, swap_sql);
    if (rc < 0)
        db_command(conn, "ROLLBACK");
    search.rebuilding = false;
    pthread_mutex_unlock(&search.apply_lock);
    return rc;
}

/* docs_new starts with its primary key only (the upserts' conflict target):
 * the other indexes of docs (three GIN among them) are built once over the
 * full table by build_indexes, which is several times cheaper than keeping
 * them up to date row by row while 100,000 documents go in. */
static int begin_rebuild(db_conn *conn)
{
    pthread_mutex_lock(&search.apply_lock);
    int rc = db_command(conn, "DROP TABLE IF EXISTS docs_new; "
                              "CREATE TABLE docs_new (LIKE docs INCLUDING ALL EXCLUDING INDEXES) "
                              "WITH (fillfactor = 70); "
                              "ALTER TABLE docs_new ADD PRIMARY KEY (lot_id)");
    search.rebuilding = rc == 0;
    pthread_mutex_unlock(&search.apply_lock);
    return rc;
}

static void end_failed(db_conn *conn)
{
    pthread_mutex_lock(&search.apply_lock);
    search.rebuilding = false;
    db_command(conn, "DROP TABLE IF EXISTS docs_new");
    pthread_mutex_unlock(&search.apply_lock);
}

static void *run(void *arg)
{
    int64_t job = (int64_t)(intptr_t)arg;
    db_conn *conn = db_pool_get(search.db, 30000);
    if (conn == NULL) {
        log_error("reindex %lld: no database connection", (long long)job);
        return NULL;
    }
    char err[512] = "";
    int64_t total = 0, done = 0;
    PGresult *r = db_exec(conn, "doc_count", 0, NULL, NULL);
    if (r != NULL)
        total = db_get_i64(r, 0, 0);
    PQclear(r);
    bool ok = begin_rebuild(conn) == 0;
    if (!ok)
        snprintf(err, sizeof err, "cannot create the new index table");
    char *cursor = xstrdup("");
    if (ok)
        job_update(conn, job, ST_RUNNING, 0, total);
    while (ok && !stopping) {
        int n = copy_page(conn, &cursor, err, sizeof err);
        if (n < 0) {
            ok = false;
            break;
        }
        done += n;
        job_update(conn, job, ST_RUNNING, done, total > done ? total : done);
        if (cursor[0] == '\0')
            break;
    }
    free(cursor);
    if (ok && stopping) {
        ok = false;
        snprintf(err, sizeof err, "the daemon stopped during the rebuild");
    }
    if (ok && build_indexes(conn) < 0) {
        ok = false;
        snprintf(err, sizeof err, "building the new index's indexes failed");
    }
    if (ok && stopping) {
        ok = false;
        snprintf(err, sizeof err, "the daemon stopped during the rebuild");
    }
    if (ok) {
        job_update(conn, job, ST_CATCHING_UP, done, done);
        if (swap_in(conn) < 0) {
            ok = false;
            snprintf(err, sizeof err, "the swap failed");
        }
    }
    if (ok) {
        job_end(conn, job, ST_DONE, "");
        log_info("reindex %lld: %lld documents, swapped in", (long long)job, (long long)done);
    } else {
        end_failed(conn);
        job_end(conn, job, ST_FAILED, err);
        log_warn("reindex %lld failed: %s", (long long)job, err);
    }
    db_pool_put(search.db, conn);
    return NULL;
}

int reindex_start(int64_t job_id)
{
    pthread_mutex_lock(&worker_lock);
    if (worker_started) {
        pthread_join(worker, NULL);
        worker_started = false;
    }
    int rc = pthread_create(&worker, NULL, run, (void *)(intptr_t)job_id);
    worker_started = rc == 0;
    pthread_mutex_unlock(&worker_lock);
    if (rc != 0) {
        db_conn *conn = db_pool_get(search.db, 5000);
        if (conn != NULL) {
            job_end(conn, job_id, ST_FAILED, "cannot start a thread");
            db_pool_put(search.db, conn);
        }
        return -1;
    }
    return 0;
}

void reindex_stop(void)
{
    stopping = true;
    pthread_mutex_lock(&worker_lock);
    if (worker_started)
        pthread_join(worker, NULL);
    worker_started = false;
    pthread_mutex_unlock(&worker_lock);
}

/* Jobs a stopped daemon left behind are over. */
int reindex_forget_orphans(void)
{
    db_conn *conn = db_pool_get(search.db, 10000);
    if (conn == NULL)
        return -1;
    char at[24];
    const char *p[] = { db_i64(at, now_us()) };
    int rc = 0;
    PQclear(db_exec(conn, "job_orphans", 1, p, &rc));
    db_pool_put(search.db, conn);
    return rc;
}
