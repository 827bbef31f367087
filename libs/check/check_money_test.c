/*
 * Money checks: one table of fields against the rules each service gives
 * (a wallet amount with a default currency, a bid's amount in any
 * three-letter currency, a lot's band that may be zero), the currency list
 * itself, and the constructor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "check/check.h"

static const check_money_rule wallet = { .min_units = 1, .currencies = "RUB,EUR,USD",
                                         .default_currency = "RUB" };
static const check_money_rule bid = { .min_units = 1 };
static const check_money_rule band = { .min_units = 0, .currencies = "RUB,EUR" };

static void money_fields_are_checked_against_their_rule(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const check_money_rule *rule;
        bool is_set;
        const char *currency;
        int64_t units;
        int want;             /* GRPC_STATUS_OK or INVALID_ARGUMENT */
        const char *cur;      /* the currency that applies, when OK */
        const char *message;  /* the whole message, when refused */
    } cases[] = {
        { .name = "wallet amount", .rule = &wallet, .is_set = true, .currency = "EUR",
          .units = 5, .cur = "EUR" },
        { .name = "empty currency is the platform's", .rule = &wallet, .is_set = true,
          .currency = "", .units = 1, .cur = "RUB" },
        { .name = "largest amount", .rule = &wallet, .is_set = true, .currency = "RUB",
          .units = CHECK_MONEY_MAX, .cur = "RUB" },
        { .name = "missing", .rule = &wallet, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount is required" },
        { .name = "currency not accepted", .rule = &wallet, .is_set = true, .currency = "GBP",
          .units = 1, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.currency must be one of RUB,EUR,USD" },
        { .name = "zero", .rule = &wallet, .is_set = true, .currency = "RUB", .units = 0,
          .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.units must be between 1 and 1000000000000000 minor units (got 0)" },
        { .name = "over the maximum", .rule = &wallet, .is_set = true, .currency = "RUB",
          .units = CHECK_MONEY_MAX + 1, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.units must be between 1 and 1000000000000000 minor units "
                     "(got 1000000000000001)" },
        { .name = "negative", .rule = &wallet, .is_set = true, .currency = "RUB",
          .units = INT64_MIN, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.units must be between 1 and 1000000000000000 minor units "
                     "(got -9223372036854775808)" },
        { .name = "bid in any currency", .rule = &bid, .is_set = true, .currency = "JPY",
          .units = 7, .cur = "JPY" },
        { .name = "bid without currency", .rule = &bid, .is_set = true, .currency = "",
          .units = 7, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.currency must be three upper-case letters" },
        { .name = "bid in lower case", .rule = &bid, .is_set = true, .currency = "rub",
          .units = 7, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.currency must be three upper-case letters" },
        { .name = "bid of four letters", .rule = &bid, .is_set = true, .currency = "RUBX",
          .units = 7, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.currency must be three upper-case letters" },
        { .name = "band from zero", .rule = &band, .is_set = true, .currency = "EUR",
          .units = 0, .cur = "EUR" },
        { .name = "band without currency and default", .rule = &band, .is_set = true,
          .currency = "", .units = 0, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.currency must be one of RUB,EUR" },
        { .name = "band below zero", .rule = &band, .is_set = true, .currency = "RUB",
          .units = -1, .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "amount.units must be between 0 and 1000000000000000 minor units (got -1)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rpc_call *c = rpc_call_new_detached(NULL);
        Gavel__Common__V1__Money m;
        gavel__common__v1__money__init(&m);
        m.currency = (char *)cases[i].currency;
        m.units = cases[i].units;
        const char *cur = NULL;
        int rc = check_money(c, "amount", cases[i].is_set ? &m : NULL, cases[i].rule, &cur);
        print_message("%s\n", cases[i].name);
        assert_int_equal(rc, cases[i].want);
        if (rc == GRPC_STATUS_OK)
            assert_string_equal(cur, cases[i].cur);
        else
            assert_string_equal(rpc_call_message(c), cases[i].message);
        rpc_call_free_detached(c);
    }
}

static void currencies_are_checked_against_the_list(void **state)
{
    (void)state;
    static const struct { const char *in; bool ok; } cases[] = {
        { .in = "RUB", .ok = true }, { .in = "EUR", .ok = true }, { .in = "USD", .ok = true },
        { .in = "rub", .ok = false }, { .in = "GBP", .ok = false }, { .in = "RU", .ok = false },
        { .in = "RUBX", .ok = false }, { .in = "B,E", .ok = false }, { .in = "", .ok = false },
        { .in = "UB,", .ok = false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(check_currency_in_list(cases[i].in, "RUB,EUR,USD"), cases[i].ok);
}

static void units_range_is_min_to_the_maximum(void **state)
{
    (void)state;
    assert_true(check_money_units(0, 0));
    assert_false(check_money_units(0, 1));
    assert_true(check_money_units(CHECK_MONEY_MAX, 1));
    assert_false(check_money_units(CHECK_MONEY_MAX + 1, 0));
    assert_false(check_money_units(-1, 0));
}

static void money_is_built_in_the_arena(void **state)
{
    (void)state;
    arena *a = arena_new();
    char cur[4] = "EUR";
    Gavel__Common__V1__Money *m = check_money_new(a, cur, 1250);
    cur[0] = 'X'; /* the money keeps its own copy */
    assert_string_equal(m->currency, "EUR");
    assert_int_equal(m->units, 1250);
    assert_ptr_equal(m->base.descriptor, &gavel__common__v1__money__descriptor);
    assert_string_equal(check_money_new(a, NULL, 0)->currency, "");
    arena_free(a);
}

int main(void)
{
    log_init("check-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_fields_are_checked_against_their_rule),
        cmocka_unit_test(currencies_are_checked_against_the_list),
        cmocka_unit_test(units_range_is_min_to_the_maximum),
        cmocka_unit_test(money_is_built_in_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
