/*
 * db_pipe: several prepared statements in one round trip (libpq pipeline
 * mode), for writers whose statements do not read each other's results,
 * like the bids group commit. Under load every round trip is two context
 * switches and a wait for a busy CPU, so a transaction of seven
 * independent writes pays for one instead of seven.
 *
 * The statements are prepared before the pipeline starts (db_pipe_begin
 * takes their names), because a statement prepared inside a pipeline that
 * then fails would leave this session unsure of what it holds. Sent
 * statements are not waited for; db_pipe_finish sends a sync and reads
 * every result. Inside a transaction the first failure aborts the rest
 * (PostgreSQL answers them PIPELINE_ABORTED) and is the one reported. A
 * connection that cannot leave pipeline mode cleanly is dropped; the pool
 * opens a new one.
 */
#include "db/db_int.h"

int db_pipe_begin(db_conn *c, const char *const *names, int n)
{
    int rc = 0;

    for (int i = 0; i < n && rc == 0; i++)
        rc = db__prepare(c, names[i]);
    if (rc != 0)
        return rc;
    if (PQenterPipelineMode(c->pg) != 1) {
        log_error("db: cannot enter pipeline mode: %s", PQerrorMessage(c->pg));
        return DB_E_CONN;
    }
    c->piped = 0;
    c->pipe_rc = 0;
    c->pipe_commits = false;
    return 0;
}

void db_pipe_send(db_conn *c, const char *name, int nparams, const char *const *values)
{
    if (c->pipe_rc != 0)
        return;
    if (!db__is_prepared(c, name)) {
        log_error("db: %s sent in a pipeline before it was prepared (name it to db_pipe_begin)", name);
        c->pipe_rc = DB_E_SQL;
        return;
    }
    if (PQsendQueryPrepared(c->pg, name, nparams, values, NULL, NULL, 0) != 1) {
        log_error("db: %s not sent: %s", name, PQerrorMessage(c->pg));
        c->pipe_rc = DB_E_CONN;
        return;
    }
    c->piped++;
}

void db_pipe_send_sql(db_conn *c, const char *sql, int nparams, const char *const *values)
{
    if (c->pipe_rc != 0)
        return;
    if (PQsendQueryParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0) != 1) {
        log_error("db: statement not sent: %s", PQerrorMessage(c->pg));
        c->pipe_rc = DB_E_CONN;
        return;
    }
    c->piped++;
}

void db_pipe_send_arrays(db_conn *c, const char *name, db_array *arrays, int n)
{
    const char *values[DB_PIPE_MAX_ARRAYS] = { 0 };

    if (n > DB_PIPE_MAX_ARRAYS) {
        log_error("db: %s: %d array parameters, at most %d", name, n, DB_PIPE_MAX_ARRAYS);
        if (c->pipe_rc == 0)
            c->pipe_rc = DB_E_SQL;
    } else if (arrays[0].n > 0) {
        for (int i = 0; i < n; i++)
            values[i] = db_array_str(&arrays[i]);
        db_pipe_send(c, name, n, values);
    }
    for (int i = 0; i < n; i++)
        db_array_free(&arrays[i]);
}

void db_pipe_send_commit(db_conn *c)
{
    db_pipe_send_sql(c, "COMMIT", 0, NULL);
    if (c->pipe_rc == 0)
        c->pipe_commits = true;
}

/* Reads one statement's results up to its terminating NULL; returns its
 * code (an aborted statement counts as fine: the failure before it is
 * the one to report). The first result goes to *keep when keep is not
 * NULL and the statement succeeded; it is cleared otherwise. */
static int read_one(db_conn *c, PGresult **keep)
{
    int rc = 0;
    PGresult *res = PQgetResult(c->pg);

    if (res == NULL)
        return DB_E_CONN;
    if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
        rc = db__check(res, c->pg, "pipelined statement");
    if (keep != NULL && rc == 0 && PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
        *keep = res;
    else
        PQclear(res);
    while ((res = PQgetResult(c->pg)) != NULL) /* the statement's end */
        PQclear(res);
    return rc;
}

int db_pipe_finish_results(db_conn *c, PGresult **keep, int nkeep)
{
    int rc = c->pipe_rc;
    PGresult *res;
    bool synced;

    for (int i = 0; i < nkeep; i++)
        keep[i] = NULL;
    if (nkeep > c->piped) {
        log_error("db: %d results asked of a pipeline of %d statements", nkeep, c->piped);
        if (rc == 0)
            rc = DB_E_SQL;
        nkeep = c->piped;
    }
    if (PQpipelineSync(c->pg) != 1) {
        rc = DB_E_CONN;
        goto drop;
    }
    for (int i = 0; i < c->piped; i++) {
        int one = read_one(c, i < nkeep ? &keep[i] : NULL);
        if (rc == 0)
            rc = one;
        if (one == DB_E_CONN)
            goto drop;
    }
    res = PQgetResult(c->pg);
    synced = res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    if (!synced || PQexitPipelineMode(c->pg) != 1) {
        log_error("db: pipeline did not end cleanly: %s", PQerrorMessage(c->pg));
        if (rc == 0)
            rc = DB_E_CONN;
        goto drop;
    }
    c->piped = 0;
    if (rc == 0)
        return 0;
    goto clear;
drop:
    db__conn_drop(c);
    if (rc == 0)
        rc = DB_E_CONN;
clear:
    for (int i = 0; i < nkeep; i++) {
        PQclear(keep[i]);
        keep[i] = NULL;
    }
    return rc;
}

int db_pipe_finish(db_conn *c)
{
    return db_pipe_finish_results(c, NULL, 0);
}
