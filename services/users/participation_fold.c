/*
 * Folding a batch of bid events into one row per (bidder, lot), so the
 * participation consumer writes a batch with a few set-based statements
 * instead of three per event. Pure: no database, no allocation.
 *
 * What the fold keeps, in event order:
 *  - bids: per (bidder, lot) the count, the highest amount, the first and
 *    last event times (an outbid of a bidder already here only moves the
 *    last time);
 *  - lots: the lot's leader after the batch, the bidder of its last
 *    bid.placed, or 0 when an outbid named that bidder afterwards (the new
 *    leader's bid is then in a later batch);
 *  - outbids: bidders outbid on a lot where the batch holds no bid of
 *    theirs yet, with the latest time; written before the bids, so a later
 *    bid of theirs in the same batch leads again.
 */
#include <stdio.h>

#include "users.h"

static part_bid_row *find_bid(part_batch *b, int64_t user_id, int64_t lot_id)
{
    for (size_t i = 0; i < b->nbids; i++)
        if (b->bids[i].user_id == user_id && b->bids[i].lot_id == lot_id)
            return &b->bids[i];
    return NULL;
}

static part_lot_row *find_lot(part_batch *b, int64_t lot_id)
{
    for (size_t i = 0; i < b->nlots; i++)
        if (b->lots[i].lot_id == lot_id)
            return &b->lots[i];
    return NULL;
}

void part_batch_clear(part_batch *b)
{
    b->nbids = 0;
    b->nlots = 0;
    b->noutbids = 0;
}

bool part_batch_empty(const part_batch *b)
{
    return b->nbids == 0 && b->noutbids == 0;
}

bool part_batch_full(const part_batch *b)
{
    return b->nbids == PART_BATCH_ROWS || b->nlots == PART_BATCH_ROWS ||
           b->noutbids == PART_BATCH_ROWS;
}

void part_batch_bid(part_batch *b, int64_t user_id, int64_t lot_id, const char *currency,
                    int64_t amount, int64_t at_us)
{
    part_bid_row *r = find_bid(b, user_id, lot_id);
    if (r == NULL) {
        r = &b->bids[b->nbids++];
        *r = (part_bid_row){ .user_id = user_id, .lot_id = lot_id, .highest = amount,
                             .first_at_us = at_us, .last_at_us = at_us };
        snprintf(r->currency, sizeof r->currency, "%s", currency);
    } else {
        if (amount > r->highest)
            r->highest = amount;
        if (at_us < r->first_at_us)
            r->first_at_us = at_us;
        if (at_us > r->last_at_us)
            r->last_at_us = at_us;
    }
    r->count++;
    part_lot_row *l = find_lot(b, lot_id);
    if (l == NULL) {
        l = &b->lots[b->nlots++];
        l->lot_id = lot_id;
    }
    l->leader_id = user_id;
}

void part_batch_outbid(part_batch *b, int64_t lot_id, int64_t user_id, int64_t at_us)
{
    part_lot_row *l = find_lot(b, lot_id);
    if (l != NULL && l->leader_id == user_id)
        l->leader_id = 0;
    part_bid_row *r = find_bid(b, user_id, lot_id);
    if (r != NULL) {
        if (at_us > r->last_at_us)
            r->last_at_us = at_us;
        return;
    }
    for (size_t i = 0; i < b->noutbids; i++) {
        part_outbid_row *o = &b->outbids[i];
        if (o->user_id == user_id && o->lot_id == lot_id) {
            if (at_us > o->at_us)
                o->at_us = at_us;
            return;
        }
    }
    b->outbids[b->noutbids++] = (part_outbid_row){ lot_id, user_id, at_us };
}

int64_t part_batch_leader(const part_batch *b, int64_t lot_id)
{
    for (size_t i = 0; i < b->nlots; i++)
        if (b->lots[i].lot_id == lot_id)
            return b->lots[i].leader_id;
    return 0;
}
