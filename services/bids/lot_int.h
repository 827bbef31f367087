/*
 * Internals of the bidding engine shared by lot.c, lot_log.c, lot_place.c
 * and autobid.c; never included outside them.
 *
 * Every command plans first and changes the lot only once the whole plan
 * is known to fit (refusals change nothing): a lot__plan lists the bids
 * the command will record, in order, and lot__apply records them.
 */
#ifndef GAVEL_BIDS_LOT_INT_H
#define GAVEL_BIDS_LOT_INT_H

#include "lot.h"

typedef struct {
    int64_t bidder;
    int64_t amount;
    bool is_autobid;
    int32_t floor_paddle;    /* venue lots only */
    int64_t media_time_us;
} lot__step;

typedef struct {
    lot__step steps[LOT_MAX_EFFECT_BIDS];
    size_t n;
} lot__plan;

/* Writes a message for the caller into why (if any); returns rc. */
int lot__why(int rc, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* a + b for b ≥ 0, saturating at INT64_MAX (amounts near the top of the
 * range must not wrap into negative prices). */
int64_t lot__add(int64_t a, int64_t b);

/* Ticks, then refuses unless bidder may act on a live lot at now:
 * LOT_E_NOT_LIVE, LOT_E_CLOSED (closed or past its end), LOT_E_INVALID
 * (bidder ≤ 0), LOT_E_SELLER. */
int lot__check_open(lot *l, int64_t bidder, int64_t now_us, char *why, size_t whylen);

/* Appends a step; more than LOT_MAX_EFFECT_BIDS is a broken invariant. */
void lot__plan_add(lot__plan *p, int64_t bidder, int64_t amount, bool is_autobid);

/* LOT_E_CLOSED when n more bids would take seq past LOT_MAX_SEQ. */
int lot__check_room(const lot *l, size_t n, char *why, size_t whylen);

/* Records the plan's bids at now into the chain and into eff->bids. */
void lot__apply(lot *l, const lot__plan *p, int64_t now_us, lot_effect *eff);

/* After an accepted command: exhausts autobids that can no longer lead,
 * fills eff's outbid list and caller_leads, and extends on soft close if
 * the leader changed from leader_before. */
void lot__finish(lot *l, int64_t leader_before, int64_t caller, int64_t now_us,
                 lot_effect *eff);

/* The most an autobid of max may bid: max, but below buy-now. */
int64_t lot__ceiling(const lot *l, int64_t max);

/* Deactivates the autobids that can never bid again (their owner does not
 * lead and their ceiling is at or below the price); true if any changed. */
bool lot__exhaust(lot *l);

/* Deactivates every active autobid as FINISHED (the lot closed); true if
 * any changed. */
bool lot__finish_autobids(lot *l);

/* The bids competing autobids place after a manual bid of amount by
 * caller (already in p, not yet applied), appended to p. */
void lot__respond(const lot *l, int64_t caller, int64_t amount, lot__plan *p);

#endif
