/*
 * The search document's DSL schema: the catalog's filterable fields with
 * the same names and meaning, written against the search daemon's table
 * (services/search/migrations), plus the live bidding state the index
 * keeps (only scheduled, live and closed lots are ever visible there).
 * Rows are never reordered or removed (the same rule as the catalog's, for
 * the same reason: "order" keys are rows).
 */
#include "dsl_search.h"

#include "dsl_catalog.h"

const dsl_field dsl_search_fields[] = {
    { "id", DSL_INT, "d.lot_id", DSL_ORDER, "lot_id", NULL },
    { "seller_id", DSL_INT, "d.seller_id", DSL_ORDER, "seller_id", NULL },
    { "title", DSL_TEXT, "d.title", DSL_ORDER | DSL_LIKE, "title", NULL },
    { "description", DSL_TEXT, "d.description", DSL_LIKE, "", NULL },
    { "make", DSL_TEXT, "d.make", DSL_ORDER | DSL_LIKE, "make", NULL },
    { "model", DSL_TEXT, "d.model", DSL_ORDER | DSL_LIKE, "model", NULL },
    { "year", DSL_INT, "d.year", DSL_ORDER, "year", NULL },
    { "mileage_km", DSL_INT, "d.mileage_km", DSL_ORDER, "mileage_km", NULL },
    { "vin", DSL_TEXT, "d.vin", DSL_ORDER, "", NULL },
    { "region", DSL_TEXT, "d.region", DSL_ORDER, "region", NULL },
    { "city_id", DSL_INT, "d.city_id", DSL_ORDER, "city_id", NULL },
    { "category_id", DSL_INT, "d.category_id", DSL_ORDER | DSL_NULLABLE, "category_id", NULL },
    { "state", DSL_ENUM, "d.state", DSL_ORDER, "state", dsl_lot_states },
    { "start_price", DSL_MONEY, "d.start_price", DSL_ORDER | DSL_NULLABLE, "start_price", NULL },
    { "buy_now_price", DSL_MONEY, "d.buy_now_price", DSL_ORDER | DSL_NULLABLE, "buy_now_price",
      NULL },
    { "session_id", DSL_INT, "d.session_id", DSL_ORDER | DSL_NULLABLE, "session_id", NULL },
    { "start_time", DSL_TIME, "d.starts_at_us", DSL_ORDER | DSL_NULLABLE, "starts_at_us", NULL },
    { "end_time", DSL_TIME, "d.ends_at_us", DSL_ORDER | DSL_NULLABLE, "ends_at_us", NULL },
    { "created_time", DSL_TIME, "d.created_at_us", DSL_ORDER, "", NULL },
    { "updated_time", DSL_TIME, "d.updated_at_us", DSL_ORDER, "", NULL },
    /* The leading bid, or the start price before the first bid. */
    { "current_price", DSL_MONEY, "d.price", DSL_ORDER, "current_price", NULL },
    { "bid_count", DSL_INT, "d.bid_count", DSL_ORDER, "bid_count", NULL },
    { 0 },
};

const dsl_schema dsl_search_schema = {
    .fields = dsl_search_fields,
    .from = "docs d",
    .refuses = DSL_NO_FIELDS | DSL_NO_LIMIT | DSL_NO_CURSOR,
    .sample_filter = "[[\"eq\",\"make\",\"Toyota\"],[\"lt\",\"current_price\",100000000]]",
    .sample_order = "end_time asc",
};
