/*
 * Rate limits at the edge over libs/limit: each /api/v1 request takes one
 * token of its route's class from the bucket of its client address and,
 * when authenticated, of its user, both in one script call on the
 * worker's own Redis connection. Logins are checked against the users
 * service's failed-login counts (the same keys) before they are forwarded.
 *
 * Availability over limiting: when Redis cannot answer, the request goes
 * through and is counted, and Redis is not asked again for
 * GAVEL_GATEWAY_RATE_REDIS_RETRY_MS, so an outage costs one failed round
 * trip per back-off period, not one per request. The users service still
 * enforces the login throttle on its own.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "limit/limit.h"
#include "limits.h"
#include "rpc/rpc.h"

enum { SCOPE_ADDR, SCOPE_USER, SCOPES };

static struct {
    const char *mode;                            /* "on" or "off" */
    bool is_on;
    int64_t redis_retry_ms;
    lim_rule rules[GW_RATE_CLASSES][SCOPES];
    lim_login_rules login;
    _Atomic int64_t redis_down_until_us;         /* monotonic; 0 when up */
    mx_metric *limited[GW_RATE_CLASSES][SCOPES];
    mx_metric *login_locked[2];                  /* [LIM_LOGIN_ACCOUNT], [..._ADDRESS] */
    mx_metric *redis_errors;
} lm;

static const char *const class_names[GW_RATE_CLASSES] = {
    [GW_RATE_READ] = "read", [GW_RATE_WRITE] = "write", [GW_RATE_AUTH] = "auth",
    [GW_RATE_WS_MSG] = "ws_msg",
};
/* The words of the settings' names, GAVEL_GATEWAY_RATE_<CLASS>_<SCOPE>_… */
static const char *const class_env[GW_RATE_CLASSES] = {
    [GW_RATE_READ] = "READ", [GW_RATE_WRITE] = "WRITE", [GW_RATE_AUTH] = "AUTH",
    [GW_RATE_WS_MSG] = "WS_MSG",
};
static const char *const scope_env[SCOPES] = { [SCOPE_ADDR] = "ADDR", [SCOPE_USER] = "USER" };

#define RULE(CLS, SCOPE, cls, scope, pm, b, what)                                           \
    { "GAVEL_GATEWAY_RATE_" #CLS "_" #SCOPE "_PER_MIN", #pm, CFG_INT,                       \
      &lm.rules[cls][scope].per_min, 0, LIM_PER_MIN_MAX,                                     \
      what " per minute (the bucket's refill); 0: no limit" },                               \
    { "GAVEL_GATEWAY_RATE_" #CLS "_" #SCOPE "_BURST", #b, CFG_INT,                          \
      &lm.rules[cls][scope].burst, 0, LIM_BURST_MAX,                                         \
      what " at once when the bucket is full" }

/* Defaults for a live auction floor: many dealers may share one address
 * (a house's network), and a dealer bidding near a lot's close sends a
 * few writes a second for a minute, so reads and writes are generous;
 * auth is strict, it is what password guessing goes through. */
const cfg_entry gw_limits_config[] = {
    { "GAVEL_GATEWAY_RATE_LIMITS", "on", CFG_STR, &lm.mode, 0, 0,
      "on: requests take tokens from the rate buckets in Redis; off: no rate limits" },
    { "GAVEL_GATEWAY_RATE_REDIS_RETRY_MS", "1000", CFG_INT, &lm.redis_retry_ms, 10, 600000,
      "after Redis failed to answer a limit check, requests pass unchecked this long before "
      "Redis is asked again" },
    RULE(READ, ADDR, GW_RATE_READ, SCOPE_ADDR, 3000, 600, "reads from one client address"),
    RULE(READ, USER, GW_RATE_READ, SCOPE_USER, 1200, 300, "reads by one user"),
    RULE(WRITE, ADDR, GW_RATE_WRITE, SCOPE_ADDR, 1200, 300, "writes from one client address"),
    RULE(WRITE, USER, GW_RATE_WRITE, SCOPE_USER, 240, 60, "writes (bids) by one user"),
    RULE(AUTH, ADDR, GW_RATE_AUTH, SCOPE_ADDR, 20, 10,
         "logins, registrations and refreshes from one client address"),
    RULE(AUTH, USER, GW_RATE_AUTH, SCOPE_USER, 20, 10,
         "logins, registrations and refreshes by one user"),
    RULE(WS_MSG, ADDR, GW_RATE_WS_MSG, SCOPE_ADDR, 1200, 200,
         "WebSocket messages from one client address"),
    RULE(WS_MSG, USER, GW_RATE_WS_MSG, SCOPE_USER, 600, 100,
         "WebSocket messages by one user"),
    LIM_LOGIN_CONFIG(lm.login),
    { 0 },
};

#define LIMITED_HELP "Requests refused 429 at the edge, by class of traffic and the bucket " \
    "that refused them (addr, user; login_account and login_address: a locked login)."
#define LIMITED(cls, scope, c, s)                                                            \
    { "gavel_gateway_rate_limited_total", mx_counter, LIMITED_HELP,                         \
      "class=\"" cls "\",scope=\"" scope "\"", &lm.limited[c][s] }

const mx_entry gw_limits_metrics[] = {
    LIMITED("read", "addr", GW_RATE_READ, SCOPE_ADDR),
    LIMITED("read", "user", GW_RATE_READ, SCOPE_USER),
    LIMITED("write", "addr", GW_RATE_WRITE, SCOPE_ADDR),
    LIMITED("write", "user", GW_RATE_WRITE, SCOPE_USER),
    LIMITED("auth", "addr", GW_RATE_AUTH, SCOPE_ADDR),
    LIMITED("auth", "user", GW_RATE_AUTH, SCOPE_USER),
    LIMITED("ws_msg", "addr", GW_RATE_WS_MSG, SCOPE_ADDR),
    LIMITED("ws_msg", "user", GW_RATE_WS_MSG, SCOPE_USER),
    { "gavel_gateway_rate_limited_total", mx_counter, LIMITED_HELP,
      "class=\"auth\",scope=\"login_account\"", &lm.login_locked[LIM_LOGIN_ACCOUNT] },
    { "gavel_gateway_rate_limited_total", mx_counter, LIMITED_HELP,
      "class=\"auth\",scope=\"login_address\"", &lm.login_locked[LIM_LOGIN_ADDRESS] },
    { "gavel_gateway_rate_redis_errors_total", mx_counter,
      "Rate-limit and login checks that passed unchecked because Redis could not answer "
      "(or had failed within GAVEL_GATEWAY_RATE_REDIS_RETRY_MS).", NULL, &lm.redis_errors },
    { 0 },
};

int gw_limits_check(char *err, size_t errlen)
{
    if (strcmp(lm.mode, "on") != 0 && strcmp(lm.mode, "off") != 0) {
        snprintf(err, errlen, "GAVEL_GATEWAY_RATE_LIMITS=%.32s is neither on nor off", lm.mode);
        return -1;
    }
    lm.is_on = strcmp(lm.mode, "on") == 0;
    for (int c = 0; c < GW_RATE_CLASSES; c++) {
        for (int s = 0; s < SCOPES; s++) {
            char per_min[80], burst[80];
            snprintf(per_min, sizeof per_min, "GAVEL_GATEWAY_RATE_%s_%s_PER_MIN", class_env[c],
                     scope_env[s]);
            snprintf(burst, sizeof burst, "GAVEL_GATEWAY_RATE_%s_%s_BURST", class_env[c],
                     scope_env[s]);
            if (lim_rule_check(&lm.rules[c][s], per_min, burst, err, errlen) < 0)
                return -1;
        }
    }
    atomic_store(&lm.redis_down_until_us, 0);
    return 0;
}

/* True while Redis is backed off after a failure (the request is counted
 * as passing unchecked). */
static bool is_redis_backed_off(void)
{
    int64_t until = atomic_load(&lm.redis_down_until_us);
    if (until == 0 || mono_us() >= until)
        return false;
    mx_add(lm.redis_errors, 1);
    return true;
}

static void redis_failed(void)
{
    mx_add(lm.redis_errors, 1);
    int64_t until = mono_us() + lm.redis_retry_ms * 1000;
    if (atomic_exchange(&lm.redis_down_until_us, until) == 0)
        log_warn("rate limits: Redis cannot answer; requests pass unchecked, retrying in "
                 "%lld ms", (long long)lm.redis_retry_ms);
}

static void redis_answered(void)
{
    if (atomic_load(&lm.redis_down_until_us) != 0 &&
        atomic_exchange(&lm.redis_down_until_us, 0) != 0)
        log_info("rate limits: Redis answers again");
}

int gw_limit_take(gw_rate_class cls, const char *client_addr, int64_t user_id,
                  int64_t *retry_ms, char *why, size_t whylen)
{
    *retry_ms = 0;
    if (!lm.is_on || cls >= GW_RATE_CLASSES || is_redis_backed_off())
        return lm.is_on && cls < GW_RATE_CLASSES ? -1 : 0;
    char subject[RPC_ADDR_MAX + 8], uid[24];
    char keys[SCOPES][LIM_KEY_MAX];
    const char *kp[SCOPES] = { keys[SCOPE_ADDR], keys[SCOPE_USER] };
    lim_addr_subject(client_addr, subject, sizeof subject);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    size_t n = user_id > 0 ? 2 : 1;
    if (lim_rate_key(class_names[cls], "addr", subject, keys[SCOPE_ADDR], LIM_KEY_MAX) < 0 ||
        (n == 2 && lim_rate_key(class_names[cls], "user", uid, keys[SCOPE_USER],
                                LIM_KEY_MAX) < 0)) {
        log_warn("rate limits: client address \"%.64s\" cannot name a bucket", client_addr);
        return 0;
    }
    size_t which = 0;
    int rc = lim_take(n, kp, lm.rules[cls], retry_ms, &which);
    if (rc == LIM_E_REDIS || rc == LIM_E_ARG) {
        redis_failed();
        return -1;
    }
    redis_answered();
    if (rc == LIM_OK)
        return 0;
    mx_add(lm.limited[cls][which], 1);
    snprintf(why, whylen, "too many %s requests %s", class_names[cls],
             which == SCOPE_ADDR ? "from this address" : "by this user");
    return 1;
}

int gw_login_precheck(const char *email, const char *client_addr, int64_t *retry_ms,
                      char *why, size_t whylen)
{
    *retry_ms = 0;
    if (lm.login.account_failures == 0 && lm.login.address_failures == 0)
        return 0;
    if (is_redis_backed_off())
        return -1;
    lim_login a;
    lim_login_init(&a, &lm.login, email, client_addr);
    int64_t wait_s = 0;
    int over = -1;
    int rc = lim_login_check(&a, &wait_s, &over);
    if (rc == LIM_E_REDIS) {
        redis_failed();
        return -1;
    }
    redis_answered();
    if (rc == LIM_OK)
        return 0;
    mx_add(lm.login_locked[over], 1);
    *retry_ms = wait_s * 1000;
    snprintf(why, whylen, "too many failed logins %s",
             over == LIM_LOGIN_ACCOUNT ? "for this account" : "from this address");
    return 1;
}
