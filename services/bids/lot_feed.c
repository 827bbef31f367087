/*
 * The lot feed (bids.proto, LotFeed): after each group commit, one message
 * per changed lot goes to the Redis channel gavel:lot:<id>, for gateways to
 * fan out to WebSocket clients.
 *
 * The committer builds the feeds of a round once it has committed, before
 * the shards answer (so a client never sees its own bid's answer before a
 * feed could carry it), and hands them to one publisher thread, which sends
 * everything waiting as one pipeline of PUBLISH commands. One thread keeps
 * each lot's feeds in commit order. Pub/sub is lossy by design: when Redis
 * is down the oldest waiting feeds are dropped past FEED_MAX_WAITING, and
 * readers heal from the seq gap with GetLotState; nothing here ever holds
 * up a commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bids.h"
#include "cache/cache.h"

#define FEED_MAX_WAITING 10000 /* feeds waiting for Redis, at most */
#define FEED_MAX_PIPELINE 512  /* PUBLISH commands sent in one go */

typedef struct feed_msg {
    char channel[40];          /* gavel:lot:<id> */
    uint8_t *data;             /* packed LotFeed, owned */
    size_t len;
    struct feed_msg *next;
} feed_msg;

static pthread_t publisher;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static feed_msg *head, *tail;
static size_t waiting;
static bool started, stopping;

static void msg_free(feed_msg *m)
{
    free(m->data);
    free(m);
}

/* Queues m; past the bound the oldest waiting feed gives way. Under mu. */
static void push(feed_msg *m)
{
    m->next = NULL;
    if (tail != NULL)
        tail->next = m;
    else
        head = m;
    tail = m;
    if (++waiting > FEED_MAX_WAITING) {
        feed_msg *old = head;
        head = old->next;
        waiting--;
        msg_free(old);
        mx_add(bids_mx.feed_dropped, 1);
    }
}

static feed_msg *pack_feed(const lot *snapshot, const batch *b, int64_t now)
{
    arena *a = arena_new();
    Gavel__Bids__V1__LotFeed f = GAVEL__BIDS__V1__LOT_FEED__INIT;
    f.server_time_us = now;
    f.state = state_to_proto(a, snapshot, now);
    size_t n = 0;
    for (size_t i = 0; i < b->nbids; i++)
        n += b->bids[i].bid.lot_id == snapshot->r.lot_id;
    if (n > 0) {
        f.bids = arena_alloc(a, n * sizeof *f.bids);
        for (size_t i = 0; i < b->nbids; i++)
            if (b->bids[i].bid.lot_id == snapshot->r.lot_id)
                f.bids[f.n_bids++] = bid_to_proto(a, &b->bids[i].bid, snapshot->r.currency);
    }
    feed_msg *m = xcalloc(1, sizeof *m);
    snprintf(m->channel, sizeof m->channel, "gavel:lot:%lld", (long long)snapshot->r.lot_id);
    m->len = protobuf_c_message_get_packed_size(&f.base);
    m->data = xmalloc(m->len + 1);
    protobuf_c_message_pack(&f.base, m->data);
    arena_free(a);
    return m;
}

void lot_feed_round(batch *const *round, size_t n)
{
    if (!started)
        return;
    int64_t now = now_us();
    feed_msg *first = NULL, **link = &first;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < round[i]->nlots; k++) {
            *link = pack_feed(&round[i]->lots[k], round[i], now);
            link = &(*link)->next;
        }
    if (first == NULL)
        return;
    pthread_mutex_lock(&mu);
    for (feed_msg *m = first, *next; m != NULL; m = next) {
        next = m->next;
        push(m);
    }
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Takes up to FEED_MAX_PIPELINE waiting feeds, in order; NULL when stopping
 * and nothing is left. */
static feed_msg *take(size_t *n)
{
    pthread_mutex_lock(&mu);
    while (head == NULL && !stopping)
        pthread_cond_wait(&cv, &mu);
    feed_msg *first = head, *last = NULL;
    *n = 0;
    for (feed_msg *m = head; m != NULL && *n < FEED_MAX_PIPELINE; m = m->next) {
        last = m;
        (*n)++;
    }
    if (last != NULL) {
        head = last->next;
        if (head == NULL)
            tail = NULL;
        last->next = NULL;
        waiting -= *n;
    }
    pthread_mutex_unlock(&mu);
    return first;
}

/* Sends feeds as one pipeline; false when Redis did not take them. */
static bool publish(feed_msg *first, size_t n)
{
    const char **argv = xcalloc(3 * n, sizeof *argv);
    size_t *lens = xcalloc(3 * n, sizeof *lens);
    size_t i = 0;
    for (feed_msg *m = first; m != NULL; m = m->next, i++) {
        argv[3 * i] = "PUBLISH";
        lens[3 * i] = 7;
        argv[3 * i + 1] = m->channel;
        lens[3 * i + 1] = strlen(m->channel);
        argv[3 * i + 2] = (const char *)m->data;
        lens[3 * i + 2] = m->len;
    }
    int rc = rds_pipeline(n, 3, argv, lens);
    if (rc == RDS_OK)
        mx_add(bids_mx.feed_published, (double)n);
    else
        mx_add(bids_mx.feed_dropped, (double)n); /* readers heal from the gap */
    free(argv);
    free(lens);
    return rc == RDS_OK;
}

static void *publisher_main(void *arg)
{
    (void)arg;
    size_t n = 0;
    for (feed_msg *batch_of; (batch_of = take(&n)) != NULL;) {
        if (!publish(batch_of, n)) {
            /* Redis is away: on the way out, what waits is dropped rather
             * than holding the drain for a connect timeout per round. */
            pthread_mutex_lock(&mu);
            bool drop = stopping;
            pthread_mutex_unlock(&mu);
            for (feed_msg *m = drop ? head : NULL, *next; m != NULL; m = next) {
                next = m->next;
                msg_free(m);
                mx_add(bids_mx.feed_dropped, 1);
            }
            if (drop) {
                pthread_mutex_lock(&mu);
                head = tail = NULL;
                waiting = 0;
                pthread_mutex_unlock(&mu);
            }
        }
        for (feed_msg *m = batch_of, *next; m != NULL; m = next) {
            next = m->next;
            msg_free(m);
        }
    }
    rds_thread_close();
    return NULL;
}

int lot_feed_start(void)
{
    stopping = false;
    if (pthread_create(&publisher, NULL, publisher_main, NULL) != 0)
        return -1;
    started = true;
    return 0;
}

void lot_feed_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(publisher, NULL); /* what is waiting goes out first */
    started = false;
}
