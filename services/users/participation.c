/*
 * A user's auction history, fed only by events: bids placed and outbid
 * (topic gavel.bids) and lots closed (gavel.bids lot.closed and
 * gavel.auctions auction.closed). The events library runs each handler
 * in the same transaction as the event's dedupe row, so a redelivered
 * event changes nothing. Bid events are folded per (bidder, lot) and
 * written set-based when the batch ends (participation_fold.c). Closed
 * lots are remembered in lot_outcomes so the outcome is right whichever
 * topic's event arrives first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

/* The statements the consumer sends: it reads nothing back, so a whole
 * batch's writes travel in one round trip (a failure is reported when the
 * batch ends, and rolls it back). */
const char *const participation_stmts[] = {
    "part_outbid_many", "part_bid_many", "part_others_trail_many", "lot_outcome_insert",
    "part_apply_outcome", NULL,
};

static bool money_ok(const Gavel__Common__V1__Money *m)
{
    return m != NULL && strlen(m->currency) == 3 && m->units >= 0;
}

/* Outbids of bidders without a bid in the batch: written first, so a
 * later bid of theirs in the same batch leads again. */
static void send_outbids(db_conn *conn, const part_batch *b)
{
    db_array lots, users, ats;
    db_array_init(&lots);
    db_array_init(&users);
    db_array_init(&ats);
    for (size_t i = 0; i < b->noutbids; i++) {
        db_array_i64(&lots, b->outbids[i].lot_id);
        db_array_i64(&users, b->outbids[i].user_id);
        db_array_i64(&ats, b->outbids[i].at_us);
    }
    const char *p[] = { db_array_str(&lots), db_array_str(&users), db_array_str(&ats) };
    db_pipe_send(conn, "part_outbid_many", 3, p);
    db_array_free(&lots);
    db_array_free(&users);
    db_array_free(&ats);
}

/* The folded bids (each lot's last bidder leading), then the lead taken
 * from everyone else on those lots, then the outcome of lots already
 * closed (a bid event can arrive after the close). */
static void send_bids(db_conn *conn, const part_batch *b)
{
    enum { NCOL = 8 };
    db_array col[NCOL];
    for (int i = 0; i < NCOL; i++)
        db_array_init(&col[i]);
    for (size_t i = 0; i < b->nbids; i++) {
        const part_bid_row *r = &b->bids[i];
        db_array_i64(&col[0], r->user_id);
        db_array_i64(&col[1], r->lot_id);
        db_array_text(&col[2], r->currency);
        db_array_i64(&col[3], r->count);
        db_array_i64(&col[4], r->highest);
        db_array_bool(&col[5], part_batch_leader(b, r->lot_id) == r->user_id);
        db_array_i64(&col[6], r->first_at_us);
        db_array_i64(&col[7], r->last_at_us);
    }
    const char *p[NCOL];
    for (int i = 0; i < NCOL; i++)
        p[i] = db_array_str(&col[i]);
    db_pipe_send(conn, "part_bid_many", NCOL, p);
    for (int i = 0; i < NCOL; i++)
        db_array_free(&col[i]);

    db_array lots, leaders;
    db_array_init(&lots);
    db_array_init(&leaders);
    for (size_t i = 0; i < b->nlots; i++) {
        db_array_i64(&lots, b->lots[i].lot_id);
        db_array_i64(&leaders, b->lots[i].leader_id);
    }
    const char *q[] = { db_array_str(&lots), db_array_str(&leaders) };
    db_pipe_send(conn, "part_others_trail_many", 2, q);
    db_pipe_send(conn, "part_apply_outcome", 1, q);
    db_array_free(&lots);
    db_array_free(&leaders);
}

/* Sends what b folded, in the order that keeps the events' meaning, and
 * clears b. */
static void send_folded(db_conn *conn, part_batch *b)
{
    if (b->noutbids > 0)
        send_outbids(conn, b);
    if (b->nbids > 0)
        send_bids(conn, b);
    part_batch_clear(b);
}

static int fold_bid(db_conn *conn, part_batch *b, const Gavel__Events__V1__BidPlaced *e)
{
    if (e->lot_id <= 0 || e->bidder_id <= 0 || !money_ok(e->amount))
        return EV_E_INVALID;
    /* A venue's floor bid is the room's, not the clerk's who entered it. */
    if (e->floor_paddle > 0)
        return 0;
    if (part_batch_full(b))
        send_folded(conn, b);
    part_batch_bid(b, e->bidder_id, e->lot_id, e->amount->currency, e->amount->units,
                   e->placed_at_us);
    return 0;
}

static int fold_outbid(db_conn *conn, part_batch *b, const Gavel__Events__V1__BidOutbid *o,
                       int64_t at_us)
{
    if (o->lot_id <= 0 || o->previous_leader_id <= 0)
        return EV_E_INVALID;
    if (part_batch_full(b))
        send_folded(conn, b);
    part_batch_outbid(b, o->lot_id, o->previous_leader_id, at_us);
    return 0;
}

/* A close is rare: it is written at once, after what was folded before
 * it, so the events keep their order. */
static int apply_close(db_conn *conn, part_batch *b, int64_t lot_id, int64_t winner,
                       const Gavel__Common__V1__Money *price, int64_t closed_at_us)
{
    if (lot_id <= 0 || winner < 0 || (price != NULL && !money_ok(price)))
        return EV_E_INVALID;
    send_folded(conn, b);
    char lot[24], win[24], pr[24], at[24], lots[32];
    const char *p[] = { db_i64(lot, lot_id), db_i64(win, winner),
                        db_i64(pr, price != NULL ? price->units : 0), db_i64(at, closed_at_us) };
    db_pipe_send(conn, "lot_outcome_insert", 4, p);
    snprintf(lots, sizeof lots, "{%s}", lot);
    const char *q[] = { lots };
    db_pipe_send(conn, "part_apply_outcome", 1, q);
    return 0;
}

/* Unpacks env->payload as d; NULL when malformed. Free with protobuf-c. */
static ProtobufCMessage *payload(const Gavel__Events__V1__Envelope *env,
                                 const ProtobufCMessageDescriptor *d)
{
    return protobuf_c_message_unpack(d, NULL, env->payload.len, env->payload.data);
}

int participation_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    part_batch *b = arg;
    static const struct { const char *type; const ProtobufCMessageDescriptor *d; } kinds[] = {
        { "bid.placed", &gavel__events__v1__bid_placed__descriptor },
        { "bid.outbid", &gavel__events__v1__bid_outbid__descriptor },
        { "lot.closed", &gavel__events__v1__lot_closed__descriptor },
        { "auction.closed", &gavel__events__v1__auction_closed__descriptor },
    };
    size_t k = 0;
    while (k < 4 && strcmp(kinds[k].type, env->type) != 0)
        k++;
    if (k == 4)
        return 0; /* not an event this history needs */
    ProtobufCMessage *m = payload(env, kinds[k].d);
    if (m == NULL)
        return EV_E_INVALID;
    int rc;
    if (k == 0) {
        rc = fold_bid(conn, b, (const void *)m);
    } else if (k == 1) {
        rc = fold_outbid(conn, b, (const void *)m, env->occurred_at_us);
    } else if (k == 2) {
        const Gavel__Events__V1__LotClosed *lc = (const void *)m;
        rc = apply_close(conn, b, lc->lot_id, lc->winner_id, lc->price, lc->closed_at_us);
    } else {
        const Gavel__Events__V1__AuctionClosed *ac = (const void *)m;
        rc = apply_close(conn, b, ac->lot_id, ac->winner_id, ac->price, ac->closed_at_us);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int participation_batch_end(db_conn *conn, bool ok, void *arg)
{
    part_batch *b = arg;
    if (ok)
        send_folded(conn, b);
    part_batch_clear(b);
    return 0;
}

/* Page tokens are "<last_event_at_us>:<lot_id>" of the last row shown. */
static bool parse_page_token(const char *tok, int64_t *at, int64_t *lot)
{
    if (tok[0] == '\0') {
        *at = INT64_MAX;
        *lot = INT64_MAX;
        return true;
    }
    char *end = NULL;
    long long a = strtoll(tok, &end, 10);
    if (end == tok || *end != ':')
        return false;
    const char *rest = end + 1;
    long long l = strtoll(rest, &end, 10);
    if (end == rest || *end != '\0' || a < 0 || l <= 0)
        return false;
    *at = a;
    *lot = l;
    return true;
}

static Gavel__Users__V1__Participation *row_to_item(rpc_call *c, const PGresult *r, int i)
{
    Gavel__Users__V1__Participation *p =
        (void *)rpc_new(c, &gavel__users__v1__participation__descriptor);
    const char *cur = db_get_str(r, i, 1);
    p->lot_id = db_get_i64(r, i, 0);
    p->bid_count = (int32_t)db_get_i64(r, i, 2);
    p->my_highest_bid = check_money_new(rpc_arena(c), cur, db_get_i64(r, i, 3));
    p->is_leading = db_get_bool(r, i, 4);
    p->outcome = rpc_strdup(c, db_get_str(r, i, 5));
    if (strcmp(p->outcome, "open") != 0)
        p->final_price = check_money_new(rpc_arena(c), cur, db_get_i64(r, i, 6));
    p->first_bid_at_us = db_get_i64(r, i, 7);
    p->last_event_at_us = db_get_i64(r, i, 8);
    return p;
}

int users_list_participation(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ListParticipationRequest *req = (const void *)in;
    int64_t user = 0, at = 0, lot = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "account", &user);
    if (rc != 0)
        return rc;
    int size = req->page != NULL ? req->page->page_size : 0;
    const char *tok = req->page != NULL ? req->page->page_token : "";
    if (size < 0 || size > 200)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to 200");
    if (!parse_page_token(tok, &at, &lot))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    if (size == 0)
        size = 50;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24], a[24], l[24], lim[24];
    const char *p[] = { db_i64(uid, user), db_i64(a, at), db_i64(l, lot), db_i64(lim, size + 1) };
    PGresult *r = db_exec(conn, "part_list", 4, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Users__V1__ListParticipationResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__list_participation_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->items = rpc_alloc(c, sizeof *resp->items * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->items[resp->n_items++] = row_to_item(c, r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld:%lld", (long long)db_get_i64(r, n - 1, 8),
                         (long long)db_get_i64(r, n - 1, 0));
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
