/*
 * Token buckets and the failed-login throttle against a real Redis
 * (GAVEL_TEST_REDIS; skipped without one): a bucket gives its burst, then
 * refuses with the wait until its next token, and refills; a take is all
 * or none across buckets; a rule that is off costs nothing; the script is
 * sent again after Redis forgot it; an unreachable Redis is an error, not
 * a refusal. Failed logins lock an account at its limit, for the rest of
 * its window, and a success clears the account's count only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache/cache.h"
#include "limit/limit.h"

static const char *redis;

static int setup(void **state)
{
    (void)state;
    redis = getenv("GAVEL_TEST_REDIS");
    if (redis != NULL)
        rds_configure(redis);
    return 0;
}

/* A bucket key no other run uses. */
static void fresh_key(const char *scope, char out[LIM_KEY_MAX])
{
    char id[33];
    request_id_new(id);
    assert_int_equal(lim_rate_key("test", scope, id, out, LIM_KEY_MAX), 0);
}

static void bucket_gives_its_burst_then_refuses_with_the_wait(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char key[LIM_KEY_MAX];
    fresh_key("addr", key);
    const char *keys[] = { key };
    lim_rule rule = { .per_min = 60, .burst = 3 }; /* a token a second */
    int64_t wait = -1;
    size_t which = 9;
    for (int i = 0; i < 3; i++)
        assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_REFUSED);
    assert_int_equal(which, 0);
    assert_true(wait > 0 && wait <= 1000);
    usleep((useconds_t)(wait + 50) * 1000);
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_REFUSED);
}

static void take_is_all_or_none_across_buckets(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char addr[LIM_KEY_MAX], user[LIM_KEY_MAX];
    fresh_key("addr", addr);
    fresh_key("user", user);
    const char *keys[] = { addr, user };
    lim_rule rules[] = { { .per_min = 1, .burst = 5 }, { .per_min = 1, .burst = 2 } };
    int64_t wait = 0;
    size_t which = 9;
    assert_int_equal(lim_take(2, keys, rules, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(2, keys, rules, &wait, &which), LIM_OK);
    /* The user's bucket is empty: refused, and the address keeps its tokens. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lim_take(2, keys, rules, &wait, &which), LIM_REFUSED);
        assert_int_equal(which, 1);
        assert_true(wait > 55000 && wait <= 60000);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(lim_take(1, keys, rules, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(1, keys, rules, &wait, &which), LIM_REFUSED);
    assert_int_equal(which, 0);
}

static void rules_that_are_off_are_skipped(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char addr[LIM_KEY_MAX], user[LIM_KEY_MAX];
    fresh_key("addr", addr);
    fresh_key("user", user);
    const char *keys[] = { addr, user };
    lim_rule rules[] = { { .per_min = 0, .burst = 0 }, { .per_min = 1, .burst = 1 } };
    int64_t wait = 0;
    size_t which = 9;
    assert_int_equal(lim_take(2, keys, rules, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(2, keys, rules, &wait, &which), LIM_REFUSED);
    assert_int_equal(which, 1); /* the index among all the keys, not those on */
    lim_rule off[] = { { 0 }, { 0 } };
    assert_int_equal(lim_take(2, keys, off, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(0, keys, off, &wait, &which), LIM_E_ARG);
    assert_int_equal(lim_take(LIM_TAKE_MAX + 1, keys, off, &wait, &which), LIM_E_ARG);
}

static void script_is_sent_again_after_redis_forgot_it(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char key[LIM_KEY_MAX];
    fresh_key("addr", key);
    const char *keys[] = { key };
    lim_rule rule = { .per_min = 60, .burst = 2 };
    int64_t wait = 0;
    size_t which = 0;
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_OK);
    int rc = 0;
    redisReply *r = rds_command(&rc, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_OK);
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_REFUSED);
}

static void unreachable_redis_is_an_error_not_a_refusal(void **state)
{
    (void)state;
    rds_thread_close();
    rds_configure("127.0.0.1:1");
    const char *keys[] = { "gavel:rate:test:addr:x" };
    lim_rule rule = { .per_min = 60, .burst = 2 };
    int64_t wait = 0;
    size_t which = 0;
    assert_int_equal(lim_take(1, keys, &rule, &wait, &which), LIM_E_REDIS);
    lim_login_rules rules = { .account_failures = 3, .address_failures = 5, .window_s = 60 };
    lim_login a;
    lim_login_init(&a, &rules, "x@example.com", "192.0.2.1");
    int over = 0;
    assert_int_equal(lim_login_check(&a, &wait, &over), LIM_E_REDIS);
    assert_int_equal(lim_login_failed(&a), LIM_E_REDIS);
    rds_thread_close();
    if (redis != NULL)
        rds_configure(redis);
}

/* An address no other run uses: 198.18.x.y (benchmarking space). */
static void fresh_addr(char out[32])
{
    uint8_t b[2];
    char id[33];
    request_id_new(id);
    assert_int_equal(hex_decode(id, b, sizeof b), 0);
    snprintf(out, 32, "198.18.%u.%u", b[0], b[1]);
}

static void failed_logins_lock_the_account_for_its_window(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char email[64], addr[32], id[33];
    request_id_new(id);
    snprintf(email, sizeof email, "lim-%s@example.com", id);
    fresh_addr(addr);
    lim_login_rules rules = { .account_failures = 3, .address_failures = 1000,
                              .window_s = 60 };
    lim_login a;
    int64_t wait = 0;
    int over = -1;
    for (int i = 0; i < 3; i++) {
        lim_login_init(&a, &rules, email, addr);
        assert_int_equal(lim_login_check(&a, &wait, &over), LIM_OK);
        assert_int_equal(lim_login_failed(&a), LIM_OK);
        assert_int_equal(a.counts[LIM_LOGIN_ACCOUNT], i + 1);
    }
    /* Another spelling of the email is the same account. */
    for (size_t i = 0; email[i] != '\0'; i++)
        if (email[i] >= 'a' && email[i] <= 'z')
            email[i] = (char)(email[i] - 32);
    lim_login_init(&a, &rules, email, addr);
    assert_int_equal(lim_login_check(&a, &wait, &over), LIM_REFUSED);
    assert_int_equal(over, LIM_LOGIN_ACCOUNT);
    assert_true(wait > 55 && wait <= 60);
    /* A success clears the account, not the address. */
    assert_int_equal(lim_login_succeeded(&a), LIM_OK);
    lim_login_init(&a, &rules, email, addr);
    assert_int_equal(lim_login_check(&a, &wait, &over), LIM_OK);
    assert_int_equal(a.counts[LIM_LOGIN_ACCOUNT], 0);
    assert_int_equal(a.counts[LIM_LOGIN_ADDRESS], 3);
}

static void failed_logins_lock_the_address_across_accounts(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char addr[32];
    fresh_addr(addr);
    lim_login_rules rules = { .account_failures = 0, .address_failures = 2, .window_s = 2 };
    lim_login a;
    int64_t wait = 0;
    int over = -1;
    for (int i = 0; i < 2; i++) {
        char email[64], id[33];
        request_id_new(id);
        snprintf(email, sizeof email, "lim-%s@example.com", id);
        lim_login_init(&a, &rules, email, addr);
        assert_int_equal(lim_login_check(&a, &wait, &over), LIM_OK);
        assert_int_equal(lim_login_failed(&a), LIM_OK);
    }
    lim_login_init(&a, &rules, "someone-else@example.com", addr);
    assert_int_equal(lim_login_check(&a, &wait, &over), LIM_REFUSED);
    assert_int_equal(over, LIM_LOGIN_ADDRESS);
    assert_true(wait >= 1 && wait <= 2);
    sleep(3);
    assert_int_equal(lim_login_check(&a, &wait, &over), LIM_OK);
}

int main(void)
{
    log_init("limit-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_gives_its_burst_then_refuses_with_the_wait),
        cmocka_unit_test(take_is_all_or_none_across_buckets),
        cmocka_unit_test(rules_that_are_off_are_skipped),
        cmocka_unit_test(script_is_sent_again_after_redis_forgot_it),
        cmocka_unit_test(unreachable_redis_is_an_error_not_a_refusal),
        cmocka_unit_test(failed_logins_lock_the_account_for_its_window),
        cmocka_unit_test(failed_logins_lock_the_address_across_accounts),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
