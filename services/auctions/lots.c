/*
 * CreateLot, UpdateLot, GetLot and GetLotHistory, plus the method table of
 * the lot and category RPCs. A lot is written only from a checked,
 * normalised message; creation with an idempotency key answers a retry
 * with the lot created first (the key's digest tells a retry from a
 * different lot under a reused key). A seller creates lots as themself;
 * an admin names the seller, whom the users service must know as one
 * before anything is written.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/sha.h>

#include "auctions.h"

/* ---- CreateLot ---- */

typedef struct {
    rpc_call *c;
    Gavel__Auctions__V1__Lot *lot;   /* checked and normalised */
    const char *currency;
    int64_t seller_id;
    const char *key;                 /* NULL without an idempotency key */
    char digest[2 * SHA256_DIGEST_LENGTH + 1];
    int status;
    Gavel__Auctions__V1__Lot *out;
} create_ctx;

static int category_must_exist(rpc_call *c, db_conn *conn, int64_t id, int *status)
{
    if (id == 0)
        return 0;
    char buf[24];
    const char *p[] = { db_i64(buf, id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "category_get", 1, p, &rc);
    if (r == NULL)
        return rc;
    bool found = PQntuples(r) == 1;
    PQclear(r);
    if (found)
        return 0;
    *status = rpc_fail(c, GRPC_STATUS_NOT_FOUND, "category %lld not found", (long long)id);
    return DB_E_ABORT;
}

/* A replay finds the key: the same request gets the lot, another one is refused. */
static int create_replay(create_ctx *x, db_conn *conn, bool *found)
{
    char caller[24];
    const char *p[] = { db_i64(caller, rpc_caller(x->c)->user_id), x->key };
    int rc = 0;
    PGresult *r = db_exec(conn, "create_key_get", 2, p, &rc);
    if (r == NULL)
        return rc;
    *found = PQntuples(r) == 1;
    if (!*found) {
        PQclear(r);
        return 0;
    }
    bool same = strcmp(db_get_str(r, 0, 0), x->digest) == 0;
    int64_t lot_id = db_get_i64(r, 0, 1);
    PQclear(r);
    if (!same) {
        x->status = rpc_fail(x->c, GRPC_STATUS_FAILED_PRECONDITION,
                             "idempotency_key was already used for a different lot (%lld)",
                             (long long)lot_id);
        return DB_E_ABORT;
    }
    char id[24];
    const char *p2[] = { db_i64(id, lot_id) };
    return lot_exec_one(rpc_arena(x->c), conn, "lot_get", 1, p2, &x->out);
}

static int create_body(db_conn *conn, void *arg)
{
    create_ctx *x = arg;
    bool found = false;
    int rc;
    if (x->key != NULL && ((rc = create_replay(x, conn, &found)) < 0 || found))
        return rc;
    if ((rc = category_must_exist(x->c, conn, x->lot->category_id, &x->status)) < 0)
        return rc;
    const char *params[2 + LOT_FIELD_PARAMS];
    char seller[24], now[24];
    params[0] = db_i64(seller, x->seller_id);
    lot_params(x->c, x->lot, x->currency, params + 1);
    params[1 + LOT_FIELD_PARAMS] = db_i64(now, now_us());
    if ((rc = lot_exec_one(rpc_arena(x->c), conn, "lot_insert", 2 + LOT_FIELD_PARAMS, params,
                           &x->out)) < 0)
        return rc;
    lot_actor who = lot_actor_of(x->c);
    if ((rc = lot_record_transition(conn, x->out,
                                    GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_UNSPECIFIED, &who,
                                    "")) < 0)
        return rc;
    if (x->key == NULL)
        return 0;
    char caller[24], id[24], at[24];
    const char *kp[] = { db_i64(caller, rpc_caller(x->c)->user_id), x->key, x->digest,
                         db_i64(id, x->out->id), db_i64(at, now_us()) };
    PGresult *r = db_exec(conn, "create_key_add", 5, kp, &rc);
    if (r == NULL) /* a concurrent twin took the key: run again to replay it */
        return rc == DB_E_UNIQUE ? DB_E_RETRY : rc;
    PQclear(r);
    return 0;
}

static void lot_digest(rpc_call *c, const Gavel__Auctions__V1__Lot *lot, int64_t seller,
                       char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    size_t n = protobuf_c_message_get_packed_size(&lot->base);
    uint8_t *buf = rpc_alloc(c, n + 8);
    protobuf_c_message_pack(&lot->base, buf);
    memcpy(buf + n, &seller, 8);
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(buf, n + 8, md);
    hex_encode(md, sizeof md, out);
}

/* Output-only fields of a request are ignored, not stored. */
static void clear_output_fields(Gavel__Auctions__V1__Lot *l)
{
    l->id = 0;
    l->state = 0;
    l->rejection_reason = (char *)"";
    l->session_id = 0;
    l->starts_at_us = 0;
    l->ends_at_us = 0;
    l->result = NULL;
    l->created_at_us = 0;
    l->updated_at_us = 0;
    l->has_reserve = false;
}

static int create_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    Gavel__Auctions__V1__CreateLotRequest *req = (void *)in;
    const rpc_principal *p = rpc_caller(c);
    create_ctx x = { .c = c, .lot = req->lot };
    int rc;
    if (req->lot == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot is required");
    if (req->idempotency_key[0] != '\0') {
        if ((rc = check_idempotency_key(c, req->idempotency_key)) != 0)
            return rc;
        x.key = req->idempotency_key;
    }
    /* A seller's lot is their own; anyone else the method table lets in
     * names the seller, who must be one (users_client.c). */
    bool names_seller = p->role != RPC_ROLE_SELLER;
    x.seller_id = names_seller ? req->lot->seller_id : p->user_id;
    if (names_seller && x.seller_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "lot.seller_id is required unless a seller creates their own lot");
    clear_output_fields(req->lot);
    req->lot->seller_id = 0;
    if ((rc = lot_check_fields(c, req->lot, &x.currency)) != 0)
        return rc;
    if (names_seller && (rc = users_check_seller(c, x.seller_id)) != 0)
        return rc;
    lot_digest(c, req->lot, x.seller_id, x.digest);
    rc = db_tx(auctions.db, DB_READ_COMMITTED, create_body, &x);
    if (rc == DB_E_ABORT)
        return x.status;
    if (rc < 0)
        return check_fail_db(c, rc);
    ev_relay_kick(auctions.relay);
    Gavel__Auctions__V1__CreateLotResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__create_lot_response__descriptor);
    resp->lot = x.out;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

/* ---- GetLot, GetLotHistory ---- */

/* Runs fn(c, conn, arg) on a pooled connection outside a transaction. */
static int with_conn(rpc_call *c, int (*fn)(rpc_call *, db_conn *, void *), void *arg)
{
    db_conn *conn = db_pool_get(auctions.db, 5000);
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    int rc = fn(c, conn, arg);
    db_pool_put(auctions.db, conn);
    return rc;
}

typedef struct {
    int64_t id;
    Gavel__Auctions__V1__Lot *lot;
} get_ctx;

static int get_body(rpc_call *c, db_conn *conn, void *arg)
{
    get_ctx *g = arg;
    return lot_load(c, conn, g->id, false, &g->lot);
}

static int get_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__GetLotRequest *req = (const void *)in;
    get_ctx g = { .id = req->lot_id };
    int rc = with_conn(c, get_body, &g);
    if (rc != 0)
        return rc;
    Gavel__Auctions__V1__GetLotResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__get_lot_response__descriptor);
    resp->lot = g.lot;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

typedef struct {
    int64_t id;
    Gavel__Auctions__V1__GetLotHistoryResponse *resp;
} history_ctx;

static int history_body(rpc_call *c, db_conn *conn, void *arg)
{
    history_ctx *h = arg;
    Gavel__Auctions__V1__Lot *lot;
    int rc = lot_load(c, conn, h->id, false, &lot);
    if (rc != 0)
        return rc;
    if (!lot_sees_reserve(rpc_caller(c), lot->seller_id)) /* owner or staff only */
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "lot %lld not found", (long long)lot->id);
    char id[24];
    const char *p[] = { db_i64(id, lot->id) };
    PGresult *r = db_exec(conn, "transitions_list", 1, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    arena *a = rpc_arena(c);
    int n = PQntuples(r);
    h->resp->transitions = arena_calloc(a, (size_t)n + 1, sizeof *h->resp->transitions);
    for (int i = 0; i < n; i++) {
        Gavel__Auctions__V1__LotTransition *t = arena_alloc(a, sizeof *t);
        gavel__auctions__v1__lot_transition__init(t);
        t->from_state = lot_state_parse(db_get_str(r, i, 0));
        t->to_state = lot_state_parse(db_get_str(r, i, 1));
        t->actor_id = db_get_i64(r, i, 2);
        t->actor_role = arena_strdup(a, db_get_str(r, i, 3));
        t->reason = arena_strdup(a, db_get_str(r, i, 4));
        t->at_us = db_get_i64(r, i, 5);
        h->resp->transitions[i] = t;
    }
    h->resp->n_transitions = (size_t)n;
    PQclear(r);
    return GRPC_STATUS_OK;
}

static int get_lot_history(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__GetLotHistoryRequest *req = (const void *)in;
    history_ctx h = {
        .id = req->lot_id,
        .resp = (void *)rpc_new(c, &gavel__auctions__v1__get_lot_history_response__descriptor),
    };
    int rc = with_conn(c, history_body, &h);
    if (rc != 0)
        return rc;
    *out = &h.resp->base;
    return GRPC_STATUS_OK;
}

#define M(name, req, resp, fn, roles, flags)                                                  \
    { "/gavel.auctions.v1.Auctions/" name, &gavel__auctions__v1__##req##__descriptor,        \
      &gavel__auctions__v1__##resp##__descriptor, fn, roles, flags, 0 }

const rpc_method lots_methods[] = {
    M("CreateLot", create_lot_request, create_lot_response, create_lot,
      RPC_ROLE_SELLER | RPC_ROLE_ADMIN, RPC_IDEMPOTENT),
    M("UpdateLot", update_lot_request, update_lot_response, auctions_update_lot,
      RPC_ROLE_SELLER | RPC_ROLE_ADMIN, 0),
    M("GetLot", get_lot_request, get_lot_response, get_lot, RPC_ANY_USER, RPC_IDEMPOTENT),
    M("SubmitLot", submit_lot_request, submit_lot_response, auctions_submit_lot,
      RPC_ROLE_SELLER, 0),
    M("ModerateLot", moderate_lot_request, moderate_lot_response, auctions_moderate_lot,
      RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, 0),
    M("ScheduleLot", schedule_lot_request, schedule_lot_response, auctions_schedule_lot,
      RPC_ROLE_SELLER | RPC_ROLE_ADMIN, 0),
    M("CancelLot", cancel_lot_request, cancel_lot_response, auctions_cancel_lot,
      RPC_ROLE_SELLER | RPC_ROLE_ADMIN, 0),
    M("GetLotHistory", get_lot_history_request, get_lot_history_response, get_lot_history,
      RPC_ROLE_SELLER | RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN | RPC_ROLE_SERVICE, RPC_IDEMPOTENT),
    M("CreateCategory", create_category_request, create_category_response,
      auctions_create_category, RPC_ROLE_ADMIN, 0),
    M("ListCategories", list_categories_request, list_categories_response,
      auctions_list_categories, RPC_ANY_USER, RPC_IDEMPOTENT),
    { "/gavel.auctions.v1.Auctions/Ping", &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC,
      RPC_INLINE | RPC_IDEMPOTENT, 0 },
    { 0 },
};
