/*
 * Writing lots: the parameters of the insert and update statements from a
 * checked Lot, and reading back the row a statement returned.
 */
#include <stdlib.h>
#include <string.h>

#include "auctions.h"

static const char *i64_param(arena *a, int64_t v)
{
    return arena_printf(a, "%lld", (long long)v);
}

static const char *money_param(arena *a, const Gavel__Common__V1__Money *m)
{
    return m != NULL ? i64_param(a, m->units) : NULL;
}

/* The packed condition report as hex for decode($n, 'hex'); NULL for none. */
static const char *condition_param(arena *a, const Gavel__Auctions__V1__ConditionReport *r)
{
    if (r == NULL)
        return NULL;
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *buf = arena_alloc(a, n + 1);
    protobuf_c_message_pack(&r->base, buf);
    char *hex = arena_alloc(a, 2 * n + 1);
    hex_encode(buf, n, hex);
    return hex;
}

static const char *array_param(arena *a, db_array *arr)
{
    const char *s = arena_strdup(a, db_array_str(arr));
    db_array_free(arr);
    return s;
}

void lot_params(rpc_call *c, const Gavel__Auctions__V1__Lot *l, const char *currency,
                const char **p)
{
    arena *a = rpc_arena(c);
    db_array photos, from, step;
    db_array_init(&photos);
    for (size_t i = 0; i < l->n_photo_urls; i++)
        db_array_text(&photos, l->photo_urls[i]);
    db_array_init(&from);
    db_array_init(&step);
    for (size_t i = 0; i < l->n_increments; i++) {
        db_array_i64(&from, l->increments[i]->from_amount->units);
        db_array_i64(&step, l->increments[i]->increment->units);
    }
    p[0] = l->title;
    p[1] = l->description;
    p[2] = l->make;
    p[3] = l->model;
    p[4] = i64_param(a, l->year);
    p[5] = i64_param(a, l->mileage_km);
    p[6] = l->vin;
    p[7] = l->region;
    p[8] = i64_param(a, l->city_id);
    p[9] = i64_param(a, l->category_id);
    p[10] = array_param(a, &photos);
    p[11] = condition_param(a, l->condition);
    p[12] = currency;
    p[13] = money_param(a, l->start_price);
    p[14] = money_param(a, l->reserve_price);
    p[15] = money_param(a, l->buy_now_price);
    p[16] = array_param(a, &from);
    p[17] = array_param(a, &step);
    p[18] = i64_param(a, l->soft_close_window_seconds);
    p[19] = i64_param(a, l->max_extensions);
}

int lot_exec_one(arena *a, db_conn *conn, const char *stmt, int n, const char *const *params,
                 Gavel__Auctions__V1__Lot **out)
{
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, n, params, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_E_ABORT;
    }
    *out = lot_from_row(a, r, 0, 0, true);
    PQclear(r);
    return 0;
}
