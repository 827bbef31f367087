/*
 * A user's auction history, fed only by events: bids placed and outbid
 * (topic gavel.bids) and lots closed (gavel.bids lot.closed and
 * gavel.auctions auction.closed). The events library runs each handler
 * in the same transaction as the event's dedupe row, so a redelivered
 * event changes nothing. Closed lots are remembered in lot_outcomes so the
 * outcome is right whichever topic's event arrives first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

/* The statements the handler sends: it reads nothing back, so the
 * consumer sends a whole batch's writes in one round trip (a failure is
 * reported when the batch ends, and rolls it back). */
const char *const participation_stmts[] = {
    "part_bid", "part_others_trail", "part_outbid", "lot_outcome_insert",
    "part_apply_outcome", NULL,
};

static bool money_ok(const Gavel__Common__V1__Money *m)
{
    return m != NULL && strlen(m->currency) == 3 && m->units >= 0;
}

static int apply_bid(db_conn *conn, const Gavel__Events__V1__BidPlaced *b)
{
    if (b->lot_id <= 0 || b->bidder_id <= 0 || !money_ok(b->amount))
        return EV_E_INVALID;
    char uid[24], lot[24], amt[24], at[24];
    const char *p[] = { db_i64(uid, b->bidder_id), db_i64(lot, b->lot_id), b->amount->currency,
                        db_i64(amt, b->amount->units), db_i64(at, b->placed_at_us) };
    db_pipe_send(conn, "part_bid", 5, p);
    const char *q[] = { lot, uid };
    db_pipe_send(conn, "part_others_trail", 2, q);
    db_pipe_send(conn, "part_apply_outcome", 1, q);
    return 0;
}

static int apply_outbid(db_conn *conn, const Gavel__Events__V1__BidOutbid *o, int64_t at_us)
{
    if (o->lot_id <= 0 || o->previous_leader_id <= 0)
        return EV_E_INVALID;
    char lot[24], uid[24], at[24];
    const char *p[] = { db_i64(lot, o->lot_id), db_i64(uid, o->previous_leader_id),
                        db_i64(at, at_us) };
    db_pipe_send(conn, "part_outbid", 3, p);
    return 0;
}

static int apply_close(db_conn *conn, int64_t lot_id, int64_t winner,
                       const Gavel__Common__V1__Money *price, int64_t closed_at_us)
{
    if (lot_id <= 0 || winner < 0 || (price != NULL && !money_ok(price)))
        return EV_E_INVALID;
    char lot[24], win[24], pr[24], at[24];
    const char *p[] = { db_i64(lot, lot_id), db_i64(win, winner),
                        db_i64(pr, price != NULL ? price->units : 0), db_i64(at, closed_at_us) };
    db_pipe_send(conn, "lot_outcome_insert", 4, p);
    db_pipe_send(conn, "part_apply_outcome", 1, p);
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
    (void)arg;
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
        rc = apply_bid(conn, (const void *)m);
    } else if (k == 1) {
        rc = apply_outbid(conn, (const void *)m, env->occurred_at_us);
    } else if (k == 2) {
        const Gavel__Events__V1__LotClosed *lc = (const void *)m;
        rc = apply_close(conn, lc->lot_id, lc->winner_id, lc->price, lc->closed_at_us);
    } else {
        const Gavel__Events__V1__AuctionClosed *ac = (const void *)m;
        rc = apply_close(conn, ac->lot_id, ac->winner_id, ac->price, ac->closed_at_us);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
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
    p->my_highest_bid = money_new(c, cur, db_get_i64(r, i, 3));
    p->is_leading = db_get_bool(r, i, 4);
    p->outcome = rpc_strdup(c, db_get_str(r, i, 5));
    if (strcmp(p->outcome, "open") != 0)
        p->final_price = money_new(c, cur, db_get_i64(r, i, 6));
    p->first_bid_at_us = db_get_i64(r, i, 7);
    p->last_event_at_us = db_get_i64(r, i, 8);
    return p;
}

int users_list_participation(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ListParticipationRequest *req = (const void *)in;
    int64_t user = 0, at = 0, lot = 0;
    int rc = resolve_user(c, req->user_id, RPC_STAFF, &user);
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
        return fail_db(c, DB_E_TIMEOUT);
    char uid[24], a[24], l[24], lim[24];
    const char *p[] = { db_i64(uid, user), db_i64(a, at), db_i64(l, lot), db_i64(lim, size + 1) };
    PGresult *r = db_exec(conn, "part_list", 4, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return fail_db(c, rc);
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
