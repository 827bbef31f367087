/*
 * db_migrate_test: migrations against a real PostgreSQL — applied once,
 * in order, even when two pools (two replicas) migrate at the same time;
 * a failing migration leaves nothing of itself behind, keeps the ones
 * before it, and is applied once fixed; a bad list is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "db.h"
#include "db_test_util.h"

/* Each migration appends its version to dbtest_mig_log, so the log shows
 * how many times and in which order they ran. */
static const db_migration three[] = {
    { 1, "001_log.sql",
      "CREATE TABLE dbtest_mig_log (seq serial PRIMARY KEY, version int);\n"
      "INSERT INTO dbtest_mig_log (version) VALUES (1);\n" },
    { 2, "002_items.sql",
      "CREATE TABLE dbtest_mig_items (id int PRIMARY KEY);\n"
      "INSERT INTO dbtest_mig_log (version) VALUES (2);\n" },
    { 5, "005_more.sql",
      "ALTER TABLE dbtest_mig_items ADD COLUMN name text;\n"
      "INSERT INTO dbtest_mig_log (version) VALUES (5);\n"
      "SELECT pg_sleep(0.2);\n" },
    { 0 },
};

static void reset(PGconn *admin)
{
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_mig_log, dbtest_mig_items,"
                    " dbtest_mig_half");
    test_sql(admin, "DO $$ BEGIN IF to_regclass('gavel_migrations') IS NOT NULL"
                    " THEN DELETE FROM gavel_migrations"
                    " WHERE component LIKE 'dbtest%'; END IF; END $$");
}

static char *log_order(PGconn *admin, char *buf, size_t len)
{
    PGresult *r = PQexec(admin, "SELECT coalesce(string_agg(version::text, ','"
                                " ORDER BY seq), '') FROM dbtest_mig_log");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(buf, len, "%s", db_get_str(r, 0, 0));
    PQclear(r);
    return buf;
}

struct replica {
    const db_migration *list;
    int rc;
};

static void *replica_migrate(void *arg)
{
    struct replica *r = arg;
    db_pool *p = test_pool(1, NULL);

    r->rc = db_migrate(p, "dbtest_mig", r->list);
    db_pool_free(p);
    return NULL;
}

static void test_concurrent_replicas_apply_each_migration_once_in_order(void **state)
{
    PGconn *admin = test_pg();
    struct replica r[3] = { { three, -100 }, { three, -100 }, { three, -100 } };
    pthread_t t[3];
    char buf[64];

    (void)state;
    reset(admin);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, replica_migrate, &r[i]), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(r[i].rc, DB_OK);
    }
    assert_string_equal(log_order(admin, buf, sizeof buf), "1,2,5");
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM gavel_migrations"
                                         " WHERE component = 'dbtest_mig'"), 3);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM gavel_migrations"
                                         " WHERE component = 'dbtest_mig'"
                                         " AND name = '005_more.sql'"), 1);
    /* A later start finds nothing to do. */
    replica_migrate(&r[0]);
    assert_int_equal(r[0].rc, DB_OK);
    assert_string_equal(log_order(admin, buf, sizeof buf), "1,2,5");
    PQfinish(admin);
}

static void test_failing_migration_leaves_nothing_half_applied(void **state)
{
    static const db_migration broken[] = {
        { 1, "001_log.sql",
          "CREATE TABLE dbtest_mig_log (seq serial PRIMARY KEY, version int);\n"
          "INSERT INTO dbtest_mig_log (version) VALUES (1);\n" },
        { 2, "002_half.sql",
          "CREATE TABLE dbtest_mig_half (id int);\n"
          "INSERT INTO dbtest_mig_log (version) VALUES (2);\n"
          "INSERT INTO dbtest_mig_no_such_table VALUES (1);\n" },
        { 3, "003_after.sql", "INSERT INTO dbtest_mig_log (version) VALUES (3);\n" },
        { 0 },
    };
    static const db_migration fixed[] = {
        { 1, "001_log.sql", "SELECT 1 / 0;" },  /* recorded: never run again */
        { 2, "002_half.sql",
          "CREATE TABLE dbtest_mig_half (id int);\n"
          "INSERT INTO dbtest_mig_log (version) VALUES (2);\n" },
        { 3, "003_after.sql", "INSERT INTO dbtest_mig_log (version) VALUES (3);\n" },
        { 0 },
    };
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, NULL);
    char buf[64];

    (void)state;
    reset(admin);
    assert_int_equal(db_migrate(p, "dbtest_broken", broken), DB_E_SQL);
    assert_string_equal(log_order(admin, buf, sizeof buf), "1");
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM pg_class"
                                         " WHERE relname = 'dbtest_mig_half'"), 0);
    assert_int_equal(test_sql_i64(admin, "SELECT coalesce(max(version), 0)"
                                         " FROM gavel_migrations"
                                         " WHERE component = 'dbtest_broken'"), 1);
    /* The pool's connection came back usable, outside any transaction. */
    db_conn *c = db_pool_get(p, 1000);
    assert_int_equal(PQtransactionStatus(db_pg(c)), PQTRANS_IDLE);
    db_pool_put(p, c);

    assert_int_equal(db_migrate(p, "dbtest_broken", fixed), DB_OK);
    assert_string_equal(log_order(admin, buf, sizeof buf), "1,2,3");
    db_pool_free(p);
    PQfinish(admin);
}

static void test_bad_lists_are_refused_before_touching_the_database(void **state)
{
    static const db_migration not_increasing[] = {
        { 2, "002_b.sql", "SELECT 1" }, { 1, "001_a.sql", "SELECT 1" }, { 0 },
    };
    static const db_migration duplicate[] = {
        { 1, "001_a.sql", "SELECT 1" }, { 1, "001_b.sql", "SELECT 1" }, { 0 },
    };
    static const db_migration no_sql[] = { { 1, "001_a.sql", NULL }, { 0 } };
    static const db_migration none[] = { { 0 } };
    db_pool *p = test_pool(1, NULL);

    (void)state;
    assert_int_equal(db_migrate(p, "dbtest_bad", not_increasing), DB_E_SQL);
    assert_int_equal(db_migrate(p, "dbtest_bad", duplicate), DB_E_SQL);
    assert_int_equal(db_migrate(p, "dbtest_bad", no_sql), DB_E_SQL);
    assert_int_equal(db_migrate(p, "", none), DB_E_SQL);
    assert_int_equal(db_migrate(p, "dbtest_bad", NULL), DB_E_SQL);
    assert_int_equal(db_migrate(p, "dbtest_empty", none), DB_OK);
    db_pool_free(p);
}

static void test_transaction_control_inside_a_migration_is_reported(void **state)
{
    static const db_migration commits[] = {
        { 1, "001_commit.sql",
          "CREATE TABLE dbtest_mig_half (id int);\nCOMMIT;\n" },
        { 0 },
    };
    PGconn *admin = test_pg();
    db_pool *p = test_pool(1, NULL);

    (void)state;
    reset(admin);
    assert_int_equal(db_migrate(p, "dbtest_commit", commits), DB_E_SQL);
    assert_int_equal(test_sql_i64(admin, "SELECT count(*) FROM gavel_migrations"
                                         " WHERE component = 'dbtest_commit'"), 0);
    test_sql(admin, "DROP TABLE IF EXISTS dbtest_mig_half");
    db_pool_free(p);
    PQfinish(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_replicas_apply_each_migration_once_in_order),
        cmocka_unit_test(test_failing_migration_leaves_nothing_half_applied),
        cmocka_unit_test(test_bad_lists_are_refused_before_touching_the_database),
        cmocka_unit_test(test_transaction_control_inside_a_migration_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
