/*
 * Engine structs (lot.h) to gavel.bids.v1 messages. Everything a message
 * points to, strings and hashes included, is copied into the caller's
 * arena, so a message stays valid after the worker changes or frees the
 * lot it came from: answers are packed on the worker thread but streams
 * and waiters outlive that moment. The engine's status and outcome enums
 * mirror the proto values one to one (checked at compile time below).
 */
#include <string.h>

#include "bids.h"

_Static_assert((int)LOT_PENDING == GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_PENDING &&
                   (int)LOT_LIVE == GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_LIVE &&
                   (int)LOT_CLOSED == GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_CLOSED,
               "lot_status must mirror gavel.bids.v1.LotStatus");
_Static_assert(
    (int)LOT_OUTCOME_NONE == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_UNSPECIFIED &&
        (int)LOT_OUTCOME_WINNER ==
            GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CLOSED_WITH_WINNER &&
        (int)LOT_OUTCOME_NO_BIDS == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CLOSED_NO_BIDS &&
        (int)LOT_OUTCOME_RESERVE_NOT_MET ==
            GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_RESERVE_NOT_MET &&
        (int)LOT_OUTCOME_EXTENDED == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_EXTENDED &&
        (int)LOT_OUTCOME_CANCELLED == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CANCELLED,
    "lot_outcome must mirror gavel.bids.v1.CloseOutcome");

/* A 32-byte hash as proto bytes, copied into the arena. */
static ProtobufCBinaryData hash_copy(arena *a, const uint8_t h[LOT_HASH_LEN])
{
    uint8_t *p = arena_alloc(a, LOT_HASH_LEN);
    memcpy(p, h, LOT_HASH_LEN);
    return (ProtobufCBinaryData){ .len = LOT_HASH_LEN, .data = p };
}

Gavel__Bids__V1__LotState *state_to_proto(arena *a, const lot *l, int64_t now_us)
{
    Gavel__Bids__V1__LotState *s = arena_alloc(a, sizeof *s);
    gavel__bids__v1__lot_state__init(s);
    const char *cur = l->r.currency;
    bool has_bids = l->bid_count > 0;

    s->lot_id = l->r.lot_id;
    s->status = (Gavel__Bids__V1__LotStatus)l->status;
    /* The contract leaves current_price unset until the first bid. */
    if (has_bids)
        s->current_price = check_money_new(a, cur, l->price);
    s->leader_id = l->leader_id;
    s->bid_count = l->bid_count;
    if (l->status != LOT_CLOSED)
        s->next_min_bid = check_money_new(a, cur, lot_next_min(l));
    s->starts_at_us = l->r.starts_at_us;
    s->ends_at_us = l->ends_at_us;
    s->extensions_used = l->extensions_used;
    s->max_extensions = l->r.max_extensions;
    s->has_reserve = l->r.reserve_price > 0;
    s->reserve_met = has_bids && lot_reserve_met(l);
    if (l->r.buy_now_price > 0)
        s->buy_now_price = check_money_new(a, cur, l->r.buy_now_price);
    s->outcome = (Gavel__Bids__V1__CloseOutcome)l->outcome;
    s->server_time_us = now_us;
    s->seq = l->seq;
    if (has_bids)
        s->head_hash = hash_copy(a, l->head_hash);
    s->soft_close_window_seconds = l->r.soft_close_s;
    s->venue = l->r.venue;
    s->leader_floor_paddle = l->leader_floor_paddle;
    s->fair_warning_at_us = l->fair_warning_at_us;
    return s;
}

Gavel__Bids__V1__Bid *bid_to_proto(arena *a, const lot_bid *b, const char *currency)
{
    Gavel__Bids__V1__Bid *m = arena_alloc(a, sizeof *m);
    gavel__bids__v1__bid__init(m);
    m->lot_id = b->lot_id;
    m->seq = b->seq;
    m->bid_id = b->bid_id;
    m->bidder_id = b->bidder_id;
    m->amount = check_money_new(a, currency, b->amount);
    m->placed_at_us = b->placed_at_us;
    m->is_autobid = b->is_autobid;
    m->prev_hash = hash_copy(a, b->prev_hash);
    m->hash = hash_copy(a, b->hash);
    m->floor_paddle = b->floor_paddle;
    m->media_time_us = b->media_time_us;
    return m;
}

uint8_t *pack_new(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n);
    size_t packed = protobuf_c_message_pack(m, buf);
    if (packed != n)
        panic("%s packed to %zu bytes, expected %zu", m->descriptor->name, packed, n);
    *len = n;
    return buf;
}
