/*
 * The scheduler: one thread per replica that opens lots in the bids
 * service when they start, announces auction.ending_soon, and closes them
 * at their end, then publishes auction.closed.
 *
 * Leases: each round takes the due lots with SELECT … FOR UPDATE SKIP
 * LOCKED inside one transaction, calls the bids service for each while the
 * rows stay locked, writes the new state, the history and the events, and
 * commits (closing.c records a close). Venue lots have no end: the
 * scheduler opens them (venue set) and HammerLot closes them. Another
 * replica skips locked rows, and a committed lot is no
 * longer due, so no lot is opened or closed twice; a crash before COMMIT
 * leaves the lot due, and OpenLot/CloseLot are idempotent, so the next
 * round (here or elsewhere) repeats the call and gets the same answer.
 * auction.closed is written in the transaction that marks the lot CLOSED:
 * exactly once per lot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auctions.h"

#define BATCH 16 /* lots per transaction: bounds how long rows stay locked */

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running;
    bool kicked;
    bool started;
} sched = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static const lot_actor scheduler_actor = { .id = 0, .role = "service" };

/* While the bids service is down every round fails for every due lot: say
 * so at most every 10 s (only the scheduler thread calls this). */
static bool should_warn(void)
{
    static int64_t last_us;
    static long quiet;
    int64_t now = mono_us();
    if (last_us != 0 && now - last_us < 10000000) {
        quiet++;
        return false;
    }
    if (quiet > 0)
        log_warn("scheduler: %ld more failed bids calls since the last warning", quiet);
    last_us = now;
    quiet = 0;
    return true;
}

/* One round's transaction state; reset at each (re)run of the body. */
typedef struct {
    arena *a;
    int64_t now;
    int done;          /* lots moved on */
    int unavailable;   /* bids calls that failed transiently */
} round_ctx;

static void round_reset(round_ctx *r)
{
    arena_reset(r->a);
    r->now = now_us();
    r->done = 0;
    r->unavailable = 0;
}

static int record(db_conn *conn, Gavel__Auctions__V1__Lot *lot,
                  Gavel__Auctions__V1__LotState from, const char *why)
{
    return lot_record_transition(conn, lot, from, &scheduler_actor, why);
}

static int set_state(round_ctx *r, db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                     Gavel__Auctions__V1__LotState to, const char *why)
{
    char id[24], now[24];
    const char *p[] = { db_i64(id, lot->id), lot_state_text(to), lot->rejection_reason,
                        db_i64(now, now_us()) };
    Gavel__Auctions__V1__Lot *out;
    int rc = lot_exec_one(r->a, conn, "lot_set_state", 4, p, &out);
    return rc < 0 ? rc : record(conn, out, lot->state, why);
}

/* ---- opening ---- */

static int open_one(round_ctx *r, db_conn *conn, const Gavel__Auctions__V1__Lot *lot)
{
    char err[256];
    const char *cur = lot->start_price != NULL ? lot->start_price->currency : auctions.currency;
    grpc_status_code st = bids_open(r->a, lot, cur, err, sizeof err);
    if (st == GRPC_STATUS_INVALID_ARGUMENT || st == GRPC_STATUS_FAILED_PRECONDITION) {
        /* The bids service will never take these rules: the lot cannot run. */
        log_error("lot %lld: bids refused OpenLot (%d): %s; cancelling it", (long long)lot->id,
                  (int)st, err);
        mx_add(auctions_mx.open_refused, 1);
        char *why = arena_printf(r->a, "the bids service refused to open it: %s", err);
        return set_state(r, conn, lot, GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CANCELLED, why);
    }
    if (st != GRPC_STATUS_OK) {
        if (should_warn())
            log_warn("lot %lld: OpenLot failed (%d): %s; will retry", (long long)lot->id,
                     (int)st, err);
        r->unavailable++;
        return 0;
    }
    /* Writes the Redis record again: a lost write after ScheduleLot heals. */
    if (lot->bids_instance[0] != '\0' && rpc_owner_record(lot->id, lot->bids_instance) < 0)
        log_warn("lot %lld: cannot record its bids instance in Redis", (long long)lot->id);
    mx_add(auctions_mx.lots_opened, 1);
    mx_observe(auctions_mx.open_lag, (double)(now_us() - lot->starts_at_us) / 1e6);
    r->done++;
    return set_state(r, conn, lot, GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE,
                     "opened by the scheduler");
}

/* ---- closing ---- */

static int close_one(round_ctx *r, db_conn *conn, const Gavel__Auctions__V1__Lot *lot)
{
    char err[256];
    Gavel__Bids__V1__CloseLotResponse *resp = NULL;
    grpc_status_code st = bids_close(lot, false, &resp, err, sizeof err);
    if (st == GRPC_STATUS_NOT_FOUND) {
        /* Open it (idempotent) and close on the next round: a crash between
         * OpenLot's answer and our commit cannot strand a lot this way. */
        log_warn("lot %lld: bids does not know it at close; opening it again", (long long)lot->id);
        st = bids_open(r->a, lot, lot->start_price != NULL ? lot->start_price->currency
                                                          : auctions.currency,
                       err, sizeof err);
        r->unavailable++;
        return 0;
    }
    if (st != GRPC_STATUS_OK) {
        if (should_warn())
            log_warn("lot %lld: CloseLot failed (%d): %s; will retry", (long long)lot->id,
                     (int)st, err);
        r->unavailable++;
        return 0;
    }
    int rc = 0;
    r->done++;
    if (resp->outcome == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_EXTENDED) {
        char id[24], end[24], now[24];
        const char *p[] = { db_i64(id, lot->id), db_i64(end, resp->ends_at_us),
                            db_i64(now, now_us()) };
        Gavel__Auctions__V1__Lot *out;
        mx_add(auctions_mx.close_extended, 1);
        if ((rc = lot_exec_one(r->a, conn, "lot_extend", 3, p, &out)) == 0)
            rc = lot_publish_upsert(conn, out);
        if (resp->ends_at_us <= r->now) /* the bids clock is behind ours: come back later */
            r->done--;
    } else {
        Gavel__Auctions__V1__Lot *out;
        rc = lot_write_close(r->a, conn, lot, resp, &scheduler_actor, "the scheduler", &out);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* ---- rounds ---- */

typedef int (*lot_fn)(round_ctx *r, db_conn *conn, const Gavel__Auctions__V1__Lot *lot);

typedef struct {
    round_ctx *r;
    const char *stmt;
    lot_fn fn;
} due_job;

static int due_body(db_conn *conn, void *arg)
{
    due_job *j = arg;
    round_reset(j->r);
    char now[24], lim[24];
    const char *p[] = { db_i64(now, j->r->now), db_i64(lim, BATCH) };
    int rc = 0;
    PGresult *res = db_exec(conn, j->stmt, 2, p, &rc);
    if (res == NULL)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = j->fn(j->r, conn, lot_from_row(j->r->a, res, i, 0, true));
    PQclear(res);
    return rc;
}

static int ending_soon_body(db_conn *conn, void *arg)
{
    round_ctx *r = arg;
    round_reset(r);
    char until[24], lim[24];
    const char *p[] = { db_i64(until, r->now + auctions.ending_soon_ms * 1000),
                        db_i64(lim, 64) };
    int rc = 0;
    PGresult *res = db_exec(conn, "due_ending_soon", 2, p, &rc);
    if (res == NULL)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        char id[24];
        const char *q[] = { db_i64(id, db_get_i64(res, i, 0)) };
        PGresult *u = db_exec(conn, "lot_mark_ending_soon", 1, q, &rc);
        if (u == NULL)
            break;
        PQclear(u);
        rc = lot_publish_ending_soon(conn, db_get_i64(res, i, 0), db_get_i64(res, i, 1));
        r->done++;
    }
    PQclear(res);
    return rc;
}

/* One pass over everything due. Returns true when it moved some lot on
 * (look again at once) and sets *backoff when the bids service failed. */
static bool run_round(round_ctx *r, bool *backoff)
{
    due_job open = { r, "due_open", open_one }, close = { r, "due_close", close_one };
    bool progress = false;
    *backoff = false;
    due_job *jobs[] = { &open, &close };
    for (size_t i = 0; i < 2; i++) {
        int rc = db_tx(auctions.db, DB_READ_COMMITTED, due_body, jobs[i]);
        if (rc < 0) {
            log_warn("scheduler: %s round failed (%s)", jobs[i]->stmt, db_strerror(rc));
            *backoff = true;
            continue;
        }
        progress |= r->done > 0;
        *backoff |= r->unavailable > 0;
    }
    if (db_tx(auctions.db, DB_READ_COMMITTED, ending_soon_body, r) == 0)
        progress |= r->done > 0;
    if (progress)
        ev_relay_kick(auctions.relay);
    return progress;
}

/* Microseconds until the next lot is due, at most tick_ms. */
static int64_t next_wait_us(void)
{
    int64_t wait = auctions.tick_ms * 1000;
    db_conn *conn = db_pool_get(auctions.db, 1000);
    if (conn == NULL)
        return wait;
    char lead[24];
    const char *p[] = { db_i64(lead, auctions.ending_soon_ms * 1000) };
    int rc;
    PGresult *r = db_exec(conn, "next_due", 1, p, &rc);
    db_pool_put(auctions.db, conn);
    if (r == NULL)
        return wait;
    if (!PQgetisnull(r, 0, 0)) {
        int64_t until = db_get_i64(r, 0, 0) - now_us();
        if (until < wait)
            wait = until < 0 ? 0 : until;
    }
    PQclear(r);
    return wait;
}

static void *scheduler_main(void *arg)
{
    (void)arg;
    log_set_request_id("scheduler");
    round_ctx r = { .a = arena_new() };
    pthread_mutex_lock(&sched.mu);
    while (sched.running) {
        pthread_mutex_unlock(&sched.mu);
        bool backoff;
        bool progress = run_round(&r, &backoff);
        int64_t wait = progress && !backoff ? 0
                       : backoff            ? auctions.tick_ms * 1000
                                            : next_wait_us();
        pthread_mutex_lock(&sched.mu);
        if (wait > 0 && sched.running && !sched.kicked) {
            struct timespec until;
            /* a lot due in 3 ms gets a 3 ms sleep, never a busy loop */
            deadline_after_ms(&until, wait / 1000 + 1);
            while (sched.running && !sched.kicked &&
                   pthread_cond_timedwait(&sched.cv, &sched.mu, &until) != ETIMEDOUT)
                ;
        }
        sched.kicked = false;
    }
    pthread_mutex_unlock(&sched.mu);
    arena_free(r.a);
    rds_thread_close(); /* the owner records (open_one) */
    return NULL;
}

int scheduler_start(void)
{
    sched.running = true;
    if (pthread_create(&sched.thread, NULL, scheduler_main, NULL) != 0) {
        log_error("scheduler: cannot start its thread");
        sched.running = false;
        return -1;
    }
    sched.started = true;
    return 0;
}

void scheduler_kick(void)
{
    pthread_mutex_lock(&sched.mu);
    sched.kicked = true;
    pthread_cond_signal(&sched.cv);
    pthread_mutex_unlock(&sched.mu);
}

void scheduler_stop(void)
{
    if (!sched.started)
        return;
    pthread_mutex_lock(&sched.mu);
    sched.running = false;
    pthread_cond_signal(&sched.cv);
    pthread_mutex_unlock(&sched.mu);
    pthread_join(sched.thread, NULL);
    sched.started = false;
}
