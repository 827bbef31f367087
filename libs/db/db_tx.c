/*
 * db_tx: run a caller's body between BEGIN and COMMIT, retrying the whole
 * transaction when PostgreSQL reports a serialization failure or deadlock.
 *
 * Every attempt takes a connection, runs BEGIN, the body, then COMMIT, and
 * gives the connection back before any backoff, so a sleeping retry never
 * holds a connection another thread could use. Retries wait a jittered,
 * exponentially growing 1 ms .. 100 ms so two conflicting writers do not
 * collide again in lockstep. A BEGIN that finds its connection dead is
 * retried at once on a fresh one, since nothing has run yet; a connection
 * lost later is DB_E_CONN, because a COMMIT may or may not have landed.
 *
 * A body that reports success after one of its statements failed has left
 * the transaction aborted; PostgreSQL would answer COMMIT with ROLLBACK,
 * so that case is caught before COMMIT and reported as DB_E_SQL rather
 * than as a commit that never happened.
 */
#include "db/db_int.h"
#include "core/core.h"

#include <time.h>

enum {
    TX_ATTEMPTS = 8,
    TX_WAIT_MS = 5000,           /* waiting for a free connection */
    TX_BACKOFF_MIN_US = 1000,
    TX_BACKOFF_MAX_US = 100000,
};

static const char *const begin_sql[] = {
    [DB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [DB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [DB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
};

/* splitmix64 over a per-thread state: jitter needs spread, not secrecy. */
static uint64_t jitter_next(void)
{
    static _Thread_local uint64_t state;
    uint64_t z;

    if (state == 0)
        state = (uint64_t)mono_us() ^ (uint64_t)(uintptr_t)&state;
    z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Sleeps before retry number `retry` (1-based): a uniform draw from the
 * upper half of min(1 ms << (retry - 1), 100 ms). */
static void tx_backoff(int retry)
{
    int64_t cap = TX_BACKOFF_MIN_US;
    int64_t us;
    struct timespec ts;

    for (int i = 1; i < retry && cap < TX_BACKOFF_MAX_US; i++)
        cap *= 2;
    if (cap > TX_BACKOFF_MAX_US)
        cap = TX_BACKOFF_MAX_US;
    us = cap / 2 + (int64_t)(jitter_next() % (uint64_t)(cap / 2 + 1));
    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Commits what the body left open, refusing to mistake an aborted or
 * already-ended transaction for a commit. */
static int tx_commit(db_conn *c)
{
    PGTransactionStatusType ts = PQtransactionStatus(db_pg(c));
    int rc = 0;

    if (PQstatus(db_pg(c)) != CONNECTION_OK) {
        rc = DB_E_CONN;
    } else if (ts == PQTRANS_INERROR) {
        log_error("db_tx: body returned success after a failed statement; "
                  "rolled back");
        rc = DB_E_SQL;
    } else if (ts == PQTRANS_IDLE && c->pipe_commits) {
        rc = 0; /* the body's last pipeline committed (db_pipe_send_commit) */
    } else if (ts != PQTRANS_INTRANS) {
        log_error("db_tx: body ended the transaction itself");
        rc = DB_E_SQL;
    } else {
        rc = db_command(c, "COMMIT");
    }
    return rc;
}

/* One attempt on c. *began tells whether BEGIN succeeded. */
static int tx_attempt(db_conn *c, db_isolation iso, db_tx_fn fn, void *arg,
                      bool *began)
{
    int rc = db_command(c, begin_sql[iso]);

    c->pipe_commits = false;
    *began = rc == 0;
    if (rc < 0)
        goto out;
    rc = fn(c, arg);
    if (rc >= 0)
        rc = tx_commit(c);
    /* Whatever is still open is rolled back by db_pool_put. */
out:
    return rc;
}

int db_tx(db_pool *p, db_isolation iso, db_tx_fn fn, void *arg)
{
    int rc = DB_E_SQL;
    int attempt;

    if ((unsigned)iso > DB_SERIALIZABLE) {
        log_error("db_tx: invalid isolation level %d", (int)iso);
        goto out;
    }
    for (attempt = 1; attempt <= TX_ATTEMPTS; attempt++) {
        db_conn *c;
        bool began = false;

        if (attempt > 1 && rc == DB_E_RETRY)
            tx_backoff(attempt - 1);
        rc = db__pool_take(p, TX_WAIT_MS, &c);
        if (rc < 0)
            break;
        rc = tx_attempt(c, iso, fn, arg, &began);
        db_pool_put(p, c);
        if (rc == DB_E_CONN && !began)
            continue;
        if (rc != DB_E_RETRY)
            break;
    }
    if (rc == DB_E_RETRY)
        log_warn("db_tx: still conflicting after %d attempts", TX_ATTEMPTS);
out:
    return rc;
}
