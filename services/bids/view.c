/*
 * Refusing stale bids without the shard. On a hot lot most PlaceBids are
 * refused: the bidder aimed at a minimum that another bid has already
 * taken, or is taking, or already leads the lot. Each such refusal used
 * to cost three thread hand-offs (handler → shard → handler's answer) for
 * a verdict that only reads the lot. Here the handler reads the lot's view
 * instead: a copy of the engine's state that the shard makes after every
 * command on the lot (view_publish), under the shard's view_lock.
 *
 * The shard stays the lot's only writer, and the only judge of anything
 * but "leading" and "too low": view_refuse_stale answers only when the
 * shard would answer the same, with the same words:
 *
 *   - the lot is live and not past its end (an older view only ends
 *     earlier: soft close moves ends later);
 *   - the caller is not the seller, the currency is the lot's, and the
 *     amount does not buy the lot now;
 *   - the key is not one the lot has seen (a retry of an accepted bid,
 *     the leader's winning one too, carries an amount now below the
 *     minimum, and gets its first answer from the shard), and the caller
 *     has no bid reserving funds (a retry of that one joins it);
 *   - then, as the engine checks them: the caller leads the lot
 *     (FAILED_PRECONDITION), or the amount is below the minimum the bids
 *     reserving funds set (while none of them is past its deadline), or
 *     below the lot's next minimum.
 *
 * An older view than the engine's is never wrong to refuse as too low:
 * the minimum only rises, and a bid in flight leaves the view only through
 * a command, which publishes again. Who leads can change back, but the
 * view is never older than what any caller was told: the shard publishes
 * after every command before it answers anything else (accepted commands
 * are answered only after their commit), so a verdict from the view is
 * the shard's verdict at an instant no caller has yet seen pass.
 */
#include <string.h>

#include "bids.h"

void view_publish(shard *sh, lot_entry *e)
{
    const lot *l = &e->eng;
    lot_view v = {
        .live = l->status == LOT_LIVE,
        .ends_at_us = l->r.venue ? INT64_MAX : l->ends_at_us, /* no end but the hammer */
        .seller_id = l->r.seller_id,
        .buy_now_price = l->r.buy_now_price,
        .bid_count = l->bid_count,
        .leader_id = l->leader_id,
        .price = l->price,
        .increment = lot_increment(l, l->price),
        .next_min = lot_next_min(l),
        .start_price = l->r.start_price,
    };
    memcpy(v.currency, l->r.currency, sizeof v.currency);
    inflight_summarize(e, &v);
    pthread_rwlock_wrlock(&sh->view_lock);
    e->view = v;
    pthread_rwlock_unlock(&sh->view_lock);
}

static bool listed(const lot_view *v, int64_t bidder)
{
    for (size_t i = 0; i < v->ninflight; i++)
        if (v->inflight_bidders[i] == bidder)
            return true;
    return false;
}

/* The verdict, under the view lock; 0 when the shard must decide. */
static int judge(lot_entry *e, int64_t lot_id, int64_t bidder, const char *key,
                 const char *currency, int64_t amount, int64_t now, char *why, size_t whylen)
{
    const lot_view *v = &e->view;
    if (!v->live || now >= v->ends_at_us || bidder == v->seller_id ||
        strcmp(currency, v->currency) != 0 ||
        (v->buy_now_price > 0 && amount >= v->buy_now_price) ||
        v->ninflight > VIEW_INFLIGHT_MAX || listed(v, bidder) ||
        req_find(e, bidder, key) != NULL)
        return 0;
    if (v->bid_count > 0 && bidder == v->leader_id) {
        lot_why_leading(lot_id, v->price, v->currency, why, whylen);
        return GRPC_STATUS_FAILED_PRECONDITION;
    }
    if (v->top > 0 && now <= v->inflight_until_us) {
        if (amount >= v->top_min)
            return 0;
        inflight_why(v->top, v->top_min, why, whylen);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (v->top > 0 || (amount >= v->next_min && (v->bid_count == 0 || amount > v->price)))
        return 0; /* a deadline passed: the shard prunes first */
    lot_why_too_low(v->bid_count, v->start_price, v->price, v->increment, amount, why, whylen);
    return GRPC_STATUS_INVALID_ARGUMENT;
}

int view_refuse_stale(int64_t lot_id, int64_t bidder, const char *key, const char *currency,
                      int64_t amount, char *why, size_t whylen)
{
    shard *sh = worker_shard_of(lot_id);
    int64_t now = now_us();
    pthread_rwlock_rdlock(&sh->view_lock);
    lot_entry *e = shard_find(sh, lot_id);
    int rc = e != NULL ? judge(e, lot_id, bidder, key, currency, amount, now, why, whylen) : 0;
    pthread_rwlock_unlock(&sh->view_lock);
    if (rc != 0)
        mx_add(bids_mx.refused_early, 1);
    return rc;
}
