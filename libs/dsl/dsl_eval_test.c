/*
 * A parsed query evaluated in memory against one lot of the test schema
 * (dsl_test_schema.h): each operator on each type, NULL as the statement
 * treats it, relative times against the evaluation's now, "like" folding
 * case in ASCII and Cyrillic, and the values an index may file a query
 * under.
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

enum { NROWS = sizeof test_lot_fields / sizeof test_lot_fields[0] - 1 };

/* A Toyota Camry 2019, category unset, starting an hour after TEST_NOW. */
static void a_lot(dsl_datum row[NROWS])
{
    for (int i = 0; i < NROWS; i++)
        row[i] = (dsl_datum){ .is_null = true };
    const struct { const char *name; int64_t num; const char *text; } v[] = {
        { "id", 42, NULL }, { "seller_id", 7, NULL },
        { "title", 0, "Toyota Camry 2.5 XLE" }, { "description", 0, "Один владелец" },
        { "make", 0, "Toyota" }, { "model", 0, "Camry" }, { "year", 2019, NULL },
        { "vin", 0, "JTNB11HK0K3012345" }, { "city_id", 671, NULL },
        { "state", 0, "scheduled" }, { "start_price", 100000, NULL },
        { "start_time", TEST_NOW + 3600000000LL, NULL }, { "created_time", TEST_NOW, NULL },
        { "updated_time", TEST_NOW, NULL },
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        int i = dsl_field_index(&test_lots, v[k].name);
        assert_true(i >= 0);
        row[i] = (dsl_datum){ .num = v[k].num, .text = v[k].text };
    }
}

static const struct eval_case {
    const char *in;
    bool want;
} cases[] = {
    { .in = "", .want = true },
    { .in = "[]", .want = true },
    { .in = "[[\"eq\",\"make\",\"Toyota\"]]", .want = true },
    { .in = "[[\"eq\",\"make\",\"toyota\"]]", .want = false }, /* = is exact, as in SQL */
    { .in = "[[\"ne\",\"make\",\"BMW\"]]", .want = true },
    { .in = "[[\"in\",\"make\",[\"BMW\",\"Toyota\"]]]", .want = true },
    { .in = "[[\"in\",\"make\",[\"BMW\",\"Audi\"]]]", .want = false },
    { .in = "[[\"gte\",\"year\",2019],[\"lte\",\"year\",\"2020\"]]", .want = true },
    { .in = "[[\"gt\",\"year\",2019]]", .want = false },
    { .in = "[[\"lt\",\"start_price\",100001]]", .want = true },
    { .in = "[[\"lt\",\"start_price\",100000]]", .want = false },
    { .in = "[[\"eq\",\"city_id\",\"671\"],[\"eq\",\"state\",\"scheduled\"]]", .want = true },
    { .in = "[[\"in\",\"state\",[\"live\",\"closed\"]]]", .want = false },
    { .in = "[[\"gt\",\"vin\",\"JT\"]]", .want = true },            /* bytewise text */
    { .in = "[[\"lt\",\"vin\",\"JA\"]]", .want = false },
    /* NULL: eq and the comparisons fail, ne on a nullable field passes */
    { .in = "[[\"eq\",\"category_id\",3]]", .want = false },
    { .in = "[[\"ne\",\"category_id\",3]]", .want = true },
    { .in = "[[\"lt\",\"buy_now_price\",1000000000]]", .want = false },
    /* relative times against the evaluation's now (TEST_NOW) */
    { .in = "[[\"gt\",\"start_time\",\"now()\"]]", .want = true },
    { .in = "[[\"gt\",\"start_time\",\"now() + interval 2 hours\"]]", .want = false },
    { .in = "[[\"lt\",\"start_time\",\"now() + interval 1 day\"]]", .want = true },
    { .in = "[[\"gte\",\"start_time\",\"2024-05-01T11:00:00Z\"]]", .want = true },
    /* like: case-insensitive, % _ and escapes */
    { .in = "[[\"like\",\"title\",\"%camry%\"]]", .want = true },
    { .in = "[[\"like\",\"title\",\"TOYOTA%\"]]", .want = true },
    { .in = "[[\"like\",\"title\",\"toyota\"]]", .want = false },
    { .in = "[[\"like\",\"model\",\"c_mr_\"]]", .want = true },
    { .in = "[[\"like\",\"model\",\"c_mr\"]]", .want = false },
    { .in = "[[\"like\",\"title\",\"%2\\\\.5%\"]]", .want = true },
    { .in = "[[\"like\",\"title\",\"%2\\\\%5%\"]]", .want = false }, /* \% is a literal % */
    { .in = "[[\"like\",\"title\",\"%%x%le\"]]", .want = true },
    { .in = "[[\"like\",\"description\",\"%ВЛАДЕЛЕЦ\"]]", .want = true },
    { .in = "[[\"like\",\"description\",\"_дин%\"]]", .want = true }, /* _ is one letter */
    { .in = "[[\"like\",\"description\",\"__дин%\"]]", .want = false },
    /* every filter must pass */
    { .in = "[[\"eq\",\"make\",\"Toyota\"],[\"eq\",\"model\",\"Corolla\"]]", .want = false },
};

static void each_operator_answers_as_the_statement_would(void **state)
{
    (void)state;
    dsl_datum row[NROWS];
    a_lot(row);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = test_parse_ok(&test_lots, cases[i].in, TEST_NOW - 86400000000LL);
        if (dsl_eval(q, row, TEST_NOW) != cases[i].want)
            fail_msg("%s: want %s", cases[i].in, cases[i].want ? "a match" : "no match");
        dsl_query_free(q);
    }
}

static void relative_times_follow_the_now_of_each_evaluation(void **state)
{
    (void)state;
    dsl_datum row[NROWS];
    a_lot(row);
    dsl_query *q = test_parse_ok(&test_lots, "[[\"gt\",\"start_time\",\"now()\"]]", TEST_NOW);
    assert_true(dsl_eval(q, row, TEST_NOW));
    assert_false(dsl_eval(q, row, TEST_NOW + 2 * 3600000000LL));
    dsl_query_free(q);
}

static void text_fields_read_null_text_as_empty(void **state)
{
    (void)state;
    dsl_datum row[NROWS];
    a_lot(row);
    row[dsl_field_index(&test_lots, "model")] = (dsl_datum){ .text = NULL };
    dsl_query *q = test_parse_ok(&test_lots, "[[\"eq\",\"model\",\"\"]]", TEST_NOW);
    assert_true(dsl_eval(q, row, TEST_NOW));
    dsl_query_free(q);
}

static void required_values_name_what_an_index_may_file_under(void **state)
{
    (void)state;
    int make = dsl_field_index(&test_lots, "make");
    const char *vals[4];
    dsl_query *q = test_parse_ok(&test_lots,
                                 "[[\"gt\",\"year\",2010],[\"in\",\"make\",[\"BMW\",\"Audi\"]]]",
                                 TEST_NOW);
    assert_int_equal(dsl_required_values(q, make, vals, 4), 2);
    assert_string_equal(vals[0], "BMW");
    assert_string_equal(vals[1], "Audi");
    assert_int_equal(dsl_required_values(q, make, vals, 1), 0); /* too many to file */
    assert_int_equal(dsl_required_values(q, dsl_field_index(&test_lots, "year"), vals, 4), 0);
    dsl_query_free(q);
    q = test_parse_ok(&test_lots, "[[\"like\",\"make\",\"BMW%\"]]", TEST_NOW);
    assert_int_equal(dsl_required_values(q, make, vals, 4), 0); /* like files nowhere */
    dsl_query_free(q);
    assert_int_equal(dsl_field_index(&test_lots, "nope"), -1);
}

static void fold_lowers_ascii_and_cyrillic_only(void **state)
{
    (void)state;
    const struct { const char *in, *want; } folds[] = {
        { "Toyota CAMRY", "toyota camry" }, { "ЁЖИК Лада", "ёжик лада" },
        { "ÄÖ ü", "ÄÖ ü" }, { "", "" },
    };
    for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++) {
        char out[64];
        dsl_fold(folds[i].in, out);
        assert_string_equal(out, folds[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_operator_answers_as_the_statement_would),
        cmocka_unit_test(relative_times_follow_the_now_of_each_evaluation),
        cmocka_unit_test(text_fields_read_null_text_as_empty),
        cmocka_unit_test(required_values_name_what_an_index_may_file_under),
        cmocka_unit_test(fold_lowers_ascii_and_cyrillic_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
