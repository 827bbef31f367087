/*
 * lot_test: the rules of one lot without autobids — rule checks naming the
 * bad field, increments at band boundaries, the next minimum, manual bids
 * below/at/above it, who and when may bid (not the leader, except to buy
 * now), buy-now, and every close outcome. Refusals are checked to change
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lot.h"
#include "lot_test_util.h"

/* One field of lot_rules overwritten with an invalid value. */
typedef struct {
    const char *name;
    size_t off;
    int width;          /* 8: int64_t, 4: int32_t or int */
    int64_t v;
    const char *currency; /* instead, when set */
    const char *want;   /* must appear in the refusal message */
} rule_case;

#define F64(f, val) .off = offsetof(lot_rules, f), .width = 8, .v = (val)
#define F32(f, val) .off = offsetof(lot_rules, f), .width = 4, .v = (val)

static const rule_case rule_cases[] = {
    { .name = "lot id zero", F64(lot_id, 0), .want = "lot_id" },
    { .name = "lot id too large for bid ids", F64(lot_id, INT64_MAX >> 19), .want = "lot_id" },
    { .name = "seller missing", F64(seller_id, 0), .want = "seller_id" },
    { .name = "currency lower case", .currency = "eur", .want = "currency" },
    { .name = "currency too short", .currency = "EU", .want = "currency" },
    { .name = "currency too long", .currency = "EURO", .want = "currency" },
    { .name = "start price zero", F64(start_price, 0), .want = "start_price" },
    { .name = "start price negative", F64(start_price, -5), .want = "start_price" },
    { .name = "reserve below start", F64(reserve_price, 99), .want = "reserve_price" },
    { .name = "reserve negative", F64(reserve_price, -1), .want = "reserve_price" },
    { .name = "buy-now below start", F64(buy_now_price, 50), .want = "buy_now_price" },
    { .name = "buy-now negative", F64(buy_now_price, -1), .want = "buy_now_price" },
    { .name = "no bands", F32(nbands, 0), .want = "increments" },
    { .name = "too many bands", F32(nbands, LOT_MAX_BANDS + 1), .want = "increments" },
    { .name = "first band not from 0", F64(bands[0].from, 1), .want = "first band" },
    { .name = "zero increment", F64(bands[3].increment, 0), .want = "increments[3].increment" },
    { .name = "negative increment", F64(bands[0].increment, -5), .want = "increments[0]" },
    { .name = "bands unsorted", F64(bands[2].from, 100), .want = "increments[2].from" },
    { .name = "ends at start", F64(ends_at_us, AT(0)), .want = "ends_at_us" },
    { .name = "ends before start", F64(ends_at_us, AT(-1)), .want = "ends_at_us" },
    { .name = "soft close negative", F32(soft_close_s, -1), .want = "soft_close" },
    { .name = "soft close above an hour", F32(soft_close_s, 3601), .want = "soft_close" },
    { .name = "extensions negative", F32(max_extensions, -1), .want = "max_extensions" },
    { .name = "extensions above 1000", F32(max_extensions, 1001), .want = "max_extensions" },
};

static void rules_check_refuses_each_invalid_field_by_name(void **state)
{
    (void)state;
    char why[256];
    lot_rules ok = test_rules();
    assert_int_equal(lot_rules_check(&ok, why, sizeof why), LOT_OK);
    ok.reserve_price = 5000;
    ok.buy_now_price = 5001;
    ok.soft_close_s = 3600;
    ok.max_extensions = 1000;
    assert_int_equal(lot_rules_check(&ok, why, sizeof why), LOT_OK);
    for (size_t i = 0; i < sizeof rule_cases / sizeof rule_cases[0]; i++) {
        const rule_case *c = &rule_cases[i];
        lot_rules r = test_rules();
        if (c->currency != NULL) {
            memset(r.currency, 0, sizeof r.currency);
            memcpy(r.currency, c->currency, strlen(c->currency) > 3 ? 4 : strlen(c->currency));
        } else if (c->width == 8) {
            memcpy((char *)&r + c->off, &c->v, 8);
        } else {
            int32_t v = (int32_t)c->v;
            memcpy((char *)&r + c->off, &v, 4);
        }
        why[0] = '\0';
        if (lot_rules_check(&r, why, sizeof why) != LOT_E_INVALID || !strstr(why, c->want))
            fail_msg("%s: got \"%s\", want LOT_E_INVALID naming %s", c->name, why, c->want);
    }
    lot_rules r = test_rules();
    r.reserve_price = 5000;
    r.buy_now_price = 5000;
    assert_int_equal(lot_rules_check(&r, why, sizeof why), LOT_E_INVALID);
    assert_non_null(strstr(why, "above reserve_price"));
}

static void increment_is_that_of_the_last_band_starting_at_or_below_the_price(void **state)
{
    (void)state;
    static const struct { int64_t price, want; } cases[] = {
        { .price = 0, .want = 5 },        { .price = 99, .want = 5 },
        { .price = 100, .want = 25 },     { .price = 499, .want = 25 },
        { .price = 500, .want = 50 },     { .price = 2499, .want = 50 },
        { .price = 2500, .want = 100 },   { .price = 9999, .want = 100 },
        { .price = 10000, .want = 250 },  { .price = 499999, .want = 5000 },
        { .price = 500000, .want = 10000 }, { .price = INT64_MAX, .want = 10000 },
    };
    lot_rules r = test_rules();
    lot l;
    lot_init(&l, &r, AT(0));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (lot_increment(&l, cases[i].price) != cases[i].want)
            fail_msg("price %lld: increment %lld, want %lld", (long long)cases[i].price,
                     (long long)lot_increment(&l, cases[i].price), (long long)cases[i].want);
    lot_release(&l);
}

static void next_min_is_the_start_then_price_plus_its_increment(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    lot l;
    lot_effect eff;
    lot_init(&l, &r, AT(0));
    assert_int_equal(lot_next_min(&l), 100);
    static const struct { int64_t bid, next; } steps[] = {
        { .bid = 100, .next = 125 },  /* band from 100: +25 */
        { .bid = 495, .next = 520 },  /* still +25 just below 500 */
        { .bid = 520, .next = 570 },  /* band from 500: +50 */
        { .bid = 2499, .next = 2549 },
        { .bid = 2549, .next = 2649 },
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(lot_place(&l, T_A + (int64_t)(i % 2), steps[i].bid, AT(1), &eff, NULL, 0),
                         LOT_OK);
        assert_int_equal(lot_next_min(&l), steps[i].next);
    }
    lot_release(&l);
}

static void manual_bids_below_next_min_are_refused_at_or_above_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t first;   /* 0: no earlier bid */
        int64_t amount;
        int rc;
        const char *want;
    } cases[] = {
        { .name = "below start", .amount = 99, .rc = LOT_E_TOO_LOW,
          .want = "amount must be ≥ the start price 100" },
        { .name = "at start", .amount = 100, .rc = LOT_OK },
        { .name = "above start", .amount = 150, .rc = LOT_OK },
        { .name = "below next min", .first = 10000, .amount = 10249, .rc = LOT_E_TOO_LOW,
          .want = "amount must be ≥ 10250 (current 10000 + increment 250)" },
        { .name = "equal to current", .first = 10000, .amount = 10000, .rc = LOT_E_TOO_LOW },
        { .name = "at next min", .first = 10000, .amount = 10250, .rc = LOT_OK },
        { .name = "far above", .first = 10000, .amount = 99999, .rc = LOT_OK },
        { .name = "zero", .amount = 0, .rc = LOT_E_INVALID, .want = "positive" },
        { .name = "negative", .first = 100, .amount = -125, .rc = LOT_E_INVALID },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_rules r = test_rules();
        lot l;
        lot_effect eff;
        char why[200] = "";
        lot_init(&l, &r, AT(0));
        if (cases[i].first)
            assert_int_equal(lot_place(&l, T_A, cases[i].first, AT(1), &eff, NULL, 0), LOT_OK);
        lot before;
        memcpy(&before, &l, sizeof l);
        int rc = lot_place(&l, T_B, cases[i].amount, AT(2), &eff, why, sizeof why);
        if (rc != cases[i].rc || (cases[i].want && !strstr(why, cases[i].want)))
            fail_msg("%s: rc %d \"%s\", want %d \"%s\"", cases[i].name, rc, why, cases[i].rc,
                     cases[i].want ? cases[i].want : "");
        if (rc == LOT_OK) {
            assert_int_equal(eff.nbids, 1);
            assert_int_equal(l.price, cases[i].amount);
            assert_int_equal(l.leader_id, T_B);
            assert_true(eff.caller_leads);
            assert_int_equal(eff.noutbid, cases[i].first ? 1 : 0);
        } else {
            assert_memory_equal(&before, &l, sizeof l);
            assert_int_equal(eff.nbids, 0);
        }
        lot_release(&l);
    }
}

/* Issue 14: the leader's bid outbid nobody and raised their own price. */
static void the_leaders_manual_bid_is_refused_unless_it_buys_now(void **state)
{
    (void)state;
    static const char leading[] =
        "you already lead lot 7 at 100 EUR; to bid higher, raise your maximum with SetAutoBid";
    static const struct {
        const char *name;
        int64_t a_max;      /* A's autobid maximum, set while leading; 0: none */
        bool b_outbids;     /* B bids 125 after A's 100 */
        int64_t who, amount;
        int rc;
        int64_t price;      /* of the accepted bid */
        bool closes;
    } cases[] = {
        { .name = "leader below the next minimum", .who = T_A, .amount = 110,
          .rc = LOT_E_LEADING },
        { .name = "leader at the next minimum", .who = T_A, .amount = 125,
          .rc = LOT_E_LEADING },
        { .name = "leader just below buy-now", .who = T_A, .amount = 4999,
          .rc = LOT_E_LEADING },
        { .name = "leader above their own maximum", .a_max = 1000, .who = T_A, .amount = 1500,
          .rc = LOT_E_LEADING },
        { .name = "leader with a non-positive amount", .who = T_A, .amount = 0,
          .rc = LOT_E_INVALID },
        { .name = "leader at buy-now", .who = T_A, .amount = 5000, .rc = LOT_OK, .price = 5000,
          .closes = true },
        { .name = "leader above buy-now, with a maximum", .a_max = 1000, .who = T_A,
          .amount = 9000, .rc = LOT_OK, .price = 5000, .closes = true },
        { .name = "another bidder at the next minimum", .who = T_B, .amount = 125, .rc = LOT_OK,
          .price = 125 },
        { .name = "the leader once outbid", .b_outbids = true, .who = T_A, .amount = 150,
          .rc = LOT_OK, .price = 150 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_rules r = test_rules();
        r.buy_now_price = 5000;
        r.soft_close_s = 3600; /* every change of leader extends */
        r.max_extensions = 10;
        lot l;
        lot_effect eff;
        char why[200] = "";
        lot_init(&l, &r, AT(0));
        assert_int_equal(lot_place(&l, T_A, 100, AT(1), &eff, NULL, 0), LOT_OK);
        if (cases[i].a_max)
            assert_int_equal(lot_set_autobid(&l, T_A, cases[i].a_max, AT(2), &eff, NULL, 0),
                             LOT_OK);
        if (cases[i].b_outbids)
            assert_int_equal(lot_place(&l, T_B, 125, AT(2), &eff, NULL, 0), LOT_OK);
        lot before;
        memcpy(&before, &l, sizeof l);
        int rc = lot_place(&l, cases[i].who, cases[i].amount, AT(3), &eff, why, sizeof why);
        if (rc != cases[i].rc || (rc == LOT_E_LEADING && strcmp(why, leading) != 0))
            fail_msg("%s: rc %d \"%s\", want %d", cases[i].name, rc, why, cases[i].rc);
        if (rc != LOT_OK) {
            assert_memory_equal(&before, &l, sizeof l);
            assert_int_equal(eff.nbids, 0);
            assert_false(eff.extended);
            if (cases[i].a_max)
                assert_int_equal(lot_autobid_of(&l, T_A)->max, cases[i].a_max);
        } else {
            assert_int_equal(eff.nbids, 1);
            assert_int_equal(eff.bids[0].bidder_id, cases[i].who);
            assert_int_equal(eff.bids[0].amount, cases[i].price);
            assert_false(eff.bids[0].is_autobid);
            assert_int_equal(l.leader_id, cases[i].who);
            assert_int_equal(eff.closed, cases[i].closes);
            assert_int_equal(l.status, cases[i].closes ? LOT_CLOSED : LOT_LIVE);
        }
        lot_release(&l);
    }
}

static void who_and_when_may_bid(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t init_s, bid_s, bid_off_us, bidder;
        bool close_first;
        int rc;
    } cases[] = {
        { .name = "seller", .bidder = T_SELLER, .bid_s = 1, .rc = LOT_E_SELLER },
        { .name = "bidder zero", .bidder = 0, .bid_s = 1, .rc = LOT_E_INVALID },
        { .name = "pending before start", .init_s = -60, .bid_s = -1, .bidder = T_A,
          .rc = LOT_E_NOT_LIVE },
        { .name = "live from the start instant", .init_s = -60, .bid_s = 0, .bidder = T_A,
          .rc = LOT_OK },
        { .name = "last microsecond", .bid_s = T_LEN_S, .bid_off_us = -1, .bidder = T_A,
          .rc = LOT_OK },
        { .name = "at the end without close", .bid_s = T_LEN_S, .bidder = T_A,
          .rc = LOT_E_CLOSED },
        { .name = "after close", .bid_s = 1, .bidder = T_A, .close_first = true,
          .rc = LOT_E_CLOSED },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_rules r = test_rules();
        lot l;
        lot_effect eff;
        lot_init(&l, &r, AT(cases[i].init_s));
        if (cases[i].close_first)
            assert_int_equal(lot_close(&l, AT(0), true), LOT_OUTCOME_CANCELLED);
        int64_t now = AT(cases[i].bid_s) + cases[i].bid_off_us;
        lot before;
        memcpy(&before, &l, sizeof l);
        lot_tick(&before, now);
        int rc = lot_place(&l, cases[i].bidder, 100, now, &eff, NULL, 0);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d", cases[i].name, rc, cases[i].rc);
        if (rc != LOT_OK)
            assert_memory_equal(&before, &l, sizeof l);
        lot_release(&l);
    }
}

static void pending_lot_goes_live_at_its_start(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    lot l;
    lot_init(&l, &r, AT(-10));
    assert_int_equal(l.status, LOT_PENDING);
    lot_tick(&l, AT(0) - 1);
    assert_int_equal(l.status, LOT_PENDING);
    lot_tick(&l, AT(0));
    assert_int_equal(l.status, LOT_LIVE);
    lot_release(&l);
    lot_init(&l, &r, AT(5));
    assert_int_equal(l.status, LOT_LIVE);
    lot_release(&l);
    lot_release(&l); /* releasing twice is harmless */
}

static void buy_now_records_the_buy_now_price_and_closes_at_once(void **state)
{
    (void)state;
    static const struct { int64_t first, amount, price; bool closes; } cases[] = {
        { .amount = 5000, .price = 5000, .closes = true },  /* at buy-now */
        { .amount = 9000, .price = 5000, .closes = true },  /* above: taken at buy-now */
        { .first = 4000, .amount = 5000, .price = 5000, .closes = true },
        { .first = 4000, .amount = 4999, .price = 4999, .closes = false },
        { .first = 4990, .amount = 5000, .price = 5000, .closes = true }, /* below next min 5040 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_rules r = test_rules();
        r.buy_now_price = 5000;
        lot l;
        lot_effect eff;
        lot_init(&l, &r, AT(0));
        if (cases[i].first)
            assert_int_equal(lot_place(&l, T_A, cases[i].first, AT(1), &eff, NULL, 0), LOT_OK);
        assert_int_equal(lot_place(&l, T_B, cases[i].amount, AT(2), &eff, NULL, 0), LOT_OK);
        assert_int_equal(eff.bids[0].amount, cases[i].price);
        assert_false(eff.bids[0].is_autobid);
        assert_int_equal(eff.closed, cases[i].closes);
        assert_int_equal(l.status, cases[i].closes ? LOT_CLOSED : LOT_LIVE);
        if (cases[i].closes) {
            assert_int_equal(l.outcome, LOT_OUTCOME_WINNER);
            assert_int_equal(l.closed_at_us, AT(2));
            assert_int_equal(lot_close(&l, AT(T_LEN_S), false), LOT_OUTCOME_WINNER);
            assert_int_equal(lot_place(&l, T_A, 9000, AT(3), &eff, NULL, 0), LOT_E_CLOSED);
            assert_false(eff.extended);
        }
        lot_release(&l);
    }
}

static void close_outcome_follows_bids_reserve_time_and_cancel(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t reserve, bid, close_s;
        bool cancel;
        lot_outcome want;
    } cases[] = {
        { .name = "no bids", .close_s = T_LEN_S, .want = LOT_OUTCOME_NO_BIDS },
        { .name = "winner without reserve", .bid = 100, .close_s = T_LEN_S,
          .want = LOT_OUTCOME_WINNER },
        { .name = "reserve met exactly", .reserve = 5000, .bid = 5000, .close_s = T_LEN_S,
          .want = LOT_OUTCOME_WINNER },
        { .name = "reserve not met", .reserve = 5000, .bid = 4999, .close_s = T_LEN_S + 9,
          .want = LOT_OUTCOME_RESERVE_NOT_MET },
        { .name = "reserve, no bids", .reserve = 5000, .close_s = T_LEN_S,
          .want = LOT_OUTCOME_NO_BIDS },
        { .name = "before the end", .bid = 100, .close_s = T_LEN_S - 1,
          .want = LOT_OUTCOME_EXTENDED },
        { .name = "cancel before the end", .bid = 100, .close_s = 10, .cancel = true,
          .want = LOT_OUTCOME_CANCELLED },
        { .name = "cancel after the end", .bid = 100, .close_s = T_LEN_S + 1, .cancel = true,
          .want = LOT_OUTCOME_CANCELLED },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_rules r = test_rules();
        r.reserve_price = cases[i].reserve;
        lot l;
        lot_effect eff;
        lot_init(&l, &r, AT(0));
        if (cases[i].bid) {
            assert_int_equal(lot_place(&l, T_A, cases[i].bid, AT(1), &eff, NULL, 0), LOT_OK);
            /* a maximum at the leader's own price: active, places nothing */
            assert_int_equal(lot_set_autobid(&l, T_A, cases[i].bid, AT(2), &eff, NULL, 0),
                             LOT_OK);
            assert_int_equal(eff.nbids, 0);
        }
        lot before;
        memcpy(&before, &l, sizeof l);
        lot_outcome got = lot_close(&l, AT(cases[i].close_s), cases[i].cancel);
        if (got != cases[i].want)
            fail_msg("%s: outcome %d, want %d", cases[i].name, got, cases[i].want);
        if (got == LOT_OUTCOME_EXTENDED) {
            assert_memory_equal(&before, &l, sizeof l);
            assert_non_null(lot_autobid_of(&l, T_A));
        } else {
            assert_int_equal(l.status, LOT_CLOSED);
            assert_int_equal(l.outcome, got);
            assert_int_equal(l.closed_at_us, AT(cases[i].close_s));
            assert_null(lot_autobid_of(&l, T_A));
            if (cases[i].bid)
                assert_int_equal(lot_autobid_find(&l, T_A)->status, LOT_AUTOBID_FINISHED);
            /* idempotent, whatever the second call asks */
            assert_int_equal(lot_close(&l, AT(cases[i].close_s + 60), !cases[i].cancel), got);
            assert_int_equal(l.closed_at_us, AT(cases[i].close_s));
        }
        lot_release(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_check_refuses_each_invalid_field_by_name),
        cmocka_unit_test(increment_is_that_of_the_last_band_starting_at_or_below_the_price),
        cmocka_unit_test(next_min_is_the_start_then_price_plus_its_increment),
        cmocka_unit_test(manual_bids_below_next_min_are_refused_at_or_above_accepted),
        cmocka_unit_test(the_leaders_manual_bid_is_refused_unless_it_buys_now),
        cmocka_unit_test(who_and_when_may_bid),
        cmocka_unit_test(pending_lot_goes_live_at_its_start),
        cmocka_unit_test(buy_now_records_the_buy_now_price_and_closes_at_once),
        cmocka_unit_test(close_outcome_follows_bids_reserve_time_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
