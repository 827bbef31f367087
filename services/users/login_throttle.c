/*
 * Login throttling, kept in Redis so every users instance sees the same
 * counts. Failed logins (wrong password or unknown email alike, so the
 * throttle never tells which accounts exist) are counted per account and
 * per client address in keys that expire a window after the first failure
 * counted in them. Once a count reaches its limit, logins for that account
 * or from that address are refused until its key expires, before anything
 * is hashed: a refused attempt costs one Redis round trip, never argon2.
 *
 * Keys: gavel:login:acct:<hex SHA-256 of the email lower-cased in ASCII>
 * (no raw email in Redis) and gavel:login:addr:<address>, where an IPv6
 * address counts as its /64 (one host is given a whole /64) and an IPv4
 * address mapped into IPv6 as that IPv4 address. A limit of 0 turns its
 * throttle off; with both off Redis is never asked. When Redis cannot
 * answer the check, the login is refused with UNAVAILABLE, as a token is
 * when the revocation list cannot be read.
 *
 * The check reads the counts and only a failure increments them, so a
 * burst of attempts in flight together may each pass the check: a limit
 * can be overrun by the attempts in flight at once, never by more.
 */
#include <arpa/inet.h>
#include <string.h>
#include <openssl/sha.h>

#include "cache/cache.h"
#include "users.h"

#define KEY_PREFIX "gavel:login:"

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

static const char *const reason_names[LOGIN_REASONS] = {
    [LOGIN_BAD_CREDENTIALS] = "bad_credentials",
    [LOGIN_THROTTLED_ACCOUNT] = "throttled_account",
    [LOGIN_THROTTLED_ADDRESS] = "throttled_address",
};

/* The address a limit counts under (see the top of the file). */
static void address_bucket(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, addr, &a6) != 1) {
        snprintf(out, outlen, "%s", addr);
        return;
    }
    if (IN6_IS_ADDR_V4MAPPED(&a6) &&
        inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text) != NULL) {
        snprintf(out, outlen, "%s", text);
        return;
    }
    memset(&a6.s6_addr[8], 0, 8);
    if (inet_ntop(AF_INET6, &a6, text, sizeof text) == NULL)
        snprintf(out, outlen, "%s", addr);
    else
        snprintf(out, outlen, "%s/64", text);
}

/* The account's key (and the hash it logs) for an email. */
static void account_key(login_attempt *a, const char *email)
{
    char lower[256];
    size_t n = strnlen(email, sizeof lower - 1);
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)lower, n, d);
    hex_encode(d, sizeof d, a->account_hash);
    snprintf(a->keys[LOGIN_ACCOUNT], sizeof a->keys[LOGIN_ACCOUNT], KEY_PREFIX "acct:%s",
             a->account_hash);
}

/* The limits in force, in the order of a->keys; 0 when off. */
static int64_t limit_of(int which)
{
    return which == LOGIN_ACCOUNT ? users.login_account_failures
                                  : users.login_address_failures;
}

/* Runs script on the keys whose limit is on; NULL with *rc when Redis
 * failed or nothing is on (*rc RDS_OK then). */
static redisReply *eval_on(const login_attempt *a, const char *script, int *rc,
                           int which[2], int *n)
{
    *n = 0;
    for (int i = 0; i < 2; i++)
        if (limit_of(i) > 0)
            which[(*n)++] = i;
    char window[24];
    snprintf(window, sizeof window, "%lld", (long long)users.login_window_s);
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

/* Reads the counts of the attempt's keys; refuses when one is at its
 * limit. */
static int check_keys(rpc_call *c, login_attempt *a)
{
    int which[2], n = 0, rc = 0;
    redisReply *r = eval_on(a, check_lua, &rc, which, &n);
    if (r == NULL && rc != RDS_OK)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "cannot check failed logins in Redis; try again");
    int over = -1;
    int64_t wait = 0;
    for (int i = 0; i < n; i++) {
        int64_t count = reply_int(r, 2 * (size_t)i), ttl = reply_int(r, 2 * (size_t)i + 1);
        a->counts[which[i]] = count;
        if (count < limit_of(which[i]))
            continue;
        int64_t left = ttl > 0 ? ttl : users.login_window_s;
        if (left > wait) {
            wait = left;
            over = which[i];
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    if (over < 0)
        return GRPC_STATUS_OK;
    int reason = over == LOGIN_ACCOUNT ? LOGIN_THROTTLED_ACCOUNT : LOGIN_THROTTLED_ADDRESS;
    mx_add(users_mx.login_failures[reason], 1);
    log_info("login refused (%s): account %.16s, client %s, %lld failures, retry in %lld s",
             reason_names[reason], a->account_hash, a->addr, (long long)a->counts[over],
             (long long)wait);
    return rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many failed logins %s; try again in "
                    "%lld s", over == LOGIN_ACCOUNT ? "for this account" : "from this address",
                    (long long)wait);
}

int login_throttle_check(rpc_call *c, const char *email, login_attempt *a)
{
    memset(a, 0, sizeof *a);
    a->addr = rpc_client_addr(c);
    account_key(a, email);
    char bucket[RPC_ADDR_MAX + 4];
    address_bucket(a->addr, bucket, sizeof bucket);
    snprintf(a->keys[LOGIN_ADDRESS], sizeof a->keys[LOGIN_ADDRESS], KEY_PREFIX "addr:%s",
             bucket);
    return check_keys(c, a);
}

int login_throttle_recheck(rpc_call *c, login_attempt *a, const char *stored_email)
{
    char was[sizeof a->account_hash];
    memcpy(was, a->account_hash, sizeof was);
    account_key(a, stored_email);
    if (strcmp(was, a->account_hash) == 0 || users.login_account_failures == 0)
        return GRPC_STATUS_OK;
    return check_keys(c, a);
}

void login_throttle_failed(login_attempt *a)
{
    int which[2], n = 0, rc = 0;
    redisReply *r = eval_on(a, fail_lua, &rc, which, &n);
    for (int i = 0; i < n && r != NULL; i++)
        a->counts[which[i]] = reply_int(r, (size_t)i);
    if (r != NULL)
        freeReplyObject(r);
    else if (rc != RDS_OK)
        log_warn("cannot count a failed login in Redis: the throttle missed it");
    mx_add(users_mx.login_failures[LOGIN_BAD_CREDENTIALS], 1);
    log_info("login failed (bad_credentials): account %.16s, client %s, failures %lld/%lld "
             "account, %lld/%lld address", a->account_hash, a->addr,
             (long long)a->counts[LOGIN_ACCOUNT], (long long)users.login_account_failures,
             (long long)a->counts[LOGIN_ADDRESS], (long long)users.login_address_failures);
}

void login_throttle_succeeded(const login_attempt *a)
{
    if (users.login_account_failures == 0 || a->counts[LOGIN_ACCOUNT] == 0)
        return; /* nothing counted against the account when it was checked */
    int rc = 0;
    redisReply *r = rds_command(&rc, "DEL %s", a->keys[LOGIN_ACCOUNT]);
    if (r != NULL)
        freeReplyObject(r);
    else
        log_warn("cannot clear the failed logins of account %.16s in Redis", a->account_hash);
}
