/*
 * Pieces the unary and streaming client files share; private to libs/rpc.
 */
#ifndef GAVEL_RPC_CLIENT_INT_H
#define GAVEL_RPC_CLIENT_INT_H

#include <grpc/grpc.h>

#include "rpc/rpc.h"

/* Outgoing metadata; the slices point into this struct, so it must outlive
 * the batch that sends it. */
typedef struct {
    grpc_metadata md[3];
    size_t n;
    char auth[4200];
    char rid[72];
    char addr[RPC_ADDR_MAX];
} rpc__client_md_set;

void rpc__client_md(rpc__client_md_set *m, const rpc_call_opts *o);
gpr_timespec rpc__deadline(const rpc_call_opts *o);
grpc_channel *rpc__channel_raw(rpc_channel *ch);
/** 0 when req is an m->request; else -1 with a message in err (logged). */
int rpc__client_check_request(const rpc_client_method *m, const ProtobufCMessage *req,
                              char *err, size_t errlen);
/* What one unary attempt receives (rpc__unary_ops points into it). */
typedef struct {
    grpc_status_code status;
    grpc_byte_buffer *resp;       /* the answer, or NULL; the caller's */
    grpc_slice details;
    grpc_metadata_array init_md, trail_md;
} rpc__unary_result;

#define RPC__UNARY_OPS 6
/** The one batch of a unary call: send md and req (consumed when sent),
 *  close, receive into out. md and out must outlive the batch. */
void rpc__unary_ops(grpc_op ops[RPC__UNARY_OPS], const rpc__client_md_set *md,
                    grpc_byte_buffer *req, rpc__unary_result *out);
void rpc__unary_result_init(rpc__unary_result *out);
/** Frees the details and metadata (not resp); out can be reused after. */
void rpc__unary_result_clear(rpc__unary_result *out);
/** Copies the status details into err, NUL-terminated, cut to errlen. */
void rpc__copy_details(grpc_slice details, char *err, size_t errlen);
/** Whether an attempt that ended with st (why: its details) is tried again:
 *  UNAVAILABLE before the deadline, and idempotent or never sent before
 *  unsent_until (rpc__unsent_until() taken when the call began). */
bool rpc__should_retry(grpc_status_code st, const char *why, bool idempotent,
                       gpr_timespec unsent_until, gpr_timespec deadline);
gpr_timespec rpc__unsent_until(void);
/** The jittered exponential wait before attempt attempt_no + 1, cut to
 *  what is left before the deadline. */
int64_t rpc__backoff_ms(int attempt_no, gpr_timespec deadline);
/** Shuts a pluck queue down, drains it and destroys it. */
void rpc__drain_destroy(grpc_completion_queue *cq);

#endif
