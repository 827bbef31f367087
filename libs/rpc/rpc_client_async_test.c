/*
 * rpc_unary_start against real servers on loopback: the answer comes on a
 * completion thread exactly once, calls in flight outnumber threads, and
 * retries and dead peers behave as rpc_unary's without holding a thread.
 */
#include "rpc/rpc_test_server.h"

/* ---- rpc_unary_start: the same call without holding the thread ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ends;                     /* callbacks seen */
    grpc_status_code st;
    ProtobufCMessage *resp;
    char err[256];
    pthread_t thread;             /* where the callback ran */
} async_end;

static void async_end_init(async_end *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
}

static void on_async_end(grpc_status_code st, ProtobufCMessage *resp, const char *err,
                         void *arg)
{
    async_end *e = arg;
    pthread_mutex_lock(&e->mu);
    e->ends++;
    e->st = st;
    e->resp = resp;
    snprintf(e->err, sizeof e->err, "%s", err);
    e->thread = pthread_self();
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Waits for the callback (at most 10 s); then 100 ms more for a second one
 * that must never come. */
static void async_wait(async_end *e)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&e->mu);
    while (e->ends == 0 && pthread_cond_timedwait(&e->cv, &e->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&e->mu);
    usleep(100000);
    pthread_mutex_lock(&e->mu);
    assert_int_equal(e->ends, 1);
    pthread_mutex_unlock(&e->mu);
}

static void async_call_is_answered_on_the_completion_thread(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"lot:7";
    req.payload.len = 5;
    rpc_call_opts o = { .deadline_ms = 3000 };
    async_end e;
    async_end_init(&e);
    char err[256];
    assert_int_equal(rpc_unary_start(ch, &t_ping, &req.base, &o, on_async_end, &e, err,
                                     sizeof err), 0);
    async_wait(&e);
    assert_int_equal(e.st, GRPC_STATUS_OK);
    assert_false(pthread_equal(e.thread, pthread_self()));
    const Gavel__Common__V1__PingResponse *r = (const void *)e.resp;
    assert_int_equal(r->payload.len, 5);
    assert_memory_equal(r->payload.data, "lot:7", 5);
    protobuf_c_message_free_unpacked(e.resp, NULL);
}

static void async_calls_in_flight_outnumber_threads(void **state)
{
    (void)state;
    /* 12 calls (under the server's queue bound of 16) to a handler that
     * takes 300 ms, started from this one
     * thread: starting them does not wait for any of them, and each gets
     * its own end. */
    enum { N = 12 };
    static async_end e[N];
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 20000 };
    char err[256];
    int64_t t0 = mono_us();
    for (int i = 0; i < N; i++) {
        async_end_init(&e[i]);
        assert_int_equal(rpc_unary_start(ch, &t_slow, &req.base, &o, on_async_end, &e[i], err,
                                         sizeof err), 0);
    }
    assert_true(mono_us() - t0 < 250000);
    for (int i = 0; i < N; i++) {
        async_wait(&e[i]);
        assert_int_equal(e[i].st, GRPC_STATUS_ABORTED);
        assert_string_equal(e[i].err, "too late to matter");
        assert_null(e[i].resp);
    }
}

static void async_call_retries_unavailable_and_resends_the_request(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"bid:43";
    req.payload.len = 6;
    rpc_call_opts o = { .deadline_ms = 3000, .idempotent = true };
    async_end e;
    async_end_init(&e);
    char err[256];
    atomic_store(&flaky_calls, 0);
    assert_int_equal(rpc_unary_start(ch, &t_flaky, &req.base, &o, on_async_end, &e, err,
                                     sizeof err), 0);
    async_wait(&e);
    assert_int_equal(e.st, GRPC_STATUS_OK);
    const Gavel__Common__V1__PingResponse *r = (const void *)e.resp;
    assert_int_equal(r->payload.len, 6);
    assert_memory_equal(r->payload.data, "bid:43", 6);
    assert_int_equal(atomic_load(&flaky_calls), 2);
    protobuf_c_message_free_unpacked(e.resp, NULL);
}

static void async_non_idempotent_call_is_not_retried_once_sent(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 3000 };
    async_end e;
    async_end_init(&e);
    char err[256];
    atomic_store(&flaky_calls, 0);
    assert_int_equal(rpc_unary_start(ch, &t_flaky, &req.base, &o, on_async_end, &e, err,
                                     sizeof err), 0);
    async_wait(&e);
    assert_int_equal(e.st, GRPC_STATUS_UNAVAILABLE);
    assert_null(e.resp);
    assert_string_equal(e.err, "try again");
    assert_int_equal(atomic_load(&flaky_calls), 1);
}

static void async_call_waits_for_a_peer_that_comes_up_within_a_second(void **state)
{
    (void)state;
    late_server l = { .s = NULL };
    snprintf(l.addr, sizeof l.addr, "127.0.0.1:%d", free_port());
    rpc_channel *later = rpc_channel_get(l.addr);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, start_late, &l), 0);
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 3000 };
    async_end e;
    async_end_init(&e);
    char err[256];
    assert_int_equal(rpc_unary_start(later, &t_ping, &req.base, &o, on_async_end, &e, err,
                                     sizeof err), 0);
    async_wait(&e);
    pthread_join(t, NULL);
    assert_non_null(l.s);
    assert_int_equal(e.st, GRPC_STATUS_OK);
    assert_int_equal(((Gavel__Common__V1__PingResponse *)e.resp)->server_time_us, B_MARK);
    protobuf_c_message_free_unpacked(e.resp, NULL);
    rpc_server_stop(l.s, 0);
}

static void async_call_to_dead_peer_fails_after_a_second(void **state)
{
    (void)state;
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", free_port());
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 8000 };
    async_end e;
    async_end_init(&e);
    char err[256];
    int64_t t0 = mono_us();
    assert_int_equal(rpc_unary_start(rpc_channel_get(target), &t_ping, &req.base, &o,
                                     on_async_end, &e, err, sizeof err), 0);
    async_wait(&e);
    int64_t took = mono_us() - t0 - 100000; /* async_wait's extra 100 ms */
    assert_int_equal(e.st, GRPC_STATUS_UNAVAILABLE);
    assert_null(e.resp);
    assert_non_null(strstr(e.err, "failed to connect to all addresses"));
    assert_true(took >= 900000 && took < 4000000);
}

static void async_retry_waiting_does_not_delay_other_answers(void **state)
{
    (void)state;
    /* A call to a dead peer keeps retrying for a second; a ping started
     * during that second is answered at once. */
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", free_port());
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 8000 };
    async_end dead, ping;
    async_end_init(&dead);
    async_end_init(&ping);
    char err[256];
    assert_int_equal(rpc_unary_start(rpc_channel_get(target), &t_ping, &req.base, &o,
                                     on_async_end, &dead, err, sizeof err), 0);
    usleep(200000);
    int64_t t0 = mono_us();
    assert_int_equal(rpc_unary_start(ch, &t_ping, &req.base, &o, on_async_end, &ping, err,
                                     sizeof err), 0);
    pthread_mutex_lock(&ping.mu);
    while (ping.ends == 0)
        pthread_cond_wait(&ping.cv, &ping.mu);
    pthread_mutex_unlock(&ping.mu);
    assert_true(mono_us() - t0 < 300000);
    pthread_mutex_lock(&dead.mu);
    assert_int_equal(dead.ends, 0); /* still retrying */
    pthread_mutex_unlock(&dead.mu);
    assert_int_equal(ping.st, GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(ping.resp, NULL);
    async_wait(&dead);
    assert_int_equal(dead.st, GRPC_STATUS_UNAVAILABLE);
}

static void async_request_of_another_type_is_refused_before_sending(void **state)
{
    (void)state;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    async_end e;
    async_end_init(&e);
    char err[256];
    assert_int_equal(rpc_unary_start(ch, &t_ping, &req.base, NULL, on_async_end, &e, err,
                                     sizeof err), -1);
    assert_non_null(strstr(err, "takes a"));
    usleep(100000);
    assert_int_equal(e.ends, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(async_call_is_answered_on_the_completion_thread),
        cmocka_unit_test(async_calls_in_flight_outnumber_threads),
        cmocka_unit_test(async_call_retries_unavailable_and_resends_the_request),
        cmocka_unit_test(async_non_idempotent_call_is_not_retried_once_sent),
        cmocka_unit_test(async_call_waits_for_a_peer_that_comes_up_within_a_second),
        cmocka_unit_test(async_call_to_dead_peer_fails_after_a_second),
        cmocka_unit_test(async_retry_waiting_does_not_delay_other_answers),
        cmocka_unit_test(async_request_of_another_type_is_refused_before_sending),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
