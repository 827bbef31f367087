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
/** Shuts a pluck queue down, drains it and destroys it. */
void rpc__drain_destroy(grpc_completion_queue *cq);

#endif
