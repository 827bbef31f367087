/*
 * Server streaming without a thread per stream: producers queue packed
 * messages from any thread, and the completion of one write starts the
 * next, so a slow client costs memory (visible as backlog), never a
 * blocked producer. The final status goes out after every queued message.
 *
 * References: one for the opener, one while the close notification is
 * pending, one per batch in flight; the stream and its call are freed when
 * the last is dropped. Lock order: server mutex, then stream mutex.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/slice.h>

#include "rpc/rpc_int.h"

typedef struct out_msg {
    grpc_byte_buffer *bb;
    struct out_msg *next;
} out_msg;

struct rpc_stream {
    rpc__tag write_tag;
    rpc__tag close_tag;
    rpc_call *call;
    pthread_mutex_t mu;
    int refs;
    bool sent_initial, writing, closed, finish_pending, status_sent;
    grpc_status_code fin_code;
    char fin_msg[256];
    grpc_slice status_slice;
    bool has_status_slice;
    out_msg *qhead, *qtail;
    size_t qlen;
    grpc_byte_buffer *inflight;
    void (*on_close)(void *);
    void *arg;
    struct rpc_stream *next_open, *prev_open;
};

rpc_stream *rpc__stream_from_write_tag(rpc__tag *t)
{
    return (rpc_stream *)((char *)t - offsetof(rpc_stream, write_tag));
}

rpc_stream *rpc__stream_from_close_tag(rpc__tag *t)
{
    return (rpc_stream *)((char *)t - offsetof(rpc_stream, close_tag));
}

static void drop_queue_locked(rpc_stream *s)
{
    while (s->qhead != NULL) {
        out_msg *m = s->qhead;
        s->qhead = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
    }
    s->qtail = NULL;
    s->qlen = 0;
}

static void stream_destroy(rpc_stream *s)
{
    drop_queue_locked(s);
    if (s->has_status_slice)
        grpc_slice_unref(s->status_slice);
    pthread_mutex_destroy(&s->mu);
    rpc__call_free(s->call);
    free(s);
}

static void start_batch_locked(rpc_stream *s, grpc_op *ops, size_t n)
{
    s->writing = true;
    s->refs++;
    grpc_call_error e = grpc_call_start_batch(s->call->call, ops, n, &s->write_tag, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("stream write failed to start: error %d", e);
        s->writing = false;
        s->refs--;
        s->closed = true;
        drop_queue_locked(s);
    }
}

/* Starts the next write, or the status once the queue is empty. */
static void start_next_locked(rpc_stream *s)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!s->sent_initial) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        s->sent_initial = true;
    }
    if (s->qhead != NULL) {
        out_msg *m = s->qhead;
        s->qhead = m->next;
        if (s->qhead == NULL)
            s->qtail = NULL;
        s->qlen--;
        s->inflight = m->bb;
        free(m);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = s->inflight;
    } else if (s->finish_pending && !s->status_sent) {
        s->status_sent = true;
        s->status_slice = grpc_slice_from_copied_string(s->fin_msg);
        s->has_status_slice = true;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = s->fin_code;
        ops[n++].data.send_status_from_server.status_details = &s->status_slice;
        rpc__count(s->call, s->fin_code);
    } else {
        return;
    }
    start_batch_locked(s, ops, n);
}

rpc_stream *rpc_stream_open(rpc_call *c, void (*on_close)(void *), void *arg)
{
    rpc_stream *s = xcalloc(1, sizeof *s);
    s->write_tag.kind = RPC__TAG_STREAM_WRITE;
    s->close_tag.kind = RPC__TAG_STREAM_CLOSE;
    s->call = c;
    s->on_close = on_close;
    s->arg = arg;
    s->refs = 2; /* the opener, and the pending close notification */
    pthread_mutex_init(&s->mu, NULL);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, &s->close_tag, NULL) != GRPC_CALL_OK)
        panic("cannot watch a stream for close");
    rpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->mu);
    s->next_open = srv->streams;
    if (srv->streams != NULL)
        srv->streams->prev_open = s;
    srv->streams = s;
    pthread_mutex_unlock(&srv->mu);
    return s;
}

int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *msg)
{
    out_msg *m = xmalloc(sizeof *m);
    m->bb = rpc__pack(msg);
    m->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->closed || s->finish_pending) {
        pthread_mutex_unlock(&s->mu);
        grpc_byte_buffer_destroy(m->bb);
        free(m);
        return -1;
    }
    if (s->qtail != NULL)
        s->qtail->next = m;
    else
        s->qhead = m;
    s->qtail = m;
    s->qlen++;
    if (!s->writing)
        start_next_locked(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void rpc_stream_finish(rpc_stream *s, grpc_status_code code, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (!s->finish_pending && !s->closed) {
        s->finish_pending = true;
        s->fin_code = code;
        snprintf(s->fin_msg, sizeof s->fin_msg, "%s", msg != NULL ? msg : "");
        if (!s->writing)
            start_next_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
}

size_t rpc_stream_backlog(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->qlen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void rpc_stream_retain(rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void rpc_stream_release(rpc_stream *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    bool dead = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (dead)
        stream_destroy(s);
}

void rpc__stream_on_write(rpc_stream *s, bool ok)
{
    pthread_mutex_lock(&s->mu);
    if (s->inflight != NULL) {
        grpc_byte_buffer_destroy(s->inflight);
        s->inflight = NULL;
    }
    s->writing = false;
    if (!ok) { /* the client went away mid-write */
        s->closed = true;
        drop_queue_locked(s);
    } else if (!s->closed) {
        start_next_locked(s);
    }
    bool dead = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (dead)
        stream_destroy(s);
}

void rpc__stream_unlink(rpc_server *srv, rpc_stream *s)
{
    pthread_mutex_lock(&srv->mu);
    if (s->prev_open != NULL)
        s->prev_open->next_open = s->next_open;
    else if (srv->streams == s)
        srv->streams = s->next_open;
    if (s->next_open != NULL)
        s->next_open->prev_open = s->prev_open;
    s->next_open = s->prev_open = NULL;
    pthread_mutex_unlock(&srv->mu);
}

void rpc__stream_on_close(rpc_stream *s)
{
    rpc__stream_unlink(s->call->srv, s);
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    drop_queue_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (s->on_close != NULL)
        s->on_close(s->arg);
    rpc_stream_release(s);
}

void rpc__streams_finish_all(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    for (rpc_stream *s = srv->streams; s != NULL; s = s->next_open)
        rpc_stream_finish(s, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    pthread_mutex_unlock(&srv->mu);
}
