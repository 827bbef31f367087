/*
 * The settlement workers: every auction.closed the consumer recorded is
 * walked through its steps here, exactly once in effect.
 *
 *   sold lot    pending --fees, capture--> captured --payout--> done
 *   unsold lot  pending --release--> done
 *
 * fees: a sold lot's fees are asked of the auctions service
 *   (QuoteServices of buyer_premium and seller_commission for the lot)
 *   and fixed in the settlement row once (fees_quoted), before anything
 *   is charged; a retry of the step reads them back, never asks again.
 *   While auctions does not answer the step waits with the backoff below
 *   (a fee is never guessed); a lot it does not know or cannot price is
 *   failed for an operator.
 * capture: the buyer's premium, when there is one, by Wallet.Withdraw from
 *   the winner's available balance (key "settle:<lot>:premium"), then
 *   Wallet.CaptureFunds of the winning hold for the hammer price (key
 *   "settle:<lot>:capture"); then, in one transaction, the
 *   settlement's payment row (provider "wallet"), the ledger txn
 *   "settle:<lot>" (buyer -price, seller +hammer-commission, platform
 *   fees +premium+commission), payment.captured in the outbox, and the
 *   step.
 * payout: provider_payout of hammer - commission to the seller (key
 *   "settle:<lot>:payout"); then the ledger txn "payout:<lot>" (seller
 *   -net, payouts +net), auction.settled in the outbox, and the step.
 * release: every hold still held on the lot is released (key
 *   "settle:<lot>:release:<hold>"); nothing is charged or recorded.
 *
 * The remote call of a step comes first and its record second: a worker
 * that dies between them leaves the step as it was, and whoever takes the
 * lot again repeats the call with the same key, gets the first answer
 * (money moved once), and records it. The record is guarded by the step
 * (read FOR UPDATE), so two workers that both got the answer record it
 * once. Rows are leased (due time moved GAVEL_PAYMENTS_LEASE_MS ahead) so
 * workers and replicas do not share a lot; a dead worker's lot is due again
 * when its lease ends. A failed step is retried with exponential backoff
 * for ever (a winner short of funds for the premium waits until they have
 * them), unless its answer can never change (the hold is gone or too
 * small, the payout refused): then the settlement is 'failed', counted and
 * logged for an operator. A provider 429 pauses every worker (pause.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments.h"

/* Threads and their wake-ups; mu guards everything but threads. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    size_t n;
    bool stopping;
    uint64_t kicks;
} wk = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* One leased settlement (columns of settlement_lease). */
typedef struct {
    int64_t lot_id, seller_id, winner_id, hold_id, hammer, buyer_fee, seller_fee;
    int64_t payment_id, attempts, closed_at_us;
    char currency[4];
    char step[16];
    bool is_sold, fees_quoted;
} settlement;

typedef enum { STEP_OK, STEP_RETRY, STEP_PAUSED, STEP_FAIL } step_result;

static void row_read(const PGresult *r, int i, settlement *s)
{
    s->lot_id = db_get_i64(r, i, 0);
    s->seller_id = db_get_i64(r, i, 1);
    s->winner_id = db_get_i64(r, i, 2);
    s->hold_id = db_get_i64(r, i, 3);
    snprintf(s->currency, sizeof s->currency, "%s", db_get_str(r, i, 4));
    s->hammer = db_get_i64(r, i, 5);
    s->buyer_fee = db_get_i64(r, i, 6);
    s->seller_fee = db_get_i64(r, i, 7);
    s->is_sold = db_get_bool(r, i, 8);
    snprintf(s->step, sizeof s->step, "%s", db_get_str(r, i, 9));
    s->payment_id = db_get_i64(r, i, 10);
    s->attempts = db_get_i64(r, i, 11);
    s->closed_at_us = db_get_i64(r, i, 12);
    s->fees_quoted = db_get_bool(r, i, 13);
}

/* Locks the row and tells whether it is still at `step`. 1 yes, 0 no,
 * DB_E_* on failure. */
static int step_is(db_conn *conn, int64_t lot_id, const char *step)
{
    char lot[24];
    const char *p[] = { db_i64(lot, lot_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_lock", 1, p, &rc);
    if (r == NULL)
        return rc;
    int yes = PQntuples(r) > 0 && strcmp(db_get_str(r, 0, 0), step) == 0;
    PQclear(r);
    return yes;
}

static int step_set(db_conn *conn, const settlement *s, const char *step, int64_t payment_id,
                    const char *payout_ref)
{
    char lot[24], pid[24], now[24];
    const char *p[] = { db_i64(lot, s->lot_id), step, db_i64(pid, payment_id), payout_ref,
                        db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_step", 5, p, &rc);
    if (r != NULL)
        PQclear(r);
    return rc;
}

/* ---- fees ---- */

/* Writes f as the lot's fees unless some were fixed before, and reads back
 * those that stand into s. 0 or DB_E_*. */
static int fees_fix(settlement *s, const pay_fees *f)
{
    char lot[24], bfee[24], sfee[24], brule[24], srule[24], now[24];
    const char *p[] = { db_i64(lot, s->lot_id), db_i64(bfee, f->buyer_fee),
                        db_i64(sfee, f->seller_fee), db_i64(brule, f->buyer_rule),
                        db_i64(srule, f->seller_rule), db_i64(now, now_us()) };
    int rc = 0;
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    PGresult *r = db_exec(conn, "settlement_fees_fix", 6, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL)
        return rc;
    if (PQntuples(r) == 1) {
        s->buyer_fee = db_get_i64(r, 0, 0);
        s->seller_fee = db_get_i64(r, 0, 1);
        s->fees_quoted = true;
    } else {
        rc = DB_E_CHECK; /* the row is gone: never deleted by this code */
    }
    PQclear(r);
    return rc;
}

/* Asks auctions for the lot's fees and fixes them. Its answers that can
 * never change (the lot unknown there, no hammer price, fees the lot
 * cannot bear) fail the settlement; the rest are retried. */
static step_result do_fees(settlement *s, char *err, size_t errlen)
{
    pay_fees f = { 0 };
    char why[400] = "";
    grpc_status_code st = auctions_quote_fees(s->lot_id, &f, why, sizeof why);
    if (st == GRPC_STATUS_NOT_FOUND || st == GRPC_STATUS_FAILED_PRECONDITION) {
        snprintf(err, errlen, "the auctions service cannot price the fees of lot %lld (%s): %s",
                 (long long)s->lot_id, st == GRPC_STATUS_NOT_FOUND ? "NOT_FOUND"
                                                                  : "FAILED_PRECONDITION", why);
        return STEP_FAIL;
    }
    if (st != GRPC_STATUS_OK) {
        snprintf(err, errlen, "quoting the fees at the auctions service (status %d): %s",
                 (int)st, why);
        return STEP_RETRY;
    }
    if (strcmp(f.currency, s->currency) != 0) {
        snprintf(err, errlen, "the auctions service priced the fees in %s, the lot closed in %s",
                 f.currency, s->currency);
        return STEP_FAIL;
    }
    if (f.seller_fee > s->hammer || s->hammer > CHECK_MONEY_MAX - f.buyer_fee) {
        snprintf(err, errlen, "fees out of range for the hammer price %lld %s: premium %lld, "
                              "commission %lld", (long long)s->hammer, s->currency,
                 (long long)f.buyer_fee, (long long)f.seller_fee);
        return STEP_FAIL;
    }
    int rc = fees_fix(s, &f);
    if (rc < 0) {
        snprintf(err, errlen, "recording the fees failed: %s", db_strerror(rc));
        return STEP_RETRY;
    }
    return STEP_OK;
}

/* ---- capture ---- */

static int record_capture(db_conn *conn, void *arg)
{
    const settlement *s = arg;
    int rc = step_is(conn, s->lot_id, "pending");
    if (rc <= 0)
        return rc; /* another worker recorded it */
    int64_t price = s->hammer + s->buyer_fee, fees = s->buyer_fee + s->seller_fee;
    char lot[24], payer[24], payee[24], amount[24], fee[24], hold[24], now[24];
    char *key = xasprintf("settle:%lld", (long long)s->lot_id);
    const char *p[] = { db_i64(lot, s->lot_id), db_i64(payer, s->winner_id),
                        db_i64(payee, s->seller_id), s->currency, db_i64(amount, price),
                        db_i64(fee, fees), key, db_i64(hold, s->hold_id),
                        db_i64(now, now_us()) };
    PGresult *r = db_exec(conn, "payment_insert_settlement", 9, p, &rc);
    free(key);
    if (r == NULL)
        return rc;
    arena *a = arena_new();
    Gavel__Payments__V1__Payment *pm = payment_from_row(a, r, 0);
    PQclear(r);
    ledger_leg legs[] = {
        { "buyer", s->winner_id, -price },
        { "seller", s->seller_id, s->hammer - s->seller_fee },
        { "platform_fees", 0, fees },
    };
    char ref[48];
    snprintf(ref, sizeof ref, "settle:%lld", (long long)s->lot_id);
    rc = ledger_write(conn, "settlement", ref, s->lot_id, pm->id, s->currency, legs, 3);
    if (rc == 1)
        rc = DB_E_CHECK; /* a txn without its step: never written by this code */
    if (rc == 0)
        rc = payment_publish(conn, "payment.captured", pm);
    if (rc == 0)
        rc = step_set(conn, s, "captured", pm->id, "");
    arena_free(a);
    return rc;
}

/* Maps a wallet answer to a step result: one that can never change is
 * STEP_FAIL (the hold is gone or too small, the winner cannot pay). */
static step_result wallet_result(grpc_status_code st)
{
    if (st == GRPC_STATUS_OK)
        return STEP_OK;
    if (st == GRPC_STATUS_NOT_FOUND || st == GRPC_STATUS_FAILED_PRECONDITION ||
        st == GRPC_STATUS_INVALID_ARGUMENT || st == GRPC_STATUS_PERMISSION_DENIED)
        return STEP_FAIL;
    return STEP_RETRY;
}

/* The buyer's premium first, withdrawn from the winner's available
 * balance in one atomic call (never from the winning hold), so a winner
 * who cannot pay it is charged nothing and waits, retried, until they can
 * (the wallet's FAILED_PRECONDITION here means only that); then the hammer
 * price from the winning hold (the rest of the hold is released by the
 * capture). */
static step_result do_capture(settlement *s, char *err, size_t errlen)
{
    char key[64];
    step_result res = STEP_OK;
    if (s->buyer_fee > 0) {
        char ref[64];
        snprintf(key, sizeof key, "settle:%lld:premium", (long long)s->lot_id);
        snprintf(ref, sizeof ref, "buyer's premium of lot %lld", (long long)s->lot_id);
        grpc_status_code ws =
            wallet_withdraw(key, s->winner_id, s->currency, s->buyer_fee, ref, err, errlen);
        res = ws == GRPC_STATUS_FAILED_PRECONDITION ? STEP_RETRY : wallet_result(ws);
        if (res != STEP_OK)
            return res;
    }
    snprintf(key, sizeof key, "settle:%lld:capture", (long long)s->lot_id);
    int64_t captured = 0;
    res = wallet_result(
        wallet_capture(key, s->hold_id, s->currency, s->hammer, &captured, err, errlen));
    if (res != STEP_OK)
        return res;
    pay_fault_point("capture");
    int rc = db_tx(pay.db, DB_READ_COMMITTED, record_capture, s);
    if (rc < 0) {
        snprintf(err, errlen, "recording the capture failed: %s", db_strerror(rc));
        return STEP_RETRY;
    }
    ev_relay_kick(pay.relay);
    snprintf(s->step, sizeof s->step, "captured");
    return STEP_OK;
}

/* ---- payout ---- */

typedef struct {
    const settlement *s;
    const char *payout_ref;
} payout_rec;

static int record_payout(db_conn *conn, void *arg)
{
    const payout_rec *pr = arg;
    const settlement *s = pr->s;
    int rc = step_is(conn, s->lot_id, "captured");
    if (rc <= 0)
        return rc;
    int64_t net = s->hammer - s->seller_fee, price = s->hammer + s->buyer_fee;
    ledger_leg legs[] = { { "seller", s->seller_id, -net }, { "payouts", 0, net } };
    char ref[48];
    snprintf(ref, sizeof ref, "payout:%lld", (long long)s->lot_id);
    if (net > 0) {
        rc = ledger_write(conn, "payout", ref, s->lot_id, s->payment_id, s->currency, legs, 2);
        if (rc == 1)
            rc = DB_E_CHECK;
        if (rc != 0)
            return rc;
    }
    arena *a = arena_new();
    Gavel__Events__V1__AuctionSettled ev = GAVEL__EVENTS__V1__AUCTION_SETTLED__INIT;
    ev.lot_id = s->lot_id;
    ev.payment_id = s->payment_id;
    ev.buyer_id = s->winner_id;
    ev.seller_id = s->seller_id;
    ev.price = check_money_new(a, s->currency, price);
    ev.fees = check_money_new(a, s->currency, s->buyer_fee + s->seller_fee);
    ev.payout = check_money_new(a, s->currency, net);
    ev.settled_at_us = now_us();
    char lot[24];
    rc = ev_outbox_add(conn, PAY_TOPIC, "auction.settled", db_i64(lot, s->lot_id), &ev.base,
                       NULL);
    arena_free(a);
    if (rc == 0)
        rc = step_set(conn, s, "done", s->payment_id, pr->payout_ref);
    return rc;
}

static step_result do_payout(settlement *s, char *err, size_t errlen)
{
    int64_t net = s->hammer - s->seller_fee;
    prov_transfer out = { 0 };
    if (net > 0) {
        char key[64], dest[48];
        snprintf(key, sizeof key, "settle:%lld:payout", (long long)s->lot_id);
        snprintf(dest, sizeof dest, "seller:%lld", (long long)s->seller_id);
        prov_error pe = { 0 };
        prov_status st = provider_payout(pay.prov, key, net, s->currency, dest, &out, &pe);
        if (st == PROV_BACKOFF) {
            pause_provider(pe.retry_after_s);
            snprintf(err, errlen, "payout: provider backoff %d s", pe.retry_after_s);
            return STEP_PAUSED;
        }
        if (st != PROV_OK) {
            snprintf(err, errlen, "payout: %s %s %s", prov_status_name(st), pe.code, pe.message);
            return st == PROV_UNAVAILABLE ? STEP_RETRY : STEP_FAIL;
        }
        pay_fault_point("payout");
    }
    payout_rec pr = { s, out.id };
    int rc = db_tx(pay.db, DB_READ_COMMITTED, record_payout, &pr);
    if (rc < 0) {
        snprintf(err, errlen, "recording the payout failed: %s", db_strerror(rc));
        return STEP_RETRY;
    }
    ev_relay_kick(pay.relay);
    snprintf(s->step, sizeof s->step, "done");
    return STEP_OK;
}

/* ---- release (unsold) ---- */

static int record_released(db_conn *conn, void *arg)
{
    const settlement *s = arg;
    int rc = step_is(conn, s->lot_id, "pending");
    return rc <= 0 ? rc : step_set(conn, s, "done", 0, "");
}

static step_result do_release(settlement *s, char *err, size_t errlen)
{
    int64_t *holds = NULL;
    size_t n = 0;
    grpc_status_code st = wallet_held_on_lot(s->lot_id, &holds, &n, err, errlen);
    for (size_t i = 0; st == GRPC_STATUS_OK && i < n; i++) {
        char key[80];
        snprintf(key, sizeof key, "settle:%lld:release:%lld", (long long)s->lot_id,
                 (long long)holds[i]);
        st = wallet_release(key, holds[i], err, errlen);
        if (st == GRPC_STATUS_FAILED_PRECONDITION || st == GRPC_STATUS_NOT_FOUND)
            st = GRPC_STATUS_OK; /* released or captured meanwhile: nothing left to free */
    }
    free(holds);
    if (st != GRPC_STATUS_OK)
        return STEP_RETRY;
    int rc = db_tx(pay.db, DB_READ_COMMITTED, record_released, s);
    if (rc < 0) {
        snprintf(err, errlen, "recording the release failed: %s", db_strerror(rc));
        return STEP_RETRY;
    }
    snprintf(s->step, sizeof s->step, "done");
    return STEP_OK;
}

/* ---- one lot ---- */

static step_result settle_one(settlement *s, char *err, size_t errlen)
{
    if (!s->is_sold)
        return do_release(s, err, errlen);
    step_result res = STEP_OK;
    if (strcmp(s->step, "pending") == 0 && !s->fees_quoted)
        res = do_fees(s, err, errlen);
    if (res == STEP_OK && strcmp(s->step, "pending") == 0)
        res = do_capture(s, err, errlen);
    if (res == STEP_OK && strcmp(s->step, "captured") == 0)
        res = do_payout(s, err, errlen);
    return res;
}

/* Records what became of a lot that did not finish: due again later, or
 * failed for good. */
static void reschedule(const settlement *s, step_result res, const char *err)
{
    int64_t wait_ms = pay.retry_base_ms;
    for (int64_t i = 1; i < s->attempts && wait_ms < pay.retry_max_ms; i++)
        wait_ms *= 2;
    if (wait_ms > pay.retry_max_ms)
        wait_ms = pay.retry_max_ms;
    if (res == STEP_PAUSED)
        wait_ms = pause_left_us() / 1000 + 1;
    char lot[24], due[24], now[24];
    int64_t t = now_us();
    const char *p[] = { db_i64(lot, s->lot_id), s->step, res == STEP_FAIL ? "failed" : s->step,
                        err, db_i64(due, t + wait_ms * 1000), db_i64(now, t) };
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return; /* the lease ends on its own */
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_retry", 6, p, &rc);
    if (r != NULL)
        PQclear(r);
    db_pool_put(pay.db, conn);
    if (res == STEP_FAIL) {
        mx_add(pay_mx.settle_failed, 1);
        log_error("lot %lld: settlement failed at step %s and needs an operator: %s",
                  (long long)s->lot_id, s->step, err);
    } else {
        mx_add(pay_mx.step_errors, 1);
        log_warn("lot %lld: settlement step %s failed, again in %lld ms: %s",
                 (long long)s->lot_id, s->step, (long long)wait_ms, err);
    }
}

/* Sleeps while the provider's pause lasts. Returns false to stop. */
static bool wait_pause(void)
{
    pthread_mutex_lock(&wk.mu);
    int64_t left;
    while (!wk.stopping && (left = pause_left_us()) > 0) {
        struct timespec ts;
        deadline_after_ms(&ts, left / 1000 + 1);
        pthread_cond_timedwait(&wk.cv, &wk.mu, &ts);
    }
    bool go = !wk.stopping;
    pthread_mutex_unlock(&wk.mu);
    return go;
}

/* Leases due lots and settles them. Returns how many were leased, or -1. */
static int round_run(void)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return -1;
    char now[24], until[24], lim[24];
    int64_t t = now_us();
    const char *p[] = { db_i64(now, t), db_i64(until, t + pay.lease_ms * 1000),
                        db_i64(lim, pay.batch) };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_lease", 3, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL)
        return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        if (!wait_pause())
            break;
        settlement s;
        row_read(r, i, &s);
        char err[512] = "";
        step_result res = settle_one(&s, err, sizeof err);
        if (res != STEP_OK) {
            reschedule(&s, res, err);
            continue;
        }
        mx_add(s.is_sold ? pay_mx.settled : pay_mx.released, 1);
        mx_observe(pay_mx.settle_seconds, (double)(now_us() - s.closed_at_us) / 1e6);
    }
    PQclear(r);
    return n;
}

static bool idle_wait(uint64_t *seen, int ms)
{
    pthread_mutex_lock(&wk.mu);
    if (!wk.stopping && wk.kicks == *seen) {
        struct timespec ts;
        deadline_after_ms(&ts, ms);
        pthread_cond_timedwait(&wk.cv, &wk.mu, &ts);
    }
    *seen = wk.kicks;
    bool go = !wk.stopping;
    pthread_mutex_unlock(&wk.mu);
    return go;
}

static void *worker_main(void *arg)
{
    (void)arg;
    uint64_t seen = 0;
    int failures = 0;
    for (;;) {
        if (!wait_pause())
            break;
        int n = round_run();
        failures = n < 0 ? failures + 1 : 0;
        if (n >= pay.batch && idle_wait(&seen, 0))
            continue; /* more may be due */
        int wait = failures == 0 ? (int)pay.poll_ms : failures >= 6 ? 5000 : 100 << failures;
        if (!idle_wait(&seen, wait))
            break;
    }
    return NULL;
}

int settle_start(void)
{
    wk.n = (size_t)pay.workers;
    wk.threads = xcalloc(wk.n, sizeof *wk.threads);
    wk.stopping = false;
    for (size_t i = 0; i < wk.n; i++) {
        if (pthread_create(&wk.threads[i], NULL, worker_main, NULL) != 0) {
            log_error("cannot start settlement worker %zu", i);
            wk.n = i;
            settle_stop();
            return -1;
        }
    }
    log_info("%zu settlement workers started", wk.n);
    return 0;
}

void settle_stop(void)
{
    if (wk.threads == NULL)
        return;
    pthread_mutex_lock(&wk.mu);
    wk.stopping = true;
    pthread_cond_broadcast(&wk.cv);
    pthread_mutex_unlock(&wk.mu);
    for (size_t i = 0; i < wk.n; i++)
        pthread_join(wk.threads[i], NULL);
    free(wk.threads);
    wk.threads = NULL;
    wk.n = 0;
}

void settle_kick(void)
{
    pthread_mutex_lock(&wk.mu);
    wk.kicks++;
    pthread_cond_broadcast(&wk.cv);
    pthread_mutex_unlock(&wk.mu);
}
