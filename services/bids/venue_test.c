/*
 * Venue lots in the engine: the 96-byte hash, floor bids (the room may
 * bid over the room, paddles checked, autobids answer), media time
 * (recorded on venue lots only, inside its window), fair warning cleared
 * by a bid, and the hammer as the only close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lot.h"
#include "lot_test_util.h"

#define CLERK 50

static lot venue_lot(void)
{
    lot_rules r = test_rules();
    r.venue = true;
    r.ends_at_us = 0;
    lot l;
    lot_init(&l, &r, AT(0));
    return l;
}

static void venue_hash_covers_paddle_and_media_time(void **state)
{
    (void)state;
    /* python3: sha256(struct.pack('>32sqqqqq3sqB', prev, lot, seq, bid_id,
     * bidder, amount, b'EUR', t, auto) + struct.pack('>iq', paddle, media)) */
    uint8_t want[32];
    lot_bid b1 = { .lot_id = 7, .seq = 1, .bid_id = 7 * (1 << 20) + 1, .bidder_id = 11,
                   .amount = 100, .placed_at_us = AT(0), .media_time_us = AT(-2) };
    lot_bid_hash(&b1, "EUR", true);
    unhex("6f81348b4842ae37f39a538a52593294be5ae2c7472f37b7849348311243dd09", want);
    assert_memory_equal(b1.hash, want, 32);
    lot_bid b2 = { .lot_id = 7, .seq = 2, .bid_id = 7 * (1 << 20) + 2, .bidder_id = CLERK,
                   .amount = 125, .placed_at_us = AT(5), .floor_paddle = 4321 };
    memcpy(b2.prev_hash, b1.hash, 32);
    lot_bid_hash(&b2, "EUR", true);
    unhex("b2d58eb905b5e94b2591974f8ec44374719facfe12907c9dd4fa63903f7cfd8c", want);
    assert_memory_equal(b2.hash, want, 32);
    /* The same fields on a timed lot hash 84 bytes: another hash. */
    lot_bid b3 = b2;
    lot_bid_hash(&b3, "EUR", false);
    assert_memory_not_equal(b3.hash, b2.hash, 32);
}

static void rules_want_no_end_and_no_soft_close(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    r.venue = true;
    assert_int_equal(lot_rules_check(&r, NULL, 0), LOT_E_INVALID); /* an end */
    r.ends_at_us = 0;
    assert_int_equal(lot_rules_check(&r, NULL, 0), LOT_OK);
    r.soft_close_s = 30;
    assert_int_equal(lot_rules_check(&r, NULL, 0), LOT_E_INVALID);
    r = test_rules();
    r.ends_at_us = 0; /* a timed lot needs its end */
    assert_int_equal(lot_rules_check(&r, NULL, 0), LOT_E_INVALID);
}

static void floor_and_online_bids_share_one_sequence(void **state)
{
    (void)state;
    lot l = venue_lot();
    lot_effect eff;
    assert_int_equal(lot_place_venue(&l, T_A, 100, 0, AT(-3), AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.bids[0].media_time_us, AT(-3));
    assert_int_equal(lot_place_venue(&l, CLERK, 200, 17, 0, AT(2), &eff, NULL, 0), LOT_OK);
    assert_int_equal(l.leader_floor_paddle, 17);
    assert_int_equal(eff.noutbid, 1);
    assert_int_equal(eff.outbid_ids[0], T_A);
    /* The room over the room: no leader's refusal for floor bids. */
    assert_int_equal(lot_place_venue(&l, CLERK, 300, 18, 0, AT(3), &eff, NULL, 0), LOT_OK);
    assert_int_equal(l.leader_floor_paddle, 18);
    assert_int_equal(l.seq, 3);
    /* Online over the room. */
    assert_int_equal(lot_place_venue(&l, T_B, 400, 0, 0, AT(4), &eff, NULL, 0), LOT_OK);
    assert_int_equal(l.leader_floor_paddle, 0);
    assert_int_equal(l.leader_id, T_B);
    /* An online leader is still refused. */
    assert_int_equal(lot_place_venue(&l, T_B, 500, 0, 0, AT(5), &eff, NULL, 0), LOT_E_LEADING);
    /* Long after any timed end, the lot still takes bids. */
    assert_int_equal(lot_place_venue(&l, CLERK, 500, 1, 0, AT(10 * T_LEN_S), &eff, NULL, 0),
                     LOT_OK);
    lot_release(&l);
}

static void autobids_answer_floor_bids(void **state)
{
    (void)state;
    lot l = venue_lot();
    lot_effect eff;
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(lot_place_venue(&l, CLERK, 500, 3, 0, AT(2), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.nbids, 2);
    assert_int_equal(eff.bids[1].bidder_id, T_A);
    assert_true(eff.bids[1].is_autobid);
    assert_int_equal(eff.bids[1].floor_paddle, 0);
    assert_int_equal(l.leader_id, T_A);
    assert_int_equal(l.leader_floor_paddle, 0);
    lot_release(&l);
}

static void refusals_change_nothing(void **state)
{
    (void)state;
    lot l = venue_lot();
    lot_effect eff;
    assert_int_equal(lot_place_venue(&l, CLERK, 100, 5, 0, AT(1), &eff, NULL, 0), LOT_OK);
    lot before = l;
    int64_t now = AT(2);
    assert_int_equal(lot_place_venue(&l, CLERK, 200, -1, 0, now, &eff, NULL, 0),
                     LOT_E_INVALID);
    assert_int_equal(lot_place_venue(&l, CLERK, 200, LOT_MAX_PADDLE + 1, 0, now, &eff, NULL, 0),
                     LOT_E_INVALID);
    assert_int_equal(lot_place_venue(&l, CLERK, 101, 5, 0, now, &eff, NULL, 0), LOT_E_TOO_LOW);
    assert_int_equal(lot_place_venue(&l, T_A, 200, 0, now - LOT_MEDIA_PAST_US - 1, now, &eff,
                                     NULL, 0), LOT_E_INVALID);
    assert_int_equal(lot_place_venue(&l, T_A, 200, 0, now + LOT_MEDIA_AHEAD_US + 1, now, &eff,
                                     NULL, 0), LOT_E_INVALID);
    assert_int_equal(lot_place_venue(&l, T_SELLER, 200, 0, 0, now, &eff, NULL, 0), LOT_E_SELLER);
    assert_int_equal(l.seq, before.seq);
    assert_memory_equal(l.head_hash, before.head_hash, LOT_HASH_LEN);
    assert_int_equal(l.leader_floor_paddle, 5);
    /* A timed lot takes no floor bid, and ignores media time. */
    lot_rules r = test_rules();
    lot t;
    lot_init(&t, &r, AT(0));
    assert_int_equal(lot_place_venue(&t, CLERK, 100, 5, 0, AT(1), &eff, NULL, 0), LOT_E_NOT_VENUE);
    assert_int_equal(lot_place_venue(&t, T_A, 100, 0, 1, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.bids[0].media_time_us, 0);
    lot_release(&t);
    lot_release(&l);
}

static void fair_warning_is_cleared_by_a_bid(void **state)
{
    (void)state;
    lot l = venue_lot();
    lot_effect eff;
    assert_int_equal(lot_fair_warning(&l, AT(1), NULL, 0), LOT_OK);
    assert_int_equal(l.fair_warning_at_us, AT(1));
    assert_int_equal(lot_place_venue(&l, CLERK, 100, 5, 0, AT(2), &eff, NULL, 0), LOT_OK);
    assert_int_equal(l.fair_warning_at_us, 0);
    lot_rules r = test_rules();
    lot t;
    lot_init(&t, &r, AT(0));
    assert_int_equal(lot_fair_warning(&t, AT(1), NULL, 0), LOT_E_NOT_VENUE);
    lot_release(&t);
    assert_int_equal(lot_hammer(&l, AT(3)), LOT_OUTCOME_WINNER);
    assert_int_equal(lot_fair_warning(&l, AT(4), NULL, 0), LOT_E_CLOSED);
    lot_release(&l);
}

static void only_the_hammer_or_a_cancel_closes(void **state)
{
    (void)state;
    lot l = venue_lot();
    lot_effect eff;
    assert_int_equal(lot_close(&l, AT(10 * T_LEN_S), false), LOT_OUTCOME_EXTENDED);
    assert_int_equal(l.status, LOT_LIVE);
    assert_int_equal(lot_place_venue(&l, CLERK, 100, 9, 0, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(lot_hammer(&l, AT(2)), LOT_OUTCOME_WINNER);
    assert_int_equal(l.status, LOT_CLOSED);
    assert_int_equal(l.leader_floor_paddle, 9);
    assert_int_equal(lot_hammer(&l, AT(3)), LOT_OUTCOME_WINNER); /* again: the same */
    assert_int_equal(l.closed_at_us, AT(2));
    lot_release(&l);
    /* Pending: the hammer waits; a timed lot ignores it. */
    lot_rules r = test_rules();
    r.venue = true;
    r.ends_at_us = 0;
    r.starts_at_us = AT(100);
    lot p;
    lot_init(&p, &r, AT(0));
    assert_int_equal(lot_hammer(&p, AT(1)), LOT_OUTCOME_EXTENDED);
    assert_int_equal(p.status, LOT_PENDING);
    assert_int_equal(lot_close(&p, AT(1), true), LOT_OUTCOME_CANCELLED);
    lot_release(&p);
    r = test_rules();
    lot t;
    lot_init(&t, &r, AT(0));
    assert_int_equal(lot_hammer(&t, AT(1)), LOT_OUTCOME_EXTENDED);
    assert_int_equal(lot_hammer(&t, AT(T_LEN_S)), LOT_OUTCOME_NO_BIDS);
    lot_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(venue_hash_covers_paddle_and_media_time),
        cmocka_unit_test(rules_want_no_end_and_no_soft_close),
        cmocka_unit_test(floor_and_online_bids_share_one_sequence),
        cmocka_unit_test(autobids_answer_floor_bids),
        cmocka_unit_test(refusals_change_nothing),
        cmocka_unit_test(fair_warning_is_cleared_by_a_bid),
        cmocka_unit_test(only_the_hammer_or_a_cancel_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
