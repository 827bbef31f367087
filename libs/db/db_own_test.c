/*
 * db_own_test: a library's own statements are prepared once per session
 * and then run prepared, directly and in a pipeline; a session that lost
 * its connection prepares them again; one sent into a pipeline before it
 * was prepared, and any past the session's limit, still run (as text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "db.h"
#include "db_test_util.h"

static const db_stmt st_add = { "dbtest_own_add", "SELECT $1::int + 1" };
static const db_stmt st_insert = { "dbtest_own_insert", "INSERT INTO dbtest_own VALUES ($1)" };

/* How many statements named like the library's this session holds. */
static int64_t held(db_conn *c)
{
    PGresult *r = PQexec(db_pg(c), "SELECT count(*) FROM pg_prepared_statements "
                                   "WHERE name LIKE 'dbtest_own%'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t n = db_get_i64(r, 0, 0);
    PQclear(r);
    return n;
}

static int64_t add_one(db_conn *c, const db_stmt *s, const char *v)
{
    const char *p[] = { v };
    int rc = -100;
    PGresult *r = db_own_exec(c, s, 1, p, NULL, NULL, 0, &rc);
    assert_int_equal(rc, 0);
    int64_t n = db_get_i64(r, 0, 0);
    PQclear(r);
    return n;
}

static void a_statement_is_prepared_once_and_again_after_a_lost_session(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, NULL);
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(held(c), 0);
    assert_int_equal(add_one(c, &st_add, "41"), 42);
    assert_int_equal(held(c), 1);
    assert_int_equal(add_one(c, &st_add, "1"), 2);
    assert_int_equal(held(c), 1);
    test_kill_backend(admin, db_pg(c));
    int rc = 0;
    const char *v[] = { "1" };
    assert_null(db_own_exec(c, &st_add, 1, v, NULL, NULL, 0, &rc));
    assert_int_equal(rc, DB_E_CONN);
    db_pool_put(p, c);
    c = db_pool_get(p, 1000); /* reopened: a new session holds nothing */
    assert_non_null(c);
    assert_int_equal(held(c), 0);
    assert_int_equal(add_one(c, &st_add, "9"), 10);
    assert_int_equal(held(c), 1);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static int pipe_rows(db_conn *c, void *arg)
{
    bool prepare = *(bool *)arg;
    int rc = prepare ? db_own_prepare(c, &st_insert) : 0;
    if (rc == 0)
        rc = db_pipe_begin(c, NULL, 0);
    if (rc != 0)
        return rc;
    const char *a[] = { "1" }, *b[] = { "2" };
    db_pipe_send_own(c, &st_insert, 1, a);
    db_pipe_send_own(c, &st_insert, 1, b);
    return db_pipe_finish(c);
}

static void pipelined_statements_run_prepared_or_as_text(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_own");
    test_sql(admin, "CREATE TABLE dbtest_own (n int)");
    db_pool *p = test_pool(1, NULL);
    bool prepare = false;
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, pipe_rows, &prepare), 0);
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(held(c), 0); /* sent as text */
    db_pool_put(p, c);
    prepare = true;
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, pipe_rows, &prepare), 0);
    c = db_pool_get(p, 1000);
    assert_int_equal(held(c), 1);
    db_pool_put(p, c);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_own"), 4);
    test_sql(admin, "DROP TABLE dbtest_own");
    db_pool_free(p);
    PQfinish(admin);
}

static void statements_past_the_limit_still_run(void **state)
{
    (void)state;
    enum { N = 20 };
    db_stmt many[N];
    char names[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "dbtest_own_%d", i);
        many[i] = (db_stmt){ names[i], "SELECT $1::int + 1" };
    }
    db_pool *p = test_pool(1, NULL);
    db_conn *c = db_pool_get(p, 1000);
    for (int i = 0; i < N; i++)
        assert_int_equal(add_one(c, &many[i], "1"), 2);
    assert_int_equal(held(c), 16);
    for (int i = 0; i < N; i++)
        assert_int_equal(add_one(c, &many[i], "2"), 3);
    db_pool_put(p, c);
    db_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_statement_is_prepared_once_and_again_after_a_lost_session),
        cmocka_unit_test(pipelined_statements_run_prepared_or_as_text),
        cmocka_unit_test(statements_past_the_limit_still_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
