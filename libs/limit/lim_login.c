/*
 * The failed-login throttle. Failed logins (wrong password or unknown
 * email alike, so the throttle never tells which accounts exist) are
 * counted per account and per client address; once a count reaches its
 * limit, logins for that account or from that address are refused until
 * its key expires, before anything is hashed: a refused attempt costs one
 * Redis round trip, never argon2.
 *
 * The check reads the counts and only a failure increments them, so a
 * burst of attempts in flight together may each pass the check: a limit
 * can be overrun by the attempts in flight at once, never by more.
 */
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "limit/limit.h"

/* The counts and time-to-live of each key named (KEYS), in order. */
static const char check_lua[] =
    "local r = {} "
    "for i, k in ipairs(KEYS) do "
    "r[2 * i - 1] = tonumber(redis.call('GET', k)) or 0 "
    "r[2 * i] = redis.call('TTL', k) "
    "end "
    "return r";

/* One more failure in each key; a key's window (ARGV[1] seconds) starts
 * with its first failure. */
static const char fail_lua[] =
    "local r = {} "
    "for i, k in ipairs(KEYS) do "
    "r[i] = redis.call('INCR', k) "
    "if redis.call('TTL', k) < 0 then redis.call('EXPIRE', k, ARGV[1]) end "
    "end "
    "return r";

void lim_login_init(lim_login *a, const lim_login_rules *rules, const char *email,
                    const char *addr)
{
    memset(a, 0, sizeof *a);
    a->rules = rules;
    lim_account_hash(email, a->account_hash);
    lim_login_account_key(a->account_hash, a->keys[LIM_LOGIN_ACCOUNT],
                          sizeof a->keys[LIM_LOGIN_ACCOUNT]);
    lim_login_address_key(addr, a->keys[LIM_LOGIN_ADDRESS], sizeof a->keys[LIM_LOGIN_ADDRESS]);
}

bool lim_login_rekey(lim_login *a, const char *email)
{
    char was[sizeof a->account_hash];
    memcpy(was, a->account_hash, sizeof was);
    lim_account_hash(email, a->account_hash);
    lim_login_account_key(a->account_hash, a->keys[LIM_LOGIN_ACCOUNT],
                          sizeof a->keys[LIM_LOGIN_ACCOUNT]);
    return strcmp(was, a->account_hash) != 0;
}

static int64_t limit_of(const lim_login *a, int which)
{
    return which == LIM_LOGIN_ACCOUNT ? a->rules->account_failures
                                      : a->rules->address_failures;
}

/* Runs script on the keys whose limit is on; NULL with *rc when Redis
 * failed or nothing is on (*rc RDS_OK then). */
static redisReply *eval_on(const lim_login *a, const char *script, int *rc, int which[2],
                           int *n)
{
    *n = 0;
    for (int i = 0; i < 2; i++)
        if (limit_of(a, i) > 0)
            which[(*n)++] = i;
    char window[24];
    snprintf(window, sizeof window, "%lld", (long long)a->rules->window_s);
    *rc = RDS_OK;
    if (*n == 0)
        return NULL;
    if (*n == 1)
        return rds_command(rc, "EVAL %s 1 %s %s", script, a->keys[which[0]], window);
    return rds_command(rc, "EVAL %s 2 %s %s %s", script, a->keys[which[0]], a->keys[which[1]],
                       window);
}

static int64_t reply_int(const redisReply *r, size_t i)
{
    return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                   r->element[i]->type == REDIS_REPLY_INTEGER
               ? (int64_t)r->element[i]->integer
               : 0;
}

int lim_login_check(lim_login *a, int64_t *wait_s, int *over)
{
    int which[2], n = 0, rc = 0;
    *wait_s = 0;
    *over = -1;
    redisReply *r = eval_on(a, check_lua, &rc, which, &n);
    if (r == NULL && rc != RDS_OK)
        return LIM_E_REDIS;
    for (int i = 0; i < n; i++) {
        int64_t count = reply_int(r, 2 * (size_t)i), ttl = reply_int(r, 2 * (size_t)i + 1);
        a->counts[which[i]] = count;
        if (count < limit_of(a, which[i]))
            continue;
        int64_t left = ttl > 0 ? ttl : a->rules->window_s;
        if (left > *wait_s) {
            *wait_s = left;
            *over = which[i];
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    return *over < 0 ? LIM_OK : LIM_REFUSED;
}

int lim_login_failed(lim_login *a)
{
    int which[2], n = 0, rc = 0;
    redisReply *r = eval_on(a, fail_lua, &rc, which, &n);
    for (int i = 0; i < n && r != NULL; i++)
        a->counts[which[i]] = reply_int(r, (size_t)i);
    if (r != NULL)
        freeReplyObject(r);
    return rc != RDS_OK ? LIM_E_REDIS : LIM_OK;
}

int lim_login_succeeded(const lim_login *a)
{
    if (a->rules->account_failures == 0 || a->counts[LIM_LOGIN_ACCOUNT] == 0)
        return LIM_OK; /* nothing counted against the account when it was checked */
    int rc = 0;
    redisReply *r = rds_command(&rc, "DEL %s", a->keys[LIM_LOGIN_ACCOUNT]);
    if (r != NULL)
        freeReplyObject(r);
    return rc != RDS_OK ? LIM_E_REDIS : LIM_OK;
}
