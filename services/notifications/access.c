/*
 * The page a call asks for (whose data it is about is rpc_resolve_user's).
 * Pages run newest first; a page token is the id of the last row of the
 * previous page.
 */
#include <stdlib.h>

#include "notif.h"

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
