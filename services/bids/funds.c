/*
 * Releasing wallet holds (gavel.users.v1.Wallet), the asynchronous half of
 * the bids daemon's side of the wallet; reserving is in reserve.c.
 *
 * Releasing is durable: the committer writes a
 * hold_releases row in the same transaction as the change that freed a
 * hold, and the releaser thread here sends what is queued, up to 100 holds
 * at a time, as one Wallet.ReleaseFundsBatch until the wallet confirms,
 * then deletes the settled rows. Rows are only deleted after a definite
 * answer (released, already released or captured, unknown hold), so a
 * crash or an unreachable wallet delays a release but never loses it; a
 * repeated call is harmless because its key ("release:<hold>") is fixed.
 * The releaser owns no lot and takes no engine lock: a slow wallet never
 * slows bidding. It holds a database connection only while reading or
 * deleting, never across a wallet call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bids.h"
#include "gavel/users/v1/users.pb-c.h"

const rpc_client_method wallet_release_funds_batch = {
    "/gavel.users.v1.Wallet/ReleaseFundsBatch", &gavel__users__v1__wallet__descriptor,
    &gavel__users__v1__release_funds_batch_request__descriptor,
    &gavel__users__v1__release_funds_batch_response__descriptor
};

enum {
    RELEASE_BATCH = 100,       /* rows per read (LIMIT of "release_pending") */
    RELEASE_IDLE_MS = 1000,    /* poll interval without kicks */
    RELEASE_GATHER_MS = 50,    /* after a kick, let more releases join the round */
    RELEASE_DEADLINE_MS = 3000,
    RELEASE_DB_WAIT_MS = 1000,
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 10000,
};

/* What a round did: everything read was settled (IDLE), a full batch was
 * settled and more may wait (MORE), or the wallet or database failed. */
enum { ROUND_FAILED = -1, ROUND_IDLE = 0, ROUND_MORE = 1 };

/* What to do with one row after its ReleaseFunds call. */
typedef enum { ROW_DELETE, ROW_KEEP, ROW_STOP } row_action;

typedef struct {
    int64_t hold_id, lot_id, bidder_id;
} pending_release;

/* The releaser. mu guards started/stopping/kicked. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping, kicked;
} rel = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- release: database side ------------------------------------------------------- */

/* Reads up to RELEASE_BATCH rows, oldest first. Returns their number or -1. */
static int load_pending(pending_release *out)
{
    db_conn *c = db_pool_get(bids.db, RELEASE_DB_WAIT_MS);
    if (c == NULL)
        return -1;
    int rc = 0;
    PGresult *r = db_exec(c, "release_pending", 0, NULL, &rc);
    db_pool_put(bids.db, c);
    if (r == NULL) {
        log_warn("cannot read hold releases: %s", db_strerror(rc));
        return -1;
    }
    int n = PQntuples(r) < RELEASE_BATCH ? PQntuples(r) : RELEASE_BATCH;
    for (int i = 0; i < n; i++)
        out[i] = (pending_release){ .hold_id = db_get_i64(r, i, 0),
                                    .lot_id = db_get_i64(r, i, 1),
                                    .bidder_id = db_get_i64(r, i, 2) };
    PQclear(r);
    return n;
}

/* Deletes the settled rows in one statement. Returns 0 or -1; rows left
 * behind are released again later, which the fixed keys make harmless. */
static int delete_settled(const int64_t *hold_ids, size_t n)
{
    if (n == 0)
        return 0;
    db_conn *c = db_pool_get(bids.db, RELEASE_DB_WAIT_MS);
    if (c == NULL)
        return -1;
    db_array ids;
    db_array_init(&ids);
    for (size_t i = 0; i < n; i++)
        db_array_i64(&ids, hold_ids[i]);
    const char *p[] = { db_array_str(&ids) };
    int rc = 0;
    PGresult *r = db_exec(c, "release_done", 1, p, &rc);
    db_pool_put(bids.db, c);
    db_array_free(&ids);
    if (r == NULL) {
        log_warn("%zu holds released but their rows stay: %s", n, db_strerror(rc));
        return -1;
    }
    PQclear(r);
    return 0;
}

/* ---- release: wallet side --------------------------------------------------------- */

/* Classifies the wallet's answer for one hold, logs it, counts it. */
static row_action release_outcome(const pending_release *p, grpc_status_code st,
                                  const char *why)
{
    long long hold = (long long)p->hold_id, lot = (long long)p->lot_id;
    switch (st) {
    case GRPC_STATUS_OK:
        log_info("hold %lld (lot %lld, bidder %lld) released", hold, lot,
                 (long long)p->bidder_id);
        mx_add(bids_mx.holds_released, 1);
        return ROW_DELETE;
    case GRPC_STATUS_FAILED_PRECONDITION: /* already released or captured */
        log_info("hold %lld (lot %lld): nothing left to release: %s", hold, lot, why);
        mx_add(bids_mx.holds_already_settled, 1);
        return ROW_DELETE;
    case GRPC_STATUS_NOT_FOUND:
        log_warn("hold %lld (lot %lld) is unknown to the wallet, dropped: %s", hold, lot, why);
        mx_add(bids_mx.holds_not_found, 1);
        return ROW_DELETE;
    case GRPC_STATUS_INVALID_ARGUMENT:
        /* This row can never succeed; the others still may. */
        log_error("hold %lld (lot %lld) refused by the wallet, row kept: %s", hold, lot, why);
        mx_add(bids_mx.release_failures, 1);
        return ROW_KEEP;
    default:
        log_warn("hold %lld (lot %lld) not released yet (status %d: %s); retrying later", hold,
                 lot, (int)st, why);
        mx_add(bids_mx.release_failures, 1);
        return ROW_STOP;
    }
}

/* One ReleaseFundsBatch for rows[0..n); each row's action into acts.
 * Returns false when the call itself failed (every row stays). */
static bool release_batch(const char *token, const pending_release *rows, int n,
                          row_action *acts)
{
    char keys[RELEASE_BATCH][32], rid[33], why[256] = "";
    Gavel__Users__V1__ReleaseFundsRequest items[RELEASE_BATCH];
    Gavel__Users__V1__ReleaseFundsRequest *ptrs[RELEASE_BATCH];
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "release:%lld", (long long)rows[i].hold_id);
        gavel__users__v1__release_funds_request__init(&items[i]);
        items[i].idempotency_key = keys[i];
        items[i].hold_id = rows[i].hold_id;
        ptrs[i] = &items[i];
    }
    Gavel__Users__V1__ReleaseFundsBatchRequest req =
        GAVEL__USERS__V1__RELEASE_FUNDS_BATCH_REQUEST__INIT;
    req.n_items = (size_t)n;
    req.items = ptrs;
    request_id_new(rid);
    log_set_request_id(rid);
    /* One attempt per call: the releaser's loop is the retry, with its own
     * backoff, and a call retrying inside itself would hold up funds_stop. */
    rpc_call_opts opts = { .token = token, .request_id = rid,
                           .deadline_ms = RELEASE_DEADLINE_MS, .idempotent = false };
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = rpc_unary(rpc_channel_get(bids.users_addr),
                                    &wallet_release_funds_batch, &req.base, &resp, &opts, why,
                                    sizeof why);
    Gavel__Users__V1__ReleaseFundsBatchResponse *r = (void *)resp;
    if (st == GRPC_STATUS_OK && r->n_results != (size_t)n) {
        snprintf(why, sizeof why, "%zu results for %d holds", r->n_results, n);
        st = GRPC_STATUS_INTERNAL;
    }
    for (int i = 0; i < n; i++) {
        const Gavel__Users__V1__BatchItemStatus *x =
            st == GRPC_STATUS_OK ? r->results[i]->status : NULL;
        if (st == GRPC_STATUS_OK && x == NULL)
            acts[i] = release_outcome(&rows[i], GRPC_STATUS_INTERNAL, "no status");
        else if (st == GRPC_STATUS_OK)
            acts[i] = release_outcome(&rows[i], (grpc_status_code)x->code, x->message);
        else
            acts[i] = ROW_STOP;
    }
    if (st != GRPC_STATUS_OK) {
        log_warn("%d hold releases not sent (status %d: %s); retrying later", n, (int)st, why);
        mx_add(bids_mx.release_failures, n);
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    log_set_request_id(NULL);
    return st == GRPC_STATUS_OK;
}

static bool is_stopping(void)
{
    pthread_mutex_lock(&rel.mu);
    bool stop = rel.stopping;
    pthread_mutex_unlock(&rel.mu);
    return stop;
}

/* Settles what one read returned. Returns ROUND_*. */
static int release_round(void)
{
    pending_release rows[RELEASE_BATCH];
    int n = load_pending(rows);
    if (n < 0)
        return ROUND_FAILED;
    mx_set(bids_mx.releases_pending, n);
    if (n == 0)
        return ROUND_IDLE;
    char *token = rpc_service_token();
    if (token == NULL) {
        log_error("%d hold releases wait: no service token (is GAVEL_SERVICE_KEY set?)", n);
        return ROUND_FAILED;
    }
    row_action acts[RELEASE_BATCH];
    bool sent = !is_stopping() && release_batch(token, rows, n, acts);
    free(token);
    if (!sent)
        return ROUND_FAILED;
    int64_t done[RELEASE_BATCH];
    size_t settled = 0;
    bool stop = false;
    for (int i = 0; i < n; i++) {
        if (acts[i] == ROW_DELETE)
            done[settled++] = rows[i].hold_id;
        stop = stop || acts[i] == ROW_STOP;
    }
    if (delete_settled(done, settled) < 0)
        return ROUND_FAILED;
    mx_set(bids_mx.releases_pending, n - (int)settled);
    if (stop)
        return ROUND_FAILED;
    /* Kept rows come back first in the next read: without progress, more
     * of the same would only spin. */
    return n == RELEASE_BATCH && settled > 0 ? ROUND_MORE : ROUND_IDLE;
}

/* ---- release: the thread ---------------------------------------------------------- */

/*
 * Waits ms, or less when kicked (unless backing off: then only a stop
 * cuts the wait short, so kicks from a busy committer cannot hammer a
 * failing wallet). Returns false once stopping.
 */
static bool wait_for_work(int ms, bool is_backing_off)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rel.mu);
    while (!rel.stopping && (is_backing_off || !rel.kicked))
        if (pthread_cond_timedwait(&rel.cv, &rel.mu, &until) == ETIMEDOUT)
            break;
    rel.kicked = false; /* the coming round reads every row queued so far */
    bool go = !rel.stopping;
    pthread_mutex_unlock(&rel.mu);
    return go;
}

static void *releaser_main(void *arg)
{
    (void)arg;
    int backoff_ms = 0;
    int wait_ms = 0; /* rows left from before a restart go at once */
    while (wait_for_work(wait_ms, backoff_ms > 0)) {
        /* A busy lot frees a hold with nearly every commit: gathering them
         * for a moment turns a wallet transaction per hold into one per
         * round, and the bidder gets the money back a few ms later. */
        if (backoff_ms == 0 && wait_ms > 0 && !wait_for_work(RELEASE_GATHER_MS, true))
            break;
        int rc = release_round();
        if (rc == ROUND_FAILED) {
            backoff_ms = backoff_ms == 0 ? BACKOFF_MIN_MS : backoff_ms * 2;
            if (backoff_ms > BACKOFF_MAX_MS)
                backoff_ms = BACKOFF_MAX_MS;
            wait_ms = backoff_ms;
        } else {
            backoff_ms = 0;
            wait_ms = rc == ROUND_MORE ? 0 : RELEASE_IDLE_MS;
        }
    }
    return NULL;
}

/** Starts the releaser thread. Returns 0, or -1 (logged). */
int funds_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rel.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&rel.mu);
    rel.started = true;
    rel.stopping = false;
    rel.kicked = false;
    pthread_mutex_unlock(&rel.mu);
    int e = pthread_create(&rel.thread, NULL, releaser_main, NULL);
    if (e != 0) {
        log_error("cannot start the hold releaser: %s", strerror(e));
        pthread_mutex_lock(&rel.mu);
        rel.started = false;
        pthread_mutex_unlock(&rel.mu);
        pthread_cond_destroy(&rel.cv);
        return -1;
    }
    return 0;
}

/** Stops and joins the releaser: at once when idle, else after the wallet
 *  call in flight (at most RELEASE_DEADLINE_MS). No-op when not started. */
void funds_stop(void)
{
    pthread_mutex_lock(&rel.mu);
    bool was_started = rel.started;
    rel.stopping = true;
    if (was_started)
        pthread_cond_signal(&rel.cv);
    pthread_mutex_unlock(&rel.mu);
    if (!was_started)
        return;
    pthread_join(rel.thread, NULL);
    pthread_mutex_lock(&rel.mu);
    rel.started = false;
    pthread_mutex_unlock(&rel.mu);
    pthread_cond_destroy(&rel.cv);
}

/** Wakes the releaser for rows just committed. Any thread; never blocks
 *  beyond a short mutex. No-op when the releaser is not running. */
void funds_kick(void)
{
    pthread_mutex_lock(&rel.mu);
    if (rel.started) {
        rel.kicked = true;
        pthread_cond_signal(&rel.cv);
    }
    pthread_mutex_unlock(&rel.mu);
}
