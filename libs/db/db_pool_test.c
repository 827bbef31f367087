/*
 * db_pool_test: the pool against a real PostgreSQL — a get that times out
 * when every connection is borrowed, a waiting get woken by a put, a
 * session the server ended replaced (with its prepared statements
 * prepared again), and a connection put back mid-transaction rolled back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "db.h"
#include "db_test_util.h"
#include "core/core.h"

static const db_stmt stmts[] = {
    { "pool_add", "SELECT $1::int + $2::int" },
    { "pool_insert", "INSERT INTO dbtest_pool (x) VALUES ($1::int)" },
    { 0 },
};

static int64_t add(db_conn *c, const char *a, const char *b)
{
    const char *vals[] = { a, b };
    int rc = -100;
    PGresult *r = db_exec(c, "pool_add", 2, vals, &rc);

    assert_int_equal(rc, DB_OK);
    int64_t v = db_get_i64(r, 0, 0);
    PQclear(r);
    return v;
}

static void test_new_reports_unreachable_server(void **state)
{
    char err[256] = "";

    (void)state;
    assert_null(db_pool_new("host=127.0.0.1 port=1 connect_timeout=2", 2,
                            NULL, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(db_pool_new("host=127.0.0.1", 0, NULL, err, sizeof err));
    assert_non_null(strstr(err, "size"));
    db_pool_free(NULL);
}

static void test_get_times_out_with_null_when_pool_exhausted(void **state)
{
    db_pool *p = test_pool(2, stmts);
    db_conn *a = db_pool_get(p, 1000);
    db_conn *b = db_pool_get(p, 1000);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    int64_t t0 = mono_us();
    assert_null(db_pool_get(p, 150));
    int64_t waited = mono_us() - t0;
    assert_true(waited >= 140000);
    assert_true(waited < 2000000);
    assert_null(db_pool_get(p, 0));
    db_pool_put(p, a);
    db_conn *again = db_pool_get(p, 0);
    assert_ptr_equal(again, a);
    assert_int_equal(add(again, "2", "3"), 5);
    db_pool_put(p, again);
    db_pool_put(p, b);
    db_pool_free(p);
}

struct waiter {
    db_pool *p;
    db_conn *got;
    int64_t waited_us;
};

static void *wait_for_conn(void *arg)
{
    struct waiter *w = arg;
    int64_t t0 = mono_us();

    w->got = db_pool_get(w->p, 10000);
    w->waited_us = mono_us() - t0;
    return NULL;
}

static void test_waiting_get_wakes_when_a_connection_is_put(void **state)
{
    db_pool *p = test_pool(1, stmts);
    db_conn *held = db_pool_get(p, 1000);
    struct waiter w = { .p = p };
    pthread_t t;
    struct timespec pause = { .tv_sec = 0, .tv_nsec = 100000000 };

    (void)state;
    assert_non_null(held);
    assert_int_equal(pthread_create(&t, NULL, wait_for_conn, &w), 0);
    nanosleep(&pause, NULL);
    db_pool_put(p, held);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_ptr_equal(w.got, held);
    assert_true(w.waited_us >= 90000);
    assert_true(w.waited_us < 5000000);
    db_pool_put(p, w.got);
    db_pool_free(p);
}

static void test_terminated_idle_connection_is_reopened_on_next_get(void **state)
{
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);

    (void)state;
    assert_non_null(c);
    int pid1 = PQbackendPID(db_pg(c));
    assert_int_equal(add(c, "1", "1"), 2);
    /* The pool owns c again; the test only watches its socket. */
    db_pool_put(p, c);
    test_kill_backend(admin, db_pg(c));

    c = db_pool_get(p, 1000);
    assert_non_null(c);
    assert_int_not_equal(PQbackendPID(db_pg(c)), pid1);
    /* The new session has never seen pool_add: it must be prepared again. */
    assert_int_equal(add(c, "20", "22"), 42);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void test_connection_lost_while_borrowed_is_conn_error_then_replaced(void **state)
{
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, stmts);
    db_conn *c = db_pool_get(p, 1000);
    const char *vals[] = { "1", "2" };
    int rc = 0;

    (void)state;
    assert_non_null(c);
    int pid1 = PQbackendPID(db_pg(c));
    test_kill_backend(admin, db_pg(c));
    assert_null(db_exec(c, "pool_add", 2, vals, &rc));
    assert_int_equal(rc, DB_E_CONN);
    db_pool_put(p, c);

    c = db_pool_get(p, 1000);
    assert_non_null(c);
    assert_int_not_equal(PQbackendPID(db_pg(c)), pid1);
    assert_int_equal(add(c, "1", "2"), 3);
    db_pool_put(p, c);
    db_pool_free(p);
    PQfinish(admin);
}

static void test_put_rolls_back_an_open_or_failed_transaction(void **state)
{
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, stmts);
    const char *one[] = { "1" };
    int rc = 0;

    (void)state;
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_pool");
    test_sql(admin, "CREATE TABLE dbtest_pool (x int)");

    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(db_command(c, "BEGIN"), DB_OK);
    PQclear(db_exec(c, "pool_insert", 1, one, &rc));
    assert_int_equal(rc, DB_OK);
    db_pool_put(p, c);

    c = db_pool_get(p, 1000);
    assert_int_equal(PQtransactionStatus(db_pg(c)), PQTRANS_IDLE);
    assert_int_equal(db_command(c, "BEGIN"), DB_OK);
    assert_int_equal(db_command(c, "SELECT no_such_column FROM dbtest_pool"), DB_E_SQL);
    assert_int_equal(PQtransactionStatus(db_pg(c)), PQTRANS_INERROR);
    db_pool_put(p, c);

    c = db_pool_get(p, 1000);
    assert_int_equal(PQtransactionStatus(db_pg(c)), PQTRANS_IDLE);
    assert_int_equal(add(c, "4", "5"), 9);
    db_pool_put(p, c);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_pool"), 0);
    db_pool_free(p);
    PQfinish(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_reports_unreachable_server),
        cmocka_unit_test(test_get_times_out_with_null_when_pool_exhausted),
        cmocka_unit_test(test_waiting_get_wakes_when_a_connection_is_put),
        cmocka_unit_test(test_terminated_idle_connection_is_reopened_on_next_get),
        cmocka_unit_test(test_connection_lost_while_borrowed_is_conn_error_then_replaced),
        cmocka_unit_test(test_put_rolls_back_an_open_or_failed_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
