/*
 * HandleProviderWebhook: the provider's event POST, forwarded unchanged by
 * the gateway. The signature (HMAC-SHA256 of "<t>.<body>" with the shared
 * secret) and its timestamp (within GAVEL_PAYMENTS_WEBHOOK_TOLERANCE_S of
 * now) are checked first: anything else is UNAUTHENTICATED and changes
 * nothing, so an old delivery replayed later is refused. A fresh
 * delivery is recorded once per provider event id (provider_webhooks); a
 * second delivery of the same event answers is_duplicate and changes
 * nothing. What an event changes is deliberately little: our RPCs move a
 * payment's state themselves, in the transaction that calls the provider,
 * so the webhook only records the event against its payment, except a
 * hold the provider dropped on its own (payment_intent.canceled of a
 * payment still AUTHORIZED), which makes the payment EXPIRED.
 */
#include <jansson.h>
#include <string.h>

#include "payments.h"

typedef struct {
    rpc_call *c;
    const char *event_id, *type, *reference, *body;
    bool is_duplicate;
    int64_t payment_id;
    const char *stored_type;
} hook_ctx;

/* The payment the event is about (locked), when it names one of ours. */
static int find_payment(db_conn *conn, hook_ctx *x, Gavel__Payments__V1__Payment **pm)
{
    *pm = NULL;
    if (x->reference[0] == '\0' || strncmp(x->type, "payment_intent.", 15) != 0)
        return 0;
    const char *p[] = { x->reference };
    int rc = 0;
    PGresult *r = db_exec(conn, "payment_by_reference", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) > 0)
        *pm = payment_from_row(rpc_arena(x->c), r, 0);
    PQclear(r);
    return 0;
}

static int hook_apply(db_conn *conn, void *arg)
{
    hook_ctx *x = arg;
    Gavel__Payments__V1__Payment *pm = NULL;
    int rc = find_payment(conn, x, &pm);
    if (rc != 0)
        return rc;
    char pid[24], now[24];
    const char *p[] = { x->event_id, x->type, db_i64(pid, pm != NULL ? pm->id : 0), x->reference,
                        x->body, db_i64(now, now_us()) };
    PGresult *r = db_exec(conn, "webhook_insert", 6, p, &rc);
    if (r == NULL)
        return rc;
    x->is_duplicate = PQntuples(r) == 0;
    PQclear(r);
    if (x->is_duplicate) {
        if ((r = db_exec(conn, "webhook_get", 1, p, &rc)) == NULL)
            return rc;
        x->stored_type = arena_strdup(rpc_arena(x->c), db_get_str(r, 0, 0));
        x->payment_id = db_get_i64(r, 0, 1);
        PQclear(r);
        return 0;
    }
    x->payment_id = pm != NULL ? pm->id : 0;
    if (pm == NULL || strcmp(x->type, "payment_intent.canceled") != 0 ||
        pm->state != GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_AUTHORIZED)
        return 0;
    char st[24];
    const char *q[] = { pid, db_i64(st, GAVEL__PAYMENTS__V1__PAYMENT_STATE__PAYMENT_STATE_EXPIRED),
                        "provider: the hold was released without a capture", now };
    if ((r = db_exec(conn, "payment_state", 4, q, &rc)) == NULL)
        return rc;
    pm = payment_from_row(rpc_arena(x->c), r, 0);
    PQclear(r);
    return payment_publish(conn, "payment.failed", pm);
}

/* Reads the event's id, type and object id into x (call's arena). */
static int hook_parse(rpc_call *c, const ProtobufCBinaryData *body, hook_ctx *x)
{
    json_error_t jerr;
    json_t *ev = json_loadb((const char *)body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
    const char *id = NULL, *type = NULL, *ref = "";
    json_t *obj = ev != NULL ? json_object_get(json_object_get(ev, "data"), "object") : NULL;
    if (ev != NULL && json_is_object(ev)) {
        id = json_string_value(json_object_get(ev, "id"));
        type = json_string_value(json_object_get(ev, "type"));
        const char *oid = json_string_value(json_object_get(obj, "id"));
        ref = oid != NULL ? oid : "";
    }
    bool ok = id != NULL && type != NULL && id[0] != '\0' && strlen(id) <= 128 &&
              type[0] != '\0' && strlen(type) <= 64 && strlen(ref) <= 128;
    if (ok) {
        x->event_id = rpc_strdup(c, id);
        x->type = rpc_strdup(c, type);
        x->reference = rpc_strdup(c, ref);
    }
    json_decref(ev);
    if (!ok)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "body must be a JSON event with string id (1..128) and type (1..64)");
    return GRPC_STATUS_OK;
}

int pay_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Payments__V1__HandleProviderWebhookRequest *req = (const void *)in;
    if (req->body.len > 1024 * 1024)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "body must be at most 1 MiB");
    if (provider_webhook_verify(pay.webhook_secret, req->signature, req->body.data, req->body.len,
                                now_us() / 1000000, (int)pay.webhook_tolerance_s) != 0) {
        mx_add(pay_mx.webhooks_refused, 1);
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED,
                        "signature missing, wrong or older than %lld s",
                        (long long)pay.webhook_tolerance_s);
    }
    hook_ctx x = { .c = c };
    int rc = hook_parse(c, &req->body, &x);
    if (rc != GRPC_STATUS_OK)
        return rc;
    x.body = arena_strndup(rpc_arena(c), (const char *)req->body.data, req->body.len);
    int drc = db_tx(pay.db, DB_READ_COMMITTED, hook_apply, &x);
    if (drc < 0)
        return check_fail_db(c, drc);
    ev_relay_kick(pay.relay);
    mx_add(x.is_duplicate ? pay_mx.webhooks_duplicate : pay_mx.webhooks, 1);
    Gavel__Payments__V1__HandleProviderWebhookResponse *resp =
        (void *)rpc_new(c, &gavel__payments__v1__handle_provider_webhook_response__descriptor);
    resp->is_duplicate = x.is_duplicate;
    resp->payment_id = x.payment_id;
    resp->event_type = (char *)(x.is_duplicate ? x.stored_type : x.type);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
