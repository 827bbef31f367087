/*
 * Folding a batch's bids per lot: the row written for a lot must be what
 * applying its bids one by one would leave (the newest by seq), a lot is
 * in a statement once, and the events are counted as one by one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "search.h"

static void the_newest_bid_of_a_lot_wins_in_any_order(void **state)
{
    (void)state;
    static search_fold f;
    search_fold_clear(&f);
    search_fold_bid(&f, 100, 3, 300, 30);
    search_fold_bid(&f, 200, 1, 10, 11);
    search_fold_bid(&f, 100, 5, 500, 50);
    search_fold_bid(&f, 100, 4, 400, 40); /* older than 5: changes nothing */
    search_fold_bid(&f, 100, 5, 999, 99); /* the same seq again: the first stays */
    assert_int_equal(f.n, 2);
    assert_true(search_fold_pending(&f));
    const search_fold_row *r = &f.rows[0];
    assert_int_equal(r->lot_id, 100);
    assert_int_equal(r->seq, 5);
    assert_int_equal(r->amount, 500);
    assert_int_equal(r->ends_at_us, 50);
    assert_int_equal(r->newer, 2);
    assert_int_equal(r->older, 2);
    assert_int_equal(f.rows[1].seq, 1);
}

static void a_lot_is_in_each_statement_once(void **state)
{
    (void)state;
    static search_fold f;
    search_fold_clear(&f);
    search_fold_bid(&f, 100, 1, 10, 0);
    f.sent = f.n; /* its statement went out (an upsert came between) */
    assert_false(search_fold_pending(&f));
    search_fold_bid(&f, 100, 2, 20, 0);
    assert_int_equal(f.n, 2); /* a new row for the next statement */
    assert_int_equal(f.rows[1].seq, 2);
    assert_int_equal(f.rows[0].seq, 1);
}

static void events_count_as_applied_only_when_their_lot_changed(void **state)
{
    (void)state;
    static search_fold f;
    search_fold_clear(&f);
    search_fold_bid(&f, 100, 2, 20, 0);
    search_fold_bid(&f, 100, 3, 30, 0);
    search_fold_bid(&f, 100, 1, 10, 0);
    search_fold_bid(&f, 200, 7, 70, 0);
    search_fold_bid(&f, 300, 9, 90, 0);
    const int64_t changed[] = { 300, 100 }; /* 200 held a newer bid already */
    search_tally t = { 0, 0 };
    search_fold_tally(&f, 0, f.n, changed, 2, &t);
    assert_int_equal(t.applied, 3); /* 100's seq 2 and 3, 300's 9 */
    assert_int_equal(t.ignored, 2); /* 100's seq 1, 200's 7 */
    search_tally u = { 0, 0 };
    search_fold_tally(&f, 1, 2, changed, 2, &u); /* one row's statement */
    assert_int_equal(u.applied, 0);
    assert_int_equal(u.ignored, 1);
}

static void the_fold_says_when_it_is_full(void **state)
{
    (void)state;
    static search_fold f;
    search_fold_clear(&f);
    for (int64_t lot = 1; lot <= SEARCH_FOLD_ROWS; lot++) {
        assert_false(search_fold_full(&f));
        search_fold_bid(&f, lot, 1, 1, 0);
    }
    assert_true(search_fold_full(&f));
    search_fold_clear(&f);
    assert_false(search_fold_full(&f));
    assert_false(search_fold_pending(&f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_newest_bid_of_a_lot_wins_in_any_order),
        cmocka_unit_test(a_lot_is_in_each_statement_once),
        cmocka_unit_test(events_count_as_applied_only_when_their_lot_changed),
        cmocka_unit_test(the_fold_says_when_it_is_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
