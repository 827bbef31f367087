/*
 * dsl_test_schema.h: the schemas dsl's unit tests and its fuzz harness
 * (tests/fuzz/dsl_fuzz.c) run on, never library code. Between them they
 * hold every type and flag:
 *
 *   test_lots         a part of the catalog's lots (alias l), with the
 *                     catalog's names, so the fuzz corpus and dictionary
 *                     reach past the field checks;
 *   test_bids         another table (bids b) with other names, a key that
 *                     is not called id, a nullable enumeration and a
 *                     nullable text;
 *   test_bid_filters  the same fields taking filters only, as a saved
 *                     search does.
 *
 * test_sql_is_ours is the safety property both check: outside the
 * enumerations' array literals, a statement holds no quote, semicolon or
 * comment, so nothing a caller wrote became SQL text.
 */
#ifndef GAVEL_DSL_TEST_SCHEMA_H
#define GAVEL_DSL_TEST_SCHEMA_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dsl.h"

#define TEST_NOW 1714557600000000LL /* 2024-05-01T10:00:00Z */

static const char *const test_states[] = { "draft", "in_review", "approved", "rejected",
                                           "scheduled", "live", "closed", "cancelled", NULL };

static const dsl_field test_lot_fields[] = {
    { "id", DSL_INT, "l.id", DSL_ORDER, NULL, NULL },
    { "seller_id", DSL_INT, "l.seller_id", DSL_ORDER, NULL, NULL },
    { "title", DSL_TEXT, "l.title", DSL_ORDER | DSL_LIKE, NULL, NULL },
    { "description", DSL_TEXT, "l.description", DSL_LIKE, NULL, NULL },
    { "make", DSL_TEXT, "l.make", DSL_ORDER | DSL_LIKE, NULL, NULL },
    { "model", DSL_TEXT, "l.model", DSL_ORDER | DSL_LIKE, NULL, NULL },
    { "year", DSL_INT, "l.year", DSL_ORDER, NULL, NULL },
    { "vin", DSL_TEXT, "l.vin", DSL_ORDER, NULL, NULL },
    { "city_id", DSL_INT, "l.city_id", DSL_ORDER, NULL, NULL },
    { "category_id", DSL_INT, "l.category_id", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "state", DSL_ENUM, "l.state", DSL_ORDER, NULL, test_states },
    { "start_price", DSL_MONEY, "l.start_price", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "buy_now_price", DSL_MONEY, "l.buy_now_price", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "session_id", DSL_INT, "l.session_id", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "start_time", DSL_TIME, "l.starts_at_us", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "end_time", DSL_TIME, "l.ends_at_us", DSL_ORDER | DSL_NULLABLE, NULL, NULL },
    { "created_time", DSL_TIME, "l.created_at_us", DSL_ORDER, NULL, NULL },
    { "updated_time", DSL_TIME, "l.updated_at_us", DSL_ORDER, NULL, NULL },
    { "photo_urls", DSL_OUTPUT, NULL, 0, NULL, NULL },
    { "reserve_price", DSL_OUTPUT, NULL, 0, NULL, NULL },
    { 0 },
};

static const dsl_schema test_lots = {
    .fields = test_lot_fields,
    .from = "lots l",
    .listing = "ListLots",
    .sample_filter = "[[\"eq\",\"city_id\",671]]",
    .sample_fields = "id,title",
    .sample_order = "start_time desc",
};

static const char *const test_outcomes[] = { "leading", "outbid", "won", "lost", NULL };

static const dsl_field test_bid_fields[] = {
    { "bid_id", DSL_INT, "b.bid_id", DSL_ORDER, NULL, NULL },
    { "lot_id", DSL_INT, "b.lot_id", DSL_ORDER, NULL, NULL },
    { "amount", DSL_MONEY, "b.amount", DSL_ORDER, NULL, NULL },
    { "placed_time", DSL_TIME, "b.placed_at_us", DSL_ORDER, NULL, NULL },
    { "outcome", DSL_ENUM, "b.outcome", DSL_ORDER | DSL_NULLABLE, NULL, test_outcomes },
    { "bidder", DSL_TEXT, "b.bidder_name", DSL_ORDER | DSL_LIKE, NULL, NULL },
    { "note", DSL_TEXT, "b.note", DSL_NULLABLE | DSL_LIKE, NULL, NULL },
    { "bidder_id", DSL_OUTPUT, NULL, 0, NULL, NULL },
    { 0 },
};

static const dsl_schema test_bids = {
    .fields = test_bid_fields,
    .from = "bids b",
    .listing = "ListBids",
    .sample_filter = "[[\"eq\",\"lot_id\",7]]",
    .sample_fields = "bid_id,amount",
    .sample_order = "amount desc",
};

static const dsl_schema test_bid_filters = {
    .fields = test_bid_fields,
    .from = "bids b",
    .refuses = DSL_NO_FIELDS | DSL_NO_ORDER | DSL_NO_LIMIT | DSL_NO_CURSOR,
    .sample_filter = "[[\"eq\",\"lot_id\",7]]",
};

/* Blanks every enumeration literal '{a,b,...}' of schema out of sql. */
static inline void test_blank_enum_literals(const dsl_schema *schema, char *sql)
{
    for (const dsl_field *f = schema->fields; f->name != NULL; f++) {
        if (f->type != DSL_ENUM)
            continue;
        char literal[512] = "'{";
        for (size_t i = 0; f->names[i] != NULL; i++)
            snprintf(literal + strlen(literal), sizeof literal - strlen(literal), "%s%s",
                     i > 0 ? "," : "", f->names[i]);
        snprintf(literal + strlen(literal), sizeof literal - strlen(literal), "}'");
        for (char *at = strstr(sql, literal); at != NULL; at = strstr(at, literal))
            memset(at, ' ', strlen(literal));
    }
}

/* Outside the enumeration literals, the statement holds no quote, ';' or
 * comment: whatever the caller wrote is a parameter. */
static inline bool test_sql_is_ours(const dsl_schema *schema, const char *sql)
{
    char *copy = xstrdup(sql);
    test_blank_enum_literals(schema, copy);
    bool is_ours = strpbrk(copy, "'\";") == NULL && strstr(copy, "--") == NULL &&
                   strstr(copy, "/*") == NULL;
    free(copy);
    return is_ours;
}

#endif
