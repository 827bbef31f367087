/*
 * Routing by key across several instances of one service. The rule is the
 * whole contract between callers and instances, so it lives here once:
 * with N instances listed in the same order everywhere ("a,b,c"), key k
 * (k > 0, e.g. a lot id) belongs to instance k % N. For bids lots it is
 * the legacy rule: lots with no recorded instance (rpc_owner.c) follow it,
 * and a bids instance told its own index refuses such a lot that is not
 * its own (see docs/architecture.md, "Several bids instances"). It also
 * spreads new lots over the accepting instances (rpc_owner_choose).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

struct rpc_route {
    char **addrs;
    size_t n;
};

void rpc_route_free(rpc_route *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->addrs[i]);
    free(r->addrs);
    free(r);
}

rpc_route *rpc_route_parse(const char *list, char *err, size_t errlen)
{
    if (list == NULL || *list == '\0') {
        snprintf(err, errlen, "no address given");
        return NULL;
    }
    rpc_route *r = xcalloc(1, sizeof *r);
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 255 || memchr(p, ' ', len) != NULL) {
            snprintf(err, errlen, "address %zu of \"%.100s\" is empty, too long or has a space",
                     r->n + 1, list);
            rpc_route_free(r);
            return NULL;
        }
        if (r->n == RPC_ROUTE_MAX) {
            snprintf(err, errlen, "more than %d addresses", RPC_ROUTE_MAX);
            rpc_route_free(r);
            return NULL;
        }
        r->addrs = xrealloc(r->addrs, (r->n + 1) * sizeof *r->addrs);
        r->addrs[r->n++] = xstrndup(p, len);
        if (p[len] == '\0')
            return r;
        p += len + 1;
    }
}

size_t rpc_route_count(const rpc_route *r)
{
    return r->n;
}

size_t rpc_route_index(size_t n, int64_t key)
{
    /* Keys are positive ids; a negative one still maps into range. */
    uint64_t k = key < 0 ? (uint64_t)(-(key + 1)) + 1 : (uint64_t)key;
    return n > 0 ? (size_t)(k % n) : 0;
}

const char *rpc_route_pick(const rpc_route *r, int64_t key)
{
    return r->addrs[rpc_route_index(r->n, key)];
}
