/*
 * auction.closed into a settlement row. The events library runs
 * pay_event_apply in the transaction that records the event id, and the
 * row is keyed by lot (INSERT … ON CONFLICT DO NOTHING), so a redelivered
 * event, or a second event for the same lot, records nothing more: one
 * settlement per lot. A sold lot's fees are not known here: its first
 * settlement step asks the auctions service for them (settle_fees.c),
 * since this transaction must not wait on another service. An event that can never apply (no lot, a sold lot
 * without a winning hold or price) is EV_E_INVALID: dead-lettered to
 * gavel.auctions.dlq while the partition moves on. A venue lot the room
 * won (floor_paddle set) is settled at the venue: its row charges nobody
 * (as an unsold lot's). Other event types on
 * the topic are recorded and otherwise ignored.
 */
#include <string.h>

#include "payments.h"

static int on_closed(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                     const Gavel__Events__V1__AuctionClosed *e)
{
    /* The room won a venue lot (floor_paddle): the venue settles with its
     * paddle holder, no hold secures the bid; recorded as nothing to
     * charge online, like an unsold lot. */
    bool floor = e->floor_paddle > 0;
    bool sold = e->winner_id > 0 && !floor;
    if (e->lot_id <= 0 || e->seller_id < 0 || e->winner_id < 0)
        return EV_E_INVALID;
    if (sold && (e->price == NULL || !check_money_units(e->price->units, 1) ||
                 !check_currency_in_list(e->price->currency, pay.currencies) ||
                 e->winning_hold_id <= 0 || e->winner_id == e->seller_id))
        return EV_E_INVALID;
    int64_t hammer = sold ? e->price->units : 0;
    char lot[24], seller[24], winner[24], hold[24], ham[24], closed[24], now[24];
    int64_t t = now_us();
    const char *p[] = {
        db_i64(lot, e->lot_id),
        env->id,
        db_i64(seller, e->seller_id),
        db_i64(winner, sold ? e->winner_id : 0),
        db_i64(hold, sold ? e->winning_hold_id : 0),
        sold ? e->price->currency : (e->price != NULL ? e->price->currency : ""),
        db_i64(ham, hammer),
        sold ? "true" : "false",
        db_i64(closed, e->closed_at_us > 0 ? e->closed_at_us : t),
        db_i64(now, t),
    };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_insert", 10, p, &rc);
    if (r == NULL)
        return rc;
    bool is_new = PQntuples(r) > 0;
    PQclear(r);
    if (is_new) {
        mx_add(pay_mx.closed_seen, 1);
        settle_kick();
    }
    return 0;
}

int pay_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)arg;
    if (strcmp(env->type, "auction.closed") != 0)
        return 0;
    Gavel__Events__V1__AuctionClosed *e = gavel__events__v1__auction_closed__unpack(
        NULL, env->payload.len, env->payload.data);
    if (e == NULL) {
        log_warn("event %s (auction.closed): payload does not decode", env->id);
        return EV_E_INVALID;
    }
    int rc = on_closed(conn, env, e);
    if (rc == EV_E_INVALID)
        log_warn("event %s (auction.closed): lot %lld cannot be settled (winner %lld, hold "
                 "%lld, price %lld %s)",
                 env->id, (long long)e->lot_id, (long long)e->winner_id,
                 (long long)e->winning_hold_id, e->price != NULL ? (long long)e->price->units : 0,
                 e->price != NULL ? e->price->currency : "-");
    gavel__events__v1__auction_closed__free_unpacked(e, NULL);
    return rc;
}
