/*
 * The rpc runtime end to end over real gRPC on loopback: an in-process
 * server with a small method table, driven by the rpc client. Revocation
 * needs Redis: GAVEL_TEST_REDIS ("host:port"); without it the revocation
 * case is skipped and every authenticated call fails UNAVAILABLE, which a
 * test below also proves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <jansson.h>

#include "cache/cache.h"
#include "rpc/rpc.h"
#include "rpc/rpc_int.h"
#include "rpc/rpc_test_keys.h"
#include "gavel/common/v1/common.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

#define PING_DESC &gavel__common__v1__ping_request__descriptor
#define PONG_DESC &gavel__common__v1__ping_response__descriptor

static int slow(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)in;
    (void)out;
    usleep(300000);
    return rpc_fail(c, GRPC_STATUS_ABORTED, "too late to matter");
}

static int whoami(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)in;
    Gavel__Common__V1__PingResponse *r = (void *)rpc_new(c, PONG_DESC);
    r->server_time_us = rpc_caller(c)->user_id;
    *out = &r->base;
    return GRPC_STATUS_OK;
}

static int count_to_three(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)in;
    (void)out;
    rpc_stream *s = rpc_stream_open(c, NULL, NULL);
    for (int i = 1; i <= 3; i++) {
        Gavel__Common__V1__PingResponse r = GAVEL__COMMON__V1__PING_RESPONSE__INIT;
        r.server_time_us = i;
        rpc_stream_send(s, &r.base);
    }
    rpc_stream_finish(s, GRPC_STATUS_OK, NULL);
    rpc_stream_release(s);
    return RPC_ASYNC;
}

static atomic_int flaky_calls;

/* UNAVAILABLE on every odd call, an echo on every even one. */
static int flaky(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    if (atomic_fetch_add(&flaky_calls, 1) % 2 == 0)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "try again");
    return rpc_ping(c, in, out);
}

/* ---- deferred answers and the fast path ---- */

static _Atomic pthread_t inline_thread, later_thread, resumed_thread;
static atomic_bool later_on_poller;

static int ping_where(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    atomic_store(&inline_thread, pthread_self());
    return rpc_ping(c, in, out);
}

static void later_resumed(rpc_call *c, void *arg)
{
    (void)arg;
    atomic_store(&resumed_thread, pthread_self());
    Gavel__Common__V1__PingResponse *r = (void *)rpc_new(c, PONG_DESC);
    r->server_time_us = rpc_caller(c)->user_id;
    rpc_complete(c, GRPC_STATUS_OK, &r->base);
}

/* The handler's call goes to a thread of its own, which answers (a refusal
 * when the payload says "no") or hands it to a worker to answer. */
typedef struct {
    rpc_call *c;
    bool refuse;
} later_job;

static void *later_thread_main(void *arg)
{
    later_job *j = arg;
    usleep(20000);
    if (j->refuse)
        rpc_complete(j->c, rpc_fail(j->c, GRPC_STATUS_FAILED_PRECONDITION, "refused later"),
                     NULL);
    else
        rpc_resume(j->c, later_resumed, NULL);
    return NULL;
}

static int later(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)out;
    const Gavel__Common__V1__PingRequest *q = (const void *)in;
    atomic_store(&later_thread, pthread_self());
    atomic_store(&later_on_poller, rpc__on_polling_thread());
    later_job *j = rpc_alloc(c, sizeof *j); /* lives as long as the call */
    j->c = c;
    j->refuse = q->payload.len == 2 && memcmp(q->payload.data, "no", 2) == 0;
    pthread_t t;
    if (pthread_create(&t, NULL, later_thread_main, j) != 0)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "no thread");
    pthread_detach(t);
    return RPC_ASYNC;
}

static const rpc_method test_methods[] = {
    { "/t.T/PingWhere", PING_DESC, PONG_DESC, ping_where, RPC_PUBLIC, 0, 0, RPC_CLASS_INLINE, 0 },
    { "/t.T/Later", PING_DESC, PONG_DESC, later, RPC_ROLE_BIDDER, 0, 0, RPC_CLASS_FAST, 0 },
    { "/t.T/Ping", PING_DESC, PONG_DESC, rpc_ping, RPC_PUBLIC, 0, 0, RPC_CLASS_INLINE, 0 },
    { "/t.T/Slow", PING_DESC, PONG_DESC, slow, RPC_PUBLIC, 0, 0, RPC_CLASS_NORMAL, 0 },
    { "/t.T/WhoAmI", PING_DESC, PONG_DESC, whoami, RPC_ROLE_BIDDER | RPC_ROLE_SERVICE, 0, 0, RPC_CLASS_NORMAL, 0 },
    { "/t.T/AdminOnly", PING_DESC, PONG_DESC, whoami, RPC_ROLE_ADMIN, 0, 0, RPC_CLASS_NORMAL, 0 },
    { "/t.T/Flaky", PING_DESC, PONG_DESC, flaky, RPC_PUBLIC, 0, 0, RPC_CLASS_NORMAL, 0 },
    { "/t.T/Count", PING_DESC, PONG_DESC, count_to_three, RPC_PUBLIC, RPC_STREAMING, 0, RPC_CLASS_NORMAL, 0 },
    { 0 },
};
static const rpc_method *const tables[] = { test_methods, NULL };

/* The methods the tests call. t.T has no .proto, so no service descriptor:
 * these constants are only ever checked at the call. */
#define T_METHOD(path) { path, NULL, PING_DESC, PONG_DESC }
static const rpc_client_method t_whoami = T_METHOD("/t.T/WhoAmI");
static const rpc_client_method t_count = T_METHOD("/t.T/Count");
static const rpc_client_method t_ping = T_METHOD("/t.T/Ping");
static const rpc_client_method t_flaky = T_METHOD("/t.T/Flaky");
static const rpc_client_method t_slow = T_METHOD("/t.T/Slow");
static const rpc_client_method health_check = {
    "/grpc.health.v1.Health/Check", &grpc__health__v1__health__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor
};
static const char *const names[] = { "t.T", NULL };
static const rpc_service svc = { .name = "rpctest", .tables = tables, .services = names };

/* A second server whose Ping marks its answers, to see which one served. */
#define B_MARK (-7)
static int ping_b(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)in;
    Gavel__Common__V1__PingResponse *r = (void *)rpc_new(c, PONG_DESC);
    r->server_time_us = B_MARK;
    *out = &r->base;
    return GRPC_STATUS_OK;
}
static const rpc_method b_methods[] = {
    { "/t.T/Ping", PING_DESC, PONG_DESC, ping_b, RPC_PUBLIC, 0, 0, RPC_CLASS_INLINE, 0 },
    { 0 },
};
static const rpc_method *const b_tables[] = { b_methods, NULL };
static const rpc_service svc_b = { .name = "rpctestb", .tables = b_tables, .services = names };

static rpc_server *srv;
static rpc_channel *ch;
static char *user_token;
static const char *redis;

static char *make_user_token(const char *role, long long ttl_s, const char *jti)
{
    char p[128], err[128];
    test_keys_path(p, sizeof p, "jwt.key");
    rpc_jwt_key *k = rpc_jwt_key_load(p, true, err, sizeof err);
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I}", "iss", "gavel-users", "sub", "77",
                           "role", role, "jti", jti, "exp",
                           (json_int_t)(now_us() / 1000000 + ttl_s));
    char *t = rpc_jwt_sign(k, cl);
    json_decref(cl);
    rpc_jwt_key_free(k);
    return t;
}

static int setup(void **state)
{
    (void)state;
    test_keys_setup();
    redis = getenv("GAVEL_TEST_REDIS");
    rds_configure(redis != NULL ? redis : "127.0.0.1:1");
    if (rpc_auth_init() < 0)
        return -1;
    char err[256];
    srv = rpc_server_start(&svc, "127.0.0.1:0", err, sizeof err);
    if (srv == NULL)
        return -1;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", rpc_server_port(srv));
    ch = rpc_channel_get(target);
    char jti[33];
    request_id_new(jti);
    user_token = make_user_token("bidder", 600, jti);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rpc_server_stop(srv, 1000);
    free(user_token);
    return 0;
}

static grpc_status_code call(const char *m, const ProtobufCMessage *req, const char *token,
                             int deadline_ms, Gavel__Common__V1__PingResponse **out,
                             char *err)
{
    /* Declared with whatever the test sends: some send a wrong type on
     * purpose, to see the server refuse it. */
    const rpc_client_method method = { m, NULL, req->descriptor, PONG_DESC };
    rpc_call_opts o = { .token = token, .deadline_ms = deadline_ms };
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = rpc_unary(ch, &method, req, &resp, &o, err, 256);
    if (out != NULL)
        *out = (void *)resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

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

/* A port nothing listens on now (bound, then let go). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct {
    char addr[32];
    rpc_server *s;
} late_server;

static void *start_late(void *arg)
{
    late_server *l = arg;
    usleep(300000);
    char err[256];
    l->s = rpc_server_start(&svc_b, l->addr, err, sizeof err);
    return NULL;
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
        cmocka_unit_test(idempotent_call_to_dead_peer_gives_up_within_deadline),
        cmocka_unit_test(non_idempotent_call_waits_for_a_peer_that_comes_up_within_a_second),
        cmocka_unit_test(non_idempotent_call_to_dead_peer_fails_after_a_second_not_the_deadline),
        cmocka_unit_test(retry_after_unavailable_sends_the_whole_request_again),
        cmocka_unit_test(address_list_spreads_calls_and_survives_an_instance_dying),
        cmocka_unit_test(address_list_with_a_dead_instance_uses_the_live_one),
        cmocka_unit_test(deferred_call_is_answered_from_another_thread),
        cmocka_unit_test(fast_path_runs_on_the_polling_thread_once_the_token_is_known),
        cmocka_unit_test(many_tokens_are_each_verified_once),
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
