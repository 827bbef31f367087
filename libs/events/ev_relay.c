/*
 * ev_relay: the thread that moves outbox rows to Kafka.
 *
 * One relay per database publishes: it holds the session advisory lock
 * hashtext('gavel_outbox_relay') on a connection it keeps out of the pool;
 * the others stand by, retrying the lock every second without holding a
 * connection. The active relay reads up to 500 unsent rows in id order,
 * produces them all, waits for every delivery report, and marks sent the
 * longest prefix that was acknowledged. Rows after a failure stay unsent
 * even if acknowledged, so a later row of an aggregate is never marked
 * ahead of an earlier one; re-publishing them makes duplicates, which
 * consumers drop by event id. A row is marked sent only after Kafka
 * acknowledged it, so none is lost; a crash between the two publishes it
 * twice, never zero times. The relay's session commits its marks without
 * waiting for their WAL flush (synchronous_commit off, reset when the
 * session goes back to the pool): a mark lost in a database crash is the
 * same case, a second publish.
 *
 * Wake-ups: the active relay LISTENs on channel gavel_outbox on its held
 * session, and a trigger on event_outbox NOTIFYs it when a transaction
 * that added rows commits (ev_outbox.c, migration 4), in this process or
 * any other; ev_relay_kick wakes it too (a byte on an eventfd). Between
 * wake-ups an idle relay looks every GAVEL_OUTBOX_POLL_MS (default 1 s):
 * that poll is the safety net for a wake-up that was lost (no relay was
 * listening when the rows committed, or its session was being replaced).
 * A notification that arrives while a batch is being published is kept by
 * libpq and answered with one more pass. Failures back off from 200 ms to
 * 5 s. All fields marked "relay thread" are touched only by the thread.
 *
 * Retention: when idle, the active relay deletes rows sent more than
 * GAVEL_OUTBOX_RETENTION_S ago (default one day), 5,000 at a time, at most
 * once a minute (or once per retention period when that is shorter).
 * Unsent rows are never deleted.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "events/events_int.h"

enum { RELAY_BATCH = 500, RELAY_STANDBY_MS = 1000,
       RELAY_BACKOFF_MIN_MS = 200, RELAY_BACKOFF_MAX_MS = 5000, SWEEP_BATCH = 5000 };
#define SWEEP_EVERY_US 60000000LL

/* relay_step outcomes besides EV_E_*. */
enum { STEP_IDLE = 0, STEP_MORE = 1, STEP_STANDBY = 2 };

struct ev_relay {
    db_pool *pool;           /* borrowed */
    ev_producer *prod;       /* borrowed */
    pthread_t thread;
    int kick_fd;             /* eventfd: ev_relay_kick and stop write it */
    atomic_bool stop;
    _Atomic int64_t backlog; /* -1 until first counted */
    mx_metric *m_backlog, *m_published, *m_failed;
    db_conn *conn;           /* relay thread: held while active */
    bool is_active;          /* relay thread: conn holds the advisory lock */
    int64_t counted_at_us;   /* relay thread: last backlog count */
    int64_t retention_s;     /* sent rows older than this are deleted */
    int poll_ms;             /* idle poll, the safety net behind NOTIFY */
    int64_t swept_at_us;     /* relay thread: last retention sweep */
    mx_metric *m_swept;
    arena *batch;            /* relay thread: per-batch memory */
};

static const db_stmt st_lock = {
    "ev_relay_lock", "SELECT pg_try_advisory_lock(hashtext('gavel_outbox_relay'))",
};
static const db_stmt st_unlock = {
    "ev_relay_unlock", "SELECT pg_advisory_unlock(hashtext('gavel_outbox_relay'))",
};
static const db_stmt st_unsent = {
    "ev_relay_unsent",
    "SELECT id, topic, key, payload, ctid::text FROM event_outbox "
    "WHERE sent_at IS NULL ORDER BY id LIMIT 500",
};
/* Rows are found by where they were read (no index descent), and a row
 * is marked only if it still has the id read there: only this relay
 * updates outbox rows, but VACUUM FULL may have moved them meanwhile; a
 * moved row stays unsent and goes out again, which consumers drop. */
static const db_stmt st_mark = {
    "ev_relay_mark",
    "UPDATE event_outbox o SET sent_at = now() FROM unnest($1::tid[], $2::bigint[]) AS m(place, id) "
    "WHERE o.ctid = m.place AND o.id = m.id",
};
static const db_stmt st_sweep = {
    "ev_relay_sweep",
    "DELETE FROM event_outbox WHERE id IN (SELECT id FROM event_outbox "
    "WHERE sent_at < now() - make_interval(secs => $1::bigint) LIMIT 5000)",
};
static const db_stmt st_backlog = {
    "ev_relay_backlog", "SELECT count(*) FROM event_outbox WHERE sent_at IS NULL",
};

/* Runs s (prepared on the session once) with text parameters; returns the
 * result (caller PQclears) or NULL with *rc set, logged. */
static PGresult *run(db_conn *c, const db_stmt *s, int nparams,
                     const char *const *values, int result_format, int *rc)
{
    return db_own_exec(c, s, nparams, values, NULL, NULL, result_format, rc);
}

/* Gives the connection back, releasing the lock first so the pooled
 * session does not keep it. */
static void drop_conn(ev_relay *r)
{
    int rc;

    if (r->conn == NULL)
        return;
    /* A session the server ended has nothing to undo: the pool replaces it. */
    PGconn *pg = db_pg(r->conn);
    if (r->is_active && pg != NULL && PQstatus(pg) == CONNECTION_OK) {
        PQclear(run(r->conn, &st_unlock, 0, NULL, 0, &rc));
        db_command(r->conn, "UNLISTEN gavel_outbox");
        db_command(r->conn, "RESET enable_bitmapscan");
        db_command(r->conn, "RESET synchronous_commit");
        log_info("outbox relay: released the relay lock");
    }
    db_pool_put(r->pool, r->conn);
    r->conn = NULL;
    r->is_active = false;
}

/* Counts unsent rows at most once a second; failures leave the old value. */
static void count_backlog(ev_relay *r)
{
    int64_t now = mono_us();
    PGresult *res;
    int rc;

    if (r->conn == NULL || now - r->counted_at_us < 1000000)
        return;
    r->counted_at_us = now;
    if ((res = run(r->conn, &st_backlog, 0, NULL, 0, &rc)) == NULL)
        return;
    atomic_store(&r->backlog, db_get_i64(res, 0, 0));
    mx_set(r->m_backlog, (double)db_get_i64(res, 0, 0));
    PQclear(res);
}

/* Deletes old sent rows, a batch at a time, while idle and at most once a
 * minute; a failure waits for the next turn. */
static void sweep_sent(ev_relay *r)
{
    int64_t now = mono_us(), every = r->retention_s * 1000000;
    if (every > SWEEP_EVERY_US)
        every = SWEEP_EVERY_US;
    if (r->conn == NULL || now - r->swept_at_us < every)
        return;
    r->swept_at_us = now;
    char secs[24];
    const char *p[] = { db_i64(secs, r->retention_s) };
    for (int round = 0; round < 20 && !atomic_load(&r->stop); round++) {
        int rc;
        PGresult *res = run(r->conn, &st_sweep, 1, p, 0, &rc);
        if (res == NULL)
            return;
        int64_t n = atoll(PQcmdTuples(res));
        PQclear(res);
        mx_add(r->m_swept, (double)n);
        if (n < SWEEP_BATCH)
            return;
    }
}

/* Takes a connection and tries the lock. Returns 0 when active,
 * STEP_STANDBY when another relay holds it, EV_E_DB on failure. */
static int become_active(ev_relay *r)
{
    PGresult *res;
    int rc = EV_E_DB;

    if (r->conn == NULL && (r->conn = db_pool_get(r->pool, 1000)) == NULL)
        return EV_E_DB;
    if ((res = run(r->conn, &st_lock, 0, NULL, 0, &rc)) == NULL) {
        drop_conn(r);
        return EV_E_DB;
    }
    r->is_active = db_get_bool(res, 0, 0);
    PQclear(res);
    if (r->is_active) {
        /* The unsent scan must walk the index, not a bitmap: only an index
         * scan marks the entries of rows already sent as dead, so the next
         * pass skips them. A bitmap scan revisits every sent row still in
         * the partial index (until VACUUM) on every pass: measured 0.9 ms
         * and 265 buffers a pass on a hot lot, against 0.04 ms. */
        /* Marking rows sent need not wait for its own WAL flush: a mark
         * lost in a database crash only sends those events again, and
         * consumers drop duplicates. Each pass's flush queued behind (and
         * delayed) the commits callers wait on: on a hot lot a third of
         * the sampled waits on WAL were the relays' marks. */
        /* LISTEN before the first pass: rows committed before it are
         * found by that pass, rows committed after it notify. */
        if (db_command(r->conn, "SET enable_bitmapscan = off") < 0 ||
            db_command(r->conn, "SET synchronous_commit = off") < 0 ||
            db_command(r->conn, "LISTEN gavel_outbox") < 0) {
            drop_conn(r);
            return EV_E_DB;
        }
        log_info("outbox relay: active (holds the relay lock)");
        return 0;
    }
    count_backlog(r);
    drop_conn(r);
    return STEP_STANDBY;
}

/* Marks the rows read at rows[0..n) with ids[0..n) sent. Returns 0 or
 * EV_E_DB. */
static int mark_sent(ev_relay *r, const char *const *rows, const int64_t *ids, size_t n)
{
    db_array where, which;
    db_array_init(&where);
    db_array_init(&which);
    for (size_t i = 0; i < n; i++) {
        db_array_text(&where, rows[i]);
        db_array_i64(&which, ids[i]);
    }
    const char *param[2] = { db_array_str(&where), db_array_str(&which) };
    int rc;
    PGresult *res = run(r->conn, &st_mark, 2, param, 0, &rc);
    db_array_free(&where);
    db_array_free(&which);
    if (res == NULL)
        return EV_E_DB;
    PQclear(res);
    return 0;
}

/* Turns the binary rows of res into messages; returns their ids, and in
 * *rows where each was read (arena copies). */
static int64_t *rows_to_msgs(ev_relay *r, PGresult *res, ev__msg *msgs, int n, char ***rows)
{
    int64_t *ids = arena_alloc(r->batch, (size_t)n * sizeof *ids);
    *rows = arena_alloc(r->batch, (size_t)n * sizeof **rows);

    for (int i = 0; i < n; i++) {
        uint64_t be;

        memcpy(&be, PQgetvalue(res, i, 0), sizeof be);
        ids[i] = (int64_t)be64toh(be);
        (*rows)[i] = arena_strndup(r->batch, PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4));
        msgs[i] = (ev__msg){
            .topic = arena_strndup(r->batch, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1)),
            .key = PQgetvalue(res, i, 2),
            .keylen = (size_t)PQgetlength(res, i, 2),
            .value = PQgetvalue(res, i, 3),
            .len = (size_t)PQgetlength(res, i, 3),
        };
    }
    return ids;
}

/* Publishes one batch. Returns STEP_IDLE, STEP_MORE, EV_E_KAFKA or EV_E_DB. */
static int publish_batch(ev_relay *r)
{
    int timeout = ev__producer_delivery_timeout_ms(r->prod) + 5000;
    PGresult *res;
    ev__msg *msgs;
    int64_t *ids;
    char **rows;
    int n, rc, acked = 0;

    arena_reset(r->batch);
    if ((res = run(r->conn, &st_unsent, 0, NULL, 1, &rc)) == NULL)
        return EV_E_DB;
    if ((n = PQntuples(res)) == 0) {
        PQclear(res);
        return STEP_IDLE;
    }
    msgs = arena_calloc(r->batch, (size_t)n, sizeof *msgs);
    ids = rows_to_msgs(r, res, msgs, n, &rows);
    ev__produce_batch(r->prod, msgs, (size_t)n, timeout, &r->stop);
    PQclear(res);
    while (acked < n && msgs[acked].result == 0)
        acked++;
    if (acked > 0 && mark_sent(r, (const char *const *)rows, ids, (size_t)acked) < 0)
        return EV_E_DB;
    mx_add(r->m_published, acked);
    if (acked < n) {
        mx_add(r->m_failed, n - acked);
        log_warn("outbox relay: %d of %d events published, the rest from id %lld "
                 "stay unsent", acked, n, (long long)ids[acked]);
        return EV_E_KAFKA;
    }
    return n == RELAY_BATCH ? STEP_MORE : STEP_IDLE;
}

/* Takes the notifications libpq has read on the held session. Returns
 * true when there was one. A broken session is noticed by the next pass. */
static bool drain_notifies(ev_relay *r)
{
    PGconn *pg = db_pg(r->conn);
    bool any = false;
    PGnotify *n;

    if (pg == NULL || PQconsumeInput(pg) == 0)
        return false;
    while ((n = PQnotifies(pg)) != NULL) {
        PQfreemem(n);
        any = true;
    }
    return any;
}

/* Waits up to ms for a kick, a stop or (when active) a NOTIFY on the held
 * session. */
static void wait_for_kick(ev_relay *r, int ms)
{
    struct pollfd fds[2] = { { .fd = r->kick_fd, .events = POLLIN }, { .fd = -1 } };
    nfds_t n = 1;
    uint64_t v;

    if (r->is_active && r->conn != NULL && db_pg(r->conn) != NULL) {
        if (drain_notifies(r))
            return; /* arrived while the last batch was published */
        fds[1] = (struct pollfd){ .fd = PQsocket(db_pg(r->conn)), .events = POLLIN };
        n = fds[1].fd >= 0 ? 2 : 1;
    }
    if (atomic_load(&r->stop) || poll(fds, n, ms) <= 0)
        return;
    if (fds[0].revents & POLLIN)
        (void)!read(r->kick_fd, &v, sizeof v);
    if (n == 2 && fds[1].revents != 0)
        drain_notifies(r);
}

static int relay_step(ev_relay *r)
{
    int rc;

    if (!r->is_active && (rc = become_active(r)) != 0)
        return rc;
    rc = publish_batch(r);
    if (rc == EV_E_DB) {
        drop_conn(r);
        return rc;
    }
    count_backlog(r);
    if (rc == STEP_IDLE)
        sweep_sent(r);
    return rc;
}

static void *relay_main(void *arg)
{
    ev_relay *r = arg;
    int backoff = 0;

    while (!atomic_load(&r->stop)) {
        int rc = relay_step(r);

        if (rc == STEP_MORE)
            continue;
        if (rc < 0) {
            backoff = backoff ? backoff * 2 : RELAY_BACKOFF_MIN_MS;
            if (backoff > RELAY_BACKOFF_MAX_MS)
                backoff = RELAY_BACKOFF_MAX_MS;
            ev__sleep_unless(&r->stop, backoff);
            continue;
        }
        backoff = 0;
        ev__producer_poll(r->prod);
        wait_for_kick(r, rc == STEP_STANDBY ? RELAY_STANDBY_MS : r->poll_ms);
    }
    drop_conn(r);
    return NULL;
}

ev_relay *ev_relay_start(db_pool *pool, ev_producer *prod)
{
    ev__settings set;
    char err[256];
    if (ev__settings_get(&set, err, sizeof err) < 0) {
        log_error("outbox relay: %s", err);
        return NULL;
    }
    ev__metrics_register();
    ev_relay *r = xcalloc(1, sizeof *r);
    int e;

    r->pool = pool;
    r->prod = prod;
    atomic_init(&r->stop, false);
    atomic_init(&r->backlog, -1);
    r->batch = arena_new();
    r->m_backlog = ev__mx.outbox_backlog;
    r->m_published = ev__mx.published;
    r->m_failed = ev__mx.publish_failures;
    r->m_swept = ev__mx.outbox_deleted;
    r->retention_s = set.outbox_retention_s;
    r->poll_ms = (int)set.outbox_poll_ms;
    if ((r->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        log_error("outbox relay: cannot make its wake-up eventfd: %s", strerror(errno));
        goto fail_fd;
    }
    if ((e = pthread_create(&r->thread, NULL, relay_main, r)) != 0) {
        log_error("outbox relay: cannot start its thread: %s", strerror(e));
        goto fail_thread;
    }
    return r;
fail_thread:
    close(r->kick_fd);
fail_fd:
    arena_free(r->batch);
    free(r);
    return NULL;
}

void ev_relay_kick(ev_relay *r)
{
    uint64_t one = 1;
    /* A full counter (never, in practice) still leaves the relay woken. */
    (void)!write(r->kick_fd, &one, sizeof one);
}

void ev_relay_stop(ev_relay *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stop, true);
    ev_relay_kick(r);
    pthread_join(r->thread, NULL);
    close(r->kick_fd);
    arena_free(r->batch);
    free(r);
}

int64_t ev_relay_backlog(ev_relay *r)
{
    return r ? atomic_load(&r->backlog) : -1;
}
