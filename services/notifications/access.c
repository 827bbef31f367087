/*
 * What every handler checks first: whose data the call is about ("0 means
 * me"; another user's only for the roles the method names) and the page
 * it asks for. Pages run newest first; a page token is the id of the last
 * row of the previous page.
 */
#include <stdlib.h>

#include "notif.h"

int notif_resolve_user(rpc_call *c, int64_t requested, unsigned others_roles, int64_t *target)
{
    const rpc_principal *me = rpc_caller(c);
    if (requested < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "user_id must not be negative");
    if (requested == 0 || requested == me->user_id) {
        if (me->user_id == 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "user_id is required for a service caller");
        *target = me->user_id;
        return GRPC_STATUS_OK;
    }
    if (!rpc_has_role(c, others_roles))
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                        "role %s may not act on another user's notifications",
                        rpc_role_name(me->role));
    *target = requested;
    return GRPC_STATUS_OK;
}

int notif_page(rpc_call *c, const Gavel__Common__V1__PageRequest *p, int *size,
               int64_t *after_id)
{
    int n = p != NULL ? p->page_size : 0;
    const char *tok = p != NULL ? p->page_token : "";
    if (n < 0 || n > 200)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to 200");
    *size = n == 0 ? 50 : n;
    *after_id = INT64_MAX;
    if (tok[0] == '\0')
        return GRPC_STATUS_OK;
    char *end = NULL;
    long long v = strtoll(tok, &end, 10);
    if (end == tok || *end != '\0' || v <= 0 || tok[0] == '+' || tok[0] == ' ')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    *after_id = v;
    return GRPC_STATUS_OK;
}
