/*
 * The server loop: registered methods with request slots posted in advance,
 * one completion queue drained by a few polling threads, and worker pools
 * for handlers that block (rpc_pool.c; rpc_admit.c decides where each call
 * runs). A handler that cannot block runs on the polling thread (measured
 * on 2 cores: handing a non-blocking call to another thread costs more
 * than running it).
 *
 * gRPC does its HTTP/2 work on the threads that poll the queue, so a
 * connection that floods it (opening and resetting streams, "rapid reset")
 * keeps a polling thread inside gRPC for as long as its bytes last. A
 * standby poller therefore joins whenever the polling threads have not
 * come back for GAVEL_RPC_STANDBY_MS: it keeps the other connections
 * served and lets the guard (rpc_guard.c) see the flood and cut it. With
 * the polling threads coming back, it only sleeps, so it costs nothing
 * (two threads polling all the time would: 38,000 against 24,000 to
 * 34,000 Pings a second here).
 *
 * Invariants: every posted slot is either answered or freed when its tag
 * comes back with ok=false; a call is freed only after its final batch
 * completed; after shutdown_and_notify completes no new call arrives.
 */
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc_security.h>

#include "cache/cache.h"
#include "rpc/rpc_int.h"

#define SLOTS_PER_METHOD 32
#define UNKNOWN_SLOTS 4

static rpc_call *call_new(rpc_server *s, rpc__method_rt *mr, rpc__tag_kind kind)
{
    rpc_call *c = xcalloc(1, sizeof *c);
    c->tag.kind = kind;
    c->srv = s;
    c->mr = mr;
    c->arena = arena_new();
    grpc_metadata_array_init(&c->md);
    return c;
}

void rpc__call_free(rpc_call *c)
{
    if (c == NULL)
        return;
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->has_details)
        grpc_call_details_destroy(&c->details);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->out != NULL)
        grpc_byte_buffer_destroy(c->out);
    if (c->has_status_slice)
        grpc_slice_unref(c->status_slice);
    arena_free(c->arena);
    free(c);
}

void rpc__post_request(rpc_server *s, rpc__method_rt *mr)
{
    rpc_call *c = call_new(s, mr, RPC__TAG_REQUEST);
    grpc_call_error e = grpc_server_request_registered_call(
        s->server, mr->handle, &c->call, &c->deadline, &c->md, &c->payload,
        s->cq, s->cq, &c->tag);
    if (e != GRPC_CALL_OK) {
        log_error("cannot post a request slot for %s: error %d", mr->m->name, e);
        rpc__call_free(c);
    }
}

static void post_unknown(rpc_server *s)
{
    rpc_call *c = call_new(s, NULL, RPC__TAG_UNKNOWN);
    grpc_call_details_init(&c->details);
    c->has_details = true;
    grpc_call_error e = grpc_server_request_call(s->server, &c->call, &c->details,
                                                 &c->md, s->cq, s->cq, &c->tag);
    if (e != GRPC_CALL_OK) {
        log_error("cannot post an unknown-method slot: error %d", e);
        rpc__call_free(c);
    }
}

static void on_request(rpc_server *s, rpc_call *c, bool ok)
{
    if (!ok) { /* the server is shutting down: the slot never got a call */
        rpc__call_free(c);
        return;
    }
    if (!atomic_load(&s->stopping))
        rpc__post_request(s, c->mr);
    rpc__admit(s, c);
}

static void on_unknown(rpc_server *s, rpc_call *c, bool ok)
{
    if (!ok) {
        rpc__call_free(c);
        return;
    }
    if (!atomic_load(&s->stopping))
        post_unknown(s);
    rpc__answer_unknown(c);
}

static void dispatch(rpc_server *s, rpc__tag *t, bool ok)
{
    switch (t->kind) {
    case RPC__TAG_REQUEST:
        on_request(s, (rpc_call *)t, ok);
        break;
    case RPC__TAG_UNKNOWN:
        on_unknown(s, (rpc_call *)t, ok);
        break;
    case RPC__TAG_FINISH: {
        rpc_call *c = (rpc_call *)t;
        if (c->cancelled && c->call != NULL && mono_us() - c->start_us < RPC__QUICK_RESET_US)
            rpc__guard_note_reset(c);
        rpc__call_free(c);
        break;
    }
    case RPC__TAG_STREAM_WRITE:
        rpc__stream_on_write(rpc__stream_from_write_tag(t), ok);
        break;
    case RPC__TAG_STREAM_CLOSE:
        rpc__stream_on_close(rpc__stream_from_close_tag(t));
        break;
    case RPC__TAG_SHUTDOWN:
        pthread_mutex_lock(&s->mu);
        s->shutdown_done = true;
        pthread_cond_broadcast(&s->shutdown_cv);
        pthread_mutex_unlock(&s->mu);
        break;
    }
}

static _Thread_local bool is_polling_thread;

bool rpc__on_polling_thread(void)
{
    return is_polling_thread;
}

static void *poller_main(void *arg)
{
    rpc_server *s = arg;
    is_polling_thread = true;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        atomic_store(&s->polled_at_us, mono_us());
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            dispatch(s, ev.tag, ev.success != 0);
    }
    rds_thread_close();
    return NULL;
}

/* Sleeps while the polling threads keep coming back from the queue; polls
 * in short turns while they have not for GAVEL_RPC_STANDBY_MS (idle, or
 * held inside gRPC by one connection's flood). */
static void *standby_main(void *arg)
{
    rpc_server *s = arg;
    is_polling_thread = true;
    int64_t after_us = rpc__cfg.standby_ms * 1000;
    struct timespec nap = { 0, 5 * 1000 * 1000 };
    while (!atomic_load(&s->standby_exit)) {
        if (mono_us() - atomic_load(&s->polled_at_us) < after_us) {
            nanosleep(&nap, NULL);
            continue;
        }
        gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_from_millis(10, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(s->cq, until, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            dispatch(s, ev.tag, ev.success != 0);
    }
    rds_thread_close();
    return NULL;
}

static size_t count_methods(const rpc_service *svc)
{
    size_t n = 0;
    for (const rpc_method *m = rpc__health_methods; m->name != NULL; m++)
        n++;
    for (const rpc_method *const *t = svc->tables; t != NULL && *t != NULL; t++)
        for (const rpc_method *m = *t; m->name != NULL; m++)
            n++;
    return n;
}

static void register_one(rpc_server *s, const rpc_method *m)
{
    rpc__method_rt *mr = &s->methods[s->nmethods++];
    mr->m = m;
    char labels[256];
    snprintf(labels, sizeof labels, "method=\"%s\"", m->name);
    mr->latency = rpc__metric("gavel_rpc_duration_seconds", labels);
    if (m->max_request > RPC_MAX_REQUEST_LIMIT)
        panic("%s: max_request %u is over %d", m->name, m->max_request, RPC_MAX_REQUEST_LIMIT);
}

/* gRPC's handle for each method, once the server exists. */
static void register_handles(rpc_server *s)
{
    for (size_t i = 0; i < s->nmethods; i++)
        s->methods[i].handle =
            grpc_server_register_method(s->server, s->methods[i].m->name, NULL,
                                        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
}

static void register_methods(rpc_server *s)
{
    s->methods = xcalloc(count_methods(s->svc), sizeof *s->methods);
    for (const rpc_method *m = rpc__health_methods; m->name != NULL; m++)
        register_one(s, m);
    for (const rpc_method *const *t = s->svc->tables; t != NULL && *t != NULL; t++)
        for (const rpc_method *m = *t; m->name != NULL; m++)
            register_one(s, m);
}

static void start_threads(rpc_server *s)
{
    s->npollers = (int)rpc__cfg.pollers;
    s->pollers = xcalloc((size_t)s->npollers, sizeof *s->pollers);
    atomic_store(&s->polled_at_us, mono_us());
    for (int i = 0; i < s->npollers; i++)
        if (pthread_create(&s->pollers[i], NULL, poller_main, s) != 0)
            panic("cannot start rpc polling thread");
    if (rpc__cfg.standby_ms > 0) {
        if (pthread_create(&s->standby, NULL, standby_main, s) != 0)
            panic("cannot start the standby polling thread");
        s->has_standby = true;
    }
    rpc__pools_start(s);
}

/* The HTTP/2 limits every connection lives under (docs/operations.md). */
static grpc_server *make_grpc_server(void)
{
    grpc_arg args[] = {
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          .value.integer = RPC_MAX_REQUEST_LIMIT },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_HPACK_TABLE_SIZE_DECODER,
          .value.integer = RPC_HPACK_TABLE_BYTES },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_METADATA_SIZE,
          .value.integer = 16 * 1024 },
        /* gRPC parses what one read brings before it comes back: smaller
         * reads bound how long a flooding connection holds a thread after
         * the guard has cut it. */
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE,
          .value.integer = 16 * 1024 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONCURRENT_STREAMS,
          .value.integer = (int)rpc__cfg.max_streams },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
          .value.integer = (int)rpc__cfg.handshake_ms },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_IDLE_MS,
          .value.integer = rpc__cfg.max_idle_ms > 0 ? (int)rpc__cfg.max_idle_ms : INT_MAX },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_AGE_MS,
          .value.integer = rpc__cfg.max_age_ms > 0 ? (int)rpc__cfg.max_age_ms : INT_MAX },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
          .value.integer = (int)rpc__cfg.max_age_grace_ms },
        /* Keepalive both ways: the server pings a quiet connection to find
         * dead peers, and a client pinging more often than allowed without
         * calls gets GOAWAY after two strikes. */
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIME_MS,
          .value.integer = (int)rpc__cfg.keepalive_ms },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
          .value.integer = 20000 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
          .value.integer = (int)rpc__cfg.min_ping_ms },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_MAX_PING_STRIKES, .value.integer = 2 },
    };
    grpc_channel_args ca = { .num_args = sizeof args / sizeof *args, .args = args };
    return grpc_server_create(&ca, NULL);
}

rpc_server *rpc_server_start(const rpc_service *svc, const char *addr,
                             char *err, size_t errlen)
{
    /* Loaded already by rpc_server_main; a server started on its own
     * (unit tests) reads the same table here. */
    if (rpc__cfg.pollers == 0 && rpc__config_load(svc, err, errlen) < 0)
        return NULL;
    rpc_grpc_init();
    rpc_server *s = xcalloc(1, sizeof *s);
    s->svc = svc;
    s->shutdown_tag.kind = RPC__TAG_SHUTDOWN;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->shutdown_cv, NULL);
    register_methods(s);
    s->server = make_grpc_server();
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    register_handles(s);

    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (s->port <= 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid)", addr);
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_destroy(s->cq);
        free(s->methods);
        free(s);
        grpc_shutdown();
        return NULL;
    }
    grpc_server_start(s->server);
    for (size_t i = 0; i < s->nmethods; i++)
        for (int k = 0; k < SLOTS_PER_METHOD; k++)
            rpc__post_request(s, &s->methods[i]);
    for (int k = 0; k < UNKNOWN_SLOTS; k++)
        post_unknown(s);
    start_threads(s);
    atomic_store(&s->serving, true);
    return s;
}

int rpc_server_port(const rpc_server *s)
{
    return s->port;
}

static bool wait_shutdown(rpc_server *s, int ms)
{
    struct timespec until;
    deadline_after_ms(&until, ms);
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done)
        if (pthread_cond_timedwait(&s->shutdown_cv, &s->mu, &until) != 0)
            break;
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->mu);
    return done;
}

void rpc_server_stop(rpc_server *s, int drain_ms)
{
    if (s == NULL)
        return;
    atomic_store(&s->serving, false);
    atomic_store(&s->stopping, true);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    rpc__streams_finish_all(s);
    if (!wait_shutdown(s, drain_ms)) {
        log_warn("drain took longer than %d ms: cancelling the calls left", drain_ms);
        grpc_server_cancel_all_calls(s->server);
        wait_shutdown(s, 60000);
    }
    rpc__pools_stop(s);
    atomic_store(&s->standby_exit, true);
    if (s->has_standby)
        pthread_join(s->standby, NULL);
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    for (int i = 0; i < s->npollers; i++)
        pthread_join(s->pollers[i], NULL);
    grpc_completion_queue_destroy(s->cq);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->shutdown_cv);
    free(s->pollers);
    free(s->methods);
    free(s);
    grpc_shutdown();
}
