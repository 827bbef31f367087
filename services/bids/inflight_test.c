/*
 * inflight_test: bids reserving funds on a lot are kept lowest first; a
 * funded bid waits (parks) while a lower one ahead of it is in flight and
 * comes back once that one lands, fails, times out or is passed by the
 * price; a bid that does not beat the highest one in flight is not added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bids.h"
#include "lot_test_util.h"

#define UNTIL AT(100)

static cmd *bid(int64_t bidder, int64_t amount, const char *key)
{
    cmd *c = xcalloc(1, sizeof *c);
    c->kind = CMD_PLACE;
    c->lot_id = T_LOT;
    c->bidder_id = bidder;
    c->amount = amount;
    snprintf(c->key, sizeof c->key, "%s", key);
    return c;
}

static lot_entry *entry(void)
{
    lot_entry *e = xcalloc(1, sizeof *e);
    lot_rules r = test_rules();
    lot_init(&e->eng, &r, AT(0));
    lot_tick(&e->eng, AT(1));
    return e;
}

/* The usual scene: a (100, bidder A) and b (200, bidder B) reserving,
 * in that order, and b's funds back first, so b is parked behind a. */
static void a_then_b_parked(shard *sh, lot_entry *e, cmd **a, cmd **b, int64_t a_until,
                            int64_t b_until)
{
    *a = bid(T_A, 100, "a");
    *b = bid(T_B, 200, "b");
    inflight_add(e, *a, a_until);
    inflight_add(e, *b, b_until);
    inflight_park(sh, e, *b);
}

static void entry_free(lot_entry *e)
{
    inflight_free(e);
    lot_release(&e->eng);
    free(e);
}

static void funded_bids_land_in_the_order_their_checks_passed(void **state)
{
    (void)state;
    shard sh = { 0 };
    lot_entry *e = entry();
    cmd *a = bid(T_A, 100, "a"), *b = bid(T_B, 200, "b"), *c = bid(T_C, 300, "c");
    inflight_add(e, a, UNTIL);
    inflight_add(e, b, UNTIL);
    inflight_add(e, c, UNTIL);
    assert_int_equal(e->ninflight, 3);
    assert_int_equal(inflight_top(e), 300);
    /* c and b come back first: both wait for a */
    assert_true(inflight_blocked(e, c));
    inflight_park(&sh, e, c);
    assert_true(inflight_blocked(e, b));
    inflight_park(&sh, e, b);
    assert_int_equal(sh.nparked, 2);
    assert_int_equal(sh.nparked_lots, 1); /* the lot is listed once for apply_parked */
    assert_null(inflight_unpark(&sh, e, AT(2)));
    assert_false(inflight_blocked(e, a));
    inflight_remove(e, a); /* a lands */
    cmd *next = inflight_unpark(&sh, e, AT(2));
    assert_ptr_equal(next, b); /* b is unblocked; c still waits behind b */
    assert_null(inflight_unpark(&sh, e, AT(2)));
    inflight_remove(e, b);
    assert_ptr_equal(inflight_unpark(&sh, e, AT(2)), c);
    assert_int_equal(sh.nparked, 0);
    free(a);
    free(b);
    free(c);
    entry_free(e);
    free(sh.parked_lots);
}

static void a_bid_not_above_the_top_is_not_added(void **state)
{
    (void)state;
    lot_entry *e = entry();
    cmd *a = bid(T_A, 300, "a"), *b = bid(T_B, 200, "b"), *again = bid(T_A, 300, "a");
    inflight_add(e, a, UNTIL);
    inflight_add(e, b, UNTIL);
    inflight_add(e, again, UNTIL);
    assert_int_equal(e->ninflight, 1);
    assert_true(inflight_has(e, again)); /* same bidder, key and amount */
    cmd *other_amount = bid(T_A, 400, "a");
    assert_false(inflight_has(e, other_amount));
    free(a);
    free(b);
    free(again);
    free(other_amount);
    entry_free(e);
}

static void failed_funds_unblock_the_bids_behind(void **state)
{
    (void)state;
    shard sh = { 0 };
    lot_entry *e = entry();
    cmd *a, *b;
    a_then_b_parked(&sh, e, &a, &b, UNTIL, UNTIL);
    cmd unclaim = *a;
    unclaim.kind = CMD_UNCLAIM;
    inflight_remove(e, &unclaim);
    assert_ptr_equal(inflight_unpark(&sh, e, AT(2)), b);
    free(a);
    free(b);
    entry_free(e);
    free(sh.parked_lots);
}

static void a_silent_bid_times_out(void **state)
{
    (void)state;
    shard sh = { 0 };
    lot_entry *e = entry();
    cmd *a, *b;
    a_then_b_parked(&sh, e, &a, &b, AT(5), AT(50));
    assert_null(inflight_unpark(&sh, e, AT(5)));       /* a may still come */
    assert_ptr_equal(inflight_unpark(&sh, e, AT(6)), b); /* a's deadline passed */
    assert_int_equal(e->ninflight, 1);                  /* b itself is still in flight */
    free(a);
    free(b);
    entry_free(e);
    free(sh.parked_lots);
}

static void a_bid_the_price_passed_leaves(void **state)
{
    (void)state;
    shard sh = { 0 };
    lot_entry *e = entry();
    cmd *a, *b;
    a_then_b_parked(&sh, e, &a, &b, UNTIL, UNTIL);
    lot_effect eff;
    char why[200];
    assert_int_equal(lot_place(&e->eng, T_C, 150, AT(2), &eff, why, sizeof why), LOT_OK);
    assert_ptr_equal(inflight_unpark(&sh, e, AT(2)), b); /* a (100) can only be refused */
    free(a);
    free(b);
    entry_free(e);
    free(sh.parked_lots);
}

static void a_closed_lot_keeps_nothing_in_flight(void **state)
{
    (void)state;
    shard sh = { 0 };
    lot_entry *e = entry();
    cmd *a, *b;
    a_then_b_parked(&sh, e, &a, &b, UNTIL, UNTIL);
    lot_close(&e->eng, AT(3), true); /* cancelled by the house */
    assert_ptr_equal(inflight_unpark(&sh, e, AT(3)), b); /* to be refused: closed */
    assert_int_equal(e->ninflight, 0);
    free(a);
    free(b);
    entry_free(e);
    free(sh.parked_lots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(funded_bids_land_in_the_order_their_checks_passed),
        cmocka_unit_test(a_bid_not_above_the_top_is_not_added),
        cmocka_unit_test(failed_funds_unblock_the_bids_behind),
        cmocka_unit_test(a_silent_bid_times_out),
        cmocka_unit_test(a_bid_the_price_passed_leaves),
        cmocka_unit_test(a_closed_lot_keeps_nothing_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
