/*
 * Login throttling for the Login handler, over the shared throttle of
 * libs/limit (limit.h says which keys and why): the same Redis keys the
 * gateway reads to refuse a locked login before it forwards it. This file
 * turns the library's answers into the handler's: a gRPC status with the
 * wait a user can act on, the log lines and the failure series.
 *
 * When Redis cannot answer the check, the login is refused with
 * UNAVAILABLE, as a token is when the revocation list cannot be read.
 */
#include <string.h>

#include "users.h"

static const char *const reason_names[LOGIN_REASONS] = {
    [LOGIN_BAD_CREDENTIALS] = "bad_credentials",
    [LOGIN_THROTTLED_ACCOUNT] = "throttled_account",
    [LOGIN_THROTTLED_ADDRESS] = "throttled_address",
};

static int check_keys(rpc_call *c, login_attempt *a)
{
    int64_t wait = 0;
    int over = -1;
    int rc = lim_login_check(&a->lim, &wait, &over);
    if (rc == LIM_E_REDIS)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "cannot check failed logins in Redis; try again");
    if (rc == LIM_OK)
        return GRPC_STATUS_OK;
    int reason = over == LIM_LOGIN_ACCOUNT ? LOGIN_THROTTLED_ACCOUNT : LOGIN_THROTTLED_ADDRESS;
    mx_add(users_mx.login_failures[reason], 1);
    log_info("login refused (%s): account %.16s, client %s, %lld failures, retry in %lld s",
             reason_names[reason], a->lim.account_hash, a->addr,
             (long long)a->lim.counts[over], (long long)wait);
    return rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many failed logins %s; try again in "
                    "%lld s", over == LIM_LOGIN_ACCOUNT ? "for this account"
                                                        : "from this address",
                    (long long)wait);
}

int login_throttle_check(rpc_call *c, const char *email, login_attempt *a)
{
    a->addr = rpc_client_addr(c);
    lim_login_init(&a->lim, &users.login, email, a->addr);
    return check_keys(c, a);
}

int login_throttle_recheck(rpc_call *c, login_attempt *a, const char *stored_email)
{
    if (!lim_login_rekey(&a->lim, stored_email) || users.login.account_failures == 0)
        return GRPC_STATUS_OK;
    return check_keys(c, a);
}

void login_throttle_failed(login_attempt *a)
{
    if (lim_login_failed(&a->lim) != LIM_OK)
        log_warn("cannot count a failed login in Redis: the throttle missed it");
    mx_add(users_mx.login_failures[LOGIN_BAD_CREDENTIALS], 1);
    log_info("login failed (bad_credentials): account %.16s, client %s, failures %lld/%lld "
             "account, %lld/%lld address", a->lim.account_hash, a->addr,
             (long long)a->lim.counts[LIM_LOGIN_ACCOUNT], (long long)users.login.account_failures,
             (long long)a->lim.counts[LIM_LOGIN_ADDRESS],
             (long long)users.login.address_failures);
}

void login_throttle_succeeded(const login_attempt *a)
{
    if (lim_login_succeeded(&a->lim) != LIM_OK)
        log_warn("cannot clear the failed logins of account %.16s in Redis",
                 a->lim.account_hash);
}
