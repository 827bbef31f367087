/*
 * The double-entry ledger. Every money movement the service records is one
 * ledger_txns row (its `ref` unique: "settle:<lot>", "payout:<lot>",
 * "deposit:<payment>", "refund:<refund>", so a step repeated after a crash
 * finds its txn and writes nothing) with balanced entries, written in the
 * caller's transaction; a deferred constraint trigger refuses at COMMIT any
 * txn whose entries do not sum to zero per currency, and others refuse
 * any UPDATE or DELETE. The invariant check (a thread, every
 * GAVEL_PAYMENTS_LEDGER_CHECK_MS) sums the whole ledger per currency and
 * per txn and exposes what it finds as gauges, so a bug that slipped past
 * the trigger (or a hand edit with triggers off) is seen.
 */
#include <stdio.h>

#include "payments.h"

int ledger_write(db_conn *conn, const char *kind, const char *ref, int64_t lot_id,
                 int64_t payment_id, const char *currency, const ledger_leg *legs, size_t n)
{
    char lot[24], pid[24], now[24];
    const char *p[] = { kind, ref, db_i64(lot, lot_id), db_i64(pid, payment_id),
                        db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "ledger_txn_insert", 5, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 1;
    }
    char txn[24];
    snprintf(txn, sizeof txn, "%s", db_get_str(r, 0, 0));
    PQclear(r);
    for (size_t i = 0; i < n; i++) {
        if (legs[i].amount == 0)
            continue;
        char owner[24], amount[24];
        const char *q[] = { txn, legs[i].account, db_i64(owner, legs[i].owner_id), currency,
                            db_i64(amount, legs[i].amount) };
        if ((r = db_exec(conn, "ledger_entry_insert", 5, q, &rc)) == NULL)
            return rc;
        PQclear(r);
    }
    return 0;
}

int ledger_check(void)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    int rc = 0, result = 0;
    PGresult *r = db_exec(conn, "ledger_check_currencies", 0, NULL, &rc);
    if (r != NULL) {
        int bad = PQntuples(r);
        for (int i = 0; i < bad; i++)
            log_error("ledger invariant broken: %s entries sum to %s, not 0", db_get_str(r, i, 0),
                      db_get_str(r, i, 1));
        mx_set(pay_mx.ledger_imbalance, bad);
        result = bad > 0;
        PQclear(r);
        r = db_exec(conn, "ledger_check_txns", 0, NULL, &rc);
    }
    if (r != NULL) {
        int64_t bad = db_get_i64(r, 0, 0);
        if (bad > 0)
            log_error("ledger invariant broken: %lld txns do not balance", (long long)bad);
        mx_set(pay_mx.ledger_bad_txns, (double)bad);
        result = result || bad > 0;
        PQclear(r);
        mx_add(pay_mx.ledger_checks, 1);
    }
    db_pool_put(pay.db, conn);
    return r == NULL && rc != 0 ? rc : result;
}

static pay_ticker chk = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                          .name = "ledger check", .interval_ms = &pay.check_interval_ms };

static void check_round(void)
{
    ledger_check();
}

int ledger_check_start(void)
{
    chk.run = check_round;
    return ticker_start(&chk);
}

void ledger_check_stop(void)
{
    ticker_stop(&chk);
}
