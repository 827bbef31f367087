/*
 * UpdateLot: the named fields of a DRAFT or REJECTED lot change, nothing
 * else. The mask is a table of field names with where each lives in the
 * Lot message, so adding an editable field is one row. The merged lot is
 * checked whole (one currency across prices, bands in order) before it
 * is written, under the row lock, against expected_updated_at_us.
 */
#include <stddef.h>
#include <string.h>

#include "auctions.h"

typedef enum { F_STR, F_I32, F_I64, F_MSG, F_REPEATED } field_kind;

typedef struct {
    const char *name;
    field_kind kind;
    size_t off;       /* the value, or for F_REPEATED the array pointer */
    size_t count_off; /* F_REPEATED: the n_ field */
} mask_field;

#define LOT_OFF(f) offsetof(Gavel__Auctions__V1__Lot, f)

static const mask_field editable[] = {
    { "title", F_STR, LOT_OFF(title), 0 },
    { "description", F_STR, LOT_OFF(description), 0 },
    { "make", F_STR, LOT_OFF(make), 0 },
    { "model", F_STR, LOT_OFF(model), 0 },
    { "year", F_I32, LOT_OFF(year), 0 },
    { "mileage_km", F_I32, LOT_OFF(mileage_km), 0 },
    { "vin", F_STR, LOT_OFF(vin), 0 },
    { "region", F_STR, LOT_OFF(region), 0 },
    { "city_id", F_I64, LOT_OFF(city_id), 0 },
    { "category_id", F_I64, LOT_OFF(category_id), 0 },
    { "photo_urls", F_REPEATED, LOT_OFF(photo_urls), LOT_OFF(n_photo_urls) },
    { "condition", F_MSG, LOT_OFF(condition), 0 },
    { "start_price", F_MSG, LOT_OFF(start_price), 0 },
    { "reserve_price", F_MSG, LOT_OFF(reserve_price), 0 },
    { "buy_now_price", F_MSG, LOT_OFF(buy_now_price), 0 },
    { "increments", F_REPEATED, LOT_OFF(increments), LOT_OFF(n_increments) },
    { "soft_close_window_seconds", F_I32, LOT_OFF(soft_close_window_seconds), 0 },
    { "max_extensions", F_I32, LOT_OFF(max_extensions), 0 },
};
#define N_EDITABLE (sizeof editable / sizeof editable[0])

static const mask_field *mask_lookup(const char *name)
{
    for (size_t i = 0; i < N_EDITABLE; i++)
        if (strcmp(editable[i].name, name) == 0)
            return &editable[i];
    return NULL;
}

static void copy_field(const mask_field *f, Gavel__Auctions__V1__Lot *dst,
                       const Gavel__Auctions__V1__Lot *src)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    switch (f->kind) {
    case F_STR:
    case F_MSG:
    case F_REPEATED:
        memcpy(d + f->off, s + f->off, sizeof(void *));
        if (f->kind == F_REPEATED)
            memcpy(d + f->count_off, s + f->count_off, sizeof(size_t));
        break;
    case F_I32:
        memcpy(d + f->off, s + f->off, sizeof(int32_t));
        break;
    case F_I64:
        memcpy(d + f->off, s + f->off, sizeof(int64_t));
        break;
    }
}

typedef struct {
    rpc_call *c;
    const Gavel__Auctions__V1__UpdateLotRequest *req;
    int status;
    Gavel__Auctions__V1__Lot *out;
} update_ctx;

static int refuse(update_ctx *x, int status)
{
    x->status = status;
    return DB_E_ABORT;
}

/* Ownership, state and the concurrency token of the locked current lot. */
static int may_update(update_ctx *x, const Gavel__Auctions__V1__Lot *cur)
{
    const rpc_principal *p = rpc_caller(x->c);
    if (p->role != RPC_ROLE_ADMIN && cur->seller_id != p->user_id)
        return refuse(x, rpc_fail(x->c, GRPC_STATUS_NOT_FOUND, "lot %lld not found",
                                  (long long)cur->id));
    if (cur->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_DRAFT &&
        cur->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_REJECTED)
        return refuse(x, rpc_fail(x->c, GRPC_STATUS_FAILED_PRECONDITION,
                                  "lot %lld is %s; UpdateLot needs DRAFT or REJECTED",
                                  (long long)cur->id, lot_state_upper(cur->state)));
    if (x->req->expected_updated_at_us != 0 &&
        x->req->expected_updated_at_us != cur->updated_at_us)
        return refuse(x, rpc_fail(x->c, GRPC_STATUS_ABORTED,
                                  "lot %lld changed since you read it (updated_at_us %lld, "
                                  "expected %lld); read it again",
                                  (long long)cur->id, (long long)cur->updated_at_us,
                                  (long long)x->req->expected_updated_at_us));
    return 0;
}

static int update_body(db_conn *conn, void *arg)
{
    update_ctx *x = arg;
    Gavel__Auctions__V1__Lot *cur;
    int rc = lot_load(x->c, conn, x->req->lot_id, true, &cur);
    if (rc != 0)
        return refuse(x, rc);
    if ((rc = may_update(x, cur)) < 0)
        return rc;
    int64_t old_category = cur->category_id;
    for (size_t i = 0; i < x->req->n_update_mask; i++)
        copy_field(mask_lookup(x->req->update_mask[i]), cur, x->req->lot);
    const char *currency;
    if ((rc = lot_check_fields(x->c, cur, &currency)) != 0)
        return refuse(x, rc);
    if (cur->category_id != old_category && cur->category_id != 0) {
        char buf[24];
        const char *p[] = { db_i64(buf, cur->category_id) };
        PGresult *r = db_exec(conn, "category_get", 1, p, &rc);
        if (r == NULL)
            return rc;
        bool found = PQntuples(r) == 1;
        PQclear(r);
        if (!found)
            return refuse(x, rpc_fail(x->c, GRPC_STATUS_NOT_FOUND, "category %lld not found",
                                      (long long)cur->category_id));
    }
    const char *params[2 + LOT_FIELD_PARAMS];
    char id[24], now[24];
    params[0] = db_i64(id, cur->id);
    lot_params(x->c, cur, currency, params + 1);
    params[1 + LOT_FIELD_PARAMS] = db_i64(now, now_us());
    if ((rc = lot_exec_one(rpc_arena(x->c), conn, "lot_update", 2 + LOT_FIELD_PARAMS, params,
                           &x->out)) < 0)
        return rc;
    if (x->out->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_DRAFT)
        return lot_publish_upsert(conn, x->out);
    return 0;
}

int auctions_update_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__UpdateLotRequest *req = (const void *)in;
    if (req->lot == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot is required");
    if (req->n_update_mask == 0 || req->n_update_mask > 2 * N_EDITABLE)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "update_mask must name 1 to %zu fields", N_EDITABLE);
    for (size_t i = 0; i < req->n_update_mask; i++)
        if (mask_lookup(req->update_mask[i]) == NULL)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "update_mask[%zu]: \"%.64s\" is not an editable field", i,
                            req->update_mask[i]);
    update_ctx x = { .c = c, .req = req };
    int rc = db_tx(auctions.db, DB_READ_COMMITTED, update_body, &x);
    if (rc == DB_E_ABORT)
        return x.status;
    if (rc < 0)
        return check_fail_db(c, rc);
    ev_relay_kick(auctions.relay);
    Gavel__Auctions__V1__UpdateLotResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__update_lot_response__descriptor);
    resp->lot = x.out;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
