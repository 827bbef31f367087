/*
 * Manual bids (lot_place) and what every accepted command does last:
 * exhausting autobids, listing who was outbid, and soft close.
 *
 * Invariants: a manual bid is recorded at face value, except at or above
 * buy-now, where it is recorded at exactly the buy-now price and closes
 * the lot; competing autobids answer right after it in the same command.
 * The leader's manual bid is refused unless it buys now: it would outbid
 * nobody, only raise their own price (their autobid maximum is the way up).
 * Soft close extends only an accepted command whose final leader differs
 * from the leader before it, only inside the window, only up to the cap,
 * and only to a later end.
 */
#include <inttypes.h>
#include <string.h>

#include "core/core.h"
#include "lot.h"
#include "lot_int.h"

static bool in_list(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* Walks the leaders the command went through: each one that lost the lead
 * and does not hold it at the end is outbid, once, in order. */
static void list_outbid(const lot *l, int64_t leader_before, lot_effect *eff)
{
    int64_t holder = leader_before;
    for (size_t i = 0; i <= eff->nbids; i++) {
        int64_t next = i < eff->nbids ? eff->bids[i].bidder_id : l->leader_id;
        if (holder != 0 && holder != next && holder != l->leader_id &&
            !in_list(eff->outbid_ids, eff->noutbid, holder))
            eff->outbid_ids[eff->noutbid++] = holder;
        holder = next;
    }
}

static void soft_close(lot *l, int64_t leader_before, int64_t now_us, lot_effect *eff)
{
    if (l->leader_id == leader_before || l->r.soft_close_s <= 0 ||
        l->extensions_used >= l->r.max_extensions)
        return;
    /* Inside the window exactly when now + window is a later end. */
    int64_t window = (int64_t)l->r.soft_close_s * 1000000;
    if (now_us + window <= l->ends_at_us)
        return;
    eff->extended = true;
    eff->old_ends_at_us = l->ends_at_us;
    eff->new_ends_at_us = now_us + window;
    l->ends_at_us = eff->new_ends_at_us;
    l->extensions_used++;
}

void lot__finish(lot *l, int64_t leader_before, int64_t caller, int64_t now_us,
                 lot_effect *eff)
{
    if (l->status == LOT_CLOSED) {
        if (lot__finish_autobids(l))
            eff->autobids_changed = true;
    } else {
        if (lot__exhaust(l))
            eff->autobids_changed = true;
        soft_close(l, leader_before, now_us, eff);
    }
    list_outbid(l, leader_before, eff);
    eff->caller_leads = l->leader_id == caller;
}

/* True when a bid of amount buys the lot now: at or above a buy-now price
 * the price has not reached. */
static bool is_buy_now(const lot *l, int64_t amount)
{
    int64_t bn = l->r.buy_now_price;
    return bn > 0 && amount >= bn && (l->bid_count == 0 || l->price < bn);
}

int lot_why_too_low(int64_t bid_count, int64_t start_price, int64_t price, int64_t increment,
                    int64_t amount, char *why, size_t whylen)
{
    if (bid_count == 0)
        return lot__why(LOT_E_TOO_LOW, why, whylen,
                        "amount must be ≥ the start price %" PRId64 ", got %" PRId64,
                        start_price, amount);
    return lot__why(LOT_E_TOO_LOW, why, whylen,
                    "amount must be ≥ %" PRId64 " (current %" PRId64 " + increment %" PRId64
                    "), got %" PRId64, lot__add(price, increment), price, increment, amount);
}

int lot_why_leading(int64_t lot_id, int64_t price, const char currency[4], char *why,
                    size_t whylen)
{
    return lot__why(LOT_E_LEADING, why, whylen,
                    "you already lead lot %" PRId64 " at %" PRId64 " %.3s; to bid higher, "
                    "raise your maximum with SetAutoBid", lot_id, price, currency);
}

static int too_low(const lot *l, int64_t amount, char *why, size_t whylen)
{
    return lot_why_too_low(l->bid_count, l->r.start_price, l->price,
                           lot_increment(l, l->price), amount, why, whylen);
}

/* The venue parts of a bid: LOT_OK, or why they are refused. */
static int check_venue_parts(const lot *l, int32_t floor_paddle, int64_t media_time_us,
                             int64_t now_us, char *why, size_t whylen)
{
    if (floor_paddle != 0 && !l->r.venue)
        return lot__why(LOT_E_NOT_VENUE, why, whylen,
                        "lot %" PRId64 " is not a venue lot: it takes no floor bids",
                        l->r.lot_id);
    if (floor_paddle < 0 || floor_paddle > LOT_MAX_PADDLE)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "floor_paddle must be 1..%d, got %" PRId32, LOT_MAX_PADDLE,
                        floor_paddle);
    if (l->r.venue && floor_paddle == 0 && media_time_us != 0 &&
        (media_time_us < now_us - LOT_MEDIA_PAST_US || media_time_us > now_us + LOT_MEDIA_AHEAD_US))
        return lot__why(LOT_E_INVALID, why, whylen,
                        "media_time_us %" PRId64 " must lie within 10 minutes before and 5 "
                        "seconds after server time %" PRId64, media_time_us, now_us);
    return LOT_OK;
}

int lot_place(lot *l, int64_t bidder, int64_t amount, int64_t now_us, lot_effect *eff,
              char *why, size_t whylen)
{
    return lot_place_venue(l, bidder, amount, 0, 0, now_us, eff, why, whylen);
}

int lot_place_venue(lot *l, int64_t bidder, int64_t amount, int32_t floor_paddle,
                    int64_t media_time_us, int64_t now_us, lot_effect *eff, char *why,
                    size_t whylen)
{
    lot_effect scratch;
    if (eff == NULL)
        eff = &scratch;
    memset(eff, 0, sizeof *eff);
    int rc = check_venue_parts(l, floor_paddle, media_time_us, now_us, why, whylen);
    if (rc == LOT_OK)
        rc = lot__check_open(l, bidder, now_us, why, whylen);
    if (rc != LOT_OK)
        return rc;
    if (amount <= 0)
        return lot__why(LOT_E_INVALID, why, whylen, "amount must be positive, got %" PRId64,
                        amount);
    lot__plan plan = { .n = 0 };
    bool buys = is_buy_now(l, amount);
    if (buys) {
        lot__plan_add(&plan, bidder, l->r.buy_now_price, false);
    } else {
        /* The room may bid over the room: the clerk takes what it calls. */
        if (l->bid_count > 0 && l->leader_id == bidder && floor_paddle == 0)
            return lot_why_leading(l->r.lot_id, l->price, l->r.currency, why, whylen);
        if (amount < lot_next_min(l) || (l->bid_count > 0 && amount <= l->price))
            return too_low(l, amount, why, whylen);
        lot__plan_add(&plan, bidder, amount, false);
    }
    plan.steps[0].floor_paddle = floor_paddle;
    plan.steps[0].media_time_us = floor_paddle == 0 ? media_time_us : 0;
    if (!buys)
        lot__respond(l, bidder, amount, &plan);
    rc = lot__check_room(l, plan.n, why, whylen);
    if (rc != LOT_OK)
        return rc;
    int64_t leader_before = l->leader_id;
    lot__apply(l, &plan, now_us, eff);
    if (buys) {
        l->status = LOT_CLOSED;
        l->outcome = LOT_OUTCOME_WINNER;
        l->closed_at_us = now_us;
        eff->closed = true;
    }
    lot__finish(l, leader_before, bidder, now_us, eff);
    return LOT_OK;
}
