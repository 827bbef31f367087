/*
 * Calls that belong to no server, so unit tests can run a handler's checks
 * (anything that takes an rpc_call: rpc_fail, rpc_caller, the arena)
 * without a network. Nothing here is used by a running daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"

rpc_call *rpc_call_new_detached(const rpc_principal *p)
{
    rpc_call *c = xcalloc(1, sizeof *c);
    c->arena = arena_new();
    if (p != NULL) {
        c->principal = *p;
        c->has_principal = true;
    }
    snprintf(c->request_id, sizeof c->request_id, "detached");
    return c;
}

void rpc_call_free_detached(rpc_call *c)
{
    if (c == NULL)
        return;
    arena_free(c->arena);
    free(c);
}

const char *rpc_call_message(const rpc_call *c)
{
    return c->status_msg != NULL ? c->status_msg : "";
}
