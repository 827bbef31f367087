/*
 * Parsing, over the test schemas of dsl_test_schema.h: every class of
 * mistake with the message a caller sees; the limits at their edges;
 * injection attempts in names and orders that must end as errors; what
 * "fields" returns; elements a schema refuses; and the fuzz corpus
 * replayed, so the unit run (also under ASan+UBSan) keeps every input
 * libFuzzer kept clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsl_test_util.h"

/* ---- errors ---- */

static const test_refusal refusals[] = {
    { "[[\"eq\",\"city_id\",1],[\"limit\",5],[\"eq\",\"price\",1]]", DSL_E_FIELD,
      "element 2: unknown field \"price\"" },
    { "[[\"eq\",\"city_id\",1]] x", DSL_E_JSON,
      "filter_json is not valid JSON (line 1, column 22): end of file expected near 'x'" },
    { "{\"eq\":1}", DSL_E_JSON,
      "filter_json must be a JSON array of elements, such as [[\"eq\",\"city_id\",671]]" },
    { "\"[]\"", DSL_E_JSON,
      "filter_json is not valid JSON (line 1, column 4): '[' or '{' expected near '\"[]\"'" },
    { "[\"eq\"]", DSL_E_ELEMENT,
      "element 0: must be an array such as [\"eq\", field, value], got \"eq\"" },
    { "[[]]", DSL_E_ELEMENT,
      "element 0: must start with the operator's name, got an empty array" },
    { "[[1,2]]", DSL_E_ELEMENT, "element 0: must start with the operator's name, got 1" },
    { "[[\"foo\",\"city_id\",1]]", DSL_E_ELEMENT,
      "element 0: unknown operator \"foo\" (eq, ne, gt, gte, lt, lte, in, like, fields, order, "
      "limit, cursor)" },
    { "[[\"EQ\",\"city_id\",1]]", DSL_E_ELEMENT,
      "element 0: unknown operator \"EQ\" (eq, ne, gt, gte, lt, lte, in, like, fields, order, "
      "limit, cursor)" },
    { "[[\"eq\",\"city_id\"]]", DSL_E_ELEMENT,
      "element 0: \"eq\" takes 2 items after its name, as in [\"eq\", field, value]; got 1" },
    { "[[\"limit\",1,2]]", DSL_E_ELEMENT,
      "element 0: \"limit\" takes 1 item after its name, as in [\"limit\", n]; got 2" },
    { "[[\"eq\",[\"city_id\"],1]]", DSL_E_FIELD,
      "element 0: the field must be a string, got an array" },
    { "[[\"eq\",\"City_Id\",1]]", DSL_E_FIELD, "element 0: unknown field \"City_Id\"" },
    { "[[\"eq\",\"photo_urls\",\"x\"]]", DSL_E_FIELD,
      "element 0: field \"photo_urls\" can be returned but not filtered on" },
    { "[[\"eq\",\"reserve_price\",1]]", DSL_E_FIELD,
      "element 0: field \"reserve_price\" can be returned but not filtered on" },
    { "[[\"like\",\"vin\",\"%1%\"]]", DSL_E_FIELD,
      "element 0: \"like\" applies only to title, description, make and model, not vin" },
    { "[[\"gt\",\"state\",\"draft\"]]", DSL_E_FIELD,
      "element 0: \"gt\" does not apply to state (use eq, ne or in)" },
    { "[[\"eq\",\"city_id\",1.5]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got 1.5" },
    { "[[\"eq\",\"city_id\",\"99999999999999999999\"]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got \"99999999999999999999\"" },
    { "[[\"eq\",\"city_id\",\" 1\"]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got \" 1\"" },
    { "[[\"eq\",\"city_id\",\"+1\"]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got \"+1\"" },
    { "[[\"eq\",\"city_id\",null]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got null" },
    { "[[\"eq\",\"city_id\",{\"a\":1}]]", DSL_E_VALUE,
      "element 0: city_id needs a 64-bit integer, got an object" },
    { "[[\"eq\",\"city_id\",99999999999999999999]]", DSL_E_JSON,
      "filter_json is not valid JSON (line 1, column 37): too big integer near "
      "'99999999999999999999'" },
    { "[[\"lt\",\"start_price\",-1]]", DSL_E_VALUE,
      "element 0: start_price must not be negative, got -1" },
    { "[[\"lt\",\"buy_now_price\",true]]", DSL_E_VALUE,
      "element 0: buy_now_price needs an integer amount in minor units, got true" },
    { "[[\"eq\",\"state\",\"sold\"]]", DSL_E_VALUE,
      "element 0: state must be one of draft, in_review, approved, rejected, scheduled, live, "
      "closed, cancelled; got \"sold\"" },
    { "[[\"eq\",\"state\",\"LIVE\"]]", DSL_E_VALUE,
      "element 0: state must be one of draft, in_review, approved, rejected, scheduled, live, "
      "closed, cancelled; got \"LIVE\"" },
    { "[[\"eq\",\"title\",true]]", DSL_E_VALUE, "element 0: title needs a string, got true" },
    { "[[\"like\",\"title\",5]]", DSL_E_VALUE, "element 0: title needs a string, got 5" },
    { "[[\"like\",\"make\",\"abc\\\\\"]]", DSL_E_VALUE, /* PostgreSQL would refuse it */
      "element 0: make pattern ends in a lone \\ (write \\\\ for a backslash, \\% or \\_ "
      "for a literal % or _)" },
    { "[[\"like\",\"model\",\"a\\\\\\\\\\\\\"]]", DSL_E_VALUE,
      "element 0: model pattern ends in a lone \\ (write \\\\ for a backslash, \\% or \\_ "
      "for a literal % or _)" },
    { "[[\"in\",\"city_id\",[]]]", DSL_E_VALUE,
      "element 0: \"in\" needs an array of 1 to 100 values, got 0 values" },
    { "[[\"in\",\"city_id\",1]]", DSL_E_VALUE,
      "element 0: \"in\" needs an array of 1 to 100 values, got 1" },
    { "[[\"in\",\"city_id\",[1,\"x\"]]]", DSL_E_VALUE,
      "element 0: value 1: city_id needs a 64-bit integer, got \"x\"" },
    { "[[\"in\",\"city_id\",[[1]]]]", DSL_E_VALUE,
      "element 0: value 0: city_id needs a 64-bit integer, got an array" },
    { "[[\"gt\",\"start_time\",\"yesterday\"]]", DSL_E_VALUE,
      "element 0: start_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"yesterday\"" },
    { "[[\"gt\",\"end_time\",\"2023-02-29T00:00:00Z\"]]", DSL_E_VALUE,
      "element 0: end_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"2023-02-29T00:00:00Z\"" },
    { "[[\"gt\",\"end_time\",\"2024-05-01T10:00:00\"]]", DSL_E_VALUE,
      "element 0: end_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"2024-05-01T10:00:00\"" },
    { "[[\"gt\",\"end_time\",\"now() - interval 1 fortnight\"]]", DSL_E_VALUE,
      "element 0: end_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"now() - interval 1 fortnight\"" },
    { "[[\"gt\",\"end_time\",\"now() - interval 999999999999 days\"]]", DSL_E_VALUE,
      "element 0: end_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"now() - interval 999999999999 days\"" },
    { "[[\"gt\",\"end_time\",\"now() - interval '1 minute'\"]]", DSL_E_VALUE,
      "element 0: end_time needs unix microseconds, an RFC 3339 time such as "
      "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> (second|minute|hour|day)[s]], "
      "got \"now() - interval '1 minute'\"" },
    { "[[\"fields\",\"id,price\"]]", DSL_E_FIELD, "element 0: unknown field \"price\"" },
    { "[[\"fields\",\"id,,title\"]]", DSL_E_FIELD,
      "element 0: empty field name in \"id,,title\"" },
    { "[[\"fields\",\"\"]]", DSL_E_FIELD, "element 0: empty field name in \"\"" },
    { "[[\"fields\",\"title, title\"]]", DSL_E_FIELD,
      "element 0: field \"title\" is listed twice" },
    { "[[\"fields\",[\"id\"]]]", DSL_E_VALUE,
      "element 0: \"fields\" needs a string such as \"id,title\", got an array" },
    { "[[\"order\",\"start_time sideways\"]]", DSL_E_ELEMENT,
      "element 0: order key \"start_time sideways\" must be a field, then asc or desc" },
    { "[[\"order\",\"description\"]]", DSL_E_FIELD,
      "element 0: cannot order by \"description\"" },
    { "[[\"order\",\"photo_urls\"]]", DSL_E_FIELD, "element 0: cannot order by \"photo_urls\"" },
    { "[[\"order\",\"year,make,model,title\"]]", DSL_E_ELEMENT,
      "element 0: at most 3 order keys" },
    { "[[\"order\",\"year, year desc\"]]", DSL_E_FIELD,
      "element 0: order names \"year\" twice" },
    { "[[\"order\",\"id,year\"]]", DSL_E_FIELD,
      "element 0: \"id\" must be the last order key (it is unique)" },
    { "[[\"order\",\"year,\"]]", DSL_E_FIELD, "element 0: empty order key in \"year,\"" },
    { "[[\"order\",\"year\"],[\"eq\",\"year\",1],[\"order\",\"make\"]]", DSL_E_ELEMENT,
      "element 2: a second \"order\" (the first is element 0)" },
    { "[[\"fields\",\"id\"],[\"fields\",\"id\"]]", DSL_E_ELEMENT,
      "element 1: a second \"fields\" (the first is element 0)" },
    { "[[\"limit\",1],[\"limit\",1]]", DSL_E_ELEMENT,
      "element 1: a second \"limit\" (the first is element 0)" },
    { "[[\"cursor\",\"\"],[\"cursor\",\"\"]]", DSL_E_ELEMENT,
      "element 1: a second \"cursor\" (the first is element 0)" },
    { "[[\"limit\",0]]", DSL_E_VALUE, "element 0: limit must be an integer from 1 to 200, got 0" },
    { "[[\"limit\",\"201\"]]", DSL_E_VALUE,
      "element 0: limit must be an integer from 1 to 200, got \"201\"" },
    { "[[\"limit\",\"ten\"]]", DSL_E_VALUE,
      "element 0: limit must be an integer from 1 to 200, got \"ten\"" },
    { "[[\"cursor\",\"zz\"]]", DSL_E_CURSOR,
      "element 0: malformed cursor; pass next_cursor exactly as ListLots returned it" },
    { "[[\"cursor\",17]]", DSL_E_CURSOR,
      "element 0: malformed cursor; pass next_cursor exactly as ListLots returned it" },
    { "[[\"eq\",\"a\\u0001b\\\"c\\\\\",1]]", DSL_E_FIELD,
      "element 0: unknown field \"a\\x01b\\\"c\\\\\"" },
    { "[[\"eq\",\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",1]]", DSL_E_FIELD,
      "element 0: unknown field \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"..." },
};

static void every_mistake_is_refused_with_a_message_naming_it(void **state)
{
    (void)state;
    test_assert_refusals(&test_lots, refusals, sizeof refusals / sizeof refusals[0]);
}

/* Repeats item (a JSON text) n times inside an array. */
static char *array_of(const char *item, int n)
{
    size_t len = strlen(item);
    char *out = xmalloc((len + 1) * (size_t)n + 3), *o = out;
    *o++ = '[';
    for (int i = 0; i < n; i++) {
        if (i > 0)
            *o++ = ',';
        memcpy(o, item, len);
        o += len;
    }
    *o++ = ']';
    *o = '\0';
    return out;
}

static void limits_hold_at_their_edges(void **state)
{
    (void)state;
    char err[256];
    char *doc = array_of("[\"gt\",\"year\",1]", DSL_MAX_ELEMENTS);
    assert_int_equal(test_parse_rc(&test_lots, doc, err, sizeof err), 0);
    free(doc);
    doc = array_of("[\"gt\",\"year\",1]", DSL_MAX_ELEMENTS + 1);
    assert_int_equal(test_parse_rc(&test_lots, doc, err, sizeof err), DSL_E_JSON);
    assert_string_equal(err, "filter_json has 33 elements; at most 32");
    free(doc);

    char *in = array_of("1", DSL_MAX_IN), *el = xasprintf("[[\"in\",\"year\",%s]]", in);
    assert_int_equal(test_parse_rc(&test_lots, el, err, sizeof err), 0);
    free(in);
    free(el);
    in = array_of("1", DSL_MAX_IN + 1);
    el = xasprintf("[[\"in\",\"year\",%s]]", in);
    assert_int_equal(test_parse_rc(&test_lots, el, err, sizeof err), DSL_E_VALUE);
    assert_string_equal(err, "element 0: \"in\" needs an array of 1 to 100 values, got 101 values");
    free(in);
    free(el);

    /* 8192 bytes pass (blanks are JSON), 8193 do not */
    char big[DSL_MAX_BYTES + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "[]", 2);
    big[DSL_MAX_BYTES] = '\0';
    assert_int_equal(test_parse_rc(&test_lots, big, err, sizeof err), 0);
    big[DSL_MAX_BYTES] = ' ';
    big[DSL_MAX_BYTES + 1] = '\0';
    assert_int_equal(test_parse_rc(&test_lots, big, err, sizeof err), DSL_E_JSON);
    assert_string_equal(err, "filter_json is 8193 bytes; at most 8192");

    char title[DSL_MAX_TEXT + 64];
    memset(title, 'a', sizeof title);
    snprintf(title, sizeof title, "[[\"eq\",\"title\",\"%*s\"]]", DSL_MAX_TEXT, "");
    assert_int_equal(test_parse_rc(&test_lots, title, err, sizeof err), 0);
    snprintf(title, sizeof title, "[[\"eq\",\"title\",\"%*s\"]]", DSL_MAX_TEXT + 1, "");
    assert_int_equal(test_parse_rc(&test_lots, title, err, sizeof err), DSL_E_VALUE);
    assert_string_equal(err, "element 0: title value is longer than 1024 bytes");
}

static void messages_fit_any_buffer(void **state)
{
    (void)state;
    const char *in = "[[\"eq\",\"price\",1]]";
    char err[8];
    memset(err, 'x', sizeof err);
    assert_int_equal(test_parse_rc(&test_lots, in, err, sizeof err), DSL_E_FIELD);
    assert_string_equal(err, "element");
    assert_int_equal(test_parse_rc(&test_lots, in, err, 3), DSL_E_FIELD);
    assert_string_equal(err, "el");
    assert_int_equal(test_parse_rc(&test_lots, in, NULL, 0), DSL_E_FIELD);
}

/* ---- injection ---- */

static void injected_names_and_orders_are_errors(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "[[\"eq\",\"city_id\",\"1; DROP TABLE lots\"]]",
        "[[\"eq\",\"city_id\",\"1 OR 1=1\"]]",
        "[[\"gt\",\"start_time\",\"now() - interval 1 minute; DROP TABLE lots\"]]",
        "[[\"gt\",\"start_time\",\"now() - interval 1 minute --\"]]",
        "[[\"eq\",\"state\",\"live' OR '1'='1\"]]",
        "[[\"eq\",\"title; DROP TABLE lots\",1]]",
        "[[\"eq\",\"title\\\" OR 1=1\",1]]",
        "[[\"eq\",\"l.title\",\"x\"]]",
        "[[\"eq\",\"title \",\"x\"]]",
        "[[\"eq\",\"\\u0442\\u0430\\u0439\\u0442\\u043b\",\"x\"]]",
        "[[\"eq\",\"ti\\u0000tle\",\"x\"]]",
        "[[\"order\",\"title; DROP TABLE lots\"]]",
        "[[\"order\",\"start_time desc nulls first\"]]",
        "[[\"order\",\"(select 1)\"]]",
        "[[\"fields\",\"id,title) FROM lots; --\"]]",
        "[[\"limit\",\"10; DROP TABLE lots\"]]",
        "[[\"like\",\"title || 'x'\",\"%\"]]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        if (test_parse_rc(&test_lots, cases[i], err, sizeof err) >= 0)
            fail_msg("accepted: %s", cases[i]);
        assert_true(err[0] != '\0');
    }
}

/* ---- fields ---- */

static int field_index(const char *name)
{
    for (int i = 0; test_lot_fields[i].name != NULL; i++)
        if (strcmp(test_lot_fields[i].name, name) == 0)
            return i;
    fail_msg("no field %s", name);
    return -1;
}

static void fields_choose_what_comes_back_and_the_key_always_does(void **state)
{
    (void)state;
    dsl_query *q = test_parse_ok(&test_lots, "[]", TEST_NOW);
    for (int i = 0; test_lot_fields[i].name != NULL; i++)
        assert_true(dsl_returns(q, i));
    dsl_query_free(q);
    q = test_parse_ok(&test_lots, "[[\"fields\",\" title , photo_urls,start_time\"]]", TEST_NOW);
    for (int i = 0; test_lot_fields[i].name != NULL; i++) {
        const char *n = test_lot_fields[i].name;
        bool want = strcmp(n, "id") == 0 || strcmp(n, "title") == 0 ||
                    strcmp(n, "photo_urls") == 0 || strcmp(n, "start_time") == 0;
        assert_int_equal(dsl_returns(q, i), want);
    }
    assert_int_equal(dsl_limit(q), DSL_DEFAULT_LIMIT);
    dsl_query_free(q);
    q = test_parse_ok(&test_lots, "[[\"fields\",\"id\"],[\"limit\",7]]", TEST_NOW);
    assert_true(dsl_returns(q, field_index("id")));
    assert_false(dsl_returns(q, field_index("title")));
    assert_int_equal(dsl_limit(q), 7);
    dsl_query_free(q);
}

/* ---- elements a schema refuses ---- */

static void elements_a_schema_refuses_are_errors_naming_what_it_takes(void **state)
{
    (void)state;
    static const test_refusal cases[] = {
        { "[[\"eq\",\"lot_id\",7],[\"limit\",10]]", DSL_E_ELEMENT,
          "element 1: \"limit\" is not accepted here; filter_json takes eq, ne, gt, gte, lt, lte, "
          "in, like" },
        { "[[\"fields\",\"bid_id\"]]", DSL_E_ELEMENT,
          "element 0: \"fields\" is not accepted here; filter_json takes eq, ne, gt, gte, lt, lte, "
          "in, like" },
        { "[[\"order\",1,2]]", DSL_E_ELEMENT, /* refused before its shape is looked at */
          "element 0: \"order\" is not accepted here; filter_json takes eq, ne, gt, gte, lt, lte, "
          "in, like" },
        { "[[\"cursor\",\"00\"]]", DSL_E_ELEMENT,
          "element 0: \"cursor\" is not accepted here; filter_json takes eq, ne, gt, gte, lt, lte, "
          "in, like" },
        { "[[\"sort\",\"amount\"]]", DSL_E_ELEMENT,
          "element 0: unknown operator \"sort\" (eq, ne, gt, gte, lt, lte, in, like)" },
        { "{}", DSL_E_JSON,
          "filter_json must be a JSON array of elements, such as [[\"eq\",\"lot_id\",7]]" },
        { "[[\"in\",\"outcome\",[\"won\",\"lost\"]],[\"like\",\"note\",\"%late%\"]]", 0, "" },
    };
    test_assert_refusals(&test_bid_filters, cases, sizeof cases / sizeof cases[0]);
    /* the same fields without refusals take every element */
    char err[256];
    assert_int_equal(test_parse_rc(&test_bids, "[[\"order\",\"amount\"],[\"limit\",10]]", err,
                                   sizeof err), 0);
}

/* ---- the fuzz corpus ---- */

/* data parses into a statement that is ours, or is refused with a message. */
static void parse_and_build_cleanly(const dsl_schema *schema, const char *data, size_t n)
{
    char err[256];
    dsl_query *q = NULL;
    if (dsl_parse(schema, data, n, TEST_NOW, &q, err, sizeof err) == 0) {
        dsl_sql s;
        dsl_build_sql(q, "1", NULL, 0, NULL, &s);
        test_assert_sql_is_ours(schema, s.sql);
        dsl_where w;
        dsl_build_where(q, 1, &w);
        test_assert_sql_is_ours(schema, w.sql);
        dsl_query_free(q);
    } else {
        assert_true(err[0] != '\0');
    }
}

static void fuzz_corpus_parses_and_builds_cleanly(void **state)
{
    (void)state;
    static const dsl_schema *const schemas[] = { &test_lots, &test_bids, &test_bid_filters };
    const char *dir = getenv("GAVEL_DSL_CORPUS");
    DIR *d = opendir(dir != NULL ? dir : (dir = "tests/fuzz/corpus/dsl"));
    if (d == NULL)
        fail_msg("cannot open %s: run from the repository root or set GAVEL_DSL_CORPUS", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *data = xmalloc(2 * DSL_MAX_BYTES);
        size_t n = fread(data, 1, 2 * DSL_MAX_BYTES, f);
        fclose(f);
        for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++)
            parse_and_build_cleanly(schemas[k], data, n);
        free(data);
        free(path);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

int main(void)
{
    log_init("dsl-parse-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_mistake_is_refused_with_a_message_naming_it),
        cmocka_unit_test(limits_hold_at_their_edges),
        cmocka_unit_test(messages_fit_any_buffer),
        cmocka_unit_test(injected_names_and_orders_are_errors),
        cmocka_unit_test(fields_choose_what_comes_back_and_the_key_always_does),
        cmocka_unit_test(elements_a_schema_refuses_are_errors_naming_what_it_takes),
        cmocka_unit_test(fuzz_corpus_parses_and_builds_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
