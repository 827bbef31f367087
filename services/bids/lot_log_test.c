/*
 * lot_log_test: the bid log's receipts — seq and bid_id, the SHA-256 hash
 * chain over the 84 bytes bids.proto documents (recomputed here from the
 * layout, and against vectors computed with Python's hashlib), rebuilding a
 * lot by replay, and the LOT_MAX_SEQ ceiling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "lot.h"
#include "lot_test_util.h"

/* The documented layout, written out field by field. */
static void layout_hash(const lot_bid *b, const char *currency, uint8_t out[32])
{
    uint8_t buf[84];
    size_t n = 0;
    memcpy(buf, b->prev_hash, 32);
    n += 32;
    const int64_t fields[] = { b->lot_id, b->seq, b->bid_id, b->bidder_id, b->amount };
    for (size_t f = 0; f < 5; f++)
        for (int shift = 56; shift >= 0; shift -= 8)
            buf[n++] = (uint8_t)((uint64_t)fields[f] >> shift);
    memcpy(buf + n, currency, 3);
    n += 3;
    for (int shift = 56; shift >= 0; shift -= 8)
        buf[n++] = (uint8_t)((uint64_t)b->placed_at_us >> shift);
    buf[n++] = b->is_autobid ? 0x01 : 0x00;
    assert_int_equal(n, 84);
    SHA256(buf, n, out);
}

static void bid_hash_matches_vectors_computed_outside_c(void **state)
{
    (void)state;
    /* python3: sha256(prev + struct.pack('>qqqqq', lot, seq, bid_id,
     * bidder, amount) + b'EUR' + struct.pack('>q', t) + bytes([auto])) */
    lot_bid b1 = { .lot_id = 7, .seq = 1, .bid_id = 7 * (1 << 20) + 1, .bidder_id = 11,
                   .amount = 100, .placed_at_us = AT(0), .is_autobid = false };
    uint8_t want[32];
    lot_bid_hash(&b1, "EUR", false);
    unhex("0ef030bc6ed18430f405eaf24178444ac852684df900da2350d3c0dd29281622", want);
    assert_memory_equal(b1.hash, want, 32);
    lot_bid b2 = { .lot_id = 7, .seq = 2, .bid_id = 7 * (1 << 20) + 2, .bidder_id = 12,
                   .amount = 125, .placed_at_us = AT(5), .is_autobid = true };
    memcpy(b2.prev_hash, b1.hash, 32);
    lot_bid_hash(&b2, "EUR", false);
    unhex("b32b395bc9524af4f0d2299b849283a6fd1710807257c32abbbd018c2be65816", want);
    assert_memory_equal(b2.hash, want, 32);
}

/* A few commands producing manual and proxy bids; returns the bids. */
static size_t play(lot *l, lot_bid *out, size_t cap)
{
    static const struct { int64_t who, amount, t; bool autobid; } cmds[] = {
        { .who = T_A, .amount = 100, .t = 1 },
        { .who = T_B, .amount = 1000, .t = 2, .autobid = true },  /* proxy 125 */
        { .who = T_C, .amount = 500, .t = 3 },                     /* B answers 550 */
        { .who = T_A, .amount = 2000, .t = 4, .autobid = true },  /* B 1000, A 1050 */
        { .who = T_C, .amount = 1100, .t = 5 },                    /* A answers 1150 */
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        lot_effect eff;
        int rc = cmds[i].autobid
                     ? lot_set_autobid(l, cmds[i].who, cmds[i].amount, AT(cmds[i].t), &eff, NULL, 0)
                     : lot_place(l, cmds[i].who, cmds[i].amount, AT(cmds[i].t), &eff, NULL, 0);
        assert_int_equal(rc, LOT_OK);
        for (size_t k = 0; k < eff.nbids && n < cap; k++)
            out[n++] = eff.bids[k];
    }
    return n;
}

static void every_bid_chains_to_the_previous_one(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    lot l;
    lot_init(&l, &r, AT(0));
    lot_bid bids[16];
    size_t n = play(&l, bids, 16);
    assert_int_equal(n, 8);
    static const uint8_t zeros[32];
    for (size_t i = 0; i < n; i++) {
        const lot_bid *b = &bids[i];
        assert_int_equal(b->lot_id, T_LOT);
        assert_int_equal(b->seq, (int64_t)i + 1);
        assert_int_equal(b->bid_id, (int64_t)T_LOT * 1048576 + b->seq);
        assert_memory_equal(b->prev_hash, i == 0 ? zeros : bids[i - 1].hash, 32);
        uint8_t h[32];
        layout_hash(b, "EUR", h);
        assert_memory_equal(b->hash, h, 32);
        if (i > 0)
            assert_true(b->amount > bids[i - 1].amount);
    }
    static const int64_t amounts[] = { 100, 125, 500, 550, 1000, 1050, 1100, 1150 };
    for (size_t i = 0; i < n; i++)
        assert_int_equal(bids[i].amount, amounts[i]);
    assert_memory_equal(l.head_hash, bids[n - 1].hash, 32);
    assert_int_equal(l.seq, 8);
    assert_int_equal(l.bid_count, 8);
    lot_release(&l);
}

static void changing_any_field_changes_the_hash(void **state)
{
    (void)state;
    lot_bid base = { .lot_id = 7, .seq = 3, .bid_id = 7 * (1 << 20) + 3, .bidder_id = 11,
                     .amount = 100, .placed_at_us = AT(0) };
    lot_bid_hash(&base, "EUR", false);
    for (int f = 0; f < 9; f++) {
        lot_bid b = base;
        const char *cur = "EUR";
        switch (f) {
        case 0: b.prev_hash[31] ^= 1; break;
        case 1: b.lot_id++; break;
        case 2: b.seq++; break;
        case 3: b.bid_id++; break;
        case 4: b.bidder_id++; break;
        case 5: b.amount++; break;
        case 6: cur = "USD"; break;
        case 7: b.placed_at_us++; break;
        default: b.is_autobid = true; break;
        }
        lot_bid_hash(&b, cur, false);
        if (memcmp(b.hash, base.hash, 32) == 0)
            fail_msg("field %d does not enter the hash", f);
    }
}

static void replay_rebuilds_price_leader_seq_and_head_hash(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    lot live, rebuilt;
    lot_init(&live, &r, AT(0));
    lot_bid bids[16];
    size_t n = play(&live, bids, 16);
    lot_init(&rebuilt, &r, AT(6));
    for (size_t i = 0; i < n; i++)
        lot_replay_bid(&rebuilt, &bids[i]);
    assert_int_equal(rebuilt.seq, live.seq);
    assert_int_equal(rebuilt.bid_count, live.bid_count);
    assert_int_equal(rebuilt.price, live.price);
    assert_int_equal(rebuilt.leader_id, live.leader_id);
    assert_memory_equal(rebuilt.head_hash, live.head_hash, 32);
    /* autobids come back from the caller's store */
    const lot_autobid *a = lot_autobid_of(&live, T_A);
    assert_non_null(a);
    assert_int_equal(lot_restore_autobid(&rebuilt, a), LOT_OK);
    assert_int_equal(rebuilt.next_set_seq, a->set_seq + 1);
    lot_effect e1, e2;
    assert_int_equal(lot_place(&live, T_C, 1500, AT(7), &e1, NULL, 0), LOT_OK);
    assert_int_equal(lot_place(&rebuilt, T_C, 1500, AT(7), &e2, NULL, 0), LOT_OK);
    assert_int_equal(e1.nbids, 2);
    assert_int_equal(e2.nbids, 2);
    assert_memory_equal(e1.bids, e2.bids, sizeof e1.bids[0] * 2);
    lot_autobid bad = { .bidder_id = 0, .max = 5 };
    assert_int_equal(lot_restore_autobid(&rebuilt, &bad), LOT_E_INVALID);
    lot_release(&live);
    lot_release(&rebuilt);
}

static void replaying_a_buy_now_bid_closes_the_lot_again(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    r.buy_now_price = 5000;
    lot live, rebuilt;
    lot_effect eff;
    lot_init(&live, &r, AT(0));
    assert_int_equal(lot_place(&live, T_A, 100, AT(1), &eff, NULL, 0), LOT_OK);
    lot_bid b1 = eff.bids[0];
    assert_int_equal(lot_place(&live, T_B, 7000, AT(2), &eff, NULL, 0), LOT_OK);
    lot_init(&rebuilt, &r, AT(9));
    lot_replay_bid(&rebuilt, &b1);
    assert_int_equal(rebuilt.status, LOT_LIVE);
    lot_replay_bid(&rebuilt, &eff.bids[0]);
    assert_int_equal(rebuilt.status, LOT_CLOSED);
    assert_int_equal(rebuilt.outcome, LOT_OUTCOME_WINNER);
    assert_int_equal(rebuilt.closed_at_us, AT(2));
    assert_int_equal(rebuilt.leader_id, T_B);
    assert_int_equal(lot_close(&rebuilt, AT(T_LEN_S), false), LOT_OUTCOME_WINNER);
    lot_release(&live);
    lot_release(&rebuilt);
}

/* A lot rebuilt with its last bid at seq. */
static void at_seq(lot *l, int64_t seq, int64_t price)
{
    lot_rules r = test_rules();
    lot_init(l, &r, AT(0));
    lot_bid b = { .lot_id = T_LOT, .seq = seq, .bid_id = (int64_t)T_LOT * 1048576 + seq,
                  .bidder_id = T_C, .amount = price, .placed_at_us = AT(0) };
    lot_bid_hash(&b, "EUR", false);
    lot_replay_bid(l, &b);
}

static void a_lot_takes_at_most_lot_max_seq_bids(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    char why[200];
    at_seq(&l, LOT_MAX_SEQ - 1, 100);
    assert_int_equal(lot_place(&l, T_A, 125, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.bids[0].seq, LOT_MAX_SEQ);
    assert_int_equal(eff.bids[0].bid_id, (int64_t)T_LOT * 1048576 + LOT_MAX_SEQ);
    assert_true(eff.bids[0].bid_id < (int64_t)(T_LOT + 1) * 1048576);
    lot before;
    memcpy(&before, &l, sizeof l);
    assert_int_equal(lot_place(&l, T_B, 150, AT(2), &eff, why, sizeof why), LOT_E_CLOSED);
    assert_non_null(strstr(why, "maximum"));
    assert_int_equal(lot_set_autobid(&l, T_B, 900, AT(2), &eff, NULL, 0), LOT_E_CLOSED);
    assert_memory_equal(&before, &l, sizeof l);
    assert_int_equal(eff.nbids, 0);
    lot_release(&l);
}

static void a_command_needing_more_bids_than_seq_allows_changes_nothing(void **state)
{
    (void)state;
    lot l;
    lot_effect eff;
    at_seq(&l, LOT_MAX_SEQ - 2, 100);
    assert_int_equal(lot_set_autobid(&l, T_A, 1000, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(eff.nbids, 1); /* A 125, seq MAX-1 */
    lot before;
    memcpy(&before, &l, sizeof l);
    /* B's manual bid would be answered by A's proxy: two bids, one seq left */
    assert_int_equal(lot_place(&l, T_B, 150, AT(2), &eff, NULL, 0), LOT_E_CLOSED);
    assert_memory_equal(&before, &l, sizeof l);
    assert_memory_equal(before.autobids, l.autobids, sizeof *l.autobids * l.nautobids);
    /* a bid above A's maximum needs only one */
    assert_int_equal(lot_place(&l, T_B, 1500, AT(3), &eff, NULL, 0), LOT_OK);
    assert_int_equal(l.seq, LOT_MAX_SEQ);
    lot_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bid_hash_matches_vectors_computed_outside_c),
        cmocka_unit_test(every_bid_chains_to_the_previous_one),
        cmocka_unit_test(changing_any_field_changes_the_hash),
        cmocka_unit_test(replay_rebuilds_price_leader_seq_and_head_hash),
        cmocka_unit_test(replaying_a_buy_now_bid_closes_the_lot_again),
        cmocka_unit_test(a_lot_takes_at_most_lot_max_seq_bids),
        cmocka_unit_test(a_command_needing_more_bids_than_seq_allows_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
