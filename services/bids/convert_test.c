/*
 * Engine state to gavel.bids.v1 messages: what LotState shows with and
 * without bids, the reserve and buy-now flags, closed lots, and that bids
 * and states own copies of their hashes (the worker keeps changing the
 * lot after a message was built from it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bids.h"

#define NOW 1700000000000000LL

/* A live EUR lot from 1000 with increments 100, then 250 from 2000. */
static lot lot_fixture(void)
{
    lot l;
    memset(&l, 0, sizeof l);
    l.r = (lot_rules){
        .lot_id = 42, .seller_id = 9, .currency = "EUR", .start_price = 1000,
        .bands = { { .from = 0, .increment = 100 }, { .from = 2000, .increment = 250 } },
        .nbands = 2, .starts_at_us = NOW - 60000000, .ends_at_us = NOW + 60000000,
        .soft_close_s = 120, .max_extensions = 5,
    };
    l.status = LOT_LIVE;
    l.ends_at_us = l.r.ends_at_us;
    return l;
}

/* Gives l n bids, the last by leader at price, with a patterned head hash. */
static void with_bids(lot *l, int64_t n, int64_t leader, int64_t price)
{
    l->bid_count = n;
    l->seq = n;
    l->leader_id = leader;
    l->price = price;
    for (int i = 0; i < LOT_HASH_LEN; i++)
        l->head_hash[i] = (uint8_t)(0xa0 + i);
}

static void state_without_bids_has_no_price_and_asks_the_start_price(void **state)
{
    (void)state;
    arena *a = arena_new();
    lot l = lot_fixture();
    Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW);
    assert_int_equal(s->lot_id, 42);
    assert_int_equal(s->status, GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_LIVE);
    assert_null(s->current_price);
    assert_int_equal(s->leader_id, 0);
    assert_int_equal(s->bid_count, 0);
    assert_non_null(s->next_min_bid);
    assert_string_equal(s->next_min_bid->currency, "EUR");
    assert_int_equal(s->next_min_bid->units, 1000);
    assert_int_equal(s->seq, 0);
    assert_int_equal(s->head_hash.len, 0);
    assert_false(s->reserve_met); /* no reserve, but no bid either */
    assert_int_equal(s->server_time_us, NOW);
    assert_int_equal(s->starts_at_us, l.r.starts_at_us);
    assert_int_equal(s->ends_at_us, l.ends_at_us);
    assert_int_equal(s->max_extensions, 5);
    assert_int_equal(s->soft_close_window_seconds, 120);
    assert_int_equal(s->outcome, GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_UNSPECIFIED);
    arena_free(a);
}

static void state_with_bids_shows_price_leader_and_a_copied_head(void **state)
{
    (void)state;
    arena *a = arena_new();
    lot l = lot_fixture();
    with_bids(&l, 3, 7, 1500);
    l.ends_at_us += 120000000;
    l.extensions_used = 1;
    Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW);
    assert_non_null(s->current_price);
    assert_string_equal(s->current_price->currency, "EUR");
    assert_int_equal(s->current_price->units, 1500);
    assert_int_equal(s->leader_id, 7);
    assert_int_equal(s->bid_count, 3);
    assert_int_equal(s->seq, 3);
    assert_int_equal(s->next_min_bid->units, 1600);
    assert_int_equal(s->ends_at_us, l.ends_at_us);
    assert_int_equal(s->extensions_used, 1);
    assert_int_equal(s->head_hash.len, LOT_HASH_LEN);
    assert_memory_equal(s->head_hash.data, l.head_hash, LOT_HASH_LEN);
    memset(l.head_hash, 0, sizeof l.head_hash); /* the worker moves on */
    assert_int_equal(s->head_hash.data[0], 0xa0);
    arena_free(a);
}

static void reserve_and_buy_now_flags_follow_the_rules(void **state)
{
    (void)state;
    static const struct {
        int64_t reserve, buy_now, bids, price;
        bool has_reserve, reserve_met;
        int64_t next_min;
    } cases[] = {
        { .reserve = 0, .bids = 0, .has_reserve = false, .reserve_met = false, .next_min = 1000 },
        { .reserve = 0, .bids = 1, .price = 1000, .reserve_met = true, .next_min = 1100 },
        { .reserve = 2000, .bids = 2, .price = 1900, .has_reserve = true, .reserve_met = false,
          .next_min = 2000 },
        { .reserve = 2000, .bids = 3, .price = 2000, .has_reserve = true, .reserve_met = true,
          .next_min = 2250 },
        { .reserve = 2000, .buy_now = 5000, .bids = 0, .has_reserve = true, .next_min = 1000 },
        { .buy_now = 5000, .bids = 1, .price = 2500, .reserve_met = true, .next_min = 2750 },
    };
    arena *a = arena_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot l = lot_fixture();
        l.r.reserve_price = cases[i].reserve;
        l.r.buy_now_price = cases[i].buy_now;
        if (cases[i].bids > 0)
            with_bids(&l, cases[i].bids, 7, cases[i].price);
        Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW);
        assert_int_equal(s->has_reserve, cases[i].has_reserve);
        assert_int_equal(s->reserve_met, cases[i].reserve_met);
        assert_int_equal(s->next_min_bid->units, cases[i].next_min);
        if (cases[i].buy_now > 0) {
            assert_non_null(s->buy_now_price);
            assert_string_equal(s->buy_now_price->currency, "EUR");
            assert_int_equal(s->buy_now_price->units, cases[i].buy_now);
        } else {
            assert_null(s->buy_now_price);
        }
    }
    arena_free(a);
}

static void closed_lot_has_an_outcome_and_no_next_minimum(void **state)
{
    (void)state;
    static const struct {
        lot_outcome in;
        Gavel__Bids__V1__CloseOutcome want;
        int64_t bids;
    } cases[] = {
        { .in = LOT_OUTCOME_WINNER, .bids = 2,
          .want = GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CLOSED_WITH_WINNER },
        { .in = LOT_OUTCOME_NO_BIDS, .bids = 0,
          .want = GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CLOSED_NO_BIDS },
        { .in = LOT_OUTCOME_RESERVE_NOT_MET, .bids = 1,
          .want = GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_RESERVE_NOT_MET },
        { .in = LOT_OUTCOME_CANCELLED, .bids = 1,
          .want = GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_CANCELLED },
    };
    arena *a = arena_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot l = lot_fixture();
        if (cases[i].bids > 0)
            with_bids(&l, cases[i].bids, 7, 1200);
        l.status = LOT_CLOSED;
        l.outcome = cases[i].in;
        l.closed_at_us = NOW;
        Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW + 1);
        assert_int_equal(s->status, GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_CLOSED);
        assert_int_equal(s->outcome, cases[i].want);
        assert_null(s->next_min_bid);
        assert_int_equal(s->current_price != NULL, cases[i].bids > 0);
        assert_int_equal(s->server_time_us, NOW + 1);
    }
    arena_free(a);
}

static void pending_lot_is_pending_and_asks_the_start_price(void **state)
{
    (void)state;
    arena *a = arena_new();
    lot l = lot_fixture();
    l.status = LOT_PENDING;
    Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW);
    assert_int_equal(s->status, GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_PENDING);
    assert_int_equal(s->next_min_bid->units, 1000);
    arena_free(a);
}

static void bid_copies_every_field_and_both_hashes(void **state)
{
    (void)state;
    arena *a = arena_new();
    lot_bid b = {
        .lot_id = 42, .seq = 2, .bid_id = 42 * (1LL << 20) + 2, .bidder_id = 7,
        .amount = 1100, .placed_at_us = NOW, .is_autobid = true,
    };
    for (int i = 0; i < LOT_HASH_LEN; i++) {
        b.prev_hash[i] = (uint8_t)i;
        b.hash[i] = (uint8_t)(0xff - i);
    }
    Gavel__Bids__V1__Bid *m = bid_to_proto(a, &b, "EUR");
    assert_int_equal(m->lot_id, 42);
    assert_int_equal(m->seq, 2);
    assert_int_equal(m->bid_id, b.bid_id);
    assert_int_equal(m->bidder_id, 7);
    assert_string_equal(m->amount->currency, "EUR");
    assert_int_equal(m->amount->units, 1100);
    assert_int_equal(m->placed_at_us, NOW);
    assert_true(m->is_autobid);
    assert_int_equal(m->prev_hash.len, LOT_HASH_LEN);
    assert_int_equal(m->hash.len, LOT_HASH_LEN);
    assert_memory_equal(m->prev_hash.data, b.prev_hash, LOT_HASH_LEN);
    assert_memory_equal(m->hash.data, b.hash, LOT_HASH_LEN);
    assert_ptr_not_equal(m->hash.data, b.hash);
    memset(&b, 0, sizeof b); /* the source may go away */
    assert_int_equal(m->hash.data[0], 0xff);
    assert_int_equal(m->prev_hash.data[31], 31);
    arena_free(a);
}

static void packed_state_unpacks_to_the_same_fields(void **state)
{
    (void)state;
    arena *a = arena_new();
    lot l = lot_fixture();
    with_bids(&l, 4, 11, 2000);
    Gavel__Bids__V1__LotState *s = state_to_proto(a, &l, NOW);
    size_t len = 0;
    uint8_t *buf = pack_new(&s->base, &len);
    assert_true(len > 0);
    Gavel__Bids__V1__LotState *u = gavel__bids__v1__lot_state__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->lot_id, 42);
    assert_int_equal(u->leader_id, 11);
    assert_int_equal(u->current_price->units, 2000);
    assert_int_equal(u->next_min_bid->units, 2250);
    assert_memory_equal(u->head_hash.data, l.head_hash, LOT_HASH_LEN);
    gavel__bids__v1__lot_state__free_unpacked(u, NULL);
    free(buf);
    arena_free(a);
}

int main(void)
{
    log_init("bids-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_without_bids_has_no_price_and_asks_the_start_price),
        cmocka_unit_test(state_with_bids_shows_price_leader_and_a_copied_head),
        cmocka_unit_test(reserve_and_buy_now_flags_follow_the_rules),
        cmocka_unit_test(closed_lot_has_an_outcome_and_no_next_minimum),
        cmocka_unit_test(pending_lot_is_pending_and_asks_the_start_price),
        cmocka_unit_test(bid_copies_every_field_and_both_hashes),
        cmocka_unit_test(packed_state_unpacks_to_the_same_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
