/*
 * Where calls run, end to end over real gRPC on loopback: the worker pools
 * keep apart what the method table and the caller say (rpc.h, rpc_class),
 * a full pool refuses at once, a service identity is never queued behind
 * users or anonymous callers, and the runtime refuses a request over its
 * method's size limit or without a message before running anything. The
 * pools are tiny here (set in the environment before the server starts):
 * one normal worker, one expensive worker with room for two waiting calls.
 * Calls with tokens need Redis (GAVEL_TEST_REDIS) and skip without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <stdatomic.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "cache/cache.h"
#include "rpc/rpc.h"
#include "rpc/rpc_test_keys.h"
#include "gavel/common/v1/common.pb-c.h"

#define PING_DESC &gavel__common__v1__ping_request__descriptor
#define PONG_DESC &gavel__common__v1__ping_response__descriptor
/* Long enough that calls started ARRIVE_US apart still arrive in order on
 * a loaded machine (two sanitizer builds testing side by side). */
#define HOLD_US 1000000
#define ARRIVE_US 100000

static atomic_int finished_order;

/* Holds its worker HOLD_US, then answers the order in which it finished. */
static int hold(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)in;
    usleep(HOLD_US);
    Gavel__Common__V1__PingResponse *r = (void *)rpc_new(c, PONG_DESC);
    r->server_time_us = atomic_fetch_add(&finished_order, 1);
    *out = &r->base;
    return GRPC_STATUS_OK;
}

static const rpc_method methods[] = {
    { "/t.P/Hash", PING_DESC, PONG_DESC, hold, RPC_PUBLIC, 0, 10000, RPC_CLASS_EXPENSIVE, 0 },
    { "/t.P/Work", PING_DESC, PONG_DESC, hold, RPC_ROLE_BIDDER | RPC_ROLE_SERVICE, 0, 10000,
      RPC_CLASS_NORMAL, 0 },
    { "/t.P/Small", PING_DESC, PONG_DESC, rpc_ping, RPC_PUBLIC, 0, 0, RPC_CLASS_INLINE, 100 },
    { 0 },
};
static const rpc_method *const tables[] = { methods, NULL };
static const char *const names[] = { "t.P", NULL };
static const rpc_service svc = { .name = "pooltest", .tables = tables, .services = names };

static rpc_server *srv;
static rpc_channel *ch;
static const char *redis;

static char *bidder_token(void)
{
    char p[128], err[128], jti[33];
    test_keys_path(p, sizeof p, "jwt.key");
    rpc_jwt_key *k = rpc_jwt_key_load(p, true, err, sizeof err);
    request_id_new(jti);
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I}", "iss", "gavel-users", "sub", "5",
                           "role", "bidder", "jti", jti, "exp",
                           (json_int_t)(now_us() / 1000000 + 600));
    char *t = rpc_jwt_sign(k, cl);
    json_decref(cl);
    rpc_jwt_key_free(k);
    return t;
}

static int setup(void **state)
{
    (void)state;
    test_keys_setup();
    setenv("GAVEL_RPC_WORKERS", "1", 1);
    setenv("GAVEL_RPC_EXPENSIVE_WORKERS", "1", 1);
    setenv("GAVEL_RPC_EXPENSIVE_QUEUE", "2", 1);
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
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rpc_server_stop(srv, 2000);
    return 0;
}

/* One call made on a thread of its own, timed. */
typedef struct {
    pthread_t t;
    const char *method;
    const char *token;
    grpc_status_code st;
    char err[256];
    int64_t order;
    int64_t took_us;
} timed_call;

static void *call_main(void *arg)
{
    timed_call *tc = arg;
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    rpc_call_opts o = { .token = tc->token, .deadline_ms = 10000 };
    ProtobufCMessage *resp = NULL;
    const rpc_client_method m = { tc->method, NULL, PING_DESC, PONG_DESC }; /* t.P: no .proto */
    int64_t t0 = mono_us();
    tc->st = rpc_unary(ch, &m, &req.base, &resp, &o, tc->err, sizeof tc->err);
    tc->took_us = mono_us() - t0;
    tc->order = resp != NULL ? ((Gavel__Common__V1__PingResponse *)resp)->server_time_us : -1;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return NULL;
}

static void start_call(timed_call *tc, const char *method, const char *token)
{
    memset(tc, 0, sizeof *tc);
    tc->method = method;
    tc->token = token;
    assert_int_equal(pthread_create(&tc->t, NULL, call_main, tc), 0);
}

static void expensive_calls_past_the_queue_are_refused_at_once(void **state)
{
    (void)state;
    enum { N = 6 };
    /* Static, as in every test here: a failed assert must not leave the
     * call threads writing into a frame that is gone. */
    static timed_call c[N];
    for (int i = 0; i < N; i++) {
        start_call(&c[i], "/t.P/Hash", NULL);
        usleep(ARRIVE_US); /* they arrive in order */
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(c[i].t, NULL);
        if (c[i].st == GRPC_STATUS_OK) {
            ok++;
        } else {
            assert_int_equal(c[i].st, GRPC_STATUS_RESOURCE_EXHAUSTED);
            assert_non_null(strstr(c[i].err, "server busy: 2 calls already wait in the "
                                             "expensive pool"));
            assert_true(c[i].took_us < HOLD_US / 2); /* not queued first */
            busy++;
        }
    }
    /* One running and two waiting; the other three refused. */
    assert_int_equal(ok, 3);
    assert_int_equal(busy, 3);
}

static void a_service_is_not_queued_behind_users(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char *user = bidder_token(), *service = rpc_service_token();
    assert_non_null(service);
    static timed_call warm;
    start_call(&warm, "/t.P/Work", service); /* its token becomes known */
    pthread_join(warm.t, NULL);
    assert_int_equal(warm.st, GRPC_STATUS_OK);
    static timed_call users[3], svc_call;
    for (int i = 0; i < 3; i++)
        start_call(&users[i], "/t.P/Work", user);
    usleep(ARRIVE_US); /* the one normal worker holds a user's call, two wait */
    start_call(&svc_call, "/t.P/Work", service);
    pthread_join(svc_call.t, NULL);
    assert_int_equal(svc_call.st, GRPC_STATUS_OK);
    /* It ran at once in the service pool, not after the users' 3 s. */
    assert_true(svc_call.took_us < 2 * HOLD_US);
    for (int i = 0; i < 3; i++) {
        pthread_join(users[i].t, NULL);
        assert_int_equal(users[i].st, GRPC_STATUS_OK);
    }
    free(user);
    free(service);
}

static void a_service_goes_ahead_of_anonymous_expensive_calls(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    char *service = rpc_service_token();
    static timed_call warm;
    start_call(&warm, "/t.P/Hash", service);
    pthread_join(warm.t, NULL);
    assert_int_equal(warm.st, GRPC_STATUS_OK);
    static timed_call anon[4], svc_call;
    for (int i = 0; i < 4; i++) {
        start_call(&anon[i], "/t.P/Hash", NULL);
        usleep(ARRIVE_US);
    }
    /* One anonymous call runs, two wait, the fourth was refused; the
     * service's call finds room of its own and runs next. */
    start_call(&svc_call, "/t.P/Hash", service);
    pthread_join(svc_call.t, NULL);
    assert_int_equal(svc_call.st, GRPC_STATUS_OK);
    int64_t first_waiting = INT64_MAX;
    for (int i = 0; i < 4; i++) {
        pthread_join(anon[i].t, NULL);
        if (i == 1 || i == 2) {
            assert_int_equal(anon[i].st, GRPC_STATUS_OK);
            if (anon[i].order < first_waiting)
                first_waiting = anon[i].order;
        }
    }
    assert_int_equal(anon[3].st, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_true(svc_call.order < first_waiting);
    free(service);
}

static void an_unknown_token_is_checked_then_handed_to_the_expensive_pool(void **state)
{
    (void)state;
    if (redis == NULL)
        skip();
    rpc_auth_forget_all();
    char *user = bidder_token(); /* never seen: checked in the normal pool first */
    static timed_call c;
    start_call(&c, "/t.P/Hash", user);
    pthread_join(c.t, NULL);
    assert_int_equal(c.st, GRPC_STATUS_OK);
    assert_true(c.took_us >= HOLD_US);
    free(user);
}

static void a_request_over_its_methods_limit_is_refused_unread(void **state)
{
    (void)state;
    uint8_t payload[101] = { 0 };
    Gavel__Common__V1__PingRequest req = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    req.payload.data = payload;
    req.payload.len = sizeof payload;
    rpc_call_opts o = { .deadline_ms = 5000 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    static const rpc_client_method small = { "/t.P/Small", NULL, PING_DESC, PONG_DESC };
    grpc_status_code st = rpc_unary(ch, &small, &req.base, &resp, &o, err, sizeof err);
    assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err, "request is 103 bytes; /t.P/Small accepts at most 100");
    req.payload.len = 90;
    st = rpc_unary(ch, &small, &req.base, &resp, &o, err, sizeof err);
    assert_int_equal(st, GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(resp, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expensive_calls_past_the_queue_are_refused_at_once),
        cmocka_unit_test(a_service_is_not_queued_behind_users),
        cmocka_unit_test(a_service_goes_ahead_of_anonymous_expensive_calls),
        cmocka_unit_test(an_unknown_token_is_checked_then_handed_to_the_expensive_pool),
        cmocka_unit_test(a_request_over_its_methods_limit_is_refused_unread),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
