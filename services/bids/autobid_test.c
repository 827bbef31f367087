/*
 * autobid_test: proxy bidding as eBay documents it, as a table of
 * scenarios. Each row gives the lot's rules, a sequence of steps (a manual
 * bid, an autobid set or a cancel by one bidder at a time) with the bids
 * each step must record and who leads after it, and the final price,
 * leader, end and autobid states. Amounts are cents with eBay's increment
 * table unless a row gives its own bands.
 *
 * The leader's own manual bids are refused unless they buy now: a proxy
 * never bids against its owner, and neither does the owner by hand.
 *
 * Every step is also checked for what must always hold: refusals change
 * nothing; receipts chain (seq, prev_hash, time); amounts never go down;
 * the caller's lead, the outbid list and the one-active-autobid invariant
 * agree with the final state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lot.h"
#include "lot_test_util.h"

#define A T_A
#define B T_B
#define C T_C

enum { END = 0, OP_BID, OP_AUTO, OP_CANCEL };

typedef struct {
    int64_t by, amount;
    bool proxy;
} rec;

typedef struct {
    int op;
    int64_t who, amount;
    int64_t t;                       /* seconds after the start; 0: step number */
    int rc;
    rec bids[LOT_MAX_EFFECT_BIDS];   /* what the step records, in order */
    int64_t leader;                  /* after the step */
    bool extends;
} step;

typedef struct {
    int64_t who;
    lot_autobid_status status;
    int64_t max;                     /* 0: not checked */
} ab_want;

typedef struct {
    const char *name;
    int64_t reserve, buy_now;
    lot_band bands[4];
    int nbands;                      /* 0: eBay's table */
    int32_t soft_close_s;
    step steps[8];
    int64_t price, leader;
    int64_t ends_s;                  /* 0: unchanged */
    lot_status status;               /* 0: LIVE */
    ab_want autobids[3];
} scenario;

#define BID(w, a, ...) { .op = OP_BID, .who = (w), .amount = (a), __VA_ARGS__ }
#define AUTO(w, a, ...) { .op = OP_AUTO, .who = (w), .amount = (a), __VA_ARGS__ }
#define CANCEL(w, ...) { .op = OP_CANCEL, .who = (w), __VA_ARGS__ }
#define RECORDS(...) .bids = { __VA_ARGS__ }
#define M(w, a) { (w), (a), false }
#define P(w, a) { (w), (a), true }
#define LEADS(w) .leader = (w)
#define REFUSED(code, w) .rc = (code), .leader = (w)

static const scenario scenarios[] = {
    { .name = "a proxy answers manual bids with one increment, capped at its maximum",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 500, RECORDS(M(B, 500), P(A, 550)), LEADS(A)),
                 BID(B, 980, RECORDS(M(B, 980), P(A, 1000)), LEADS(A)) },
      .price = 1000, .leader = A, .autobids = { { A, LOT_AUTOBID_ACTIVE, 1000 } } },
    { .name = "a manual bid equal to the proxy maximum loses to the earlier proxy",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 1000, RECORDS(M(B, 1000), P(A, 1000)), LEADS(A)),
                 BID(B, 1050, RECORDS(M(B, 1050)), LEADS(B)) },
      .price = 1050, .leader = B, .autobids = { { A, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "a manual bid above the proxy maximum leads and exhausts the proxy",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 1200, RECORDS(M(B, 1200)), LEADS(B)),
                 BID(C, 1250, RECORDS(M(C, 1250)), LEADS(C)) },
      .price = 1250, .leader = C, .autobids = { { A, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "the higher of two maxima wins at the lower plus one increment, in two bids",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 1500, RECORDS(P(A, 1000), P(B, 1050)), LEADS(B)) },
      .price = 1050, .leader = B,
      .autobids = { { A, LOT_AUTOBID_EXHAUSTED }, { B, LOT_AUTOBID_ACTIVE, 1500 } } },
    { .name = "a lower maximum set later is outbid at once",
      .steps = { AUTO(A, 1500, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 1000, RECORDS(P(B, 1000), P(A, 1050)), LEADS(A)) },
      .price = 1050, .leader = A,
      .autobids = { { A, LOT_AUTOBID_ACTIVE }, { B, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "equal maxima: the earlier wins at that maximum",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 1000, RECORDS(P(B, 1000), P(A, 1000)), LEADS(A)) },
      .price = 1000, .leader = A,
      .autobids = { { A, LOT_AUTOBID_ACTIVE }, { B, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "a maximum or bid below the next minimum is refused",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 500, RECORDS(M(B, 500), P(A, 550)), LEADS(A)),
                 AUTO(C, 599, REFUSED(LOT_E_TOO_LOW, A)),
                 BID(C, 599, REFUSED(LOT_E_TOO_LOW, A)),
                 AUTO(C, 600, RECORDS(P(C, 600), P(A, 650)), LEADS(A)) },
      .price = 650, .leader = A, .autobids = { { C, LOT_AUTOBID_EXHAUSTED, 600 } } },
    { .name = "raising one's own maximum while leading places no bid",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(A, 2000, LEADS(A)),
                 BID(B, 1500, RECORDS(M(B, 1500), P(A, 1550)), LEADS(A)),
                 AUTO(A, 1549, REFUSED(LOT_E_TOO_LOW, A)) },
      .price = 1550, .leader = A, .autobids = { { A, LOT_AUTOBID_ACTIVE, 2000 } } },
    { .name = "a maximum reaching the reserve jumps the price to the reserve",
      .reserve = 5000,
      .steps = { AUTO(A, 8000, RECORDS(P(A, 5000)), LEADS(A)),
                 BID(B, 5100, RECORDS(M(B, 5100), P(A, 5200)), LEADS(A)) },
      .price = 5200, .leader = A },
    { .name = "a maximum below the reserve bids the start; a higher one jumps to the reserve",
      .reserve = 5000,
      .steps = { AUTO(A, 3000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 8000, RECORDS(P(A, 3000), P(B, 5000)), LEADS(B)) },
      .price = 5000, .leader = B, .autobids = { { A, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "the leader raising their maximum past the reserve jumps to it",
      .reserve = 5000,
      .steps = { AUTO(A, 3000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(A, 6000, RECORDS(P(A, 5000)), LEADS(A)),
                 BID(B, 5100, RECORDS(M(B, 5100), P(A, 5200)), LEADS(A)) },
      .price = 5200, .leader = A },
    { .name = "an autobid reaching the reserve outbids a manual leader at the reserve",
      .reserve = 5000,
      .steps = { BID(A, 100, RECORDS(M(A, 100)), LEADS(A)),
                 AUTO(B, 8000, RECORDS(P(B, 5000)), LEADS(B)),
                 BID(C, 5100, RECORDS(M(C, 5100), P(B, 5200)), LEADS(B)) },
      .price = 5200, .leader = B },
    { .name = "the leader may not bid by hand; raising their maximum bids nothing",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(A, 200, REFUSED(LOT_E_LEADING, A)),
                 BID(A, 1500, REFUSED(LOT_E_LEADING, A)),
                 AUTO(A, 1500, LEADS(A)),
                 BID(B, 1550, RECORDS(M(B, 1550)), LEADS(B)),
                 BID(A, 1600, RECORDS(M(A, 1600)), LEADS(A)) },
      .price = 1600, .leader = A, .autobids = { { A, LOT_AUTOBID_EXHAUSTED, 1500 } } },
    { .name = "the leader may buy now: that ends the auction",
      .buy_now = 5000,
      .steps = { AUTO(A, 3000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(A, 4999, REFUSED(LOT_E_LEADING, A)),
                 BID(A, 5000, RECORDS(M(A, 5000)), LEADS(A)),
                 BID(B, 6000, REFUSED(LOT_E_CLOSED, A)) },
      .price = 5000, .leader = A, .status = LOT_CLOSED,
      .autobids = { { A, LOT_AUTOBID_FINISHED, 3000 } } },
    { .name = "a manual leader outbid by a proxy may bid again, and is answered",
      .steps = { BID(A, 1000, RECORDS(M(A, 1000)), LEADS(A)),
                 BID(A, 1100, REFUSED(LOT_E_LEADING, A)),
                 AUTO(B, 2000, RECORDS(P(B, 1050)), LEADS(B)),
                 BID(A, 1100, RECORDS(M(A, 1100), P(B, 1150)), LEADS(B)),
                 BID(B, 3000, REFUSED(LOT_E_LEADING, B)),
                 AUTO(B, 3000, LEADS(B)) },
      .price = 1150, .leader = B, .autobids = { { B, LOT_AUTOBID_ACTIVE, 3000 } } },
    { .name = "a cancelled autobid does not answer; a manual bid then leads",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 CANCEL(A, LEADS(A)),
                 BID(B, 125, RECORDS(M(B, 125)), LEADS(B)),
                 CANCEL(A, REFUSED(LOT_E_NO_AUTOBID, B)) },
      .price = 125, .leader = B, .autobids = { { A, LOT_AUTOBID_CANCELLED } } },
    { .name = "the increment of the answered amount's band applies",
      .bands = { { 0, 100 }, { 1000, 500 } }, .nbands = 2,
      .steps = { AUTO(A, 5000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 950, RECORDS(M(B, 950), P(A, 1050)), LEADS(A)),
                 BID(B, 1549, REFUSED(LOT_E_TOO_LOW, A)),
                 BID(B, 1550, RECORDS(M(B, 1550), P(A, 2050)), LEADS(A)),
                 AUTO(B, 4800, RECORDS(P(B, 4800), P(A, 5000)), LEADS(A)) },
      .price = 5000, .leader = A, .autobids = { { B, LOT_AUTOBID_EXHAUSTED } } },
    { .name = "a proxy answer crosses eBay's bands from +25 to +50 to +100",
      .steps = { AUTO(A, 3000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 480, RECORDS(M(B, 480), P(A, 505)), LEADS(A)),
                 BID(B, 2490, RECORDS(M(B, 2490), P(A, 2540)), LEADS(A)),
                 BID(B, 2639, REFUSED(LOT_E_TOO_LOW, A)) },
      .price = 2540, .leader = A },
    { .name = "soft close: an autobid taking the lead inside the window extends",
      .soft_close_s = 60,
      .steps = { BID(A, 100, .t = 10, RECORDS(M(A, 100)), LEADS(A)),
                 AUTO(B, 1000, .t = 3570, RECORDS(P(B, 125)), LEADS(B), .extends = true),
                 BID(A, 200, .t = 3620, RECORDS(M(A, 200), P(B, 225)), LEADS(B)) },
      .price = 225, .leader = B, .ends_s = 3630 },
    { .name = "soft close: a proxy answer keeping the leader does not extend",
      .soft_close_s = 60,
      .steps = { AUTO(A, 1000, .t = 10, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 500, .t = 3590, RECORDS(M(B, 500), P(A, 550)), LEADS(A)),
                 BID(B, 1200, .t = 3595, RECORDS(M(B, 1200)), LEADS(B), .extends = true) },
      .price = 1200, .leader = B, .ends_s = 3655 },
    { .name = "buy-now with an active proxy: the buy-now bidder wins",
      .buy_now = 5000,
      .steps = { AUTO(A, 10000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 4800, RECORDS(M(B, 4800), P(A, 4900)), LEADS(A)),
                 BID(B, 6000, RECORDS(M(B, 5000)), LEADS(B)),
                 BID(C, 7000, REFUSED(LOT_E_CLOSED, B)) },
      .price = 5000, .leader = B, .status = LOT_CLOSED,
      .autobids = { { A, LOT_AUTOBID_FINISHED, 10000 } } },
    { .name = "a proxy stops below the buy-now price and never buys",
      .buy_now = 5000,
      .steps = { AUTO(A, 10000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 4980, RECORDS(M(B, 4980), P(A, 4999)), LEADS(A)),
                 AUTO(C, 9000, REFUSED(LOT_E_INVALID, A)),
                 BID(C, 5000, RECORDS(M(C, 5000)), LEADS(C)) },
      .price = 5000, .leader = C, .status = LOT_CLOSED,
      .autobids = { { A, LOT_AUTOBID_FINISHED } } },
    { .name = "three autobids resolve one step each",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 800, RECORDS(P(B, 800), P(A, 850)), LEADS(A)),
                 AUTO(C, 1200, RECORDS(P(A, 1000), P(C, 1050)), LEADS(C)) },
      .price = 1050, .leader = C,
      .autobids = { { A, LOT_AUTOBID_EXHAUSTED }, { B, LOT_AUTOBID_EXHAUSTED },
                    { C, LOT_AUTOBID_ACTIVE } } },
    { .name = "setting a maximum again counts as a new time for ties",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 AUTO(B, 2000, RECORDS(P(A, 1000), P(B, 1050)), LEADS(B)),
                 AUTO(A, 2000, RECORDS(P(A, 2000), P(B, 2000)), LEADS(B)) },
      .price = 2000, .leader = B, .autobids = { { A, LOT_AUTOBID_EXHAUSTED, 2000 } } },
    { .name = "an exhausted bidder setting a higher maximum comes back",
      .steps = { AUTO(A, 1000, RECORDS(P(A, 100)), LEADS(A)),
                 BID(B, 1200, RECORDS(M(B, 1200)), LEADS(B)),
                 AUTO(A, 3000, RECORDS(P(A, 1250)), LEADS(A)) },
      .price = 1250, .leader = A, .autobids = { { A, LOT_AUTOBID_ACTIVE, 3000 } } },
    { .name = "an autobid against a manual leader bids one increment above",
      .steps = { BID(A, 1000, RECORDS(M(A, 1000)), LEADS(A)),
                 AUTO(B, 5000, RECORDS(P(B, 1050)), LEADS(B)),
                 BID(A, 1050, REFUSED(LOT_E_TOO_LOW, B)),
                 BID(A, 1100, RECORDS(M(A, 1100), P(B, 1150)), LEADS(B)) },
      .price = 1150, .leader = B },
    { .name = "the seller may neither bid nor set an autobid",
      .steps = { BID(T_SELLER, 500, REFUSED(LOT_E_SELLER, 0)),
                 AUTO(T_SELLER, 500, REFUSED(LOT_E_SELLER, 0)),
                 AUTO(A, 0, REFUSED(LOT_E_INVALID, 0)),
                 CANCEL(A, REFUSED(LOT_E_NO_AUTOBID, 0)) },
      .price = 0, .leader = 0 },
};

static lot_rules scenario_rules(const scenario *s)
{
    lot_rules r = test_rules();
    r.reserve_price = s->reserve;
    r.buy_now_price = s->buy_now;
    r.soft_close_s = s->soft_close_s;
    r.max_extensions = 10;
    if (s->nbands > 0) {
        memset(r.bands, 0, sizeof r.bands);
        memcpy(r.bands, s->bands, sizeof s->bands[0] * (size_t)s->nbands);
        r.nbands = s->nbands;
    }
    return r;
}

static int run_step(lot *l, const step *st, int64_t now, lot_effect *eff)
{
    memset(eff, 0xa5, sizeof *eff); /* whatever the engine leaves must be set by it */
    switch (st->op) {
    case OP_BID:
        return lot_place(l, st->who, st->amount, now, eff, NULL, 0);
    case OP_AUTO:
        return lot_set_autobid(l, st->who, st->amount, now, eff, NULL, 0);
    default:
        memset(eff, 0, sizeof *eff);
        return lot_cancel_autobid(l, st->who, NULL, 0);
    }
}

/* What every accepted step must satisfy, whatever the scenario. */
static void check_invariants(const char *name, size_t si, const lot *l, const lot_effect *eff,
                             int64_t seq_before, const uint8_t *hash_before, int64_t now,
                             const step *st)
{
    const uint8_t *prev = hash_before;
    for (size_t k = 0; k < eff->nbids; k++) {
        const lot_bid *b = &eff->bids[k];
        if (b->seq != seq_before + (int64_t)k + 1 || b->placed_at_us != now ||
            memcmp(b->prev_hash, prev, LOT_HASH_LEN) != 0 ||
            (k > 0 && b->amount < eff->bids[k - 1].amount))
            fail_msg("%s step %zu: bid %zu breaks the chain or goes down", name, si, k);
        prev = b->hash;
    }
    if (eff->nbids > 0 && (l->price != eff->bids[eff->nbids - 1].amount ||
                           l->leader_id != eff->bids[eff->nbids - 1].bidder_id))
        fail_msg("%s step %zu: price/leader are not the last bid's", name, si);
    if (st->op != OP_CANCEL) /* a cancel has no effect to report */
        assert_int_equal(eff->caller_leads, l->leader_id == st->who);
    for (size_t k = 0; k < eff->noutbid; k++) {
        if (eff->outbid_ids[k] == 0 || eff->outbid_ids[k] == l->leader_id)
            fail_msg("%s step %zu: outbid list names %lld", name, si,
                     (long long)eff->outbid_ids[k]);
        for (size_t j = 0; j < k; j++)
            assert_true(eff->outbid_ids[j] != eff->outbid_ids[k]);
    }
    for (size_t k = 0; k < l->nautobids; k++)
        if (l->autobids[k].active && l->autobids[k].bidder_id != l->leader_id)
            fail_msg("%s step %zu: autobid of %lld is active but does not lead", name, si,
                     (long long)l->autobids[k].bidder_id);
}

static void check_step_bids(const char *name, size_t si, const step *st, const lot_effect *eff)
{
    size_t want = 0;
    while (want < LOT_MAX_EFFECT_BIDS && st->bids[want].by != 0)
        want++;
    if (eff->nbids != want)
        fail_msg("%s step %zu: %zu bids recorded, want %zu", name, si, eff->nbids, want);
    for (size_t k = 0; k < want; k++)
        if (eff->bids[k].bidder_id != st->bids[k].by || eff->bids[k].amount != st->bids[k].amount ||
            eff->bids[k].is_autobid != st->bids[k].proxy)
            fail_msg("%s step %zu: bid %zu is %lld@%lld%s, want %lld@%lld%s", name, si, k,
                     (long long)eff->bids[k].bidder_id, (long long)eff->bids[k].amount,
                     eff->bids[k].is_autobid ? " (proxy)" : "", (long long)st->bids[k].by,
                     (long long)st->bids[k].amount, st->bids[k].proxy ? " (proxy)" : "");
}

static void check_final(const scenario *s, const lot *l)
{
    if (l->price != s->price || l->leader_id != s->leader)
        fail_msg("%s: final %lld led by %lld, want %lld led by %lld", s->name,
                 (long long)l->price, (long long)l->leader_id, (long long)s->price,
                 (long long)s->leader);
    assert_int_equal(l->status, s->status ? s->status : LOT_LIVE);
    assert_int_equal(l->ends_at_us, AT(s->ends_s ? s->ends_s : T_LEN_S));
    for (size_t k = 0; k < 3 && s->autobids[k].who != 0; k++) {
        const ab_want *w = &s->autobids[k];
        const lot_autobid *a = lot_autobid_find(l, w->who);
        if (a == NULL || a->status != w->status || (w->max && a->max != w->max) ||
            a->active != (w->status == LOT_AUTOBID_ACTIVE))
            fail_msg("%s: autobid of %lld is %d, want %d", s->name, (long long)w->who,
                     a ? (int)a->status : -1, (int)w->status);
        assert_true((lot_autobid_of(l, w->who) != NULL) == (w->status == LOT_AUTOBID_ACTIVE));
    }
}

static void proxy_bidding_scenarios_follow_ebay_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario *s = &scenarios[i];
        lot_rules r = scenario_rules(s);
        char why[256];
        assert_int_equal(lot_rules_check(&r, why, sizeof why), LOT_OK);
        lot l;
        lot_init(&l, &r, AT(0));
        for (size_t si = 0; si < 8 && s->steps[si].op != END; si++) {
            const step *st = &s->steps[si];
            int64_t now = AT(st->t ? st->t : (int64_t)si + 1);
            lot before;
            memcpy(&before, &l, sizeof l);
            lot_autobid abs_before[8];
            assert_true(l.nautobids <= 8);
            if (l.nautobids > 0)
                memcpy(abs_before, l.autobids, sizeof abs_before[0] * l.nautobids);
            lot_effect eff;
            int rc = run_step(&l, st, now, &eff);
            if (rc != st->rc)
                fail_msg("%s step %zu: rc %d, want %d", s->name, si, rc, st->rc);
            if (rc != LOT_OK) {
                assert_memory_equal(&before, &l, sizeof l);
                if (l.nautobids > 0)
                    assert_memory_equal(abs_before, l.autobids,
                                        sizeof abs_before[0] * l.nautobids);
                assert_int_equal(eff.nbids, 0);
                assert_false(eff.extended);
            } else {
                check_step_bids(s->name, si, st, &eff);
                check_invariants(s->name, si, &l, &eff, before.seq, before.head_hash, now, st);
                if (eff.extended != st->extends)
                    fail_msg("%s step %zu: extended %d", s->name, si, eff.extended);
            }
            if (l.leader_id != st->leader)
                fail_msg("%s step %zu: %lld leads, want %lld", s->name, si,
                         (long long)l.leader_id, (long long)st->leader);
        }
        check_final(s, &l);
        lot_release(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxy_bidding_scenarios_follow_ebay_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
