/*
 * limit: rate limits and the failed-login throttle, kept in Redis so that
 * every instance of a daemon (several gateways, several users services)
 * counts against the same numbers.
 *
 * Token buckets: a bucket is a Redis hash named by class, scope and
 * subject (gavel:rate:<class>:<scope>:<subject>), refilled continuously at
 * per_min tokens a minute up to burst. One Lua script takes a token from
 * every bucket of a request at once, all or none, on Redis's clock, so a
 * request costs one round trip however many buckets it counts against.
 *
 * Failed logins: counted per account (gavel:login:acct:<hex SHA-256 of the
 * email lower-cased in ASCII>) and per client address
 * (gavel:login:addr:<address>, an IPv6 address as its /64, an IPv4 address
 * mapped into IPv6 as that IPv4 address), in keys that expire a window
 * after the first failure counted in them. The users service writes them;
 * the gateway reads the same keys to refuse a locked login before it is
 * forwarded.
 *
 * Threads: every call runs on the calling thread's Redis connection
 * (libs/cache); the pure helpers may run anywhere.
 */
#ifndef GAVEL_LIMIT_H
#define GAVEL_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

enum {
    LIM_OK = 0,          /* allowed / not locked */
    LIM_REFUSED = 1,     /* a named non-error: over a limit, wait given */
    LIM_E_REDIS = -40,   /* Redis could not answer (unreachable, refused the script) */
    LIM_E_ARG = -41,     /* a key, subject or rule that cannot be used */
};

/* ---- lim_key.c: names of keys (pure) ---- */

/* Longest key built here, with its terminating NUL. */
#define LIM_KEY_MAX 160

/**
 * The subject an address counts under: an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), an IPv4 address mapped into IPv6 as the IPv4
 * address, anything else (IPv4, "unknown") as it is. Writes out (NUL
 * terminated, cut to outlen).
 */
void lim_addr_subject(const char *addr, char *out, size_t outlen);
/**
 * Writes "gavel:rate:<cls>:<scope>:<subject>" to out. cls and scope are
 * words of [a-z_]; subject any text without spaces or control characters
 * of at most 100 bytes. Returns 0, or LIM_E_ARG (out then empty).
 */
int lim_rate_key(const char *cls, const char *scope, const char *subject, char *out,
                 size_t outlen);
/** The hex SHA-256 of email lower-cased in ASCII (its first 255 bytes)
 *  into hash (65 bytes), as the account key and the logs name it. */
void lim_account_hash(const char *email, char hash[65]);
/** "gavel:login:acct:<hash>" for lim_account_hash's hash. */
void lim_login_account_key(const char *hash, char *out, size_t outlen);
/** "gavel:login:addr:<lim_addr_subject of addr>". */
void lim_login_address_key(const char *addr, char *out, size_t outlen);

/* ---- lim_rule.c: rules and their settings (pure) ---- */

/* One bucket's rule: per_min tokens a minute, at most burst at once.
 * per_min == 0 turns the bucket off. */
typedef struct {
    int64_t per_min;
    int64_t burst;
} lim_rule;

/* Bounds of the settings of a rule. */
#define LIM_PER_MIN_MAX 1000000
#define LIM_BURST_MAX 1000000

/**
 * Checks a rule read from the settings named name_per_min and name_burst:
 * a bucket that is on needs a burst of at least 1. Returns 0, or
 * LIM_E_ARG with a message naming both variables and their values in err.
 */
int lim_rule_check(const lim_rule *r, const char *name_per_min, const char *name_burst,
                   char *err, size_t errlen);
/** Retry-After seconds of a wait in milliseconds: rounded up, at least 1. */
int64_t lim_retry_after_s(int64_t wait_ms);

/* ---- lim_bucket.c: token buckets (Redis) ---- */

/* Most buckets one take may count against. */
#define LIM_TAKE_MAX 4

/**
 * Takes one token from each of the n buckets keys[i] (rules[i]; a rule that
 * is off is skipped), all or none, in one script call (EVALSHA, EVAL when
 * Redis does not know the script yet). Returns LIM_OK, LIM_REFUSED with
 * *retry_ms the wait until every bucket has a token again and *which the
 * index of the bucket that needs it longest, LIM_E_REDIS when Redis could
 * not answer, LIM_E_ARG when n is 0 or above LIM_TAKE_MAX. Blocking: one
 * round trip (two the first time on a connection whose Redis lost its
 * scripts). keys and rules are borrowed for the call.
 */
int lim_take(size_t n, const char *const *keys, const lim_rule *rules, int64_t *retry_ms,
             size_t *which);

/* ---- lim_login.c: the failed-login throttle (Redis) ---- */

/* The throttle's settings; a limit of 0 turns its count off. */
typedef struct {
    int64_t account_failures;
    int64_t address_failures;
    int64_t window_s;
} lim_login_rules;

/* The rows of a settings table that fill a lim_login_rules r, the same in
 * every daemon that reads the throttle (users, gateway): place inside the
 * table's initializer. */
#define LIM_LOGIN_CONFIG(r)                                                                 \
    { "GAVEL_LOGIN_ACCOUNT_FAILURES", "10", CFG_INT, &(r).account_failures, 0, 1000000,    \
      "failed logins of one account within the window before its logins are refused; "     \
      "0: off" },                                                                           \
    { "GAVEL_LOGIN_ADDRESS_FAILURES", "50", CFG_INT, &(r).address_failures, 0, 1000000,    \
      "failed logins from one client address within the window before its logins are "     \
      "refused; 0: off" },                                                                  \
    { "GAVEL_LOGIN_WINDOW_S", "900", CFG_INT, &(r).window_s, 1, 86400,                     \
      "seconds a failed login counts, from the first failure counted" }

enum { LIM_LOGIN_ACCOUNT, LIM_LOGIN_ADDRESS };

/* One login attempt as the throttle sees it; lives on the caller's stack. */
typedef struct {
    const lim_login_rules *rules;   /* borrowed for the attempt */
    char account_hash[65];          /* lim_account_hash of the email */
    char keys[2][LIM_KEY_MAX];      /* [LIM_LOGIN_ACCOUNT], [LIM_LOGIN_ADDRESS] */
    int64_t counts[2];              /* failures counted there, as last read or written */
} lim_login;

/** Starts an attempt for email from client address addr (pure). */
void lim_login_init(lim_login *a, const lim_login_rules *rules, const char *email,
                    const char *addr);
/** Moves the account count to another spelling of the email (the one the
 *  database stores); true when that is another key (check again). */
bool lim_login_rekey(lim_login *a, const char *email);
/**
 * Reads both counts (one round trip; none when both limits are off).
 * Returns LIM_OK, LIM_REFUSED with *wait_s the seconds until the key that
 * is over its limit expires and *over LIM_LOGIN_ACCOUNT or
 * LIM_LOGIN_ADDRESS, or LIM_E_REDIS.
 */
int lim_login_check(lim_login *a, int64_t *wait_s, int *over);
/** Counts one failure in both keys (their window starts with their first
 *  failure) and fills a->counts. Returns LIM_OK or LIM_E_REDIS. */
int lim_login_failed(lim_login *a);
/** After a successful login: clears the account's count (the address
 *  keeps its own). Returns LIM_OK or LIM_E_REDIS. */
int lim_login_succeeded(const lim_login *a);

#endif
