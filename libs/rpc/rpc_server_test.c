/*
 * The rpc server end to end over real gRPC on loopback: an in-process
 * server with a small method table (rpc_test_server.h) and what it does
 * with each call: tokens and revocation, malformed payloads, health,
 * deadlines, streams, deferred answers and the polling-thread fast path.
 * Revocation needs Redis: GAVEL_TEST_REDIS ("host:port"); without it the
 * revocation case is skipped and every authenticated call fails
 * UNAVAILABLE, which a test below also proves.
 */
#include "rpc/rpc_test_server.h"

static void ping_echoes_payload(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"hello";
    req.payload.len = 5;
    Gavel__Common__V1__PingResponse *r = NULL;
    char err[256];
    assert_int_equal(call("/t.T/Ping", &req.base, NULL, 2000, &r, err), GRPC_STATUS_OK);
    assert_int_equal(r->payload.len, 5);
    assert_memory_equal(r->payload.data, "hello", 5);
    assert_true(r->server_time_us > 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void unknown_method_is_unimplemented(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    assert_int_equal(call("/t.T/Nope", &req.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_string_equal(err, "unknown method /t.T/Nope");
}

static void missing_token_is_unauthenticated(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    assert_int_equal(call("/t.T/WhoAmI", &req.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(call("/t.T/WhoAmI", &req.base, "garbage", 2000, NULL, err),
                     GRPC_STATUS_UNAUTHENTICATED);
}

static void expired_token_is_unauthenticated(void **state)
{
    (void)state;
    char *t = make_user_token("bidder", -10, "expired-jti");
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    assert_int_equal(call("/t.T/WhoAmI", &req.base, t, 2000, NULL, err),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(err, "token expired");
    free(t);
}

static void valid_token_reaches_handler_with_principal(void **state)
{
    if (redis == NULL)
        skip();
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    Gavel__Common__V1__PingResponse *r = NULL;
    char err[256];
    assert_int_equal(call("/t.T/WhoAmI", &req.base, user_token, 2000, &r, err),
                     GRPC_STATUS_OK);
    assert_int_equal(r->server_time_us, 77);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(call("/t.T/AdminOnly", &req.base, user_token, 2000, NULL, err),
                     GRPC_STATUS_PERMISSION_DENIED);
    assert_string_equal(err, "role bidder may not call /t.T/AdminOnly");
}

static void revoked_token_is_unauthenticated(void **state)
{
    if (redis == NULL)
        skip();
    (void)state;
    char jti[33];
    request_id_new(jti);
    char *t = make_user_token("bidder", 600, jti);
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    assert_int_equal(call("/t.T/WhoAmI", &req.base, t, 2000, NULL, err), GRPC_STATUS_OK);
    assert_int_equal(rds_revoke(jti, 60), 0);
    rpc_auth_forget_all(); /* what the revoking service does: refused at once */
    assert_int_equal(call("/t.T/WhoAmI", &req.base, t, 2000, NULL, err),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(err, "token revoked");
    free(t);
    /* Elsewhere the "not revoked" answer is believed for at most
     * GAVEL_AUTH_REVOCATION_CACHE_MS (1 s by default). */
    request_id_new(jti);
    t = make_user_token("bidder", 600, jti);
    assert_int_equal(call("/t.T/WhoAmI", &req.base, t, 2000, NULL, err), GRPC_STATUS_OK);
    assert_int_equal(rds_revoke(jti, 60), 0);
    int64_t t0 = mono_us();
    while (call("/t.T/WhoAmI", &req.base, t, 2000, NULL, err) == GRPC_STATUS_OK) {
        assert_true(mono_us() - t0 < 1500000);
        struct timespec ms = { 0, 10000000 };
        nanosleep(&ms, NULL);
    }
    assert_string_equal(err, "token revoked");
    free(t);
}

static void unreachable_revocation_list_fails_closed(void **state)
{
    (void)state;
    /* A second server whose threads connect lazily, after Redis "moved"
     * to a port where nothing listens; no recent "not revoked" answer. */
    rpc_auth_forget_all();
    rds_configure("127.0.0.1:1");
    char err[256];
    rpc_server *lonely = rpc_server_start(&svc, "127.0.0.1:0", err, sizeof err);
    assert_non_null(lonely);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", rpc_server_port(lonely));
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .token = user_token, .deadline_ms = 5000 };
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = rpc_unary(rpc_channel_get(target), &t_whoami, &req.base, &resp, &o,
                                    err, sizeof err);
    rpc_server_stop(lonely, 1000);
    rds_configure(redis != NULL ? redis : "127.0.0.1:1");
    assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
    assert_string_equal(err, "token revocation list unreachable; try again");
}

static void service_token_is_accepted_as_service(void **state)
{
    if (redis == NULL)
        skip();
    (void)state;
    char *t = rpc_service_token();
    assert_non_null(t);
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    Gavel__Common__V1__PingResponse *r = NULL;
    char err[256];
    assert_int_equal(call("/t.T/WhoAmI", &req.base, t, 2000, &r, err), GRPC_STATUS_OK);
    assert_int_equal(r->server_time_us, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(t);
}

static void malformed_payload_is_invalid_argument(void **state)
{
    (void)state;
    /* A HealthCheckResponse puts a varint in field 1, where Ping wants bytes. */
    Grpc__Health__V1__HealthCheckResponse bad = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    bad.status = 1;
    char err[256];
    assert_int_equal(call("/t.T/Ping", &bad.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err, "malformed request: not a valid gavel.common.v1.PingRequest message");
}

static void invalid_utf8_string_is_invalid_argument(void **state)
{
    (void)state;
    /* Ping's bytes field 1 lands in Health.Check's string field 1. */
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"\xff\xfe";
    req.payload.len = 2;
    char err[256];
    assert_int_equal(call("/grpc.health.v1.Health/Check", &req.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err, "field service is not valid UTF-8 or contains a NUL byte");
}

static void nul_inside_string_is_invalid_argument(void **state)
{
    (void)state;
    /* C strings would cut "t.T\0x" to "t.T", a known service. */
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)"t.T\0x";
    req.payload.len = 5;
    char err[256];
    assert_int_equal(call("/grpc.health.v1.Health/Check", &req.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err, "field service is not valid UTF-8 or contains a NUL byte");
}

static void health_reports_serving_and_unknown_service(void **state)
{
    (void)state;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "t.T";
    rpc_call_opts o = { .deadline_ms = 2000 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    assert_int_equal(rpc_unary(ch, &health_check, &req.base, &resp, &o, err, sizeof err),
                     GRPC_STATUS_OK);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(resp, NULL);
    req.service = "no.Such";
    assert_int_equal(rpc_unary(ch, &health_check, &req.base, &resp, &o, err, sizeof err),
                     GRPC_STATUS_NOT_FOUND);
}

static void client_deadline_cuts_slow_handler(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    int64_t t0 = mono_us();
    assert_int_equal(call("/t.T/Slow", &req.base, NULL, 100, NULL, err),
                     GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_true(mono_us() - t0 < 250000);
}

static void stream_delivers_messages_in_order_then_ok(void **state)
{
    (void)state;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 3000 };
    char err[256];
    rpc_client_stream *s = rpc_client_stream_start(ch, &t_count, &req.base, &o, err,
                                                   sizeof err);
    assert_non_null(s);
    for (int i = 1; i <= 3; i++) {
        ProtobufCMessage *m = NULL;
        assert_int_equal(rpc_client_stream_next(s, &m), 1);
        assert_int_equal(((Gavel__Common__V1__PingResponse *)m)->server_time_us, i);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    ProtobufCMessage *m = NULL;
    assert_int_equal(rpc_client_stream_next(s, &m), 0);
    assert_int_equal(rpc_client_stream_status(s, err, sizeof err), GRPC_STATUS_OK);
    rpc_client_stream_free(s);
}

static void deferred_call_is_answered_from_another_thread(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    Gavel__Common__V1__PingResponse *r = NULL;
    char err[256];
    atomic_store(&resumed_thread, (pthread_t)0);
    assert_int_equal(call("/t.T/Later", &req.base, user_token, 2000, &r, err), GRPC_STATUS_OK);
    assert_int_equal(r->server_time_us, 77);
    assert_true(atomic_load(&resumed_thread) != (pthread_t)0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    req.payload.data = (uint8_t *)"no";
    req.payload.len = 2;
    assert_int_equal(call("/t.T/Later", &req.base, user_token, 2000, NULL, err),
                     GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(err, "refused later");
}

static void fast_path_runs_on_the_polling_thread_once_the_token_is_known(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char jti[33];
    request_id_new(jti);
    char *fresh = make_user_token("bidder", 600, jti);
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    char err[256];
    /* First call with a new token: its check may block, so a worker runs it.
     * (Which polling thread runs a call varies: the standby polls too.) */
    assert_int_equal(call("/t.T/Later", &req.base, fresh, 2000, NULL, err), GRPC_STATUS_OK);
    assert_false(atomic_load(&later_on_poller));
    assert_int_equal(call("/t.T/Later", &req.base, fresh, 2000, NULL, err), GRPC_STATUS_OK);
    assert_true(atomic_load(&later_on_poller));
    /* No token: refused at once, whichever thread runs it. */
    assert_int_equal(call("/t.T/Later", &req.base, NULL, 2000, NULL, err),
                     GRPC_STATUS_UNAUTHENTICATED);
    free(fresh);
}

/* Many callers at once: a token verified once is not verified again while
 * 200 others are in use (a direct-mapped cache lost some to collisions). */
static void many_tokens_are_each_verified_once(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    enum { N = 200 };
    char *tok[N];
    for (int i = 0; i < N; i++) {
        char jti[33];
        request_id_new(jti);
        tok[i] = make_user_token("bidder", 600, jti);
    }
    rpc_principal p;
    char err[128];
    uint64_t before = rpc__auth_signatures_checked();
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++)
            assert_int_equal(rpc_auth_verify(tok[i], &p, err, sizeof err), GRPC_STATUS_OK);
    assert_int_equal(rpc__auth_signatures_checked() - before, N);
    for (int i = 0; i < N; i++)
        free(tok[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ping_echoes_payload),
        cmocka_unit_test(unknown_method_is_unimplemented),
        cmocka_unit_test(missing_token_is_unauthenticated),
        cmocka_unit_test(expired_token_is_unauthenticated),
        cmocka_unit_test(valid_token_reaches_handler_with_principal),
        cmocka_unit_test(revoked_token_is_unauthenticated),
        cmocka_unit_test(unreachable_revocation_list_fails_closed),
        cmocka_unit_test(service_token_is_accepted_as_service),
        cmocka_unit_test(malformed_payload_is_invalid_argument),
        cmocka_unit_test(invalid_utf8_string_is_invalid_argument),
        cmocka_unit_test(nul_inside_string_is_invalid_argument),
        cmocka_unit_test(health_reports_serving_and_unknown_service),
        cmocka_unit_test(client_deadline_cuts_slow_handler),
        cmocka_unit_test(stream_delivers_messages_in_order_then_ok),
        cmocka_unit_test(deferred_call_is_answered_from_another_thread),
        cmocka_unit_test(fast_path_runs_on_the_polling_thread_once_the_token_is_known),
        cmocka_unit_test(many_tokens_are_each_verified_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
