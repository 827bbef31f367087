/*
 * db_pipe_test: statements sent in one pipeline inside a transaction all
 * land, in order; the first failure is the one reported and nothing of the
 * transaction stays; a statement the pipeline was not told about is
 * refused; the connection is usable afterwards; a connection lost before
 * the sync is reported as DB_E_CONN and reopened by the pool; results
 * asked for come back in order, none after a failure; a COMMIT sent in the
 * last pipeline ends a db_tx transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "db.h"
#include "db_test_util.h"

static const db_stmt stmts[] = {
    { "pp_insert", "INSERT INTO dbtest_pipe (id, n) VALUES ($1, $2)" },
    { "pp_bump", "UPDATE dbtest_pipe SET n = n + 1 WHERE id = $1" },
    { "pp_add", "SELECT $1::int + 1" },
    { 0 },
};

static const char *const names[] = { "pp_insert", "pp_bump" };

static void reset(PGconn *admin)
{
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_pipe");
    test_sql(admin, "CREATE TABLE dbtest_pipe (id int PRIMARY KEY, n int NOT NULL)");
}

typedef struct {
    const char *ids[4];
    int n;
} rows;

static int body(db_conn *c, void *arg)
{
    const rows *r = arg;
    int rc = db_pipe_begin(c, names, 2);
    if (rc != 0)
        return rc;
    for (int i = 0; i < r->n; i++) {
        const char *ins[] = { r->ids[i], "10" };
        db_pipe_send(c, "pp_insert", 2, ins);
    }
    const char *bump[] = { r->ids[0] };
    db_pipe_send(c, "pp_bump", 1, bump); /* reads the first insert's row */
    return db_pipe_finish(c);
}

static void statements_land_in_order_in_one_transaction(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    db_pool *p = test_pool(1, stmts);
    rows r = { { "1", "2", "3" }, 3 };
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, body, &r), 0);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pipe"), 3);
    assert_int_equal(test_sql_i64(admin, "SELECT n FROM dbtest_pipe WHERE id = 1"), 11);
    /* The session is out of pipeline mode and keeps working. */
    db_conn *c = db_pool_get(p, 1000);
    const char *one[] = { "41" };
    int rc = -100;
    PGresult *res = db_exec(c, "pp_add", 1, one, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(db_get_i64(res, 0, 0), 42);
    PQclear(res);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void the_first_failure_is_reported_and_nothing_stays(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    db_pool *p = test_pool(1, stmts);
    rows dup = { { "5", "6", "5" }, 3 }; /* the third insert repeats the key */
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, body, &dup), DB_E_UNIQUE);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pipe"), 0);
    rows ok = { { "7" }, 1 };
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, body, &ok), 0);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pipe"), 1);
    db_pool_free(p);
    PQfinish(admin);
}

static void a_statement_not_named_at_the_start_is_refused(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(db_pipe_begin(c, names, 1), 0); /* pp_insert only */
    const char *bump[] = { "1" };
    db_pipe_send(c, "pp_bump", 1, bump);
    assert_int_equal(db_pipe_finish(c), DB_E_SQL);
    const char *one[] = { "1" };
    int rc = -100;
    PQclear(db_exec(c, "pp_add", 1, one, &rc));
    assert_int_equal(rc, 0);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void a_lost_connection_is_conn_and_the_pool_recovers(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(db_pipe_begin(c, names, 2), 0);
    test_kill_backend(admin, db_pg(c));
    const char *ins[] = { "9", "1" };
    db_pipe_send(c, "pp_insert", 2, ins);
    assert_int_equal(db_pipe_finish(c), DB_E_CONN);
    db_pool_put(p, c);
    c = db_pool_get(p, 1000);
    assert_non_null(c);
    const char *one[] = { "1" };
    int rc = -100;
    PQclear(db_exec(c, "pp_add", 1, one, &rc));
    assert_int_equal(rc, 0);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

/* A body in two pipelines: the first reads results back, the second
 * writes and commits. */
typedef struct {
    const char *first_id, *second_id; /* the second pipeline's insert */
    int64_t got[2];                   /* the first pipeline's two sums */
    bool all_null;                    /* every result NULL after a failure */
} two_rounds;

static int two_round_body(db_conn *c, void *arg)
{
    two_rounds *t = arg;
    const char *const all[] = { "pp_insert", "pp_bump", "pp_add" };
    int rc = db_pipe_begin(c, all, 3);
    if (rc != 0)
        return rc;
    const char *one[] = { "1" }, *ten[] = { "10" }, *ins[] = { t->first_id, "10" };
    db_pipe_send(c, "pp_add", 1, one);
    db_pipe_send(c, "pp_insert", 2, ins);
    db_pipe_send(c, "pp_add", 1, ten);
    PGresult *res[3];
    rc = db_pipe_finish_results(c, res, 3);
    t->all_null = res[0] == NULL && res[1] == NULL && res[2] == NULL;
    if (rc != 0)
        return rc;
    t->got[0] = db_get_i64(res[0], 0, 0);
    t->got[1] = db_get_i64(res[2], 0, 0);
    for (int i = 0; i < 3; i++)
        PQclear(res[i]);
    if ((rc = db_pipe_begin(c, all, 3)) != 0)
        return rc;
    const char *ins2[] = { t->second_id, "20" };
    db_pipe_send(c, "pp_insert", 2, ins2);
    db_pipe_send_commit(c);
    return db_pipe_finish(c);
}

static void results_come_back_in_order_and_a_piped_commit_ends_the_transaction(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    db_pool *p = test_pool(1, stmts);
    two_rounds t = { .first_id = "1", .second_id = "2" };
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, two_round_body, &t), 0);
    assert_int_equal(t.got[0], 2);
    assert_int_equal(t.got[1], 11);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pipe"), 2);
    /* The session is idle, out of any transaction: a statement after it
     * is its own. */
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(PQtransactionStatus(db_pg(c)), PQTRANS_IDLE);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void a_failure_hands_back_no_results_and_nothing_stays(void **state)
{
    (void)state;
    PGconn *admin = test_pg();
    reset(admin);
    test_sql(admin, "INSERT INTO dbtest_pipe VALUES (3, 0)");
    db_pool *p = test_pool(1, stmts);
    two_rounds dup = { .first_id = "3", .second_id = "4" }; /* 3 is taken */
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, two_round_body, &dup), DB_E_UNIQUE);
    assert_true(dup.all_null);
    two_rounds late = { .first_id = "5", .second_id = "3" }; /* fails in the committing round */
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, two_round_body, &late), DB_E_UNIQUE);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pipe"), 1);
    db_pool_free(p);
    PQfinish(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statements_land_in_order_in_one_transaction),
        cmocka_unit_test(the_first_failure_is_reported_and_nothing_stays),
        cmocka_unit_test(a_statement_not_named_at_the_start_is_refused),
        cmocka_unit_test(a_lost_connection_is_conn_and_the_pool_recovers),
        cmocka_unit_test(results_come_back_in_order_and_a_piped_commit_ends_the_transaction),
        cmocka_unit_test(a_failure_hands_back_no_results_and_nothing_stays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
