/*
 * The statement of a parsed query, over the test schemas of
 * dsl_test_schema.h: filter_json in, the exact statement and parameters
 * out; the filters alone for statements of a caller's own shape; sort
 * expressions written from a field's row; values a caller wrote (injection
 * attempts among them) only ever as bound parameters.
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

#define VIS "l.seller_id = $1"
#define SELECT "SELECT l.id, "
#define FROM " FROM lots l WHERE (" VIS ")"
#define STARTS "coalesce(l.starts_at_us, 9223372036854775807)"
#define STATE_LITERAL "'{draft,in_review,approved,rejected,scheduled,live,closed,cancelled}'"

static const char *const vis_params[] = { "7" };

static void build(dsl_query *q, dsl_sql *s)
{
    dsl_build_sql(q, "l.id", VIS, 1, vis_params, s);
}

static void assert_params(const dsl_sql *s, const char *const *want)
{
    test_assert_params(s->nparams, s->params, want);
}

/* ---- golden statements ---- */

static const struct golden {
    const char *in;
    const char *sql;
    const char *params[12];
} goldens[] = {
    { /* the seed's example, from the proto */
      .in = "[[\"fields\",\"id,title,start_time\"],[\"eq\",\"city_id\",\"671\"],"
            "[\"gt\",\"start_time\",\"now() - interval 1 minute\"],"
            "[\"order\",\"start_time desc\"],[\"limit\",\"10\"]]",
      .sql = SELECT STARTS ", l.id" FROM " AND l.city_id = $2::bigint"
             " AND l.starts_at_us > $3::bigint ORDER BY " STARTS " DESC, l.id DESC LIMIT $4",
      .params = { "7", "671", "1714557540000000", "11" } },
    { .in = "",
      .sql = SELECT "l.id" FROM " ORDER BY l.id ASC LIMIT $2",
      .params = { "7", "51" } },
    { .in = " [ ] ",
      .sql = SELECT "l.id" FROM " ORDER BY l.id ASC LIMIT $2",
      .params = { "7", "51" } },
    { /* ne on a nullable column keeps the lots without a value */
      .in = "[[\"ne\",\"category_id\",3],[\"ne\",\"year\",\"2001\"]]",
      .sql = SELECT "l.id" FROM " AND l.category_id IS DISTINCT FROM $2::bigint"
             " AND l.year <> $3::bigint ORDER BY l.id ASC LIMIT $4",
      .params = { "7", "3", "2001", "51" } },
    { .in = "[[\"in\",\"state\",[\"live\",\"closed\"]],[\"in\",\"id\",[5,\"6\"]]]",
      .sql = SELECT "l.id" FROM " AND l.state IN ($2::text, $3::text)"
             " AND l.id IN ($4::bigint, $5::bigint) ORDER BY l.id ASC LIMIT $6",
      .params = { "7", "live", "closed", "5", "6", "51" } },
    { .in = "[[\"like\",\"title\",\"%Camry%\"],[\"like\",\"model\",\"_3\"],"
            "[\"like\",\"description\",\"100\\\\%\\\\\\\\\"]]",
      .sql = SELECT "l.id" FROM
             " AND lower(l.title COLLATE gavel_ci) LIKE lower($2::text COLLATE gavel_ci)"
             " AND lower(l.model COLLATE gavel_ci) LIKE lower($3::text COLLATE gavel_ci)"
             " AND lower(l.description COLLATE gavel_ci)"
             " LIKE lower($4::text COLLATE gavel_ci) ORDER BY l.id ASC LIMIT $5",
      .params = { "7", "%Camry%", "_3", "100\\%\\\\", "51" } },
    { /* absolute times: micros as number and string, RFC 3339 with offset,
         fraction and lower-case letters, a leap day */
      .in = "[[\"gte\",\"start_time\",1714557600000000],"
            "[\"lt\",\"end_time\",\"1714557600000001\"],"
            "[\"gt\",\"created_time\",\"2024-05-01t13:00:00.25+03:00\"],"
            "[\"lte\",\"updated_time\",\"2024-02-29T23:59:59.999999z\"]]",
      .sql = SELECT "l.id" FROM " AND l.starts_at_us >= $2::bigint AND l.ends_at_us < $3::bigint"
             " AND l.created_at_us > $4::bigint AND l.updated_at_us <= $5::bigint"
             " ORDER BY l.id ASC LIMIT $6",
      .params = { "7", "1714557600000000", "1714557600000001", "1714557600250000",
                  "1709251199999999", "51" } },
    { /* relative times, in any case and spacing the grammar allows */
      .in = "[[\"gt\",\"start_time\",\"now()\"],"
            "[\"lt\",\"start_time\",\"  NOW ( ) + INTERVAL 2 hours \"],"
            "[\"gte\",\"end_time\",\"now()-interval 90 seconds\"],"
            "[\"lte\",\"end_time\",\"now() + interval 1 day\"]]",
      .sql = SELECT "l.id" FROM " AND l.starts_at_us > $2::bigint AND l.starts_at_us < $3::bigint"
             " AND l.ends_at_us >= $4::bigint AND l.ends_at_us <= $5::bigint"
             " ORDER BY l.id ASC LIMIT $6",
      .params = { "7", "1714557600000000", "1714564800000000", "1714557510000000",
                  "1714644000000000", "51" } },
    { /* money in minor units; a JSON integer for a text field is its text */
      .in = "[[\"gte\",\"start_price\",\"0\"],[\"lt\",\"buy_now_price\",250000],"
            "[\"eq\",\"model\",911]]",
      .sql = SELECT "l.id" FROM " AND l.start_price >= $2::bigint AND l.buy_now_price < $3::bigint"
             " AND l.model = $4::text ORDER BY l.id ASC LIMIT $5",
      .params = { "7", "0", "250000", "911", "51" } },
    { /* mixed directions; id follows the last key's direction */
      .in = "[[\"order\",\"make, year desc, title\"],[\"limit\",1]]",
      .sql = SELECT "l.make, l.year, l.title, l.id" FROM
             " ORDER BY l.make ASC, l.year DESC, l.title ASC, l.id ASC LIMIT $2",
      .params = { "7", "2" } },
    { /* the state sorts in lifecycle order; an explicit id ends the keys */
      .in = "[[\"order\",\"state DESC,id asc\"],[\"limit\",200]]",
      .sql = SELECT "array_position(" STATE_LITERAL "::text[], l.state), l.id" FROM
             " ORDER BY array_position(" STATE_LITERAL "::text[], l.state) DESC, l.id ASC"
             " LIMIT $2",
      .params = { "7", "201" } },
    { /* nullable keys sort NULL as the sentinel */
      .in = "[[\"order\",\"category_id, session_id desc\"]]",
      .sql = SELECT "coalesce(l.category_id, 9223372036854775807), "
             "coalesce(l.session_id, 9223372036854775807), l.id" FROM
             " ORDER BY coalesce(l.category_id, 9223372036854775807) ASC, "
             "coalesce(l.session_id, 9223372036854775807) DESC, l.id DESC LIMIT $2",
      .params = { "7", "51" } },
};

static void goldens_build_the_exact_statement_and_parameters(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        dsl_query *q = test_parse_ok(&test_lots, goldens[i].in, TEST_NOW);
        dsl_sql s;
        build(q, &s);
        if (strcmp(s.sql, goldens[i].sql) != 0)
            fail_msg("%s:\n got  %s\n want %s", goldens[i].in, s.sql, goldens[i].sql);
        assert_params(&s, goldens[i].params);
        dsl_query_free(q);
    }
}

static void staff_visibility_is_true_and_numbers_our_parameters_from_one(void **state)
{
    (void)state;
    dsl_query *q = test_parse_ok(&test_lots, "[[\"eq\",\"city_id\",671]]", TEST_NOW);
    dsl_sql s;
    dsl_build_sql(q, "l.id", NULL, 0, NULL, &s);
    assert_string_equal(s.sql, "SELECT l.id, l.id FROM lots l WHERE (true)"
                               " AND l.city_id = $1::bigint ORDER BY l.id ASC LIMIT $2");
    assert_params(&s, (const char *const[]){ "671", "51", NULL });
    assert_int_equal(s.nkeys, 1);
    dsl_query_free(q);
}

/* ---- injection ---- */

static void injected_values_are_bound_parameters(void **state)
{
    (void)state;
    static const struct { const char *in, *value; } cases[] = {
        { "[[\"eq\",\"title\",\"' OR 1=1 --\"]]", "' OR 1=1 --" },
        { "[[\"like\",\"description\",\"%'; DELETE FROM lots; --\"]]",
          "%'; DELETE FROM lots; --" },
        { "[[\"in\",\"make\",[\"a\",\"b') OR ('1'='1\"]]]", "b') OR ('1'='1" },
        { "[[\"eq\",\"make\",\"x\\\"; DROP TABLE lots; /*\"]]", "x\"; DROP TABLE lots; /*" },
        { "[[\"eq\",\"vin\",\"$1\"]]", "$1" },
        { "[[\"eq\",\"model\",\"\\u0442\\u0430\\u0439\\u0442\\u043b\"]]", "тайтл" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = test_parse_ok(&test_lots, cases[i].in, TEST_NOW);
        dsl_sql s;
        build(q, &s);
        test_assert_sql_is_ours(&test_lots, s.sql);
        bool is_bound = false;
        for (int k = 0; k < s.nparams; k++)
            is_bound |= strcmp(s.params[k], cases[i].value) == 0;
        assert_true(is_bound);
        dsl_query_free(q);
    }
}

/* ---- the filters alone ---- */

static void filters_alone_number_their_parameters_from_first(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int first;
        const char *sql;
        const char *params[6];
    } cases[] = {
        { .in = "[]", .first = 1, .sql = "true" },
        { .in = "[[\"order\",\"year desc\"],[\"limit\",3],[\"fields\",\"title\"]]", .first = 4,
          .sql = "true" },
        { .in = "[[\"eq\",\"city_id\",671],[\"in\",\"state\",[\"live\",\"closed\"]],"
                "[\"like\",\"title\",\"%Camry%\"],[\"ne\",\"session_id\",2]]",
          .first = 3,
          .sql = "l.city_id = $3::bigint AND l.state IN ($4::text, $5::text)"
                 " AND lower(l.title COLLATE gavel_ci) LIKE lower($6::text COLLATE gavel_ci)"
                 " AND l.session_id IS DISTINCT FROM $7::bigint",
          .params = { "671", "live", "closed", "%Camry%", "2" } },
        { .in = "[[\"gt\",\"end_time\",\"now() - interval 1 minute\"]]", .first = 1,
          .sql = "l.ends_at_us > $1::bigint", .params = { "1714557540000000" } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = test_parse_ok(&test_lots, cases[i].in, TEST_NOW);
        dsl_where w;
        dsl_build_where(q, cases[i].first, &w);
        if (strcmp(w.sql, cases[i].sql) != 0)
            fail_msg("%s:\n got  %s\n want %s", cases[i].in, w.sql, cases[i].sql);
        test_assert_params(w.nparams, w.params, cases[i].params);
        dsl_query_free(q);
    }
}

static void the_where_of_a_query_is_the_filters_of_its_statement(void **state)
{
    (void)state;
    const char *in =
        "[[\"gte\",\"year\",2015],[\"like\",\"make\",\"%lada%\"],[\"order\",\"make\"]]";
    dsl_query *q = test_parse_ok(&test_lots, in, TEST_NOW);
    dsl_where w;
    dsl_build_where(q, 2, &w);
    dsl_sql s;
    build(q, &s);
    char *want = xasprintf(" WHERE (" VIS ") AND %s ORDER BY", w.sql);
    if (strstr(s.sql, want) == NULL)
        fail_msg("%s does not hold %s", s.sql, want);
    for (int i = 0; i < w.nparams; i++)
        assert_string_equal(s.params[1 + i], w.params[i]);
    free(want);
    dsl_query_free(q);
}

/* ---- sort expressions ---- */

static void sort_expressions_come_from_the_row(void **state)
{
    (void)state;
    static const struct {
        const dsl_schema *schema;
        const char *order;
        const char *key; /* the select list's first order key */
    } cases[] = {
        { &test_lots, "year", "l.year" },
        { &test_lots, "category_id", "coalesce(l.category_id, 9223372036854775807)" },
        { &test_lots, "state", "array_position(" STATE_LITERAL "::text[], l.state)" },
        { &test_bids, "outcome", "coalesce(array_position('{leading,outbid,won,lost}'::text[], "
                                 "b.outcome), 9223372036854775807)" },
        { &test_bids, "bidder desc", "b.bidder_name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *in = xasprintf("[[\"order\",\"%s\"]]", cases[i].order);
        dsl_query *q = test_parse_ok(cases[i].schema, in, TEST_NOW);
        dsl_sql s;
        dsl_build_sql(q, "1", NULL, 0, NULL, &s);
        char *want = xasprintf("SELECT 1, %s, ", cases[i].key);
        if (strncmp(s.sql, want, strlen(want)) != 0)
            fail_msg("%s:\n got  %s\n want %s...", in, s.sql, want);
        test_assert_sql_is_ours(cases[i].schema, s.sql);
        free(want);
        free(in);
        dsl_query_free(q);
    }
}

int main(void)
{
    log_init("dsl-sql-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(goldens_build_the_exact_statement_and_parameters),
        cmocka_unit_test(staff_visibility_is_true_and_numbers_our_parameters_from_one),
        cmocka_unit_test(injected_values_are_bound_parameters),
        cmocka_unit_test(filters_alone_number_their_parameters_from_first),
        cmocka_unit_test(the_where_of_a_query_is_the_filters_of_its_statement),
        cmocka_unit_test(sort_expressions_come_from_the_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
