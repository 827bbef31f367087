/*
 * The registry of bids instances in Redis, and the choice of a new lot's
 * instance. Every key the registry uses is named here and nowhere else:
 *
 *   gavel:bids:instances   HASH name -> gRPC address (kept for every name
 *                          that ever registered: lots keep their owner)
 *   gavel:bids:accepting   SET of names that take new lots
 *   gavel:bids:alive       ZSET name -> time of its last registration (ms)
 *   gavel:lot:<id>:bids    the owner's name of lot <id>
 *
 * A bids daemon registers at start and again every few seconds, so a lost
 * or flushed Redis heals by itself; only names registered within
 * RPC_OWNER_ALIVE_MS are picked for new lots. Every function runs on its
 * caller's thread over that thread's Redis connection (libs/cache).
 */
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "rpc/rpc_int.h"

#define KEY_INSTANCES "gavel:bids:instances"
#define KEY_ACCEPTING "gavel:bids:accepting"
#define KEY_ALIVE "gavel:bids:alive"

/* Runs one command whose reply is not needed. */
static int run(redisReply *r, int rc)
{
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int rpc_owner_register(const char *name, const char *addr, bool is_accepting, bool is_start)
{
    if (!rpc_owner_name_ok(name))
        return RDS_E_REPLY;
    int rc = 0;
    int64_t now_ms = now_us() / 1000;
    redisReply *r = rds_command(&rc, "HSET " KEY_INSTANCES " %s %s", name, addr);
    if (r == NULL || rc < 0)
        return run(r, rc);
    bool was_missing = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!is_accepting || is_start || was_missing) {
        r = rds_command(&rc, is_accepting ? "SADD " KEY_ACCEPTING " %s"
                                          : "SREM " KEY_ACCEPTING " %s", name);
        if (run(r, rc) < 0)
            return rc;
    }
    r = rds_command(&rc, "ZADD " KEY_ALIVE " %lld %s", (long long)now_ms, name);
    if (run(r, rc) < 0)
        return rc;
    /* Names gone for an hour leave the alive set (their address stays). */
    r = rds_command(&rc, "ZREMRANGEBYSCORE " KEY_ALIVE " -inf %lld",
                    (long long)(now_ms - 3600 * 1000));
    return run(r, rc);
}

int rpc_owner_unregister(const char *name)
{
    int rc = 0;
    redisReply *r = rds_command(&rc, "ZREM " KEY_ALIVE " %s", name);
    return run(r, rc);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_array(const redisReply *set, const char *s)
{
    for (size_t i = 0; i < set->elements; i++)
        if (set->element[i]->type == REDIS_REPLY_STRING && strcmp(set->element[i]->str, s) == 0)
            return true;
    return false;
}

int rpc_owner_pick(int64_t lot_id, char *name, size_t namelen)
{
    int rc = 0;
    name[0] = '\0';
    long long since = (long long)(now_us() / 1000 - RPC_OWNER_ALIVE_MS);
    redisReply *alive = rds_command(&rc, "ZRANGEBYSCORE " KEY_ALIVE " %lld +inf", since);
    if (alive == NULL || rc < 0)
        return run(alive, rc < 0 ? rc : RDS_E_REPLY);
    redisReply *acc = rds_command(&rc, "SMEMBERS " KEY_ACCEPTING);
    if (acc == NULL || rc < 0) {
        freeReplyObject(alive);
        return run(acc, rc < 0 ? rc : RDS_E_REPLY);
    }
    const char **names = xcalloc(alive->elements + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < alive->elements; i++) {
        const redisReply *e = alive->element[i];
        if (e->type == REDIS_REPLY_STRING && rpc_owner_name_ok(e->str) && in_array(acc, e->str))
            names[n++] = e->str;
    }
    if (n > 0) {
        qsort(names, n, sizeof *names, by_name);
        snprintf(name, namelen, "%s", rpc_owner_choose(names, n, lot_id));
    } else if (alive->elements > 0) {
        rc = RPC_OWNER_E_NONE;
    }
    free(names);
    freeReplyObject(acc);
    freeReplyObject(alive);
    return rc;
}

int rpc_owner_record(int64_t lot_id, const char *name)
{
    int rc = 0;
    redisReply *r = rds_command(&rc, "SET gavel:lot:%lld:bids %s", (long long)lot_id, name);
    return run(r, rc);
}

int rpc__owner_lookup(int64_t lot_id, char *name, size_t namelen)
{
    int rc = 0;
    redisReply *r = rds_command(&rc, "GET gavel:lot:%lld:bids", (long long)lot_id);
    if (r == NULL)
        return rc;
    int found = 0;
    if (rc == 0 && r->type == REDIS_REPLY_STRING && rpc_owner_name_ok(r->str)) {
        snprintf(name, namelen, "%s", r->str);
        found = 1;
    }
    freeReplyObject(r);
    return rc < 0 ? rc : found;
}

int rpc__owner_address(const char *name, char *addr, size_t addrlen)
{
    int rc = 0;
    redisReply *r = rds_command(&rc, "HGET " KEY_INSTANCES " %s", name);
    if (r == NULL)
        return rc;
    int found = 0;
    if (rc == 0 && r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < addrlen) {
        snprintf(addr, addrlen, "%s", r->str);
        found = 1;
    }
    freeReplyObject(r);
    return rc < 0 ? rc : found;
}
