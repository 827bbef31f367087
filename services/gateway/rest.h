/*
 * The REST job's pieces shared between its files.
 */
#ifndef GAVEL_GATEWAY_REST_H
#define GAVEL_GATEWAY_REST_H

#include <protobuf-c/protobuf-c.h>

#include "request.h"

/**
 * Builds r's request message (of r->route->rpc->request) from its body,
 * path and query parameters and Idempotency-Key header, allocated with
 * alloc. Returns 0 with *out set, or the HTTP status of a refusal (400,
 * 415) with r's answer set naming the field or position. Any thread.
 */
int gw_rest_build(gw_req *r, ProtobufCAllocator *alloc, ProtobufCMessage **out);

#endif
