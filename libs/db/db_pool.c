/*
 * db_pool: a fixed number of libpq connections shared by all threads of a
 * daemon. A thread takes a connection, owns it alone, and puts it back.
 *
 * Invariants: a connection on the free list is idle (no transaction open)
 * or closed (pg == NULL); broken sessions are closed on put and reopened
 * lazily by the next get, which also notices sessions the server ended
 * while they sat idle. Opening a connection happens outside the lock, so
 * one slow connect never stalls threads putting connections back. Only
 * the first connection is opened by db_pool_new, so a daemon starts fast
 * and learns of a bad conninfo at once.
 */
#include "db/db_int.h"
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Used when conninfo names no connect_timeout, so a get never hangs on an
 * unreachable host for the kernel's TCP timeout. */
#define DB_CONNECT_TIMEOUT_S "5"

/* Reports server notices (and the goodbye a server sends before it ends a
 * session) through the daemon's JSON log instead of bare stderr. */
static void notice_to_log(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    log_level lvl = LOG_WARN;

    (void)arg;
    /* NOTICE and below are chatter ("already exists, skipping"). */
    if (sev && (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0 ||
                strcmp(sev, "LOG") == 0 || strncmp(sev, "DEBUG", 5) == 0))
        lvl = LOG_DEBUG;
    log_msg(lvl, "db: server %s: %s", sev ? sev : "notice", msg ? msg : "");
}

static void conn_close(db_pool *p, db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    memset(c->prepared, 0, sizeof *c->prepared * (size_t)p->nstmts);
    c->nown = 0;
}

void db__conn_drop(db_conn *c)
{
    conn_close(c->pool, c);
}

/* Copies libpq's message without its trailing newline into err. */
static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "%.*s", db__msg_len(msg), msg);
}

static int conn_open(db_pool *p, db_conn *c, char *err, size_t errlen)
{
    /* Later keywords override the expanded conninfo, earlier ones are
     * overridden by it: the timeout and name are only defaults. */
    static const char *const keys[] = {
        "connect_timeout", "fallback_application_name", "dbname", NULL,
    };
    const char *vals[] = { DB_CONNECT_TIMEOUT_S, "gavel", p->conninfo, NULL };
    int rc = 0;

    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg)
        panic("db: PQconnectdbParams: out of memory");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        set_err(err, errlen, PQerrorMessage(c->pg));
        conn_close(p, c);
        rc = DB_E_CONN;
        goto out;
    }
    PQsetNoticeReceiver(c->pg, notice_to_log, NULL);
out:
    return rc;
}

/*
 * Makes a taken connection usable: drops a session the server has ended
 * (reading what is pending without blocking: the first read may return
 * the server's goodbye, a later one the end of the stream) and opens a
 * new one when needed.
 */
static int conn_ready(db_pool *p, db_conn *c)
{
    char err[256];
    int rc = 0;

    for (int i = 0; c->pg && i < 2; i++) {
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK ||
            PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            const char *msg = PQerrorMessage(c->pg);
            log_warn("db: dropping a broken connection: %.*s",
                     db__msg_len(msg), msg);
            conn_close(p, c);
        }
    }
    if (!c->pg) {
        rc = conn_open(p, c, err, sizeof err);
        if (rc < 0)
            log_error("db: connect failed: %s", err);
    }
    return rc;
}

static void pool_destroy(db_pool *p)
{
    for (int i = 0; i < p->size; i++) {
        conn_close(p, &p->conns[i]);
        free(p->conns[i].prepared);
    }
    free(p->conns);
    free(p->free);
    free(p->conninfo);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void pool_init_sync(db_pool *p)
{
    pthread_condattr_t attr;

    if (pthread_mutex_init(&p->mu, NULL) != 0 ||
        pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&p->cv, &attr) != 0)
        panic("db: cannot initialise pool mutex/condvar");
    pthread_condattr_destroy(&attr);
}

db_pool *db_pool_new(const char *conninfo, int size, const db_stmt *stmts,
                     char *err, size_t errlen)
{
    db_pool *p = NULL;

    if (!conninfo || size < 1) {
        set_err(err, errlen, "db_pool_new: need a conninfo and size >= 1");
        goto out;
    }
    p = xcalloc(1, sizeof *p);
    pool_init_sync(p);
    p->conninfo = xstrdup(conninfo);
    p->stmts = stmts;
    while (stmts && stmts[p->nstmts].name)
        p->nstmts++;
    p->size = size;
    p->conns = xcalloc((size_t)size, sizeof *p->conns);
    p->free = xcalloc((size_t)size, sizeof *p->free);
    for (int i = 0; i < size; i++) {
        p->conns[i].pool = p;
        p->conns[i].prepared = xcalloc((size_t)p->nstmts + 1, sizeof(bool));
        p->free[i] = &p->conns[size - 1 - i];
    }
    p->nfree = size;
    if (conn_open(p, &p->conns[0], err, errlen) < 0)
        goto fail_connect;
out:
    return p;

fail_connect:
    pool_destroy(p);
    p = NULL;
    goto out;
}

void db_pool_free(db_pool *p)
{
    if (!p)
        return;
    if (p->nfree != p->size)
        panic("db_pool_free: %d of %d connections still borrowed",
              p->size - p->nfree, p->size);
    pool_destroy(p);
}

/* Removes a free connection from the stack, preferring an open one.
 * Called with mu held and nfree > 0. */
static db_conn *pop_free(db_pool *p)
{
    int pick = p->nfree - 1;

    while (pick > 0 && !p->free[pick]->pg)
        pick--;
    if (!p->free[pick]->pg)
        pick = p->nfree - 1;
    db_conn *c = p->free[pick];
    memmove(&p->free[pick], &p->free[pick + 1],
            sizeof *p->free * (size_t)(p->nfree - 1 - pick));
    p->nfree--;
    return c;
}

static void push_free(db_pool *p, db_conn *c)
{
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static struct timespec deadline_after(int wait_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int db__pool_take(db_pool *p, int wait_ms, db_conn **out)
{
    struct timespec deadline = deadline_after(wait_ms > 0 ? wait_ms : 0);
    db_conn *c = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && rc == 0) {
        int e = ETIMEDOUT;
        if (wait_ms > 0)
            e = pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
        if (e == ETIMEDOUT && p->nfree == 0)
            rc = DB_E_TIMEOUT;
    }
    if (rc == 0)
        c = pop_free(p);
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        log_warn("db: no connection free within %d ms (pool of %d)",
                 wait_ms, p->size);
        goto out;
    }
    rc = conn_ready(p, c);
    if (rc < 0) {
        push_free(p, c);
        c = NULL;
    }
out:
    *out = c;
    return rc;
}

db_conn *db_pool_get(db_pool *p, int wait_ms)
{
    db_conn *c = NULL;

    db__pool_take(p, wait_ms, &c);
    return c;
}

/* Leaves c idle or closed: an open transaction is rolled back, a session
 * in any other state (broken, mid-COPY) is closed. */
static void conn_settle(db_pool *p, db_conn *c)
{
    PGTransactionStatusType ts = PQTRANS_UNKNOWN;
    PGresult *res;

    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK ||
        PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) /* a pipeline left open */
        goto out;
    ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        res = PQexec(c->pg, "ROLLBACK");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            db__log_failure(LOG_WARN, res, c->pg, "ROLLBACK on put");
        PQclear(res);
        ts = PQtransactionStatus(c->pg);
    }
out:
    if (ts != PQTRANS_IDLE || PQstatus(c->pg) != CONNECTION_OK)
        conn_close(p, c);
}

void db_pool_put(db_pool *p, db_conn *c)
{
    if (!c)
        return;
    if (c->pool != p)
        panic("db_pool_put: connection belongs to another pool");
    conn_settle(p, c);
    push_free(p, c);
}

PGresult *db_pool_exec(db_pool *p, int wait_ms, const char *name, int nparams,
                       const char *const *values, int *rc)
{
    db_conn *c = db_pool_get(p, wait_ms);
    if (c == NULL) {
        if (rc != NULL)
            *rc = DB_E_TIMEOUT;
        return NULL;
    }
    PGresult *r = db_exec(c, name, nparams, values, rc);
    db_pool_put(p, c);
    return r;
}

PGconn *db_pg(db_conn *c)
{
    return c->pg;
}
