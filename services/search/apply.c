/*
 * Events into documents. The events library runs the consumer piped: each
 * batch of events is one transaction that also records their ids, so a
 * redelivered event is never applied twice, and search_event_apply only
 * sends statements into the transaction's pipeline, never waiting for
 * one. The per-lot versions in the statements (search_sql.c) make an
 * older event, or one that arrives after a newer one from the other topic,
 * change nothing. While a rebuild runs, every change goes to the new table
 * as well, so the swap loses none.
 *
 *   lot.upserted              the lot's content, by updated_at_us
 *   bid.placed                price, bid count, by seq: folded per lot
 *   lot.extended              the later end
 *   lot.closed, auction.closed  reserve met
 *
 * Bids, by far the most frequent, are folded: a run of them (up to the
 * next event of another kind, so the kinds keep their order) becomes one
 * row per lot, its newest bid, written by one set-based statement. The
 * pipeline is read back when the batch ends (or fills the batch's
 * records), to count what changed a document and what was older, and to
 * observe the lag; the offsets are committed after the transaction, by
 * the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

/* The statements sent prepared; the _new twins go as text (docs_new
 * exists only during a rebuild, so they cannot be prepared ahead). */
const char *const search_apply_stmts[] = {
    "doc_upsert", "bid_apply_many", "extend_apply", "close_apply", "state_mark", NULL,
};

/* Room a handler call may use in b->sent: a run of bids and one event,
 * each with its twin, then the bids and the state mark the read-back
 * sends. */
enum { SENT_PER_EVENT = 7 };

static const char *opt_i64(char buf[24], int64_t v)
{
    return v > 0 ? db_i64(buf, v) : NULL;
}

/* 1 when the statement wrote a row ("INSERT 0 1", "UPDATE 1"), else 0. */
static int rows_changed(const PGresult *r)
{
    const char *n = PQcmdTuples((PGresult *)r);
    return n[0] != '\0' && strcmp(n, "0") != 0;
}

/* Text buffers for a lot.upserted's parameters. */
typedef struct {
    char id[24], ver[24], seller[24], year[24], mil[24], city[24], cat[24], dmg[24], ses[24];
    char sp[24], bn[24], st[24], en[24], cr[24], now[24];
} doc_bufs;
enum { DOC_NPARAMS = 25 };

/* Fills p[DOC_NPARAMS], borrowing e and buf. */
static void doc_params(const Gavel__Events__V1__LotUpserted *e, doc_bufs *buf, const char **p)
{
    const Gavel__Common__V1__Money *start = e->start_price, *buy = e->buy_now_price;
    const char *currency = start != NULL ? start->currency : buy != NULL ? buy->currency : "";
    const char *v[DOC_NPARAMS] = {
        db_i64(buf->id, e->lot_id), db_i64(buf->ver, e->updated_at_us), e->state,
        db_i64(buf->seller, e->seller_id), e->title, e->description, e->make, e->model,
        db_i64(buf->year, e->year), db_i64(buf->mil, e->mileage_km), e->vin, e->region,
        db_i64(buf->city, e->city_id), opt_i64(buf->cat, e->category_id),
        e->n_photo_urls > 0 ? e->photo_urls[0] : "", db_i64(buf->dmg, e->damage_count),
        opt_i64(buf->ses, e->session_id), currency,
        start != NULL ? db_i64(buf->sp, start->units) : NULL,
        buy != NULL && buy->units > 0 ? db_i64(buf->bn, buy->units) : NULL,
        e->has_reserve ? "true" : "false", opt_i64(buf->st, e->starts_at_us),
        opt_i64(buf->en, e->ends_at_us), db_i64(buf->cr, e->created_at_us),
        db_i64(buf->now, now_us()),
    };
    memcpy(p, v, sizeof v);
}

void search_doc_send(db_conn *conn, const char *stmt, const Gavel__Events__V1__LotUpserted *e)
{
    doc_bufs buf;
    const char *p[DOC_NPARAMS];
    doc_params(e, &buf, p);
    db_pipe_send(conn, stmt, DOC_NPARAMS, p);
}

static void sent_add(search_batch *b, int kind, size_t from, size_t to)
{
    b->sent[b->nsent++] = (search_sent){ .kind = kind, .from = from, .to = to };
}

/* Sends stmt (prepared) and, during a rebuild, its _new twin (as text). */
static void send_both(db_conn *conn, search_batch *b, const char *stmt, int kind, int n,
                      const char *const *p)
{
    db_pipe_send(conn, stmt, n, p);
    sent_add(b, kind, b->fold.sent, b->fold.n);
    if (b->twin) {
        char twin[64];
        snprintf(twin, sizeof twin, "%s_new", stmt);
        db_pipe_send_sql(conn, search_sql_text(twin), n, p);
        sent_add(b, SENT_OTHER, 0, 0);
    }
}

/* The bids folded since the last run was sent, as one statement. */
static void send_bids(db_conn *conn, search_batch *b)
{
    if (!search_fold_pending(&b->fold))
        return;
    enum { NCOL = 4 };
    db_array col[NCOL];
    for (int i = 0; i < NCOL; i++)
        db_array_init(&col[i]);
    for (size_t i = b->fold.sent; i < b->fold.n; i++) {
        const search_fold_row *r = &b->fold.rows[i];
        db_array_i64(&col[0], r->lot_id);
        db_array_i64(&col[1], r->seq);
        db_array_i64(&col[2], r->amount);
        db_array_i64(&col[3], r->ends_at_us);
    }
    char now[24];
    const char *p[NCOL + 1];
    for (int i = 0; i < NCOL; i++)
        p[i] = db_array_str(&col[i]);
    p[NCOL] = db_i64(now, now_us());
    send_both(conn, b, "bid_apply_many", SENT_BIDS, NCOL + 1, p);
    b->fold.sent = b->fold.n;
    for (int i = 0; i < NCOL; i++)
        db_array_free(&col[i]);
}

/* One event's statement, after the bids folded before it. */
static void send_event(db_conn *conn, search_batch *b, const char *stmt, int n,
                       const char *const *p)
{
    send_bids(conn, b);
    send_both(conn, b, stmt, SENT_EVENT, n, p);
}

/* Adds r's outcome, for what s stands for, to t. */
static void tally_one(const search_batch *b, const search_sent *s, const PGresult *r,
                      search_tally *t)
{
    if (s->kind == SENT_EVENT) {
        if (rows_changed(r))
            t->applied++;
        else
            t->ignored++;
    } else if (s->kind == SENT_BIDS) {
        int64_t changed[SEARCH_FOLD_ROWS];
        size_t n = 0;
        for (int i = 0; i < PQntuples(r) && n < SEARCH_FOLD_ROWS; i++)
            changed[n++] = db_get_i64(r, i, 0);
        search_fold_tally(&b->fold, s->from, s->to, changed, n, t);
    }
}

static void batch_forget(search_batch *b)
{
    search_fold_clear(&b->fold);
    b->nsent = 0;
    b->nevents = 0;
}

/* Sends what is folded and the index state, then reads every result back
 * (leaving the pipeline and entering it again), counts the outcome and
 * observes the lag of the events so far. Returns 0 or DB_E_*; the batch
 * is forgotten either way. */
static int batch_read_back(db_conn *conn, search_batch *b)
{
    send_bids(conn, b);
    if (b->nevents > 0) {
        int64_t last = 0;
        for (size_t i = 0; i < b->nevents; i++)
            if (b->occurred[i] > last)
                last = b->occurred[i];
        char at[24], n[24];
        const char *p[] = { db_i64(at, last), db_i64(n, now_us()) };
        db_pipe_send(conn, "state_mark", 2, p);
        sent_add(b, SENT_OTHER, 0, 0);
    }
    if (b->nsent == 0)
        return 0;
    PGresult *res[SEARCH_SENT_MAX];
    int rc = db_pipe_finish_results(conn, res, (int)b->nsent);
    if (rc == 0) {
        search_tally t = { 0, 0 };
        for (size_t i = 0; i < b->nsent; i++)
            tally_one(b, &b->sent[i], res[i], &t);
        mx_add(search_mx.applied, (double)t.applied);
        mx_add(search_mx.ignored, (double)t.ignored);
        int64_t now = now_us();
        for (size_t i = 0; i < b->nevents; i++)
            if (b->occurred[i] > 0 && b->occurred[i] <= now)
                mx_observe(search_mx.lag, (double)(now - b->occurred[i]) / 1e6);
        for (size_t i = 0; i < b->nsent; i++)
            PQclear(res[i]);
    }
    batch_forget(b);
    /* The library finishes the pipeline it began; a dropped session it
     * finds closed. */
    if (rc != DB_E_CONN) {
        int again = db_pipe_begin(conn, NULL, 0);
        if (rc == 0)
            rc = again;
    }
    return rc;
}

static int on_upserted(db_conn *conn, search_batch *b, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotUpserted *e = (const void *)m;
    if (e->lot_id <= 0 || e->updated_at_us <= 0 || e->state[0] == '\0')
        return EV_E_INVALID;
    doc_bufs buf;
    const char *p[DOC_NPARAMS];
    doc_params(e, &buf, p);
    send_event(conn, b, "doc_upsert", DOC_NPARAMS, p);
    return 0;
}

static int on_bid_placed(db_conn *conn, search_batch *b, const ProtobufCMessage *m)
{
    (void)conn;
    const Gavel__Events__V1__BidPlaced *e = (const void *)m;
    if (e->lot_id <= 0 || e->seq <= 0 || e->amount == NULL || e->amount->units < 0)
        return EV_E_INVALID;
    search_fold_bid(&b->fold, e->lot_id, e->seq, e->amount->units, e->ends_at_us);
    return 0;
}

static int on_extended(db_conn *conn, search_batch *b, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotExtended *e = (const void *)m;
    if (e->lot_id <= 0 || e->new_ends_at_us <= 0)
        return EV_E_INVALID;
    char id[24], end[24], now[24];
    const char *p[] = { db_i64(id, e->lot_id), db_i64(end, e->new_ends_at_us),
                        db_i64(now, now_us()) };
    send_event(conn, b, "extend_apply", 3, p);
    return 0;
}

static int close_with(db_conn *conn, search_batch *b, int64_t lot_id, bool reserve_met)
{
    if (lot_id <= 0)
        return EV_E_INVALID;
    char id[24], now[24];
    const char *p[] = { db_i64(id, lot_id), reserve_met ? "true" : "false",
                        db_i64(now, now_us()) };
    send_event(conn, b, "close_apply", 3, p);
    return 0;
}

static int on_lot_closed(db_conn *conn, search_batch *b, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotClosed *e = (const void *)m;
    return close_with(conn, b, e->lot_id, e->reserve_met);
}

static int on_auction_closed(db_conn *conn, search_batch *b, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__AuctionClosed *e = (const void *)m;
    return close_with(conn, b, e->lot_id, e->reserve_met);
}

typedef int (*apply_fn)(db_conn *conn, search_batch *b, const ProtobufCMessage *m);

static const struct {
    const char *type;
    const ProtobufCMessageDescriptor *desc;
    apply_fn apply;
} routes[] = {
    { "lot.upserted", &gavel__events__v1__lot_upserted__descriptor, on_upserted },
    { "bid.placed", &gavel__events__v1__bid_placed__descriptor, on_bid_placed },
    { "lot.extended", &gavel__events__v1__lot_extended__descriptor, on_extended },
    { "lot.closed", &gavel__events__v1__lot_closed__descriptor, on_lot_closed },
    { "auction.closed", &gavel__events__v1__auction_closed__descriptor, on_auction_closed },
};

/* The batch holds the apply lock from its first event to its end, so a
 * rebuild starts or swaps in between batches, never within one. */
static void batch_lock(search_batch *b)
{
    if (b->locked)
        return;
    pthread_mutex_lock(&search.apply_lock);
    b->locked = true;
    b->twin = search.rebuilding;
}

int search_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    search_batch *b = arg;
    size_t k = 0, n = sizeof routes / sizeof routes[0];
    while (k < n && strcmp(routes[k].type, env->type) != 0)
        k++;
    if (k == n)
        return 0; /* not about what the index shows */
    ProtobufCMessage *m =
        protobuf_c_message_unpack(routes[k].desc, NULL, env->payload.len, env->payload.data);
    if (m == NULL) {
        log_warn("event %s (%s): payload does not decode", env->id, env->type);
        return EV_E_INVALID;
    }
    batch_lock(b);
    int rc = 0;
    if (search_fold_full(&b->fold) || b->nevents == SEARCH_FOLD_ROWS ||
        b->nsent + SENT_PER_EVENT > SEARCH_SENT_MAX)
        rc = batch_read_back(conn, b);
    if (rc == 0)
        rc = routes[k].apply(conn, b, m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc == EV_E_INVALID) {
        log_warn("event %s (%s): names no valid lot or version", env->id, env->type);
        return rc;
    }
    if (rc < 0)
        return rc;
    b->occurred[b->nevents++] = env->occurred_at_us;
    return 0;
}

int search_batch_end(db_conn *conn, bool ok, void *arg)
{
    search_batch *b = arg;
    int rc = 0;
    if (ok && b->locked)
        rc = batch_read_back(conn, b);
    batch_forget(b);
    if (b->locked) {
        b->locked = false;
        pthread_mutex_unlock(&search.apply_lock);
    }
    return rc;
}
