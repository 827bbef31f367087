/*
 * The pure parts of paid-service pricing: the coefficient arithmetic
 * (rounding up, overflow), the service table, a quote's service list,
 * update masks, and the whole-rule checks every write goes through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "pricing.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void coefficients_round_up_to_a_whole_minor_unit(void **state)
{
    (void)state;
    static const struct {
        int64_t base;
        int32_t permille;
        int rc;
        int64_t want;
    } cases[] = {
        { .base = 500, .permille = 1333, .want = 667 },         /* 666.5 */
        { .base = 4500, .permille = 1001, .want = 4505 },       /* 4504.5 */
        { .base = 30000, .permille = 1400, .want = 42000 },     /* exact */
        { .base = 1000, .permille = 1000, .want = 1000 },
        { .base = 1001, .permille = 1, .want = 2 },             /* 1.001 */
        { .base = 1, .permille = 1, .want = 1 },                /* 0.001 */
        { .base = 999, .permille = 500, .want = 500 },          /* 499.5 */
        { .base = 0, .permille = 100000, .want = 0 },           /* free stays free */
        { .base = 150000, .permille = 100000, .want = 15000000 },
        { .base = CHECK_MONEY_MAX, .permille = 1000, .want = CHECK_MONEY_MAX },
        { .base = CHECK_MONEY_MAX, .permille = 1001, .rc = PRICE_E_OVERFLOW },
        { .base = INT64_MAX, .permille = 100000, .rc = PRICE_E_OVERFLOW },
        { .base = INT64_MAX, .permille = 1, .rc = PRICE_E_OVERFLOW },
        { .base = -1, .permille = 1000, .rc = PRICE_E_OVERFLOW },
        { .base = 100, .permille = 0, .rc = PRICE_E_OVERFLOW },
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = -7;
        assert_int_equal(price_apply_permille(cases[i].base, cases[i].permille, &got),
                         cases[i].rc);
        assert_int_equal(got, cases[i].rc == PRICE_OK ? cases[i].want : -7);
    }
}

static void fees_are_per_mille_of_the_hammer_price_rounded_up(void **state)
{
    (void)state;
    static const struct {
        int64_t hammer;
        int32_t rate, coefficient;
        int rc;
        int64_t want;
    } cases[] = {
        { .hammer = 150000, .rate = 50, .coefficient = 1000, .want = 7500 },   /* 5 % */
        { .hammer = 150000, .rate = 50, .coefficient = 600, .want = 4500 },    /* 3 % */
        { .hammer = 1, .rate = 50, .coefficient = 1000, .want = 1 },           /* 0.05 up */
        { .hammer = 19, .rate = 50, .coefficient = 1000, .want = 1 },          /* 0.95 */
        { .hammer = 21, .rate = 50, .coefficient = 1000, .want = 2 },          /* 1.05 */
        { .hammer = 1000001, .rate = 1, .coefficient = 1, .want = 2 },         /* 1.000001 */
        { .hammer = 999999, .rate = 1, .coefficient = 1, .want = 1 },          /* 0.999999 */
        { .hammer = 3, .rate = 333, .coefficient = 1002, .want = 2 },          /* 1.000998 */
        { .hammer = 0, .rate = 50, .coefficient = 1000, .want = 0 },
        { .hammer = 150000, .rate = 0, .coefficient = 100000, .want = 0 },     /* 0 stays 0 */
        { .hammer = CHECK_MONEY_MAX, .rate = 1000, .coefficient = 1000,
          .want = CHECK_MONEY_MAX },
        { .hammer = CHECK_MONEY_MAX, .rate = 50, .coefficient = 1000,
          .want = CHECK_MONEY_MAX / 20 },
        { .hammer = CHECK_MONEY_MAX - 1, .rate = 1000, .coefficient = 1001,
          .rc = PRICE_E_OVERFLOW },                                          /* above the max */
        { .hammer = CHECK_MONEY_MAX, .rate = 1000, .coefficient = 100000,
          .rc = PRICE_E_OVERFLOW },
        { .hammer = CHECK_MONEY_MAX + 1, .rate = 1, .coefficient = 1, .rc = PRICE_E_OVERFLOW },
        { .hammer = INT64_MAX, .rate = 1000, .coefficient = 100000, .rc = PRICE_E_OVERFLOW },
        { .hammer = -1, .rate = 50, .coefficient = 1000, .rc = PRICE_E_OVERFLOW },
        { .hammer = 100, .rate = -1, .coefficient = 1000, .rc = PRICE_E_OVERFLOW },
        { .hammer = 100, .rate = 1001, .coefficient = 1000, .rc = PRICE_E_OVERFLOW },
        { .hammer = 100, .rate = 50, .coefficient = 0, .rc = PRICE_E_OVERFLOW },
        { .hammer = 100, .rate = 50, .coefficient = 100001, .rc = PRICE_E_OVERFLOW },
        { .hammer = 100, .rate = 50, .coefficient = INT32_MAX, .rc = PRICE_E_OVERFLOW },
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = -7;
        assert_int_equal(price_fee(cases[i].hammer, cases[i].rate, cases[i].coefficient, &got),
                         cases[i].rc);
        assert_int_equal(got, cases[i].rc == PRICE_OK ? cases[i].want : -7);
    }
}

static void ratios_refuse_what_could_overflow(void **state)
{
    (void)state;
    static const struct {
        int64_t amount, num, den;
        int rc;
        int64_t want;
    } cases[] = {
        { .amount = 7, .num = 1, .den = 2, .want = 4 },
        { .amount = 999999, .num = 1000000000, .den = 1000000, .want = 999999000 },
        { .amount = CHECK_MONEY_MAX, .num = 1, .den = 1000000, .want = 1000000000 },
        { .amount = 1, .num = 1000000001, .den = 1, .rc = PRICE_E_OVERFLOW },
        { .amount = 1, .num = 1, .den = 0, .rc = PRICE_E_OVERFLOW },
        { .amount = 1, .num = 1, .den = 1000001, .rc = PRICE_E_OVERFLOW },
        { .amount = 1, .num = -1, .den = 1, .rc = PRICE_E_OVERFLOW },
        { .amount = INT64_MAX, .num = 1000000000, .den = 1, .rc = PRICE_E_OVERFLOW },
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t got = -7;
        assert_int_equal(price_ceil_ratio(cases[i].amount, cases[i].num, cases[i].den, &got),
                         cases[i].rc);
        assert_int_equal(got, cases[i].rc == PRICE_OK ? cases[i].want : -7);
    }
}

static void fee_services_hold_rates(void **state)
{
    (void)state;
    const paid_service *bp = paid_service_find("buyer_premium");
    const paid_service *sc = paid_service_find("seller_commission");
    assert_non_null(bp);
    assert_non_null(sc);
    assert_true(bp->is_per_mille && sc->is_per_mille);
    assert_false(paid_service_find("hot")->is_per_mille);
    for (int k = 0; k < PAID_CURRENCIES; k++) {
        assert_int_equal(paid_service_base(bp, paid_currencies[k]), 0);
        assert_int_equal(paid_service_base(sc, paid_currencies[k]), 50);
    }
}

static void service_table_prices_every_currency(void **state)
{
    (void)state;
    size_t n = 0;
    const paid_service *all = paid_service_all(&n);
    assert_true(n >= 5 && n <= QUOTE_MAX_SERVICES);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(paid_service_find(all[i].code), &all[i]);
        for (int k = 0; k < PAID_CURRENCIES; k++)
            assert_true(paid_service_base(&all[i], paid_currencies[k]) >= 0);
        assert_non_null(strstr(paid_service_codes(), all[i].code));
    }
    assert_int_equal(paid_service_base(paid_service_find("hot"), "RUB"), 30000);
    assert_int_equal(paid_service_base(paid_service_find("hot"), "GBP"), -1);
    assert_null(paid_service_find("HOT"));
    assert_null(paid_service_find(""));
}

static void quote_service_lists_are_checked(void **state)
{
    (void)state;
    static char *many[QUOTE_MAX_SERVICES + 1];
    for (size_t i = 0; i < N(many); i++)
        many[i] = "hot";
    static const struct {
        char *codes[4];
        size_t n;
        int rc;
        const char *why;   /* a piece of the message */
    } cases[] = {
        { .codes = { "hot", "up" }, .n = 2 },
        { .codes = { "delivery" }, .n = 1 },
        { .codes = { "hot", "boost" }, .n = 2, .rc = PRICE_E_INVALID,
          .why = "services[1]: unknown service \"boost\"" },
        { .codes = { "" }, .n = 1, .rc = PRICE_E_INVALID, .why = "unknown service \"\"" },
        { .codes = { "up", "hot", "up" }, .n = 3, .rc = PRICE_E_INVALID,
          .why = "services[2]: \"up\" is listed twice (also services[0])" },
    };
    const paid_service *out[QUOTE_MAX_SERVICES];
    char why[512];
    for (size_t i = 0; i < N(cases); i++) {
        size_t n = 0;
        why[0] = '\0';
        assert_int_equal(quote_services_resolve(cases[i].codes, cases[i].n, out, &n, why,
                                                sizeof why), cases[i].rc);
        if (cases[i].rc == PRICE_OK) {
            assert_int_equal(n, cases[i].n);
            for (size_t k = 0; k < n; k++)
                assert_string_equal(out[k]->code, cases[i].codes[k]);
        } else {
            assert_non_null(strstr(why, cases[i].why));
        }
    }
    size_t n = 0, all = 0;
    paid_service_all(&all);
    assert_int_equal(quote_services_resolve(NULL, 0, out, &n, why, sizeof why), PRICE_OK);
    assert_int_equal(n, all); /* empty: every known service */
    assert_int_equal(quote_services_resolve(many, N(many), out, &n, why, sizeof why),
                     PRICE_E_INVALID);
    assert_non_null(strstr(why, "at most 50"));
}

static void update_masks_name_allowed_fields_only(void **state)
{
    (void)state;
    static const struct {
        char *names[3];
        size_t n;
        int rc;
        unsigned bits;
        const char *why;
    } cases[] = {
        { .names = { "priority" }, .n = 1, .bits = RULE_F_PRIORITY },
        { .names = { "adjustment", "note" }, .n = 2, .bits = RULE_F_ADJUSTMENT | RULE_F_NOTE },
        { .names = { "is_active", "is_active" }, .n = 2, .bits = RULE_F_ACTIVE },
        { .names = { "min_start_price", "max_start_price", "model" }, .n = 3,
          .bits = RULE_F_MIN_PRICE | RULE_F_MAX_PRICE | RULE_F_MODEL },
        { .n = 0, .rc = PRICE_E_INVALID, .why = "update_mask is empty" },
        { .names = { "note", "id" }, .n = 2, .rc = PRICE_E_INVALID,
          .why = "update_mask[1]: \"id\" cannot be changed" },
        { .names = { "coefficient_permille" }, .n = 1, .rc = PRICE_E_INVALID,
          .why = "\"coefficient_permille\" cannot be changed" },
        { .names = { "Priority" }, .n = 1, .rc = PRICE_E_INVALID, .why = "\"Priority\"" },
    };
    char why[512];
    for (size_t i = 0; i < N(cases); i++) {
        unsigned bits = 0;
        assert_int_equal(price_mask_parse(cases[i].names, cases[i].n, &bits, why, sizeof why),
                         cases[i].rc);
        if (cases[i].rc == PRICE_OK)
            assert_int_equal(bits, cases[i].bits);
        else
            assert_non_null(strstr(why, cases[i].why));
    }
}

/* A valid coefficient rule that the cases below break one way each. */
static price_rule valid_rule(void)
{
    return (price_rule){ .service = "hot", .region = "", .make = "BMW", .model = "X5",
                         .year_from = 2010, .year_to = 2015, .priority = 10,
                         .coefficient_permille = 1400, .is_active = true, .note = "" };
}

static void rules_are_checked_whole(void **state)
{
    (void)state;
    struct {
        price_rule r;
        const char *why;      /* NULL: valid */
        const char *currency; /* when valid */
    } cases[32];
    size_t n = 0;
    price_rule r;
#define CASE(edit, want_why, want_cur)                                                        \
    do {                                                                                     \
        r = valid_rule();                                                                    \
        edit;                                                                                \
        assert_true(n < N(cases));                                                           \
        cases[n].r = r;                                                                      \
        cases[n].why = want_why;                                                             \
        cases[n++].currency = want_cur;                                                      \
    } while (0)
    CASE((void)0, NULL, NULL);
    CASE((r.is_fixed = true, r.coefficient_permille = 0, r.fixed_price = 0,
          r.fixed_currency = "EUR"), NULL, "EUR");
    CASE((r.has_min = true, r.min_start_price = 0, r.min_currency = "RUB", r.has_max = true,
          r.max_start_price = 1, r.max_currency = "RUB"), NULL, "RUB");
    CASE((r.year_from = 0, r.year_to = 0, r.make = "", r.model = ""), NULL, NULL);
    CASE(r.service = "boost", "service \"boost\" is not a known service", NULL);
    CASE(r.make = "", "model needs make", NULL);
    CASE(r.category_id = -1, "category_id", NULL);
    CASE((r.year_from = 2016), "year_from must not be after year_to", NULL);
    CASE((r.year_to = 1800), "1900..2100", NULL);
    CASE((r.year_from = 2101, r.year_to = 0), "1900..2100", NULL);
    CASE((r.has_min = true, r.min_start_price = 500, r.min_currency = "RUB", r.has_max = true,
          r.max_start_price = 500, r.max_currency = "RUB"), "exclusive", NULL);
    CASE((r.has_min = true, r.min_start_price = -1, r.min_currency = "RUB"), "0..10^15", NULL);
    CASE((r.has_max = true, r.max_start_price = 0, r.max_currency = "RUB"), "1..10^15", NULL);
    CASE(r.priority = 1001, "priority must be -1000..1000", NULL);
    CASE(r.priority = -1001, "priority must be -1000..1000", NULL);
    CASE(r.coefficient_permille = 0, "coefficient_permille must be 1..100000", NULL);
    CASE(r.coefficient_permille = 100001, "coefficient_permille must be 1..100000", NULL);
    CASE((r.is_fixed = true, r.fixed_price = -5, r.fixed_currency = "RUB"), "fixed_price", NULL);
    CASE((r.is_fixed = true, r.fixed_price = 100, r.fixed_currency = "GBP"),
         "fixed_price.currency must be one of RUB,EUR,USD", NULL);
    CASE((r.is_fixed = true, r.fixed_price = 100, r.fixed_currency = "EUR", r.has_min = true,
          r.min_start_price = 1, r.min_currency = "RUB"), "a rule holds one currency", NULL);
#undef CASE
    char why[512];
    for (size_t i = 0; i < n; i++) {
        const char *cur = "unset";
        int rc = price_rule_check(&cases[i].r, "RUB,EUR,USD", &cur, why, sizeof why);
        if (cases[i].why == NULL) {
            assert_int_equal(rc, PRICE_OK);
            if (cases[i].currency == NULL)
                assert_null(cur);
            else
                assert_string_equal(cur, cases[i].currency);
        } else {
            assert_int_equal(rc, PRICE_E_INVALID);
            assert_non_null(strstr(why, cases[i].why));
        }
    }
}

static void apply_copies_only_the_named_fields(void **state)
{
    (void)state;
    Gavel__Common__V1__Money fixed = GAVEL__COMMON__V1__MONEY__INIT;
    fixed.currency = "USD";
    fixed.units = 900;
    Gavel__Auctions__V1__PriceRule m = GAVEL__AUCTIONS__V1__PRICE_RULE__INIT;
    m.service = "up";
    m.priority = -3;
    m.make = "Lada";
    m.adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_FIXED_PRICE;
    m.fixed_price = &fixed;
    char why[256];

    price_rule r = valid_rule();
    assert_int_equal(price_rule_apply(&r, &m, RULE_F_PRIORITY, why, sizeof why), PRICE_OK);
    assert_int_equal(r.priority, -3);
    assert_string_equal(r.service, "hot");          /* not named: kept */
    assert_string_equal(r.make, "BMW");
    assert_false(r.is_fixed);

    assert_int_equal(price_rule_apply(&r, &m, RULE_F_ADJUSTMENT | RULE_F_MAKE, why, sizeof why),
                     PRICE_OK);
    assert_true(r.is_fixed);
    assert_int_equal(r.fixed_price, 900);
    assert_string_equal(r.fixed_currency, "USD");
    assert_int_equal(r.coefficient_permille, 0);
    assert_string_equal(r.make, "Lada");

    m.adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT__NOT_SET;
    assert_int_equal(price_rule_apply(&r, &m, RULE_F_ALL, why, sizeof why), PRICE_E_INVALID);
    assert_non_null(strstr(why, "adjustment missing"));

    m.adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_COEFFICIENT_PERMILLE;
    m.coefficient_permille = 2500;
    r = valid_rule();
    assert_int_equal(price_rule_apply(&r, &m, RULE_F_ALL, why, sizeof why), PRICE_OK);
    assert_false(r.is_fixed);
    assert_int_equal(r.coefficient_permille, 2500);
    assert_string_equal(r.model, "");               /* RULE_F_ALL: the message's "" */
    assert_false(r.has_min);
}

int main(void)
{
    log_init("pricing-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(coefficients_round_up_to_a_whole_minor_unit),
        cmocka_unit_test(fees_are_per_mille_of_the_hammer_price_rounded_up),
        cmocka_unit_test(ratios_refuse_what_could_overflow),
        cmocka_unit_test(fee_services_hold_rates),
        cmocka_unit_test(service_table_prices_every_currency),
        cmocka_unit_test(quote_service_lists_are_checked),
        cmocka_unit_test(update_masks_name_allowed_fields_only),
        cmocka_unit_test(rules_are_checked_whole),
        cmocka_unit_test(apply_copies_only_the_named_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
