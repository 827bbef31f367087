/*
 * Unary client calls that do not hold a thread while they wait. A caller
 * whose work is mostly waiting on another daemon (the gateway: a bid waits
 * ~60 ms for its group commit) would otherwise need a thread per call in
 * flight, and its throughput would be its thread count over the peer's
 * latency. Here the call is started on one shared completion queue, and
 * one completion thread, started on the first call and kept for the life
 * of the process, finishes every call: it unpacks the answer and hands it
 * to the caller's callback. There is one such thread per core, up to
 * COMPLETION_THREADS_MAX, all taking events from the same queue, so the
 * callbacks' own work (the gateway writes its JSON there) runs in parallel
 * as it did on the callers' threads.
 *
 * Retries follow rpc_unary exactly (rpc__should_retry, rpc__backoff_ms): a
 * retry waits on the timer list, not in a sleep, so one waiting call never
 * delays another's answer. The thread that adds a timer goes back to the
 * queue with a wait no longer than that timer's, so it is never late by
 * more than that thread's current callback.
 *
 * Invariants: every call started (rpc_unary_start returned 0) gets its
 * callback exactly once, on a completion thread; the timer list is under
 * timers_mu.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grpc/grpc.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_client_int.h"

typedef struct ucall {
    rpc_channel *ch;
    const rpc_client_method *m;
    grpc_byte_buffer *req;        /* kept: each attempt sends a copy */
    grpc_byte_buffer *sent;       /* the attempt's copy, until it ends */
    rpc__client_md_set md;
    gpr_timespec deadline, unsent_until;
    bool idempotent;
    int attempt_no;
    grpc_call *call;              /* the attempt in flight */
    rpc__unary_result out;
    gpr_timespec due;             /* a retry waiting: when it starts */
    struct ucall *next_timer;
    rpc_unary_done_fn done;
    void *arg;
} ucall;

#define COMPLETION_THREADS_MAX 4

static pthread_once_t started = PTHREAD_ONCE_INIT;
static grpc_completion_queue *cq;
static pthread_mutex_t timers_mu = PTHREAD_MUTEX_INITIALIZER;
static ucall *timers;             /* by due time; under timers_mu */

/* 0, or -1 with err set (nothing was sent; the attempt's state is clear). */
static int attempt_start(ucall *u, char *err, size_t errlen)
{
    grpc_slice method = grpc_slice_from_static_string(u->m->name);
    u->call = grpc_channel_create_call(rpc__channel_raw(u->ch), NULL, GRPC_PROPAGATE_DEFAULTS,
                                       cq, method, NULL, u->deadline, NULL);
    rpc__unary_result_init(&u->out);
    grpc_op ops[RPC__UNARY_OPS];
    u->sent = grpc_byte_buffer_copy(u->req);
    rpc__unary_ops(ops, &u->md, u->sent, &u->out);
    grpc_call_error e = grpc_call_start_batch(u->call, ops, RPC__UNARY_OPS, u, NULL);
    if (e == GRPC_CALL_OK)
        return 0;
    snprintf(err, errlen, "cannot start call %s (%d)", u->m->name, (int)e);
    rpc__unary_result_clear(&u->out);
    grpc_byte_buffer_destroy(u->sent);
    u->sent = NULL;
    grpc_call_unref(u->call);
    u->call = NULL;
    return -1;
}

static void ucall_free(ucall *u)
{
    grpc_byte_buffer_destroy(u->req);
    free(u);
}

/* Completion thread: hands the call's end to its caller and frees it. */
static void deliver(ucall *u, grpc_status_code st, grpc_byte_buffer *resp, const char *why)
{
    ProtobufCMessage *msg = NULL;
    char err[512];
    snprintf(err, sizeof err, "%s", why);
    if (st == GRPC_STATUS_OK) {
        msg = rpc__unpack(u->m->response, resp, NULL);
        if (msg == NULL) {
            st = GRPC_STATUS_INTERNAL;
            snprintf(err, sizeof err, "malformed %s response from %s", u->m->response->name,
                     u->m->name);
        }
    }
    if (resp != NULL)
        grpc_byte_buffer_destroy(resp);
    u->done(st, msg, err, u->arg);
    ucall_free(u);
}

static void timer_add(ucall *u)
{
    pthread_mutex_lock(&timers_mu);
    ucall **at = &timers;
    while (*at != NULL && gpr_time_cmp((*at)->due, u->due) <= 0)
        at = &(*at)->next_timer;
    u->next_timer = *at;
    *at = u;
    pthread_mutex_unlock(&timers_mu);
}

/* The first retry whose wait is over, taken off the list; or NULL. */
static ucall *timer_take_due(void)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    pthread_mutex_lock(&timers_mu);
    ucall *u = timers;
    if (u != NULL && gpr_time_cmp(u->due, now) <= 0)
        timers = u->next_timer;
    else
        u = NULL;
    pthread_mutex_unlock(&timers_mu);
    return u;
}

static gpr_timespec timer_next_due(void)
{
    pthread_mutex_lock(&timers_mu);
    gpr_timespec due = timers != NULL ? timers->due : gpr_inf_future(GPR_CLOCK_MONOTONIC);
    pthread_mutex_unlock(&timers_mu);
    return due;
}

/* Completion thread: one attempt ended. */
static void attempt_done(ucall *u)
{
    char why[512];
    rpc__copy_details(u->out.details, why, sizeof why);
    grpc_status_code st = u->out.status;
    grpc_byte_buffer *resp = u->out.resp;
    rpc__unary_result_clear(&u->out);
    grpc_call_unref(u->call);
    u->call = NULL;
    grpc_byte_buffer_destroy(u->sent);
    u->sent = NULL;
    if (rpc__should_retry(st, why, u->idempotent, u->unsent_until, u->deadline)) {
        if (resp != NULL)
            grpc_byte_buffer_destroy(resp);
        int64_t ms = rpc__backoff_ms(u->attempt_no++, u->deadline);
        u->due = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                              gpr_time_from_millis(ms, GPR_TIMESPAN));
        timer_add(u);
        return;
    }
    deliver(u, st, resp, why);
}

/* Completion thread: starts the retries whose wait is over. */
static void timers_run(void)
{
    ucall *u;
    while ((u = timer_take_due()) != NULL) {
        char err[256];
        if (attempt_start(u, err, sizeof err) < 0)
            deliver(u, GRPC_STATUS_INTERNAL, NULL, err);
    }
}

static void *completion_main(void *arg)
{
    (void)arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, timer_next_due(), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            attempt_done(ev.tag);
        timers_run();
    }
    return NULL;
}

static void start_once(void)
{
    rpc_grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores < 1 ? 1 : cores > COMPLETION_THREADS_MAX ? COMPLETION_THREADS_MAX : (int)cores;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, completion_main, NULL) != 0)
            panic("rpc: cannot start client completion thread %d", i + 1);
        pthread_detach(t);
    }
}

int rpc_unary_start(rpc_channel *ch, const rpc_client_method *m, const ProtobufCMessage *req,
                    const rpc_call_opts *opts, rpc_unary_done_fn done, void *arg,
                    char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (rpc__client_check_request(m, req, err, errlen) < 0)
        return -1;
    pthread_once(&started, start_once);
    ucall *u = xcalloc(1, sizeof *u);
    u->ch = ch;
    u->m = m;
    u->req = rpc__pack(req);
    rpc__client_md(&u->md, opts);
    u->deadline = rpc__deadline(opts);
    u->unsent_until = rpc__unsent_until();
    u->idempotent = opts != NULL && opts->idempotent;
    u->done = done;
    u->arg = arg;
    if (attempt_start(u, err, errlen) < 0) {
        ucall_free(u);
        return -1;
    }
    return 0;
}
