/*
 * Recording a close the bids service answered, for the scheduler (a timed
 * lot's end) and HammerLot (a venue lot's hammer) alike: the result
 * columns, the history and auction.closed, in the caller's transaction,
 * which also holds the lot's row lock. auction.closed is written in the
 * transaction that marks the lot CLOSED: exactly once per lot.
 */
#include "auctions.h"

int lot_write_close(arena *a, db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                    const Gavel__Bids__V1__CloseLotResponse *resp, const lot_actor *who,
                    const char *by, Gavel__Auctions__V1__Lot **out)
{
    const Gavel__Bids__V1__Bid *win = resp->winning_bid;
    bool sold = resp->outcome == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CLOSED_WITH_WINNER;
    bool cancelled = resp->outcome == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CANCELLED;
    int64_t bid_count = resp->state != NULL ? resp->state->bid_count : 0;
    int64_t price = resp->state != NULL && resp->state->current_price != NULL
                        ? resp->state->current_price->units
                        : 0;
    bool reserve_met = resp->state != NULL && resp->state->reserve_met && !cancelled;
    /* The room's win: the venue settles it, no wallet hold secures it. */
    int32_t paddle = sold && win != NULL ? win->floor_paddle : 0;
    char id[24], w[24], fp[24], bid[24], hold[24], n[24], at[24], now[24], pad[24];
    const char *p[] = {
        db_i64(id, lot->id),
        cancelled ? "cancelled" : "closed",
        db_i64(w, sold && win != NULL ? win->bidder_id : 0),
        bid_count > 0 ? db_i64(fp, price) : NULL,
        reserve_met ? "true" : "false",
        db_i64(bid, sold && win != NULL ? win->bid_id : 0),
        db_i64(hold, sold && paddle == 0 ? resp->winning_hold_id : 0),
        db_i64(n, bid_count),
        db_i64(at, resp->closed_at_us),
        db_i64(now, now_us()),
        db_i64(pad, paddle),
    };
    int rc = lot_exec_one(a, conn, "lot_close", 11, p, out);
    if (rc < 0)
        return rc;
    const char *why = cancelled ? "closed by the bids service as cancelled"
                      : sold    ? arena_printf(a, "closed by %s: sold", by)
                      : bid_count > 0 ? arena_printf(a, "closed by %s: reserve not met", by)
                                      : arena_printf(a, "closed by %s: no bids", by);
    if ((rc = lot_record_transition(conn, *out, lot->state, who, why)) < 0)
        return rc;
    mx_add(auctions_mx.lots_closed, 1);
    return cancelled ? 0 : lot_publish_closed(conn, *out);
}
