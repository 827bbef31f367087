/*
 * view_test: a PlaceBid is refused from the lot's view only when the
 * shard would refuse it as placed by the leader or as too low, in the
 * engine's words; every case the shard must judge (a retry, the seller,
 * another currency, a buy-now, a bid of the caller in flight, a passed
 * deadline, an ended or unknown lot) is left to it.
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

#define IA GRPC_STATUS_INVALID_ARGUMENT
#define FP GRPC_STATUS_FAILED_PRECONDITION
#define T_D 14 /* a bidder with no bid on the lot */

static char why[256];

/* The verdict for bidder's bid of amount (EUR) with key. */
static int verdict(int64_t bidder, const char *key, int64_t amount)
{
    why[0] = '\0';
    return view_refuse_stale(T_LOT, bidder, key, "EUR", amount, why, sizeof why);
}

/* A live lot (eBay increments, start 100) that ends in an hour; buy_now
 * may be 0. */
static lot_entry *open_lot(int64_t buy_now, int64_t ends_in_s)
{
    int64_t now = now_us();
    lot_rules r = test_rules();
    r.starts_at_us = now - 1000000;
    r.ends_at_us = now + ends_in_s * 1000000;
    r.buy_now_price = buy_now;
    shard *sh = worker_shard_of(T_LOT);
    lot_entry *e = shard_add(sh, T_LOT);
    lot_init(&e->eng, &r, now);
    lot_tick(&e->eng, now);
    view_publish(sh, e);
    return e;
}

static void place(lot_entry *e, int64_t bidder, int64_t amount)
{
    lot_effect eff;
    char err[200];
    assert_int_equal(lot_place(&e->eng, bidder, amount, now_us(), &eff, err, sizeof err), LOT_OK);
    view_publish(worker_shard_of(T_LOT), e);
}

static void in_flight(lot_entry *e, int64_t bidder, int64_t amount, int64_t until_us)
{
    cmd c = { .kind = CMD_PLACE, .lot_id = T_LOT, .bidder_id = bidder, .amount = amount };
    snprintf(c.key, sizeof c.key, "f%lld", (long long)amount);
    inflight_add(e, &c, until_us);
    view_publish(worker_shard_of(T_LOT), e);
}

static int setup(void **state)
{
    (void)state;
    bids.shards = 1;
    bids.instances = 1;
    rpc_metrics_register(bids_metrics);
    return workers_start();
}

static int teardown(void **state)
{
    (void)state;
    workers_free();
    return 0;
}

static void too_low_is_refused_in_the_shards_words(void **state)
{
    (void)state;
    lot_entry *e = open_lot(0, 3600);
    assert_int_equal(verdict(T_A, "a1", 50), IA);
    assert_string_equal(why, "amount must be ≥ the start price 100, got 50");
    assert_int_equal(verdict(T_A, "a1", 100), 0);
    place(e, T_A, 100);
    assert_int_equal(verdict(T_B, "b1", 100), IA);
    assert_string_equal(why, "amount must be ≥ 125 (current 100 + increment 25), got 100");
    assert_int_equal(verdict(T_B, "b1", 125), 0);
    assert_int_equal(verdict(T_SELLER, "s1", 50), 0); /* PERMISSION_DENIED, from the shard */
    assert_int_equal(view_refuse_stale(T_LOT, T_B, "b1", "USD", 50, why, sizeof why), 0);
    assert_int_equal(view_refuse_stale(T_LOT + 1, T_B, "b1", "EUR", 50, why, sizeof why), 0);
}

static void a_known_key_goes_to_the_shard(void **state)
{
    (void)state;
    lot_entry *e = open_lot(0, 3600);
    place(e, T_A, 100);
    req_add(worker_shard_of(T_LOT), e, T_A, "a1", "hash");
    place(e, T_B, 125);
    assert_int_equal(verdict(T_A, "a1", 100), 0); /* its first answer, from the shard */
    assert_int_equal(verdict(T_A, "a2", 100), IA);
    assert_int_equal(verdict(T_C, "a1", 100), IA); /* keys are the caller's own */
}

static void bids_in_flight_raise_the_minimum_until_their_deadline(void **state)
{
    (void)state;
    lot_entry *e = open_lot(0, 3600);
    place(e, T_A, 100);
    in_flight(e, T_B, 200, now_us() + 60000000);
    assert_int_equal(verdict(T_C, "c1", 150), IA);
    assert_string_equal(why, "amount must be ≥ 225: a bid of 200 is being placed");
    assert_int_equal(verdict(T_C, "c1", 225), 0);
    assert_int_equal(verdict(T_B, "b2", 150), 0); /* B's own bid in flight: the shard */
    in_flight(e, T_C, 300, now_us() - 1);         /* a deadline passed: the shard prunes */
    assert_int_equal(verdict(T_D, "d9", 110), 0);
}

/* Issue 14: the rule holds on the view's path too, before "too low". */
static void the_leader_is_refused_in_the_engines_words(void **state)
{
    (void)state;
    lot_entry *e = open_lot(5000, 3600);
    place(e, T_A, 100);
    req_add(worker_shard_of(T_LOT), e, T_A, "won", "hash");
    char engine[256];
    lot_effect eff;
    assert_int_equal(lot_place(&e->eng, T_A, 125, now_us(), &eff, engine, sizeof engine),
                     LOT_E_LEADING);
    static const struct { const char *key; int64_t amount; int want; } cases[] = {
        { .key = "a2", .amount = 50, .want = FP },    /* below the minimum */
        { .key = "a2", .amount = 125, .want = FP },   /* at it */
        { .key = "a2", .amount = 4999, .want = FP },
        { .key = "won", .amount = 100, .want = 0 },   /* the winning bid's retry */
        { .key = "a2", .amount = 5000, .want = 0 },   /* buys now: the shard */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = verdict(T_A, cases[i].key, cases[i].amount);
        if (got != cases[i].want || (got == FP && strcmp(why, engine) != 0))
            fail_msg("%s at %lld: %d \"%s\", want %d \"%s\"", cases[i].key,
                     (long long)cases[i].amount, got, why, cases[i].want, engine);
    }
    assert_string_equal(engine, "you already lead lot 7 at 100 EUR; to bid higher, raise your "
                                "maximum with SetAutoBid");
    place(e, T_B, 600);                            /* outbid: too low applies again */
    assert_int_equal(verdict(T_A, "a4", 600), IA);
    assert_int_equal(verdict(T_B, "b1", 700), FP);
    assert_non_null(strstr(why, "you already lead lot 7 at 600 EUR"));
    in_flight(e, T_B, 700, now_us() + 60000000);   /* the leader's own bid reserving */
    assert_int_equal(verdict(T_B, "b2", 50), 0);
}

static void buy_now_ended_and_pending_lots_go_to_the_shard(void **state)
{
    (void)state;
    lot_entry *e = open_lot(110, 3600);
    place(e, T_A, 100);
    assert_int_equal(verdict(T_B, "b1", 105), IA);
    assert_int_equal(verdict(T_B, "b1", 115), 0); /* buys the lot, below the minimum */
    workers_free();
    assert_int_equal(workers_start(), 0);
    e = open_lot(0, 0); /* ends now */
    assert_int_equal(verdict(T_B, "b1", 50), 0);
    workers_free();
    assert_int_equal(workers_start(), 0);
    e = open_lot(0, 3600);
    e->eng.status = LOT_PENDING;
    view_publish(worker_shard_of(T_LOT), e);
    assert_int_equal(verdict(T_B, "b1", 50), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(too_low_is_refused_in_the_shards_words, setup, teardown),
        cmocka_unit_test_setup_teardown(a_known_key_goes_to_the_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(bids_in_flight_raise_the_minimum_until_their_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_leader_is_refused_in_the_engines_words, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(buy_now_ended_and_pending_lots_go_to_the_shard, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
