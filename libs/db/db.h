/*
 * db: PostgreSQL access for Gavel daemons over libpq — a fixed pool of
 * connections, named prepared statements declared once as a table,
 * transactions that retry on serialization failure and deadlock, and
 * per-service migrations applied once under an advisory lock.
 *
 * Threads: a db_pool is shared by all threads; a db_conn belongs to the one
 * thread that took it from the pool until it is put back.
 */
#ifndef GAVEL_DB_H
#define GAVEL_DB_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <libpq-fe.h>

/* Error vocabulary: 0 success, negative failure. */
enum {
    DB_OK = 0,
    DB_E_CONN = -1,     /* connection lost or refused (class 08, 57P01-57P03);
                           outcome of a COMMIT unknown */
    DB_E_RETRY = -2,    /* serialization failure (40001) or deadlock (40P01) */
    DB_E_UNIQUE = -3,   /* unique violation (23505) */
    DB_E_CHECK = -4,    /* check (23514) or not-null/foreign-key constraint */
    DB_E_TIMEOUT = -5,  /* no connection free within the wait, or statement
                           timeout (57014) or lock timeout (55P03) */
    DB_E_SQL = -6,      /* any other server error (a bug: logged with SQLSTATE) */
    DB_E_ABORT = -7,    /* the transaction body chose to roll back (not retried) */
};

/** Returns a short constant name for a DB_E_* code ("DB_E_UNKNOWN" for
 *  any other value); a static string. */
const char *db_strerror(int rc);

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

/**
 * A named prepared statement. Tables end with {0}. Statements are
 * prepared lazily on each connection the first time they are used.
 */
typedef struct {
    const char *name;
    const char *sql;
} db_stmt;

/**
 * Returns a new pool of `size` connections to `conninfo` (libpq key=value
 * or URI syntax), or NULL with a message in err when size < 1 or the first
 * connection fails. Only that first connection is opened here; the others
 * open on first use. Unless conninfo says otherwise, connect_timeout is 5 s
 * and application_name is "gavel". Server notices go to the log.
 * conninfo is copied; `stmts` (may be NULL) is borrowed for the pool's
 * lifetime (a static table). Caller frees with db_pool_free(). Broken
 * connections are re-opened on the next get.
 */
db_pool *db_pool_new(const char *conninfo, int size, const db_stmt *stmts,
                     char *err, size_t errlen);
/** Closes every connection; all must have been put back (a connection
 *  still borrowed is a broken invariant: panic). NULL is a no-op. */
void db_pool_free(db_pool *p);

/** Borrows a connection, waiting up to wait_ms (0 or less: no wait). NULL
 *  on timeout or when no connection can be opened (both logged). A session
 *  the server ended while it sat idle is noticed here and replaced. Give
 *  it back with db_pool_put(). */
db_conn *db_pool_get(db_pool *p, int wait_ms);
/** Returns a connection; a connection left inside a transaction is rolled
 *  back, a broken one is closed and re-opened later. NULL is a no-op. */
void db_pool_put(db_pool *p, db_conn *c);
/** Runs one prepared statement (db_exec) on a connection borrowed for it
 *  (waiting up to wait_ms) and gives the connection back: a read that
 *  needs no transaction. The result (caller PQclear()s it), or NULL with
 *  *rc set (DB_E_TIMEOUT when no connection came in time). */
PGresult *db_pool_exec(db_pool *p, int wait_ms, const char *name, int nparams,
                       const char *const *values, int *rc);
/** Borrowed libpq handle of a pooled connection, valid until it is put
 *  back. Do not close it or leave it mid-COPY. */
PGconn *db_pg(db_conn *c);

/**
 * Executes prepared statement `name` (from the pool's table) with text
 * parameters (a NULL entry is SQL NULL), preparing it first if this
 * session has not yet. Returns the text-format result, which the caller
 * frees with PQclear(), and sets *rc to 0; or NULL with *rc set to a
 * DB_E_* code (the error is logged unless it is DB_E_UNIQUE/DB_E_CHECK/
 * DB_E_RETRY). A name not in the table is DB_E_SQL. A result is returned
 * only for PGRES_COMMAND_OK / PGRES_TUPLES_OK. rc may be NULL.
 */
PGresult *db_exec(db_conn *c, const char *name, int nparams,
                  const char *const *values, int *rc);
/** As db_exec with per-parameter lengths and formats (1 = binary, for bytea). */
PGresult *db_exec_bin(db_conn *c, const char *name, int nparams,
                      const char *const *values, const int *lengths,
                      const int *formats, int *rc);
/** Runs an unprepared command without parameters (BEGIN, DDL, SET).
 *  Returns 0 or DB_E_*, logged as for db_exec. */
int db_command(db_conn *c, const char *sql);

/** The SQLSTATE-derived code of a result, for callers that use PQexec:
 *  0 for a successful (or empty-query) result, DB_E_CONN whenever pg is
 *  broken, DB_E_SQL for no result or an unmapped SQLSTATE. Logs nothing. */
int db_classify(const PGresult *res, PGconn *pg);

typedef enum { DB_READ_COMMITTED, DB_REPEATABLE_READ, DB_SERIALIZABLE } db_isolation;

/**
 * The body of a transaction: runs on c between BEGIN and COMMIT and may run
 * more than once, so it must not act outside the database (send, publish)
 * nor keep state between runs. Returns 0 (or any non-negative value) to
 * commit, DB_E_RETRY to retry the whole transaction, any other negative
 * code to roll back and return that code. It must not COMMIT or ROLLBACK
 * itself, except through db_pipe_send_commit, and must return an error
 * when one of its statements failed: success after a failed statement
 * rolls back and gives DB_E_SQL.
 */
typedef int (*db_tx_fn)(db_conn *c, void *arg);

/**
 * Runs fn in a transaction on a connection from the pool, making up to 8
 * attempts with jittered backoff (1 ms .. 100 ms) when the body or COMMIT
 * fails with a serialization failure or deadlock. Waits up to 5 s for a
 * connection (else DB_E_TIMEOUT). Returns 0 when committed, the body's
 * code, DB_E_RETRY when every attempt conflicted, or DB_E_CONN when the
 * connection broke after BEGIN (a COMMIT may or may not have happened:
 * callers rely on idempotency keys to find out); a connection found dead
 * at BEGIN is replaced and the attempt made again.
 */
int db_tx(db_pool *p, db_isolation iso, db_tx_fn fn, void *arg);

/** One numbered migration; lists end with {0}. */
typedef struct {
    int version;        /* 1, 2, 3 … strictly increasing */
    const char *name;   /* file name, for the record */
    const char *sql;    /* may hold several statements */
} db_migration;

/**
 * Applies, in order and each in its own transaction, the migrations of
 * `component` (e.g. "users", "events") not yet recorded in table
 * gavel_migrations (created when missing), holding a session advisory lock
 * (pg_advisory_lock(hashtext('gavel_migrations'))) so concurrent replicas
 * apply each exactly once. A migration's SQL runs with its record row in
 * one transaction, so it must not contain BEGIN/COMMIT/ROLLBACK or
 * statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 * Stops at the first failure; earlier migrations stay applied. Returns 0
 * or DB_E_* (logged, naming the file and line); a list whose versions do
 * not strictly increase is DB_E_SQL. Waits up to 30 s for a connection.
 */
int db_migrate(db_pool *p, const char *component, const db_migration *list);

/* ---- pipelines: independent statements in one round trip (db_pipe.c) ---- */

/**
 * Prepares the named statements (those the pipeline will send) and puts c
 * in pipeline mode. Returns 0 or DB_E_*; on failure c is not in pipeline
 * mode. Every db_pipe_begin that succeeded needs its db_pipe_finish.
 */
int db_pipe_begin(db_conn *c, const char *const *names, int n);
/** Sends prepared statement name (one of db_pipe_begin's) without waiting;
 *  values are copied at once. A failure is kept for db_pipe_finish. */
void db_pipe_send(db_conn *c, const char *name, int nparams, const char *const *values);
/** Sends SQL text (BEGIN, COMMIT, or a statement outside the pool's
 *  table) the same way. */
void db_pipe_send_sql(db_conn *c, const char *sql, int nparams, const char *const *values);
/**
 * Waits for every statement sent and leaves pipeline mode. Returns 0 or
 * the first failure as DB_E_* (logged; results are discarded). After
 * DB_E_CONN the session is closed.
 */
int db_pipe_finish(db_conn *c);
/**
 * As db_pipe_finish, and hands back the results of the first n statements
 * sent, in order, in res[0..n): each the caller's to PQclear. On failure
 * every res[i] is NULL. n must not exceed the statements sent.
 */
int db_pipe_finish_results(db_conn *c, PGresult **res, int n);
/**
 * Sends COMMIT as the last statement of a db_tx body's last pipeline, so
 * the writes and the COMMIT share one round trip. When db_pipe_finish then
 * returns 0 the transaction has committed, and the body returns 0 for
 * db_tx to report it (db_tx does not commit again).
 */
void db_pipe_send_commit(db_conn *c);

/* ---- a library's own statements, outside the pool's table (db_own.c) ---- */

/**
 * Prepares s on c's session unless it holds it already. s is a static
 * db_stmt of a library (its name carries the library's prefix, so it never
 * clashes with the pool's table). Outside a pipeline only. Returns 0 or
 * DB_E_* (logged); a session that already holds DB_OWN_MAX of them (16)
 * returns 0 and keeps sending s as text.
 */
int db_own_prepare(db_conn *c, const db_stmt *s);
/** As db_exec_bin for s, prepared first when needed, with results in
 *  result_format (0 text, 1 binary). */
PGresult *db_own_exec(db_conn *c, const db_stmt *s, int nparams, const char *const *values,
                      const int *lengths, const int *formats, int result_format, int *rc);
/** Sends s into c's open pipeline: as the prepared statement when the
 *  session holds it (db_own_prepare before db_pipe_begin), else as text. */
void db_pipe_send_own(db_conn *c, const db_stmt *s, int nparams, const char *const *values);

/* ---- array parameters, for multi-row writes through unnest() ---- */

/* A PostgreSQL array literal built element by element, e.g. "{1,2,3}" or
 * {"a\"b","c"}. Text and hex elements are always quoted and escaped. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t n;
} db_array;

void db_array_init(db_array *a);
void db_array_i64(db_array *a, int64_t v);
void db_array_bool(db_array *a, bool v);
/** Any text (NUL-terminated); quoted and escaped. */
void db_array_text(db_array *a, const char *s);
/** Bytes as hex text (no \x prefix), for decode(x, 'hex') in SQL. */
void db_array_hex(db_array *a, const uint8_t *p, size_t n);
/** The finished literal, borrowed until db_array_free. */
const char *db_array_str(db_array *a);
void db_array_free(db_array *a);
#define DB_PIPE_MAX_ARRAYS 16
/** Sends prepared statement name into c's open pipeline (db_pipe_begin)
 *  with the n arrays' literals as its parameters, unless the first array
 *  is empty (no rows: nothing to send), and frees the arrays either way. */
void db_pipe_send_arrays(db_conn *c, const char *name, db_array *arrays, int n);

/* ---- value helpers for text-format results ---- */

/** Field as int64 (0 when NULL, out of range, or not an integer). */
int64_t db_get_i64(const PGresult *r, int row, int col);
/** Field as a borrowed string ("" when NULL), valid until PQclear(r). */
const char *db_get_str(const PGresult *r, int row, int col);
/** Field as bool: true for "t" (PostgreSQL's text form) or "true". */
bool db_get_bool(const PGresult *r, int row, int col);
/** Formats v into buf (at least 24 bytes) and returns buf, for parameters. */
const char *db_i64(char *buf, int64_t v);

#endif
