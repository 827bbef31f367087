/*
 * The catalog's DSL schema: what ListLots' filter_json may name over the
 * auctions' lots table (alias l). It lives here, beside the parser, because
 * two daemons read it: auctions builds ListLots' statement from it and
 * notifications checks and evaluates saved searches against it. Each row names one
 * gavel.auctions.v1.Lot field, and every Lot field is named once
 * (services/auctions/catalog_fields_test.c holds it to that), so "fields" can say what comes
 * back. Rows are never reordered or removed: a cursor names fields by
 * their row, so cursors handed out before would stop matching.
 */
#include "dsl_catalog.h"

/* The lot lifecycle in the order the state sorts in: the order of
 * gavel.auctions.v1.LotState, spelled as the lots table stores it. */
const char *const dsl_lot_states[] = { "draft", "in_review", "approved", "rejected",
                                          "scheduled", "live", "closed", "cancelled", NULL };

const dsl_field dsl_catalog_fields[] = {
    { "id", DSL_INT, "l.id", DSL_ORDER, "id", NULL },
    { "seller_id", DSL_INT, "l.seller_id", DSL_ORDER, "seller_id", NULL },
    { "title", DSL_TEXT, "l.title", DSL_ORDER | DSL_LIKE, "title", NULL },
    { "description", DSL_TEXT, "l.description", DSL_LIKE, "description", NULL },
    { "make", DSL_TEXT, "l.make", DSL_ORDER | DSL_LIKE, "make", NULL },
    { "model", DSL_TEXT, "l.model", DSL_ORDER | DSL_LIKE, "model", NULL },
    { "year", DSL_INT, "l.year", DSL_ORDER, "year", NULL },
    { "mileage_km", DSL_INT, "l.mileage_km", DSL_ORDER, "mileage_km", NULL },
    { "vin", DSL_TEXT, "l.vin", DSL_ORDER, "vin", NULL },
    { "region", DSL_TEXT, "l.region", DSL_ORDER, "region", NULL },
    { "city_id", DSL_INT, "l.city_id", DSL_ORDER, "city_id", NULL },
    { "category_id", DSL_INT, "l.category_id", DSL_ORDER | DSL_NULLABLE, "category_id", NULL },
    { "state", DSL_ENUM, "l.state", DSL_ORDER, "state", dsl_lot_states },
    { "start_price", DSL_MONEY, "l.start_price", DSL_ORDER | DSL_NULLABLE, "start_price", NULL },
    { "buy_now_price", DSL_MONEY, "l.buy_now_price", DSL_ORDER | DSL_NULLABLE, "buy_now_price",
      NULL },
    { "session_id", DSL_INT, "l.session_id", DSL_ORDER | DSL_NULLABLE, "session_id", NULL },
    { "start_time", DSL_TIME, "l.starts_at_us", DSL_ORDER | DSL_NULLABLE, "starts_at_us", NULL },
    { "end_time", DSL_TIME, "l.ends_at_us", DSL_ORDER | DSL_NULLABLE, "ends_at_us", NULL },
    { "created_time", DSL_TIME, "l.created_at_us", DSL_ORDER, "created_at_us", NULL },
    { "updated_time", DSL_TIME, "l.updated_at_us", DSL_ORDER, "updated_at_us", NULL },
    { "photo_urls", DSL_OUTPUT, NULL, 0, "photo_urls", NULL },
    { "condition", DSL_OUTPUT, NULL, 0, "condition", NULL },
    { "reserve_price", DSL_OUTPUT, NULL, 0, "reserve_price", NULL },
    { "has_reserve", DSL_OUTPUT, NULL, 0, "has_reserve", NULL },
    { "increments", DSL_OUTPUT, NULL, 0, "increments", NULL },
    { "soft_close_window_seconds", DSL_OUTPUT, NULL, 0, "soft_close_window_seconds", NULL },
    { "max_extensions", DSL_OUTPUT, NULL, 0, "max_extensions", NULL },
    { "rejection_reason", DSL_OUTPUT, NULL, 0, "rejection_reason", NULL },
    { "result", DSL_OUTPUT, NULL, 0, "result", NULL },
    { "venue", DSL_OUTPUT, NULL, 0, "venue", NULL },
    { "bids_instance", DSL_OUTPUT, NULL, 0, "bids_instance", NULL },
    { 0 },
};

const dsl_schema dsl_catalog_schema = {
    .fields = dsl_catalog_fields,
    .from = "lots l",
    .listing = "ListLots",
    .sample_filter = "[[\"eq\",\"city_id\",671]]",
    .sample_fields = "id,title",
    .sample_order = "start_time desc",
};
