/*
 * The rpc client's unary calls (rpc_unary) against real servers on
 * loopback: retries of idempotent calls, a call never sent waiting for a
 * peer coming up, dead peers, and address lists balanced round robin.
 */
#include "rpc/rpc_test_server.h"

static void idempotent_call_to_dead_peer_gives_up_within_deadline(void **state)
{
    (void)state;
    rpc_channel *dead = rpc_channel_get("127.0.0.1:1");
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 400, .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char err[256];
    int64_t t0 = mono_us();
    grpc_status_code st = rpc_unary(dead, &t_ping, &req.base, &resp, &o, err, sizeof err);
    int64_t took = mono_us() - t0;
    assert_true(st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_null(resp);
    assert_true(took < 1000000);
}

static void non_idempotent_call_waits_for_a_peer_that_comes_up_within_a_second(void **state)
{
    (void)state;
    late_server l = { .s = NULL };
    snprintf(l.addr, sizeof l.addr, "127.0.0.1:%d", free_port());
    rpc_channel *later = rpc_channel_get(l.addr);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, start_late, &l), 0);
    /* Nothing listens yet: the call is never sent, so it is tried again
     * until the peer answers, although it is not idempotent. */
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 3000 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    grpc_status_code st = rpc_unary(later, &t_ping, &req.base, &resp, &o, err, sizeof err);
    pthread_join(t, NULL);
    assert_non_null(l.s);
    assert_int_equal(st, GRPC_STATUS_OK);
    assert_int_equal(((Gavel__Common__V1__PingResponse *)resp)->server_time_us, B_MARK);
    protobuf_c_message_free_unpacked(resp, NULL);
    rpc_server_stop(l.s, 0);
}

static void non_idempotent_call_to_dead_peer_fails_after_a_second_not_the_deadline(void **state)
{
    (void)state;
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", free_port());
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 8000 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    int64_t t0 = mono_us();
    grpc_status_code st = rpc_unary(rpc_channel_get(target), &t_ping, &req.base, &resp, &o, err,
                                    sizeof err);
    int64_t took = mono_us() - t0;
    assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
    assert_null(resp);
    assert_non_null(strstr(err, "failed to connect to all addresses"));
    assert_true(took >= 900000 && took < 4000000);
}

/* n pings through lst; how many each server answered (b: the marked ones). */
static void ping_list(rpc_channel *lst, int n, bool idempotent, int *a, int *b)
{
    *a = *b = 0;
    for (int i = 0; i < n; i++) {
        Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
        rpc_call_opts o = { .deadline_ms = 3000, .idempotent = idempotent };
        ProtobufCMessage *resp = NULL;
        char err[256];
        assert_int_equal(rpc_unary(lst, &t_ping, &req.base, &resp, &o, err, sizeof err),
                         GRPC_STATUS_OK);
        if (((Gavel__Common__V1__PingResponse *)resp)->server_time_us == B_MARK)
            (*b)++;
        else
            (*a)++;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

/* Non-idempotent pings through lst until `want` in a row are answered by
 * the first server, within limit_ms. The client learns that an instance
 * went away when its connection's GOAWAY arrives, which on a loaded machine
 * can come after a burst of calls; until then a call may still be sent to
 * it and fail UNAVAILABLE (never answered by it). Returns the streak. */
static int survivor_streak(rpc_channel *lst, int want, int limit_ms)
{
    int64_t end = mono_us() + (int64_t)limit_ms * 1000;
    int streak = 0;
    while (streak < want && mono_us() < end) {
        Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
        rpc_call_opts o = { .deadline_ms = 3000 };
        ProtobufCMessage *resp = NULL;
        char err[256];
        grpc_status_code st = rpc_unary(lst, &t_ping, &req.base, &resp, &o, err, sizeof err);
        if (st == GRPC_STATUS_OK) {
            assert_int_not_equal(((Gavel__Common__V1__PingResponse *)resp)->server_time_us,
                                 B_MARK);
            protobuf_c_message_free_unpacked(resp, NULL);
            streak++;
            continue;
        }
        assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
        streak = 0;
        struct timespec ms = { 0, 10000000 };
        nanosleep(&ms, NULL);
    }
    return streak;
}

static void address_list_spreads_calls_and_survives_an_instance_dying(void **state)
{
    (void)state;
    char err[256], target[128];
    rpc_server *other = rpc_server_start(&svc_b, "127.0.0.1:0", err, sizeof err);
    assert_non_null(other);
    snprintf(target, sizeof target, "127.0.0.1:%d,127.0.0.1:%d", rpc_server_port(srv),
             rpc_server_port(other));
    rpc_channel *lst = rpc_channel_get(target);
    int a, b;
    /* round robin picks only connected instances: on a loaded machine the
     * second connection can take a moment, so wait until both answered */
    int64_t until = mono_us() + 5000000;
    do
        ping_list(lst, 4, false, &a, &b);
    while ((a == 0 || b == 0) && mono_us() < until);
    ping_list(lst, 40, false, &a, &b);
    assert_true(a >= 10 && b >= 10);  /* round robin: both serve */
    /* One instance goes away: idempotent calls retry onto the other, and
     * once the channel has seen it go, every call lands on the survivor. */
    rpc_server_stop(other, 0);
    ping_list(lst, 20, true, &a, &b);
    assert_int_equal(a, 20);
    assert_int_equal(survivor_streak(lst, 20, 5000), 20);
}

static void address_list_with_a_dead_instance_uses_the_live_one(void **state)
{
    (void)state;
    char target[128];
    snprintf(target, sizeof target, "127.0.0.1:1,127.0.0.1:%d", rpc_server_port(srv));
    int a, b;
    ping_list(rpc_channel_get(target), 20, false, &a, &b);
    assert_int_equal(a, 20);
}

static void retry_after_unavailable_sends_the_whole_request_again(void **state)
{
    (void)state;
    /* Regression: gRPC consumes a sent buffer, so a retry once went out empty. */
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"bid:42";
    req.payload.len = 6;
    rpc_call_opts o = { .deadline_ms = 3000, .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char err[256];
    atomic_store(&flaky_calls, 0);
    assert_int_equal(rpc_unary(ch, &t_flaky, &req.base, &resp, &o, err, sizeof err),
                     GRPC_STATUS_OK);
    const Gavel__Common__V1__PingResponse *r = (const void *)resp;
    assert_int_equal(r->payload.len, 6);
    assert_memory_equal(r->payload.data, "bid:42", 6);
    assert_int_equal(atomic_load(&flaky_calls), 2);
    protobuf_c_message_free_unpacked(resp, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idempotent_call_to_dead_peer_gives_up_within_deadline),
        cmocka_unit_test(non_idempotent_call_waits_for_a_peer_that_comes_up_within_a_second),
        cmocka_unit_test(non_idempotent_call_to_dead_peer_fails_after_a_second_not_the_deadline),
        cmocka_unit_test(address_list_spreads_calls_and_survives_an_instance_dying),
        cmocka_unit_test(address_list_with_a_dead_instance_uses_the_live_one),
        cmocka_unit_test(retry_after_unavailable_sends_the_whole_request_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
