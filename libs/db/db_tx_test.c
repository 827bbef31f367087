/*
 * db_tx_test: transactions against a real PostgreSQL — real serialization
 * failures (a lost update and a write skew between two threads) retried
 * until both commit with the right result; DB_E_ABORT and other body
 * errors rolled back and not retried; the retry budget; a body that
 * swallowed a failed statement; a connection lost before COMMIT; and the
 * isolation level each transaction really runs at.
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
    { "tx_read", "SELECT n FROM dbtest_tx_counter WHERE id = 1" },
    { "tx_write", "UPDATE dbtest_tx_counter SET n = $1 WHERE id = 1" },
    { "tx_on_call", "SELECT count(*) FROM dbtest_tx_oncall WHERE on_call" },
    { "tx_go_off", "UPDATE dbtest_tx_oncall SET on_call = false WHERE id = $1" },
    { "tx_insert", "INSERT INTO dbtest_tx_rows (id) VALUES ($1)" },
    { "tx_iso", "SELECT current_setting('transaction_isolation')" },
    { "tx_fail", "SELECT 1 / 0" },
    { 0 },
};

static void setup_tables(PGconn *admin)
{
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_tx_counter, dbtest_tx_oncall,"
                    " dbtest_tx_rows");
    test_sql(admin, "CREATE TABLE dbtest_tx_counter (id int PRIMARY KEY, n int)");
    test_sql(admin, "INSERT INTO dbtest_tx_counter VALUES (1, 0)");
    test_sql(admin, "CREATE TABLE dbtest_tx_oncall (id int PRIMARY KEY, on_call bool)");
    test_sql(admin, "INSERT INTO dbtest_tx_oncall VALUES (1, true), (2, true)");
    test_sql(admin, "CREATE TABLE dbtest_tx_rows (id int PRIMARY KEY)");
}

/* One thread's side of a two-thread conflict. */
struct racer {
    db_pool *p;
    pthread_barrier_t *both_read;
    const char *id;          /* tx_go_off: the racer's own row */
    int calls;
    int rc;
};

/* Read-modify-write of the counter; the first attempts of both threads
 * read before either writes, so one of them must lose. */
static int increment(db_conn *c, void *arg)
{
    struct racer *r = arg;
    char buf[24];
    int rc = 0;
    PGresult *res = db_exec(c, "tx_read", 0, NULL, &rc);

    if (!res)
        return rc;
    int64_t n = db_get_i64(res, 0, 0);
    PQclear(res);
    if (++r->calls == 1)
        pthread_barrier_wait(r->both_read);
    const char *v[] = { db_i64(buf, n + 1) };
    PQclear(db_exec(c, "tx_write", 1, v, &rc));
    return rc;
}

/* The classic write skew: leave only if someone else is still on call. */
static int go_off_call(db_conn *c, void *arg)
{
    struct racer *r = arg;
    int rc = 0;
    PGresult *res = db_exec(c, "tx_on_call", 0, NULL, &rc);

    if (!res)
        return rc;
    int64_t on_call = db_get_i64(res, 0, 0);
    PQclear(res);
    if (++r->calls == 1)
        pthread_barrier_wait(r->both_read);
    if (on_call >= 2) {
        const char *v[] = { r->id };
        PQclear(db_exec(c, "tx_go_off", 1, v, &rc));
    }
    return rc;
}

struct race_run {
    struct racer *r;
    db_tx_fn fn;
};

static void *race_thread(void *arg)
{
    struct race_run *run = arg;

    run->r->rc = db_tx(run->r->p, DB_SERIALIZABLE, run->fn, run->r);
    return NULL;
}

/* Runs fn in two threads at once; returns the total number of attempts. */
static int race(db_pool *p, db_tx_fn fn)
{
    pthread_barrier_t barrier;
    struct racer r[2] = {
        { .p = p, .both_read = &barrier, .id = "1" },
        { .p = p, .both_read = &barrier, .id = "2" },
    };
    struct race_run runs[2] = { { &r[0], fn }, { &r[1], fn } };
    pthread_t t[2];

    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &runs[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    assert_int_equal(r[0].rc, DB_OK);
    assert_int_equal(r[1].rc, DB_OK);
    return r[0].calls + r[1].calls;
}

static void test_conflicting_increments_are_retried_and_both_commit(void **state)
{
    PGconn *admin = test_pg();
    db_pool *p = test_pool(2, stmts);

    (void)state;
    setup_tables(admin);
    assert_true(race(p, increment) >= 3);
    assert_int_equal(test_sql_i64(admin, "SELECT n FROM dbtest_tx_counter"), 2);
    db_pool_free(p);
    PQfinish(admin);
}

static void test_write_skew_is_caught_and_retried(void **state)
{
    PGconn *admin = test_pg();
    db_pool *p = test_pool(2, stmts);

    (void)state;
    setup_tables(admin);
    assert_true(race(p, go_off_call) >= 3);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_tx_oncall"
                                         " WHERE on_call"), 1);
    db_pool_free(p);
    PQfinish(admin);
}

/* What insert_then does after inserting row 7: return `code`, or first
 * run a failing statement and ignore its error. */
struct outcome {
    int code;
    int calls;
    bool fail_statement;
};

static int insert_then(db_conn *c, void *arg)
{
    struct outcome *o = arg;
    const char *v[] = { "7" };
    int rc = 0;

    o->calls++;
    PQclear(db_exec(c, "tx_insert", 1, v, &rc));
    if (rc < 0)
        return rc;
    if (o->fail_statement) {
        PQclear(db_exec(c, "tx_fail", 0, NULL, &rc));
        assert_int_equal(rc, DB_E_SQL);
    }
    return o->code;
}

static void test_body_outcomes(void **state)
{
    static const struct {
        const char *name;
        int code;
        bool preinsert;         /* row 7 exists before: the insert fails */
        bool fail_statement;    /* body ignores a failing statement */
        int want_rc;
        int want_calls;
        int64_t want_rows;
    } cases[] = {
        { .name = "success commits", .code = 0, .want_rc = DB_OK,
          .want_calls = 1, .want_rows = 1 },
        { .name = "DB_E_ABORT rolls back, no retry", .code = DB_E_ABORT,
          .want_rc = DB_E_ABORT, .want_calls = 1, .want_rows = 0 },
        { .name = "a unique violation is returned, no retry", .preinsert = true,
          .want_rc = DB_E_UNIQUE, .want_calls = 1, .want_rows = 1 },
        { .name = "DB_E_RETRY is retried 8 times", .code = DB_E_RETRY,
          .want_rc = DB_E_RETRY, .want_calls = 8, .want_rows = 0 },
        { .name = "success after a swallowed failure is DB_E_SQL",
          .fail_statement = true, .want_rc = DB_E_SQL, .want_calls = 1,
          .want_rows = 0 },
    };
    PGconn *admin = test_pg();
    db_pool *p = test_pool(2, stmts);

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o = { .code = cases[i].code,
                             .fail_statement = cases[i].fail_statement };
        setup_tables(admin);
        if (cases[i].preinsert)
            test_sql(admin, "INSERT INTO dbtest_tx_rows VALUES (7)");
        int rc = db_tx(p, DB_READ_COMMITTED, insert_then, &o);
        if (rc != cases[i].want_rc || o.calls != cases[i].want_calls)
            fail_msg("%s: got %s after %d calls, want %s after %d", cases[i].name,
                     db_strerror(rc), o.calls, db_strerror(cases[i].want_rc),
                     cases[i].want_calls);
        assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM dbtest_tx_rows"),
                         cases[i].want_rows);
    }
    db_pool_free(p);
    PQfinish(admin);
}

static void test_retries_back_off_between_attempts(void **state)
{
    db_pool *p = test_pool(1, stmts);
    struct outcome o = { .code = DB_E_RETRY };
    int64_t t0 = mono_us();

    (void)state;
    assert_int_equal(db_tx(p, DB_SERIALIZABLE, insert_then, &o), DB_E_RETRY);
    int64_t took = mono_us() - t0;
    /* Seven backoffs of at least half of 1, 2, 4 … 64 ms. */
    assert_true(took >= 63000);
    assert_true(took < 3000000);
    db_pool_free(p);
}

struct killer {
    PGconn *admin;
    int calls;
};

static int lose_connection_before_commit(db_conn *c, void *arg)
{
    struct killer *k = arg;
    const char *v[] = { "7" };
    int rc = 0;

    k->calls++;
    PQclear(db_exec(c, "tx_insert", 1, v, &rc));
    if (rc == 0)
        test_kill_backend(k->admin, db_pg(c));
    return rc;
}

static void test_connection_lost_at_commit_is_conn_error(void **state)
{
    struct killer k = { .admin = test_pg() };
    db_pool *p = test_pool(1, stmts);
    struct outcome o = { .code = 0 };

    (void)state;
    setup_tables(k.admin);
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, lose_connection_before_commit, &k),
                     DB_E_CONN);
    assert_int_equal(k.calls, 1);
    assert_int_equal(test_sql_i64(k.admin, "SELECT count(*) FROM dbtest_tx_rows"), 0);
    /* The pool recovers: the next transaction runs on a new session. */
    assert_int_equal(db_tx(p, DB_READ_COMMITTED, insert_then, &o), DB_OK);
    assert_int_equal(test_sql_i64(k.admin, "SELECT count(*) FROM dbtest_tx_rows"), 1);
    db_pool_free(p);
    PQfinish(k.admin);
}

struct iso_probe {
    char got[32];
};

static int read_isolation(db_conn *c, void *arg)
{
    struct iso_probe *probe = arg;
    int rc = 0;
    PGresult *r = db_exec(c, "tx_iso", 0, NULL, &rc);

    if (r)
        snprintf(probe->got, sizeof probe->got, "%s", db_get_str(r, 0, 0));
    PQclear(r);
    return rc;
}

static void test_transaction_runs_at_requested_isolation(void **state)
{
    static const struct {
        db_isolation iso;
        const char *want;
    } cases[] = {
        { .iso = DB_READ_COMMITTED, .want = "read committed" },
        { .iso = DB_REPEATABLE_READ, .want = "repeatable read" },
        { .iso = DB_SERIALIZABLE, .want = "serializable" },
    };
    db_pool *p = test_pool(1, stmts);

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct iso_probe probe = { "" };
        assert_int_equal(db_tx(p, cases[i].iso, read_isolation, &probe), DB_OK);
        assert_string_equal(probe.got, cases[i].want);
    }
    assert_int_equal(db_tx(p, (db_isolation)7, read_isolation, &(struct iso_probe){ "" }),
                     DB_E_SQL);
    db_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conflicting_increments_are_retried_and_both_commit),
        cmocka_unit_test(test_write_skew_is_caught_and_retried),
        cmocka_unit_test(test_body_outcomes),
        cmocka_unit_test(test_retries_back_off_between_attempts),
        cmocka_unit_test(test_connection_lost_at_commit_is_conn_error),
        cmocka_unit_test(test_transaction_runs_at_requested_isolation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
