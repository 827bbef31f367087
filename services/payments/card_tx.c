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
