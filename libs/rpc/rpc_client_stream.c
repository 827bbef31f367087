/*
 * Server-streaming client calls (the gateway watching lots): the request is
 * sent once, then each rpc_client_stream_next waits for one message on the
 * call's own pluck queue. A stream without a deadline lives until either
 * side ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/slice.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_client_int.h"

struct rpc_client_stream {
    const rpc_client_method *m;
    grpc_completion_queue *cq;
    grpc_call *call;
    rpc__client_md_set md;
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *req;
    grpc_status_code status;
    grpc_slice details;
    bool done;      /* status received */
    bool started;   /* first batch went out */
    bool got_init_md;
};

static bool run_batch(rpc_client_stream *s, grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(s->call, ops, n, s, NULL) != GRPC_CALL_OK)
        return false;
    grpc_event ev = grpc_completion_queue_pluck(s->cq, s, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

rpc_client_stream *rpc_client_stream_start(rpc_channel *ch, const rpc_client_method *m,
                                           const ProtobufCMessage *req,
                                           const rpc_call_opts *opts, char *err,
                                           size_t errlen)
{
    if (rpc__client_check_request(m, req, err, errlen) < 0)
        return NULL;
    const char *method = m->name;
    rpc_client_stream *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    rpc__client_md(&s->md, opts);
    gpr_timespec deadline = (opts != NULL && opts->deadline_ms > 0)
                                ? rpc__deadline(opts)
                                : gpr_inf_future(GPR_CLOCK_REALTIME);
    s->call = grpc_channel_create_call(rpc__channel_raw(ch), NULL, GRPC_PROPAGATE_DEFAULTS,
                                       s->cq, grpc_slice_from_static_string(method), NULL,
                                       deadline, NULL);
    s->req = rpc__pack(req);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = s->md.n;
    ops[0].data.send_initial_metadata.metadata = s->md.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    s->started = run_batch(s, ops, 3);
    if (!s->started) {
        /* The status batch below tells why (e.g. UNAVAILABLE). */
        snprintf(err, errlen, "cannot start stream %s", method);
    }
    return s;
}

static int finish(rpc_client_stream *s)
{
    if (!s->done) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        op.data.recv_status_on_client.trailing_metadata = &s->trail_md;
        op.data.recv_status_on_client.status = &s->status;
        op.data.recv_status_on_client.status_details = &s->details;
        if (!run_batch(s, &op, 1))
            s->status = GRPC_STATUS_UNKNOWN;
        s->done = true;
    }
    return s->status == GRPC_STATUS_OK ? 0 : -1;
}

int rpc_client_stream_next(rpc_client_stream *s, ProtobufCMessage **msg)
{
    const ProtobufCMessageDescriptor *d = s->m->response;
    *msg = NULL;
    if (s->done)
        return s->status == GRPC_STATUS_OK ? 0 : -1;
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!s->got_init_md) {
        s->got_init_md = true;
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &bb;
    bool ok = run_batch(s, ops, n);
    if (!ok || bb == NULL)
        return finish(s);
    *msg = rpc__unpack(d, bb, NULL);
    grpc_byte_buffer_destroy(bb);
    if (*msg == NULL) {
        grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL, "malformed stream message",
                                     NULL);
        finish(s);
        s->status = GRPC_STATUS_INTERNAL;
        return -1;
    }
    return 1;
}

grpc_status_code rpc_client_stream_status(rpc_client_stream *s, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0) {
        size_t n = GRPC_SLICE_LENGTH(s->details);
        if (n >= errlen)
            n = errlen - 1;
        memcpy(err, GRPC_SLICE_START_PTR(s->details), n);
        err[n] = '\0';
    }
    return s->status;
}

void rpc_client_stream_free(rpc_client_stream *s)
{
    if (s == NULL)
        return;
    if (!s->done) {
        grpc_call_cancel(s->call, NULL);
        finish(s);
    }
    grpc_call_unref(s->call);
    rpc__drain_destroy(s->cq);
    grpc_byte_buffer_destroy(s->req);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    free(s);
}
