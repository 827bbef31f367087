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
 *   Refund   the money leaves the payer's wallet first (a hold on the
 *            payment's lot captured whole), then the provider refund, then
 *            the ledger txn "refund:<refund id>" (buyer -amount, provider
 *            clearing +amount).
 * Settlement payments (provider "wallet") are the settlement's and refused
 * here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "card_tx.h"

#define ST_AUTHORIZED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_AUTHORIZED
#define ST_CAPTURED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_CAPTURED
#define ST_PARTIAL GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_PARTIALLY_REFUNDED
#define ST_VOIDED GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_VOIDED

/* Opens the call's transaction and locks the card payment `id`. OK with
 * *pm set and the transaction open; OK with *replay set (closed); or the
 * failure, recorded. */
static int begin_on_payment(rpc_call *c, card_tx *t, const char *scope, const char *key,
                            const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                            int64_t id, Gavel__Payments__V1__Payment **pm,
                            ProtobufCMessage **replay)
{
    if (id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "payment_id must be a positive id");
    int rc = card_begin(c, t, scope, key, req, rd, replay);
    if (rc != GRPC_STATUS_OK || *replay != NULL)
        return rc;
    char pid[24];
    const char *p[] = { db_i64(pid, id) };
    PGresult *r = db_exec(t->conn, "payment_lock", 1, p, &rc);
    if (r == NULL)
        return card_fail_db(c, t, rc);
    *pm = PQntuples(r) > 0 ? payment_from_row(rpc_arena(c), r, 0) : NULL;
    PQclear(r);
    bool is_staff = rpc_has_role(c, RPC_STAFF);
    if (*pm == NULL || (!is_staff && (*pm)->payer_id != rpc_caller(c)->user_id)) {
        card_abort(t);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "payment %lld not found", (long long)id);
    }
    if (!is_staff && (*pm)->lot_id != 0) {
        card_abort(t);
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                        "payment %lld pays for lot %lld: staff handle lot payments; you may "
                        "capture only your own wallet top-ups", (long long)id,
                        (long long)(*pm)->lot_id);
    }
    if (strcmp((*pm)->provider, "wallet") == 0) {
        card_abort(t);
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "payment %lld settles lot %lld from the wallet; only card payments "
                        "take %s", (long long)id, (long long)(*pm)->lot_id, scope);
    }
    if (pause_left_us() > 0) {
        card_abort(t);
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the card provider asked us to back off; retry in %lld s with the same "
                        "idempotency_key", (long long)(pause_left_us() / 1000000 + 1));
    }
    return GRPC_STATUS_OK;
}

static int refuse_state(rpc_call *c, card_tx *t, const Gavel__Payments__V1__Payment *pm,
                        const char *what)
{
    card_abort(t);
    return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "payment %lld is %s: it cannot be %s",
                    (long long)pm->id,
                    protobuf_c_enum_descriptor_get_value(
                        &gavel__payments__v1__payment_state__descriptor, (int)pm->state)->name,
                    what);
}

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
    rc = begin_on_payment(c, &t, "Capture", req->idempotency_key, in,
                          &gavel__payments__v1__capture_response__descriptor, req->payment_id, &pm,
                          out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    if (pm->state != ST_AUTHORIZED)
        return refuse_state(c, &t, pm, "captured");
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
    rc = begin_on_payment(c, &t, "Void", req->idempotency_key, in,
                          &gavel__payments__v1__void_response__descriptor, req->payment_id, &pm,
                          out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    if (pm->state != ST_AUTHORIZED)
        return refuse_state(c, &t, pm, "voided");
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

/* The refund's rows in t's transaction: refund, payment, ledger, event. */
static int refund_record(rpc_call *c, card_tx *t, const Gavel__Payments__V1__RefundRequest *req,
                         const prov_transfer *tr, Gavel__Payments__V1__Payment **pm,
                         int64_t *refund_id)
{
    int64_t amount = req->amount->units;
    char id[24], amt[24], now[24], ref[48];
    const char *p[] = { db_i64(id, (*pm)->id), db_i64(amt, amount), req->reason, tr->id,
                        db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(t->conn, "refund_insert", 5, p, &rc);
    if (r == NULL)
        return rc;
    *refund_id = db_get_i64(r, 0, 0);
    PQclear(r);
    const char *q[] = { id, amt, now };
    if ((rc = update_payment(c, t, "payment_refunded", 3, q, pm)) != 0)
        return rc;
    ledger_leg legs[] = { { "buyer", (*pm)->payer_id, -amount }, { "provider_clearing", 0, amount } };
    snprintf(ref, sizeof ref, "refund:%lld", (long long)*refund_id);
    rc = ledger_write(t->conn, "refund", ref, (*pm)->lot_id, (*pm)->id, (*pm)->amount->currency,
                      legs, 2);
    if (rc != 0)
        return rc < 0 ? rc : DB_E_CHECK;
    Gavel__Events__V1__PaymentRefunded e = GAVEL__EVENTS__V1__PAYMENT_REFUNDED__INIT;
    e.payment_id = (*pm)->id;
    e.refund_id = *refund_id;
    e.lot_id = (*pm)->lot_id;
    e.payer_id = (*pm)->payer_id;
    e.amount = req->amount;
    e.total_refunded = (*pm)->refunded;
    e.reason = req->reason;
    e.refunded_at_us = (*pm)->updated_at_us;
    db_i64(id, (*pm)->lot_id > 0 ? (*pm)->lot_id : (*pm)->payer_id);
    return ev_outbox_add(t->conn, PAY_TOPIC, "payment.refunded", id, &e.base, NULL);
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
    rc = begin_on_payment(c, &t, "Refund", req->idempotency_key, in,
                          &gavel__payments__v1__refund_response__descriptor, req->payment_id, &pm,
                          out);
    if (rc != GRPC_STATUS_OK || *out != NULL)
        return rc;
    if (pm->state != ST_CAPTURED && pm->state != ST_PARTIAL)
        return refuse_state(c, &t, pm, "refunded");
    int64_t left = pm->captured->units - pm->refunded->units;
    if (strcmp(cur, pm->amount->currency) != 0 || req->amount->units > left) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "amount must be at most the %lld %s captured and not yet refunded",
                        (long long)left, pm->amount->currency);
    }
    if (pm->lot_id <= 0) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "payment %lld was deposited to the wallet without a lot: refunding it "
                        "needs a wallet withdrawal, which the wallet does not offer yet",
                        (long long)pm->id);
    }
    char text[300], hash[IDEM_HASH_HEX], key[112], err[256];
    int n = snprintf(text, sizeof text, "%s\n%s", idem_caller(c), req->idempotency_key);
    idem_hash(text, (size_t)n, hash);
    snprintf(key, sizeof key, "pay-%lld-refund-%.40s", (long long)pm->id, hash);
    grpc_status_code ws = wallet_withdraw(key, pm->payer_id, pm->lot_id, cur, req->amount->units,
                                          err, sizeof err);
    if (ws != GRPC_STATUS_OK) {
        card_abort(&t);
        return rpc_fail(c, ws == GRPC_STATUS_FAILED_PRECONDITION ? GRPC_STATUS_FAILED_PRECONDITION
                                                                  : GRPC_STATUS_UNAVAILABLE,
                        "the payer's wallet did not give the refund back: %s", err);
    }
    prov_transfer tr = { 0 };
    prov_error pe = { 0 };
    prov_status st = provider_refund(pay.prov, key, pm->provider_reference, req->amount->units,
                                     &tr, &pe);
    if (st != PROV_OK) {
        card_abort(&t);
        log_warn("payment %lld: refund taken from the wallet under %s but the provider "
                 "answered %s; a retry with the same key completes it",
                 (long long)pm->id, key, prov_status_name(st));
        return pay_fail_provider(c, st, &pe, "refund");
    }
    Gavel__Payments__V1__RefundResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__refund_response__descriptor);
    if ((rc = refund_record(c, &t, req, &tr, &pm, &resp->refund_id)) != 0)
        return card_fail_db(c, &t, rc);
    resp->payment = pm;
    if ((rc = card_commit(c, &t, &resp->base)) != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
