/*
 * Balance changes. Each kind is one conditional UPDATE of the wallet row
 * (the WHERE clause keeps available ≥ 0 under any concurrency), the hold
 * row it concerns, a ledger transaction whose entries sum to zero, and a
 * WalletChanged event in the outbox — all inside the caller's transaction.
 *
 *   deposit  platform:deposits -a        user:N:available +a
 *   withdraw user:N:available  -a        platform:withdrawals +a
 *   reserve  user:N:available  -a        user:N:held      +a
 *   release  user:N:held       -h        user:N:available +h
 *   capture  user:N:held       -h        user:N:available +(h-a)   platform:captured +a
 *
 * The entries of each kind are written by ledger_entries_text, pure and
 * unit-tested (ledger_test.c); the balance rule is the UPDATE's alone.
 */
#include <string.h>

#include "users.h"

Gavel__Users__V1__Balance *balance_new(rpc_call *c, int64_t user_id, const char *currency,
                                       int64_t total, int64_t reserved)
{
    Gavel__Users__V1__Balance *b = (void *)rpc_new(c, &gavel__users__v1__balance__descriptor);
    b->user_id = user_id;
    b->total = check_money_new(rpc_arena(c), currency, total);
    b->reserved = check_money_new(rpc_arena(c), currency, reserved);
    b->available = check_money_new(rpc_arena(c), currency, total - reserved);
    return b;
}

/* Runs a statement expected to return one row of (total, reserved). */
static int balance_update(db_conn *conn, const char *stmt, int n, const char *const *params,
                          ledger_change *ch, bool *matched)
{
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, n, params, &rc);
    if (r == NULL)
        return rc;
    *matched = PQntuples(r) == 1;
    if (*matched) {
        ch->total = db_get_i64(r, 0, 0);
        ch->reserved = db_get_i64(r, 0, 1);
    }
    PQclear(r);
    return 0;
}

int ledger_entries_text(const char *kind, int64_t user_id, int64_t amount, int64_t held,
                        char *accounts, size_t alen, char *amounts, size_t mlen)
{
    long long u = (long long)user_id, a = (long long)amount, h = (long long)held;
    int na, nm;
    if (strcmp(kind, "deposit") == 0) {
        na = snprintf(accounts, alen, "{platform:deposits,user:%lld:available}", u);
        nm = snprintf(amounts, mlen, "{%lld,%lld}", -a, a);
    } else if (strcmp(kind, "withdraw") == 0) {
        na = snprintf(accounts, alen, "{user:%lld:available,platform:withdrawals}", u);
        nm = snprintf(amounts, mlen, "{%lld,%lld}", -a, a);
    } else if (strcmp(kind, "reserve") == 0) {
        na = snprintf(accounts, alen, "{user:%lld:available,user:%lld:held}", u, u);
        nm = snprintf(amounts, mlen, "{%lld,%lld}", -a, a);
    } else if (strcmp(kind, "release") == 0) {
        na = snprintf(accounts, alen, "{user:%lld:held,user:%lld:available}", u, u);
        nm = snprintf(amounts, mlen, "{%lld,%lld}", -h, h);
    } else if (strcmp(kind, "capture") == 0 && h > a) {
        na = snprintf(accounts, alen, "{user:%lld:held,user:%lld:available,platform:captured}",
                      u, u);
        nm = snprintf(amounts, mlen, "{%lld,%lld,%lld}", -h, h - a, a);
    } else if (strcmp(kind, "capture") == 0) {
        na = snprintf(accounts, alen, "{user:%lld:held,platform:captured}", u);
        nm = snprintf(amounts, mlen, "{%lld,%lld}", -h, a);
    } else {
        return -1;
    }
    return na < 0 || (size_t)na >= alen || nm < 0 || (size_t)nm >= mlen ? -1 : 0;
}

/* Writes the change's ledger transaction; held is the hold's amount for a
 * release or capture. */
static int post_entries(db_conn *conn, ledger_change *ch, int64_t held)
{
    char accounts[128], amounts[96];
    if (ledger_entries_text(ch->kind, ch->user_id, ch->amount, held, accounts, sizeof accounts,
                            amounts, sizeof amounts) < 0)
        panic("no ledger entries for a %s of %lld", ch->kind, (long long)ch->amount);
    char uid[24], hold[24];
    const char *params[] = { ch->kind, db_i64(uid, ch->user_id),
                             ch->hold_id > 0 ? db_i64(hold, ch->hold_id) : NULL,
                             ch->reference != NULL ? ch->reference : "", ch->currency,
                             accounts, amounts };
    int rc = 0;
    PGresult *r = db_exec(conn, "ledger_post", 7, params, &rc);
    if (r == NULL)
        return rc;
    ch->tx_id = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return ch->tx_id > 0 ? 0 : DB_E_SQL;
}

Gavel__Events__V1__WalletChanged *wallet_event_new(rpc_call *c, const ledger_change *ch,
                                                   int64_t amount)
{
    Gavel__Events__V1__WalletChanged *ev =
        (void *)rpc_new(c, &gavel__events__v1__wallet_changed__descriptor);
    ev->user_id = ch->user_id;
    ev->kind = rpc_strdup(c, ch->kind);
    ev->amount = check_money_new(rpc_arena(c), ch->currency, amount);
    ev->hold_id = ch->hold_id;
    ev->lot_id = ch->lot_id;
    ev->total = check_money_new(rpc_arena(c), ch->currency, ch->total);
    ev->reserved = check_money_new(rpc_arena(c), ch->currency, ch->reserved);
    return ev;
}

static int publish(rpc_call *c, db_conn *conn, const ledger_change *ch, int64_t amount)
{
    Gavel__Events__V1__WalletChanged *ev = wallet_event_new(c, ch, amount);
    char type[32], agg[24];
    snprintf(type, sizeof type, "wallet.%s", ch->kind);
    return ev_outbox_add(conn, WALLET_TOPIC, type, db_i64(agg, ch->user_id), &ev->base, NULL);
}

/* 0 when ch's user exists, NOT_FOUND (rpc_fail) when not, or DB_E_*. */
static int user_known(rpc_call *c, db_conn *conn, const ledger_change *ch)
{
    char uid[24];
    const char *p[] = { db_i64(uid, ch->user_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "user_exists", 1, p, &rc);
    if (r == NULL)
        return rc;
    bool exists = PQntuples(r) == 1;
    PQclear(r);
    return exists ? 0
                  : rpc_fail(c, GRPC_STATUS_NOT_FOUND, "user %lld not found",
                             (long long)ch->user_id);
}

/* The available balance of ch's wallet (0 without one). 0 or DB_E_*. */
static int available_of(db_conn *conn, const ledger_change *ch, int64_t *available)
{
    char uid[24];
    const char *p[] = { db_i64(uid, ch->user_id), ch->currency };
    int rc = 0;
    PGresult *r = db_exec(conn, "wallet_get", 2, p, &rc);
    if (r == NULL)
        return rc;
    *available = PQntuples(r) == 1 ? db_get_i64(r, 0, 0) - db_get_i64(r, 0, 1) : 0;
    PQclear(r);
    return 0;
}

static int apply_deposit(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    int rc = user_known(c, conn, ch);
    if (rc != 0)
        return rc;
    char uid[24], amt[24];
    const char *p2[] = { db_i64(uid, ch->user_id), ch->currency, db_i64(amt, ch->amount) };
    bool matched = false;
    rc = balance_update(conn, "wallet_deposit", 3, p2, ch, &matched);
    if (rc == DB_E_CHECK)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "deposit would take the balance over the wallet limit");
    if (rc < 0)
        return rc;
    if ((rc = post_entries(conn, ch, 0)) < 0)
        return rc;
    return publish(c, conn, ch, ch->amount);
}

/* Why a withdrawal matched no wallet row: the user is unknown, or the
 * available balance does not cover it. */
static int refuse_withdraw(rpc_call *c, db_conn *conn, const ledger_change *ch)
{
    int rc = user_known(c, conn, ch);
    if (rc != 0)
        return rc;
    int64_t available = 0;
    if ((rc = available_of(conn, ch, &available)) < 0)
        return rc;
    return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                    "available balance %lld %s is less than %lld %s (held money is never "
                    "withdrawn)", (long long)available, ch->currency, (long long)ch->amount,
                    ch->currency);
}

static int apply_withdraw(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    char uid[24], amt[24];
    const char *p[] = { db_i64(uid, ch->user_id), ch->currency, db_i64(amt, ch->amount) };
    bool matched = false;
    int rc = balance_update(conn, "wallet_withdraw", 3, p, ch, &matched);
    if (rc < 0)
        return rc;
    if (!matched)
        return refuse_withdraw(c, conn, ch);
    if ((rc = post_entries(conn, ch, 0)) < 0)
        return rc;
    return publish(c, conn, ch, ch->amount);
}

static int refuse_reserve(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    int64_t available = 0;
    int rc = available_of(conn, ch, &available);
    if (rc < 0)
        return rc;
    return rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "insufficient funds: available %lld %s, requested %lld", (long long)available,
                    ch->currency, (long long)ch->amount);
}

static int apply_reserve(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    char uid[24], amt[24], lot[24];
    const char *p[] = { db_i64(uid, ch->user_id), ch->currency, db_i64(amt, ch->amount) };
    bool matched = false;
    int rc = balance_update(conn, "wallet_reserve", 3, p, ch, &matched);
    if (rc < 0)
        return rc;
    if (!matched)
        return refuse_reserve(c, conn, ch);
    const char *ph[] = { uid, ch->currency, db_i64(lot, ch->lot_id), amt };
    PGresult *r = db_exec(conn, "hold_insert", 4, ph, &rc);
    if (r == NULL)
        return rc;
    ch->hold_id = db_get_i64(r, 0, 0);
    PQclear(r);
    if ((rc = post_entries(conn, ch, 0)) < 0)
        return rc;
    return publish(c, conn, ch, ch->amount);
}

/* Locks the hold and checks it is still held; fills the change from it. */
static int lock_hold(rpc_call *c, db_conn *conn, ledger_change *ch, int64_t *held,
                     char currency[4])
{
    char hid[24];
    const char *p[] = { db_i64(hid, ch->hold_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "hold_lock", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "hold %lld not found", (long long)ch->hold_id);
    }
    ch->user_id = db_get_i64(r, 0, 0);
    snprintf(currency, 4, "%s", db_get_str(r, 0, 1));
    ch->currency = currency;
    ch->lot_id = db_get_i64(r, 0, 2);
    *held = db_get_i64(r, 0, 3);
    char state[16];
    snprintf(state, sizeof state, "%s", db_get_str(r, 0, 4));
    PQclear(r);
    if (strcmp(state, "held") != 0)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "hold %lld is already %s",
                        (long long)ch->hold_id, state);
    return 0;
}

static int close_hold(db_conn *conn, const ledger_change *ch, const char *state,
                      int64_t captured)
{
    char hid[24], cap[24];
    const char *p[] = { db_i64(hid, ch->hold_id), state, db_i64(cap, captured) };
    int rc = 0;
    PGresult *r = db_exec(conn, "hold_close", 3, p, &rc);
    if (r != NULL)
        PQclear(r);
    return rc;
}

static int apply_release(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    int64_t held = 0;
    char currency[4];
    int rc = lock_hold(c, conn, ch, &held, currency);
    if (rc != 0)
        return rc;
    char uid[24], amt[24];
    const char *p[] = { db_i64(uid, ch->user_id), ch->currency, db_i64(amt, held) };
    bool matched = false;
    if ((rc = balance_update(conn, "wallet_release", 3, p, ch, &matched)) < 0)
        return rc;
    if (!matched)
        panic("wallet of user %lld reserves less than its hold %lld", (long long)ch->user_id,
              (long long)ch->hold_id);
    if ((rc = close_hold(conn, ch, "released", 0)) < 0)
        return rc;
    ch->amount = 0;
    ch->released = held;
    if ((rc = post_entries(conn, ch, held)) < 0)
        return rc;
    return publish(c, conn, ch, held);
}

static int apply_capture(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    int64_t held = 0, want = ch->amount;
    const char *want_currency = ch->currency;
    char currency[4];
    int rc = lock_hold(c, conn, ch, &held, currency);
    if (rc != 0)
        return rc;
    if (strcmp(want_currency, currency) != 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "amount.currency %s differs from hold %lld's currency %s", want_currency,
                        (long long)ch->hold_id, currency);
    if (want > held)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "capture of %lld exceeds hold %lld of %lld", (long long)want,
                        (long long)ch->hold_id, (long long)held);
    char uid[24], h[24], a[24];
    const char *p[] = { db_i64(uid, ch->user_id), ch->currency, db_i64(h, held),
                        db_i64(a, want) };
    bool matched = false;
    if ((rc = balance_update(conn, "wallet_capture", 4, p, ch, &matched)) < 0)
        return rc;
    if (!matched)
        panic("wallet of user %lld cannot cover its hold %lld", (long long)ch->user_id,
              (long long)ch->hold_id);
    if ((rc = close_hold(conn, ch, "captured", want)) < 0)
        return rc;
    ch->released = held - want;
    if ((rc = post_entries(conn, ch, held)) < 0)
        return rc;
    return publish(c, conn, ch, want);
}

int ledger_apply(rpc_call *c, db_conn *conn, ledger_change *ch)
{
    if (strcmp(ch->kind, "deposit") == 0)
        return apply_deposit(c, conn, ch);
    if (strcmp(ch->kind, "withdraw") == 0)
        return apply_withdraw(c, conn, ch);
    if (strcmp(ch->kind, "reserve") == 0)
        return apply_reserve(c, conn, ch);
    if (strcmp(ch->kind, "release") == 0)
        return apply_release(c, conn, ch);
    if (strcmp(ch->kind, "capture") == 0)
        return apply_capture(c, conn, ch);
    panic("unknown ledger change %s", ch->kind);
}
