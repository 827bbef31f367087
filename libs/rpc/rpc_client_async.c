/*
 * Unary client calls that do not hold a thread while they wait. A caller
 * whose work is mostly waiting on another daemon (the gateway: a bid waits
 * ~60 ms for its group commit) would otherwise need a thread per call in
 * flight, and its throughput would be its thread count over the peer's
 * latency. Here the call is started on one shared completion queue, and
 * one completion thread, started on the first call and kept for the life
 * of the process, finishes every call: it unpacks the answer and hands it
 * to the caller's callback.
 *
 * Retries follow rpc_unary exactly (rpc__should_retry, rpc__backoff_ms): a
 * retry waits on the completion thread's timer list, not in a sleep, so
 * one waiting call never delays another's answer.
 *
 * Invariants: every call started (rpc_unary_start returned 0) gets its
 * callback exactly once, on the completion thread; the timer list is the
 * completion thread's alone.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static pthread_once_t started = PTHREAD_ONCE_INIT;
static grpc_completion_queue *cq;
static ucall *timers;             /* the completion thread's; by due time */

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
    ucall **at = &timers;
    while (*at != NULL && gpr_time_cmp((*at)->due, u->due) <= 0)
        at = &(*at)->next_timer;
    u->next_timer = *at;
    *at = u;
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
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    while (timers != NULL && gpr_time_cmp(timers->due, now) <= 0) {
        ucall *u = timers;
        timers = u->next_timer;
        char err[256];
        if (attempt_start(u, err, sizeof err) < 0)
            deliver(u, GRPC_STATUS_INTERNAL, NULL, err);
    }
}

static void *completion_main(void *arg)
{
    (void)arg;
    for (;;) {
        gpr_timespec until = timers != NULL ? timers->due : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(cq, until, NULL);
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
    pthread_t t;
    if (pthread_create(&t, NULL, completion_main, NULL) != 0) {
        log_error("rpc: cannot start the client completion thread");
        abort();
    }
    pthread_detach(t);
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
