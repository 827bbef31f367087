/*
 * Events into documents. The events library runs search_event_apply in the
 * transaction that records the event id, so a redelivered event is never
 * applied twice; the per-lot versions in the statements (search_sql.c)
 * make an older event, or one that arrives after a newer one from the
 * other topic, change nothing. While a rebuild runs, every change goes to
 * the new table as well, so the swap loses none.
 *
 *   lot.upserted              the lot's content, by updated_at_us
 *   bid.placed                price, bid count, extension, by seq
 *   lot.extended              the later end
 *   lot.closed, auction.closed  reserve met
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

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

int search_doc_write(db_conn *conn, const char *stmt, const Gavel__Events__V1__LotUpserted *e)
{
    char id[24], ver[24], seller[24], year[24], mil[24], city[24], cat[24], dmg[24], ses[24];
    char sp[24], bn[24], st[24], en[24], cr[24], now[24];
    const Gavel__Common__V1__Money *start = e->start_price, *buy = e->buy_now_price;
    const char *currency = start != NULL ? start->currency : buy != NULL ? buy->currency : "";
    const char *p[] = {
        db_i64(id, e->lot_id), db_i64(ver, e->updated_at_us), e->state,
        db_i64(seller, e->seller_id), e->title, e->description, e->make, e->model,
        db_i64(year, e->year), db_i64(mil, e->mileage_km), e->vin, e->region,
        db_i64(city, e->city_id), opt_i64(cat, e->category_id),
        e->n_photo_urls > 0 ? e->photo_urls[0] : "", db_i64(dmg, e->damage_count),
        opt_i64(ses, e->session_id), currency,
        start != NULL ? db_i64(sp, start->units) : NULL,
        buy != NULL && buy->units > 0 ? db_i64(bn, buy->units) : NULL,
        e->has_reserve ? "true" : "false", opt_i64(st, e->starts_at_us),
        opt_i64(en, e->ends_at_us), db_i64(cr, e->created_at_us), db_i64(now, now_us()),
    };
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, 25, p, &rc);
    if (r == NULL)
        return rc;
    int changed = rows_changed(r);
    PQclear(r);
    return changed;
}

/* Runs stmt on docs and, during a rebuild, its _new twin. Returns 1 when
 * docs changed, 0 when not, or DB_E_*. */
static int write_both(db_conn *conn, const char *stmt, int n, const char *const *p)
{
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, n, p, &rc);
    if (r == NULL)
        return rc;
    int changed = rows_changed(r);
    PQclear(r);
    if (search.rebuilding) {
        char twin[64];
        snprintf(twin, sizeof twin, "%s_new", stmt);
        if ((r = db_exec(conn, twin, n, p, &rc)) == NULL)
            return rc;
        PQclear(r);
    }
    return changed;
}

static int on_upserted(db_conn *conn, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotUpserted *e = (const void *)m;
    if (e->lot_id <= 0 || e->updated_at_us <= 0 || e->state[0] == '\0')
        return EV_E_INVALID;
    int rc = search_doc_write(conn, "doc_upsert", e);
    if (rc >= 0 && search.rebuilding) {
        int rc2 = search_doc_write(conn, "doc_upsert_new", e);
        if (rc2 < 0)
            return rc2;
    }
    return rc;
}

static int on_bid_placed(db_conn *conn, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__BidPlaced *e = (const void *)m;
    if (e->lot_id <= 0 || e->seq <= 0 || e->amount == NULL || e->amount->units < 0)
        return EV_E_INVALID;
    char id[24], seq[24], amount[24], end[24], now[24];
    const char *p[] = { db_i64(id, e->lot_id), db_i64(seq, e->seq),
                        db_i64(amount, e->amount->units), db_i64(end, e->ends_at_us),
                        db_i64(now, now_us()) };
    return write_both(conn, "bid_apply", 5, p);
}

static int on_extended(db_conn *conn, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotExtended *e = (const void *)m;
    if (e->lot_id <= 0 || e->new_ends_at_us <= 0)
        return EV_E_INVALID;
    char id[24], end[24], now[24];
    const char *p[] = { db_i64(id, e->lot_id), db_i64(end, e->new_ends_at_us),
                        db_i64(now, now_us()) };
    return write_both(conn, "extend_apply", 3, p);
}

static int close_with(db_conn *conn, int64_t lot_id, bool reserve_met)
{
    if (lot_id <= 0)
        return EV_E_INVALID;
    char id[24], now[24];
    const char *p[] = { db_i64(id, lot_id), reserve_met ? "true" : "false",
                        db_i64(now, now_us()) };
    return write_both(conn, "close_apply", 3, p);
}

static int on_lot_closed(db_conn *conn, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotClosed *e = (const void *)m;
    return close_with(conn, e->lot_id, e->reserve_met);
}

static int on_auction_closed(db_conn *conn, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__AuctionClosed *e = (const void *)m;
    return close_with(conn, e->lot_id, e->reserve_met);
}

typedef int (*apply_fn)(db_conn *conn, const ProtobufCMessage *m);

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

static int mark_applied(db_conn *conn, int64_t occurred_at_us, int64_t now)
{
    char at[24], n[24];
    const char *p[] = { db_i64(at, occurred_at_us), db_i64(n, now) };
    int rc = 0;
    PGresult *r = db_exec(conn, "state_mark", 2, p, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    return 0;
}

int search_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)arg;
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
    pthread_mutex_lock(&search.apply_lock);
    int rc = routes[k].apply(conn, m);
    pthread_mutex_unlock(&search.apply_lock);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc == EV_E_INVALID) {
        log_warn("event %s (%s): names no valid lot or version", env->id, env->type);
        return rc;
    }
    if (rc < 0)
        return rc;
    int64_t now = now_us();
    mx_add(rc > 0 ? search_mx.applied : search_mx.ignored, 1);
    if (env->occurred_at_us > 0 && env->occurred_at_us <= now)
        mx_observe(search_mx.lag, (double)(now - env->occurred_at_us) / 1e6);
    return mark_applied(conn, env->occurred_at_us, now);
}
