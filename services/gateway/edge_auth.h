/*
 * Bearer tokens at the edge: a request to a route that needs a token is
 * verified here, in its job, before anything is forwarded, so a missing,
 * malformed, expired, revoked or forged token never reaches a service.
 */
#ifndef GAVEL_GATEWAY_EDGE_AUTH_H
#define GAVEL_GATEWAY_EDGE_AUTH_H

#include <stddef.h>

#include "rpc/rpc.h"

/**
 * Checks an Authorization header value (borrowed; NULL when absent): it
 * must be "Bearer <token>" and the token must pass rpc_auth_verify (which
 * may block: worker threads only). Returns 0 with *p filled (p->token
 * points into authorization), 401 with the reason in why, or 503 when the
 * revocation list cannot answer.
 */
int gw_edge_auth(const char *authorization, rpc_principal *p, char *why, size_t whylen);

#endif
