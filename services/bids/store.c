/*
 * PostgreSQL side of the bids engine: the statement table, the writer of
 * one group-commit round (a fixed handful of multi-row statements whatever
 * the round's size), and the rebuild that loads every lot's state, its
 * autobids, holds, last bid and idempotency keys at start-up — from the
 * lots table, so a restart does not replay the whole bid log.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bids.h"

const db_stmt bids_stmts[] = {
    { "lot_insert",
      "INSERT INTO lots (lot_id, seller_id, currency, start_price, reserve_price, buy_now_price, "
      "bands, starts_at_us, soft_close_s, max_extensions, status, ends_at_us, rules_ends_at_us, "
      "venue) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
      "ON CONFLICT (lot_id) DO UPDATE SET seller_id = EXCLUDED.seller_id, "
      "currency = EXCLUDED.currency, start_price = EXCLUDED.start_price, "
      "reserve_price = EXCLUDED.reserve_price, buy_now_price = EXCLUDED.buy_now_price, "
      "bands = EXCLUDED.bands, starts_at_us = EXCLUDED.starts_at_us, "
      "soft_close_s = EXCLUDED.soft_close_s, max_extensions = EXCLUDED.max_extensions, "
      "status = EXCLUDED.status, ends_at_us = EXCLUDED.ends_at_us, "
      "rules_ends_at_us = EXCLUDED.rules_ends_at_us, venue = EXCLUDED.venue" },
    /* Joins on unnest also filter with `= ANY` on the key: a generic plan
     * made while the table was small would otherwise scan it whole on
     * every commit once it has grown. */
    { "lots_update",
      "UPDATE lots SET status = u.status, price = u.price, leader_id = u.leader, seq = u.seq, "
      "head_hash = decode(u.head, 'hex'), ends_at_us = u.ends, extensions_used = u.ext, "
      "outcome = u.outcome, closed_at_us = u.closed, winning_hold_id = u.hold, "
      "leader_floor_paddle = u.paddle, fair_warning_at_us = u.warned "
      "FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bigint[], "
      "$6::text[], $7::bigint[], $8::int[], $9::smallint[], $10::bigint[], $11::bigint[], "
      "$12::int[], $13::bigint[]) "
      "AS u(lot_id, status, price, leader, seq, head, ends, ext, outcome, closed, hold, paddle, "
      "warned) "
      "WHERE lots.lot_id = ANY($1::bigint[]) AND lots.lot_id = u.lot_id" },
    { "bids_insert",
      "INSERT INTO bids (lot_id, seq, bid_id, bidder_id, amount, placed_at_us, is_autobid, "
      "prev_hash, hash, floor_paddle, media_time_us) "
      "SELECT l, s, b, w, a, t, ia, decode(ph, 'hex'), decode(h, 'hex'), fp, mt "
      "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], "
      "$6::bigint[], $7::bool[], $8::text[], $9::text[], $10::int[], $11::bigint[]) "
      "AS u(l, s, b, w, a, t, ia, ph, h, fp, mt)" },
    { "autobids_upsert",
      "INSERT INTO autobids (lot_id, bidder_id, max_amount, set_seq, set_at_us, active, status) "
      "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], "
      "$5::bigint[], $6::bool[], $7::smallint[]) ON CONFLICT (lot_id, bidder_id) DO UPDATE SET "
      "max_amount = EXCLUDED.max_amount, set_seq = EXCLUDED.set_seq, "
      "set_at_us = EXCLUDED.set_at_us, active = EXCLUDED.active, status = EXCLUDED.status" },
    { "holds_upsert",
      "INSERT INTO lot_holds (lot_id, bidder_id, hold_id, amount) "
      "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) "
      "ON CONFLICT (lot_id, bidder_id) DO UPDATE SET hold_id = EXCLUDED.hold_id, "
      "amount = EXCLUDED.amount" },
    { "holds_delete",
      "DELETE FROM lot_holds h USING unnest($1::bigint[], $2::bigint[]) AS d(lot_id, bidder_id) "
      "WHERE h.lot_id = ANY($1::bigint[]) AND h.lot_id = d.lot_id "
      "AND h.bidder_id = d.bidder_id" },
    { "releases_insert",
      "INSERT INTO hold_releases (hold_id, lot_id, bidder_id, reason) "
      "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) "
      "ON CONFLICT (hold_id) DO NOTHING" },
    { "requests_insert",
      "INSERT INTO requests (lot_id, bidder_id, key, method, request_hash, response) "
      "SELECT l, b, k, m, h, decode(r, 'hex') FROM unnest($1::bigint[], $2::bigint[], "
      "$3::text[], $4::text[], $5::text[], $6::text[]) AS u(l, b, k, m, h, r)" },
    { "request_get",
      "SELECT response, request_hash FROM requests "
      "WHERE lot_id = $1 AND bidder_id = $2 AND key = $3" },
    { "bids_page",
      "SELECT b.lot_id, b.seq, b.bid_id, b.bidder_id, b.amount, b.placed_at_us, b.is_autobid, "
      "encode(b.prev_hash, 'hex'), encode(b.hash, 'hex'), l.currency, b.floor_paddle, "
      "b.media_time_us FROM bids b "
      "JOIN lots l ON l.lot_id = b.lot_id "
      "WHERE ($1::bigint = 0 OR b.lot_id = $1) AND ($2::bigint = 0 OR b.bidder_id = $2) "
      "AND (b.lot_id, b.seq) > ($3::bigint, $4::bigint) ORDER BY b.lot_id, b.seq LIMIT $5" },
    { "bids_page_bidder",
      "SELECT b.lot_id, b.seq, b.bid_id, b.bidder_id, b.amount, b.placed_at_us, b.is_autobid, "
      "encode(b.prev_hash, 'hex'), encode(b.hash, 'hex'), l.currency, b.floor_paddle, "
      "b.media_time_us FROM bids b "
      "JOIN lots l ON l.lot_id = b.lot_id WHERE b.bidder_id = $1 "
      "AND (b.placed_at_us, b.bid_id) < ($2::bigint, $3::bigint) "
      "ORDER BY b.placed_at_us DESC, b.bid_id DESC LIMIT $4" },
    { "lot_currency", "SELECT currency FROM lots WHERE lot_id = $1" },
    { "release_pending",
      "SELECT hold_id, lot_id, bidder_id FROM hold_releases ORDER BY created_at, hold_id "
      "LIMIT 100" },
    { "release_done", "DELETE FROM hold_releases WHERE hold_id = ANY($1::bigint[])" },
    { 0 },
};

/* ---- bands ------------------------------------------------------------------------- */

void bands_format(const lot_rules *r, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < r->nbands && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%lld:%lld", i ? "," : "",
                              (long long)r->bands[i].from, (long long)r->bands[i].increment);
}

int bands_parse(const char *s, lot_rules *r)
{
    r->nbands = 0;
    const char *p = s;
    while (*p != '\0' && r->nbands < LOT_MAX_BANDS) {
        char *end = NULL;
        long long from = strtoll(p, &end, 10);
        if (end == p || *end != ':')
            return -1;
        p = end + 1;
        long long inc = strtoll(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0'))
            return -1;
        r->bands[r->nbands++] = (lot_band){ from, inc };
        p = *end == ',' ? end + 1 : end;
    }
    return *p == '\0' ? 0 : -1;
}

/* ---- one round ----------------------------------------------------------------------- */

/*
 * A round merges batches, and one lot (or one bidder's hold or autobid on
 * it) can appear in several. Only the newest may be written: UPDATE … FROM
 * with a repeated key applies an arbitrary row, and ON CONFLICT DO UPDATE
 * refuses one. Rounds are walked newest first and a key set drops the rest.
 */
typedef struct {
    int64_t *a, *b;
    bool *used;
    size_t cap;
} keyset;

static void keyset_init(keyset *k, size_t n)
{
    k->cap = 16;
    while (k->cap < 2 * n + 1)
        k->cap *= 2;
    k->a = xcalloc(k->cap, sizeof *k->a);
    k->b = xcalloc(k->cap, sizeof *k->b);
    k->used = xcalloc(k->cap, sizeof *k->used);
}

static void keyset_free(keyset *k)
{
    free(k->a);
    free(k->b);
    free(k->used);
}

/* Adds (a, b); false when it was there already. */
static bool keyset_add(keyset *k, int64_t a, int64_t b)
{
    uint64_t h = ((uint64_t)a * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)b * 0xC2B2AE3D27D4EB4Full);
    for (size_t i = (size_t)(h >> 17) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        if (!k->used[i]) {
            k->used[i] = true;
            k->a[i] = a;
            k->b[i] = b;
            return true;
        }
        if (k->a[i] == a && k->b[i] == b)
            return false;
    }
}

static size_t round_count(batch *const *bs, size_t n, size_t off_n)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += *(const size_t *)((const char *)bs[k] + off_n);
    return total;
}

static void arrays_init(db_array *a, int n)
{
    for (int i = 0; i < n; i++)
        db_array_init(&a[i]);
}

static void insert_new_lot(db_conn *conn, const lot *l)
{
    char v[12][24], bands[512];
    bands_format(&l->r, bands, sizeof bands);
    const char *p[] = { db_i64(v[0], l->r.lot_id), db_i64(v[1], l->r.seller_id), l->r.currency,
                        db_i64(v[2], l->r.start_price), db_i64(v[3], l->r.reserve_price),
                        db_i64(v[4], l->r.buy_now_price), bands,
                        db_i64(v[5], l->r.starts_at_us), db_i64(v[6], l->r.soft_close_s),
                        db_i64(v[7], l->r.max_extensions), db_i64(v[8], l->status),
                        db_i64(v[9], l->ends_at_us), db_i64(v[10], l->r.ends_at_us),
                        l->r.venue ? "true" : "false" };
    db_pipe_send(conn, "lot_insert", 14, p);
}

static void write_lots(db_conn *conn, batch *const *bs, size_t n)
{
    db_array a[13];
    arrays_init(a, 13);
    keyset seen;
    keyset_init(&seen, round_count(bs, n, offsetof(batch, nlots)));
    for (size_t k = n; k-- > 0;)
        for (size_t i = bs[k]->nlots; i-- > 0;) {
            const lot *l = &bs[k]->lots[i];
            if (!keyset_add(&seen, l->r.lot_id, 0))
                continue; /* a newer snapshot of this lot is in the round */
            if (bs[k]->lot_is_new[i])
                insert_new_lot(conn, l);
            db_array_i64(&a[0], l->r.lot_id);
            db_array_i64(&a[1], l->status);
            db_array_i64(&a[2], l->price);
            db_array_i64(&a[3], l->leader_id);
            db_array_i64(&a[4], l->seq);
            db_array_hex(&a[5], l->head_hash, l->seq > 0 ? LOT_HASH_LEN : 0);
            db_array_i64(&a[6], l->ends_at_us);
            db_array_i64(&a[7], l->extensions_used);
            db_array_i64(&a[8], l->outcome);
            db_array_i64(&a[9], l->closed_at_us);
            db_array_i64(&a[10], bs[k]->winning_hold[i]);
            db_array_i64(&a[11], l->leader_floor_paddle);
            db_array_i64(&a[12], l->fair_warning_at_us);
        }
    keyset_free(&seen);
    db_pipe_send_arrays(conn, "lots_update", a, 13);
}

static void write_bids(db_conn *conn, batch *const *bs, size_t n)
{
    db_array a[11];
    arrays_init(a, 11);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < bs[k]->nbids; i++) {
            const lot_bid *b = &bs[k]->bids[i].bid;
            db_array_i64(&a[0], b->lot_id);
            db_array_i64(&a[1], b->seq);
            db_array_i64(&a[2], b->bid_id);
            db_array_i64(&a[3], b->bidder_id);
            db_array_i64(&a[4], b->amount);
            db_array_i64(&a[5], b->placed_at_us);
            db_array_bool(&a[6], b->is_autobid);
            db_array_hex(&a[7], b->prev_hash, LOT_HASH_LEN);
            db_array_hex(&a[8], b->hash, LOT_HASH_LEN);
            db_array_i64(&a[9], b->floor_paddle);
            db_array_i64(&a[10], b->media_time_us);
        }
    db_pipe_send_arrays(conn, "bids_insert", a, 11);
}

static void write_autobids(db_conn *conn, batch *const *bs, size_t n)
{
    db_array a[7];
    arrays_init(a, 7);
    keyset seen;
    keyset_init(&seen, round_count(bs, n, offsetof(batch, nautobids)));
    for (size_t k = n; k-- > 0;)
        for (size_t i = bs[k]->nautobids; i-- > 0;) {
            const lot_autobid *ab = &bs[k]->autobids[i];
            if (!keyset_add(&seen, bs[k]->autobid_lot[i], ab->bidder_id))
                continue;
            db_array_i64(&a[0], bs[k]->autobid_lot[i]);
            db_array_i64(&a[1], ab->bidder_id);
            db_array_i64(&a[2], ab->max);
            db_array_i64(&a[3], ab->set_seq);
            db_array_i64(&a[4], ab->set_at_us);
            db_array_bool(&a[5], ab->active);
            db_array_i64(&a[6], ab->status);
        }
    keyset_free(&seen);
    db_pipe_send_arrays(conn, "autobids_upsert", a, 7);
}

static void write_holds(db_conn *conn, batch *const *bs, size_t n)
{
    db_array up[4], del[2];
    arrays_init(up, 4);
    arrays_init(del, 2);
    keyset seen;
    keyset_init(&seen, round_count(bs, n, offsetof(batch, nholds)));
    for (size_t k = n; k-- > 0;)
        for (size_t i = bs[k]->nholds; i-- > 0;) {
            const batch_hold *h = &bs[k]->holds[i];
            if (!keyset_add(&seen, h->lot_id, h->bidder_id))
                continue; /* the newest change of this bidder's hold wins */
            if (h->amount > 0) {
                db_array_i64(&up[0], h->lot_id);
                db_array_i64(&up[1], h->bidder_id);
                db_array_i64(&up[2], h->hold_id);
                db_array_i64(&up[3], h->amount);
            } else {
                db_array_i64(&del[0], h->lot_id);
                db_array_i64(&del[1], h->bidder_id);
            }
        }
    keyset_free(&seen);
    db_pipe_send_arrays(conn, "holds_delete", del, 2);
    db_pipe_send_arrays(conn, "holds_upsert", up, 4);
}

static void write_releases_and_requests(db_conn *conn, batch *const *bs, size_t n)
{
    db_array rel[4], req[6];
    arrays_init(rel, 4);
    arrays_init(req, 6);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < bs[k]->nreleases; i++) {
            const batch_release *r = &bs[k]->releases[i];
            db_array_i64(&rel[0], r->hold_id);
            db_array_i64(&rel[1], r->lot_id);
            db_array_i64(&rel[2], r->bidder_id);
            db_array_text(&rel[3], r->reason);
        }
        for (size_t i = 0; i < bs[k]->nrequests; i++) {
            const batch_request *q = &bs[k]->requests[i];
            db_array_i64(&req[0], q->lot_id);
            db_array_i64(&req[1], q->bidder_id);
            db_array_text(&req[2], q->key);
            db_array_text(&req[3], q->method);
            db_array_text(&req[4], q->request_hash);
            db_array_hex(&req[5], q->response, q->response_len);
        }
    }
    db_pipe_send_arrays(conn, "releases_insert", rel, 4);
    db_pipe_send_arrays(conn, "requests_insert", req, 6);
}

static int send_events(db_conn *conn, batch *const *bs, size_t n)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += bs[k]->nevents;
    if (total == 0)
        return 0;
    ev_outbox_item *items = xcalloc(total, sizeof *items);
    size_t j = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < bs[k]->nevents; i++)
            items[j++] = (ev_outbox_item){ BIDS_TOPIC, bs[k]->events[i].type,
                                           bs[k]->events[i].aggregate_id,
                                           bs[k]->events[i].msg };
    int rc = ev_outbox_pipe_batch(conn, items, total);
    free(items);
    return rc;
}

/* Everything a round writes, in this order, as ONE pipeline from BEGIN to
 * COMMIT: no statement reads another's result, so the whole transaction
 * costs a single round trip to PostgreSQL. */
static const char *const round_stmts[] = { "lot_insert",   "lots_update",     "bids_insert",
                                           "autobids_upsert", "holds_delete", "holds_upsert",
                                           "releases_insert", "requests_insert" };

int store_write_round(db_conn *conn, batch *const *bs, size_t n)
{
    int rc = ev_outbox_prepare(conn);
    if (rc == 0)
        rc = db_pipe_begin(conn, round_stmts, (int)(sizeof round_stmts / sizeof *round_stmts));
    if (rc != 0)
        return rc;
    db_pipe_send_sql(conn, "BEGIN", 0, NULL);
    write_lots(conn, bs, n);
    write_bids(conn, bs, n);
    write_autobids(conn, bs, n);
    write_holds(conn, bs, n);
    write_releases_and_requests(conn, bs, n);
    rc = send_events(conn, bs, n);
    if (rc == 0)
        db_pipe_send_sql(conn, "COMMIT", 0, NULL);
    int finished = db_pipe_finish(conn); /* without COMMIT, put rolls back */
    return rc != 0 ? rc : finished;
}
