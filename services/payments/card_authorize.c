/*
 * Authorize: holds an amount on the payer's card through the provider
 * (manual capture). A bidder pays for themselves: for a lot, only as its
 * winner (known from the auction.closed this service settled); with lot 0
 * the payment is a wallet top-up that Capture deposits. Staff may name any
 * payer. The provider's key is derived from the caller and their key, so a
 * retry after an unknown outcome finds the first hold instead of making a
 * second one; a decline is an OK call returning a FAILED payment.
 */
#include <stdio.h>
#include <string.h>

#include "card_tx.h"

/* NOT_FOUND or FAILED_PRECONDITION unless payer may pay for lot (0: none). */
static int lot_payable(rpc_call *c, db_conn *conn, int64_t lot_id, int64_t payer)
{
    if (lot_id == 0)
        return GRPC_STATUS_OK;
    char lot[24];
    const char *p[] = { db_i64(lot, lot_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "settlement_winner", 1, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    int64_t winner = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : -1;
    PQclear(r);
    if (winner < 0)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "lot %lld has not closed (or does not exist)",
                        (long long)lot_id);
    if (!rpc_has_role(c, RPC_STAFF) && winner != payer)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "lot %lld was not won by user %lld", (long long)lot_id,
                        (long long)payer);
    return GRPC_STATUS_OK;
}

static int authorize_checks(rpc_call *c, const Gavel__Payments__V1__AuthorizeRequest *req,
                            const char **cur)
{
    if (req->lot_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must not be negative");
    int rc = check_money(c, "amount", req->amount,
                         &(check_money_rule){ .min_units = 1, .currencies = pay.currencies }, cur);
    if (rc == GRPC_STATUS_OK)
        rc = check_text(c, "payment_method_token", req->payment_method_token, 1, 256);
    if (rc == GRPC_STATUS_OK)
        rc = check_text(c, "description", req->description, 0, 200);
    return rc;
}

/* The payment row for the provider's answer, written once with its final
 * state (AUTHORIZED or FAILED) in t's transaction, and its event. */
static int authorize_record(rpc_call *c, card_tx *t, const Gavel__Payments__V1__AuthorizeRequest *req,
                            int64_t payer, const char *cur, prov_status st, const prov_intent *in,
                            const prov_error *pe, Gavel__Payments__V1__Payment **out)
{
    bool ok = st == PROV_OK;
    char reason[360] = "";
    if (!ok)
        snprintf(reason, sizeof reason, "%s: %s", pe->code[0] ? pe->code : prov_status_name(st),
                 pe->message);
    char lot[24], who[24], amount[24], now[24], state[24], at[24], exp[24];
    int64_t t_us = now_us();
    const char *p[] = {
        db_i64(lot, req->lot_id), db_i64(who, payer), cur, db_i64(amount, req->amount->units),
        req->idempotency_key, idem_caller(c), db_i64(now, t_us), pay.provider_name,
        db_i64(state, ok ? GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_AUTHORIZED
                         : GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_FAILED),
        ok ? in->id : "", reason, db_i64(at, ok ? t_us : 0),
        db_i64(exp, ok ? in->expires_at_s * 1000000 : 0),
    };
    int rc = 0;
    PGresult *r = db_exec(t->conn, "payment_insert_card", 13, p, &rc);
    if (r == NULL)
        return rc;
    *out = payment_from_row(rpc_arena(c), r, 0);
    PQclear(r);
    return payment_publish(t->conn, ok ? "payment.authorized" : "payment.failed", *out);
}

int pay_authorize(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__AuthorizeRequest *req = (const void *)in;
    const char *cur = NULL;
    int64_t payer = 0;
    int rc = authorize_checks(c, req, &cur);
    if (rc == GRPC_STATUS_OK)
        rc = rpc_resolve_user(c, req->payer_id, RPC_STAFF, "payments", &payer);
    if (rc != GRPC_STATUS_OK)
        return rc;
    Gavel__Payments__V1__AuthorizeRequest norm = *req;
    norm.payer_id = payer;
    card_tx t = { 0 };
    ProtobufCMessage *replay = NULL;
    rc = card_begin(c, &t, "Authorize", req->idempotency_key, &norm.base,
                    &gavel__payments__v1__authorize_response__descriptor, &replay);
    if (rc != GRPC_STATUS_OK || replay != NULL) {
        *out = replay;
        return rc;
    }
    if ((rc = lot_payable(c, t.conn, req->lot_id, payer)) != GRPC_STATUS_OK) {
        card_abort(&t);
        return rc;
    }
    if (pause_left_us() > 0) {
        card_abort(&t);
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the card provider asked us to back off; retry in %lld s with the same "
                        "idempotency_key", (long long)(pause_left_us() / 1000000 + 1));
    }
    char text[300], hash[IDEM_HASH_HEX], pkey[80];
    int n = snprintf(text, sizeof text, "%s\n%s", idem_caller(c), req->idempotency_key);
    idem_hash(text, (size_t)n, hash);
    snprintf(pkey, sizeof pkey, "auth-%s", hash);
    prov_intent intent = { 0 };
    prov_error pe = { 0 };
    prov_status st = provider_authorize(pay.prov, pkey, req->amount->units, cur,
                                        req->payment_method_token, req->description, &intent, &pe);
    if (st != PROV_OK && st != PROV_DECLINED && st != PROV_REJECTED) {
        card_abort(&t);
        return pay_fail_provider(c, st, &pe, "authorization");
    }
    Gavel__Payments__V1__AuthorizeResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__authorize_response__descriptor);
    if ((rc = authorize_record(c, &t, req, payer, cur, st, &intent, &pe, &resp->payment)) != 0)
        return card_fail_db(c, &t, rc);
    if ((rc = card_commit(c, &t, &resp->base)) != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
