/*
 * The guard against HTTP/2 "rapid reset" (CVE-2023-44487): a client that
 * opens streams and resets them at once makes gRPC create and tear down a
 * call for each (about 70 µs of a polling thread here), and gRPC 1.51, the
 * version Debian 12 ships, has no limit of its own on it. 20,000 such
 * streams on one connection held the polling thread for 1 to 3 s and every
 * other client with it.
 *
 * We see those streams as calls that arrive without their request message,
 * or are cancelled within RPC__QUICK_RESET_US of arriving. A connection
 * that makes GAVEL_RPC_RESET_LIMIT of them within one second is shut down
 * (its socket, found by its two addresses): gRPC then reads no more of its
 * bytes and drops its streams. Legitimate clients never send a call
 * without its message, and one whose deadline passes was slower than that.
 * The standby poller (rpc_server.c) makes sure this runs while a flood
 * holds the polling thread inside gRPC.
 *
 * State: a small table of recent connections (by gRPC peer string) under
 * one mutex, touched only for reset calls, never on the normal path.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <grpc/support/alloc.h>

#include "rpc/rpc_int.h"

#define GUARD_SLOTS 64

typedef struct {
    char peer[96];        /* gRPC's peer string: "ipv4:127.0.0.1:5000" */
    int64_t second;       /* mono_us / 10^6 of the window being counted */
    int64_t count;
} guard_slot;

static guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static mx_metric *m_resets, *m_closed;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    m_resets = rpc__metric("gavel_rpc_reset_calls_total", NULL);
    m_closed = rpc__metric("gavel_rpc_connections_closed_total", "reason=\"reset_flood\"");
}

/* The slot counting peer: its own, else the one idle longest. Under guard_mu. */
static guard_slot *slot_for(const char *peer, int64_t now_s)
{
    guard_slot *oldest = &slots[0];
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (strcmp(slots[i].peer, peer) == 0)
            return &slots[i];
        if (slots[i].second < oldest->second)
            oldest = &slots[i];
    }
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->peer, sizeof oldest->peer, "%s", peer);
    oldest->second = now_s;
    return oldest;
}

/* Parses gRPC's peer string into an address; false when it is no TCP peer. */
static bool parse_peer(const char *peer, struct sockaddr_storage *out)
{
    char host[64];
    const char *p, *port;
    int family;
    if (strncmp(peer, "ipv4:", 5) == 0) {
        p = peer + 5;
        port = strrchr(p, ':');
        family = AF_INET;
    } else if (strncmp(peer, "ipv6:[", 6) == 0) {
        p = peer + 6;
        port = strstr(p, "]:");
        family = AF_INET6;
    } else {
        return false;
    }
    if (port == NULL || (size_t)(port - p) >= sizeof host)
        return false;
    memcpy(host, p, (size_t)(port - p));
    host[port - p] = '\0';
    port += family == AF_INET ? 1 : 2;
    int portno = (int)strtol(port, NULL, 10);
    memset(out, 0, sizeof *out);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)portno);
        return inet_pton(AF_INET, host, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)portno);
    return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1;
}

/* The port and the IPv4 address (mapped ones included) or IPv6 address of
 * sa, so a dual-stack socket's ::ffff:a.b.c.d matches a.b.c.d. */
static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    uint8_t ka[18], kb[18];
    const struct sockaddr_storage *in[2] = { a, b };
    uint8_t *key[2] = { ka, kb };
    for (int i = 0; i < 2; i++) {
        memset(key[i], 0, 18);
        if (in[i]->ss_family == AF_INET) {
            const struct sockaddr_in *s4 = (const void *)in[i];
            key[i][10] = key[i][11] = 0xff;
            memcpy(key[i] + 12, &s4->sin_addr, 4);
            memcpy(key[i] + 16, &s4->sin_port, 2);
        } else if (in[i]->ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const void *)in[i];
            memcpy(key[i], &s6->sin6_addr, 16);
            memcpy(key[i] + 16, &s6->sin6_port, 2);
        } else {
            return false;
        }
    }
    return memcmp(ka, kb, 18) == 0;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* Shuts down our end of the connection from peer to our port; returns how
 * many sockets matched (0 when it is gone already). */
static int shut_connection(int port, const char *peer)
{
    struct sockaddr_storage want;
    if (!parse_peer(peer, &want))
        return 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd <= 2 || fd == dirfd(d))
            continue;
        struct sockaddr_storage got;
        socklen_t len = sizeof got;
        if (getpeername((int)fd, (struct sockaddr *)&got, &len) != 0 ||
            !same_endpoint(&got, &want) || local_port((int)fd) != port)
            continue;
        if (shutdown((int)fd, SHUT_RDWR) == 0)
            n++;
    }
    closedir(d);
    return n;
}

void rpc__guard_note_reset(rpc_call *c)
{
    pthread_once(&metrics_once, metrics_init);
    mx_add(m_resets, 1);
    if (rpc__cfg.reset_limit <= 0 || c->call == NULL)
        return;
    char *peer = grpc_call_get_peer(c->call);
    int64_t now_s = mono_us() / 1000000;
    pthread_mutex_lock(&guard_mu);
    guard_slot *g = slot_for(peer, now_s);
    if (g->second != now_s) {
        g->second = now_s;
        g->count = 0;
    }
    bool cut = ++g->count == rpc__cfg.reset_limit; /* once a second at most */
    pthread_mutex_unlock(&guard_mu);
    if (cut) {
        int n = shut_connection(c->srv->port, peer);
        mx_add(m_closed, 1);
        log_warn("closing the connection from %s: %lld calls reset or sent without their "
                 "request within a second (GAVEL_RPC_RESET_LIMIT; HTTP/2 rapid reset)%s",
                 peer, (long long)rpc__cfg.reset_limit, n > 0 ? "" : "; it was gone already");
    }
    gpr_free(peer);
}
