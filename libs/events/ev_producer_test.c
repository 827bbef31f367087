/*
 * ev_producer_test: the idempotent producer against a real broker
 * (GAVEL_TEST_KAFKA, e.g. gavel-devbroker; skipped when unset).
 * Proves that ev_produce_sync returns only after the broker acknowledged,
 * that concurrent callers each get their own report with per-key order
 * kept, and that an unreachable broker fails within the caller's timeout
 * or the delivery timeout, whichever is first, without leaking the
 * pending report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "events/ev_test_util.h"

static void produce_sync_returns_once_the_broker_has_the_message(void **state)
{
    char err[256], *topic = evt_unique("evtest.sync");
    ev_producer *p;
    evt_msg *got;
    size_t n;
    (void)state;

    p = ev_producer_new(evt_kafka(), err, sizeof err);
    if (p == NULL)
        fail_msg("ev_producer_new: %s", err);
    assert_int_equal(ev_produce_sync(p, topic, "k1", 2, "hello", 5, 10000), 0);
    got = evt_read_topic(topic, 1, 15000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].key, "k1");
    assert_string_equal(got[0].value, "hello");
    evt_msgs_free(got, n);
    ev_producer_free(p);
    free(topic);
}

enum { THREADS = 4, PER_THREAD = 100 };

typedef struct {
    ev_producer *p;
    const char *topic;
    int index;
    int failures;
} worker;

static void *produce_many(void *arg)
{
    worker *w = arg;
    char key[16], value[32];

    snprintf(key, sizeof key, "t%d", w->index);
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(value, sizeof value, "%d", i);
        if (ev_produce_sync(w->p, w->topic, key, strlen(key), value, strlen(value), 10000) != 0)
            w->failures++;
    }
    return NULL;
}

static void concurrent_callers_each_get_their_report_in_key_order(void **state)
{
    char err[256], *topic = evt_unique("evtest.concurrent");
    pthread_t th[THREADS];
    worker w[THREADS];
    int next[THREADS] = {0};
    ev_producer *p;
    evt_msg *got;
    size_t n;
    (void)state;

    assert_non_null(p = ev_producer_new(evt_kafka(), err, sizeof err));
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.p = p, .topic = topic, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, produce_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    got = evt_read_topic(topic, THREADS * PER_THREAD, 20000, &n);
    assert_int_equal(n, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++) {
        int t = got[i].key[1] - '0';

        assert_in_range(t, 0, THREADS - 1);
        assert_int_equal(strtol(got[i].value, NULL, 10), next[t]);
        next[t]++;
    }
    evt_msgs_free(got, n);
    ev_producer_free(p);
    free(topic);
}

static void unreachable_broker_fails_within_the_timeout(void **state)
{
    char err[256], *dead = evt_dead_bootstrap();
    ev_producer *p;
    int64_t t0;
    (void)state;

    setenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", "1500", 1);
    p = ev_producer_new(dead, err, sizeof err);
    unsetenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS");
    assert_non_null(p);

    /* The caller's timeout comes first: its report arrives after it left. */
    t0 = mono_us();
    assert_int_equal(ev_produce_sync(p, "evtest.dead", "k", 1, "v", 1, 300), EV_E_KAFKA);
    assert_in_range(mono_us() - t0, 250000, 1200000);

    /* The delivery timeout comes first: the report itself says failed. */
    t0 = mono_us();
    assert_int_equal(ev_produce_sync(p, "evtest.dead", "k", 1, "v", 1, 10000), EV_E_KAFKA);
    assert_in_range(mono_us() - t0, 500000, 5000000);

    ev_producer_free(p);
    free(dead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(produce_sync_returns_once_the_broker_has_the_message),
        cmocka_unit_test(concurrent_callers_each_get_their_report_in_key_order),
        cmocka_unit_test(unreachable_broker_fails_within_the_timeout),
    };

    log_init("ev_producer_test", LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
