/*
 * db_test_util.h: helpers shared by db's unit tests, never by library code.
 * Tests that need PostgreSQL read a libpq conninfo from GAVEL_TEST_PG_DSN
 * and skip (cmocka skip()) when it is unset. They keep to objects named
 * dbtest_* and components named dbtest_*, which they drop at the start,
 * so a scratch database can be reused run after run. Include after
 * <cmocka.h>.
 */
#ifndef GAVEL_DB_TEST_UTIL_H
#define GAVEL_DB_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <poll.h>

#include "db.h"

/* The conninfo of the test database; skips the calling test without one. */
static inline const char *test_dsn(void)
{
    const char *dsn = getenv("GAVEL_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        print_message("GAVEL_TEST_PG_DSN is unset: skipping a test that "
                      "needs PostgreSQL\n");
        skip();
    }
    return dsn;
}

static inline void test_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* A plain libpq connection beside the pool, for setup and inspection;
 * its notices ("does not exist, skipping") are dropped. */
static inline PGconn *test_pg(void)
{
    PGconn *pg = PQconnectdb(test_dsn());
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, test_quiet, NULL);
    return pg;
}

/* Runs sql on pg and fails the test unless it succeeds. */
static inline void test_sql(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
}

/* The first field of the first row of sql, as an integer. */
static inline int64_t test_sql_i64(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    int64_t v = db_get_i64(res, 0, 0);
    PQclear(res);
    return v;
}

static inline db_pool *test_pool(int size, const db_stmt *stmts)
{
    char err[256];
    db_pool *p = db_pool_new(test_dsn(), size, stmts, err, sizeof err);
    if (!p)
        fail_msg("db_pool_new: %s", err);
    return p;
}

/* Ends victim's backend from admin and waits until the server has closed
 * its end of the socket, so the next use of victim sees the loss. */
static inline void test_kill_backend(PGconn *admin, PGconn *victim)
{
    char sql[128];
    struct pollfd pfd = { .fd = PQsocket(victim), .events = POLLRDHUP };

    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)",
             PQbackendPID(victim));
    test_sql(admin, sql);
    if (poll(&pfd, 1, 10000) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP)))
        fail_msg("backend %d did not close its socket", PQbackendPID(victim));
}

#endif
