/*
 * gavel.users.v1.Wallet handlers. Every changing call follows one path
 * (money_run): validate, normalise the request (so "me" and an explicit id
 * hash alike), then in one transaction claim the idempotency key (libs/idem,
 * scoped by method and caller), apply the change through ledger.c, build
 * the answer and store it under the key. The caller sees OK only after
 * COMMIT.
 */
#include <string.h>

#include "users.h"

/* One money call in flight; lives on the handler's stack. */
typedef struct {
    rpc_call *c;
    const char *method;
    const char *key;
    const ProtobufCMessage *normalized;
    const ProtobufCMessageDescriptor *resp_desc;
    idem_key idem;                  /* set by money_run from the four above */
    ledger_change change;
    ProtobufCMessage *(*answer)(rpc_call *c, const ledger_change *ch);
    ProtobufCMessage *resp;
    int status;
} money_call;

static int money_body(db_conn *conn, void *arg)
{
    money_call *m = arg;
    idem_state st = IDEM_NEW;
    ProtobufCMessage *stored = NULL;
    int rc = idem_claim(m->c, conn, &m->idem, &st, &stored);
    if (rc < 0)
        return rc;
    if (st == IDEM_REPLAY) {
        m->resp = stored;
        return 0;
    }
    if (st == IDEM_CONFLICT) {
        m->status = rpc_fail(m->c, GRPC_STATUS_FAILED_PRECONDITION,
                             "idempotency_key %s was already used for a different request",
                             m->key);
        return DB_E_ABORT;
    }
    ledger_change ch = m->change; /* a retried transaction starts afresh */
    rc = ledger_apply(m->c, conn, &ch);
    if (rc > 0) {
        m->status = rc;
        return DB_E_ABORT;
    }
    if (rc < 0)
        return rc;
    m->resp = m->answer(m->c, &ch);
    return idem_store(m->c, conn, &m->idem, m->resp);
}

static int money_run(money_call *m, ProtobufCMessage **out)
{
    m->status = GRPC_STATUS_OK;
    m->idem = (idem_key){ .scope = m->method, .key = m->key, .resp_desc = m->resp_desc };
    idem_request_hash(m->normalized, m->idem.hash);
    int rc = db_tx(users.db, DB_READ_COMMITTED, money_body, m);
    if (rc == DB_E_ABORT)
        return m->status;
    if (rc < 0)
        return check_fail_db(m->c, rc);
    ev_relay_kick(users.relay);
    *out = m->resp;
    return GRPC_STATUS_OK;
}

static ProtobufCMessage *deposit_answer(rpc_call *c, const ledger_change *ch)
{
    Gavel__Users__V1__DepositResponse *r =
        (void *)rpc_new(c, &gavel__users__v1__deposit_response__descriptor);
    r->balance = balance_new(c, ch->user_id, ch->currency, ch->total, ch->reserved);
    r->ledger_tx_id = ch->tx_id;
    return &r->base;
}

static ProtobufCMessage *withdraw_answer(rpc_call *c, const ledger_change *ch)
{
    Gavel__Users__V1__WithdrawResponse *r =
        (void *)rpc_new(c, &gavel__users__v1__withdraw_response__descriptor);
    r->balance = balance_new(c, ch->user_id, ch->currency, ch->total, ch->reserved);
    r->ledger_tx_id = ch->tx_id;
    return &r->base;
}

/* Deposit and Withdraw: the same fields (key, user, amount, reference)
 * and checks, money in or out of the available balance. */
typedef struct {
    const char *key;
    int64_t user_id;
    const Gavel__Common__V1__Money *amount;
    const char *reference;
} money_move;

static int wallet_move(money_call *m, const money_move *mv, ProtobufCMessage **out)
{
    const char *cur = NULL;
    int rc;
    if ((rc = check_idempotency_key(m->c, mv->key)) != 0 ||
        (rc = wallet_check_amount(m->c, "amount", mv->amount, &cur)) != 0 ||
        (rc = check_text(m->c, "reference", mv->reference, 0, 200)) != 0)
        return rc;
    if (mv->user_id <= 0)
        return rpc_fail(m->c, GRPC_STATUS_INVALID_ARGUMENT, "user_id must be a positive id");
    m->key = mv->key;
    m->change = (ledger_change){ .kind = m->change.kind, .user_id = mv->user_id,
                                 .currency = cur, .amount = mv->amount->units,
                                 .reference = mv->reference };
    return money_run(m, out);
}

static int wallet_deposit(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__DepositRequest *req = (const void *)in;
    money_call m = { .c = c, .method = "Deposit", .normalized = in,
                     .resp_desc = &gavel__users__v1__deposit_response__descriptor,
                     .answer = deposit_answer, .change = { .kind = "deposit" } };
    money_move mv = { req->idempotency_key, req->user_id, req->amount, req->reference };
    return wallet_move(&m, &mv, out);
}

/* Takes money out of the available balance only (wallet_withdraw's WHERE
 * clause); a refusal changes nothing and leaves the key free. */
static int wallet_withdraw(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__WithdrawRequest *req = (const void *)in;
    money_call m = { .c = c, .method = "Withdraw", .normalized = in,
                     .resp_desc = &gavel__users__v1__withdraw_response__descriptor,
                     .answer = withdraw_answer, .change = { .kind = "withdraw" } };
    money_move mv = { req->idempotency_key, req->user_id, req->amount, req->reference };
    return wallet_move(&m, &mv, out);
}

ProtobufCMessage *wallet_reserve_answer(rpc_call *c, const ledger_change *ch)
{
    Gavel__Users__V1__ReserveFundsResponse *r =
        (void *)rpc_new(c, &gavel__users__v1__reserve_funds_response__descriptor);
    r->hold_id = ch->hold_id;
    r->balance = balance_new(c, ch->user_id, ch->currency, ch->total, ch->reserved);
    return &r->base;
}

static int wallet_reserve(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ReserveFundsRequest *req = (const void *)in;
    const char *cur = NULL;
    int64_t user = 0;
    int rc;
    if ((rc = check_idempotency_key(c, req->idempotency_key)) != 0 ||
        (rc = wallet_check_amount(c, "amount", req->amount, &cur)) != 0)
        return rc;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    if ((rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "account", &user)) != 0)
        return rc;
    Gavel__Users__V1__ReserveFundsRequest norm = *req;
    norm.user_id = user;
    money_call m = {
        .c = c, .method = "ReserveFunds", .key = req->idempotency_key, .normalized = &norm.base,
        .resp_desc = &gavel__users__v1__reserve_funds_response__descriptor,
        .answer = wallet_reserve_answer,
        .change = { .kind = "reserve", .user_id = user, .currency = cur,
                    .amount = req->amount->units, .lot_id = req->lot_id },
    };
    return money_run(&m, out);
}

ProtobufCMessage *wallet_release_answer(rpc_call *c, const ledger_change *ch)
{
    Gavel__Users__V1__ReleaseFundsResponse *r =
        (void *)rpc_new(c, &gavel__users__v1__release_funds_response__descriptor);
    r->balance = balance_new(c, ch->user_id, ch->currency, ch->total, ch->reserved);
    r->released = check_money_new(rpc_arena(c), ch->currency, ch->released);
    return &r->base;
}

static int wallet_release(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ReleaseFundsRequest *req = (const void *)in;
    int rc = check_idempotency_key(c, req->idempotency_key);
    if (rc != 0)
        return rc;
    if (req->hold_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "hold_id must be a positive id");
    money_call m = {
        .c = c, .method = "ReleaseFunds", .key = req->idempotency_key, .normalized = in,
        .resp_desc = &gavel__users__v1__release_funds_response__descriptor,
        .answer = wallet_release_answer,
        .change = { .kind = "release", .hold_id = req->hold_id },
    };
    return money_run(&m, out);
}

static ProtobufCMessage *capture_answer(rpc_call *c, const ledger_change *ch)
{
    Gavel__Users__V1__CaptureFundsResponse *r =
        (void *)rpc_new(c, &gavel__users__v1__capture_funds_response__descriptor);
    r->balance = balance_new(c, ch->user_id, ch->currency, ch->total, ch->reserved);
    r->captured = check_money_new(rpc_arena(c), ch->currency, ch->amount);
    r->released = check_money_new(rpc_arena(c), ch->currency, ch->released);
    return &r->base;
}

static int wallet_capture(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__CaptureFundsRequest *req = (const void *)in;
    const char *cur = NULL;
    int rc;
    if ((rc = check_idempotency_key(c, req->idempotency_key)) != 0 ||
        (rc = wallet_check_amount(c, "amount", req->amount, &cur)) != 0)
        return rc;
    if (req->hold_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "hold_id must be a positive id");
    money_call m = {
        .c = c, .method = "CaptureFunds", .key = req->idempotency_key, .normalized = in,
        .resp_desc = &gavel__users__v1__capture_funds_response__descriptor,
        .answer = capture_answer,
        .change = { .kind = "capture", .hold_id = req->hold_id, .currency = cur,
                    .amount = req->amount->units },
    };
    return money_run(&m, out);
}

static int wallet_get_balance(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__GetBalanceRequest *req = (const void *)in;
    const char *cur = req->currency[0] != '\0' ? req->currency : users.currency;
    int64_t user = 0;
    int rc;
    if (!check_currency_in_list(cur, users.currencies))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "currency must be one of %s",
                        users.currencies);
    if ((rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "account", &user)) != 0)
        return rc;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24];
    const char *p[] = { db_i64(uid, user), cur };
    PGresult *r = db_exec(conn, "wallet_get", 2, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    int64_t total = PQntuples(r) == 1 ? db_get_i64(r, 0, 0) : 0;
    int64_t reserved = PQntuples(r) == 1 ? db_get_i64(r, 0, 1) : 0;
    PQclear(r);
    Gavel__Users__V1__GetBalanceResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__get_balance_response__descriptor);
    resp->balance = balance_new(c, user, cur, total, reserved);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

static int wallet_get_hold(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__GetHoldRequest *req = (const void *)in;
    if (req->hold_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "hold_id must be a positive id");
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char hid[24];
    const char *p[] = { db_i64(hid, req->hold_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "hold_get", 1, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    /* Another user's hold reads exactly as a missing one, so ids cannot be
     * probed for holds that exist. */
    if (PQntuples(r) != 1 || (!rpc_has_role(c, RPC_STAFF) &&
                              db_get_i64(r, 0, 0) != rpc_caller(c)->user_id)) {
        PQclear(r);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "hold %lld not found",
                        (long long)req->hold_id);
    }
    Gavel__Users__V1__Hold *h = (void *)rpc_new(c, &gavel__users__v1__hold__descriptor);
    h->hold_id = req->hold_id;
    h->user_id = db_get_i64(r, 0, 0);
    h->lot_id = db_get_i64(r, 0, 2);
    h->amount = check_money_new(rpc_arena(c), db_get_str(r, 0, 1), db_get_i64(r, 0, 3));
    h->state = rpc_strdup(c, db_get_str(r, 0, 4));
    h->created_at_us = db_get_i64(r, 0, 6);
    PQclear(r);
    Gavel__Users__V1__GetHoldResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__get_hold_response__descriptor);
    resp->hold = h;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

/* Which holds a ListHolds asks for: *user is 0 for every user's holds on
 * the lots (staff only, lots required). Returns 0 or the failed status. */
static int list_holds_scope(rpc_call *c, const Gavel__Users__V1__ListHoldsRequest *req,
                            int64_t *user)
{
    *user = 0;
    if (req->n_lot_ids > 1000)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_ids must list at most 1000 lots");
    if (req->user_id == 0 && rpc_has_role(c, RPC_STAFF)) {
        if (req->n_lot_ids == 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot_ids must list 1 to 1000 lots when user_id is not set");
        return 0;
    }
    return rpc_resolve_user(c, req->user_id, RPC_STAFF, "account", user);
}

static int wallet_list_holds(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ListHoldsRequest *req = (const void *)in;
    const char *state = req->state[0] != '\0' ? req->state : "held";
    int64_t user = 0;
    int rc = list_holds_scope(c, req, &user);
    if (rc != 0)
        return rc;
    if (strcmp(state, "held") != 0 && strcmp(state, "released") != 0 &&
        strcmp(state, "captured") != 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "state must be held, released or captured");
    db_array lots;
    db_array_init(&lots);
    for (size_t i = 0; i < req->n_lot_ids; i++)
        db_array_i64(&lots, req->lot_ids[i]);
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL) {
        db_array_free(&lots);
        return check_fail_db(c, DB_E_TIMEOUT);
    }
    PGresult *r;
    if (user == 0) {
        const char *p[] = { db_array_str(&lots), state };
        r = db_exec(conn, "holds_by_lots", 2, p, &rc);
    } else {
        char uid[24];
        const char *p[] = { db_i64(uid, user), state,
                            req->n_lot_ids > 0 ? db_array_str(&lots) : NULL };
        r = db_exec(conn, "holds_by_user", 3, p, &rc);
    }
    db_pool_put(users.db, conn);
    db_array_free(&lots);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Users__V1__ListHoldsResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__list_holds_response__descriptor);
    resp->holds = rpc_alloc(c, sizeof *resp->holds * (size_t)(PQntuples(r) + 1));
    for (int i = 0; i < PQntuples(r); i++) {
        Gavel__Users__V1__Hold *h = (void *)rpc_new(c, &gavel__users__v1__hold__descriptor);
        h->hold_id = db_get_i64(r, i, 0);
        h->user_id = db_get_i64(r, i, 1);
        h->amount = check_money_new(rpc_arena(c), db_get_str(r, i, 2), db_get_i64(r, i, 4));
        h->lot_id = db_get_i64(r, i, 3);
        h->state = rpc_strdup(c, db_get_str(r, i, 5));
        h->created_at_us = db_get_i64(r, i, 6);
        resp->holds[resp->n_holds++] = h;
    }
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

#define W(name) "/gavel.users.v1.Wallet/" name
#define D(t) &gavel__users__v1__##t##__descriptor
/* A batch of 256 items, each with a key of up to 128 characters. */
#define BATCH_MAX_REQUEST (256 * 1024)

const rpc_method wallet_methods[] = {
    { W("Deposit"), D(deposit_request), D(deposit_response), wallet_deposit, RPC_STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("Withdraw"), D(withdraw_request), D(withdraw_response), wallet_withdraw, RPC_STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("GetBalance"), D(get_balance_request), D(get_balance_response), wallet_get_balance,
      RPC_ANY_USER, RPC_IDEMPOTENT, 2000, RPC_CLASS_NORMAL, 0 },
    { W("ReserveFunds"), D(reserve_funds_request), D(reserve_funds_response), wallet_reserve,
      RPC_ROLE_BIDDER | RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("ReleaseFunds"), D(release_funds_request), D(release_funds_response), wallet_release,
      RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("CaptureFunds"), D(capture_funds_request), D(capture_funds_response), wallet_capture,
      RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("GetHold"), D(get_hold_request), D(get_hold_response), wallet_get_hold, RPC_ANY_USER,
      RPC_IDEMPOTENT, 2000, RPC_CLASS_NORMAL, 0 },
    { W("ListHolds"), D(list_holds_request), D(list_holds_response), wallet_list_holds,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("ListLedger"), D(list_ledger_request), D(list_ledger_response), wallet_list_ledger,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { W("ReserveFundsBatch"), D(reserve_funds_batch_request), D(reserve_funds_batch_response),
      wallet_reserve_batch, RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, BATCH_MAX_REQUEST },
    { W("ReleaseFundsBatch"), D(release_funds_batch_request), D(release_funds_batch_response),
      wallet_release_batch, RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, BATCH_MAX_REQUEST },
    { 0 },
};
