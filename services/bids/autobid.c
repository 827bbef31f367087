/*
 * Proxy bidding (autobids) as eBay documents it, resolved in one step.
 *
 * Every command that can move the price gathers the parties that could
 * lead: the holder of the standing bid (ceiling: that bid, or their own
 * autobid above it) and every active autobid (ceiling: its maximum, kept
 * below buy-now). The best party by (ceiling, then earliest) wins; the
 * runner-up, if its ceiling is above the standing price, records one bid
 * at its ceiling (its last proxy bid), and the winner, unless it already
 * holds the standing bid, records one bid at the runner-up's ceiling plus
 * one increment (the start price without a runner-up), raised to the
 * reserve when its ceiling reaches an unmet reserve, capped at its own
 * ceiling. So a command records at most the caller's bid plus two.
 *
 * Invariant after every accepted command: only the leader's autobid may
 * have a ceiling above the price; the others are exhausted (deactivated).
 * A proxy never bids against its owner: an owner is one party.
 */
#include <inttypes.h>
#include <string.h>

#include "core/core.h"
#include "lot.h"
#include "lot_int.h"

typedef struct {
    int64_t bidder;
    int64_t ceiling;  /* the most this party stands for */
    int64_t rank;     /* when it committed to that ceiling: lower wins ties */
} party;

typedef struct {
    party best, second;
    bool has_best, has_second;
} standings;

static bool beats(const party *a, const party *b)
{
    return a->ceiling > b->ceiling || (a->ceiling == b->ceiling && a->rank < b->rank);
}

static void enter(standings *s, party p)
{
    if (!s->has_best || beats(&p, &s->best)) {
        s->second = s->best;
        s->has_second = s->has_best;
        s->best = p;
        s->has_best = true;
    } else if (!s->has_second || beats(&p, &s->second)) {
        s->second = p;
        s->has_second = true;
    }
}

/* Enters every active autobid except those of skip1 and skip2. */
static void enter_autobids(const lot *l, int64_t skip1, int64_t skip2, standings *s)
{
    for (size_t i = 0; i < l->nautobids; i++) {
        const lot_autobid *a = &l->autobids[i];
        if (!a->active || a->bidder_id == skip1 || a->bidder_id == skip2)
            continue;
        enter(s, (party){ .bidder = a->bidder_id, .ceiling = lot__ceiling(l, a->max),
                          .rank = a->set_seq });
    }
}

/* Plans the proxy bids that settle s, given the standing bid of holder at
 * cur (holder 0 and cur 0 without bids). */
static void settle(const lot *l, const standings *s, int64_t holder, int64_t cur, lot__plan *p)
{
    if (!s->has_best)
        return;
    const party *w = &s->best;
    int64_t amount = l->r.start_price;
    if (s->has_second) {
        const party *r = &s->second;
        if (r->ceiling > cur) {
            lot__plan_add(p, r->bidder, r->ceiling, true);
            cur = r->ceiling;
            holder = r->bidder;
        }
        amount = lot__add(r->ceiling, lot_increment(l, r->ceiling));
    }
    if (w->bidder == holder)
        return;
    int64_t reserve = l->r.reserve_price;
    if (reserve > 0 && cur < reserve && w->ceiling >= reserve && amount < reserve)
        amount = reserve;
    if (amount > w->ceiling)
        amount = w->ceiling;
    lot__plan_add(p, w->bidder, amount, true);
}

int64_t lot__ceiling(const lot *l, int64_t max)
{
    int64_t bn = l->r.buy_now_price;
    return bn > 0 && max >= bn ? bn - 1 : max;
}

static lot_autobid *find(const lot *l, int64_t bidder)
{
    for (size_t i = 0; i < l->nautobids; i++)
        if (l->autobids[i].bidder_id == bidder)
            return &l->autobids[i];
    return NULL;
}

static const lot_autobid *find_active(const lot *l, int64_t bidder)
{
    const lot_autobid *a = find(l, bidder);
    return a != NULL && a->active ? a : NULL;
}

/* bidder's entry, appended (zeroed) if they never had one. */
static lot_autobid *slot(lot *l, int64_t bidder)
{
    lot_autobid *a = find(l, bidder);
    if (a != NULL)
        return a;
    if (l->nautobids == l->capautobids) {
        l->capautobids = l->capautobids ? l->capautobids * 2 : 4;
        l->autobids = xrealloc(l->autobids, l->capautobids * sizeof *l->autobids);
    }
    a = &l->autobids[l->nautobids++];
    memset(a, 0, sizeof *a);
    a->bidder_id = bidder;
    return a;
}

static void set_status(lot_autobid *a, lot_autobid_status st)
{
    a->status = st;
    a->active = st == LOT_AUTOBID_ACTIVE;
}

void lot__respond(const lot *l, int64_t caller, int64_t amount, lot__plan *p)
{
    standings s = { .has_best = false };
    party me = { .bidder = caller, .ceiling = amount, .rank = INT64_MAX };
    const lot_autobid *own = find_active(l, caller);
    if (own != NULL && lot__ceiling(l, own->max) >= amount) {
        me.ceiling = lot__ceiling(l, own->max);
        me.rank = own->set_seq;
    }
    enter(&s, me);
    enter_autobids(l, caller, caller, &s);
    settle(l, &s, caller, amount, p);
}

bool lot__exhaust(lot *l)
{
    bool changed = false;
    for (size_t i = 0; i < l->nautobids; i++) {
        lot_autobid *a = &l->autobids[i];
        if (a->active && a->bidder_id != l->leader_id && lot__ceiling(l, a->max) <= l->price) {
            set_status(a, LOT_AUTOBID_EXHAUSTED);
            changed = true;
        }
    }
    return changed;
}

bool lot__finish_autobids(lot *l)
{
    bool changed = false;
    for (size_t i = 0; i < l->nautobids; i++)
        if (l->autobids[i].active) {
            set_status(&l->autobids[i], LOT_AUTOBID_FINISHED);
            changed = true;
        }
    return changed;
}

static int too_low_max(const lot *l, int64_t max, char *why, size_t whylen)
{
    if (l->bid_count == 0)
        return lot__why(LOT_E_TOO_LOW, why, whylen,
                        "maximum must be ≥ the start price %" PRId64 ", got %" PRId64,
                        l->r.start_price, max);
    return lot__why(LOT_E_TOO_LOW, why, whylen,
                    "maximum must be ≥ %" PRId64 " (current %" PRId64 " + increment %" PRId64
                    "), got %" PRId64, lot_next_min(l), l->price, lot_increment(l, l->price),
                    max);
}

/* The leader sets or changes their maximum: no bid, except the jump to an
 * unmet reserve the new maximum reaches. Their tie-break time stays. */
static int set_as_leader(lot *l, int64_t bidder, int64_t max, int64_t now_us, lot_effect *eff,
                         char *why, size_t whylen)
{
    if (max < l->price)
        return lot__why(LOT_E_TOO_LOW, why, whylen,
                        "maximum must be ≥ your leading bid %" PRId64 ", got %" PRId64, l->price,
                        max);
    lot__plan plan = { .n = 0 };
    int64_t reserve = l->r.reserve_price;
    if (reserve > 0 && l->price < reserve && lot__ceiling(l, max) >= reserve)
        lot__plan_add(&plan, bidder, reserve, true);
    int rc = lot__check_room(l, plan.n, why, whylen);
    if (rc != LOT_OK)
        return rc;
    lot_autobid *a = slot(l, bidder);
    /* A replaced maximum is a new commitment: its tie-break time becomes
     * now (bids.proto). Only the leader holds an active autobid, so this
     * changes no outcome, only what the owner is shown. */
    a->set_seq = l->next_set_seq++;
    a->set_at_us = now_us;
    a->max = max;
    set_status(a, LOT_AUTOBID_ACTIVE);
    eff->autobids_changed = true;
    lot__apply(l, &plan, now_us, eff);
    lot__finish(l, bidder, bidder, now_us, eff);
    return LOT_OK;
}

/* A bidder who does not lead sets a maximum: the holder of the standing
 * bid, the other autobids and the new one settle at once. The new autobid
 * is the latest commitment, so it loses every tie. */
static int set_as_challenger(lot *l, int64_t bidder, int64_t max, int64_t now_us,
                             lot_effect *eff, char *why, size_t whylen)
{
    int64_t next_min = lot_next_min(l);
    if (max < next_min)
        return too_low_max(l, max, why, whylen);
    if (lot__ceiling(l, max) < next_min)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "an autobid bids below the buy-now price %" PRId64
                        " and cannot reach the next minimum %" PRId64 "; bid %" PRId64
                        " to buy now", l->r.buy_now_price, next_min, l->r.buy_now_price);
    standings s = { .has_best = false };
    int64_t holder = l->leader_id;
    if (holder != 0) {
        party h = { .bidder = holder, .ceiling = l->price, .rank = -1 };
        const lot_autobid *ha = find_active(l, holder);
        if (ha != NULL && lot__ceiling(l, ha->max) > l->price) {
            h.ceiling = lot__ceiling(l, ha->max);
            h.rank = ha->set_seq;
        }
        enter(&s, h);
    }
    enter(&s, (party){ .bidder = bidder, .ceiling = lot__ceiling(l, max),
                       .rank = l->next_set_seq });
    enter_autobids(l, bidder, holder, &s);
    lot__plan plan = { .n = 0 };
    settle(l, &s, holder, l->bid_count > 0 ? l->price : 0, &plan);
    int rc = lot__check_room(l, plan.n, why, whylen);
    if (rc != LOT_OK)
        return rc;
    lot_autobid *a = slot(l, bidder);
    a->max = max;
    a->set_seq = l->next_set_seq++;
    a->set_at_us = now_us;
    set_status(a, LOT_AUTOBID_ACTIVE);
    eff->autobids_changed = true;
    lot__apply(l, &plan, now_us, eff);
    lot__finish(l, holder, bidder, now_us, eff);
    return LOT_OK;
}

int lot_set_autobid(lot *l, int64_t bidder, int64_t max, int64_t now_us, lot_effect *eff,
                    char *why, size_t whylen)
{
    lot_effect scratch;
    if (eff == NULL)
        eff = &scratch;
    memset(eff, 0, sizeof *eff);
    int rc = lot__check_open(l, bidder, now_us, why, whylen);
    if (rc != LOT_OK)
        return rc;
    if (max <= 0)
        return lot__why(LOT_E_INVALID, why, whylen, "maximum must be positive, got %" PRId64,
                        max);
    if (l->bid_count > 0 && l->leader_id == bidder)
        return set_as_leader(l, bidder, max, now_us, eff, why, whylen);
    return set_as_challenger(l, bidder, max, now_us, eff, why, whylen);
}

int lot_cancel_autobid(lot *l, int64_t bidder, char *why, size_t whylen)
{
    if (l->status == LOT_CLOSED)
        return lot__why(LOT_E_CLOSED, why, whylen, "lot %" PRId64 " is closed", l->r.lot_id);
    lot_autobid *a = find(l, bidder);
    if (a == NULL || !a->active)
        return lot__why(LOT_E_NO_AUTOBID, why, whylen,
                        "no active autobid of bidder %" PRId64 " on lot %" PRId64, bidder,
                        l->r.lot_id);
    set_status(a, LOT_AUTOBID_CANCELLED);
    return LOT_OK;
}

const lot_autobid *lot_autobid_of(const lot *l, int64_t bidder)
{
    return find_active(l, bidder);
}

const lot_autobid *lot_autobid_find(const lot *l, int64_t bidder)
{
    return find(l, bidder);
}

int lot_restore_autobid(lot *l, const lot_autobid *a)
{
    if (a->bidder_id <= 0 || a->max <= 0)
        return LOT_E_INVALID;
    lot_autobid *dst = slot(l, a->bidder_id);
    *dst = *a;
    if (a->status >= LOT_AUTOBID_ACTIVE && a->status <= LOT_AUTOBID_FINISHED)
        set_status(dst, a->status);
    else
        set_status(dst, a->active ? LOT_AUTOBID_ACTIVE : LOT_AUTOBID_EXHAUSTED);
    if (a->set_seq >= l->next_set_seq)
        l->next_set_seq = a->set_seq + 1;
    return LOT_OK;
}
