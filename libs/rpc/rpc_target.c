/*
 * A channel target that names several instances of one stateless service
 * ("127.0.0.1:50051,127.0.0.1:50061", the form every GAVEL_*_ADDR of such a
 * service accepts). gRPC's ipv4 resolver takes such a list after the
 * "ipv4:" scheme, and the channel's round_robin policy then spreads calls
 * over every instance that is up and skips one that is down (a call in
 * flight on a dying instance fails UNAVAILABLE: idempotent calls retry,
 * see rpc_client.c). Only IPv4 literals: a name would need one DNS record
 * per instance, which is what a Kubernetes Service or DNS already gives
 * with a single address.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"

/* True when [p, p+len) is "a.b.c.d:port" with port 1..65535. */
static bool ipv4_hostport(const char *p, size_t len)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *colon = strrchr(buf, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5)
        return false;
    *colon = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return false;
    long port = 0;
    for (const char *d = colon + 1; *d != '\0'; d++) {
        if (*d < '0' || *d > '9')
            return false;
        port = port * 10 + (*d - '0');
    }
    return port >= 1 && port <= 65535;
}

int rpc__target_list(const char *target, char *out, size_t outlen)
{
    if (strchr(target, ',') == NULL || strchr(target, '/') != NULL ||
        strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0)
        return 0;
    size_t n = 0;
    for (const char *p = target;;) {
        size_t len = strcspn(p, ",");
        if (!ipv4_hostport(p, len))
            return -1;
        n++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (n < 2 || (size_t)snprintf(out, outlen, "ipv4:%s", target) >= outlen)
        return -1;
    return 1;
}
