/*
 * db_value_test: field readers on results built client-side (no server),
 * the int64 formatter at its edges, and the name of every error code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>
#include <string.h>

#include "db.h"

/* A one-column text result with one row per entry; NULL is SQL NULL. */
static PGresult *make_result(const char *const *vals, int n)
{
    PGresAttDesc att = { .name = "v", .format = 0, .typid = 25, .typlen = -1,
                         .atttypmod = -1 };
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    assert_non_null(r);
    assert_int_equal(PQsetResultAttrs(r, 1, &att), 1);
    for (int i = 0; i < n; i++) {
        int len = vals[i] ? (int)strlen(vals[i]) : -1;
        assert_int_equal(PQsetvalue(r, i, 0, (char *)vals[i], len), 1);
    }
    return r;
}

static void test_get_i64_reads_int64_range_and_zero_for_null_or_junk(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        { .in = "0", .want = 0 },
        { .in = "42", .want = 42 },
        { .in = "-7", .want = -7 },
        { .in = "9223372036854775807", .want = INT64_MAX },
        { .in = "-9223372036854775808", .want = INT64_MIN },
        { .in = "9223372036854775808", .want = 0 },
        { .in = "12.5", .want = 0 },
        { .in = "", .want = 0 },
        { .in = NULL, .want = 0 },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    const char *vals[N];

    (void)state;
    for (int i = 0; i < N; i++)
        vals[i] = cases[i].in;
    PGresult *r = make_result(vals, N);
    for (int i = 0; i < N; i++) {
        int64_t got = db_get_i64(r, i, 0);
        if (got != cases[i].want)
            fail_msg("\"%s\": got %" PRId64 ", want %" PRId64,
                     cases[i].in ? cases[i].in : "NULL", got, cases[i].want);
    }
    PQclear(r);
}

static void test_get_str_and_bool_read_text_and_null(void **state)
{
    static const struct {
        const char *in;
        const char *want_str;
        bool want_bool;
    } cases[] = {
        { .in = "t", .want_str = "t", .want_bool = true },
        { .in = "true", .want_str = "true", .want_bool = true },
        { .in = "f", .want_str = "f", .want_bool = false },
        { .in = "", .want_str = "", .want_bool = false },
        { .in = "héllo", .want_str = "héllo", .want_bool = false },
        { .in = NULL, .want_str = "", .want_bool = false },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    const char *vals[N];

    (void)state;
    for (int i = 0; i < N; i++)
        vals[i] = cases[i].in;
    PGresult *r = make_result(vals, N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(db_get_str(r, i, 0), cases[i].want_str);
        assert_int_equal(db_get_bool(r, i, 0), cases[i].want_bool);
    }
    PQclear(r);
}

static void test_out_of_range_fields_read_as_zero(void **state)
{
    const char *vals[] = { "5" };
    PGresult *r = make_result(vals, 1);

    (void)state;
    assert_int_equal(db_get_i64(r, 1, 0), 0);
    assert_int_equal(db_get_i64(r, 0, 1), 0);
    assert_int_equal(db_get_i64(r, -1, 0), 0);
    assert_string_equal(db_get_str(r, 3, 0), "");
    assert_false(db_get_bool(r, 0, 7));
    assert_int_equal(db_get_i64(NULL, 0, 0), 0);
    PQclear(r);
}

static void test_i64_formats_edges_in_24_bytes(void **state)
{
    static const struct {
        int64_t in;
        const char *want;
    } cases[] = {
        { .in = 0, .want = "0" },
        { .in = -1, .want = "-1" },
        { .in = 1234567890123, .want = "1234567890123" },
        { .in = INT64_MAX, .want = "9223372036854775807" },
        { .in = INT64_MIN, .want = "-9223372036854775808" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[24];
        assert_ptr_equal(db_i64(buf, cases[i].in), buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_strerror_names_every_code(void **state)
{
    static const struct {
        int rc;
        const char *want;
    } cases[] = {
        { .rc = DB_OK, .want = "DB_OK" },
        { .rc = DB_E_CONN, .want = "DB_E_CONN" },
        { .rc = DB_E_RETRY, .want = "DB_E_RETRY" },
        { .rc = DB_E_UNIQUE, .want = "DB_E_UNIQUE" },
        { .rc = DB_E_CHECK, .want = "DB_E_CHECK" },
        { .rc = DB_E_TIMEOUT, .want = "DB_E_TIMEOUT" },
        { .rc = DB_E_SQL, .want = "DB_E_SQL" },
        { .rc = DB_E_ABORT, .want = "DB_E_ABORT" },
        { .rc = -99, .want = "DB_E_UNKNOWN" },
        { .rc = 3, .want = "DB_E_UNKNOWN" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(db_strerror(cases[i].rc), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_i64_reads_int64_range_and_zero_for_null_or_junk),
        cmocka_unit_test(test_get_str_and_bool_read_text_and_null),
        cmocka_unit_test(test_out_of_range_fields_read_as_zero),
        cmocka_unit_test(test_i64_formats_edges_in_24_bytes),
        cmocka_unit_test(test_strerror_names_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
