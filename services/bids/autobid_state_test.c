/*
 * autobid_state_test: what proxy bidding leaves behind besides prices —
 * tie-break times, autobid statuses, the outbid list the daemon releases
 * holds from, the autobids_changed flag — plus a long pseudo-random run
 * checking the invariants every command must keep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lot.h"
#include "lot_test_util.h"

static void live_lot(lot *l)
{
    lot_rules r = test_rules();
    lot_init(l, &r, AT(0));
}

/* bids.proto: a replaced maximum's tie-break time becomes now. */
static void the_leader_changing_their_maximum_gets_a_new_tie_break_time(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    live_lot(&l);
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(1), &eff, NULL, 0), LOT_OK);
    lot_autobid first = *lot_autobid_of(&l, T_A);
    assert_int_equal(first.set_at_us, AT(1));
    assert_int_equal(lot_set_autobid(&l, T_A, 3000, AT(2), &eff, NULL, 0), LOT_OK);
    const lot_autobid *a = lot_autobid_of(&l, T_A);
    assert_int_equal(a->max, 3000);
    assert_true(a->set_seq > first.set_seq);
    assert_int_equal(a->set_at_us, AT(2));
    assert_true(eff.autobids_changed);
    /* outbid, then set again: a new time */
    assert_int_equal(lot_place(&l, T_B, 5000, AT(3), &eff, NULL, 0), LOT_OK);
    assert_int_equal(lot_set_autobid(&l, T_A, 9000, AT(4), &eff, NULL, 0), LOT_OK);
    a = lot_autobid_of(&l, T_A);
    assert_true(a->set_seq > first.set_seq);
    assert_int_equal(a->set_at_us, AT(4));
    assert_int_equal(l.nautobids, 1); /* replaced in place */
    lot_release(&l);
}

static void the_leaders_manual_bid_leaves_their_autobid_as_it_was(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    live_lot(&l);
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(1), &eff, NULL, 0), LOT_OK);
    lot_autobid was = *lot_autobid_of(&l, T_A);
    assert_int_equal(lot_place(&l, T_A, 1500, AT(2), &eff, NULL, 0), LOT_E_LEADING);
    assert_int_equal(eff.nbids, 0);
    assert_false(eff.autobids_changed);
    assert_memory_equal(lot_autobid_of(&l, T_A), &was, sizeof was);
    /* the way up: a new maximum, no bid */
    assert_int_equal(lot_set_autobid(&l, T_A, 1500, AT(3), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.nbids, 0);
    assert_true(eff.autobids_changed);
    assert_int_equal(lot_place(&l, T_B, 1550, AT(4), &eff, NULL, 0), LOT_OK);
    assert_true(eff.autobids_changed);
    assert_int_equal(lot_autobid_find(&l, T_A)->status, LOT_AUTOBID_EXHAUSTED);
    lot_release(&l);
}

static void outbid_lists_everyone_who_lost_the_lead_in_order(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool b_autobid;        /* B: 1000 as an autobid, else a manual 100 */
        int64_t c_bid;         /* C's manual bid */
        int64_t want[2];
        bool c_leads;
    } cases[] = {
        { .name = "manual leader outbid by a manual bid", .c_bid = 125, .want = { T_B },
          .c_leads = true },
        { .name = "caller outbid at once by the leader's proxy", .b_autobid = true,
          .c_bid = 500, .want = { T_C } },
        { .name = "caller equal to the proxy maximum", .b_autobid = true, .c_bid = 1000,
          .want = { T_C } },
        { .name = "proxy leader exhausted", .b_autobid = true, .c_bid = 1050, .want = { T_B },
          .c_leads = true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot l;
        lot_effect eff;
        live_lot(&l);
        int rc = cases[i].b_autobid ? lot_set_autobid(&l, T_B, 1000, AT(1), &eff, NULL, 0)
                                    : lot_place(&l, T_B, 100, AT(1), &eff, NULL, 0);
        assert_int_equal(rc, LOT_OK);
        assert_int_equal(eff.noutbid, 0);
        assert_int_equal(lot_place(&l, T_C, cases[i].c_bid, AT(2), &eff, NULL, 0), LOT_OK);
        size_t n = cases[i].want[1] ? 2 : 1;
        if (eff.noutbid != n || eff.outbid_ids[0] != cases[i].want[0])
            fail_msg("%s: %zu outbid, first %lld", cases[i].name, eff.noutbid,
                     (long long)eff.outbid_ids[0]);
        assert_int_equal(eff.caller_leads, cases[i].c_leads);
        lot_release(&l);
    }
}

static void after_a_rebuild_a_restored_proxy_outbids_leader_and_caller(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    live_lot(&l);
    assert_int_equal(lot_place(&l, T_A, 100, AT(1), &eff, NULL, 0), LOT_OK);
    /* a store may hand back an autobid that does not lead (not exhausted yet) */
    lot_autobid c = { .bidder_id = T_C, .max = 1000, .set_seq = 4, .set_at_us = AT(0),
                      .active = true, .status = LOT_AUTOBID_ACTIVE };
    assert_int_equal(lot_restore_autobid(&l, &c), LOT_OK);
    assert_int_equal(l.next_set_seq, 5);
    assert_int_equal(lot_place(&l, T_B, 200, AT(2), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.nbids, 2);
    assert_int_equal(eff.bids[1].bidder_id, T_C);
    assert_int_equal(eff.bids[1].amount, 225);
    assert_int_equal(eff.noutbid, 2);
    assert_int_equal(eff.outbid_ids[0], T_A);
    assert_int_equal(eff.outbid_ids[1], T_B);
    /* a restored entry without a status takes it from `active` */
    lot_autobid old = { .bidder_id = T_A, .max = 150, .set_seq = 2, .active = false };
    assert_int_equal(lot_restore_autobid(&l, &old), LOT_OK);
    assert_int_equal(lot_autobid_find(&l, T_A)->status, LOT_AUTOBID_EXHAUSTED);
    assert_int_equal(l.next_set_seq, 5);
    lot_release(&l);
}

static void cancel_keeps_the_standing_bid_and_needs_an_open_lot(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    char why[200];
    live_lot(&l);
    assert_null(lot_autobid_of(&l, T_A));
    assert_null(lot_autobid_find(&l, T_A));
    assert_int_equal(lot_cancel_autobid(&l, T_A, why, sizeof why), LOT_E_NO_AUTOBID);
    assert_non_null(strstr(why, "no active autobid"));
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(lot_cancel_autobid(&l, T_A, NULL, 0), LOT_OK);
    assert_int_equal(l.leader_id, T_A);
    assert_int_equal(l.price, 100);
    assert_null(lot_autobid_of(&l, T_A));
    assert_int_equal(lot_autobid_find(&l, T_A)->status, LOT_AUTOBID_CANCELLED);
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(2), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.nbids, 0); /* leads already: a new ceiling only */
    assert_int_equal(lot_close(&l, AT(T_LEN_S), false), LOT_OUTCOME_WINNER);
    assert_int_equal(lot_cancel_autobid(&l, T_A, NULL, 0), LOT_E_CLOSED);
    assert_int_equal(lot_autobid_find(&l, T_A)->status, LOT_AUTOBID_FINISHED);
    lot_release(&l);
}

static void the_autobid_array_grows_for_many_bidders(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    live_lot(&l);
    for (int64_t b = 100; b < 400; b++) {
        int64_t max = lot_next_min(&l) + 10 * b;
        assert_int_equal(lot_set_autobid(&l, b, max, AT(1), &eff, NULL, 0), LOT_OK);
        assert_int_equal(l.leader_id, b);
    }
    assert_int_equal(l.nautobids, 300);
    assert_true(l.capautobids >= 300);
    lot_release(&l);
    assert_null(l.autobids);
}

/* A deterministic generator, so a failure replays. */
static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void check_command(const lot *l, const lot_effect *eff, int64_t price_before)
{
    int64_t prev = price_before;
    for (size_t k = 0; k < eff->nbids; k++) {
        const lot_bid *b = &eff->bids[k];
        bool same_allowed = k > 0 && b->is_autobid; /* an earlier equal maximum */
        if (b->amount < prev || (b->amount == prev && !same_allowed))
            fail_msg("bid %zu of %zu: %lld after %lld", k, eff->nbids, (long long)b->amount,
                     (long long)prev);
        if (b->is_autobid && k > 0) {
            int64_t step = eff->bids[k - 1].amount + lot_increment(l, eff->bids[k - 1].amount);
            assert_true(b->amount <= step || b->amount == l->r.reserve_price);
        }
        prev = b->amount;
    }
    int active = 0;
    for (size_t k = 0; k < l->nautobids; k++)
        if (l->autobids[k].active) {
            active++;
            assert_int_equal(l->autobids[k].bidder_id, l->leader_id);
        }
    assert_true(active <= 1);
    assert_true(l->r.buy_now_price == 0 || l->price <= l->r.buy_now_price);
}

static void random_commands_keep_every_invariant(void **state)
{
    (void)state;
    uint64_t seed = 42;
    size_t proxies = 0, ties = 0, closed = 0, extended = 0, leading = 0;
    for (int round = 0; round < 40; round++) {
        lot_rules r = test_rules();
        r.reserve_price = round % 2 ? 20000 : 0;
        r.buy_now_price = round % 3 == 0 ? 90000 : 0;
        r.soft_close_s = 30;
        r.max_extensions = 3;
        lot l;
        lot_init(&l, &r, AT(0));
        int64_t seq = 0;
        for (int i = 0; i < 400 && l.status == LOT_LIVE; i++) {
            int64_t who = 10 + (int64_t)(rnd(&seed) % 5);
            /* on a coarse grid, so maxima and bids often meet exactly */
            int64_t amount = (lot_next_min(&l) + 249) / 250 * 250 +
                             250 * (int64_t)(rnd(&seed) % 12) - (rnd(&seed) % 8 ? 0 : 300);
            int64_t now = AT(T_LEN_S - 60) + (int64_t)i * 100000;
            int64_t price = l.price;
            lot_effect eff;
            lot before;
            memcpy(&before, &l, sizeof l);
            int rc;
            switch (rnd(&seed) % 5) {
            case 0: case 1:
                rc = lot_place(&l, who, amount, now, &eff, NULL, 0);
                /* the leader bids by hand only to buy now */
                if (who == before.leader_id && amount > 0 &&
                    !(rc == LOT_E_LEADING || (rc == LOT_OK && eff.closed)))
                    fail_msg("round %d step %d: the leader's bid of %lld: %d", round, i,
                             (long long)amount, rc);
                leading += rc == LOT_E_LEADING;
                break;
            case 2: case 3: rc = lot_set_autobid(&l, who, amount, now, &eff, NULL, 0); break;
            default: rc = lot_cancel_autobid(&l, who, NULL, 0); eff.nbids = 0; break;
            }
            if (rc != LOT_OK && memcmp(&before, &l, sizeof l) != 0)
                fail_msg("round %d step %d: refusal %d changed the lot", round, i, rc);
            if (rc == LOT_OK) {
                check_command(&l, &eff, price);
                for (size_t k = 0; k < eff.nbids; k++) {
                    assert_int_equal(eff.bids[k].seq, ++seq);
                    proxies += eff.bids[k].is_autobid;
                    ties += k > 0 && eff.bids[k].amount == eff.bids[k - 1].amount;
                }
                closed += eff.closed && eff.nbids > 0;
                extended += eff.extended && eff.nbids > 0;
            }
        }
        lot_release(&l);
    }
    /* the run must reach what it is meant to check */
    if (proxies < 1000 || ties == 0 || closed == 0 || extended == 0 || leading == 0)
        fail_msg("weak run: %zu proxy bids, %zu ties, %zu buy-now, %zu extensions, %zu leader "
                 "bids", proxies, ties, closed, extended, leading);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_leader_changing_their_maximum_gets_a_new_tie_break_time),
        cmocka_unit_test(the_leaders_manual_bid_leaves_their_autobid_as_it_was),
        cmocka_unit_test(outbid_lists_everyone_who_lost_the_lead_in_order),
        cmocka_unit_test(after_a_rebuild_a_restored_proxy_outbids_leader_and_caller),
        cmocka_unit_test(cancel_keeps_the_standing_bid_and_needs_an_open_lot),
        cmocka_unit_test(the_autobid_array_grows_for_many_bidders),
        cmocka_unit_test(random_commands_keep_every_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
