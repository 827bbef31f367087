/*
 * Shard threads. Lot n belongs to shard (n / instances) % shards for the
 * life of the process, so every command on a lot runs on one thread, in
 * arrival order, without locks on the lot itself. A shard drains its
 * queue, applies each command (apply.c), and hands everything the commands
 * changed to the committer as one batch; the committer's CMD_COMMITTED
 * comes back through the same queue, so answers and stream updates also
 * leave in order.
 *
 * Thread ownership: a shard's table, lots and batch belong to its thread;
 * only the queue (mu/cv) is shared.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bids.h"

enum { PARKED_POLL_MS = 20 };

static shard shards[MAX_SHARDS];
static int nshards;

/* ---- waiters ------------------------------------------------------------------ */

waiter *waiter_new(void)
{
    waiter *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->refs = 2; /* the handler and the engine */
    return w;
}

void waiter_release(waiter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->response);
    free(w);
}

bool waiter_wait(waiter *w, int ms)
{
    struct timespec until;
    deadline_after_ms(&until, ms);
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
            break;
    bool done = w->done;
    pthread_mutex_unlock(&w->mu);
    return done;
}

void waiter_finish(waiter *w, int status, const char *msg, uint8_t *resp, size_t len)
{
    bool first = false;
    pthread_mutex_lock(&w->mu);
    if (!w->done) {
        first = true;
        w->status = status;
        snprintf(w->message, sizeof w->message, "%s", msg != NULL ? msg : "");
        if (resp != w->response) {
            free(w->response);
            w->response = resp;
        }
        w->response_len = len;
        w->done = true;
        pthread_cond_broadcast(&w->cv);
    } else if (resp != w->response) {
        free(resp);
    }
    pthread_mutex_unlock(&w->mu);
    if (first && w->then != NULL)
        w->then(w->then_arg, w);
}

/* ---- the lot table ---------------------------------------------------------------- */

static size_t slot_of(const shard *sh, int64_t lot_id)
{
    uint64_t h = (uint64_t)lot_id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (sh->tcap - 1);
}

lot_entry *shard_find(shard *sh, int64_t lot_id)
{
    for (lot_entry *e = sh->table[slot_of(sh, lot_id)]; e != NULL; e = e->next)
        if (e->eng.r.lot_id == lot_id)
            return e;
    return NULL;
}

lot_entry *shard_add(shard *sh, int64_t lot_id)
{
    lot_entry *e = xcalloc(1, sizeof *e);
    e->eng.r.lot_id = lot_id;
    size_t i = slot_of(sh, lot_id);
    e->next = sh->table[i];
    pthread_rwlock_wrlock(&sh->view_lock);
    sh->table[i] = e;
    pthread_rwlock_unlock(&sh->view_lock);
    sh->nlots++;
    return e;
}

bool lot_knows_hold(const lot_entry *e, int64_t hold_id)
{
    if (e->winning_hold == hold_id)
        return true;
    for (size_t i = 0; i < e->nholds; i++)
        if (e->holds[i].hold_id == hold_id)
            return true;
    return false;
}

/* ---- idempotency keys per lot ------------------------------------------------------ */

/* Keys held in memory, all lots: closed lots give theirs back
 * (gavel_bids_idempotency_keys; engine tests run without it). */
static void count_keys(double delta)
{
    if (bids_mx.idempotency_keys != NULL)
        mx_add(bids_mx.idempotency_keys, delta);
}

static size_t req_slot(const lot_entry *e, int64_t bidder, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)bidder;
    for (const char *p = key; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (size_t)h & (e->reqcap - 1);
}

req_entry *req_find(lot_entry *e, int64_t bidder, const char *key)
{
    if (e->reqcap == 0)
        return NULL;
    for (req_entry *r = e->reqs[req_slot(e, bidder, key)]; r != NULL; r = r->next)
        if (r->bidder == bidder && strcmp(r->key, key) == 0)
            return r;
    return NULL;
}

static void req_grow(lot_entry *e)
{
    size_t cap = e->reqcap ? e->reqcap * 2 : 64;
    req_entry **t = xcalloc(cap, sizeof *t);
    size_t old = e->reqcap;
    req_entry **ot = e->reqs;
    e->reqs = t;
    e->reqcap = cap;
    for (size_t i = 0; i < old; i++)
        for (req_entry *r = ot[i], *n; r != NULL; r = n) {
            n = r->next;
            size_t k = req_slot(e, r->bidder, r->key);
            r->next = t[k];
            t[k] = r;
        }
    free(ot);
}

req_entry *req_add(shard *sh, lot_entry *e, int64_t bidder, const char *key, const char *hash)
{
    req_entry *r = xcalloc(1, sizeof *r);
    r->bidder = bidder;
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->hash, sizeof r->hash, "%s", hash);
    pthread_rwlock_wrlock(&sh->view_lock); /* handlers look keys up (view.c) */
    if (e->nreqs >= e->reqcap / 2)
        req_grow(e);
    size_t k = req_slot(e, bidder, key);
    r->next = e->reqs[k];
    e->reqs[k] = r;
    e->nreqs++;
    pthread_rwlock_unlock(&sh->view_lock);
    count_keys(1);
    return r;
}

size_t req_forget_durable(shard *sh, lot_entry *e)
{
    size_t n = 0;
    pthread_rwlock_wrlock(&sh->view_lock);
    for (size_t i = 0; i < e->reqcap; i++)
        for (req_entry **pp = &e->reqs[i], *r; (r = *pp) != NULL;) {
            if (!r->durable || r->nfollowers > 0) {
                pp = &r->next;
                continue;
            }
            *pp = r->next;
            free(r->pending_resp);
            free(r->followers);
            free(r);
            n++;
        }
    e->nreqs -= n;
    if (e->nreqs == 0) {
        free(e->reqs);
        e->reqs = NULL;
        e->reqcap = 0;
    }
    pthread_rwlock_unlock(&sh->view_lock);
    count_keys(-(double)n);
    return n;
}

/* ---- threads and queues ------------------------------------------------------------- */

/* Among this instance's lots (recorded for it, or n % instances == its
 * index under the legacy rule), n / instances spreads them over the
 * shards. */
shard *worker_shard_of(int64_t lot_id)
{
    uint64_t n = (uint64_t)lot_id / (uint64_t)bids.instances;
    return &shards[n % (uint64_t)nshards];
}

void worker_submit(cmd *c)
{
    /* A committed batch goes back to the shard that made it (shard indexes
     * are not lot ids: with several instances they map differently); every
     * other command to its lot's shard. */
    shard *sh = c->kind == CMD_COMMITTED ? &shards[c->batch->shard] : worker_shard_of(c->lot_id);
    pthread_mutex_lock(&sh->mu);
    c->next = NULL;
    if (sh->qtail != NULL)
        sh->qtail->next = c;
    else
        sh->qhead = c;
    sh->qtail = c;
    pthread_cond_signal(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

static cmd *take_queue(shard *sh, int wait_ms, bool *stopping)
{
    struct timespec until;
    deadline_after_ms(&until, wait_ms);
    pthread_mutex_lock(&sh->mu);
    while (sh->qhead == NULL && !sh->stopping)
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &until) != 0)
            break;
    cmd *list = sh->qhead;
    sh->qhead = sh->qtail = NULL;
    *stopping = sh->stopping;
    pthread_mutex_unlock(&sh->mu);
    return list;
}

static void *shard_main(void *arg)
{
    shard *sh = arg;
    int64_t next_beat = mono_us() + bids.heartbeat_ms * 1000;
    int64_t next_parked_scan = 0;
    for (;;) {
        bool stopping = false;
        /* Parked bids also move on when the bid ahead of them times out:
         * look again soon while any wait. */
        cmd *list = take_queue(sh, sh->nparked > 0 ? PARKED_POLL_MS : (int)bids.heartbeat_ms,
                               &stopping);
        while (list != NULL) {
            cmd *c = list;
            list = c->next;
            apply_cmd(sh, c);
        }
        if (sh->nparked > 0 && mono_us() >= next_parked_scan) {
            apply_parked(sh);
            next_parked_scan = mono_us() + PARKED_POLL_MS * 1000;
        }
        if (!batch_is_empty(sh->cur)) {
            commit_submit(sh->cur);
            sh->cur = batch_new(sh->index);
        }
        if (mono_us() >= next_beat) {
            apply_heartbeats(sh);
            next_beat = mono_us() + bids.heartbeat_ms * 1000;
        }
        if (stopping)
            break;
    }
    return NULL;
}

static shard *shard_for_restore(int64_t lot_id)
{
    return worker_shard_of(lot_id);
}

void worker_restore_lot(const lot *l, int64_t winning_hold)
{
    shard *sh = shard_for_restore(l->r.lot_id);
    lot_entry *e = shard_add(sh, l->r.lot_id);
    e->eng = *l;
    e->eng.autobids = NULL;
    e->eng.nautobids = e->eng.capautobids = 0;
    e->committed = e->eng;
    e->has_committed = true;
    e->winning_hold = winning_hold;
}

void worker_restore_autobid(int64_t lot_id, const lot_autobid *a)
{
    lot_entry *e = shard_find(shard_for_restore(lot_id), lot_id);
    if (e != NULL && lot_restore_autobid(&e->eng, a) < 0)
        log_error("lot %lld: stored autobid of bidder %lld refused", (long long)lot_id,
                  (long long)a->bidder_id);
}

void worker_restore_hold(int64_t lot_id, int64_t bidder, int64_t hold_id, int64_t amount)
{
    lot_entry *e = shard_find(shard_for_restore(lot_id), lot_id);
    if (e == NULL)
        return;
    if (e->nholds == e->capholds) {
        e->capholds = e->capholds ? 2 * e->capholds : 8;
        e->holds = xrealloc(e->holds, e->capholds * sizeof *e->holds);
    }
    e->holds[e->nholds++] = (bidder_hold){ bidder, hold_id, amount };
}

void worker_restore_last_bid(int64_t lot_id, const lot_bid *b)
{
    lot_entry *e = shard_find(shard_for_restore(lot_id), lot_id);
    if (e != NULL) {
        e->last_bid = *b;
        e->has_last_bid = true;
    }
}

void worker_restore_request(int64_t lot_id, int64_t bidder, const char *key, const char *hash)
{
    shard *sh = shard_for_restore(lot_id);
    lot_entry *e = shard_find(sh, lot_id);
    if (e != NULL)
        req_add(sh, e, bidder, key, hash)->durable = true;
}

void workers_each_lot(void (*fn)(lot_entry *e, void *arg), void *arg)
{
    for (int i = 0; i < nshards; i++)
        for (size_t k = 0; k < shards[i].tcap; k++)
            for (lot_entry *e = shards[i].table[k]; e != NULL; e = e->next)
                fn(e, arg);
}

lot_entry *worker_find_lot(int64_t lot_id)
{
    return shard_find(worker_shard_of(lot_id), lot_id);
}

int workers_start(void)
{
    nshards = (int)bids.shards;
    for (int i = 0; i < nshards; i++) {
        shard *sh = &shards[i];
        sh->index = i;
        pthread_mutex_init(&sh->mu, NULL);
        pthread_cond_init(&sh->cv, NULL);
        pthread_rwlock_init(&sh->view_lock, NULL);
        sh->tcap = 1 << 14;
        sh->table = xcalloc(sh->tcap, sizeof *sh->table);
        sh->cur = batch_new(i);
    }
    return 0;
}

static void publish_restored(lot_entry *e, void *arg)
{
    (void)arg;
    view_publish(worker_shard_of(e->eng.r.lot_id), e);
}

int workers_run(void)
{
    workers_each_lot(publish_restored, NULL);
    for (int i = 0; i < nshards; i++)
        if (pthread_create(&shards[i].tid, NULL, shard_main, &shards[i]) != 0)
            return -1;
    return 0;
}

void workers_stop(void)
{
    for (int i = 0; i < nshards; i++) {
        pthread_mutex_lock(&shards[i].mu);
        shards[i].stopping = true;
        pthread_cond_signal(&shards[i].cv);
        pthread_mutex_unlock(&shards[i].mu);
    }
    for (int i = 0; i < nshards; i++)
        if (shards[i].tid != 0)
            pthread_join(shards[i].tid, NULL);
}

int64_t workers_lot_count(void)
{
    int64_t n = 0;
    for (int i = 0; i < nshards; i++)
        n += (int64_t)shards[i].nlots;
    return n;
}

static void entry_free(lot_entry *e)
{
    watch_finish_all(&e->watchers, GRPC_STATUS_UNAVAILABLE, "bids service stopping; reconnect");
    for (size_t i = 0; i < e->reqcap; i++)
        for (req_entry *r = e->reqs[i], *n; r != NULL; r = n) {
            n = r->next;
            for (size_t k = 0; k < r->nfollowers; k++) {
                waiter_finish(r->followers[k], GRPC_STATUS_UNAVAILABLE,
                              "bids service stopping; retry with the same idempotency key",
                              NULL, 0);
                waiter_release(r->followers[k]);
            }
            free(r->followers);
            free(r->pending_resp);
            free(r);
        }
    free(e->reqs);
    free(e->holds);
    inflight_free(e);
    lot_release(&e->eng);
    free(e);
}

void workers_free(void)
{
    for (int i = 0; i < nshards; i++) {
        shard *sh = &shards[i];
        for (cmd *c = sh->qhead, *n; c != NULL; c = n) {
            n = c->next;
            if (c->kind == CMD_COMMITTED)
                apply_committed(sh, c->batch);
            else if (c->kind == CMD_WATCH) {
                rpc_stream_finish(c->stream, GRPC_STATUS_UNAVAILABLE, "bids service stopping");
                rpc_stream_release(c->stream);
            } else if (c->w != NULL) {
                waiter_finish(c->w, GRPC_STATUS_UNAVAILABLE, "bids service stopping", NULL, 0);
                waiter_release(c->w);
            }
            free(c->orphans);
            free(c);
        }
        sh->qhead = sh->qtail = NULL;
        batch_free(sh->cur);
        sh->cur = NULL;
        for (size_t k = 0; k < sh->tcap; k++)
            for (lot_entry *e = sh->table[k], *n; e != NULL; e = n) {
                n = e->next;
                entry_free(e);
            }
        free(sh->table);
        sh->table = NULL;
        free(sh->parked_lots);
        sh->parked_lots = NULL;
        sh->nparked_lots = sh->capparked_lots = 0;
        pthread_mutex_destroy(&sh->mu);
        pthread_cond_destroy(&sh->cv);
        pthread_rwlock_destroy(&sh->view_lock);
    }
}
