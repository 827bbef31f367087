/*
 * The whole skeleton, rpc_server_main, running a small daemon declared
 * with every part of the service block: a database with its migrations, the
 * outbox relay, a consumer, a metric and a listener beside gRPC. A thread
 * waits for SERVING, asks gRPC health, and sends SIGTERM. The hooks record
 * what they see, proving the order both ways: the pool and relay exist
 * before post_init and are gone after the return, post_init runs before the
 * consumer and the listener start, the listener drains after health turned
 * NOT_SERVING, and pre_exit runs after the listener stopped with the pool
 * and relay still open. Needs PostgreSQL (GAVEL_TEST_PG_DSN) and a broker
 * (GAVEL_TEST_KAFKA); skipped without them. Also: a wrong descriptor pair
 * in a method table fails the start, naming the row, before anything runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"
#include "rpc/rpc_test_health.h"
#include "gavel/users/v1/users.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

static db_pool *pool;
static ev_relay *relay;
static mx_metric *m_probe;
static char steps[16][48];
static size_t nsteps;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void step(const char *what)
{
    pthread_mutex_lock(&mu);
    snprintf(steps[nsteps++], sizeof steps[0], "%s", what);
    pthread_mutex_unlock(&mu);
}

static int t_post_init(void)
{
    /* The block is up: pool open and migrated, relay running, metrics in. */
    step(pool != NULL && relay != NULL && m_probe != NULL ? "post_init ready" : "post_init early");
    return 0;
}

static void t_pre_exit(void)
{
    step(pool != NULL && relay != NULL ? "pre_exit open" : "pre_exit closed");
}

static int ignore(db_conn *c, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)c;
    (void)env;
    (void)arg;
    return 0;
}

static int l_start(void *arg, char *err, size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    step(rpc__front_is_healthy() ? "listener start serving" : "listener start");
    return 0;
}

static void l_drain(void *arg, int budget_ms)
{
    (void)arg;
    char s[48];
    snprintf(s, sizeof s, "listener drain %d%s", budget_ms,
             rpc__front_is_healthy() ? " serving" : "");
    step(s);
}

static void l_stop(void *arg)
{
    (void)arg;
    step("listener stop");
}

static const db_migration t_own[] = {
    { 1, "001_probe.sql", "CREATE TABLE IF NOT EXISTS rpc_main_probe (id int)" },
    { 0 },
};
static const rpc_migrations t_migrations[] = { { "t", t_own }, { 0 } };
static const char *const t_topics[] = { "rpc-main-test", NULL };
static const rpc_consumer t_consumers[] = {
    { .group = "rpc-main-test", .topics = t_topics, .handler = ignore },
    { 0 },
};
static const mx_entry t_metrics[] = {
    { "gavel_t_probe_total", mx_counter, "A probe.", NULL, &m_probe },
    { 0 },
};
static const rpc_listener t_listeners[] = {
    { "fake-http", l_start, l_drain, l_stop, NULL },
    { 0 },
};

static const rpc_service t_daemon = {
    .name = "t",
    .addr_env = "GAVEL_T_ADDR",
    .default_addr = "127.0.0.1:0",
    .db = { .name = "gavel_test", .pool_default = 3, .pool_min = 2, .pool_max = 8,
            .migrations = t_migrations, .pool = &pool },
    .outbox = { .is_on = true, .relay = &relay },
    .consumers = t_consumers,
    .metrics = t_metrics,
    .listeners = t_listeners,
    .post_init = t_post_init,
    .pre_exit = t_pre_exit,
};

/* Waits for SERVING, checks it over gRPC, then stops the daemon. */
static void *operator_main(void *arg)
{
    (void)arg;
    int64_t until = mono_us() + 60000000;
    while (!rpc__front_is_healthy() && mono_us() < until) {
        struct timespec ms = { 0, 10000000 };
        nanosleep(&ms, NULL);
    }
    if (test_grpc_health() == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
        step("health SERVING");
    kill(getpid(), SIGTERM);
    return NULL;
}

static void the_skeleton_starts_and_stops_the_block_in_order(void **state)
{
    (void)state;
    const char *dsn = getenv("GAVEL_TEST_PG_DSN"), *kafka = getenv("GAVEL_TEST_KAFKA");
    if (dsn == NULL || kafka == NULL)
        skip();
    setenv("GAVEL_PG_DSN", dsn, 1);
    setenv("GAVEL_KAFKA_BOOTSTRAP", kafka, 1);
    setenv("GAVEL_METRICS_PORT", "0", 1);
    setenv("GAVEL_DRAIN_MS", "700", 1);
    char *argv[] = { "gavel-t", NULL };
    pthread_t op;
    /* The skeleton blocks the signals in every thread it starts; so must
     * this one, created first, or SIGTERM could land here. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    assert_int_equal(pthread_create(&op, NULL, operator_main, NULL), 0);
    assert_int_equal(rpc_server_main(&t_daemon, 1, argv), 0);
    pthread_join(op, NULL);
    static const char *const want[] = {
        "post_init ready", "listener start", "health SERVING", "listener drain 700",
        "listener stop", "pre_exit open",
    };
    for (size_t i = 0; i < nsteps; i++)
        fprintf(stderr, "step %zu: %s\n", i, steps[i]);
    assert_int_equal(nsteps, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < nsteps; i++)
        assert_string_equal(steps[i], want[i]);
    assert_null(pool);
    assert_null(relay);
    unsetenv("GAVEL_PG_DSN");
    unsetenv("GAVEL_KAFKA_BOOTSTRAP");
    unsetenv("GAVEL_DRAIN_MS");
}

static int never(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)c;
    (void)in;
    (void)out;
    return GRPC_STATUS_OK;
}

static const rpc_method swapped[] = {
    { .name = "/gavel.users.v1.Users/Login",
      .request = &gavel__users__v1__login_response__descriptor,
      .response = &gavel__users__v1__login_request__descriptor, .handler = never },
    { 0 },
};
static const rpc_method *const swapped_tables[] = { swapped, NULL };
static const ProtobufCServiceDescriptor *const users_descriptors[] = {
    &gavel__users__v1__users__descriptor, NULL
};

static void a_wrong_descriptor_pair_fails_the_start(void **state)
{
    (void)state;
    nsteps = 0;
    const rpc_service bad = { .name = "t", .addr_env = "GAVEL_T_ADDR",
                              .default_addr = "127.0.0.1:0", .tables = swapped_tables,
                              .descriptors = users_descriptors, .post_init = t_post_init,
                              .pre_exit = t_pre_exit };
    char *argv[] = { "gavel-t", NULL };
    assert_int_equal(rpc_server_main(&bad, 1, argv), 1);
    /* Nothing of the daemon's ran but its pre_exit (every way out). */
    assert_int_equal(nsteps, 1);
    assert_string_equal(steps[0], "pre_exit closed");
    char err[256];
    assert_int_equal(rpc_service_check(&bad, err, sizeof err), -1);
    assert_string_equal(err, "method table row /gavel.users.v1.Users/Login: request is "
                             "gavel.users.v1.LoginResponse, the service descriptor says "
                             "gavel.users.v1.LoginRequest");
}

int main(void)
{
    log_init("rpc_main_test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_skeleton_starts_and_stops_the_block_in_order),
        cmocka_unit_test(a_wrong_descriptor_pair_fails_the_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
