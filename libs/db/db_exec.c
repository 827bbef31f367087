/*
 * db_exec: running statements on a pooled connection and turning failures
 * into the small DB_E_* vocabulary.
 *
 * Named statements come from the pool's table and are prepared on a
 * connection the first time that connection runs them; the connection's
 * prepared[] flags mirror what the session holds (cleared when it closes),
 * so each statement is parsed and planned once per session. Prepared
 * statements are not transactional in PostgreSQL, so a flag set inside a
 * transaction that later rolls back stays true.
 *
 * Classification is by SQLSTATE from one table; a connection libpq knows to
 * be broken is DB_E_CONN whatever the server said last. Errors a caller is
 * expected to handle (unique, check, retry) are not logged here; every
 * other failure is logged once, with SQLSTATE and message.
 */
#include "db/db_int.h"
#include "core/core.h"

#include <string.h>

static const struct {
    const char *sqlstate;    /* a full code, or a two-character class */
    int rc;
} sqlstate_map[] = {
    { "40001", DB_E_RETRY },      /* serialization_failure */
    { "40P01", DB_E_RETRY },      /* deadlock_detected */
    { "23505", DB_E_UNIQUE },     /* unique_violation */
    { "23514", DB_E_CHECK },      /* check_violation */
    { "23502", DB_E_CHECK },      /* not_null_violation */
    { "23503", DB_E_CHECK },      /* foreign_key_violation */
    { "57014", DB_E_TIMEOUT },    /* query_canceled: statement_timeout */
    { "55P03", DB_E_TIMEOUT },    /* lock_not_available: lock_timeout */
    { "57P01", DB_E_CONN },       /* admin_shutdown */
    { "57P02", DB_E_CONN },       /* crash_shutdown */
    { "57P03", DB_E_CONN },       /* cannot_connect_now */
    { "08", DB_E_CONN },          /* class 08: connection exception */
    { NULL, 0 },
};

int db_classify(const PGresult *res, PGconn *pg)
{
    ExecStatusType st = PQresultStatus(res);
    const char *state;
    int rc = DB_E_SQL;

    if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
                st == PGRES_EMPTY_QUERY)) {
        rc = DB_OK;
        goto out;
    }
    if (pg && PQstatus(pg) == CONNECTION_BAD) {
        rc = DB_E_CONN;
        goto out;
    }
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state)
        goto out;
    for (int i = 0; sqlstate_map[i].sqlstate; i++) {
        const char *s = sqlstate_map[i].sqlstate;
        if (strncmp(state, s, strlen(s)) == 0) {
            rc = sqlstate_map[i].rc;
            break;
        }
    }
out:
    return rc;
}

int db__msg_len(const char *msg)
{
    size_t n = msg ? strlen(msg) : 0;

    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return (int)n;
}

void db__log_failure(log_level lvl, const PGresult *res, PGconn *pg,
                     const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    if (!msg && res && PQresultStatus(res) != PGRES_FATAL_ERROR)
        msg = PQresStatus(PQresultStatus(res));
    if (!msg)
        msg = pg ? PQerrorMessage(pg) : "no result";
    log_msg(lvl, "db: %s failed: SQLSTATE %s: %.*s%s%s", what,
              state ? state : "none", db__msg_len(msg), msg,
              detail ? "; detail: " : "", detail ? detail : "");
}

int db__check(const PGresult *res, PGconn *pg, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    int rc = db_classify(res, pg);

    if (rc == DB_OK && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = DB_E_SQL;
    /* A timeout is load, not a bug: it is worth a warning, not an error. */
    if (rc == DB_E_TIMEOUT)
        db__log_failure(LOG_WARN, res, pg, what);
    else if (rc == DB_E_SQL || rc == DB_E_CONN)
        db__log_failure(LOG_ERROR, res, pg, what);
    return rc;
}

static int stmt_index(const db_pool *p, const char *name)
{
    for (int i = 0; i < p->nstmts; i++) {
        if (strcmp(p->stmts[i].name, name) == 0)
            return i;
    }
    return -1;
}

/* Prepares statement i on c unless this session already holds it. */
static int stmt_prepare(db_conn *c, int i)
{
    const db_stmt *s = &c->pool->stmts[i];
    PGresult *res;
    int rc = 0;

    if (c->prepared[i])
        goto out;
    res = PQprepare(c->pg, s->name, s->sql, 0, NULL);
    rc = db__check(res, c->pg, s->name);
    PQclear(res);
    c->prepared[i] = rc == 0;
out:
    return rc;
}

int db__prepare(db_conn *c, const char *name)
{
    int i = stmt_index(c->pool, name);

    if (i < 0) {
        log_error("db: statement %s is not in the pool's table", name);
        return DB_E_SQL;
    }
    return stmt_prepare(c, i);
}

bool db__is_prepared(const db_conn *c, const char *name)
{
    int i = stmt_index(c->pool, name);

    return i >= 0 && c->prepared[i];
}

PGresult *db_exec_bin(db_conn *c, const char *name, int nparams,
                      const char *const *values, const int *lengths,
                      const int *formats, int *rc)
{
    PGresult *res = NULL;
    int i = stmt_index(c->pool, name);
    int err = 0;

    if (i < 0) {
        log_error("db: statement %s is not in the pool's table", name);
        err = DB_E_SQL;
        goto out;
    }
    err = stmt_prepare(c, i);
    if (err < 0)
        goto out;
    res = PQexecPrepared(c->pg, name, nparams, values, lengths, formats, 0);
    err = db__check(res, c->pg, name);
    if (err < 0) {
        PQclear(res);
        res = NULL;
    }
out:
    if (rc)
        *rc = err;
    return res;
}

PGresult *db_exec(db_conn *c, const char *name, int nparams,
                  const char *const *values, int *rc)
{
    return db_exec_bin(c, name, nparams, values, NULL, NULL, rc);
}

int db_command(db_conn *c, const char *sql)
{
    PGresult *res = PQexec(c->pg, sql);
    int rc = db__check(res, c->pg, sql);

    PQclear(res);
    return rc;
}
