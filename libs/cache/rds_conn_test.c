/*
 * The Redis wrapper against a real Redis (GAVEL_TEST_REDIS): revocation
 * marks expire, unknown ids are not revoked, and a dropped connection is
 * re-opened transparently on the next command. The address setting is
 * checked without Redis.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache/cache.h"
#include "core/core.h"

static const char *redis;

static int setup(void **state)
{
    (void)state;
    redis = getenv("GAVEL_TEST_REDIS");
    if (redis != NULL)
        rds_configure(redis);
    return 0;
}

static void revoked_id_is_revoked_and_others_are_not(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char jti[33], other[33];
    request_id_new(jti);
    request_id_new(other);
    assert_int_equal(rds_is_revoked(jti), 0);
    assert_int_equal(rds_revoke(jti, 60), RDS_OK);
    assert_int_equal(rds_is_revoked(jti), 1);
    assert_int_equal(rds_is_revoked(other), 0);
}

static void revocation_expires_after_its_ttl(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char jti[33];
    request_id_new(jti);
    assert_int_equal(rds_revoke(jti, 1), RDS_OK);
    assert_int_equal(rds_is_revoked(jti), 1);
    usleep(2100000);
    assert_int_equal(rds_is_revoked(jti), 0);
}

static void connection_killed_by_server_is_reopened(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    int rc;
    redisReply *r = rds_command(&rc, "CLIENT KILL TYPE normal SKIPME no");
    assert_non_null(r); /* our own connection was killed along with the others */
    freeReplyObject(r);
    char jti[33];
    request_id_new(jti);
    assert_int_equal(rds_revoke(jti, 60), RDS_OK);
    assert_int_equal(rds_is_revoked(jti), 1);
}

static void unreachable_redis_reports_conn_error(void **state)
{
    (void)state;
    rds_thread_close();
    rds_configure("127.0.0.1:1");
    assert_int_equal(rds_is_revoked("x"), RDS_E_CONN);
    assert_int_equal(rds_revoke("x", 5), RDS_E_CONN);
    rds_thread_close();
    if (redis != NULL)
        rds_configure(redis);
}

static void server_error_reply_is_reported(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    int rc = 0;
    assert_null(rds_command(&rc, "NOSUCHCOMMAND"));
    assert_int_equal(rc, RDS_E_REPLY);
}

static void redis_address_setting_is_checked_strictly(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* the start of the error, or NULL: accepted */
    } cases[] = {
        { .in = "127.0.0.1:6379", .want = NULL },
        { .in = "redis.internal:1", .want = NULL },
        { .in = "::1:6379", .want = NULL },
        { .in = "localhost", .want = "GAVEL_REDIS_ADDR=localhost is not host:port" },
        { .in = "127.0.0.1:", .want = "GAVEL_REDIS_ADDR=127.0.0.1: is not host:port" },
        { .in = ":6379", .want = "GAVEL_REDIS_ADDR=:6379 is not host:port" },
        { .in = "h:65536", .want = "GAVEL_REDIS_ADDR=h:65536 is not host:port" },
        { .in = "h:63x", .want = "GAVEL_REDIS_ADDR=h:63x is not host:port" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        setenv("GAVEL_REDIS_ADDR", cases[i].in, 1);
        int rc = rds_config_load(err, sizeof err);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
                fail_msg("%s: got \"%s\"", cases[i].in, err);
        }
    }
    unsetenv("GAVEL_REDIS_ADDR");
}

int main(void)
{
    log_init("cache-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(revoked_id_is_revoked_and_others_are_not),
        cmocka_unit_test(revocation_expires_after_its_ttl),
        cmocka_unit_test(connection_killed_by_server_is_reopened),
        cmocka_unit_test(unreachable_redis_reports_conn_error),
        cmocka_unit_test(server_error_reply_is_reported),
        cmocka_unit_test(redis_address_setting_is_checked_strictly),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
