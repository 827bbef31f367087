/*
 * A payments row (PAY_COLS) as the proto's Payment, and the outbox event
 * that announces a payment's new state. net_payout is derived, never
 * stored: captured - refunded - fees for a payment with a payee, else 0.
 */
#include <string.h>

#include "payments.h"

Gavel__Payments__V1__Payment *payment_from_row(arena *a, const PGresult *r, int row)
{
    Gavel__Payments__V1__Payment *p = arena_calloc(a, 1, sizeof *p);
    gavel__payments__v1__payment__init(p);
    const char *cur = db_get_str(r, row, 4);
    p->id = db_get_i64(r, row, 0);
    p->lot_id = db_get_i64(r, row, 1);
    p->payer_id = db_get_i64(r, row, 2);
    p->payee_id = db_get_i64(r, row, 3);
    p->amount = check_money_new(a, cur, db_get_i64(r, row, 5));
    p->captured = check_money_new(a, cur, db_get_i64(r, row, 6));
    p->refunded = check_money_new(a, cur, db_get_i64(r, row, 7));
    p->fees = check_money_new(a, cur, db_get_i64(r, row, 8));
    int64_t net = p->captured->units - p->refunded->units - p->fees->units;
    p->net_payout = check_money_new(a, cur, p->payee_id > 0 && net > 0 ? net : 0);
    p->state = (Gavel__Payments__V1__PaymentState)db_get_i64(r, row, 9);
    p->provider = arena_strdup(a, db_get_str(r, row, 10));
    p->provider_reference = arena_strdup(a, db_get_str(r, row, 11));
    p->idempotency_key = arena_strdup(a, db_get_str(r, row, 12));
    p->wallet_hold_id = db_get_i64(r, row, 13);
    p->failure_reason = arena_strdup(a, db_get_str(r, row, 14));
    p->created_at_us = db_get_i64(r, row, 15);
    p->updated_at_us = db_get_i64(r, row, 16);
    p->authorized_at_us = db_get_i64(r, row, 17);
    p->captured_at_us = db_get_i64(r, row, 18);
    p->authorization_expires_at_us = db_get_i64(r, row, 19);
    return p;
}

int payment_publish(db_conn *conn, const char *type, const Gavel__Payments__V1__Payment *p)
{
    char key[24];
    db_i64(key, p->lot_id > 0 ? p->lot_id : p->payer_id);
    if (strcmp(type, "payment.authorized") == 0) {
        Gavel__Events__V1__PaymentAuthorized e = GAVEL__EVENTS__V1__PAYMENT_AUTHORIZED__INIT;
        e.payment_id = p->id;
        e.lot_id = p->lot_id;
        e.payer_id = p->payer_id;
        e.payee_id = p->payee_id;
        e.amount = p->amount;
        e.provider_reference = p->provider_reference;
        e.authorized_at_us = p->authorized_at_us;
        return ev_outbox_add(conn, PAY_TOPIC, type, key, &e.base, NULL);
    }
    if (strcmp(type, "payment.captured") == 0) {
        Gavel__Events__V1__PaymentCaptured e = GAVEL__EVENTS__V1__PAYMENT_CAPTURED__INIT;
        e.payment_id = p->id;
        e.lot_id = p->lot_id;
        e.payer_id = p->payer_id;
        e.payee_id = p->payee_id;
        e.captured = p->captured;
        e.fees = p->fees;
        e.net_payout = p->net_payout;
        e.captured_at_us = p->captured_at_us;
        return ev_outbox_add(conn, PAY_TOPIC, type, key, &e.base, NULL);
    }
    if (strcmp(type, "payment.voided") == 0) {
        Gavel__Events__V1__PaymentVoided e = GAVEL__EVENTS__V1__PAYMENT_VOIDED__INIT;
        e.payment_id = p->id;
        e.lot_id = p->lot_id;
        e.payer_id = p->payer_id;
        e.released = p->amount;
        e.reason = p->failure_reason;
        return ev_outbox_add(conn, PAY_TOPIC, type, key, &e.base, NULL);
    }
    Gavel__Events__V1__PaymentFailed e = GAVEL__EVENTS__V1__PAYMENT_FAILED__INIT;
    e.payment_id = p->id;
    e.lot_id = p->lot_id;
    e.payer_id = p->payer_id;
    e.amount = p->amount;
    e.failure_reason = p->failure_reason;
    return ev_outbox_add(conn, PAY_TOPIC, "payment.failed", key, &e.base, NULL);
}

int payment_update(db_conn *conn, arena *a, const char *stmt, int n, const char *const *p,
                   Gavel__Payments__V1__Payment **pm)
{
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, n, p, &rc);
    if (r == NULL)
        return rc;
    *pm = payment_from_row(a, r, 0);
    PQclear(r);
    return 0;
}
