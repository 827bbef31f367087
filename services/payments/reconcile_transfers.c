/*
 * Reconciliation of refunds and payouts with the card provider, part of
 * every reconciliation round (reconcile.c). The refunds recorded done with
 * the provider's refund id, and the settlements recorded done with the
 * provider's payout id, unchanged for GAVEL_PAYMENTS_RECONCILE_AGE_MS and
 * not yet confirmed, are read back (provider_retrieve_refund/_payout) in
 * batches of ROUND_LIMIT, each round going on after the last one's, and
 * compared in amount, currency and status:
 *
 *   provider says                  cause / repair
 *   succeeded, same amount and     they agree: confirmed (confirmed_at_us),
 *     currency                     never read again
 *   pending, same amount and       not settled there yet: read again
 *     currency                     next round, no mismatch
 *   refund failed or canceled,     the card network bounced the refund
 *     same amount and currency     after we withdrew the money from the
 *                                  payer's wallet and recorded it done: the
 *                                  money is given back to the wallet once
 *                                  (Wallet.Deposit, key
 *                                  "refund:<id>:reversed"), then in one
 *                                  transaction the refund 'reversed', the
 *                                  payment's refunded amount lowered again,
 *                                  the ledger txn "refund-reversed:<id>"
 *                                  (buyer +amount, provider clearing
 *                                  -amount). kind="refund_failed"
 *   payout failed, returned or     the seller's bank did not take the
 *     canceled, same amount and    payout: the seller was not paid; in one
 *     currency                     transaction the ledger txn
 *                                  "payout-returned:<lot>" (payouts -net,
 *                                  seller +net) and the settlement
 *                                  'returned' with the reason in
 *                                  last_error, for an operator to pay the
 *                                  seller again. kind="payout_returned"
 *   another amount or currency,    no known cause: kind="unknown", logged
 *     another status, or unknown   as an error every round it is read, not
 *     to the provider              repaired
 *
 * A repair runs under the row locks (the payment, then the refund; the
 * settlement) and only while the row is still 'done', so a second round,
 * another replica or a crash between the wallet call and its record never
 * apply it twice: the wallet deposit's key makes a repeated call harmless,
 * the step and the ledger's unique ref make a repeated record impossible.
 * Each repair's ledger txn balances (the deferred trigger checks it).
 */
#include <stdio.h>
#include <string.h>

#include "payments.h"

#define ROUND_LIMIT 100

/* What the provider's record says of one of ours. */
typedef enum { TR_AGREE, TR_PENDING, TR_NOT_DONE, TR_UNKNOWN } tr_verdict;

/* Statuses meaning the money did not arrive, per kind. */
static const char *const refund_not_done[] = { "failed", "canceled", NULL };
static const char *const payout_not_done[] = { "failed", "returned", "canceled", NULL };

static bool is_one_of(const char *s, const char *const *set)
{
    for (; *set != NULL; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static tr_verdict verdict(prov_status st, const prov_transfer *t, int64_t amount,
                          const char *currency, const char *const *not_done)
{
    if (st != PROV_OK || t->amount != amount || strcmp(t->currency, currency) != 0)
        return TR_UNKNOWN;
    if (strcmp(t->state, "succeeded") == 0)
        return TR_AGREE;
    if (strcmp(t->state, "pending") == 0)
        return TR_PENDING;
    return is_one_of(t->state, not_done) ? TR_NOT_DONE : TR_UNKNOWN;
}

/* Runs a one-row UPDATE (stmt: $1 id, $2 now) on a pool connection. */
static void confirm(const char *stmt, int64_t id)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return; /* read again next round */
    char key[24], now[24];
    const char *p[] = { db_i64(key, id), db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, 2, p, &rc);
    if (r != NULL)
        PQclear(r);
    db_pool_put(pay.db, conn);
}

/* Reads a transfer back; false when the round should skip it (a 429, which
 * also pauses every worker, or no answer: the next round asks again). */
static bool read_back(prov_status (*get)(provider *, const char *, prov_transfer *, prov_error *),
                      const char *reference, prov_transfer *t, prov_status *st)
{
    prov_error pe = { 0 };
    *st = get(pay.prov, reference, t, &pe);
    if (*st == PROV_BACKOFF) {
        pause_provider(pe.retry_after_s);
        mx_add(pay_mx.provider_paused, 1);
        return false;
    }
    return *st == PROV_OK || *st == PROV_NOT_FOUND;
}

static void log_unknown(const char *what, long long id, const char *reference, long long amount,
                        const char *currency, prov_status st, const prov_transfer *t)
{
    if (st == PROV_NOT_FOUND)
        log_error("reconciliation: %s %lld (%s) of %lld %s is done here but the provider does "
                  "not know it; no known cause, not repaired", what, id, reference, amount,
                  currency);
    else
        log_error("reconciliation: %s %lld (%s) is done here for %lld %s, the provider has "
                  "%lld %s %s; no known cause, not repaired", what, id, reference, amount,
                  currency, (long long)t->amount, t->currency, t->state);
}

/* ---- refunds ---- */

/* One refund as reconcile_refunds_due reads it. */
typedef struct {
    int64_t id, payment_id, amount, payer_id;
    const char *currency, *reference; /* borrowed from the batch's result */
    bool applied;
} refund_row;

/* The record of a refund the provider failed: in one transaction, under
 * the payment's lock then the refund's, only while the refund is done. */
static int record_refund_reversed(db_conn *conn, void *arg)
{
    refund_row *x = arg;
    x->applied = false;
    char pid[24], rid[24], amt[24], now[24], ref[48];
    const char *pp[] = { db_i64(pid, x->payment_id) };
    const char *rp[] = { db_i64(rid, x->id), db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "payment_lock", 1, pp, &rc);
    if (r == NULL)
        return rc;
    int64_t lot_id = PQntuples(r) == 1 ? db_get_i64(r, 0, 1) : -1; /* PAY_COLS */
    PQclear(r);
    if (lot_id < 0)
        return DB_E_CHECK; /* payments are never deleted */
    if ((r = db_exec(conn, "refund_lock", 1, rp, &rc)) == NULL)
        return rc;
    bool is_done = PQntuples(r) == 1 && strcmp(db_get_str(r, 0, 0), "done") == 0;
    PQclear(r);
    if (!is_done)
        return 0; /* reversed before (another round or replica) */
    if ((r = db_exec(conn, "refund_reverse", 2, rp, &rc)) == NULL)
        return rc;
    PQclear(r);
    const char *q[] = { pid, db_i64(amt, x->amount), now };
    if ((r = db_exec(conn, "payment_refund_reversed", 3, q, &rc)) == NULL)
        return rc;
    bool lowered = PQntuples(r) == 1;
    PQclear(r);
    if (!lowered)
        return DB_E_CHECK; /* the payment does not count the refund: an operator's */
    ledger_leg legs[] = { { "buyer", x->payer_id, x->amount },
                          { "provider_clearing", 0, -x->amount } };
    snprintf(ref, sizeof ref, "refund-reversed:%lld", (long long)x->id);
    rc = ledger_write(conn, "refund_reversed", ref, lot_id, x->payment_id, x->currency, legs, 2);
    if (rc != 0)
        return rc < 0 ? rc : DB_E_CHECK; /* a reversal without the step: never written */
    x->applied = true;
    return 0;
}

/* The money back into the payer's wallet (its key makes a repeat after a
 * crash or a failed record harmless), then the record. True when repaired
 * by this call. */
static bool refund_reverse(refund_row *x)
{
    char key[64], ref[96], err[256];
    snprintf(key, sizeof key, "refund:%lld:reversed", (long long)x->id);
    snprintf(ref, sizeof ref, "refund %lld of card payment %lld failed at the provider",
             (long long)x->id, (long long)x->payment_id);
    grpc_status_code ws = wallet_deposit(key, x->payer_id, x->currency, x->amount, ref, err,
                                         sizeof err);
    if (ws != GRPC_STATUS_OK) {
        log_warn("reconciliation: refund %lld: the wallet did not take the money back (%d): %s; "
                 "the next round tries again", (long long)x->id, (int)ws, err);
        return false;
    }
    pay_fault_point("reverse");
    int rc = db_tx(pay.db, DB_READ_COMMITTED, record_refund_reversed, x);
    if (rc < 0)
        log_warn("reconciliation: refund %lld: recording its reversal failed: %s; the next "
                 "round tries again", (long long)x->id, db_strerror(rc));
    return rc >= 0 && x->applied;
}

static void refund_one(const PGresult *r, int i)
{
    refund_row x = { .id = db_get_i64(r, i, 0), .payment_id = db_get_i64(r, i, 1),
                     .amount = db_get_i64(r, i, 2), .currency = db_get_str(r, i, 3),
                     .reference = db_get_str(r, i, 4), .payer_id = db_get_i64(r, i, 5) };
    prov_transfer t = { 0 };
    prov_status st = PROV_OK;
    if (!read_back(provider_retrieve_refund, x.reference, &t, &st))
        return;
    switch (verdict(st, &t, x.amount, x.currency, refund_not_done)) {
    case TR_AGREE:
        confirm("refund_confirm", x.id);
        return;
    case TR_PENDING:
        return;
    case TR_NOT_DONE: {
        mx_add(pay_mx.recon_refund_failed, 1);
        bool repaired = refund_reverse(&x);
        log_warn("reconciliation: refund %lld (%s) of card payment %lld: the provider reports "
                 "it %s after we took %lld %s from the wallet of user %lld; %s",
                 (long long)x.id, x.reference, (long long)x.payment_id, t.state,
                 (long long)x.amount, x.currency, (long long)x.payer_id,
                 repaired ? "the money is back in the wallet, the refund reversed"
                          : "not repaired yet");
        if (repaired)
            mx_add(pay_mx.recon_repaired, 1);
        return;
    }
    case TR_UNKNOWN:
        mx_add(pay_mx.recon_unknown, 1);
        log_unknown("refund", (long long)x.id, x.reference, (long long)x.amount, x.currency, st,
                    &t);
        return;
    }
}

/* ---- payouts ---- */

/* One settlement's payout as reconcile_payouts_due reads it. */
typedef struct {
    int64_t lot_id, seller_id, net, payment_id;
    const char *currency, *reference; /* borrowed from the batch's result */
    const char *why;
    bool applied;
} payout_row;

/* The record of a payout the provider failed or returned: in one
 * transaction, under the settlement's lock, only while it is done and
 * still names this payout. */
static int record_payout_returned(db_conn *conn, void *arg)
{
    payout_row *x = arg;
    x->applied = false;
    char lot[24], now[24], ref[48];
    const char *p[] = { db_i64(lot, x->lot_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_lock_payout", 1, p, &rc);
    if (r == NULL)
        return rc;
    bool is_done = PQntuples(r) == 1 && strcmp(db_get_str(r, 0, 0), "done") == 0 &&
                   strcmp(db_get_str(r, 0, 1), x->reference) == 0;
    PQclear(r);
    if (!is_done)
        return 0; /* returned before (another round or replica) */
    ledger_leg legs[] = { { "payouts", 0, -x->net }, { "seller", x->seller_id, x->net } };
    snprintf(ref, sizeof ref, "payout-returned:%lld", (long long)x->lot_id);
    rc = ledger_write(conn, "payout_returned", ref, x->lot_id, x->payment_id, x->currency, legs,
                      2);
    if (rc != 0)
        return rc < 0 ? rc : DB_E_CHECK; /* a reversal without the step: never written */
    const char *q[] = { lot, x->why, db_i64(now, now_us()) };
    if ((r = db_exec(conn, "settlement_payout_returned", 3, q, &rc)) == NULL)
        return rc;
    PQclear(r);
    x->applied = true;
    return 0;
}

static void payout_one(const PGresult *r, int i)
{
    payout_row x = { .lot_id = db_get_i64(r, i, 0), .seller_id = db_get_i64(r, i, 1),
                     .currency = db_get_str(r, i, 2), .net = db_get_i64(r, i, 3),
                     .reference = db_get_str(r, i, 4), .payment_id = db_get_i64(r, i, 5) };
    prov_transfer t = { 0 };
    prov_status st = PROV_OK;
    if (!read_back(provider_retrieve_payout, x.reference, &t, &st))
        return;
    switch (verdict(st, &t, x.net, x.currency, payout_not_done)) {
    case TR_AGREE:
        confirm("settlement_payout_confirm", x.lot_id);
        return;
    case TR_PENDING:
        return;
    case TR_NOT_DONE: {
        mx_add(pay_mx.recon_payout_returned, 1);
        char why[200];
        snprintf(why, sizeof why, "the provider reports payout %s %s after the settlement: the "
                 "seller was not paid %lld %s; pay them again", x.reference, t.state,
                 (long long)x.net, x.currency);
        x.why = why;
        int rc = db_tx(pay.db, DB_READ_COMMITTED, record_payout_returned, &x);
        bool repaired = rc >= 0 && x.applied;
        log_error("reconciliation: lot %lld: %s; %s", (long long)x.lot_id, why,
                  repaired ? "the payout is reversed in the ledger, the settlement 'returned' "
                             "for an operator"
                           : rc < 0 ? db_strerror(rc) : "not repaired yet");
        if (repaired)
            mx_add(pay_mx.recon_repaired, 1);
        return;
    }
    case TR_UNKNOWN:
        mx_add(pay_mx.recon_unknown, 1);
        log_unknown("the payout of lot", (long long)x.lot_id, x.reference, (long long)x.net,
                    x.currency, st, &t);
        return;
    }
}

/* ---- the batches ---- */

/* Where the next batch of each starts (ids, lot ids above it); the
 * reconciliation thread's only. Rows that stay unconfirmed (pending, or
 * unknown) would otherwise fill every batch. */
static int64_t refunds_after, payouts_after;

/* Reads up to ROUND_LIMIT rows of stmt (column 0 the key) after *after
 * and runs one() on each, until a provider pause or t stopping. */
static void batch_run(const char *stmt, int64_t *after, void (*one)(const PGresult *, int),
                      pay_ticker *t)
{
    if (pause_left_us() > 0 || ticker_stopping(t))
        return;
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return;
    char before[24], lim[24], from[24];
    const char *p[] = { db_i64(before, now_us() - pay.reconcile_age_ms * 1000),
                        db_i64(lim, ROUND_LIMIT), db_i64(from, *after) };
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, 3, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL) {
        log_warn("reconciliation: %s failed: %s", stmt, db_strerror(rc));
        return;
    }
    int i = 0, n = PQntuples(r);
    for (; i < n && pause_left_us() == 0 && !ticker_stopping(t); i++)
        one(r, i);
    if (n == 0 || (i == n && n < ROUND_LIMIT))
        *after = 0;
    else if (i > 0)
        *after = db_get_i64(r, i - 1, 0);
    PQclear(r);
}

void reconcile_transfers_round(pay_ticker *t)
{
    batch_run("reconcile_refunds_due", &refunds_after, refund_one, t);
    batch_run("reconcile_payouts_due", &payouts_after, payout_one, t);
}
