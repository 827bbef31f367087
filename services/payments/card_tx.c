/*
 * The transaction every changing card call runs in: BEGIN, claim the
 * caller's idempotency key (libs/idem), then the handler locks what it
 * changes, calls the provider and the wallet with keys derived from the
 * payment, records the outcome, stores its answer under the key and
 * COMMITs. The transaction stays open across the remote calls on purpose:
 * the key's row lock makes a concurrent retry with the same key wait for
 * the first answer instead of calling the provider beside it, and the
 * payment's row lock orders calls on one payment. A crash or an unknown
 * outcome rolls everything back; the retry repeats the remote calls with
 * the same derived keys, which the provider and the wallet answer with
 * their first outcome, so money moves once. Not db_tx: its body may run
 * twice and must not call out.
 */
#include <stdbool.h>
#include <string.h>

#include "card_tx.h"

int card_begin(rpc_call *c, card_tx *t, const char *scope, const char *key,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **replay)
{
    *replay = NULL;
    int rc = check_idempotency_key(c, key);
    if (rc != GRPC_STATUS_OK)
        return rc;
    t->key.scope = scope;
    t->key.key = key;
    t->key.resp_desc = resp_desc;
    idem_request_hash(req, t->key.hash);
    t->conn = db_pool_get(pay.db, rpc_time_left_ms(c));
    if (t->conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    int drc = db_command(t->conn, "BEGIN");
    idem_state st = IDEM_NEW;
    ProtobufCMessage *stored = NULL;
    if (drc == 0)
        drc = idem_claim(c, t->conn, &t->key, &st, &stored);
    if (drc != 0) {
        card_abort(t);
        return check_fail_db(c, drc);
    }
    if (st == IDEM_NEW)
        return GRPC_STATUS_OK;
    card_abort(t);
    if (st == IDEM_CONFLICT)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "idempotency_key %s was used for another %s request", key, scope);
    *replay = stored;
    return GRPC_STATUS_OK;
}

int card_commit(rpc_call *c, card_tx *t, const ProtobufCMessage *resp)
{
    int rc = idem_store(c, t->conn, &t->key, resp);
    if (rc == 0)
        rc = db_command(t->conn, "COMMIT");
    if (rc != 0) {
        card_abort(t);
        return check_fail_db(c, rc);
    }
    db_pool_put(pay.db, t->conn);
    t->conn = NULL;
    ev_relay_kick(pay.relay);
    return GRPC_STATUS_OK;
}

void card_abort(card_tx *t)
{
    if (t->conn == NULL)
        return;
    db_command(t->conn, "ROLLBACK");
    db_pool_put(pay.db, t->conn);
    t->conn = NULL;
}

int card_fail_db(rpc_call *c, card_tx *t, int rc)
{
    card_abort(t);
    return check_fail_db(c, rc);
}

int pay_fail_provider(rpc_call *c, prov_status st, const prov_error *e, const char *what)
{
    switch (st) {
    case PROV_BACKOFF:
        pause_provider(e->retry_after_s);
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the card provider asked us to back off for %d s; nothing was recorded, "
                        "retry with the same idempotency_key",
                        e->retry_after_s);
    case PROV_UNAVAILABLE:
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the card provider did not answer the %s (%s); nothing was recorded, "
                        "retry with the same idempotency_key",
                        what, e->message);
    case PROV_NOT_FOUND:
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "the card provider does not know the payment's %s: %s", what,
                        e->message);
    default:
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "the card provider refused the %s: %s %s",
                        what, e->code, e->message);
    }
}

int card_begin_on_payment(rpc_call *c, card_tx *t, const char *scope, const char *key,
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

int card_refuse_state(rpc_call *c, card_tx *t, const Gavel__Payments__V1__Payment *pm,
                      const char *what)
{
    card_abort(t);
    return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "payment %lld is %s: it cannot be %s",
                    (long long)pm->id,
                    protobuf_c_enum_descriptor_get_value(
                        &gavel__payments__v1__payment_state__descriptor, (int)pm->state)->name,
                    what);
}
