/*
 * db_exec_test: statements against a real PostgreSQL — prepared lazily and
 * once per session, reused across calls; every SQLSTATE the vocabulary
 * names mapped to its code; binary parameters; unknown statement names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "db.h"
#include "db_test_util.h"

static const db_stmt stmts[] = {
    { "ex_add", "SELECT $1::int + $2::int" },
    { "ex_insert", "INSERT INTO dbtest_exec (id, n, parent) VALUES ($1, $2, $3)" },
    { "ex_div", "SELECT 1 / $1::int" },
    { "ex_sleep", "SELECT pg_sleep($1::float8)" },
    { "ex_bytes", "SELECT $1::bytea, length($1::bytea)" },
    { "ex_broken", "SELEC 1" },
    { 0 },
};

static int64_t prepared_count(db_conn *c, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_prepared_statements WHERE name = '%s'", name);
    return test_sql_i64(db_pg(c), sql);
}

static void test_statement_is_prepared_lazily_once_and_reused(void **state)
{
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);
    const char *args[][2] = { { "2", "3" }, { "40", "2" }, { "-1", "1" } };
    const int64_t want[] = { 5, 42, 0 };

    (void)state;
    assert_int_equal(prepared_count(c, "ex_add"), 0);
    for (int i = 0; i < 3; i++) {
        int rc = -100;
        PGresult *r = db_exec(c, "ex_add", 2, args[i], &rc);
        assert_int_equal(rc, DB_OK);
        assert_int_equal(db_get_i64(r, 0, 0), want[i]);
        PQclear(r);
        assert_int_equal(prepared_count(c, "ex_add"), 1);
    }
    assert_int_equal(prepared_count(c, "ex_div"), 0);
    db_pool_put(p, c);

    /* Back from the pool, the same session still holds the statement. */
    c = db_pool_get(p, 1000);
    int rc = -100;
    PQclear(db_exec(c, "ex_add", 2, args[0], &rc));
    assert_int_equal(rc, DB_OK);
    assert_int_equal(prepared_count(c, "ex_add"), 1);
    db_pool_put(p, c);
    db_pool_free(p);
}

static void test_errors_map_to_codes_by_sqlstate(void **state)
{
    static const struct {
        const char *name;
        const char *stmt;
        const char *params[3];
        int nparams;
        int want;
    } cases[] = {
        { .name = "first insert", .stmt = "ex_insert", .params = { "1", "5", NULL },
          .nparams = 3, .want = DB_OK },
        { .name = "duplicate key is 23505", .stmt = "ex_insert",
          .params = { "1", "6", NULL }, .nparams = 3, .want = DB_E_UNIQUE },
        { .name = "check constraint is 23514", .stmt = "ex_insert",
          .params = { "2", "-1", NULL }, .nparams = 3, .want = DB_E_CHECK },
        { .name = "not null is 23502", .stmt = "ex_insert",
          .params = { "3", NULL, NULL }, .nparams = 3, .want = DB_E_CHECK },
        { .name = "foreign key is 23503", .stmt = "ex_insert",
          .params = { "4", "1", "999" }, .nparams = 3, .want = DB_E_CHECK },
        { .name = "division by zero is a plain SQL error", .stmt = "ex_div",
          .params = { "0" }, .nparams = 1, .want = DB_E_SQL },
        { .name = "statement timeout is 57014", .stmt = "ex_sleep",
          .params = { "5" }, .nparams = 1, .want = DB_E_TIMEOUT },
        { .name = "a statement that fails to prepare", .stmt = "ex_broken",
          .nparams = 0, .want = DB_E_SQL },
        { .name = "an unknown statement name", .stmt = "ex_nope",
          .nparams = 0, .want = DB_E_SQL },
    };
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, stmts);
    db_conn *c;

    (void)state;
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_exec");
    test_sql(admin, "CREATE TABLE dbtest_exec (id int PRIMARY KEY,"
                    " n int NOT NULL CHECK (n >= 0),"
                    " parent int REFERENCES dbtest_exec (id))");
    c = db_pool_get(p, 1000);
    assert_int_equal(db_command(c, "SET statement_timeout = 100"), DB_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = -100;
        PGresult *r = db_exec(c, cases[i].stmt, cases[i].nparams, cases[i].params, &rc);
        if (rc != cases[i].want)
            fail_msg("%s: got %s, want %s", cases[i].name, db_strerror(rc),
                     db_strerror(cases[i].want));
        assert_true((r != NULL) == (cases[i].want == DB_OK));
        PQclear(r);
    }
    assert_int_equal(db_command(c, "RESET statement_timeout"), DB_OK);
    assert_int_equal(db_command(c, "SELEC 1"), DB_E_SQL);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void test_classify_reads_success_and_missing_results(void **state)
{
    PGconn *pg = test_pg();
    PGresult *ok = PQexec(pg, "SELECT 1");

    (void)state;
    assert_int_equal(db_classify(ok, pg), DB_OK);
    assert_int_equal(db_classify(NULL, pg), DB_E_SQL);
    assert_int_equal(db_classify(NULL, NULL), DB_E_SQL);
    PQclear(ok);
    PGresult *dup = PQexec(pg, "DO $$ BEGIN RAISE unique_violation; END $$");
    assert_int_equal(db_classify(dup, pg), DB_E_UNIQUE);
    PQclear(dup);
    PGresult *dead = PQexec(pg, "DO $$ BEGIN RAISE deadlock_detected; END $$");
    assert_int_equal(db_classify(dead, pg), DB_E_RETRY);
    PQclear(dead);
    PGresult *conn = PQexec(pg, "DO $$ BEGIN RAISE connection_failure; END $$");
    assert_int_equal(db_classify(conn, pg), DB_E_CONN);
    PQclear(conn);
    PQfinish(pg);
}

static void test_exec_bin_passes_bytes_with_nuls(void **state)
{
    static const char bytes[] = { 'a', 0, (char)0xff, 'z' };
    const char *vals[] = { bytes };
    const int lens[] = { 4 };
    const int fmts[] = { 1 };
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);
    int rc = -100;

    (void)state;
    PGresult *r = db_exec_bin(c, "ex_bytes", 1, vals, lens, fmts, &rc);
    assert_int_equal(rc, DB_OK);
    assert_string_equal(db_get_str(r, 0, 0), "\\x6100ff7a");
    assert_int_equal(db_get_i64(r, 0, 1), 4);
    PQclear(r);
    db_pool_put(p, c);
    db_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_is_prepared_lazily_once_and_reused),
        cmocka_unit_test(test_errors_map_to_codes_by_sqlstate),
        cmocka_unit_test(test_classify_reads_success_and_missing_results),
        cmocka_unit_test(test_exec_bin_passes_bytes_with_nuls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
