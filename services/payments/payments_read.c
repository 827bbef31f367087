/*
 * GetPayment and ListPayments. A bidder or seller sees only the payments
 * they pay or are paid by, whatever they ask (another's payment is
 * NOT_FOUND, so ids reveal nothing); admins and services see all.
 * Pages are newest first, the token the last id of the previous page.
 */
#include <stdlib.h>

#include "payments.h"

/* The caller's own id when it may see only its own payments, else 0. */
static int64_t only_own(const rpc_call *c)
{
    return rpc_has_role(c, RPC_STAFF) ? 0 : rpc_caller(c)->user_id;
}

int pay_get_payment(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__GetPaymentRequest *req = (const void *)in;
    if (req->payment_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "payment_id must be a positive id");
    db_conn *conn = db_pool_get(pay.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char id[24];
    const char *p[] = { db_i64(id, req->payment_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "payment_get", 1, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Payments__V1__Payment *pm = PQntuples(r) > 0 ? payment_from_row(rpc_arena(c), r, 0)
                                                         : NULL;
    PQclear(r);
    int64_t own = only_own(c);
    if (pm == NULL || (own != 0 && pm->payer_id != own && pm->payee_id != own))
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "payment %lld not found",
                        (long long)req->payment_id);
    Gavel__Payments__V1__GetPaymentResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__get_payment_response__descriptor);
    resp->payment = pm;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

static int page_read(rpc_call *c, const Gavel__Common__V1__PageRequest *pg, int *size,
                     int64_t *after)
{
    int n = pg != NULL ? pg->page_size : 0;
    const char *tok = pg != NULL ? pg->page_token : "";
    if (n < 0 || n > 200)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to 200");
    *size = n == 0 ? 50 : n;
    *after = 0;
    if (tok[0] == '\0')
        return GRPC_STATUS_OK;
    char *end = NULL;
    long long v = strtoll(tok, &end, 10);
    if (end == tok || *end != '\0' || v <= 0 || tok[0] < '0' || tok[0] > '9')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    *after = v;
    return GRPC_STATUS_OK;
}

int pay_list_payments(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__ListPaymentsRequest *req = (const void *)in;
    int size = 0;
    int64_t after = 0;
    int rc = page_read(c, req->page, &size, &after);
    if (rc != GRPC_STATUS_OK)
        return rc;
    if (req->lot_id < 0 || req->payer_id < 0 || req->payee_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "ids must not be negative");
    if (req->state < 0 || req->state > GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_EXPIRED)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "state %d is not a PaymentState",
                        (int)req->state);
    if (req->created_from_us < 0 || req->created_to_us < 0 ||
        (req->created_to_us > 0 && req->created_to_us <= req->created_from_us))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "created_to_us must be after created_from_us (both ≥ 0; 0 = no bound)");
    db_conn *conn = db_pool_get(pay.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char lot[24], payer[24], payee[24], st[24], from[24], to[24], af[24], lim[24], own[24];
    const char *p[] = { db_i64(lot, req->lot_id), db_i64(payer, req->payer_id),
                        db_i64(payee, req->payee_id), db_i64(st, req->state),
                        db_i64(from, req->created_from_us), db_i64(to, req->created_to_us),
                        db_i64(af, after), db_i64(lim, size + 1), db_i64(own, only_own(c)) };
    PGresult *r = db_exec(conn, "payment_list", 9, p, &rc);
    db_pool_put(pay.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Payments__V1__ListPaymentsResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__list_payments_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->payments = rpc_alloc(c, sizeof *resp->payments * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->payments[resp->n_payments++] = payment_from_row(rpc_arena(c), r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld", (long long)db_get_i64(r, n - 1, 0));
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
