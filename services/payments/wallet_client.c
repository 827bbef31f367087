/*
 * Calls into the users Wallet with this daemon's service identity. Every
 * changing call carries a key the caller derived from what it records (a
 * lot, a payment), so repeating a call after a crash or a lost answer
 * gets the wallet's first answer and moves no money twice: the wallet
 * keeps the keys of its caller ("payments") for that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments.h"
#include "gavel/users/v1/users.pb-c.h"

#define W(m, req, resp)                                                                  \
    { "/gavel.users.v1.Wallet/" m, &gavel__users__v1__wallet__descriptor,                \
      &gavel__users__v1__##req##__descriptor, &gavel__users__v1__##resp##__descriptor }
static const rpc_client_method wallet_capture_funds =
    W("CaptureFunds", capture_funds_request, capture_funds_response);
static const rpc_client_method wallet_release_funds =
    W("ReleaseFunds", release_funds_request, release_funds_response);
static const rpc_client_method wallet_list_holds =
    W("ListHolds", list_holds_request, list_holds_response);
static const rpc_client_method wallet_deposit_funds =
    W("Deposit", deposit_request, deposit_response);
static const rpc_client_method wallet_withdraw_funds =
    W("Withdraw", withdraw_request, withdraw_response);

const rpc_client_method *const pay_calls[] = {
    &wallet_capture_funds, &wallet_release_funds, &wallet_list_holds, &wallet_deposit_funds,
    &wallet_withdraw_funds, &auctions_quote_services, NULL
};

#define WALLET_DEADLINE_MS 10000

grpc_status_code pay_service_call(const char *addr, const rpc_client_method *m,
                                  const ProtobufCMessage *req, ProtobufCMessage **resp,
                                  int deadline_ms, char *err, size_t errlen)
{
    char *token = rpc_service_token();
    if (token == NULL) {
        snprintf(err, errlen, "no service token (GAVEL_SERVICE_KEY)");
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    rpc_call_opts o = { .token = token, .deadline_ms = deadline_ms, .idempotent = true };
    grpc_status_code st = rpc_unary(rpc_channel_get(addr), m, req, resp, &o, err, errlen);
    free(token);
    return st;
}

/* One Wallet call; *resp as rpc_unary. */
static grpc_status_code call(const rpc_client_method *m, const ProtobufCMessage *req,
                             ProtobufCMessage **resp, char *err, size_t errlen)
{
    return pay_service_call(pay.users_addr, m, req, resp, WALLET_DEADLINE_MS, err, errlen);
}

grpc_status_code wallet_capture(const char *key, int64_t hold_id, const char *currency,
                                int64_t amount, int64_t *captured, char *err, size_t errlen)
{
    Gavel__Common__V1__Money m = GAVEL__COMMON__V1__MONEY__INIT;
    m.currency = (char *)currency;
    m.units = amount;
    Gavel__Users__V1__CaptureFundsRequest q = GAVEL__USERS__V1__CAPTURE_FUNDS_REQUEST__INIT;
    q.idempotency_key = (char *)key;
    q.hold_id = hold_id;
    q.amount = &m;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = call(&wallet_capture_funds, &q.base, &resp, err, errlen);
    if (st == GRPC_STATUS_OK) {
        const Gavel__Users__V1__CaptureFundsResponse *r = (const void *)resp;
        *captured = r->captured != NULL ? r->captured->units : 0;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return st;
}

grpc_status_code wallet_release(const char *key, int64_t hold_id, char *err, size_t errlen)
{
    Gavel__Users__V1__ReleaseFundsRequest q = GAVEL__USERS__V1__RELEASE_FUNDS_REQUEST__INIT;
    q.idempotency_key = (char *)key;
    q.hold_id = hold_id;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = call(&wallet_release_funds, &q.base, &resp, err, errlen);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

grpc_status_code wallet_held_on_lot(int64_t lot_id, int64_t **ids, size_t *n, char *err,
                                    size_t errlen)
{
    Gavel__Users__V1__ListHoldsRequest q = GAVEL__USERS__V1__LIST_HOLDS_REQUEST__INIT;
    q.n_lot_ids = 1;
    q.lot_ids = &lot_id;
    q.state = "held";
    ProtobufCMessage *resp = NULL;
    *ids = NULL;
    *n = 0;
    grpc_status_code st = call(&wallet_list_holds, &q.base, &resp, err, errlen);
    if (st != GRPC_STATUS_OK)
        return st;
    const Gavel__Users__V1__ListHoldsResponse *r = (const void *)resp;
    if (r->n_holds > 0) {
        *ids = xmalloc(r->n_holds * sizeof **ids);
        for (size_t i = 0; i < r->n_holds; i++)
            if (r->holds[i]->lot_id == lot_id && strcmp(r->holds[i]->state, "held") == 0)
                (*ids)[(*n)++] = r->holds[i]->hold_id;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

grpc_status_code wallet_deposit(const char *key, int64_t user_id, const char *currency,
                                int64_t amount, const char *reference, char *err,
                                size_t errlen)
{
    Gavel__Common__V1__Money m = GAVEL__COMMON__V1__MONEY__INIT;
    m.currency = (char *)currency;
    m.units = amount;
    Gavel__Users__V1__DepositRequest q = GAVEL__USERS__V1__DEPOSIT_REQUEST__INIT;
    q.idempotency_key = (char *)key;
    q.user_id = user_id;
    q.amount = &m;
    q.reference = (char *)reference;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = call(&wallet_deposit_funds, &q.base, &resp, err, errlen);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

grpc_status_code wallet_withdraw(const char *key, int64_t user_id, const char *currency,
                                 int64_t amount, const char *reference, char *err,
                                 size_t errlen)
{
    Gavel__Common__V1__Money m = GAVEL__COMMON__V1__MONEY__INIT;
    m.currency = (char *)currency;
    m.units = amount;
    Gavel__Users__V1__WithdrawRequest q = GAVEL__USERS__V1__WITHDRAW_REQUEST__INIT;
    q.idempotency_key = (char *)key;
    q.user_id = user_id;
    q.amount = &m;
    q.reference = (char *)reference;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = call(&wallet_withdraw_funds, &q.base, &resp, err, errlen);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}
