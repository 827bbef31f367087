/*
 * A listener beside gRPC (the gateway's HTTP loop), with a fake listener
 * that records what it is told and when: it starts after gRPC listens and
 * before health says SERVING; on the way out health is NOT_SERVING before
 * it is told to drain, it drains while gRPC drains (one budget, not two
 * one after the other), and it stops only after both drained. A daemon
 * with no methods of its own still answers gRPC health.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"
#include "rpc/rpc_test_health.h"
#include "gavel/common/v1/common.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

#define PING_DESC &gavel__common__v1__ping_request__descriptor
#define PONG_DESC &gavel__common__v1__ping_response__descriptor
#define HANDLER_MS 500
#define DRAIN_MS 500

static const rpc_client_method t_slow = { "/t.T/Slow", NULL, PING_DESC, PONG_DESC };

/* What the fake listeners saw, in order. */
typedef struct {
    char what[32];
    int64_t at_us;
    int budget_ms;
    bool is_healthy;     /* what /healthz would have answered then */
    int grpc_health;     /* start only: Health/Check's answer over gRPC */
} event;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static event events[16];
static size_t nevents;
static atomic_bool slow_started;
static _Atomic int64_t slow_done_us;

static event *record(const char *listener, const char *what)
{
    pthread_mutex_lock(&mu);
    event *e = &events[nevents++];
    snprintf(e->what, sizeof e->what, "%s %s", listener, what);
    e->at_us = mono_us();
    e->is_healthy = rpc__front_is_healthy();
    pthread_mutex_unlock(&mu);
    return e;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* arg: the listener's name; "refuse" fails its start. */
static int fake_start(void *arg, char *err, size_t errlen)
{
    const char *name = arg;
    if (strcmp(name, "refuse") == 0) {
        snprintf(err, errlen, "port 8605 is taken");
        return -1;
    }
    record(name, "start")->grpc_health = test_grpc_health();
    return 0;
}

static void fake_drain(void *arg, int budget_ms)
{
    record(arg, "drain")->budget_ms = budget_ms;
    sleep_ms(DRAIN_MS); /* the in-flight requests it finishes */
    record(arg, "drained");
}

static void fake_stop(void *arg)
{
    record(arg, "stop");
}

static int slow(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    atomic_store(&slow_started, true);
    sleep_ms(HANDLER_MS);
    int rc = rpc_ping(c, in, out);
    atomic_store(&slow_done_us, mono_us());
    return rc;
}

static const rpc_method slow_methods[] = {
    { .name = "/t.T/Slow", .request = PING_DESC, .response = PONG_DESC, .handler = slow },
    { 0 },
};
static const rpc_method *const slow_tables[] = { slow_methods, NULL };

static const rpc_listener one_http[] = {
    { "http", fake_start, fake_drain, fake_stop, "http" },
    { 0 },
};
static const rpc_listener second_refuses[] = {
    { "http", fake_start, fake_drain, fake_stop, "http" },
    { "refuse", fake_start, fake_drain, fake_stop, "refuse" },
    { 0 },
};

static int reset(void **state)
{
    (void)state;
    nevents = 0;
    atomic_store(&slow_started, false);
    atomic_store(&slow_done_us, 0);
    return 0;
}

static const event *find(const char *what)
{
    for (size_t i = 0; i < nevents; i++)
        if (strcmp(events[i].what, what) == 0)
            return &events[i];
    fail_msg("no event \"%s\"", what);
    return NULL;
}

static void a_daemon_without_methods_serves_health_around_its_listener(void **state)
{
    (void)state;
    const rpc_service gw = { .name = "gateway", .listeners = one_http };
    char err[256];
    assert_int_equal(rpc__front_start(&gw, "127.0.0.1:0", err, sizeof err), 0);
    /* The listener started with gRPC already listening, not yet serving. */
    assert_int_equal(nevents, 1);
    assert_string_equal(events[0].what, "http start");
    assert_false(events[0].is_healthy);
    assert_int_equal(events[0].grpc_health,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    rpc__front_serve();
    assert_true(rpc__front_is_healthy());
    assert_int_equal(test_grpc_health(),
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    rpc__front_stop(1000);
    assert_int_equal(nevents, 4);
    assert_string_equal(events[1].what, "http drain");
    assert_false(events[1].is_healthy); /* NOT_SERVING before the drain */
    assert_int_equal(events[1].budget_ms, 1000);
    assert_string_equal(events[2].what, "http drained");
    assert_string_equal(events[3].what, "http stop");
    assert_int_equal(rpc__front_port(), 0);
}

typedef struct {
    grpc_status_code status;
    int port;
} slow_call;

static void *call_slow(void *arg)
{
    slow_call *sc = arg;
    char target[64], err[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", sc->port);
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 5000 };
    ProtobufCMessage *resp = NULL;
    sc->status = rpc_unary(rpc_channel_get(target), &t_slow, &req.base, &resp, &o, err,
                           sizeof err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return NULL;
}

static void grpc_and_listener_drain_together_within_one_budget(void **state)
{
    (void)state;
    const rpc_service svc = { .name = "both", .tables = slow_tables, .listeners = one_http };
    char err[256];
    assert_int_equal(rpc__front_start(&svc, "127.0.0.1:0", err, sizeof err), 0);
    rpc__front_serve();
    slow_call sc = { .status = GRPC_STATUS_UNKNOWN, .port = rpc__front_port() };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_slow, &sc), 0);
    int64_t until = mono_us() + 5000000;
    while (!atomic_load(&slow_started) && mono_us() < until)
        sleep_ms(5);
    assert_true(atomic_load(&slow_started));
    int64_t t0 = mono_us();
    rpc__front_stop(3000);
    int64_t took_ms = (mono_us() - t0) / 1000;
    pthread_join(t, NULL);
    /* The call in flight finished within the drain, not cancelled. */
    assert_int_equal(sc.status, GRPC_STATUS_OK);
    /* Side by side: about max(HANDLER_MS, DRAIN_MS), where one after the
     * other would take their sum. */
    if (took_ms >= HANDLER_MS + DRAIN_MS - 100)
        fail_msg("drain took %lld ms: gRPC and the listener did not drain together",
                 (long long)took_ms);
    const event *drain = find("http drain");
    assert_int_equal(drain->budget_ms, 3000);
    assert_false(drain->is_healthy);
    /* Stopped only after both drained. */
    const event *stop = find("http stop");
    assert_true(stop->at_us >= find("http drained")->at_us);
    assert_true(stop->at_us >= atomic_load(&slow_done_us));
}

static void a_listener_that_fails_to_start_stops_those_before_it(void **state)
{
    (void)state;
    const rpc_service svc = { .name = "gateway", .listeners = second_refuses };
    char err[256];
    assert_int_equal(rpc__front_start(&svc, "127.0.0.1:0", err, sizeof err), -1);
    assert_string_equal(err, "listener refuse: port 8605 is taken");
    assert_int_equal(nevents, 2);
    assert_string_equal(events[0].what, "http start");
    assert_string_equal(events[1].what, "http stop"); /* never told to drain */
    assert_int_equal(rpc__front_port(), 0);
    rpc__front_stop(1000); /* nothing left to stop */
    assert_int_equal(nevents, 2);
}

int main(void)
{
    log_init("rpc_listener_test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_daemon_without_methods_serves_health_around_its_listener,
                               reset),
        cmocka_unit_test_setup(grpc_and_listener_drain_together_within_one_budget, reset),
        cmocka_unit_test_setup(a_listener_that_fails_to_start_stops_those_before_it, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
