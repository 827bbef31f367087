/*
 * Token buckets in Redis, taken by one Lua script so that every bucket of a
 * request is read, refilled and charged atomically: either each of them
 * gives a token or none does. Time is Redis's (TIME inside the script), so
 * gateways with skewed clocks still agree. A bucket is a hash {t: tokens
 * left, ts: ms of the last take} that expires once it would be full again,
 * so an idle subject costs no memory.
 *
 * The script is sent by its SHA-1 (EVALSHA); when Redis does not know it
 * (a restart, a flush) it is sent whole once (EVAL), which loads it again.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include "cache/cache.h"
#include "limit/limit.h"

/* KEYS: the buckets; ARGV: per_min and burst of each, in order.
 * Returns {1, 0, 0} when every bucket gave a token, else {0, wait ms,
 * index from 0 of the bucket that needs the longest wait}. */
static const char take_lua[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local left, wait, worst = {}, 0, 0 "
    "for i, k in ipairs(KEYS) do "
    "  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]) "
    "  local v = redis.call('HMGET', k, 't', 'ts') "
    "  local tok, ts = tonumber(v[1]), tonumber(v[2]) "
    "  if tok == nil or ts == nil then tok = burst; ts = now end "
    "  if now > ts then tok = math.min(burst, tok + (now - ts) * rate / 60000) end "
    "  left[i] = tok "
    "  if tok < 1 then "
    "    local w = math.ceil((1 - tok) * 60000 / rate) "
    "    if w > wait then wait = w; worst = i end "
    "  end "
    "end "
    "if worst > 0 then return {0, wait, worst - 1} end "
    "for i, k in ipairs(KEYS) do "
    "  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]) "
    "  redis.call('HSET', k, 't', tostring(left[i] - 1), 'ts', string.format('%d', now)) "
    "  redis.call('PEXPIRE', k, math.ceil(burst * 60000 / rate) + 1000) "
    "end "
    "return {1, 0, 0}";

static char take_sha[2 * SHA_DIGEST_LENGTH + 1];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_init(void)
{
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)take_lua, strlen(take_lua), d);
    hex_encode(d, sizeof d, take_sha);
}

static int64_t element_int(const redisReply *r, size_t i)
{
    return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                   r->element[i]->type == REDIS_REPLY_INTEGER
               ? (int64_t)r->element[i]->integer
               : -1;
}

/* Sends the script (by hash, or whole when Redis lacks it) over argv,
 * whose first two slots this fills. */
static redisReply *run_script(int argc, const char **argv, size_t *argvlen, int *rc)
{
    pthread_once(&sha_once, sha_init);
    argv[0] = "EVALSHA";
    argv[1] = take_sha;
    argvlen[0] = 7;
    argvlen[1] = strlen(take_sha);
    redisReply *r = rds_command_argv(rc, argc, argv, argvlen);
    if (r == NULL || *rc != RDS_E_REPLY || strncmp(r->str, "NOSCRIPT", 8) != 0)
        return r;
    freeReplyObject(r);
    argv[0] = "EVAL";
    argv[1] = take_lua;
    argvlen[0] = 4;
    argvlen[1] = sizeof take_lua - 1;
    return rds_command_argv(rc, argc, argv, argvlen);
}

int lim_take(size_t n, const char *const *keys, const lim_rule *rules, int64_t *retry_ms,
             size_t *which)
{
    *retry_ms = 0;
    *which = 0;
    if (n == 0 || n > LIM_TAKE_MAX)
        return LIM_E_ARG;
    const char *argv[3 + 3 * LIM_TAKE_MAX];
    size_t argvlen[3 + 3 * LIM_TAKE_MAX];
    char nums[2 * LIM_TAKE_MAX][24], nkeys[24];
    size_t on[LIM_TAKE_MAX], non = 0;
    for (size_t i = 0; i < n; i++)
        if (rules[i].per_min > 0)
            on[non++] = i;
    if (non == 0)
        return LIM_OK;
    int argc = 2;
    snprintf(nkeys, sizeof nkeys, "%zu", non);
    argv[argc++] = nkeys;
    for (size_t i = 0; i < non; i++)
        argv[argc++] = keys[on[i]];
    for (size_t i = 0; i < non; i++) {
        snprintf(nums[2 * i], sizeof nums[0], "%lld", (long long)rules[on[i]].per_min);
        snprintf(nums[2 * i + 1], sizeof nums[0], "%lld", (long long)rules[on[i]].burst);
        argv[argc++] = nums[2 * i];
        argv[argc++] = nums[2 * i + 1];
    }
    for (int i = 2; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    int rc = RDS_OK;
    redisReply *r = run_script(argc, argv, argvlen, &rc);
    if (r == NULL)
        return LIM_E_REDIS;
    int out = LIM_E_REDIS;
    int64_t allowed = element_int(r, 0), wait = element_int(r, 1), idx = element_int(r, 2);
    if (rc != RDS_OK)
        log_warn("rate limit script refused by Redis: %s", r->str);
    else if (allowed == 1)
        out = LIM_OK;
    else if (allowed == 0 && wait >= 0 && idx >= 0 && (size_t)idx < non) {
        *retry_ms = wait;
        *which = on[idx];
        out = LIM_REFUSED;
    } else
        log_warn("rate limit script answered in an unknown shape");
    freeReplyObject(r);
    return out;
}
