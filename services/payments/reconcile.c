/*
 * Reconciliation with the card provider. Every GAVEL_PAYMENTS_RECONCILE_MS,
 * the card payments still AUTHORIZED here whose row has not changed for
 * GAVEL_PAYMENTS_RECONCILE_AGE_MS (meanwhile a client retrying its Capture
 * or Void with the same key completes it itself) are read back from the
 * provider (provider_retrieve) and compared:
 *   requires_capture  agree: nothing to do
 *   canceled          the provider dropped the hold (it lapsed, or its
 *                     webhook was lost): the payment becomes EXPIRED and
 *                     payment.failed is published, as the webhook would
 *   succeeded         captured there but not recorded here (our Capture
 *                     failed after the provider's capture and was never
 *                     retried): the capture is completed as Capture does,
 *                     Wallet.Deposit with the payment's own key
 *                     "pay:<id>:deposit", then the payment CAPTURED, the
 *                     ledger txn "deposit:<id>" and payment.captured
 *   anything else     (failed, another amount, unknown to the provider)
 *                     counted and logged for an operator, not repaired
 * Each mismatch is counted in gavel_payments_reconcile_mismatches_total by
 * kind and logged; a repair writes under the payment's row lock and only
 * while the payment is still AUTHORIZED, so a concurrent Capture, Void or
 * webhook and the repair never both apply. Each round then compares the
 * refunds and payouts the provider has not confirmed yet
 * (reconcile_transfers.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments.h"

#define ST_AUTHORIZED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_AUTHORIZED
#define ROUND_LIMIT 100

typedef struct repair repair;
/* Writes the repair of pm (locked, still AUTHORIZED) in conn's
 * transaction; 0 or DB_E_*. */
typedef int (*repair_fn)(db_conn *conn, arena *a, const repair *x,
                         Gavel__Payments__V1__Payment *pm);
struct repair {
    int64_t id;
    const prov_intent *in;
    repair_fn apply;
    bool applied; /* the payment was still AUTHORIZED and changed */
};

static int apply_expired(db_conn *conn, arena *a, const repair *x,
                         Gavel__Payments__V1__Payment *pm)
{
    char pid[24], st[24], now[24];
    const char *q[] = { db_i64(pid, x->id),
                        db_i64(st, GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_EXPIRED),
                        "provider: the hold was released without a capture (reconciliation)",
                        db_i64(now, now_us()) };
    int rc = payment_update(conn, a, "payment_state", 4, q, &pm);
    return rc == 0 ? payment_publish(conn, "payment.failed", pm) : rc;
}

static int apply_captured(db_conn *conn, arena *a, const repair *x,
                          Gavel__Payments__V1__Payment *pm)
{
    int64_t amount = x->in->amount_captured;
    char pid[24], cap[24], now[24], ref[48];
    const char *p[] = { db_i64(pid, x->id), db_i64(cap, amount), db_i64(now, now_us()) };
    int rc = payment_update(conn, a, "payment_captured", 3, p, &pm);
    if (rc != 0)
        return rc;
    ledger_leg legs[] = { { "provider_clearing", 0, -amount }, { "buyer", pm->payer_id, amount } };
    snprintf(ref, sizeof ref, "deposit:%lld", (long long)x->id);
    rc = ledger_write(conn, "deposit", ref, pm->lot_id, pm->id, pm->amount->currency, legs, 2);
    if (rc == 1)
        return DB_E_CHECK; /* a deposit txn of a payment not CAPTURED: never written */
    return rc == 0 ? payment_publish(conn, "payment.captured", pm) : rc;
}

/* The transaction of a repair: the payment locked, x->apply run only while
 * it is still AUTHORIZED (a Capture, Void or webhook may have come first). */
static int record(db_conn *conn, void *arg)
{
    repair *x = arg;
    x->applied = false;
    arena *a = arena_new();
    char pid[24];
    const char *p[] = { db_i64(pid, x->id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "payment_lock", 1, p, &rc);
    if (r != NULL) {
        Gavel__Payments__V1__Payment *pm = PQntuples(r) > 0 ? payment_from_row(a, r, 0) : NULL;
        PQclear(r);
        if (pm != NULL && pm->state == ST_AUTHORIZED) {
            rc = x->apply(conn, a, x, pm);
            x->applied = rc == 0;
        }
    }
    arena_free(a);
    return rc;
}

/* The provider captured payment id (payer, currency) but we did not record
 * it: the wallet deposit first (its key makes a repeat harmless), then the
 * records. Returns true when repaired. */
static bool repair_captured(int64_t id, int64_t payer, const char *currency,
                            const prov_intent *in)
{
    char key[64], ref[64], err[256];
    snprintf(key, sizeof key, "pay:%lld:deposit", (long long)id);
    snprintf(ref, sizeof ref, "card payment %lld", (long long)id);
    grpc_status_code ws = wallet_deposit(key, payer, currency, in->amount_captured, ref, err,
                                         sizeof err);
    if (ws != GRPC_STATUS_OK) {
        log_warn("reconciliation: payment %lld: the wallet did not take the deposit (%d): %s; "
                 "the next round tries again", (long long)id, (int)ws, err);
        return false;
    }
    repair x = { .id = id, .in = in, .apply = apply_captured };
    int rc = db_tx(pay.db, DB_READ_COMMITTED, record, &x);
    if (rc < 0)
        log_warn("reconciliation: payment %lld: recording the capture failed: %s", (long long)id,
                 db_strerror(rc));
    return rc >= 0 && x.applied;
}

/* Compares one payment with the provider's intent and repairs what has a
 * known cause. */
static void reconcile_one(const PGresult *r, int i)
{
    int64_t id = db_get_i64(r, i, 0), payer = db_get_i64(r, i, 1), amount = db_get_i64(r, i, 3);
    const char *currency = db_get_str(r, i, 2), *reference = db_get_str(r, i, 4);
    prov_intent in = { 0 };
    prov_error pe = { 0 };
    prov_status st = provider_retrieve(pay.prov, reference, &in, &pe);
    if (st == PROV_BACKOFF) {
        pause_provider(pe.retry_after_s);
        mx_add(pay_mx.provider_paused, 1);
        return;
    }
    if (st != PROV_OK && st != PROV_NOT_FOUND)
        return; /* unknown now; the next round asks again */
    bool repaired = false;
    if (st == PROV_OK && in.state == PROV_INTENT_REQUIRES_CAPTURE && in.amount == amount)
        return;
    if (st == PROV_OK && in.state == PROV_INTENT_CANCELED) {
        mx_add(pay_mx.recon_expired, 1);
        repair x = { .id = id, .in = &in, .apply = apply_expired };
        int rc = db_tx(pay.db, DB_READ_COMMITTED, record, &x);
        repaired = rc >= 0 && x.applied;
        log_warn("reconciliation: payment %lld (%s): the provider released the hold; %s",
                 (long long)id, reference, repaired ? "now EXPIRED" : "not repaired yet");
    } else if (st == PROV_OK && in.state == PROV_INTENT_SUCCEEDED && in.amount_captured > 0 &&
               in.amount_captured <= amount && strcmp(in.currency, currency) == 0) {
        mx_add(pay_mx.recon_captured, 1);
        repaired = repair_captured(id, payer, currency, &in);
        log_warn("reconciliation: payment %lld (%s): captured %lld %s at the provider but not "
                 "recorded; %s", (long long)id, reference, (long long)in.amount_captured,
                 currency, repaired ? "deposit and ledger completed" : "not repaired yet");
    } else {
        mx_add(pay_mx.recon_unknown, 1);
        log_error("reconciliation: payment %lld (%s) is AUTHORIZED for %lld %s here but the "
                  "provider %s; no known cause, not repaired", (long long)id, reference,
                  (long long)amount, currency,
                  st == PROV_NOT_FOUND ? "does not know it" : "has it in another state or amount");
    }
    if (repaired) {
        mx_add(pay_mx.recon_repaired, 1);
        ev_relay_kick(pay.relay);
    }
}

/* Where the next round starts (payment ids above it); the ticker's thread
 * only. Payments that agree with the provider stay AUTHORIZED, so each
 * round takes the next ROUND_LIMIT of them rather than the same first ones. */
static int64_t cursor;

static pay_ticker rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                          .name = "reconciliation", .interval_ms = &pay.reconcile_ms };

/* Up to ROUND_LIMIT payments compared with the provider. */
static void payments_batch(void)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return;
    char before[24], lim[24], after[24];
    const char *p[] = { db_i64(before, now_us() - pay.reconcile_age_ms * 1000),
                        db_i64(lim, ROUND_LIMIT), db_i64(after, cursor) };
    int rc = 0;
    PGresult *r = db_exec(conn, "reconcile_due", 3, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL) {
        log_warn("reconciliation: reading the payments failed: %s", db_strerror(rc));
        return;
    }
    int i = 0, n = PQntuples(r);
    /* a provider pause or the daemon stopping ends the round early */
    for (; i < n && pause_left_us() == 0 && !ticker_stopping(&rec); i++)
        reconcile_one(r, i);
    /* the next round goes on after the last payment compared, from the
     * first again once a round saw all there were */
    if (n == 0 || (i == n && n < ROUND_LIMIT))
        cursor = 0;
    else if (i > 0)
        cursor = db_get_i64(r, i - 1, 0);
    PQclear(r);
}

/* One round: a batch of card payments, then of refunds and payouts
 * (reconcile_transfers.c). */
static void reconcile_round(void)
{
    if (pause_left_us() > 0)
        return;
    payments_batch();
    reconcile_transfers_round(&rec);
    mx_add(pay_mx.recon_runs, 1);
}

int reconcile_start(void)
{
    rec.run = reconcile_round;
    return ticker_start(&rec);
}

void reconcile_stop(void)
{
    ticker_stop(&rec);
}
