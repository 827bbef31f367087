/*
 * Lots the bids service closed before their end. A bid at the buy-now
 * price ends a lot at once, and the bids service says so with lot.closed
 * on gavel.bids; the scheduler closes lots only when their end comes, so
 * without this the catalog would show a sold lot as live, and nobody
 * would be charged, until the end the seller chose (days, maybe).
 *
 * This consumer (group "auctions") brings such a lot's end forward to
 * the moment the bids service closed it and wakes the scheduler, whose
 * next round closes it as any due lot: CloseLot answers the recorded
 * outcome, and the lot's row, history and auction.closed are written in
 * one transaction, exactly once (closing.c). The event changes nothing
 * else: a lot no longer live, a venue lot (the clerk's hammer ends it),
 * or one whose end is not later than the close (the scheduler's own close
 * at the end, heard back) is left alone, so a redelivered or late event
 * is harmless. ending_soon is marked sent: a sold lot is not "ending soon".
 */
#include <string.h>

#include "auctions.h"

static const char *const consumed_topics[] = { "gavel.bids", NULL };

static int on_lot_closed(db_conn *conn, const Gavel__Events__V1__Envelope *env)
{
    Gavel__Events__V1__LotClosed *e = gavel__events__v1__lot_closed__unpack(
        NULL, env->payload.len, env->payload.data);
    if (e == NULL) {
        log_warn("event %s (lot.closed): payload does not decode", env->id);
        return EV_E_INVALID;
    }
    int rc = 0;
    if (e->lot_id <= 0 || e->closed_at_us <= 0) {
        log_warn("event %s (lot.closed): lot %lld closed at %lld is not a close", env->id,
                 (long long)e->lot_id, (long long)e->closed_at_us);
        rc = EV_E_INVALID;
    } else {
        char id[24], at[24], now[24];
        const char *p[] = { db_i64(id, e->lot_id), db_i64(at, e->closed_at_us),
                            db_i64(now, now_us()) };
        PGresult *r = db_exec(conn, "lot_end_early", 3, p, &rc);
        if (r != NULL) {
            if (PQntuples(r) > 0) {
                log_info("lot %lld closed early in the bids service (buy-now): closing it",
                         (long long)e->lot_id);
                scheduler_kick();
            }
            PQclear(r);
        }
    }
    gavel__events__v1__lot_closed__free_unpacked(e, NULL);
    return rc;
}

static int bids_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)arg;
    if (strcmp(env->type, "lot.closed") != 0)
        return 0; /* the bids topic's other events: recorded, nothing to do */
    return on_lot_closed(conn, env);
}

const rpc_consumer auctions_consumers[] = {
    { .group = "auctions", .topics = consumed_topics, .handler = bids_event_apply },
    { 0 },
};
