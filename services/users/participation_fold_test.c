/*
 * Folding bid events per (bidder, lot): what the participation consumer
 * writes for a batch must say what applying its events one by one would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "users.h"

static void bids_of_one_bidder_on_a_lot_fold_into_one_row(void **state)
{
    (void)state;
    static part_batch b;
    part_batch_clear(&b);
    part_batch_bid(&b, 7, 100, "RUB", 5000, 30);
    part_batch_bid(&b, 8, 100, "RUB", 5100, 31);
    part_batch_bid(&b, 7, 100, "RUB", 5200, 32);
    part_batch_bid(&b, 7, 200, "EUR", 90, 29);
    assert_int_equal(b.nbids, 3);
    assert_int_equal(b.nlots, 2);
    const part_bid_row *r = &b.bids[0];
    assert_int_equal(r->user_id, 7);
    assert_int_equal(r->lot_id, 100);
    assert_string_equal(r->currency, "RUB");
    assert_int_equal(r->count, 2);
    assert_int_equal(r->highest, 5200);
    assert_int_equal(r->first_at_us, 30);
    assert_int_equal(r->last_at_us, 32);
    assert_int_equal(b.bids[1].count, 1);
    assert_int_equal(part_batch_leader(&b, 100), 7); /* the last bid on the lot */
    assert_int_equal(part_batch_leader(&b, 200), 7);
    assert_int_equal(part_batch_leader(&b, 300), 0); /* no bid in the batch */
    assert_false(part_batch_empty(&b));
}

static void outbids_move_the_lead_and_the_times_only(void **state)
{
    (void)state;
    static part_batch b;
    part_batch_clear(&b);
    /* 7 led from an earlier batch; 8 takes the lead, 7 is told */
    part_batch_bid(&b, 8, 100, "RUB", 5100, 40);
    part_batch_outbid(&b, 100, 7, 41);
    part_batch_outbid(&b, 100, 7, 39); /* an older time does not move it back */
    assert_int_equal(b.noutbids, 1);
    assert_int_equal(b.outbids[0].user_id, 7);
    assert_int_equal(b.outbids[0].at_us, 41);
    assert_int_equal(part_batch_leader(&b, 100), 8);

    /* 9 outbids 8: 8 has a row here, so only its last time moves */
    part_batch_bid(&b, 9, 100, "RUB", 5200, 42);
    part_batch_outbid(&b, 100, 8, 43);
    assert_int_equal(b.noutbids, 1);
    assert_int_equal(b.bids[0].last_at_us, 43);
    assert_int_equal(part_batch_leader(&b, 100), 9);

    /* 9 is outbid by a bid the batch has not seen: nobody is known to lead */
    part_batch_outbid(&b, 100, 9, 44);
    assert_int_equal(part_batch_leader(&b, 100), 0);

    /* 7, outbid above, bids again and leads */
    part_batch_bid(&b, 7, 100, "RUB", 5300, 45);
    assert_int_equal(part_batch_leader(&b, 100), 7);
    assert_int_equal(b.noutbids, 1); /* its earlier outbid is still written first */
}

static void a_batch_reports_full_before_any_list_overflows(void **state)
{
    (void)state;
    static part_batch b;
    part_batch_clear(&b);
    assert_true(part_batch_empty(&b));
    for (int i = 0; i < PART_BATCH_ROWS; i++) {
        assert_false(part_batch_full(&b));
        part_batch_bid(&b, 1, 1000 + i, "RUB", 100, i);
    }
    assert_true(part_batch_full(&b));
    part_batch_clear(&b);
    assert_true(part_batch_empty(&b));
    for (int i = 0; i < PART_BATCH_ROWS; i++) {
        assert_false(part_batch_full(&b));
        part_batch_outbid(&b, 5, 1 + i, i);
    }
    assert_true(part_batch_full(&b));
    assert_false(part_batch_empty(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bids_of_one_bidder_on_a_lot_fold_into_one_row),
        cmocka_unit_test(outbids_move_the_lead_and_the_times_only),
        cmocka_unit_test(a_batch_reports_full_before_any_list_overflows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
