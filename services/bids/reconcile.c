/*
 * Start-up reconciliation of wallet holds. A bid reserves funds before its
 * command becomes durable; if the daemon dies in between, the wallet keeps
 * a hold that no bid refers to. Before serving (so no bid is in flight),
 * every hold the wallet reports as held on our lots and that is neither a
 * bidder's covering hold nor a winning hold is queued for release in
 * hold_releases, and the releaser gives it back.
 *
 * When the wallet cannot answer at start-up, a background thread keeps
 * asking (backing off up to 30 s) once the daemon serves. Bids are then in
 * flight, each with a fresh hold no durable bid refers to yet, so the
 * thread considers only holds created before this process started (crash
 * leftovers are older; this process's holds are newer), and it decides
 * nothing itself: it hands each lot's candidates to the lot's shard
 * (CMD_RECONCILE), which releases those it does not know through the
 * group commit, on the thread that owns the lot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bids.h"
#include "gavel/users/v1/users.pb-c.h"

const rpc_client_method wallet_list_holds = {
    "/gavel.users.v1.Wallet/ListHolds", &gavel__users__v1__wallet__descriptor,
    &gavel__users__v1__list_holds_request__descriptor,
    &gavel__users__v1__list_holds_response__descriptor
};

#define CHUNK 1000

enum { RETRY_MIN_MS = 1000, RETRY_MAX_MS = 30000 };

typedef struct {
    int64_t *ids;
    size_t n, cap;
} lot_list;

static void collect(lot_entry *e, void *arg)
{
    lot_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = e->eng.r.lot_id;
}

/* The background pass, when the start-up one could not finish. mu guards
 * stopping; the rest belongs to the thread once it runs. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping;
    lot_list lots;   /* lots in memory at start-up */
    size_t next;     /* first lot not reconciled yet */
    int64_t boot_us; /* holds created after this are this process's */
} bg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Asks the wallet for the held holds on one chunk of lots; NULL (logged)
 * when it cannot answer. The caller frees the answer. */
static Gavel__Users__V1__ListHoldsResponse *list_holds(const int64_t *ids, size_t n,
                                                       const char *token)
{
    Gavel__Users__V1__ListHoldsRequest q = GAVEL__USERS__V1__LIST_HOLDS_REQUEST__INIT;
    q.lot_ids = (int64_t *)ids;
    q.n_lot_ids = n;
    q.state = "held";
    rpc_call_opts o = { .token = token, .deadline_ms = 10000, .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char err[256];
    if (rpc_unary(rpc_channel_get(bids.users_addr), &wallet_list_holds, &q.base, &resp, &o,
                  err, sizeof err) != GRPC_STATUS_OK) {
        log_warn("hold reconciliation: wallet did not answer: %s", err);
        return NULL;
    }
    return (void *)resp;
}

/* Start-up pass over one chunk (the shards do not run yet): queues the
 * orphans in hold_releases. Returns how many, or -1 when the wallet or the
 * database could not answer. */
static int reconcile_chunk(const int64_t *ids, size_t n, const char *token)
{
    Gavel__Users__V1__ListHoldsResponse *r = list_holds(ids, n, token);
    if (r == NULL)
        return -1;
    db_array a[4];
    for (int i = 0; i < 4; i++)
        db_array_init(&a[i]);
    int orphans = 0;
    for (size_t i = 0; i < r->n_holds; i++) {
        const Gavel__Users__V1__Hold *h = r->holds[i];
        lot_entry *e = worker_find_lot(h->lot_id);
        if (e == NULL || lot_knows_hold(e, h->hold_id))
            continue;
        db_array_i64(&a[0], h->hold_id);
        db_array_i64(&a[1], h->lot_id);
        db_array_i64(&a[2], h->user_id);
        db_array_text(&a[3], "orphaned by a restart");
        orphans++;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    int rc = 0;
    db_conn *conn = orphans > 0 ? db_pool_get(bids.db, 5000) : NULL;
    if (conn != NULL) {
        const char *v[] = { db_array_str(&a[0]), db_array_str(&a[1]), db_array_str(&a[2]),
                            db_array_str(&a[3]) };
        PGresult *res = db_exec(conn, "releases_insert", 4, v, &rc);
        PQclear(res);
        db_pool_put(bids.db, conn);
    } else if (orphans > 0) {
        rc = DB_E_TIMEOUT;
    }
    for (int i = 0; i < 4; i++)
        db_array_free(&a[i]);
    return rc == 0 ? orphans : -1;
}

int funds_reconcile(void)
{
    lot_list lots = { 0 };
    workers_each_lot(collect, &lots);
    bg.boot_us = now_us();
    char *token = rpc_service_token();
    int total = 0;
    size_t i = 0;
    for (; token != NULL && i < lots.n; i += CHUNK) {
        int n = reconcile_chunk(lots.ids + i, lots.n - i < CHUNK ? lots.n - i : CHUNK, token);
        if (n < 0)
            break;
        total += n;
    }
    free(token);
    if (i >= lots.n) {
        log_info("hold reconciliation: %zu lots checked, %d orphaned holds queued for release",
                 lots.n, total);
        free(lots.ids);
        return 0;
    }
    log_warn("hold reconciliation incomplete (%zu of %zu lots checked): it goes on in the "
             "background once the wallet answers", i, lots.n);
    bg.lots = lots;
    bg.next = i;
    return 0;
}

/* Background pass over one chunk: hands each lot's holds from before the
 * start to its shard. Returns false when the wallet could not answer. */
static bool handoff_chunk(const int64_t *ids, size_t n, const char *token)
{
    Gavel__Users__V1__ListHoldsResponse *r = list_holds(ids, n, token);
    if (r == NULL)
        return false;
    size_t handed = 0;
    for (size_t i = 0; i < r->n_holds;) {
        int64_t lot_id = r->holds[i]->lot_id;
        cmd *c = xcalloc(1, sizeof *c);
        c->kind = CMD_RECONCILE;
        c->lot_id = lot_id;
        for (; i < r->n_holds && r->holds[i]->lot_id == lot_id; i++) {
            const Gavel__Users__V1__Hold *h = r->holds[i];
            if (h->created_at_us >= bg.boot_us)
                continue; /* this process's: a bid may be landing with it */
            c->orphans = xrealloc(c->orphans, (c->norphans + 1) * sizeof *c->orphans);
            c->orphans[c->norphans++] = (cmd_hold){ h->hold_id, h->user_id };
        }
        handed += c->norphans;
        if (c->norphans > 0)
            worker_submit(c);
        else
            free(c);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (handed > 0)
        log_info("hold reconciliation: %zu holds from before the start handed to the shards",
                 handed);
    return true;
}

/* Sleeps ms unless stopping; returns false once stopping. */
static bool nap(int ms)
{
    struct timespec until;
    deadline_after_ms(&until, ms);
    pthread_mutex_lock(&bg.mu);
    while (!bg.stopping)
        if (pthread_cond_timedwait(&bg.cv, &bg.mu, &until) == ETIMEDOUT)
            break;
    bool go = !bg.stopping;
    pthread_mutex_unlock(&bg.mu);
    return go;
}

static void *background_main(void *arg)
{
    (void)arg;
    int backoff = RETRY_MIN_MS;
    while (bg.next < bg.lots.n && nap(backoff)) {
        char *token = rpc_service_token();
        size_t n = bg.lots.n - bg.next < CHUNK ? bg.lots.n - bg.next : CHUNK;
        if (token != NULL && handoff_chunk(bg.lots.ids + bg.next, n, token)) {
            bg.next += n;
            backoff = 0;
        } else {
            backoff = backoff < RETRY_MIN_MS ? RETRY_MIN_MS : backoff * 2;
            if (backoff > RETRY_MAX_MS)
                backoff = RETRY_MAX_MS;
        }
        free(token);
    }
    if (bg.next >= bg.lots.n)
        log_info("hold reconciliation finished in the background: %zu lots checked",
                 bg.lots.n);
    return NULL;
}

int reconcile_start(void)
{
    if (bg.lots.n == 0 || bg.next >= bg.lots.n)
        return 0;
    bg.stopping = false;
    int e = pthread_create(&bg.thread, NULL, background_main, NULL);
    if (e != 0) {
        log_error("cannot start the background hold reconciliation: %s", strerror(e));
        return -1;
    }
    bg.running = true;
    return 0;
}

void reconcile_stop(void)
{
    if (bg.running) {
        pthread_mutex_lock(&bg.mu);
        bg.stopping = true;
        pthread_cond_signal(&bg.cv);
        pthread_mutex_unlock(&bg.mu);
        pthread_join(bg.thread, NULL);
        bg.running = false;
    }
    free(bg.lots.ids);
    bg.lots = (lot_list){ 0 };
    bg.next = 0;
}
