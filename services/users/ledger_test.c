/*
 * The ledger entries of every wallet change (ledger_entries_text): each
 * kind moves money between the accounts its table in ledger.c names, the
 * entries sum to zero, and a withdrawal touches the available balance
 * only, never the held one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "users.h"

/* The sum of a "{a,b,c}" array literal of integers. */
static long long literal_sum(const char *s)
{
    long long sum = 0;
    const char *p = s + 1;
    while (*p != '\0' && *p != '}') {
        char *end = NULL;
        sum += strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return sum;
}

static void each_kind_names_its_accounts_and_sums_to_zero(void **state)
{
    (void)state;
    static const struct {
        const char *kind;
        int64_t amount, held;
        const char *accounts, *amounts;
    } cases[] = {
        { .kind = "deposit", .amount = 500, .accounts = "{platform:deposits,user:7:available}",
          .amounts = "{-500,500}" },
        { .kind = "withdraw", .amount = 300,
          .accounts = "{user:7:available,platform:withdrawals}", .amounts = "{-300,300}" },
        { .kind = "reserve", .amount = 200, .accounts = "{user:7:available,user:7:held}",
          .amounts = "{-200,200}" },
        { .kind = "release", .held = 200, .accounts = "{user:7:held,user:7:available}",
          .amounts = "{-200,200}" },
        { .kind = "capture", .amount = 150, .held = 200,
          .accounts = "{user:7:held,user:7:available,platform:captured}",
          .amounts = "{-200,50,150}" },
        { .kind = "capture", .amount = 200, .held = 200,
          .accounts = "{user:7:held,platform:captured}", .amounts = "{-200,200}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char accounts[128], amounts[96];
        assert_int_equal(ledger_entries_text(cases[i].kind, 7, cases[i].amount, cases[i].held,
                                             accounts, sizeof accounts, amounts,
                                             sizeof amounts), 0);
        assert_string_equal(accounts, cases[i].accounts);
        assert_string_equal(amounts, cases[i].amounts);
        assert_int_equal(literal_sum(amounts), 0);
    }
}

static void withdraw_never_touches_held_money(void **state)
{
    (void)state;
    char accounts[128], amounts[96];
    /* held is ignored: a withdrawal is the available balance's alone */
    assert_int_equal(ledger_entries_text("withdraw", 42, 1000000000000000, 999, accounts,
                                         sizeof accounts, amounts, sizeof amounts), 0);
    assert_null(strstr(accounts, ":held"));
    assert_string_equal(amounts, "{-1000000000000000,1000000000000000}");
}

static void unknown_kind_and_short_buffers_are_refused(void **state)
{
    (void)state;
    char accounts[128], amounts[96], tiny[8];
    assert_int_equal(ledger_entries_text("refund", 7, 1, 0, accounts, sizeof accounts, amounts,
                                         sizeof amounts), -1);
    assert_int_equal(ledger_entries_text("withdraw", 7, 1, 0, tiny, sizeof tiny, amounts,
                                         sizeof amounts), -1);
    assert_int_equal(ledger_entries_text("withdraw", 7, 1, 0, accounts, sizeof accounts, tiny,
                                         4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_kind_names_its_accounts_and_sums_to_zero),
        cmocka_unit_test(withdraw_never_touches_held_money),
        cmocka_unit_test(unknown_kind_and_short_buffers_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
