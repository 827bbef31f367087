/*
 * Page requests of id-keyed lists: the size within bounds, the token the
 * decimal id of the previous page's last row.
 */
#include <stdlib.h>

#include "check/check.h"

int check_page(rpc_call *c, const Gavel__Common__V1__PageRequest *pg, int def, int max,
               int *size, int64_t *after)
{
    int n = pg != NULL ? pg->page_size : 0;
    const char *tok = pg != NULL ? pg->page_token : "";
    if (n < 0 || n > max)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to %d", max);
    *size = n == 0 ? def : n;
    *after = 0;
    if (tok[0] == '\0')
        return GRPC_STATUS_OK;
    char *end = NULL;
    long long v = strtoll(tok, &end, 10);
    if (end == tok || *end != '\0' || v <= 0 || tok[0] < '0' || tok[0] > '9')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    *after = v;
    return GRPC_STATUS_OK;
}
