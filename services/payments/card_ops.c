/*
 * Capture, Void and Refund of a card payment, each in the transaction of
 * card_tx.c with the payment's row locked. Staff act on any card payment;
 * a bidder captures only their own top-up (lot 0): another's payment is
 * NOT_FOUND to them, as in GetPayment, and a lot payment stays staff's
 * (Void and Refund are staff only in api.c's table). The provider's
 * keys are derived from the payment (and the amount or the caller's key
 * where one payment sees several such calls), the wallet's likewise:
 *   Capture  provider capture "pay-<id>-capture-<amount>", then
 *            Wallet.Deposit "pay:<id>:deposit" of the captured amount to the
 *            payer, then the ledger txn "deposit:<id>" (provider clearing
 *            -amount, buyer +amount): card, wallet and ledger agree.
 *   Void     provider cancel "pay-<id>-cancel"; nothing moves.
 *   Refund   refund.c.
 * Settlement payments (provider "wallet") are the settlement's and refused
 * here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "card_tx.h"

#define ST_AUTHORIZED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_AUTHORIZED
#define ST_VOIDED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_VOIDED

/* Runs stmt (RETURNING PAY_COLS) and replaces *pm with its row. */
static int update_payment(rpc_call *c, card_tx *t, const char *stmt, int n, const char *const *p,
                          Gavel__Payments__V1__Payment **pm)
{
    return payment_update(t->conn, rpc_arena(c), stmt, n, p, pm);
}

int pay_capture(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__CaptureRequest *req = (const void *)in;
    const char *cur = NULL;
    int rc = check_money(c, "amount", req->amount,
                         &(check_money_rule){ .min_units = 1, .currencies = pay.currencies }, &cur);
    if (rc != GRPC_STATUS_OK)
        return rc;
    card_tx t = { 0 };
    Gavel__Payments__V1__Payment *pm = NULL;
    rc = card_begin_on_payment(c, &t, "Capture", req->idempotency_key, in,
                          &gavel__payments__v1__capture_response__descriptor, req->payment_id, &pm,
                          out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    if (pm->state != ST_AUTHORIZED)
        return card_refuse_state(c, &t, pm, "captured");
    if (pm->authorization_expires_at_us > 0 && pm->authorization_expires_at_us < now_us()) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "payment %lld: the hold expired",
                        (long long)pm->id);
    }
    if (strcmp(cur, pm->amount->currency) != 0 || req->amount->units > pm->amount->units) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "amount must be at most the authorized %lld %s (got %lld %s)",
                        (long long)pm->amount->units, pm->amount->currency,
                        (long long)req->amount->units, cur);
    }
    int64_t amount = req->amount->units;
    char pkey[96], wkey[64], ref[64], err[256];
    snprintf(pkey, sizeof pkey, "pay-%lld-capture-%lld", (long long)pm->id, (long long)amount);
    prov_intent intent = { 0 };
    prov_error pe = { 0 };
    prov_status st = provider_capture(pay.prov, pkey, pm->provider_reference, amount, &intent, &pe);
    if (st != PROV_OK) {
        card_abort(&t);
        return pay_fail_provider(c, st, &pe, "capture");
    }
    snprintf(wkey, sizeof wkey, "pay:%lld:deposit", (long long)pm->id);
    snprintf(ref, sizeof ref, "card payment %lld", (long long)pm->id);
    grpc_status_code ws = wallet_deposit(wkey, pm->payer_id, cur, amount, ref, err, sizeof err);
    if (ws != GRPC_STATUS_OK) {
        card_abort(&t);
        log_warn("payment %lld captured at the provider but the wallet deposit failed (%d): %s; "
                 "a retry with the same key completes it", (long long)pm->id, (int)ws, err);
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the wallet did not take the deposit (%s); retry with the same "
                        "idempotency_key", err);
    }
    char id[24], cap[24], now[24];
    const char *p[] = { db_i64(id, pm->id), db_i64(cap, amount), db_i64(now, now_us()) };
    ledger_leg legs[] = { { "provider_clearing", 0, -amount }, { "buyer", pm->payer_id, amount } };
    snprintf(ref, sizeof ref, "deposit:%lld", (long long)pm->id);
    rc = update_payment(c, &t, "payment_captured", 3, p, &pm);
    if (rc == 0)
        rc = ledger_write(t.conn, "deposit", ref, pm->lot_id, pm->id, cur, legs, 2);
    if (rc == 0)
        rc = payment_publish(t.conn, "payment.captured", pm);
    if (rc != 0)
        return card_fail_db(c, &t, rc < 0 ? rc : DB_E_CHECK);
    Gavel__Payments__V1__CaptureResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__capture_response__descriptor);
    resp->payment = pm;
    if ((rc = card_commit(c, &t, &resp->base)) != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int pay_void(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__VoidRequest *req = (const void *)in;
    int rc = check_prose(c, "reason", req->reason, 0, 500);
    if (rc != GRPC_STATUS_OK)
        return rc;
    card_tx t = { 0 };
    Gavel__Payments__V1__Payment *pm = NULL;
    rc = card_begin_on_payment(c, &t, "Void", req->idempotency_key, in,
                          &gavel__payments__v1__void_response__descriptor, req->payment_id, &pm,
                          out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    if (pm->state != ST_AUTHORIZED)
        return card_refuse_state(c, &t, pm, "voided");
    char pkey[64];
    snprintf(pkey, sizeof pkey, "pay-%lld-cancel", (long long)pm->id);
    prov_intent intent = { 0 };
    prov_error pe = { 0 };
    prov_status st = provider_cancel(pay.prov, pkey, pm->provider_reference, &intent, &pe);
    if (st != PROV_OK) {
        card_abort(&t);
        return pay_fail_provider(c, st, &pe, "cancellation");
    }
    char id[24], state[24], now[24];
    const char *p[] = { db_i64(id, pm->id), db_i64(state, ST_VOIDED), req->reason,
                        db_i64(now, now_us()) };
    rc = update_payment(c, &t, "payment_state", 4, p, &pm);
    if (rc == 0)
        rc = payment_publish(t.conn, "payment.voided", pm);
    if (rc != 0)
        return card_fail_db(c, &t, rc);
    Gavel__Payments__V1__VoidResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__void_response__descriptor);
    resp->payment = pm;
    if ((rc = card_commit(c, &t, &resp->base)) != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
