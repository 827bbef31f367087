/*
 * libFuzzer harness for the DSL library (libs/dsl), built by `make fuzz`.
 * Each input is parsed as filter_json against the test schemas of
 * libs/dsl/dsl_test_schema.h (the catalog-like one, whose field names the
 * corpus and dictionary use, and another table's, with a nullable
 * enumeration and text, whole and filters-only). A query that parses must
 * build, its statement and its filters alone must hold no quote, semicolon
 * or comment other than the enumerations' array literals, and a cursor made
 * from it must be accepted on the next page. The input is also tried as a
 * cursor under a few orders (text and integer keys). Any violated property
 * aborts, which libFuzzer reports as a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/core.h"
#include "dsl/dsl.h"
#include "dsl/dsl_test_schema.h"


static void check(bool ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "dsl_fuzz: %s: %s\n", what, detail);
        abort();
    }
}

/* Outside the enumeration literals, the SQL may hold no quote, ';' or
 * comment, and every parameter is there. */
static void check_sql_text(const dsl_schema *schema, const char *sql, int nparams,
                           const char *const *params)
{
    check(test_sql_is_ours(schema, sql), "SQL text carries more than columns", sql);
    for (int i = 0; i < nparams; i++)
        check(params[i] != NULL, "NULL parameter", sql);
}

static dsl_query *parse_and_build(const dsl_schema *schema, const char *json, size_t len,
                                  int64_t now, dsl_sql *s)
{
    char err[256];
    dsl_query *q = NULL;
    int rc = dsl_parse(schema, json, len, now, &q, err, sizeof err);
    if (rc < 0) {
        check(q == NULL && err[0] != '\0' && strlen(err) < sizeof err, "error without message",
              json);
        return NULL;
    }
    const char *vis[] = { "7" };
    dsl_build_sql(q, "1, 2", "3 = $1", 1, vis, s);
    check_sql_text(schema, s->sql, s->nparams, s->params);
    dsl_where w;
    dsl_build_where(q, 2, &w);
    check_sql_text(schema, w.sql, w.nparams, w.params);
    return q;
}

/* A cursor from q for a made-up last row must be accepted on the next page. */
static void cursor_round_trip(const dsl_schema *schema, const uint8_t *data, size_t size,
                              dsl_query *q, const dsl_sql *s)
{
    const char *vals[8], *texts[8];
    char text[32];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    for (int k = 0; k < s->nkeys && k < 8; k++) {
        vals[k] = "42"; /* fits integer and text keys alike */
        texts[k] = text;
    }
    const char *cursor = dsl_cursor_encode(q, vals);
    check(cursor != NULL, "no cursor for integer values", s->sql);
    const char *text_cursor = dsl_cursor_encode(q, texts); /* NULL unless every key is text */
    if (text_cursor != NULL)
        cursor = text_cursor;
    json_t *root = size > 0 ? json_loadb((const char *)data, size, 0, NULL) : json_array();
    if (root == NULL)
        return;
    bool has_cursor = false;
    for (size_t i = 0; i < json_array_size(root); i++) {
        const char *op = json_string_value(json_array_get(json_array_get(root, i), 0));
        has_cursor |= op != NULL && strcmp(op, "cursor") == 0;
    }
    json_array_append_new(root, json_pack("[ss]", "cursor", cursor));
    char *again = json_dumps(root, JSON_COMPACT);
    size_t elems = json_array_size(root);
    json_decref(root);
    char err[256];
    dsl_query *next = NULL;
    int rc = dsl_parse(schema, again, strlen(again), TEST_NOW + 1, &next, err, sizeof err);
    if (strlen(again) <= DSL_MAX_BYTES && elems <= DSL_MAX_ELEMENTS && !has_cursor)
        check(rc == 0, "a cursor of our own was refused", err);
    free(again);
    dsl_query_free(next);
}

/* The input as a cursor, under orders whose keys are text and integers. */
static void input_as_cursor(const uint8_t *data, size_t size)
{
    static const struct {
        const dsl_schema *schema;
        const char *order;
    } orders[] = {
        { &test_lots, "id" },
        { &test_lots, "title, year desc" },
        { &test_lots, "make desc, model" },
        { &test_lots, "state, start_time desc" },
        { &test_bids, "outcome desc, bidder" },
    };
    size_t k = data[0] % (sizeof orders / sizeof orders[0]);
    json_t *doc = json_pack("[[ss],[ss#]]", "order", orders[k].order, "cursor",
                            (const char *)data, size);
    char *text = json_dumps(doc, JSON_COMPACT);
    dsl_sql s;
    dsl_query_free(parse_and_build(orders[k].schema, text, strlen(text), TEST_NOW, &s));
    free(text);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const dsl_schema *const schemas[] = { &test_lots, &test_bids, &test_bid_filters };
    for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++) {
        dsl_sql s;
        dsl_query *q = parse_and_build(schemas[k], (const char *)data, size, TEST_NOW, &s);
        if (q != NULL && !(schemas[k]->refuses & DSL_NO_CURSOR))
            cursor_round_trip(schemas[k], data, size, q, &s);
        dsl_query_free(q);
    }
    if (size > 0 && size <= DSL_MAX_CURSOR && utf8_valid((const char *)data, size))
        input_as_cursor(data, size);
    return 0;
}
