/*
 * Rules as the settings give them: a bucket that is on needs a burst,
 * values out of range are refused naming the variable, and the waits
 * given to clients round up (never a Retry-After of 0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "limit/limit.h"

static void rules_are_checked_naming_the_variables(void **state)
{
    (void)state;
    static const struct {
        lim_rule in;
        const char *want; /* the start of the error, or NULL: accepted */
    } cases[] = {
        { .in = { .per_min = 20, .burst = 10 }, .want = NULL },
        { .in = { .per_min = 0, .burst = 0 }, .want = NULL },
        { .in = { .per_min = 0, .burst = 5 }, .want = NULL },
        { .in = { .per_min = 1, .burst = 1 }, .want = NULL },
        { .in = { .per_min = 20, .burst = 0 },
          .want = "X_PER_MIN=20 turns the bucket on, so X_BURST must be at least 1" },
        { .in = { .per_min = -1, .burst = 1 }, .want = "X_PER_MIN=-1 is out of range" },
        { .in = { .per_min = LIM_PER_MIN_MAX + 1, .burst = 1 },
          .want = "X_PER_MIN=1000001 is out of range (allowed 0..1000000)" },
        { .in = { .per_min = 5, .burst = -2 }, .want = "X_BURST=-2 is out of range" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        int rc = lim_rule_check(&cases[i].in, "X_PER_MIN", "X_BURST", err, sizeof err);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, LIM_E_ARG);
            if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
                fail_msg("case %zu: got \"%s\"", i, err);
        }
    }
}

static void retry_after_rounds_up_and_is_never_0(void **state)
{
    (void)state;
    assert_int_equal(lim_retry_after_s(0), 1);
    assert_int_equal(lim_retry_after_s(1), 1);
    assert_int_equal(lim_retry_after_s(1000), 1);
    assert_int_equal(lim_retry_after_s(1001), 2);
    assert_int_equal(lim_retry_after_s(2999), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_are_checked_naming_the_variables),
        cmocka_unit_test(retry_after_rounds_up_and_is_never_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
