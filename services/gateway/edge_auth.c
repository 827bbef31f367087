/*
 * The edge's token check: the header's shape here, the token itself by
 * the libs/rpc verifier (signature with the users or service public key,
 * expiry, the Redis revocation list), the same one every service runs
 * again on the forwarded token.
 */
#include <stdio.h>
#include <strings.h>

#include "edge_auth.h"
#include "http.h"

int gw_edge_auth(const char *authorization, rpc_principal *p, char *why, size_t whylen)
{
    int rc = 401;
    if (authorization == NULL || authorization[0] == '\0') {
        snprintf(why, whylen, "this route needs an access token (Authorization: Bearer <token>)");
        goto out;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(why, whylen, "Authorization must be \"Bearer <access token>\"");
        goto out;
    }
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    if (*token == '\0') {
        snprintf(why, whylen, "Authorization: Bearer without a token");
        goto out;
    }
    char err[256] = "";
    grpc_status_code st = rpc_auth_verify(token, p, err, sizeof err);
    if (st == GRPC_STATUS_OK) {
        rc = 0;
    } else if (st == GRPC_STATUS_UNAVAILABLE) {
        rc = 503;
        snprintf(why, whylen, "cannot check the token now (%s); retry", err);
    } else {
        snprintf(why, whylen, "%s", err[0] != '\0' ? err : "invalid token");
    }
out:
    if (rc == 401)
        mx_add(gw_mx.edge_auth_refused, 1);
    return rc;
}
