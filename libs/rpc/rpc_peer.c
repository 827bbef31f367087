/*
 * Where a call comes from, for limits kept per client address (login
 * throttling). The address is the connection's peer, except that a caller
 * holding a verified service identity (the gateway, acting for a browser)
 * may name the client it acts for in `x-client-addr`: nobody else is
 * believed, so an anonymous caller cannot pick the address it is counted
 * under.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <grpc/support/alloc.h>

#include "rpc/rpc_int.h"

/* Copies the IP literal of a gRPC peer string ("ipv4:127.0.0.1:5000",
 * "ipv6:[::1]:5000") into out; "" when it names no IP (unix sockets). */
static void peer_ip(const char *peer, char *out, size_t outlen)
{
    out[0] = '\0';
    if (peer == NULL)
        return;
    const char *p = NULL;
    size_t n = 0;
    if (strncmp(peer, "ipv4:", 5) == 0) {
        p = peer + 5;
        const char *colon = strrchr(p, ':');
        n = colon != NULL ? (size_t)(colon - p) : strlen(p);
    } else if (strncmp(peer, "ipv6:[", 6) == 0) {
        p = peer + 6;
        const char *end = strchr(p, ']');
        n = end != NULL ? (size_t)(end - p) : 0;
    }
    /* An IPv6 peer may carry a zone ("fe80::1%25eth0"): it is not part of
     * the address a limit should key on. */
    const char *zone = p != NULL ? memchr(p, '%', n) : NULL;
    if (zone != NULL)
        n = (size_t)(zone - p);
    if (p != NULL && n > 0 && n < outlen) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

/* True when s is an IPv4 or IPv6 literal. */
static bool is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

const char *rpc_client_addr(rpc_call *c)
{
    if (c->client_addr[0] != '\0')
        return c->client_addr;
    char fwd[RPC_ADDR_MAX];
    size_t n = 0;
    if (c->has_principal && c->principal.role == RPC_ROLE_SERVICE && c->call != NULL &&
        rpc__md_get(&c->md, "x-client-addr", fwd, sizeof fwd, &n) && n < sizeof fwd &&
        is_ip_literal(fwd)) {
        snprintf(c->client_addr, sizeof c->client_addr, "%s", fwd);
        return c->client_addr;
    }
    if (c->call != NULL) {
        char *peer = grpc_call_get_peer(c->call);
        peer_ip(peer, c->client_addr, sizeof c->client_addr);
        gpr_free(peer);
    }
    if (c->client_addr[0] == '\0')
        snprintf(c->client_addr, sizeof c->client_addr, "unknown");
    return c->client_addr;
}
