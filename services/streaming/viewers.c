/*
 * Viewer counts: every gateway instance writes, once a second, its count
 * of distinct players that fetched a stream's playlist in the last 10 s
 * as HSET gavel:stream:<name>:viewers <instance> "<count> <unix_ms>"
 * (EXPIRE 30). A stream's viewers are the sum of the fields younger than
 * 10 s, so a gateway that stopped drops out within 10 s.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cache/cache.h"
#include "streaming.h"

#define FRESH_MS 10000

int32_t strm_viewers_of(const char *name)
{
    int rc = 0;
    redisReply *r = rds_command(&rc, "HVALS gavel:stream:%s:viewers", name);
    if (r == NULL)
        return 0;
    int64_t now_ms = now_us() / 1000, sum = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            long long count = 0, at = 0;
            if (e->type != REDIS_REPLY_STRING || sscanf(e->str, "%lld %lld", &count, &at) != 2)
                continue;
            if (count > 0 && now_ms - at < FRESH_MS && at - now_ms < FRESH_MS)
                sum += count;
        }
    }
    freeReplyObject(r);
    return sum > INT32_MAX ? INT32_MAX : (int32_t)sum;
}
