/*
 * The lot's bid log: recording accepted bids into the hash chain, and
 * replaying persisted ones after a restart.
 *
 * Invariants: seq runs 1, 2, 3 … without gaps up to LOT_MAX_SEQ; bid_id is
 * lot_id * 2^20 + seq, so it is the same after a rebuild; each bid's
 * prev_hash is the hash of bid seq-1 (zeros for seq 1), and head_hash is
 * the hash of the last bid. The hashed bytes are the 84 (96 on a venue
 * lot) documented in proto/gavel/bids/v1/bids.proto, so clients can
 * verify the chain.
 */
#include <inttypes.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/core.h"
#include "lot.h"
#include "lot_int.h"

#define LOT_HASHED_LEN 84
#define LOT_HASHED_LEN_VENUE 96 /* + floor_paddle (4) + media_time_us (8) */

static uint8_t *put_be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
    return p + 8;
}

void lot_bid_hash(lot_bid *b, const char currency[4], bool venue)
{
    uint8_t buf[LOT_HASHED_LEN_VENUE];
    uint8_t *p = buf;
    memcpy(p, b->prev_hash, LOT_HASH_LEN);
    p += LOT_HASH_LEN;
    p = put_be64(p, b->lot_id);
    p = put_be64(p, b->seq);
    p = put_be64(p, b->bid_id);
    p = put_be64(p, b->bidder_id);
    p = put_be64(p, b->amount);
    memcpy(p, currency, 3);
    p += 3;
    p = put_be64(p, b->placed_at_us);
    *p++ = b->is_autobid ? 1 : 0;
    if (venue) {
        uint32_t paddle = (uint32_t)b->floor_paddle;
        for (int i = 3; i >= 0; i--) {
            p[i] = (uint8_t)(paddle & 0xff);
            paddle >>= 8;
        }
        p = put_be64(p + 4, b->media_time_us);
    }
    size_t want = venue ? LOT_HASHED_LEN_VENUE : LOT_HASHED_LEN;
    if ((size_t)(p - buf) != want)
        panic("lot_bid_hash: laid out %zu bytes, not %zu", (size_t)(p - buf), want);
    SHA256(buf, want, b->hash);
}

void lot__plan_add(lot__plan *p, int64_t bidder, int64_t amount, bool is_autobid)
{
    if (p->n >= LOT_MAX_EFFECT_BIDS)
        panic("lot: a command planned more than %d bids", LOT_MAX_EFFECT_BIDS);
    p->steps[p->n++] = (lot__step){ .bidder = bidder, .amount = amount, .is_autobid = is_autobid };
}

int lot__check_room(const lot *l, size_t n, char *why, size_t whylen)
{
    if (l->seq + (int64_t)n > LOT_MAX_SEQ)
        return lot__why(LOT_E_CLOSED, why, whylen,
                        "lot %" PRId64 " has taken its maximum of %d bids", l->r.lot_id,
                        LOT_MAX_SEQ);
    return LOT_OK;
}

/* Applies b to the lot's head: the one place price and leader move. */
static void take_bid(lot *l, const lot_bid *b)
{
    l->seq = b->seq;
    l->bid_count = b->seq;
    l->price = b->amount;
    l->leader_id = b->bidder_id;
    l->leader_floor_paddle = b->floor_paddle;
    l->fair_warning_at_us = 0; /* every accepted bid answers the last call */
    memcpy(l->head_hash, b->hash, LOT_HASH_LEN);
}

void lot__apply(lot *l, const lot__plan *p, int64_t now_us, lot_effect *eff)
{
    for (size_t i = 0; i < p->n; i++) {
        lot_bid *b = &eff->bids[eff->nbids++];
        memset(b, 0, sizeof *b);
        b->lot_id = l->r.lot_id;
        b->seq = l->seq + 1;
        b->bid_id = (int64_t)((uint64_t)l->r.lot_id << 20) + b->seq;
        b->bidder_id = p->steps[i].bidder;
        b->amount = p->steps[i].amount;
        b->placed_at_us = now_us;
        b->is_autobid = p->steps[i].is_autobid;
        if (l->r.venue) {
            b->floor_paddle = p->steps[i].floor_paddle;
            b->media_time_us = p->steps[i].media_time_us;
        }
        if (b->seq > 1)
            memcpy(b->prev_hash, l->head_hash, LOT_HASH_LEN);
        lot_bid_hash(b, l->r.currency, l->r.venue);
        take_bid(l, b);
    }
}

void lot_replay_bid(lot *l, const lot_bid *b)
{
    take_bid(l, b);
    if (l->status != LOT_CLOSED && l->r.buy_now_price > 0 && b->amount >= l->r.buy_now_price) {
        l->status = LOT_CLOSED;
        l->outcome = LOT_OUTCOME_WINNER;
        l->closed_at_us = b->placed_at_us;
        lot__finish_autobids(l);
    }
}
