/*
 * Group commit. Shards hand over batches; one committer thread writes every
 * batch waiting at that moment in ONE transaction — bids of many lots and
 * many callers share a single fsync — with multi-row statements
 * (unnest of array parameters) sent as one pipeline from BEGIN to COMMIT,
 * so a round costs one round trip to PostgreSQL whatever its size. After COMMIT each batch goes back to its shard, which
 * answers the callers and feeds the streams.
 *
 * Order: batches are committed in the order they arrived; a shard's
 * batches therefore reach the database in the order the shard made them.
 * A database outage stalls commits (callers time out, outcome unknown,
 * retry with the same key) and they resume when it returns; a statement
 * that fails for any other reason is a broken invariant: the daemon stops
 * and rebuilds from the database on restart.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bids.h"

static pthread_t committer;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static batch *qhead, *qtail;
static bool stopping;

/* ---- building batches (shard threads) ---------------------------------------------- */

#define GROW(b, arr, n, cap)                                                        \
    do {                                                                            \
        if ((b)->n == (b)->cap) {                                                   \
            (b)->cap = (b)->cap ? 2 * (b)->cap : 8;                                 \
            (b)->arr = xrealloc((b)->arr, (b)->cap * sizeof *(b)->arr);             \
        }                                                                           \
    } while (0)

batch *batch_new(int shard)
{
    batch *b = xcalloc(1, sizeof *b);
    b->shard = shard;
    b->mem = arena_new();
    return b;
}

void batch_free(batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->nrequests; i++)
        free(b->requests[i].response);
    for (size_t i = 0; i < b->nwaiters; i++) { /* never committed (shutdown) */
        waiter_finish(b->waiters[i], GRPC_STATUS_UNAVAILABLE,
                      "bids service stopping; retry with the same idempotency key", NULL, 0);
        waiter_release(b->waiters[i]);
    }
    free(b->lots);
    free(b->lot_is_new);
    free(b->winning_hold);
    free(b->bids);
    free(b->autobids);
    free(b->autobid_lot);
    free(b->holds);
    free(b->releases);
    free(b->requests);
    free(b->events);
    free(b->waiters);
    free(b->watch_lot);
    free(b->watch_msg);
    arena_free(b->mem);
    free(b);
}

bool batch_is_empty(const batch *b)
{
    return b->nlots == 0 && b->nbids == 0 && b->nautobids == 0 && b->nholds == 0 &&
           b->nreleases == 0 && b->nrequests == 0 && b->nevents == 0 && b->nwaiters == 0 &&
           b->nwatch == 0;
}

void batch_add_lot(batch *b, const lot *snapshot, bool is_new, int64_t winning_hold)
{
    size_t i = 0;
    while (i < b->nlots && b->lots[i].r.lot_id != snapshot->r.lot_id)
        i++;
    if (i == b->nlots) {
        if (b->nlots == b->caplots) {
            b->caplots = b->caplots ? 2 * b->caplots : 8;
            b->lots = xrealloc(b->lots, b->caplots * sizeof *b->lots);
            b->lot_is_new = xrealloc(b->lot_is_new, b->caplots * sizeof *b->lot_is_new);
            b->winning_hold = xrealloc(b->winning_hold, b->caplots * sizeof *b->winning_hold);
        }
        b->nlots++;
        b->lot_is_new[i] = is_new;
    }
    b->lots[i] = *snapshot; /* the latest state of the lot in this batch wins */
    b->lots[i].autobids = NULL;
    b->lots[i].nautobids = b->lots[i].capautobids = 0;
    b->winning_hold[i] = winning_hold;
}

void batch_add_bid(batch *b, const lot_bid *bid)
{
    GROW(b, bids, nbids, capbids);
    b->bids[b->nbids++].bid = *bid;
}

void batch_add_autobids(batch *b, const lot *l)
{
    for (size_t k = 0; k < l->nautobids; k++) {
        const lot_autobid *a = &l->autobids[k];
        size_t i = 0;
        while (i < b->nautobids &&
               !(b->autobid_lot[i] == l->r.lot_id && b->autobids[i].bidder_id == a->bidder_id))
            i++;
        if (i == b->nautobids) {
            if (b->nautobids == b->capautobids) {
                b->capautobids = b->capautobids ? 2 * b->capautobids : 8;
                b->autobids = xrealloc(b->autobids, b->capautobids * sizeof *b->autobids);
                b->autobid_lot = xrealloc(b->autobid_lot, b->capautobids * sizeof *b->autobid_lot);
            }
            b->nautobids++;
        }
        b->autobids[i] = *a;
        b->autobid_lot[i] = l->r.lot_id;
    }
}

void batch_add_hold(batch *b, int64_t lot_id, int64_t bidder, int64_t hold_id, int64_t amount)
{
    size_t i = 0;
    while (i < b->nholds && !(b->holds[i].lot_id == lot_id && b->holds[i].bidder_id == bidder))
        i++;
    if (i == b->nholds) {
        GROW(b, holds, nholds, capholds);
        b->nholds++;
    }
    b->holds[i] = (batch_hold){ lot_id, bidder, hold_id, amount };
}

void batch_add_release(batch *b, int64_t hold_id, int64_t lot_id, int64_t bidder,
                       const char *reason)
{
    for (size_t i = 0; i < b->nreleases; i++)
        if (b->releases[i].hold_id == hold_id)
            return;
    GROW(b, releases, nreleases, capreleases);
    b->releases[b->nreleases++] = (batch_release){ hold_id, lot_id, bidder, reason };
}

void batch_add_request(batch *b, int64_t lot_id, int64_t bidder, const char *key,
                       const char *method, const char *hash, const uint8_t *resp, size_t len)
{
    GROW(b, requests, nrequests, caprequests);
    batch_request *r = &b->requests[b->nrequests++];
    memset(r, 0, sizeof *r);
    r->lot_id = lot_id;
    r->bidder_id = bidder;
    snprintf(r->key, sizeof r->key, "%s", key);
    r->method = method;
    snprintf(r->request_hash, sizeof r->request_hash, "%s", hash);
    r->response = xmalloc(len + 1);
    memcpy(r->response, resp, len);
    r->response_len = len;
}

void batch_add_event(batch *b, const char *type, int64_t lot_id, const ProtobufCMessage *ev)
{
    GROW(b, events, nevents, capevents);
    batch_event *e = &b->events[b->nevents++];
    e->type = type;
    snprintf(e->aggregate_id, sizeof e->aggregate_id, "%lld", (long long)lot_id);
    void *copy = arena_alloc(b->mem, ev->descriptor->sizeof_message);
    memcpy(copy, ev, ev->descriptor->sizeof_message); /* nested parts live in b->mem */
    e->msg = copy;
}

void batch_add_waiter(batch *b, waiter *w)
{
    GROW(b, waiters, nwaiters, capwaiters);
    b->waiters[b->nwaiters++] = w;
}

void batch_add_watch(batch *b, int64_t lot_id, ProtobufCMessage *update)
{
    if (b->nwatch == b->capwatch) {
        b->capwatch = b->capwatch ? 2 * b->capwatch : 8;
        b->watch_lot = xrealloc(b->watch_lot, b->capwatch * sizeof *b->watch_lot);
        b->watch_msg = xrealloc(b->watch_msg, b->capwatch * sizeof *b->watch_msg);
    }
    b->watch_lot[b->nwatch] = lot_id;
    b->watch_msg[b->nwatch++] = update;
}

/* ---- the committer thread ------------------------------------------------------------ */

void commit_submit(batch *b)
{
    pthread_mutex_lock(&mu);
    b->next = NULL;
    if (qtail != NULL)
        qtail->next = b;
    else
        qhead = b;
    qtail = b;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/** Writes a round as one transaction (store.c). Returns 0 or DB_E_*. */
int store_write_round(db_conn *conn, batch *const *bs, size_t n);

/* One attempt at a round on a pooled connection. */
static int round_once(batch **bs, size_t n)
{
    db_conn *conn = db_pool_get(bids.db, 1000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    int rc = store_write_round(conn, bs, n);
    db_pool_put(bids.db, conn);
    return rc;
}

/* Writes one round, retrying through database outages. */
static bool write_round(batch **bs, size_t n)
{
    int64_t backoff_ms = 10;
    for (;;) {
        int64_t t0 = mono_us();
        int rc = round_once(bs, n);
        if (rc == 0) {
            mx_observe(bids_mx.commit_seconds, (double)(mono_us() - t0) / 1e6);
            return true;
        }
        if (rc != DB_E_CONN && rc != DB_E_TIMEOUT && rc != DB_E_RETRY)
            panic("group commit failed (%s): the database refused what the engine decided",
                  db_strerror(rc));
        log_warn("group commit: database unavailable (%s); retrying in %lld ms",
                 db_strerror(rc), (long long)backoff_ms);
        pthread_mutex_lock(&mu);
        bool stop = stopping;
        pthread_mutex_unlock(&mu);
        if (stop)
            return false;
        struct timespec ts = { backoff_ms / 1000, (backoff_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
    }
}

static size_t take_round(batch ***out, size_t *cap)
{
    pthread_mutex_lock(&mu);
    while (qhead == NULL && !stopping)
        pthread_cond_wait(&cv, &mu);
    size_t n = 0;
    size_t cmds = 0;
    while (qhead != NULL && (n == 0 || cmds < (size_t)bids.commit_max)) {
        batch *b = qhead;
        qhead = b->next;
        if (qhead == NULL)
            qtail = NULL;
        if (n == *cap) {
            *cap = *cap ? 2 * *cap : 16;
            *out = xrealloc(*out, *cap * sizeof **out);
        }
        (*out)[n++] = b;
        cmds += b->nwaiters + b->nbids;
    }
    pthread_mutex_unlock(&mu);
    return n;
}

static void *committer_main(void *arg)
{
    (void)arg;
    batch **round = NULL;
    size_t cap = 0;
    for (;;) {
        size_t n = take_round(&round, &cap);
        if (n == 0)
            break;
        bool ok = write_round(round, n);
        if (ok)
            lot_feed_round(round, n);
        size_t nbids = 0;
        for (size_t i = 0; i < n; i++) {
            nbids += round[i]->nbids;
            if (!ok) {
                batch_free(round[i]);
                continue;
            }
            cmd *c = xcalloc(1, sizeof *c);
            c->kind = CMD_COMMITTED;
            c->batch = round[i];
            worker_submit(c);
        }
        if (ok) {
            mx_add(bids_mx.group_commits, 1);
            mx_add(bids_mx.committed, (double)nbids);
            mx_observe(bids_mx.commit_kilobids, (double)nbids / 1000.0);
            ev_relay_kick(bids.relay);
            funds_kick();
        }
    }
    free(round);
    return NULL;
}

int commit_start(void)
{
    if (lot_feed_start() < 0)
        return -1;
    return pthread_create(&committer, NULL, committer_main, NULL) == 0 ? 0 : -1;
}

void commit_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(committer, NULL);
    lot_feed_stop();
    while (qhead != NULL) {
        batch *b = qhead;
        qhead = b->next;
        batch_free(b);
    }
    qtail = NULL;
}
