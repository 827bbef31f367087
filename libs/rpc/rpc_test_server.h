/*
 * Test helper for the libs/rpc tests that talk to a real server over
 * loopback (rpc_server_test, rpc_client_test, rpc_client_async_test): the
 * small method table t.T, a second service whose Ping marks its answers,
 * the group setup that starts the server and a channel to it, and ports
 * nothing listens on. Revocation needs Redis: GAVEL_TEST_REDIS
 * ("host:port"). Header-only so each test binary gets its own copy; never
 * used by daemons.
 */
#ifndef GAVEL_RPC_TEST_SERVER_H
#define GAVEL_RPC_TEST_SERVER_H

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

static inline char *make_user_token(const char *role, long long ttl_s, const char *jti)
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

static inline int setup(void **state)
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

static inline int teardown(void **state)
{
    (void)state;
    rpc_server_stop(srv, 1000);
    free(user_token);
    return 0;
}

static inline grpc_status_code call(const char *m, const ProtobufCMessage *req, const char *token,
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

/* A port nothing listens on now (bound, then let go). */
static inline int free_port(void)
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

static inline void *start_late(void *arg)
{
    late_server *l = arg;
    usleep(300000);
    char err[256];
    l->s = rpc_server_start(&svc_b, l->addr, err, sizeof err);
    return NULL;
}

#endif
