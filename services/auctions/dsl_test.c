/*
 * The catalog DSL: filter_json in, the exact statement and parameters out;
 * every class of mistake with the message a caller sees; injection attempts
 * that must end as errors or bound parameters, never as SQL text; cursors
 * that round-trip and refuse tampering or other filters; the field table
 * against gavel.auctions.v1.Lot; and the fuzz corpus replayed, so the unit
 * run (also under ASan+UBSan) keeps every input libFuzzer kept clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auctions.h"
#include "dsl.h"

#define NOW 1714557600000000LL /* 2024-05-01T10:00:00Z */
#define VIS "l.seller_id = $1"
#define SELECT "SELECT l.id, "
#define FROM " FROM lots l WHERE (" VIS ")"
#define STARTS "coalesce(l.starts_at_us, 9223372036854775807)"
#define STATE_LITERAL "'{draft,in_review,approved,rejected,scheduled,live,closed,cancelled}'"

static const char *const vis_params[] = { "7" };

/* Parses in at `now`, failing the test unless it parses. */
static dsl_query *parse_ok(const char *in, int64_t now)
{
    char err[256];
    dsl_query *q = NULL;
    int rc = dsl_parse(in, strlen(in), now, &q, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: unexpected error %d: %s", in, rc, err);
    return q;
}

static void build(dsl_query *q, dsl_sql *s)
{
    dsl_build_sql(q, "l.id", VIS, 1, vis_params, s);
}

static void assert_params(const dsl_sql *s, const char *const *want)
{
    int n = 0;
    while (want[n] != NULL)
        n++;
    assert_int_equal(s->nparams, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(s->params[i], want[i]);
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
        dsl_query *q = parse_ok(goldens[i].in, NOW);
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
    dsl_query *q = parse_ok("[[\"eq\",\"city_id\",671]]", NOW);
    dsl_sql s;
    dsl_build_sql(q, "l.id", NULL, 0, NULL, &s);
    assert_string_equal(s.sql, "SELECT l.id, l.id FROM lots l WHERE (true)"
                               " AND l.city_id = $1::bigint ORDER BY l.id ASC LIMIT $2");
    assert_params(&s, (const char *const[]){ "671", "51", NULL });
    assert_int_equal(s.nkeys, 1);
    dsl_query_free(q);
}

/* ---- errors ---- */

static const struct refusal {
    const char *in;
    int rc;
    const char *msg;
} refusals[] = {
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
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char err[512];
        dsl_query *q = (dsl_query *)&err; /* must come back NULL */
        int rc = dsl_parse(refusals[i].in, strlen(refusals[i].in), NOW, &q, err, sizeof err);
        if (rc != refusals[i].rc || strcmp(err, refusals[i].msg) != 0)
            fail_msg("%s:\n got  %d %s\n want %d %s", refusals[i].in, rc, err, refusals[i].rc,
                     refusals[i].msg);
        assert_null(q);
    }
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

static int parse_rc(const char *in, char *err, size_t errlen)
{
    dsl_query *q = NULL;
    int rc = dsl_parse(in, strlen(in), NOW, &q, err, errlen);
    dsl_query_free(q);
    return rc;
}

static void limits_hold_at_their_edges(void **state)
{
    (void)state;
    char err[256];
    char *doc = array_of("[\"gt\",\"year\",1]", DSL_MAX_ELEMENTS);
    assert_int_equal(parse_rc(doc, err, sizeof err), 0);
    free(doc);
    doc = array_of("[\"gt\",\"year\",1]", DSL_MAX_ELEMENTS + 1);
    assert_int_equal(parse_rc(doc, err, sizeof err), DSL_E_JSON);
    assert_string_equal(err, "filter_json has 33 elements; at most 32");
    free(doc);

    char *in = array_of("1", DSL_MAX_IN), *el = xasprintf("[[\"in\",\"year\",%s]]", in);
    assert_int_equal(parse_rc(el, err, sizeof err), 0);
    free(in);
    free(el);
    in = array_of("1", DSL_MAX_IN + 1);
    el = xasprintf("[[\"in\",\"year\",%s]]", in);
    assert_int_equal(parse_rc(el, err, sizeof err), DSL_E_VALUE);
    assert_string_equal(err, "element 0: \"in\" needs an array of 1 to 100 values, got 101 values");
    free(in);
    free(el);

    /* 8192 bytes pass (blanks are JSON), 8193 do not */
    char big[DSL_MAX_BYTES + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "[]", 2);
    big[DSL_MAX_BYTES] = '\0';
    assert_int_equal(parse_rc(big, err, sizeof err), 0);
    big[DSL_MAX_BYTES] = ' ';
    big[DSL_MAX_BYTES + 1] = '\0';
    assert_int_equal(parse_rc(big, err, sizeof err), DSL_E_JSON);
    assert_string_equal(err, "filter_json is 8193 bytes; at most 8192");

    char title[DSL_MAX_TEXT + 64];
    memset(title, 'a', sizeof title);
    snprintf(title, sizeof title, "[[\"eq\",\"title\",\"%*s\"]]", DSL_MAX_TEXT, "");
    assert_int_equal(parse_rc(title, err, sizeof err), 0);
    snprintf(title, sizeof title, "[[\"eq\",\"title\",\"%*s\"]]", DSL_MAX_TEXT + 1, "");
    assert_int_equal(parse_rc(title, err, sizeof err), DSL_E_VALUE);
    assert_string_equal(err, "element 0: title value is longer than 1024 bytes");
}

static void messages_fit_any_buffer(void **state)
{
    (void)state;
    const char *in = "[[\"eq\",\"price\",1]]";
    char err[8];
    memset(err, 'x', sizeof err);
    assert_int_equal(parse_rc(in, err, sizeof err), DSL_E_FIELD);
    assert_string_equal(err, "element");
    assert_int_equal(parse_rc(in, err, 3), DSL_E_FIELD);
    assert_string_equal(err, "el");
    assert_int_equal(parse_rc(in, NULL, 0), DSL_E_FIELD);
}

/* ---- injection ---- */

/* Outside the one constant of the field table, the statement may hold no
 * quote, semicolon or comment: whatever the caller wrote is a parameter. */
static void assert_sql_is_ours(const dsl_sql *s)
{
    char *copy = xstrdup(s->sql);
    for (char *at = strstr(copy, STATE_LITERAL); at != NULL; at = strstr(at, STATE_LITERAL))
        memset(at, ' ', strlen(STATE_LITERAL));
    if (strpbrk(copy, "'\";") != NULL || strstr(copy, "--") != NULL || strstr(copy, "/*"))
        fail_msg("caller text in SQL: %s", s->sql);
    free(copy);
}

static void injected_values_are_bound_parameters(void **state)
{
    (void)state;
    static const struct { const char *in, *value; } cases[] = {
        { "[[\"eq\",\"title\",\"' OR 1=1 --\"]]", "' OR 1=1 --" },
        { "[[\"like\",\"description\",\"%'; DELETE FROM lots; --\"]]",
          "%'; DELETE FROM lots; --" },
        { "[[\"in\",\"make\",[\"a\",\"b') OR ('1'='1\"]]]", "b') OR ('1'='1" },
        { "[[\"eq\",\"region\",\"x\\\"; DROP TABLE lots; /*\"]]", "x\"; DROP TABLE lots; /*" },
        { "[[\"eq\",\"vin\",\"$1\"]]", "$1" },
        { "[[\"eq\",\"model\",\"\\u0442\\u0430\\u0439\\u0442\\u043b\"]]", "тайтл" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = parse_ok(cases[i].in, NOW);
        dsl_sql s;
        build(q, &s);
        assert_sql_is_ours(&s);
        bool is_bound = false;
        for (int k = 0; k < s.nparams; k++)
            is_bound |= strcmp(s.params[k], cases[i].value) == 0;
        assert_true(is_bound);
        dsl_query_free(q);
    }
}

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
        if (parse_rc(cases[i], err, sizeof err) >= 0)
            fail_msg("accepted: %s", cases[i]);
        assert_true(err[0] != '\0');
    }
}

/* ---- fields ---- */

static int field_index(const char *name)
{
    for (int i = 0; dsl_fields[i].name != NULL; i++)
        if (strcmp(dsl_fields[i].name, name) == 0)
            return i;
    fail_msg("no field %s", name);
    return -1;
}

static void fields_choose_what_comes_back_and_id_always_does(void **state)
{
    (void)state;
    dsl_query *q = parse_ok("[]", NOW);
    for (int i = 0; dsl_fields[i].name != NULL; i++)
        assert_true(dsl_returns(q, i));
    dsl_query_free(q);
    q = parse_ok("[[\"fields\",\" title , photo_urls,start_time\"]]", NOW);
    for (int i = 0; dsl_fields[i].name != NULL; i++) {
        const char *n = dsl_fields[i].name;
        bool want = strcmp(n, "id") == 0 || strcmp(n, "title") == 0 ||
                    strcmp(n, "photo_urls") == 0 || strcmp(n, "start_time") == 0;
        assert_int_equal(dsl_returns(q, i), want);
    }
    assert_int_equal(dsl_limit(q), DSL_DEFAULT_LIMIT);
    dsl_query_free(q);
    q = parse_ok("[[\"fields\",\"id\"],[\"limit\",7]]", NOW);
    assert_true(dsl_returns(q, field_index("id")));
    assert_false(dsl_returns(q, field_index("title")));
    assert_int_equal(dsl_limit(q), 7);
    dsl_query_free(q);
}

static void field_table_names_every_lot_field_once(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &gavel__auctions__v1__lot__descriptor;
    int rows = 0;
    for (int i = 0; dsl_fields[i].name != NULL; i++, rows++) {
        assert_non_null(protobuf_c_message_descriptor_get_field_by_name(d,
                                                                         dsl_fields[i].lot_field));
        assert_true((dsl_fields[i].type == DSL_OUTPUT) == (dsl_fields[i].column == NULL));
    }
    assert_int_equal(rows, (int)d->n_fields);
    assert_true(rows <= 64); /* the mask is 64 bits */
    for (unsigned f = 0; f < d->n_fields; f++) {
        int named = 0;
        for (int i = 0; dsl_fields[i].name != NULL; i++)
            named += strcmp(dsl_fields[i].lot_field, d->fields[f].name) == 0;
        if (named != 1)
            fail_msg("Lot.%s is named %d times", d->fields[f].name, named);
    }
}

/* ---- cursors ---- */

/* The statement of `in` followed by ["cursor", cursor]. */
static dsl_query *with_cursor(const char *in, const char *cursor, int64_t now, char *err,
                              int *rc)
{
    char *doc = xasprintf("%.*s%s[\"cursor\",\"%s\"]]", (int)strlen(in) - 1, in,
                          strlen(in) > 2 ? "," : "", cursor);
    dsl_query *q = NULL;
    *rc = dsl_parse(doc, strlen(doc), now, &q, err, 256);
    free(doc);
    return q;
}

/* Parses in at NOW into *q (caller frees) and returns the cursor after a row
 * with these key values, borrowed from *q. */
static const char *cursor_of(const char *in, const char *const *keys, dsl_query **q)
{
    *q = parse_ok(in, NOW);
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
        dsl_query *next = with_cursor(cases[i].in, cursor, NOW + 1, err, &rc);
        if (rc != 0)
            fail_msg("%s: %s", cases[i].in, err);
        dsl_sql s;
        build(next, &s);
        if (strcmp(s.sql, cases[i].sql) != 0)
            fail_msg("%s:\n got  %s\n want %s", cases[i].in, s.sql, cases[i].sql);
        assert_params(&s, cases[i].params);
        assert_sql_is_ours(&s);
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
    dsl_query *next = with_cursor(in, cursor, NOW + 3600000000LL, err, &rc);
    assert_int_equal(rc, 0);
    dsl_sql s;
    build(next, &s);
    assert_string_equal(s.params[1], "1714557540000000");
    dsl_query_free(next);
    /* and equal intervals written differently are the same query */
    next = with_cursor("[[\"gt\",\"end_time\",\"now() - interval 60 seconds\"]]", cursor, NOW,
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
        { "[[\"eq\",\"city_id\",5],[\"order\",\"mileage_km\"]]", DSL_E_CURSOR },
        { "[[\"eq\",\"city_id\",5]]", DSL_E_CURSOR },
        { "[[\"order\",\"year\"],[\"eq\",\"city_id\",5],[\"eq\",\"year\",5]]", DSL_E_CURSOR },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        int rc;
        dsl_query_free(with_cursor(cases[i].in, cursor, NOW, err, &rc));
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
        dsl_query_free(with_cursor(in, cursor, NOW, err, &rc));
        if (rc != DSL_E_CURSOR)
            fail_msg("changing character %zu of %s gave %d", i, cursor, rc);
        cursor[i] = (char)(was >= 'a' ? was - 32 : was); /* upper case is not ours either */
        dsl_query_free(with_cursor(in, cursor, NOW, err, &rc));
        assert_int_equal(rc, was >= 'a' ? DSL_E_CURSOR : 0);
        cursor[i] = was;
    }
    static const char *const malformed[] = { "", "0", "01", "g1", "ff" };
    cursor[n - 2] = '\0';
    dsl_query_free(with_cursor(in, cursor, NOW, err, &rc));
    assert_int_equal(rc, DSL_E_CURSOR);
    assert_string_equal(err, "element 1: malformed cursor; pass next_cursor exactly as ListLots "
                             "returned it");
    for (size_t i = 1; i < sizeof malformed / sizeof malformed[0]; i++) {
        dsl_query_free(with_cursor(in, malformed[i], NOW, err, &rc));
        assert_int_equal(rc, DSL_E_CURSOR);
    }
    char *longer = xasprintf("%.*s00", (int)n, dsl_cursor_encode(q, (const char *const[]){
                                                   "Camry", "9" }));
    dsl_query_free(with_cursor(in, longer, NOW, err, &rc));
    assert_int_equal(rc, DSL_E_CURSOR);
    free(longer);
    free(cursor);
    dsl_query_free(q);
}

static void cursor_values_must_fit_their_keys(void **state)
{
    (void)state;
    dsl_query *q = parse_ok("[[\"order\",\"year, title\"]]", NOW);
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

/* ---- the fuzz corpus ---- */

static void fuzz_corpus_parses_and_builds_cleanly(void **state)
{
    (void)state;
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
        char err[256];
        dsl_query *q = NULL;
        if (dsl_parse(data, n, NOW, &q, err, sizeof err) == 0) {
            dsl_sql s;
            build(q, &s);
            assert_sql_is_ours(&s);
            dsl_query_free(q);
        } else {
            assert_true(err[0] != '\0');
        }
        free(data);
        free(path);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

int main(void)
{
    log_init("dsl-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(goldens_build_the_exact_statement_and_parameters),
        cmocka_unit_test(staff_visibility_is_true_and_numbers_our_parameters_from_one),
        cmocka_unit_test(every_mistake_is_refused_with_a_message_naming_it),
        cmocka_unit_test(limits_hold_at_their_edges),
        cmocka_unit_test(messages_fit_any_buffer),
        cmocka_unit_test(injected_values_are_bound_parameters),
        cmocka_unit_test(injected_names_and_orders_are_errors),
        cmocka_unit_test(fields_choose_what_comes_back_and_id_always_does),
        cmocka_unit_test(field_table_names_every_lot_field_once),
        cmocka_unit_test(cursors_continue_after_the_last_row),
        cmocka_unit_test(later_pages_keep_the_first_pages_now),
        cmocka_unit_test(cursors_may_change_page_size_and_fields_but_not_filters_or_order),
        cmocka_unit_test(altered_cursors_are_refused),
        cmocka_unit_test(cursor_values_must_fit_their_keys),
        cmocka_unit_test(fuzz_corpus_parses_and_builds_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
