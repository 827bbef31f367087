/*
 * ev_config_test: the events library reads its settings strictly. A bad
 * value is refused by ev_config_load naming the variable, and a producer,
 * relay or consumer started with it does not start (no broker or database
 * is needed: the settings are read first).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events.h"

static const struct {
    const char *env, *value;
    const char *want; /* the error ev_config_load gives */
} bad[] = {
    { .env = "GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", .value = "50",
      .want = "GAVEL_KAFKA_DELIVERY_TIMEOUT_MS=50 is out of range (allowed 100..300000)" },
    { .env = "GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", .value = "30s",
      .want = "GAVEL_KAFKA_DELIVERY_TIMEOUT_MS=30s is not an integer (allowed 100..300000)" },
    { .env = "GAVEL_KAFKA_SESSION_TIMEOUT_MS", .value = "0",
      .want = "GAVEL_KAFKA_SESSION_TIMEOUT_MS=0 is out of range (allowed 1000..3600000)" },
    { .env = "GAVEL_OUTBOX_RETENTION_S", .value = "-1",
      .want = "GAVEL_OUTBOX_RETENTION_S=-1 is out of range (allowed 1..315360000)" },
};

static void defaults_load(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(ev_config_load(err, sizeof err), 0);
    assert_string_equal(err, "");
}

static void bad_setting_is_refused_naming_the_variable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        setenv(bad[i].env, bad[i].value, 1);
        assert_int_equal(ev_config_load(err, sizeof err), -1);
        assert_string_equal(err, bad[i].want);
        unsetenv(bad[i].env);
    }
}

static int ignore(db_conn *c, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)c;
    (void)env;
    (void)arg;
    return 0;
}

/* Regression: the library used to clamp or ignore these (a delivery
 * timeout of 50 became 100, "30s" became the default). */
static void nothing_starts_on_a_bad_setting(void **state)
{
    (void)state;
    char err[256] = "";
    static const char *const topics[] = { "t", NULL };
    setenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", "50", 1);
    assert_null(ev_producer_new("127.0.0.1:1", err, sizeof err));
    assert_string_equal(err, bad[0].want);
    assert_null(ev_relay_start(NULL, NULL));
    unsetenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS");
    setenv("GAVEL_KAFKA_SESSION_TIMEOUT_MS", "0", 1);
    assert_null(ev_consumer_start("127.0.0.1:1", "g", topics, NULL, ignore, NULL, err,
                                  sizeof err));
    assert_string_equal(err, bad[2].want);
    unsetenv("GAVEL_KAFKA_SESSION_TIMEOUT_MS");
    setenv("GAVEL_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
    setenv("GAVEL_OUTBOX_RETENTION_S", "0", 1);
    assert_null(ev_bootstrap());
    unsetenv("GAVEL_OUTBOX_RETENTION_S");
    unsetenv("GAVEL_KAFKA_BOOTSTRAP");
}

static void series_are_declared_in_the_table(void **state)
{
    (void)state;
    size_t n = 0;
    for (const mx_entry *e = ev_metrics; e->name != NULL; e++, n++)
        assert_int_equal(strncmp(e->name, "gavel_events_", 13), 0);
    assert_int_equal(n, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_load),
        cmocka_unit_test(bad_setting_is_refused_naming_the_variable),
        cmocka_unit_test(nothing_starts_on_a_bad_setting),
        cmocka_unit_test(series_are_declared_in_the_table),
    };

    log_init("ev_config_test", LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
