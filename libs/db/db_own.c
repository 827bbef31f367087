/*
 * db_own: statements a library keeps itself, outside the pool's table.
 * The pool's table belongs to the service; the events library's outbox,
 * relay and consumer statements run on the same connections, and as plain
 * text each of them was parsed, analysed and planned on every call (under
 * bid load a few hundred a second, several percent of the machine). Here
 * each is prepared on a session the first time it runs there.
 *
 * A session remembers up to DB_OWN_MAX such statements (by the db_stmt's
 * address); past that, or inside a pipeline before it was prepared, a
 * statement is sent as text, which is slower but the same.
 */
#include "db/db_int.h"

static bool holds(const db_conn *c, const db_stmt *s)
{
    for (int i = 0; i < c->nown; i++)
        if (c->own[i] == s)
            return true;
    return false;
}

int db_own_prepare(db_conn *c, const db_stmt *s)
{
    if (holds(c, s) || c->nown == DB_OWN_MAX)
        return 0;
    PGresult *res = PQprepare(c->pg, s->name, s->sql, 0, NULL);
    int rc = db__check(res, c->pg, s->name);
    PQclear(res);
    if (rc == 0)
        c->own[c->nown++] = s;
    return rc;
}

PGresult *db_own_exec(db_conn *c, const db_stmt *s, int nparams, const char *const *values,
                      const int *lengths, const int *formats, int result_format, int *rc)
{
    PGresult *res = NULL;
    int err = db_own_prepare(c, s);
    if (err == 0) {
        res = holds(c, s) ? PQexecPrepared(c->pg, s->name, nparams, values, lengths, formats,
                                           result_format)
                          : PQexecParams(c->pg, s->sql, nparams, NULL, values, lengths, formats,
                                         result_format);
        err = db__check(res, c->pg, s->name);
        if (err < 0) {
            PQclear(res);
            res = NULL;
        }
    }
    if (rc != NULL)
        *rc = err;
    return res;
}

void db_pipe_send_own(db_conn *c, const db_stmt *s, int nparams, const char *const *values)
{
    if (c->pipe_rc != 0)
        return;
    int sent = holds(c, s)
                   ? PQsendQueryPrepared(c->pg, s->name, nparams, values, NULL, NULL, 0)
                   : PQsendQueryParams(c->pg, s->sql, nparams, NULL, values, NULL, NULL, 0);
    if (sent != 1) {
        log_error("db: %s not sent: %s", s->name, PQerrorMessage(c->pg));
        c->pipe_rc = DB_E_CONN;
        return;
    }
    c->piped++;
}
