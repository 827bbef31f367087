/*
 * soft_close_test: an accepted command that changes the leader inside the
 * last soft_close_s seconds moves the end to now + soft_close_s; nothing
 * else extends (same leader, refused bids — the leader's own among them —,
 * outside the window, no soft close, the cap reached), and the end never
 * moves earlier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lot.h"
#include "lot_test_util.h"

#define WINDOW 60

enum { PLACE = 1, SET };

typedef struct {
    const char *name;
    bool a_leads;         /* A bid 100 at t=10 first */
    bool a_autobid;       /* ... and set a maximum of 5000 */
    int32_t window;
    int op;
    int64_t who, amount, t_us; /* t_us: microseconds before the end */
    int rc;
    bool extends;
} soft_case;

static const soft_case soft_cases[] = {
    { .name = "outside the window", .a_leads = true, .window = WINDOW, .op = PLACE,
      .who = T_B, .amount = 125, .t_us = 61000000, .extends = false },
    { .name = "window's first instant: end would not move", .a_leads = true,
      .window = WINDOW, .op = PLACE, .who = T_B, .amount = 125, .t_us = 60000000 },
    { .name = "inside the window, new leader", .a_leads = true, .window = WINDOW,
      .op = PLACE, .who = T_B, .amount = 125, .t_us = 59000000, .extends = true },
    { .name = "last microsecond, new leader", .a_leads = true, .window = WINDOW,
      .op = PLACE, .who = T_B, .amount = 125, .t_us = 1, .extends = true },
    { .name = "first bid of the lot", .window = WINDOW, .op = PLACE, .who = T_B,
      .amount = 100, .t_us = 30000000, .extends = true },
    { .name = "leader bidding again: refused", .a_leads = true, .window = WINDOW,
      .op = PLACE, .who = T_A, .amount = 300, .t_us = 30000000, .rc = LOT_E_LEADING },
    { .name = "leader raising their maximum", .a_leads = true, .window = WINDOW,
      .op = SET, .who = T_A, .amount = 900, .t_us = 30000000 },
    { .name = "refused bid", .a_leads = true, .window = WINDOW, .op = PLACE, .who = T_B,
      .amount = 110, .t_us = 30000000, .rc = LOT_E_TOO_LOW },
    { .name = "seller refused", .a_leads = true, .window = WINDOW, .op = PLACE,
      .who = T_SELLER, .amount = 500, .t_us = 30000000, .rc = LOT_E_SELLER },
    { .name = "no soft close", .a_leads = true, .window = 0, .op = PLACE, .who = T_B,
      .amount = 125, .t_us = 1 },
    { .name = "autobid taking the lead", .a_leads = true, .window = WINDOW, .op = SET,
      .who = T_B, .amount = 900, .t_us = 30000000, .extends = true },
    { .name = "proxy answer keeps the leader", .a_leads = true, .a_autobid = true,
      .window = WINDOW, .op = PLACE, .who = T_B, .amount = 900, .t_us = 30000000 },
    { .name = "autobid losing to the leader's proxy", .a_leads = true, .a_autobid = true,
      .window = WINDOW, .op = SET, .who = T_B, .amount = 900, .t_us = 30000000 },
};

static void only_a_leader_change_inside_the_window_extends(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof soft_cases / sizeof soft_cases[0]; i++) {
        const soft_case *c = &soft_cases[i];
        lot_rules r = test_rules();
        r.soft_close_s = c->window;
        r.max_extensions = 3;
        lot l;
        lot_effect eff;
        lot_init(&l, &r, AT(0));
        if (c->a_leads)
            assert_int_equal(lot_place(&l, T_A, 100, AT(10), &eff, NULL, 0), LOT_OK);
        if (c->a_autobid)
            assert_int_equal(lot_set_autobid(&l, T_A, 5000, AT(11), &eff, NULL, 0), LOT_OK);
        int64_t now = AT(T_LEN_S) - c->t_us;
        int rc = c->op == PLACE
                     ? lot_place(&l, c->who, c->amount, now, &eff, NULL, 0)
                     : lot_set_autobid(&l, c->who, c->amount, now, &eff, NULL, 0);
        int64_t want_end = c->extends ? now + (int64_t)WINDOW * 1000000 : AT(T_LEN_S);
        if (rc != c->rc || eff.extended != c->extends || l.ends_at_us != want_end)
            fail_msg("%s: rc %d extended %d end %lld, want rc %d extended %d end %lld",
                     c->name, rc, eff.extended, (long long)l.ends_at_us, c->rc,
                     c->extends, (long long)want_end);
        assert_int_equal(l.extensions_used, c->extends ? 1 : 0);
        if (c->extends) {
            assert_int_equal(eff.old_ends_at_us, AT(T_LEN_S));
            assert_int_equal(eff.new_ends_at_us, want_end);
        }
        lot_release(&l);
    }
}

static void extensions_stop_at_the_cap_and_the_lot_ends_at_the_last_end(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    r.soft_close_s = WINDOW;
    r.max_extensions = 2;
    lot l;
    lot_effect eff;
    lot_init(&l, &r, AT(0));
    static const struct { int64_t who, amount, t; bool extends; int64_t end; } steps[] = {
        { .who = T_A, .amount = 100, .t = T_LEN_S - 30, .extends = true, .end = T_LEN_S + 30 },
        /* after the original end, before the extended one */
        { .who = T_B, .amount = 125, .t = T_LEN_S + 10, .extends = true, .end = T_LEN_S + 70 },
        { .who = T_A, .amount = 150, .t = T_LEN_S + 60, .extends = false, .end = T_LEN_S + 70 },
        { .who = T_B, .amount = 175, .t = T_LEN_S + 69, .extends = false, .end = T_LEN_S + 70 },
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(lot_place(&l, steps[i].who, steps[i].amount, AT(steps[i].t), &eff,
                                   NULL, 0), LOT_OK);
        assert_int_equal(eff.extended, steps[i].extends);
        assert_int_equal(l.ends_at_us, AT(steps[i].end));
    }
    assert_int_equal(l.extensions_used, 2);
    assert_int_equal(lot_close(&l, AT(T_LEN_S + 69), false), LOT_OUTCOME_EXTENDED);
    assert_int_equal(l.status, LOT_LIVE);
    assert_int_equal(lot_place(&l, T_A, 200, AT(T_LEN_S + 70), &eff, NULL, 0), LOT_E_CLOSED);
    assert_int_equal(lot_close(&l, AT(T_LEN_S + 70), false), LOT_OUTCOME_WINNER);
    assert_int_equal(l.leader_id, T_B);
    assert_int_equal(l.price, 175);
    lot_release(&l);
}

static void a_buy_now_close_inside_the_window_does_not_extend(void **state)
{
    (void)state;
    lot_rules r = test_rules();
    r.soft_close_s = WINDOW;
    r.max_extensions = 5;
    r.buy_now_price = 9000;
    lot l;
    lot_effect eff;
    lot_init(&l, &r, AT(0));
    assert_int_equal(lot_place(&l, T_A, 100, AT(1), &eff, NULL, 0), LOT_OK);
    assert_int_equal(lot_place(&l, T_B, 9000, AT(T_LEN_S - 5), &eff, NULL, 0), LOT_OK);
    assert_true(eff.closed);
    assert_false(eff.extended);
    assert_int_equal(l.ends_at_us, AT(T_LEN_S));
    assert_int_equal(l.extensions_used, 0);
    lot_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_a_leader_change_inside_the_window_extends),
        cmocka_unit_test(extensions_stop_at_the_cap_and_the_lot_ends_at_the_last_end),
        cmocka_unit_test(a_buy_now_close_inside_the_window_does_not_extend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
