/*
 * A document row (SUMMARY_COLUMNS) as the LotSummary a hit carries,
 * allocated from the call.
 */
#include <string.h>

#include "search.h"

static Gavel__Auctions__V1__LotState state_of(const char *s)
{
    static const struct {
        const char *name;
        Gavel__Auctions__V1__LotState state;
    } map[] = {
        { "scheduled", GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED },
        { "live", GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE },
        { "closed", GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CLOSED },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, s) == 0)
            return map[i].state;
    return GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_UNSPECIFIED;
}

/* The money in column col, or NULL when it is NULL. */
static Gavel__Common__V1__Money *money(rpc_call *c, const PGresult *r, int row, int col,
                                       const char *currency)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    Gavel__Common__V1__Money *m = rpc_alloc(c, sizeof *m);
    gavel__common__v1__money__init(m);
    m->currency = (char *)currency;
    m->units = db_get_i64(r, row, col);
    return m;
}

Gavel__Search__V1__LotSummary *search_summary_from_row(rpc_call *c, const PGresult *r, int row)
{
    Gavel__Search__V1__LotSummary *l = rpc_alloc(c, sizeof *l);
    gavel__search__v1__lot_summary__init(l);
    char *currency = rpc_strdup(c, db_get_str(r, row, 12));
    l->lot_id = db_get_i64(r, row, 0);
    l->seller_id = db_get_i64(r, row, 1);
    l->title = rpc_strdup(c, db_get_str(r, row, 2));
    l->make = rpc_strdup(c, db_get_str(r, row, 3));
    l->model = rpc_strdup(c, db_get_str(r, row, 4));
    l->year = (int32_t)db_get_i64(r, row, 5);
    l->mileage_km = (int32_t)db_get_i64(r, row, 6);
    l->region = rpc_strdup(c, db_get_str(r, row, 7));
    l->city_id = db_get_i64(r, row, 8);
    l->category_id = db_get_i64(r, row, 9);
    l->cover_photo_url = rpc_strdup(c, db_get_str(r, row, 10));
    l->state = state_of(db_get_str(r, row, 11));
    l->start_price = money(c, r, row, 13, currency);
    l->current_price = money(c, r, row, 14, currency);
    l->buy_now_price = money(c, r, row, 15, currency);
    l->bid_count = db_get_i64(r, row, 16);
    l->has_reserve = db_get_bool(r, row, 17);
    l->reserve_met = db_get_bool(r, row, 18);
    l->starts_at_us = db_get_i64(r, row, 19);
    l->ends_at_us = db_get_i64(r, row, 20);
    l->damage_count = (int32_t)db_get_i64(r, row, 21);
    l->session_id = db_get_i64(r, row, 22);
    return l;
}
