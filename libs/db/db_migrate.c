/*
 * db_migrate: bring a component's schema up to date from its numbered
 * migrations, exactly once however many replicas start together.
 *
 * The whole run holds a session advisory lock on one connection, so
 * replicas queue and each finds the work of the one before it already
 * recorded. Each migration runs in its own transaction together with the
 * row that records it in gavel_migrations: a migration is either applied
 * and recorded or neither, and a failure leaves every earlier migration in
 * place and nothing of the failed one. The SQL goes through PQexec because
 * a migration may hold several statements; it must not hold transaction
 * control of its own (nor statements that refuse to run in a transaction,
 * like CREATE INDEX CONCURRENTLY).
 */
#include "db/db_int.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>

enum { MIGRATE_WAIT_MS = 30000 };

static const char lock_sql[] =
    "SELECT pg_advisory_lock(hashtext('gavel_migrations'))";
static const char unlock_sql[] =
    "SELECT pg_advisory_unlock(hashtext('gavel_migrations'))";
static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS gavel_migrations ("
    " component text NOT NULL,"
    " version int NOT NULL,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (component, version))";
static const char applied_sql[] =
    "SELECT 1 FROM gavel_migrations WHERE component = $1 AND version = $2";
static const char record_sql[] =
    "INSERT INTO gavel_migrations (component, version, name) "
    "VALUES ($1, $2, $3)";

/* Versions must be positive and strictly increasing: that order is the
 * order of application. */
static int list_check(const char *component, const db_migration *list)
{
    int prev = 0;
    int rc = 0;

    if (!component || !*component || !list) {
        log_error("db_migrate: need a component name and a migration list");
        rc = DB_E_SQL;
        goto out;
    }
    for (const db_migration *m = list; m->version; m++) {
        if (m->version <= prev || !m->name || !m->sql) {
            log_error("db_migrate: %s: bad entry after version %d "
                      "(versions must increase, name and sql are required)",
                      component, prev);
            rc = DB_E_SQL;
            goto out;
        }
        prev = m->version;
    }
out:
    return rc;
}

/* 1-based line of the 1-based character position pos in sql (UTF-8). */
static int line_of(const char *sql, const char *pos)
{
    long chars = pos ? strtol(pos, NULL, 10) - 1 : 0;
    int line = 1;

    for (const char *s = sql; *s && chars > 0; s++) {
        if (((unsigned char)*s & 0xC0) == 0x80)
            continue;
        if (*s == '\n')
            line++;
        chars--;
    }
    return line;
}

/* Runs the migration's SQL; logs a failure naming the file and line. */
static int run_script(db_conn *c, const char *component, const db_migration *m)
{
    PGresult *res = PQexec(db_pg(c), m->sql);
    int rc = db_classify(res, db_pg(c));
    char what[256];

    if (rc < 0) {
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        snprintf(what, sizeof what, "migration %s/%s (line %d)", component,
                 m->name, line_of(m->sql, pos));
        db__log_failure(LOG_ERROR, res, db_pg(c), what);
    } else if (PQtransactionStatus(db_pg(c)) != PQTRANS_INTRANS) {
        log_error("db: migration %s/%s must not end the transaction",
                  component, m->name);
        rc = DB_E_SQL;
    }
    PQclear(res);
    return rc;
}

static int is_applied(db_conn *c, const char *component, int version,
                      bool *done)
{
    char v[24];
    const char *values[] = { component, db_i64(v, version) };
    PGresult *res = PQexecParams(db_pg(c), applied_sql, 2, NULL, values,
                                 NULL, NULL, 0);
    int rc = db__check(res, db_pg(c), "migration lookup");

    *done = rc == 0 && PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

static int record(db_conn *c, const char *component, const db_migration *m)
{
    char v[24];
    const char *values[] = { component, db_i64(v, m->version), m->name };
    PGresult *res = PQexecParams(db_pg(c), record_sql, 3, NULL, values,
                                 NULL, NULL, 0);
    int rc = db__check(res, db_pg(c), "migration record");

    PQclear(res);
    return rc;
}

static int migrate_one(db_conn *c, const char *component,
                       const db_migration *m)
{
    bool done = false;
    int rc = is_applied(c, component, m->version, &done);

    if (rc < 0 || done)
        goto out;
    rc = db_command(c, "BEGIN");
    if (rc < 0)
        goto out;
    rc = run_script(c, component, m);
    if (rc == 0)
        rc = record(c, component, m);
    if (rc == 0)
        rc = db_command(c, "COMMIT");
    if (rc == 0)
        log_info("db: applied migration %s/%s", component, m->name);
    else if (PQtransactionStatus(db_pg(c)) != PQTRANS_IDLE)
        db_command(c, "ROLLBACK");
out:
    return rc;
}

int db_migrate(db_pool *p, const char *component, const db_migration *list)
{
    db_conn *c = NULL;
    bool locked = false;
    int rc = list_check(component, list);

    if (rc < 0)
        goto out;
    rc = db__pool_take(p, MIGRATE_WAIT_MS, &c);
    if (rc < 0)
        goto out;
    rc = db_command(c, lock_sql);
    if (rc < 0)
        goto out;
    locked = true;
    rc = db_command(c, create_sql);
    for (const db_migration *m = list; rc == 0 && m->version; m++)
        rc = migrate_one(c, component, m);
out:
    if (locked && PQstatus(db_pg(c)) == CONNECTION_OK)
        db_command(c, unlock_sql);
    db_pool_put(p, c);
    return rc;
}
