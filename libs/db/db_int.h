/*
 * db_int: what the db modules share and nothing outside libs/db includes —
 * the pool and connection structures and the internal helpers that turn a
 * libpq result into a DB_E_* code and a log line.
 */
#ifndef GAVEL_DB_INT_H
#define GAVEL_DB_INT_H

#include "db/db.h"
#include "core/core.h"

#include <pthread.h>

/*
 * One pooled connection. Owned by the pool while on its free list, by the
 * one thread that took it otherwise. prepared[i] is true when pool->stmts[i]
 * has been prepared on pg, and own[0..nown) lists the libraries' statements
 * prepared on it; both are cleared whenever pg is closed, so they always
 * describe the live session.
 */
enum { DB_OWN_MAX = 16 };

struct db_conn {
    PGconn *pg;              /* NULL until opened and after it broke */
    db_pool *pool;
    bool *prepared;          /* [pool->nstmts] */
    const db_stmt *own[DB_OWN_MAX]; /* libraries' statements this session holds (db_own.c) */
    int nown;
    int piped;               /* statements sent in the open pipeline (db_pipe.c) */
    int pipe_rc;             /* the pipeline's first send failure, 0 if none */
    bool pipe_commits;       /* a COMMIT was sent in the pipeline (db_pipe_send_commit) */
};

/*
 * The pool: `size` slots, each a db_conn, of which `nfree` sit on the free
 * stack. mu guards nfree and free; cv is signalled on every put. conninfo,
 * stmts and conns never change after db_pool_new.
 */
struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* on CLOCK_MONOTONIC */
    char *conninfo;
    const db_stmt *stmts;    /* borrowed, may be NULL */
    int nstmts;
    int size;
    db_conn *conns;          /* [size] */
    db_conn **free;          /* [size], the first nfree are free */
    int nfree;
};

/** Prepares statement name on c unless this session holds it already.
 *  Returns 0 or DB_E_* (an unknown name is DB_E_SQL, logged). */
int db__prepare(db_conn *c, const char *name);
/** True when name is prepared on c's session. */
bool db__is_prepared(const db_conn *c, const char *name);
/** Closes c's session (the pool reopens it on the next get). */
void db__conn_drop(db_conn *c);

/**
 * Takes a connection as db_pool_get does and says why it failed: 0 with
 * *out set, DB_E_TIMEOUT when none was free within wait_ms, DB_E_CONN when
 * the connection could not be (re)opened (logged). *out is NULL on failure.
 */
int db__pool_take(db_pool *p, int wait_ms, db_conn **out);

/**
 * Classifies res like db_classify and logs it when it is not one of the
 * errors callers expect to handle (unique, check, retry). `what` names the
 * statement for the log line. A result whose status is neither
 * PGRES_COMMAND_OK nor PGRES_TUPLES_OK is DB_E_SQL even without an error.
 */
int db__check(const PGresult *res, PGconn *pg, const char *what);

/** Length of libpq message msg without its trailing newlines and blanks. */
int db__msg_len(const char *msg);

/** Logs a failed result at lvl with its SQLSTATE and primary message. */
void db__log_failure(log_level lvl, const PGresult *res, PGconn *pg,
                     const char *what);

#endif
