/*
 * Schemas: the test schemas pass the check, every broken schema is refused
 * with a message naming its row, and a second schema — other fields, other
 * FROM item, a key that is not called id — gets the whole language, its
 * statements, cursors and messages in its own terms: the library is not
 * tied to lots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsl_test_util.h"

/* ---- the check ---- */

static void test_schemas_pass_the_check(void **state)
{
    (void)state;
    static const dsl_schema *const schemas[] = { &test_lots, &test_bids, &test_bid_filters };
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        char err[256];
        if (dsl_schema_check(schemas[i], err, sizeof err) != 0)
            fail_msg("%s: %s", schemas[i]->from, err);
    }
}

/* A key row and the samples, around one row under test. */
#define KEY { "id", DSL_INT, "t.id", DSL_ORDER, NULL, NULL }
#define ONE_ROW(...) \
    { .fields = (const dsl_field[]){ KEY, __VA_ARGS__, { 0 } }, .from = "things t", \
      .listing = "ListThings", .sample_filter = "[]", .sample_fields = "id", \
      .sample_order = "id" }

static const char *const no_names[] = { NULL };
static const char *const spaced_names[] = { "in review", NULL };
static const char *const twice_names[] = { "a", "b", "a", NULL };

static const struct broken {
    dsl_schema schema;
    const char *msg;
} broken[] = {
    { .schema = ONE_ROW({ "City Id", DSL_INT, "t.city", 0, NULL, NULL }),
      .msg = "field 1 (\"City Id\"): the name must be [a-z0-9_]+" },
    { .schema = ONE_ROW({ "year", DSL_INT, "t.year", 0, NULL, NULL },
                        { "year", DSL_INT, "t.year2", 0, NULL, NULL }),
      .msg = "field 2 (\"year\"): the name is also an earlier field's" },
    { .schema = ONE_ROW({ "x", (dsl_type)42, "t.x", 0, NULL, NULL }),
      .msg = "field 1 (\"x\"): unknown type" },
    { .schema = ONE_ROW({ "x", DSL_INT, "t.x", 1u << 7, NULL, NULL }),
      .msg = "field 1 (\"x\"): unknown flags" },
    { .schema = ONE_ROW({ "photos", DSL_OUTPUT, "t.photos", 0, NULL, NULL }),
      .msg = "field 1 (\"photos\"): an output-only field has no column or flags" },
    { .schema = ONE_ROW({ "title", DSL_TEXT, NULL, 0, NULL, NULL }),
      .msg = "field 1 (\"title\"): the column must be SQL without quotes, semicolons or "
             "comments" },
    { .schema = ONE_ROW({ "title", DSL_TEXT, "t.title || 'x'", 0, NULL, NULL }),
      .msg = "field 1 (\"title\"): the column must be SQL without quotes, semicolons or "
             "comments" },
    { .schema = ONE_ROW({ "title", DSL_TEXT, "t.title -- x", 0, NULL, NULL }),
      .msg = "field 1 (\"title\"): the column must be SQL without quotes, semicolons or "
             "comments" },
    { .schema = ONE_ROW({ "year", DSL_INT, "t.year", DSL_LIKE, NULL, NULL }),
      .msg = "field 1 (\"year\"): DSL_LIKE applies to DSL_TEXT only" },
    { .schema = ONE_ROW({ "note", DSL_TEXT, "t.note", DSL_ORDER | DSL_NULLABLE, NULL, NULL }),
      .msg = "field 1 (\"note\"): a nullable DSL_TEXT cannot be ordered by (NULL sorts as an "
             "integer)" },
    { .schema = ONE_ROW({ "state", DSL_ENUM, "t.state", 0, NULL, NULL }),
      .msg = "field 1 (\"state\"): DSL_ENUM needs at least one name" },
    { .schema = ONE_ROW({ "state", DSL_ENUM, "t.state", 0, NULL, no_names }),
      .msg = "field 1 (\"state\"): DSL_ENUM needs at least one name" },
    { .schema = ONE_ROW({ "state", DSL_ENUM, "t.state", 0, NULL, spaced_names }),
      .msg = "field 1 (\"state\"): every name must be [a-z0-9_]+" },
    { .schema = ONE_ROW({ "state", DSL_ENUM, "t.state", 0, NULL, twice_names }),
      .msg = "field 1 (\"state\"): a name is listed twice" },
    { .schema = ONE_ROW({ "year", DSL_INT, "t.year", 0, NULL, twice_names }),
      .msg = "field 1 (\"year\"): only DSL_ENUM has names" },
    { .schema = { .fields = (const dsl_field[]){ { 0 } }, .from = "things t" },
      .msg = "field 0 (\"\") is the key: a DSL_INT with DSL_ORDER, not nullable" },
    { .schema = { .fields = (const dsl_field[]){ { "id", DSL_TEXT, "t.id", DSL_ORDER, NULL,
                                                   NULL }, { 0 } },
                  .from = "things t" },
      .msg = "field 0 (\"id\") is the key: a DSL_INT with DSL_ORDER, not nullable" },
    { .schema = { .fields = (const dsl_field[]){ { "id", DSL_INT, "t.id", DSL_ORDER | DSL_NULLABLE,
                                                   NULL, NULL }, { 0 } },
                  .from = "things t" },
      .msg = "field 0 (\"id\") is the key: a DSL_INT with DSL_ORDER, not nullable" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t; DROP" },
      .msg = "schema: fields and a from item without quotes, semicolons or comments are "
             "required" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                  .refuses = 1u << 4 },
      .msg = "schema: unknown refuses bits" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                  .sample_filter = "[]" },
      .msg = "schema: listing is required unless DSL_NO_CURSOR" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                  .listing = "ListThings" },
      .msg = "schema: sample_filter is required" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                  .refuses = DSL_NO_CURSOR, .sample_filter = "[[\"eq\",\"city\",1]]" },
      .msg = "schema: sample_filter [[\"eq\",\"city\",1]] does not parse: element 0: unknown "
             "field \"city\"" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                  .refuses = DSL_NO_CURSOR | DSL_NO_ORDER, .sample_filter = "[]",
                  .sample_fields = "id,title" },
      .msg = "schema: sample_fields id,title does not parse: element 0: unknown field "
             "\"title\"" },
    { .schema = { .fields = (const dsl_field[]){ KEY, { "note", DSL_TEXT, "t.note", 0, NULL,
                                                        NULL }, { 0 } },
                  .from = "things t", .refuses = DSL_NO_CURSOR | DSL_NO_FIELDS,
                  .sample_filter = "[]", .sample_order = "note desc" },
      .msg = "schema: sample_order note desc does not parse: element 0: cannot order by "
             "\"note\"" },
};

static void broken_schemas_are_refused_naming_the_row(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char err[256];
        int rc = dsl_schema_check(&broken[i].schema, err, sizeof err);
        if (rc != DSL_E_SCHEMA || strcmp(err, broken[i].msg) != 0)
            fail_msg("case %zu:\n got  %d %s\n want %s", i, rc, err, broken[i].msg);
    }
    assert_int_equal(dsl_schema_check(NULL, NULL, 0), DSL_E_SCHEMA);
}

static void a_schema_holds_at_most_64_fields(void **state)
{
    (void)state;
    static char names[DSL_MAX_FIELDS + 1][16];
    dsl_field fields[DSL_MAX_FIELDS + 2] = { KEY };
    for (int i = 1; i <= DSL_MAX_FIELDS; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        fields[i] = (dsl_field){ .name = names[i], .type = DSL_OUTPUT };
    }
    dsl_schema schema = { .fields = fields, .from = "things t", .refuses = DSL_NO_CURSOR,
                          .sample_filter = "[]", .sample_fields = "id", .sample_order = "id" };
    char err[256];
    assert_int_equal(dsl_schema_check(&schema, err, sizeof err), DSL_E_SCHEMA);
    assert_string_equal(err, "field 64 (\"f64\"): more than 64 fields");
    fields[DSL_MAX_FIELDS] = (dsl_field){ 0 };
    assert_int_equal(dsl_schema_check(&schema, err, sizeof err), 0);
}

/* ---- a second schema ---- */

#define OUTCOME_RANK \
    "coalesce(array_position('{leading,outbid,won,lost}'::text[], b.outcome), " \
    "9223372036854775807)"

static int bid_field(const char *name)
{
    for (int i = 0; test_bid_fields[i].name != NULL; i++)
        if (strcmp(test_bid_fields[i].name, name) == 0)
            return i;
    fail_msg("no field %s", name);
    return -1;
}

static void a_second_schema_with_other_fields_and_from_works(void **state)
{
    (void)state;
    const char *in = "[[\"eq\",\"lot_id\",7],[\"gte\",\"amount\",\"1000\"],"
                     "[\"gt\",\"placed_time\",\"now() - interval 1 hour\"],"
                     "[\"in\",\"outcome\",[\"won\",\"lost\"]],[\"ne\",\"note\",\"late\"],"
                     "[\"like\",\"bidder\",\"%ivan%\"],[\"order\",\"outcome desc, bidder\"],"
                     "[\"fields\",\"amount\"]]";
    dsl_query *q = test_parse_ok(&test_bids, in, TEST_NOW);
    dsl_sql s;
    dsl_build_sql(q, "b.amount", NULL, 0, NULL, &s);
    assert_string_equal(s.sql,
        "SELECT b.amount, " OUTCOME_RANK ", b.bidder_name, b.bid_id FROM bids b WHERE (true)"
        " AND b.lot_id = $1::bigint AND b.amount >= $2::bigint AND b.placed_at_us > $3::bigint"
        " AND b.outcome IN ($4::text, $5::text) AND b.note IS DISTINCT FROM $6::text"
        " AND lower(b.bidder_name COLLATE gavel_ci) LIKE lower($7::text COLLATE gavel_ci)"
        " ORDER BY " OUTCOME_RANK " DESC, b.bidder_name ASC, b.bid_id ASC LIMIT $8");
    test_assert_params(s.nparams, s.params,
                       (const char *const[]){ "7", "1000", "1714554000000000", "won", "lost",
                                              "late", "%ivan%", "51", NULL });
    assert_int_equal(s.nkeys, 3);
    test_assert_sql_is_ours(&test_bids, s.sql);
    for (int i = 0; test_bid_fields[i].name != NULL; i++)
        assert_int_equal(dsl_returns(q, i), i == bid_field("amount") || i == bid_field("bid_id"));

    /* the next page continues after the last row, in bids' own columns */
    const char *cursor = dsl_cursor_encode(q, (const char *const[]){ "3", "Иван", "17" });
    assert_non_null(cursor);
    char err[256];
    int rc;
    dsl_query *next = test_with_cursor(&test_bids, in, cursor, TEST_NOW + 1, err, &rc);
    if (rc != 0)
        fail_msg("%s", err);
    dsl_build_sql(next, "b.amount", NULL, 0, NULL, &s);
    const char *after = " AND ((" OUTCOME_RANK " < $8::bigint) OR (" OUTCOME_RANK " = $8::bigint"
                        " AND b.bidder_name > $9::text) OR (" OUTCOME_RANK " = $8::bigint AND"
                        " b.bidder_name = $9::text AND b.bid_id > $10::bigint)) ORDER BY";
    if (strstr(s.sql, after) == NULL)
        fail_msg("no keyset condition %s in %s", after, s.sql);
    assert_string_equal(s.params[2], "1714554000000000"); /* the first page's now */
    assert_string_equal(s.params[8], "Иван");
    dsl_query_free(next);
    dsl_query_free(q);
}

static void a_second_schemas_messages_speak_of_its_fields(void **state)
{
    (void)state;
    static const test_refusal cases[] = {
        { "[[\"eq\",\"id\",1]]", DSL_E_FIELD, "element 0: unknown field \"id\"" },
        { "[[\"eq\",\"city_id\",1]]", DSL_E_FIELD, "element 0: unknown field \"city_id\"" },
        { "[[\"like\",\"amount\",\"%1%\"]]", DSL_E_FIELD,
          "element 0: \"like\" applies only to bidder and note, not amount" },
        { "[[\"eq\",\"outcome\",\"sold\"]]", DSL_E_VALUE,
          "element 0: outcome must be one of leading, outbid, won, lost; got \"sold\"" },
        { "[[\"lt\",\"outcome\",\"won\"]]", DSL_E_FIELD,
          "element 0: \"lt\" does not apply to outcome (use eq, ne or in)" },
        { "[[\"order\",\"bid_id, amount\"]]", DSL_E_FIELD,
          "element 0: \"bid_id\" must be the last order key (it is unique)" },
        { "[[\"order\",\"note\"]]", DSL_E_FIELD, "element 0: cannot order by \"note\"" },
        { "[[\"eq\",\"bidder_id\",1]]", DSL_E_FIELD,
          "element 0: field \"bidder_id\" can be returned but not filtered on" },
        { "[[\"fields\",1]]", DSL_E_VALUE,
          "element 0: \"fields\" needs a string such as \"bid_id,amount\", got 1" },
        { "[[\"fields\"]]", DSL_E_ELEMENT,
          "element 0: \"fields\" takes 1 item after its name, as in [\"fields\", "
          "\"bid_id,amount,...\"]; got 0" },
        { "[[\"order\",[]]]", DSL_E_VALUE,
          "element 0: \"order\" needs a string such as \"amount desc\", got an array" },
        { "{}", DSL_E_JSON,
          "filter_json must be a JSON array of elements, such as [[\"eq\",\"lot_id\",7]]" },
    };
    test_assert_refusals(&test_bids, cases, sizeof cases / sizeof cases[0]);
}

static void a_schema_without_like_fields_says_so(void **state)
{
    (void)state;
    const dsl_schema plain = { .fields = (const dsl_field[]){ KEY, { 0 } }, .from = "things t",
                               .refuses = DSL_NO_CURSOR, .sample_filter = "[]",
                               .sample_fields = "id", .sample_order = "id" };
    char err[256];
    assert_int_equal(dsl_schema_check(&plain, err, sizeof err), 0);
    assert_int_equal(test_parse_rc(&plain, "[[\"like\",\"id\",\"%1%\"]]", err, sizeof err),
                     DSL_E_FIELD);
    assert_string_equal(err, "element 0: \"like\" applies to no field here");
}

int main(void)
{
    log_init("dsl-schema-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas_pass_the_check),
        cmocka_unit_test(broken_schemas_are_refused_naming_the_row),
        cmocka_unit_test(a_schema_holds_at_most_64_fields),
        cmocka_unit_test(a_second_schema_with_other_fields_and_from_works),
        cmocka_unit_test(a_second_schemas_messages_speak_of_its_fields),
        cmocka_unit_test(a_schema_without_like_fields_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
