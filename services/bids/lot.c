/*
 * A lot's rules and lifecycle: rule checks, PENDING → LIVE → CLOSED, the
 * increment table and the next minimum, and the authoritative close.
 *
 * Invariants: status only moves forward; once CLOSED nothing changes and
 * closing again answers the recorded outcome; price and leader are those
 * of the bid with the highest seq (0 without bids). Pure: no I/O, and the
 * only time is the now_us callers pass.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "lot.h"
#include "lot_int.h"

/* bid_id = lot_id * 2^20 + seq must fit an int64. */
#define LOT_MAX_ID (INT64_MAX >> 20)

int lot__why(int rc, char *why, size_t whylen, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int64_t lot__add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int check_bands(const lot_rules *r, char *why, size_t whylen)
{
    if (r->nbands < 1 || r->nbands > LOT_MAX_BANDS)
        return lot__why(LOT_E_INVALID, why, whylen, "increments: between 1 and %d bands, got %d",
                        LOT_MAX_BANDS, r->nbands);
    if (r->bands[0].from != 0)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "increments: the first band must start from 0, not %" PRId64,
                        r->bands[0].from);
    for (int i = 0; i < r->nbands; i++) {
        if (r->bands[i].increment <= 0)
            return lot__why(LOT_E_INVALID, why, whylen,
                            "increments[%d].increment must be positive, got %" PRId64, i,
                            r->bands[i].increment);
        if (i > 0 && r->bands[i].from <= r->bands[i - 1].from)
            return lot__why(LOT_E_INVALID, why, whylen,
                            "increments[%d].from %" PRId64 " must be above the previous band's %"
                            PRId64, i, r->bands[i].from, r->bands[i - 1].from);
    }
    return LOT_OK;
}

static int check_prices(const lot_rules *r, char *why, size_t whylen)
{
    if (r->start_price <= 0)
        return lot__why(LOT_E_INVALID, why, whylen, "start_price must be positive, got %" PRId64,
                        r->start_price);
    if (r->reserve_price < 0 || (r->reserve_price > 0 && r->reserve_price < r->start_price))
        return lot__why(LOT_E_INVALID, why, whylen,
                        "reserve_price %" PRId64 " must be 0 (none) or ≥ start_price %" PRId64,
                        r->reserve_price, r->start_price);
    if (r->buy_now_price < 0 || (r->buy_now_price > 0 && r->buy_now_price < r->start_price))
        return lot__why(LOT_E_INVALID, why, whylen,
                        "buy_now_price %" PRId64 " must be 0 (none) or ≥ start_price %" PRId64,
                        r->buy_now_price, r->start_price);
    if (r->buy_now_price > 0 && r->reserve_price > 0 && r->buy_now_price <= r->reserve_price)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "buy_now_price %" PRId64 " must be above reserve_price %" PRId64,
                        r->buy_now_price, r->reserve_price);
    return LOT_OK;
}

int lot_rules_check(const lot_rules *r, char *why, size_t whylen)
{
    if (r->lot_id <= 0 || r->lot_id > LOT_MAX_ID)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "lot_id must be between 1 and %" PRId64 ", got %" PRId64, LOT_MAX_ID,
                        r->lot_id);
    if (r->seller_id <= 0)
        return lot__why(LOT_E_INVALID, why, whylen, "seller_id must be positive, got %" PRId64,
                        r->seller_id);
    for (int i = 0; i < 3; i++)
        if (r->currency[i] < 'A' || r->currency[i] > 'Z')
            return lot__why(LOT_E_INVALID, why, whylen,
                            "currency must be three upper-case letters (ISO 4217)");
    if (r->currency[3] != '\0')
        return lot__why(LOT_E_INVALID, why, whylen,
                        "currency must be three upper-case letters (ISO 4217)");
    int rc = check_prices(r, why, whylen);
    if (rc == LOT_OK)
        rc = check_bands(r, why, whylen);
    if (rc != LOT_OK)
        return rc;
    if (r->venue && (r->ends_at_us != 0 || r->soft_close_s != 0))
        return lot__why(LOT_E_INVALID, why, whylen,
                        "a venue lot has no fixed end: ends_at_us and "
                        "soft_close_window_seconds must be 0");
    if (!r->venue && r->ends_at_us <= r->starts_at_us)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "ends_at_us %" PRId64 " must be after starts_at_us %" PRId64,
                        r->ends_at_us, r->starts_at_us);
    if (r->soft_close_s < 0 || r->soft_close_s > 3600)
        return lot__why(LOT_E_INVALID, why, whylen,
                        "soft_close_window_seconds must be 0..3600, got %" PRId32,
                        r->soft_close_s);
    if (r->max_extensions < 0 || r->max_extensions > 1000)
        return lot__why(LOT_E_INVALID, why, whylen, "max_extensions must be 0..1000, got %" PRId32,
                        r->max_extensions);
    return LOT_OK;
}

void lot_init(lot *l, const lot_rules *r, int64_t now_us)
{
    memset(l, 0, sizeof *l);
    l->r = *r;
    l->status = LOT_PENDING;
    l->ends_at_us = r->ends_at_us;
    l->next_set_seq = 1;
    lot_tick(l, now_us);
}

void lot_release(lot *l)
{
    free(l->autobids);
    l->autobids = NULL;
    l->nautobids = l->capautobids = 0;
}

void lot_tick(lot *l, int64_t now_us)
{
    if (l->status == LOT_PENDING && now_us >= l->r.starts_at_us)
        l->status = LOT_LIVE;
}

int64_t lot_increment(const lot *l, int64_t p)
{
    int64_t inc = l->r.bands[0].increment;
    for (int i = 1; i < l->r.nbands && l->r.bands[i].from <= p; i++)
        inc = l->r.bands[i].increment;
    return inc;
}

int64_t lot_next_min(const lot *l)
{
    if (l->bid_count == 0)
        return l->r.start_price;
    return lot__add(l->price, lot_increment(l, l->price));
}

bool lot_reserve_met(const lot *l)
{
    return l->r.reserve_price == 0 || (l->bid_count > 0 && l->price >= l->r.reserve_price);
}

int lot__check_open(lot *l, int64_t bidder, int64_t now_us, char *why, size_t whylen)
{
    lot_tick(l, now_us);
    if (l->status == LOT_CLOSED)
        return lot__why(LOT_E_CLOSED, why, whylen, "lot %" PRId64 " is closed", l->r.lot_id);
    if (l->status == LOT_PENDING)
        return lot__why(LOT_E_NOT_LIVE, why, whylen,
                        "lot %" PRId64 " opens for bids at %" PRId64 " (server time %" PRId64 ")",
                        l->r.lot_id, l->r.starts_at_us, now_us);
    if (!l->r.venue && now_us >= l->ends_at_us)
        return lot__why(LOT_E_CLOSED, why, whylen,
                        "lot %" PRId64 " ended at %" PRId64 " (server time %" PRId64 ")",
                        l->r.lot_id, l->ends_at_us, now_us);
    if (bidder <= 0)
        return lot__why(LOT_E_INVALID, why, whylen, "bidder must be positive, got %" PRId64,
                        bidder);
    if (bidder == l->r.seller_id)
        return lot__why(LOT_E_SELLER, why, whylen, "the seller may not bid on their own lot");
    return LOT_OK;
}

/* Closes now: cancelled, or with the result the bids decide. */
static lot_outcome close_now(lot *l, int64_t now_us, bool cancel)
{
    if (cancel)
        l->outcome = LOT_OUTCOME_CANCELLED;
    else if (l->bid_count == 0)
        l->outcome = LOT_OUTCOME_NO_BIDS;
    else if (!lot_reserve_met(l))
        l->outcome = LOT_OUTCOME_RESERVE_NOT_MET;
    else
        l->outcome = LOT_OUTCOME_WINNER;
    l->status = LOT_CLOSED;
    l->closed_at_us = now_us;
    lot__finish_autobids(l);
    return l->outcome;
}

lot_outcome lot_close(lot *l, int64_t now_us, bool cancel)
{
    if (l->status == LOT_CLOSED)
        return l->outcome;
    lot_tick(l, now_us);
    /* A venue lot has no end to reach: only the hammer or a cancel. */
    if (!cancel && (l->r.venue || now_us < l->ends_at_us))
        return LOT_OUTCOME_EXTENDED;
    return close_now(l, now_us, cancel);
}

lot_outcome lot_hammer(lot *l, int64_t now_us)
{
    if (!l->r.venue)
        return lot_close(l, now_us, false);
    if (l->status == LOT_CLOSED)
        return l->outcome;
    lot_tick(l, now_us);
    if (l->status == LOT_PENDING)
        return LOT_OUTCOME_EXTENDED;
    return close_now(l, now_us, false);
}

int lot_fair_warning(lot *l, int64_t now_us, char *why, size_t whylen)
{
    if (!l->r.venue)
        return lot__why(LOT_E_NOT_VENUE, why, whylen, "lot %" PRId64 " is not a venue lot",
                        l->r.lot_id);
    lot_tick(l, now_us);
    if (l->status == LOT_CLOSED)
        return lot__why(LOT_E_CLOSED, why, whylen, "lot %" PRId64 " is closed", l->r.lot_id);
    if (l->status == LOT_PENDING)
        return lot__why(LOT_E_NOT_LIVE, why, whylen, "lot %" PRId64 " is not live yet",
                        l->r.lot_id);
    l->fair_warning_at_us = now_us;
    return LOT_OK;
}
