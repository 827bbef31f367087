/*
 * The lots table as gavel.auctions.v1.Lot, and who may see what. Every
 * query that returns lots selects LOT_COLUMNS (auctions.h) so one reader
 * serves them all.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auctions.h"

/* Column positions in LOT_COLUMNS. */
enum {
    C_ID, C_SELLER, C_STATE, C_TITLE, C_DESCRIPTION, C_MAKE, C_MODEL, C_YEAR,
    C_MILEAGE, C_VIN, C_REGION, C_CITY, C_CATEGORY,
    C_PHOTOS, C_CONDITION, C_CURRENCY,
    C_START, C_RESERVE, C_BUY_NOW,
    C_INC_FROM, C_INC_STEP,
    C_SOFT_CLOSE, C_MAX_EXT, C_REJECTION, C_SESSION,
    C_STARTS, C_ENDS, C_WINNER, C_FINAL, C_RESERVE_MET,
    C_WIN_BID, C_WIN_HOLD, C_BID_COUNT, C_CLOSED_AT,
    C_CREATED, C_UPDATED, C_VENUE, C_WIN_PADDLE, C_BIDS_INSTANCE,
    C_COUNT
};
_Static_assert(C_COUNT == LOT_NCOLS, "LOT_NCOLS must match LOT_COLUMNS");

static const char *const state_names[] = {
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_DRAFT] = "draft",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_IN_REVIEW] = "in_review",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_APPROVED] = "approved",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_REJECTED] = "rejected",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED] = "scheduled",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE] = "live",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CLOSED] = "closed",
    [GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CANCELLED] = "cancelled",
};
#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *lot_state_text(Gavel__Auctions__V1__LotState s)
{
    return (unsigned)s < N_STATES ? state_names[s] : NULL;
}

const char *lot_state_upper(Gavel__Auctions__V1__LotState s)
{
    static const char *const upper[] = {
        "UNSPECIFIED", "DRAFT", "IN_REVIEW", "APPROVED", "REJECTED",
        "SCHEDULED", "LIVE", "CLOSED", "CANCELLED",
    };
    return (unsigned)s < sizeof upper / sizeof upper[0] ? upper[s] : "UNSPECIFIED";
}

Gavel__Auctions__V1__LotState lot_state_parse(const char *text)
{
    for (size_t i = 1; i < N_STATES; i++)
        if (state_names[i] != NULL && strcmp(state_names[i], text) == 0)
            return (Gavel__Auctions__V1__LotState)i;
    return GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_UNSPECIFIED;
}

static Gavel__Common__V1__Money *money_col(arena *a, const PGresult *r, int row, int col,
                                           const char *currency)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return check_money_new(a, currency, db_get_i64(r, row, col));
}

/* A JSON array column of strings (photos) into an arena array. */
static size_t json_strings(arena *a, const char *text, char ***out)
{
    json_t *arr = json_loads(text, 0, NULL);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    *out = n > 0 ? arena_calloc(a, n, sizeof **out) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        (*out)[i] = arena_strdup(a, s != NULL ? s : "");
    }
    json_decref(arr);
    return n;
}

static size_t json_int64s(const char *text, int64_t **out, arena *a)
{
    json_t *arr = json_loads(text, 0, NULL);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    *out = n > 0 ? arena_calloc(a, n, sizeof **out) : NULL;
    for (size_t i = 0; i < n; i++)
        (*out)[i] = json_integer_value(json_array_get(arr, i));
    json_decref(arr);
    return n;
}

static void read_increments(arena *a, Gavel__Auctions__V1__Lot *l, const PGresult *r, int row,
                            int col0, const char *cur)
{
    int64_t *from, *step;
    size_t nf = json_int64s(db_get_str(r, row, col0 + C_INC_FROM), &from, a);
    size_t ns = json_int64s(db_get_str(r, row, col0 + C_INC_STEP), &step, a);
    size_t n = nf < ns ? nf : ns;
    if (n == 0)
        return;
    l->increments = arena_calloc(a, n, sizeof *l->increments);
    for (size_t i = 0; i < n; i++) {
        Gavel__Auctions__V1__IncrementBand *b = arena_alloc(a, sizeof *b);
        gavel__auctions__v1__increment_band__init(b);
        b->from_amount = check_money_new(a, cur, from[i]);
        b->increment = check_money_new(a, cur, step[i]);
        l->increments[i] = b;
    }
    l->n_increments = n;
}

static void free_message(void *m)
{
    protobuf_c_message_free_unpacked(m, NULL);
}

/* The packed condition report; a damaged value reads as no report (it was
 * packed by us from a checked message, so this is a broken invariant that
 * must not take the lot down with it). */
static void read_condition(arena *a, Gavel__Auctions__V1__Lot *l, const char *hex)
{
    size_t n = strlen(hex) / 2;
    if (n == 0)
        return;
    uint8_t *buf = xmalloc(n);
    if (hex_decode(hex, buf, n) == 0) {
        ProtobufCMessage *m = protobuf_c_message_unpack(
            &gavel__auctions__v1__condition_report__descriptor, NULL, n, buf);
        if (m != NULL) {
            arena_on_free(a, free_message, m);
            l->condition = (Gavel__Auctions__V1__ConditionReport *)m;
        } else {
            log_error("lot %lld: stored condition report does not unpack", (long long)l->id);
        }
    }
    free(buf);
}

static void read_result(arena *a, Gavel__Auctions__V1__Lot *l, const PGresult *r, int row,
                        int col0, const char *cur)
{
    if (l->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CLOSED)
        return;
    Gavel__Auctions__V1__LotResult *res = arena_alloc(a, sizeof *res);
    gavel__auctions__v1__lot_result__init(res);
    res->winner_id = db_get_i64(r, row, col0 + C_WINNER);
    res->final_price = money_col(a, r, row, col0 + C_FINAL, cur);
    res->reserve_met = db_get_bool(r, row, col0 + C_RESERVE_MET);
    res->winning_bid_id = db_get_i64(r, row, col0 + C_WIN_BID);
    res->winning_hold_id = db_get_i64(r, row, col0 + C_WIN_HOLD);
    res->bid_count = db_get_i64(r, row, col0 + C_BID_COUNT);
    res->closed_at_us = db_get_i64(r, row, col0 + C_CLOSED_AT);
    res->winning_floor_paddle = (int32_t)db_get_i64(r, row, col0 + C_WIN_PADDLE);
    l->result = res;
}

static char *col_str(arena *a, const PGresult *r, int row, int col)
{
    return arena_strdup(a, db_get_str(r, row, col));
}

Gavel__Auctions__V1__Lot *lot_from_row(arena *a, const PGresult *r, int row, int col0,
                                       bool show_reserve)
{
    Gavel__Auctions__V1__Lot *l = arena_alloc(a, sizeof *l);
    gavel__auctions__v1__lot__init(l);
    const char *cur = db_get_str(r, row, col0 + C_CURRENCY);
    l->id = db_get_i64(r, row, col0 + C_ID);
    l->seller_id = db_get_i64(r, row, col0 + C_SELLER);
    l->state = lot_state_parse(db_get_str(r, row, col0 + C_STATE));
    l->title = col_str(a, r, row, col0 + C_TITLE);
    l->description = col_str(a, r, row, col0 + C_DESCRIPTION);
    l->make = col_str(a, r, row, col0 + C_MAKE);
    l->model = col_str(a, r, row, col0 + C_MODEL);
    l->year = (int32_t)db_get_i64(r, row, col0 + C_YEAR);
    l->mileage_km = (int32_t)db_get_i64(r, row, col0 + C_MILEAGE);
    l->vin = col_str(a, r, row, col0 + C_VIN);
    l->region = col_str(a, r, row, col0 + C_REGION);
    l->city_id = db_get_i64(r, row, col0 + C_CITY);
    l->category_id = db_get_i64(r, row, col0 + C_CATEGORY);
    l->n_photo_urls = json_strings(a, db_get_str(r, row, col0 + C_PHOTOS), &l->photo_urls);
    read_condition(a, l, db_get_str(r, row, col0 + C_CONDITION));
    l->start_price = money_col(a, r, row, col0 + C_START, cur);
    l->has_reserve = !PQgetisnull(r, row, col0 + C_RESERVE);
    if (show_reserve)
        l->reserve_price = money_col(a, r, row, col0 + C_RESERVE, cur);
    l->buy_now_price = money_col(a, r, row, col0 + C_BUY_NOW, cur);
    read_increments(a, l, r, row, col0, cur);
    l->soft_close_window_seconds = (int32_t)db_get_i64(r, row, col0 + C_SOFT_CLOSE);
    l->max_extensions = (int32_t)db_get_i64(r, row, col0 + C_MAX_EXT);
    l->rejection_reason = col_str(a, r, row, col0 + C_REJECTION);
    l->session_id = db_get_i64(r, row, col0 + C_SESSION);
    l->starts_at_us = db_get_i64(r, row, col0 + C_STARTS);
    l->ends_at_us = db_get_i64(r, row, col0 + C_ENDS);
    read_result(a, l, r, row, col0, cur);
    l->created_at_us = db_get_i64(r, row, col0 + C_CREATED);
    l->updated_at_us = db_get_i64(r, row, col0 + C_UPDATED);
    l->venue = db_get_bool(r, row, col0 + C_VENUE);
    l->bids_instance = col_str(a, r, row, col0 + C_BIDS_INSTANCE);
    return l;
}

bool lot_sees_all(const rpc_principal *p)
{
    return p != NULL &&
           (p->role & (RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN | RPC_ROLE_SERVICE)) != 0;
}

bool lot_sees_reserve(const rpc_principal *p, int64_t seller_id)
{
    return lot_sees_all(p) || (p != NULL && p->user_id != 0 && p->user_id == seller_id);
}

bool lot_visible(const rpc_principal *p, Gavel__Auctions__V1__LotState state, int64_t seller_id)
{
    if (lot_sees_reserve(p, seller_id))
        return true;
    return state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED ||
           state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE ||
           state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CLOSED;
}

int lot_load(rpc_call *c, db_conn *conn, int64_t id, bool for_update,
             Gavel__Auctions__V1__Lot **out)
{
    char idbuf[24];
    const char *params[] = { db_i64(idbuf, id) };
    int rc;
    PGresult *r = db_exec(conn, for_update ? "lot_get_for_update" : "lot_get", 1, params, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    arena_on_free(rpc_arena(c), (void (*)(void *))PQclear, r);
    const rpc_principal *p = rpc_caller(c);
    if (PQntuples(r) == 0)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "lot %lld not found", (long long)id);
    Gavel__Auctions__V1__Lot *l = lot_from_row(rpc_arena(c), r, 0, 0, false);
    if (!lot_visible(p, l->state, l->seller_id))
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "lot %lld not found", (long long)id);
    if (lot_sees_reserve(p, l->seller_id))
        l->reserve_price = money_col(rpc_arena(c), r, 0, C_RESERVE,
                                     db_get_str(r, 0, C_CURRENCY));
    *out = l;
    return GRPC_STATUS_OK;
}
