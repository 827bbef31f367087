/*
 * Cursors, over the test schemas of dsl_test_schema.h: they round-trip into
 * the keyset condition after the last row, keep the first page's `now`,
 * allow another page size or fields but refuse other filters or order,
 * refuse every altered character, and refuse key values that do not fit.
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

static const char *const vis_params[] = { "7" };

static void build(dsl_query *q, dsl_sql *s)
{
    dsl_build_sql(q, "l.id", VIS, 1, vis_params, s);
}

/* The query of `in` followed by ["cursor", cursor], over test_lots. */
static dsl_query *with_cursor(const char *in, const char *cursor, int64_t now, char *err,
                              int *rc)
{
    return test_with_cursor(&test_lots, in, cursor, now, err, rc);
}

/* Parses in at TEST_NOW into *q (caller frees) and returns the cursor after
 * a row with these key values, borrowed from *q. */
static const char *cursor_of(const char *in, const char *const *keys, dsl_query **q)
{
    *q = test_parse_ok(&test_lots, in, TEST_NOW);
    const char *cursor = dsl_cursor_encode(*q, keys);
    assert_non_null(cursor);
    return cursor;
}

static void cursors_continue_after_the_last_row(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *keys[4];
        const char *sql;
        const char *params[8];
    } cases[] = {
        { .in = "[]", .keys = { "41" },
          .sql = SELECT "l.id" FROM " AND l.id > $2::bigint ORDER BY l.id ASC LIMIT $3",
          .params = { "7", "41", "51" } },
        { .in = "[[\"order\",\"start_time desc\"],[\"eq\",\"city_id\",5]]",
          .keys = { "9223372036854775807", "12" },
          .sql = SELECT STARTS ", l.id" FROM " AND l.city_id = $2::bigint AND (" STARTS
                 ", l.id) < ($3::bigint, $4::bigint) ORDER BY " STARTS " DESC, l.id DESC"
                 " LIMIT $5",
          .params = { "7", "5", "9223372036854775807", "12", "51" } },
        { .in = "[[\"order\",\"make, year desc\"],[\"limit\",3]]",
          .keys = { "Лада \"Нива\" 'x'", "2019", "42" },
          .sql = SELECT "l.make, l.year, l.id" FROM " AND ((l.make > $2::text)"
                 " OR (l.make = $2::text AND l.year < $3::bigint)"
                 " OR (l.make = $2::text AND l.year = $3::bigint AND l.id < $4::bigint))"
                 " ORDER BY l.make ASC, l.year DESC, l.id DESC LIMIT $5",
          .params = { "7", "Лада \"Нива\" 'x'", "2019", "42", "4" } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q;
        const char *cursor = cursor_of(cases[i].in, cases[i].keys, &q);
        assert_true(strspn(cursor, "0123456789abcdef") == strlen(cursor));
        char err[256];
        int rc;
        dsl_query *next = with_cursor(cases[i].in, cursor, TEST_NOW + 1, err, &rc);
        if (rc != 0)
            fail_msg("%s: %s", cases[i].in, err);
        dsl_sql s;
        build(next, &s);
        if (strcmp(s.sql, cases[i].sql) != 0)
            fail_msg("%s:\n got  %s\n want %s", cases[i].in, s.sql, cases[i].sql);
        test_assert_params(s.nparams, s.params, cases[i].params);
        test_assert_sql_is_ours(&test_lots, s.sql);
        dsl_query_free(next);
        dsl_query_free(q);
    }
}

static void later_pages_keep_the_first_pages_now(void **state)
{
    (void)state;
    const char *in = "[[\"gt\",\"end_time\",\"now() - interval 1 minute\"]]";
    dsl_query *q;
    const char *cursor = cursor_of(in, (const char *const[]){ "5" }, &q);
    char err[256];
    int rc;
    dsl_query *next = with_cursor(in, cursor, TEST_NOW + 3600000000LL, err, &rc);
    assert_int_equal(rc, 0);
    dsl_sql s;
    build(next, &s);
    assert_string_equal(s.params[1], "1714557540000000");
    dsl_query_free(next);
    /* and equal intervals written differently are the same query */
    next = with_cursor("[[\"gt\",\"end_time\",\"now() - interval 60 seconds\"]]", cursor, TEST_NOW,
                       err, &rc);
    assert_int_equal(rc, 0);
    dsl_query_free(next);
    dsl_query_free(q);
}

static void cursors_may_change_page_size_and_fields_but_not_filters_or_order(void **state)
{
    (void)state;
    dsl_query *q;
    const char *cursor = cursor_of("[[\"eq\",\"city_id\",5],[\"order\",\"year\"]]",
                                   (const char *const[]){ "2019", "3" }, &q);
    static const struct { const char *in; int rc; } cases[] = {
        { "[[\"eq\",\"city_id\",5],[\"order\",\"year\"],[\"limit\",9],[\"fields\",\"title\"]]", 0 },
        { "[[\"eq\",\"city_id\",\"5\"],[\"order\",\"year asc\"]]", 0 },
        { "[[\"eq\",\"city_id\",6],[\"order\",\"year\"]]", DSL_E_CURSOR },
        { "[[\"ne\",\"city_id\",5],[\"order\",\"year\"]]", DSL_E_CURSOR },
        { "[[\"eq\",\"city_id\",5],[\"order\",\"year desc\"]]", DSL_E_CURSOR },
        { "[[\"eq\",\"city_id\",5],[\"order\",\"seller_id\"]]", DSL_E_CURSOR },
        { "[[\"eq\",\"city_id\",5]]", DSL_E_CURSOR },
        { "[[\"order\",\"year\"],[\"eq\",\"city_id\",5],[\"eq\",\"year\",5]]", DSL_E_CURSOR },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        int rc;
        dsl_query_free(with_cursor(cases[i].in, cursor, TEST_NOW, err, &rc));
        if (rc != cases[i].rc)
            fail_msg("%s: got %d %s", cases[i].in, rc, rc ? err : "");
        if (rc != 0)
            assert_non_null(strstr(err, "cursor does not match these filters and order"));
    }
    dsl_query_free(q);
}

static void altered_cursors_are_refused(void **state)
{
    (void)state;
    const char *in = "[[\"order\",\"title desc\"]]";
    dsl_query *q;
    char *cursor = xstrdup(cursor_of(in, (const char *const[]){ "Camry", "9" }, &q));
    size_t n = strlen(cursor);
    char err[256];
    int rc;
    for (size_t i = 0; i < n; i++) {
        char was = cursor[i];
        cursor[i] = was == '0' ? '1' : '0';
        dsl_query_free(with_cursor(in, cursor, TEST_NOW, err, &rc));
        if (rc != DSL_E_CURSOR)
            fail_msg("changing character %zu of %s gave %d", i, cursor, rc);
        cursor[i] = (char)(was >= 'a' ? was - 32 : was); /* upper case is not ours either */
        dsl_query_free(with_cursor(in, cursor, TEST_NOW, err, &rc));
        assert_int_equal(rc, was >= 'a' ? DSL_E_CURSOR : 0);
        cursor[i] = was;
    }
    static const char *const malformed[] = { "", "0", "01", "g1", "ff" };
    cursor[n - 2] = '\0';
    dsl_query_free(with_cursor(in, cursor, TEST_NOW, err, &rc));
    assert_int_equal(rc, DSL_E_CURSOR);
    assert_string_equal(err, "element 1: malformed cursor; pass next_cursor exactly as ListLots "
                             "returned it");
    for (size_t i = 1; i < sizeof malformed / sizeof malformed[0]; i++) {
        dsl_query_free(with_cursor(in, malformed[i], TEST_NOW, err, &rc));
        assert_int_equal(rc, DSL_E_CURSOR);
    }
    char *longer = xasprintf("%.*s00", (int)n, dsl_cursor_encode(q, (const char *const[]){
                                                   "Camry", "9" }));
    dsl_query_free(with_cursor(in, longer, TEST_NOW, err, &rc));
    assert_int_equal(rc, DSL_E_CURSOR);
    free(longer);
    free(cursor);
    dsl_query_free(q);
}

static void cursor_values_must_fit_their_keys(void **state)
{
    (void)state;
    dsl_query *q = test_parse_ok(&test_lots, "[[\"order\",\"year, title\"]]", TEST_NOW);
    assert_null(dsl_cursor_encode(q, (const char *const[]){ "abc", "x", "1" }));
    assert_null(dsl_cursor_encode(q, (const char *const[]){ "1", "x", "" }));
    char title[DSL_MAX_TEXT + 2];
    memset(title, 'a', sizeof title);
    title[DSL_MAX_TEXT + 1] = '\0';
    assert_null(dsl_cursor_encode(q, (const char *const[]){ "1", title, "1" }));
    assert_null(dsl_cursor_encode(q, (const char *const[]){ "1", "\xff", "1" }));
    title[DSL_MAX_TEXT] = '\0';
    assert_non_null(dsl_cursor_encode(q, (const char *const[]){ "1", title, "1" }));
    dsl_query_free(q);
}

static void malformed_cursors_name_the_schemas_listing(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(test_parse_rc(&test_bids, "[[\"cursor\",\"zz\"]]", err, sizeof err),
                     DSL_E_CURSOR);
    assert_string_equal(err, "element 0: malformed cursor; pass next_cursor exactly as ListBids "
                             "returned it");
}

int main(void)
{
    log_init("dsl-cursor-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursors_continue_after_the_last_row),
        cmocka_unit_test(later_pages_keep_the_first_pages_now),
        cmocka_unit_test(cursors_may_change_page_size_and_fields_but_not_filters_or_order),
        cmocka_unit_test(altered_cursors_are_refused),
        cmocka_unit_test(cursor_values_must_fit_their_keys),
        cmocka_unit_test(malformed_cursors_name_the_schemas_listing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
