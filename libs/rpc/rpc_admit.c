/*
 * What happens to a call the moment it arrives, on the polling thread:
 * refused at once (no request message, a request over its method's size
 * limit, a full pool), run right here (it cannot block), or handed to the
 * pool its method's class and its caller choose (rpc.h, rpc_class).
 *
 * Nothing here blocks or unpacks: the caller's identity comes from the
 * token cache (a token whose signature this process verified before), so
 * a flood of unknown or forged tokens costs a hash and a lookup here and
 * a signature check in the normal pool, and never reaches the service
 * pool. Refusals here are answered without authentication: they say
 * nothing about the request beyond its size and presence.
 */
#include <string.h>

#include "rpc/rpc_int.h"

typedef enum { RUN_HERE, RUN_IN_POOL } placement;

/* Chooses where c runs: *pool and *ahead are set for RUN_IN_POOL. */
static placement place(rpc_server *s, rpc_call *c, rpc__pool **pool, bool *ahead)
{
    const rpc_method *m = c->mr->m;
    *ahead = false;
    if (m->cls == RPC_CLASS_INLINE)
        return RUN_HERE;
    char hdr[RPC__MAX_TOKEN + 16];
    size_t n = 0;
    if (!rpc__md_get(&c->md, "authorization", hdr, sizeof hdr, &n)) {
        /* Anonymous: a method that needs a token refuses at once; a public
         * one runs with the other calls anyone may make. */
        if (m->roles != RPC_PUBLIC)
            return RUN_HERE;
        *pool = &s->pools[RPC__POOL_EXPENSIVE];
        return RUN_IN_POOL;
    }
    if (n >= sizeof hdr || strncmp(hdr, "Bearer ", 7) != 0)
        return RUN_HERE; /* refused at once as malformed */
    bool fresh = false;
    unsigned role = rpc__auth_peek(hdr + 7, &fresh);
    if (m->cls == RPC_CLASS_FAST && fresh)
        return RUN_HERE;
    bool is_service = role == RPC_ROLE_SERVICE;
    /* An expensive call with a token not seen yet is checked in the normal
     * pool first and handed to the expensive one from there (rpc_call.c),
     * so a gateway's fresh token is not queued behind anonymous calls. */
    if (m->cls == RPC_CLASS_EXPENSIVE && role != 0) {
        *pool = &s->pools[RPC__POOL_EXPENSIVE];
        *ahead = is_service;
        return RUN_IN_POOL;
    }
    *pool = &s->pools[is_service ? RPC__POOL_SERVICE : RPC__POOL_NORMAL];
    *ahead = is_service;
    return RUN_IN_POOL;
}

/* Takes an arrived call from its slot to its answer or its pool. */
void rpc__admit(rpc_server *s, rpc_call *c)
{
    const rpc_method *m = c->mr->m;
    if (c->payload == NULL) {
        /* gRPC hands over a call whose stream ended (or was reset) before
         * its message came; a client never sends a unary call without
         * one. Opening and resetting streams is the HTTP/2 "rapid reset"
         * flood, so the connection is watched for it. */
        rpc__guard_note_reset(c);
        rpc__call_refuse(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "no request message: a call must carry exactly one %s",
                         m->request->name);
        return;
    }
    size_t limit = m->max_request > 0 ? m->max_request : RPC_DEFAULT_MAX_REQUEST;
    size_t len = grpc_byte_buffer_length(c->payload);
    if (len > limit) {
        rpc__call_refuse(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "request is %zu bytes; %s accepts at most %zu", len, m->name, limit);
        return;
    }
    rpc__pool *pool = NULL;
    bool ahead = false;
    if (place(s, c, &pool, &ahead) == RUN_HERE) {
        rpc__call_run(c);
        return;
    }
    if (!rpc__pool_admit(pool, c, ahead))
        rpc__call_refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "server busy: %zu calls already wait in the %s pool; retry later",
                         pool->max_queued, pool->name);
}

rpc__pool *rpc__pool_for_resume(rpc_call *c)
{
    if (c->pool != NULL)
        return c->pool;
    bool is_service = c->has_principal && c->principal.role == RPC_ROLE_SERVICE;
    return &c->srv->pools[is_service ? RPC__POOL_SERVICE : RPC__POOL_NORMAL];
}
