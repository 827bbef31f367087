/*
 * search daemon, private header. Files by mechanism: lifecycle.c
 * (settings, series, consumer, start and stop), search_sql.c (every
 * prepared statement), apply.c (events into documents), query_plan.c (a
 * SearchRequest checked and turned into SQL text), query.c (the Search
 * handler: page, total, highlights), facets.c, summary.c (a row into a
 * LotSummary), page_token.c, suggest.c, status.c (GetIndexStatus and
 * Reindex), reindex.c (the rebuild thread), api.c (the method table).
 */
#ifndef GAVEL_SEARCH_H
#define GAVEL_SEARCH_H

#include <pthread.h>

#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "dsl/dsl_search.h"
#include "events/events.h"
#include "rpc/rpc.h"
#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"
#include "gavel/search/v1/search.pb-c.h"

/* Process-wide state, set before serving. */
typedef struct {
    db_pool *db;                /* the skeleton's */
    int64_t trgm_threshold_pct; /* word similarity a typo match needs, percent */
    int64_t reindex_page;       /* lots per ListLots page while rebuilding */
    const char *auctions_addr;  /* GAVEL_AUCTIONS_ADDR */
    /* Reindex: while `rebuilding`, events apply to docs_new as well. The
     * consumer holds `apply_lock` while it writes; the swap takes it. */
    pthread_mutex_t apply_lock;
    bool rebuilding;            /* under apply_lock */
} search_state;

extern search_state search;
extern const cfg_entry search_config[];
extern const mx_entry search_metrics[];
extern const rpc_consumer search_consumers[];
extern const db_stmt search_stmts[];
extern const db_migration search_migrations[]; /* generated from migrations/ */
extern const rpc_method search_methods[];
extern const rpc_client_method search_list_lots;

/* The states a document is searchable in, as SQL. */
#define SEARCH_VISIBLE "d.state IN ('scheduled', 'live', 'closed')"

/* ---- lifecycle.c: series ---- */
typedef struct {
    mx_metric *applied;         /* events that changed a document */
    mx_metric *ignored;         /* older or duplicate per-lot versions */
    mx_metric *lag;             /* occurred_at → indexed, seconds */
    mx_metric *query_seconds;   /* one Search */
    mx_metric *reindexed;       /* documents written by rebuilds */
} search_metric_set;
extern search_metric_set search_mx;

int search_post_init(void);
void search_pre_exit(void);
bool search_is_healthy(void);

/* ---- apply_fold.c: a batch's bids, the newest per lot ---- */
#define SEARCH_FOLD_ROWS 128
typedef struct {
    int64_t lot_id, seq, amount, ends_at_us; /* of the newest bid */
    int64_t newer;               /* events that raised the seq as they came */
    int64_t older;               /* events no newer than one before them */
} search_fold_row;
/* Fixed-size, owned by its user; fold only while !search_fold_full. */
typedef struct {
    search_fold_row rows[SEARCH_FOLD_ROWS];
    size_t n;                    /* rows folded */
    size_t sent;                 /* rows[0..sent) are in statements sent */
} search_fold;
typedef struct {
    int64_t applied, ignored;    /* events, for the series of the same names */
} search_tally;
void search_fold_clear(search_fold *f);
bool search_fold_full(const search_fold *f);
/** True when rows[sent..n) wait for their statement. */
bool search_fold_pending(const search_fold *f);
/** A bid.placed, into the row of its lot among those not sent yet. */
void search_fold_bid(search_fold *f, int64_t lot_id, int64_t seq, int64_t amount,
                     int64_t ends_at_us);
/** Adds to t the events of rows[from..to), whose statement changed the
 *  documents of the lots changed[0..nchanged). */
void search_fold_tally(const search_fold *f, size_t from, size_t to, const int64_t *changed,
                       size_t nchanged, search_tally *t);

/* ---- apply.c ---- */
/* A statement sent into the consumer's pipeline, and what its outcome
 * counts for. */
typedef struct {
    enum { SENT_OTHER, SENT_EVENT, SENT_BIDS } kind;
    size_t from, to;             /* SENT_BIDS: its fold rows */
} search_sent;
#define SEARCH_SENT_MAX 64
/* The consumer's batch (its thread only): what was folded and sent since
 * the pipeline was last read back, and the events' times for the lag. */
typedef struct search_batch {
    search_fold fold;
    search_sent sent[SEARCH_SENT_MAX];
    size_t nsent;
    int64_t occurred[SEARCH_FOLD_ROWS]; /* occurred_at_us of the events applied */
    size_t nevents;
    bool locked;                 /* holds search.apply_lock, until the batch ends */
    bool twin;                   /* a rebuild runs: write docs_new too */
} search_batch;
/* The consumer (ev_consumer_start_piped naming search_apply_stmts, with a
 * search_batch as arg): search_event_apply folds bids and sends the other
 * events' statements; search_batch_end writes the folded bids, the index
 * state, and counts the outcome. */
extern const char *const search_apply_stmts[];
int search_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg);
int search_batch_end(db_conn *conn, bool ok, void *arg);
/** Sends the write of one lot's content (a lot from ListLots during a
 *  rebuild) with statement `stmt` ("doc_upsert_new") into conn's open
 *  pipeline (db_pipe_begin); e is borrowed, its values copied at once. An
 *  equal or newer version already there is left as it is. */
void search_doc_send(db_conn *conn, const char *stmt, const Gavel__Events__V1__LotUpserted *e);

/* ---- search_sql.c ---- */
/** The SQL text of statement name in search_stmts (for a statement sent
 *  unprepared), or NULL. */
const char *search_sql_text(const char *name);

/* ---- page_token.c: keyset positions ---- */
typedef struct {
    int64_t k1, k2, lot_id; /* the last hit's sort keys */
    int64_t served;         /* hits served before the next page */
} search_pos;
/** Writes the token of pos under the request's digest into out (at least
 *  SEARCH_TOKEN_MAX bytes). */
#define SEARCH_TOKEN_MAX 160
void search_token_encode(const search_pos *pos, const uint8_t digest[16], char *out);
/** Reads a token; 0, or -1 when it is malformed or from another request. */
int search_token_decode(const char *tok, const uint8_t digest[16], search_pos *pos);
/** The digest of what a token is bound to: query, filter, sort. */
void search_request_digest(const Gavel__Search__V1__SearchRequest *req, uint8_t out[16]);

/* ---- query_plan.c: the request as SQL ---- */
/* Parameters of one search: the query and the filters' values (a filter
 * binding more is refused, INVALID_ARGUMENT). */
#define SEARCH_MAX_PARAMS 256
typedef struct {
    char *where;                 /* visibility, text, filters (heap) */
    char *score;                 /* score expression (heap) */
    char *k1, *k2;               /* sort key expressions (heap) */
    bool is_desc;
    bool k1_is_score;            /* k1 is the score (in millionths) */
    bool has_text;
    bool is_fuzzy;               /* the text matches by trigrams, not stems */
    int nparams;                 /* $1 is the text query when has_text */
    const char *params[SEARCH_MAX_PARAMS]; /* borrowed from the request or query */
    dsl_query *filter;           /* parsed filter_json, or NULL */
} search_plan;
/** Checks req and builds its plan, matching text by stems or, when fuzzy,
 *  by trigrams; GRPC_STATUS_OK, or INVALID_ARGUMENT recorded on the call
 *  naming the problem. Free with search_plan_free. */
int search_plan_build(rpc_call *c, const Gavel__Search__V1__SearchRequest *req, bool fuzzy,
                      search_plan *p);
void search_plan_free(search_plan *p);
/** Adds a parameter; returns its number ($n). */
int search_plan_param(search_plan *p, const char *value);

/* ---- facets.c ---- */
/** Checks the facet requests (fields, sizes, intervals). */
int search_facets_check(rpc_call *c, const Gavel__Search__V1__SearchRequest *req);
/** Computes them (at least one) on conn over the plan's matches into
 *  resp, and the exact number of matches into *total, in one statement. */
int search_facets_run(rpc_call *c, db_conn *conn, search_plan *p,
                      const Gavel__Search__V1__SearchRequest *req,
                      Gavel__Search__V1__SearchResponse *resp, int64_t *total);
/** The facets' columns over a row of docs d, "<expr> AS f0, …" (heap). */
char *search_facet_columns(const Gavel__Search__V1__SearchRequest *req);
/** The facets' statement over source (SQL naming rows with columns f0…):
 *  rows g, v, n, rn, unordered (heap). */
char *search_facet_groups_sql(const Gavel__Search__V1__SearchRequest *req, const char *source);
/** Reads the facet rows of r from first_row on, their g, v, n at columns
 *  col…col+2, set by set in rank order, into resp; the matches into *total. */
void search_facets_read(rpc_call *c, const PGresult *r, int first_row, int col,
                        const Gavel__Search__V1__SearchRequest *req,
                        Gavel__Search__V1__SearchResponse *resp, int64_t *total);

/* ---- summary.c ---- */
/* The columns a LotSummary reads, in order (SUMMARY_NCOLS of them). */
#define SUMMARY_COLUMNS                                                                   \
    "x.lot_id, x.seller_id, x.title, x.make, x.model, x.year, x.mileage_km, x.region, "   \
    "x.city_id, coalesce(x.category_id, 0), x.cover_photo_url, x.state, x.currency, "     \
    "x.start_price, x.current_price, x.buy_now_price, x.bid_count, x.has_reserve, "       \
    "x.reserve_met, coalesce(x.starts_at_us, 0), coalesce(x.ends_at_us, 0), "             \
    "x.damage_count, coalesce(x.session_id, 0)"
#define SUMMARY_NCOLS 23
Gavel__Search__V1__LotSummary *search_summary_from_row(rpc_call *c, const PGresult *r, int row);

/** Runs sql with text params on conn; GRPC_STATUS_OK with *out (cleared
 *  with the call) or the failure recorded. */
int search_exec(rpc_call *c, db_conn *conn, const char *what, const char *sql, int n,
                const char *const *params, PGresult **out);

/* ---- handlers ---- */
int search_search(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int search_suggest(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int search_reindex(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int search_index_status(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- reindex.c ---- */
/** Starts a rebuild for job_id on a thread of its own; 0 or -1. */
int reindex_start(int64_t job_id);
/** Waits for a running rebuild to stop (shut-down). */
void reindex_stop(void);
/** Marks jobs a stopped daemon left running as failed (start-up). */
int reindex_forget_orphans(void);

#endif
