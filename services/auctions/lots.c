/*
 * CreateLot, UpdateLot, GetLot and GetLotHistory, plus the method table of
 * the lot and category RPCs. A lot is written only from a checked,
 * normalised message; creation with an idempotency key (libs/idem, scope
 * "CreateLot") answers a retry with the lot created first, as it is now
 * (the key stores the lot's id; the request hash tells a retry from a
 * different lot under a reused key). A seller creates lots as themself;
 * an admin names the seller, whom the users service must know as one
 * before anything is written.
 */
#include <stddef.h>
#include <string.h>

#include "auctions.h"

/* ---- CreateLot ---- */

typedef struct {
    rpc_call *c;
    Gavel__Auctions__V1__Lot *lot;   /* checked and normalised */
    const char *currency;
    int64_t seller_id;
    bool has_key;                    /* the request named an idempotency key */
    idem_key key;                    /* then its key */
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

/* Claims the key. One claimed before answers with its lot as it is now
 * (*found), or is refused when it stood for a different lot. */
static int create_claim(create_ctx *x, db_conn *conn, bool *found)
{
    idem_state st = IDEM_NEW;
    ProtobufCMessage *stored = NULL;
    int rc = idem_claim(x->c, conn, &x->key, &st, &stored);
    *found = rc == 0 && st != IDEM_NEW;
    if (!*found)
        return rc;
    const Gavel__Auctions__V1__CreateLotResponse *first = (const void *)stored;
    int64_t lot_id = first->lot != NULL ? first->lot->id : 0;
    if (st == IDEM_CONFLICT) {
        x->status = rpc_fail(x->c, GRPC_STATUS_FAILED_PRECONDITION,
                             "idempotency_key was already used for a different lot (%lld)",
                             (long long)lot_id);
        return DB_E_ABORT;
    }
    char id[24];
    const char *p[] = { db_i64(id, lot_id) };
    return lot_exec_one(rpc_arena(x->c), conn, "lot_get", 1, p, &x->out);
}

/* The answer a key keeps: the new lot's id, which a replay reads afresh. */
static int create_store(create_ctx *x, db_conn *conn)
{
    Gavel__Auctions__V1__Lot named = GAVEL__AUCTIONS__V1__LOT__INIT;
    Gavel__Auctions__V1__CreateLotResponse answer =
        GAVEL__AUCTIONS__V1__CREATE_LOT_RESPONSE__INIT;
    named.id = x->out->id;
    answer.lot = &named;
    return idem_store(x->c, conn, &x->key, &answer.base);
}

static int create_body(db_conn *conn, void *arg)
{
    create_ctx *x = arg;
    bool found = false;
    int rc;
    if (x->has_key && ((rc = create_claim(x, conn, &found)) < 0 || found))
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
    return x->has_key ? create_store(x, conn) : 0;
}

/* The request a CreateLot key stands for, as keys have always been hashed
 * (those stored before libs/idem kept theirs): the checked lot's encoding,
 * then the seller's id in 8 bytes. */
static void create_request_hash(rpc_call *c, const Gavel__Auctions__V1__Lot *lot,
                                int64_t seller, char hash[IDEM_HASH_HEX])
{
    size_t n = protobuf_c_message_get_packed_size(&lot->base);
    uint8_t *bytes = rpc_alloc(c, n + sizeof seller);
    protobuf_c_message_pack(&lot->base, bytes);
    memcpy(bytes + n, &seller, sizeof seller);
    idem_hash(bytes, n + sizeof seller, hash);
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
        x.has_key = true;
        x.key = (idem_key){ .scope = "CreateLot", .key = req->idempotency_key,
                            .resp_desc = &gavel__auctions__v1__create_lot_response__descriptor };
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
    if (x.has_key)
        create_request_hash(c, req->lot, x.seller_id, x.key.hash);
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

#define MX(name, req, resp, fn, roles, flags, max_request)                                    \
    { "/gavel.auctions.v1.Auctions/" name, &gavel__auctions__v1__##req##__descriptor,        \
      &gavel__auctions__v1__##resp##__descriptor, fn, roles, flags, 0, RPC_CLASS_NORMAL,      \
      max_request }
#define M(name, req, resp, fn, roles, flags) MX(name, req, resp, fn, roles, flags, 0)
/* A lot carries photo and damage URLs and notes: up to about 300 KB. */
#define LOT_MAX_REQUEST (1024 * 1024)

const rpc_method lots_methods[] = {
    MX("CreateLot", create_lot_request, create_lot_response, create_lot,
       RPC_ROLE_SELLER | RPC_ROLE_ADMIN, RPC_IDEMPOTENT, LOT_MAX_REQUEST),
    MX("UpdateLot", update_lot_request, update_lot_response, auctions_update_lot,
       RPC_ROLE_SELLER | RPC_ROLE_ADMIN, 0, LOT_MAX_REQUEST),
    M("GetLot", get_lot_request, get_lot_response, get_lot, RPC_ANY_USER, RPC_IDEMPOTENT),
    M("SubmitLot", submit_lot_request, submit_lot_response, auctions_submit_lot,
      RPC_ROLE_SELLER, 0),
    M("ModerateLot", moderate_lot_request, moderate_lot_response, auctions_moderate_lot,
      RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, 0),
    M("ScheduleLot", schedule_lot_request, schedule_lot_response, auctions_schedule_lot,
      RPC_ROLE_SELLER | RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, 0),
    M("CancelLot", cancel_lot_request, cancel_lot_response, auctions_cancel_lot,
      RPC_ROLE_SELLER | RPC_ROLE_ADMIN, 0),
    M("HammerLot", hammer_lot_request, hammer_lot_response, auctions_hammer_lot,
      RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, RPC_IDEMPOTENT),
    M("GetLotHistory", get_lot_history_request, get_lot_history_response, get_lot_history,
      RPC_ROLE_SELLER | RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN | RPC_ROLE_SERVICE, RPC_IDEMPOTENT),
    M("CreateCategory", create_category_request, create_category_response,
      auctions_create_category, RPC_ROLE_ADMIN, 0),
    M("ListCategories", list_categories_request, list_categories_response,
      auctions_list_categories, RPC_ANY_USER, RPC_IDEMPOTENT),
    { "/gavel.auctions.v1.Auctions/Ping", &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC,
      RPC_IDEMPOTENT, 0, RPC_CLASS_INLINE, 0 },
    { 0 },
};
