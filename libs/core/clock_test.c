/*
 * clock_test: now_us() is the wall clock in microseconds, mono_us() never
 * goes backwards and measures real elapsed time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <time.h>

#include "core.h"

static void test_now_us_matches_the_wall_clock(void **state)
{
    (void)state;
    /* time() reads the coarse clock, which may still show the previous
       second for a few milliseconds after CLOCK_REALTIME has moved on:
       allow that one second on the late side. */
    int64_t before = (int64_t)time(NULL);
    int64_t us = now_us();
    int64_t after = (int64_t)time(NULL);
    assert_true(us / 1000000 >= before && us / 1000000 <= after + 1);
}

static void test_mono_us_never_goes_backwards(void **state)
{
    (void)state;
    int64_t prev = mono_us();
    for (int i = 0; i < 100000; i++) {
        int64_t t = mono_us();
        assert_true(t >= prev);
        prev = t;
    }
}

static void test_mono_us_measures_a_sleep(void **state)
{
    (void)state;
    int64_t start = mono_us();
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    int64_t elapsed = mono_us() - start;
    assert_true(elapsed >= 20000);
    assert_true(elapsed < 2000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_us_matches_the_wall_clock),
        cmocka_unit_test(test_mono_us_never_goes_backwards),
        cmocka_unit_test(test_mono_us_measures_a_sleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
