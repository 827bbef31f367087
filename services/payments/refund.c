/*
 * Refund of a captured card payment (a wallet top-up, lot 0, or a lot paid
 * by card), walked in steps recorded as it goes, so a refund once begun
 * finishes exactly once even when the daemon dies between its remote calls:
 *
 *   pending --Wallet.Withdraw--> withdrawn --provider refund--> done
 *
 * The refunds row is written before the withdrawal and its step after each
 * remote call, each committed at once on a connection of its own (it must
 * outlive the call's transaction). Both remote calls carry the refund's key
 * "pay-<id>-refund-<sha256(caller, idempotency key)>", so a repeat gets the
 * first answer and moves no money twice. The call's transaction (card_tx.c)
 * holds the caller's idempotency key and the payment's row lock (FOR NO KEY
 * UPDATE, which the refunds rows' foreign key does not wait for) from
 * start to end, and records the end in one go: the refund done, the
 * payment's refunded amount, the ledger txn "refund:<refund id>" (buyer
 * -amount, provider clearing +amount) and payment.refunded.
 *
 * A wallet that no longer holds the money (spent or held for bids)
 * refuses the withdrawal: the row is deleted, FAILED_PRECONDITION, nothing
 * changed. A call that dies or fails after the row was written leaves it
 * pending or withdrawn; the caller's retry with the same key, or the
 * resumer here (rows unchanged for GAVEL_PAYMENTS_LEASE_MS whose payment no
 * call holds: SKIP LOCKED), goes on from the recorded step, so the payer is
 * never left with money withdrawn and not refunded. A provider that
 * refuses the refund for good leaves the row failed, the money withdrawn,
 * logged for an operator.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "card_tx.h"

#define ST_CAPTURED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_CAPTURED
#define ST_PARTIAL GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_PARTIALLY_REFUNDED
#define RESUME_LIMIT 100

/* One refund being walked; on the walker's stack, strings borrowed from
 * the call or the resumer's arena. */
typedef struct {
    int64_t id;                   /* the refunds row */
    int64_t amount;
    char step[16];
    const char *key;              /* the wallet's and the provider's key */
    const char *reason;
    const Gavel__Payments__V1__Payment *pm; /* locked by the walker's transaction */
} refund_op;

typedef enum { WALK_OK, WALK_REFUSED, WALK_RETRY, WALK_FAILED } walk_result;

/* Runs stmt on a pool connection of its own, committed at once; *first is
 * the first column of the first row returned (0 when none). 0 or DB_E_*. */
static int side_exec(const char *stmt, int n, const char *const *p, int64_t *first)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, n, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL)
        return rc;
    if (first != NULL)
        *first = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

/* Moves op from its step to `to` (committed). 0, or DB_E_* (DB_E_CHECK
 * when the row was not at its step: never, while the payment is locked). */
static int step_move(refund_op *op, const char *to, const char *provider_ref)
{
    char id[24], now[24];
    const char *p[] = { db_i64(id, op->id), op->step, to, provider_ref, db_i64(now, now_us()) };
    int64_t moved = 0;
    int rc = side_exec("refund_step", 5, p, &moved);
    if (rc == 0 && moved != op->id)
        rc = DB_E_CHECK;
    if (rc == 0)
        snprintf(op->step, sizeof op->step, "%s", to);
    return rc;
}

/* Takes op from its recorded step through the withdrawal and the
 * provider's refund (*tr on WALK_OK). WALK_REFUSED: the wallet refused
 * (row deleted, nothing changed); WALK_RETRY: an unknown or passing
 * failure (row left at its step; *pst tells a provider's); WALK_FAILED: the
 * provider refused for good (row failed). err says why. */
static walk_result refund_walk(refund_op *op, prov_transfer *tr, prov_status *pst,
                               prov_error *pe, char *err, size_t errlen)
{
    const Gavel__Payments__V1__Payment *pm = op->pm;
    *pst = PROV_OK;
    if (strcmp(op->step, "pending") == 0) {
        char ref[64];
        snprintf(ref, sizeof ref, "refund of card payment %lld", (long long)pm->id);
        grpc_status_code ws = wallet_withdraw(op->key, pm->payer_id, pm->amount->currency,
                                              op->amount, ref, err, errlen);
        if (ws == GRPC_STATUS_FAILED_PRECONDITION || ws == GRPC_STATUS_NOT_FOUND ||
            ws == GRPC_STATUS_INVALID_ARGUMENT) {
            char id[24];
            const char *p[] = { db_i64(id, op->id) };
            if (side_exec("refund_forget", 1, p, NULL) < 0)
                log_warn("refund %lld: refused by the wallet; forgetting its row failed, the "
                         "resumer tries the withdrawal again", (long long)op->id);
            return WALK_REFUSED;
        }
        if (ws != GRPC_STATUS_OK)
            return WALK_RETRY;
        pay_fault_point("withdraw");
        int rc = step_move(op, "withdrawn", "");
        if (rc < 0) {
            snprintf(err, errlen, "recording the withdrawal failed: %s", db_strerror(rc));
            return WALK_RETRY;
        }
    }
    *pst = provider_refund(pay.prov, op->key, pm->provider_reference, op->amount, tr, pe);
    if (*pst == PROV_OK) {
        pay_fault_point("refund");
        return WALK_OK;
    }
    snprintf(err, errlen, "provider refund: %s %s %s", prov_status_name(*pst), pe->code,
             pe->message);
    if (*pst == PROV_BACKOFF || *pst == PROV_UNAVAILABLE)
        return WALK_RETRY;
    if (step_move(op, "failed", "") == 0)
        log_error("refund %lld of payment %lld: %lld withdrawn from the wallet of user %lld "
                  "but the provider refused the refund (%s %s); needs an operator",
                  (long long)op->id, (long long)pm->id, (long long)op->amount,
                  (long long)pm->payer_id, pe->code, pe->message);
    return WALK_FAILED;
}

/* The end of a refund in the walker's open transaction: the row done, the
 * payment's refunded amount (*pm replaced), the ledger, payment.refunded. */
static int refund_finish(db_conn *conn, arena *a, const refund_op *op, const char *provider_ref,
                         Gavel__Payments__V1__Payment **pm)
{
    char id[24], now[24], amt[24], ref[48];
    const char *p[] = { db_i64(id, op->id), "withdrawn", "done", provider_ref,
                        db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "refund_step", 5, p, &rc);
    if (r == NULL)
        return rc;
    bool moved = PQntuples(r) == 1;
    PQclear(r);
    if (!moved)
        return DB_E_CHECK;
    char pid[24];
    const char *q[] = { db_i64(pid, (*pm)->id), db_i64(amt, op->amount), now };
    if ((rc = payment_update(conn, a, "payment_refunded", 3, q, pm)) != 0)
        return rc;
    ledger_leg legs[] = { { "buyer", (*pm)->payer_id, -op->amount },
                          { "provider_clearing", 0, op->amount } };
    snprintf(ref, sizeof ref, "refund:%lld", (long long)op->id);
    rc = ledger_write(conn, "refund", ref, (*pm)->lot_id, (*pm)->id, (*pm)->amount->currency,
                      legs, 2);
    if (rc != 0)
        return rc < 0 ? rc : DB_E_CHECK;
    Gavel__Events__V1__PaymentRefunded e = GAVEL__EVENTS__V1__PAYMENT_REFUNDED__INIT;
    e.payment_id = (*pm)->id;
    e.refund_id = op->id;
    e.lot_id = (*pm)->lot_id;
    e.payer_id = (*pm)->payer_id;
    e.amount = check_money_new(a, (*pm)->amount->currency, op->amount);
    e.total_refunded = (*pm)->refunded;
    e.reason = (char *)op->reason;
    e.refunded_at_us = (*pm)->updated_at_us;
    db_i64(id, (*pm)->lot_id > 0 ? (*pm)->lot_id : (*pm)->payer_id);
    return ev_outbox_add(conn, PAY_TOPIC, "payment.refunded", id, &e.base, NULL);
}

/* ---- the RPC ---- */

/* Finds the refund of this key (any step) for the call, or checks the new
 * one against the payment and writes its row (pending). OK with op set,
 * or the failure recorded (the transaction rolled back). */
static int refund_open(rpc_call *c, card_tx *t, const Gavel__Payments__V1__RefundRequest *req,
                       const char *cur, refund_op *op)
{
    const Gavel__Payments__V1__Payment *pm = op->pm;
    const char *p[] = { op->key };
    int rc = 0;
    PGresult *r = db_exec(t->conn, "refund_by_key", 1, p, &rc);
    if (r == NULL)
        return card_fail_db(c, t, rc);
    if (PQntuples(r) > 0) {
        op->id = db_get_i64(r, 0, 0);
        op->amount = db_get_i64(r, 0, 1);
        snprintf(op->step, sizeof op->step, "%s", db_get_str(r, 0, 2));
        PQclear(r);
        if (op->amount != req->amount->units) {
            card_abort(t);
            return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                            "idempotency_key %s was used for another Refund request (refund "
                            "%lld of %lld)", req->idempotency_key, (long long)op->id,
                            (long long)op->amount);
        }
        return GRPC_STATUS_OK;
    }
    PQclear(r);
    if (pm->state != ST_CAPTURED && pm->state != ST_PARTIAL)
        return card_refuse_state(c, t, pm, "refunded");
    char pid[24], amt[24], now[24];
    const char *q[] = { db_i64(pid, pm->id) };
    if ((r = db_exec(t->conn, "refund_open_sum", 1, q, &rc)) == NULL)
        return card_fail_db(c, t, rc);
    int64_t open = db_get_i64(r, 0, 0);
    PQclear(r);
    int64_t left = pm->captured->units - pm->refunded->units - open;
    if (strcmp(cur, pm->amount->currency) != 0 || req->amount->units > left) {
        card_abort(t);
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "amount must be at most the %lld %s captured and not yet refunded",
                        (long long)left, pm->amount->currency);
    }
    op->amount = req->amount->units;
    const char *ins[] = { pid, db_i64(amt, op->amount), req->reason, op->key,
                          db_i64(now, now_us()) };
    if ((rc = side_exec("refund_begin", 5, ins, &op->id)) < 0)
        return card_fail_db(c, t, rc);
    snprintf(op->step, sizeof op->step, "pending");
    return GRPC_STATUS_OK;
}

int pay_refund(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__RefundRequest *req = (const void *)in;
    const char *cur = NULL;
    int rc = check_money(c, "amount", req->amount,
                         &(check_money_rule){ .min_units = 1, .currencies = pay.currencies }, &cur);
    if (rc == GRPC_STATUS_OK)
        rc = check_prose(c, "reason", req->reason, 1, 500);
    if (rc != GRPC_STATUS_OK)
        return rc;
    card_tx t = { 0 };
    Gavel__Payments__V1__Payment *pm = NULL;
    rc = card_begin_on_payment(c, &t, "Refund", req->idempotency_key, in,
                               &gavel__payments__v1__refund_response__descriptor,
                               req->payment_id, &pm, out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    char text[300], hash[IDEM_HASH_HEX], key[112], err[512] = "";
    int n = snprintf(text, sizeof text, "%s\n%s", idem_caller(c), req->idempotency_key);
    idem_hash(text, (size_t)n, hash);
    snprintf(key, sizeof key, "pay-%lld-refund-%.40s", (long long)pm->id, hash);
    refund_op op = { .key = key, .reason = req->reason, .pm = pm };
    if ((rc = refund_open(c, &t, req, cur, &op)) != GRPC_STATUS_OK)
        return rc;
    Gavel__Payments__V1__RefundResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__refund_response__descriptor);
    resp->refund_id = op.id;
    if (strcmp(op.step, "pending") == 0 || strcmp(op.step, "withdrawn") == 0) {
        prov_transfer tr = { 0 };
        prov_error pe = { 0 };
        prov_status pst = PROV_OK;
        walk_result w = refund_walk(&op, &tr, &pst, &pe, err, sizeof err);
        if (w != WALK_OK)
            card_abort(&t);
        if (pst == PROV_BACKOFF)
            pause_provider(pe.retry_after_s);
        if (w == WALK_REFUSED)
            return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                            "the payer's wallet no longer holds the refund: %s", err);
        if (w == WALK_FAILED)
            return pay_fail_provider(c, pst, &pe, "refund");
        if (w == WALK_RETRY)
            return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                            "refund %lld is at step %s (%s); it completes on its own, or "
                            "retry with the same idempotency_key", (long long)op.id, op.step,
                            err);
        if ((rc = refund_finish(t.conn, rpc_arena(c), &op, tr.id, &pm)) != 0)
            return card_fail_db(c, &t, rc);
    } else if (strcmp(op.step, "failed") == 0) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "refund %lld: the card provider refused it after the wallet gave the "
                        "money back; an operator settles it", (long long)op.id);
    }
    resp->payment = pm;
    if ((rc = card_commit(c, &t, &resp->base)) != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

/* ---- the resumer ---- */

/* One refund left by a call that died or failed, in its own transaction
 * under its payment's lock (skipped while a call holds it). */
static void resume_one(int64_t refund_id, int64_t payment_id)
{
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return;
    arena *a = arena_new();
    char pid[24], rid[24], err[512] = "";
    const char *p[] = { db_i64(pid, payment_id) };
    const char *q[] = { db_i64(rid, refund_id) };
    int rc = db_command(conn, "BEGIN");
    PGresult *r = rc == 0 ? db_exec(conn, "payment_lock_skip", 1, p, &rc) : NULL;
    Gavel__Payments__V1__Payment *pm = NULL;
    if (r != NULL) {
        pm = PQntuples(r) > 0 ? payment_from_row(a, r, 0) : NULL;
        PQclear(r);
    }
    refund_op op = { .id = refund_id, .pm = pm };
    if (pm != NULL && (r = db_exec(conn, "refund_get", 1, q, &rc)) != NULL) {
        if (PQntuples(r) > 0) {
            op.amount = db_get_i64(r, 0, 0);
            snprintf(op.step, sizeof op.step, "%s", db_get_str(r, 0, 1));
            op.key = arena_strdup(a, db_get_str(r, 0, 2));
            op.reason = arena_strdup(a, db_get_str(r, 0, 3));
        }
        PQclear(r);
    }
    bool go = op.key != NULL &&
              (strcmp(op.step, "pending") == 0 || strcmp(op.step, "withdrawn") == 0);
    prov_transfer tr = { 0 };
    prov_error pe = { 0 };
    prov_status pst = PROV_OK;
    walk_result w = go ? refund_walk(&op, &tr, &pst, &pe, err, sizeof err) : WALK_RETRY;
    if (go && w == WALK_OK && (rc = refund_finish(conn, a, &op, tr.id, &pm)) == 0)
        rc = db_command(conn, "COMMIT");
    else
        db_command(conn, "ROLLBACK");
    db_pool_put(pay.db, conn);
    if (pst == PROV_BACKOFF) {
        pause_provider(pe.retry_after_s);
        mx_add(pay_mx.provider_paused, 1);
    }
    if (go && w == WALK_OK && rc == 0) {
        ev_relay_kick(pay.relay);
        mx_add(pay_mx.refunds_resumed, 1);
        log_info("refund %lld of payment %lld resumed and completed", (long long)refund_id,
                 (long long)payment_id);
    } else if (go && w == WALK_REFUSED) {
        log_warn("refund %lld of payment %lld: the wallet refused the withdrawal (%s); the "
                 "refund is dropped, nothing moved", (long long)refund_id, (long long)payment_id,
                 err);
    } else if (go && w != WALK_FAILED) {
        log_warn("refund %lld of payment %lld at step %s: %s; tried again later",
                 (long long)refund_id, (long long)payment_id, op.step,
                 err[0] != '\0' ? err : db_strerror(rc));
    }
    arena_free(a);
}

static pay_ticker resumer = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                              .name = "refund resumer", .interval_ms = &pay.poll_ms };

static void resume_round(void)
{
    if (pause_left_us() > 0)
        return;
    db_conn *conn = db_pool_get(pay.db, 5000);
    if (conn == NULL)
        return;
    char before[24], lim[24];
    const char *p[] = { db_i64(before, now_us() - pay.lease_ms * 1000),
                        db_i64(lim, RESUME_LIMIT) };
    int rc = 0;
    PGresult *r = db_exec(conn, "refund_due", 2, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL) {
        log_warn("refund resumer: reading the refunds failed: %s", db_strerror(rc));
        return;
    }
    for (int i = 0; i < PQntuples(r) && pause_left_us() == 0 && !ticker_stopping(&resumer); i++)
        resume_one(db_get_i64(r, i, 0), db_get_i64(r, i, 1));
    PQclear(r);
}

int refund_resume_start(void)
{
    resumer.run = resume_round;
    return ticker_start(&resumer);
}

void refund_resume_stop(void)
{
    ticker_stop(&resumer);
}
