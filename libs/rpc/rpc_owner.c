/*
 * Which bids instance holds a lot, for the daemons that call it (auctions
 * and the gateway). A lot's owner never changes once recorded, so a lot's
 * answer is cached for the life of the process (direct-mapped, 4096 slots:
 * a collision only costs a Redis read); a name's address is cached for 2 s
 * so a re-registered instance is found again quickly. Lots with no record
 * (scheduled before the registry existed, or while it was empty) follow
 * the legacy rule, lot % N over the configured list (rpc_route.c).
 *
 * Threads: any thread may resolve. One mutex guards both caches and is
 * never held across Redis or gRPC calls; two threads missing at once both
 * ask Redis and store the same answer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "rpc/rpc_int.h"

#define LOT_SLOTS 4096
#define NAME_SLOTS 64
#define NAME_TTL_US 2000000

typedef struct {
    int64_t lot_id; /* 0: empty slot */
    char name[RPC_OWNER_NAME_MAX]; /* "" = legacy rule */
} lot_slot;

typedef struct {
    char name[RPC_OWNER_NAME_MAX]; /* "": empty slot */
    char addr[256];
    int64_t fetched_us; /* mono_us of the Redis read */
} name_slot;

struct rpc_owner {
    rpc_route *legacy;
    rpc_owner_miss_fn miss;
    void *miss_arg;
    pthread_mutex_t mu;
    lot_slot lots[LOT_SLOTS];
    name_slot names[NAME_SLOTS];
};

bool rpc_owner_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n >= RPC_OWNER_NAME_MAX || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return true;
}

const char *rpc_owner_choose(const char *const *sorted, size_t n, int64_t lot_id)
{
    return sorted[rpc_route_index(n, lot_id)];
}

rpc_owner *rpc_owner_new(const char *legacy, rpc_owner_miss_fn miss, void *miss_arg, char *err,
                         size_t errlen)
{
    rpc_route *r = rpc_route_parse(legacy, err, errlen);
    if (r == NULL)
        return NULL;
    rpc_owner *o = xcalloc(1, sizeof *o);
    o->legacy = r;
    o->miss = miss;
    o->miss_arg = miss_arg;
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void rpc_owner_free(rpc_owner *o)
{
    if (o == NULL)
        return;
    rpc_route_free(o->legacy);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

const char *rpc_owner_legacy(const rpc_owner *o, int64_t lot_id)
{
    return rpc_route_pick(o->legacy, lot_id);
}

static lot_slot *lot_slot_of(rpc_owner *o, int64_t lot_id)
{
    return &o->lots[rpc_route_index(LOT_SLOTS, lot_id)];
}

/* The lot's owner name into name ("" = legacy rule): 1 when cached or
 * final, 0 when the answer may still change (nothing cached). */
static int lot_name(rpc_owner *o, int64_t lot_id, char *name, size_t namelen)
{
    pthread_mutex_lock(&o->mu);
    lot_slot *s = lot_slot_of(o, lot_id);
    bool hit = s->lot_id == lot_id;
    if (hit)
        snprintf(name, namelen, "%s", s->name);
    pthread_mutex_unlock(&o->mu);
    if (hit)
        return 1;
    bool is_final = false;
    int rc = rpc__owner_lookup(lot_id, name, namelen);
    if (rc == 1) {
        is_final = true;
    } else {
        /* No record in Redis (or Redis unreachable): ask the durable one. */
        name[0] = '\0';
        if (o->miss == NULL || o->miss(o->miss_arg, lot_id, name, namelen, &is_final) < 0 ||
            (name[0] != '\0' && !rpc_owner_name_ok(name))) {
            name[0] = '\0';
            return 0;
        }
    }
    if (!is_final)
        return 0;
    pthread_mutex_lock(&o->mu);
    s->lot_id = lot_id;
    snprintf(s->name, sizeof s->name, "%s", name);
    pthread_mutex_unlock(&o->mu);
    return 1;
}

static name_slot *name_slot_of(rpc_owner *o, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = name; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &o->names[h % NAME_SLOTS];
}

static int name_addr(rpc_owner *o, const char *name, char *addr, size_t addrlen)
{
    int64_t now = mono_us();
    bool fresh = false, stale = false;
    pthread_mutex_lock(&o->mu);
    name_slot *s = name_slot_of(o, name);
    if (strcmp(s->name, name) == 0) {
        snprintf(addr, addrlen, "%s", s->addr);
        fresh = now - s->fetched_us < NAME_TTL_US;
        stale = !fresh;
    }
    pthread_mutex_unlock(&o->mu);
    if (fresh)
        return 0;
    char got[256];
    int rc = rpc__owner_address(name, got, sizeof got);
    if (rc < 0)
        return stale ? 0 : rc; /* Redis down: the last known address serves */
    if (rc == 0)
        return RPC_OWNER_E_UNKNOWN;
    snprintf(addr, addrlen, "%s", got);
    pthread_mutex_lock(&o->mu);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->addr, sizeof s->addr, "%s", got);
    s->fetched_us = now;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

int rpc_owner_addr(rpc_owner *o, int64_t lot_id, const char *name, char *addr, size_t addrlen)
{
    char found[RPC_OWNER_NAME_MAX] = "";
    if (name == NULL) {
        lot_name(o, lot_id, found, sizeof found);
        name = found;
    }
    if (name[0] == '\0') {
        snprintf(addr, addrlen, "%s", rpc_owner_legacy(o, lot_id));
        return 0;
    }
    return name_addr(o, name, addr, addrlen);
}
