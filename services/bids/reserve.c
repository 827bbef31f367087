/*
 * Reserving funds for bids, gathered. Every PlaceBid and SetAutoBid that
 * needs a hold calls funds_reserve on its handler thread and waits; the
 * request joins a queue, and a few sender threads each take whatever is
 * queued (up to RESERVE_BATCH_MAX) and send it as ONE
 * Wallet.ReserveFundsBatch: one users transaction and a handful of
 * statements for the lot. There are GAVEL_BIDS_WALLET_SENDERS senders:
 * batches of one bidder's wallets serialize on its row lock in the users
 * database anyway, so few large batches beat many small ones. Alone, a request leaves at once as a batch of
 * one; under load the batches grow while earlier ones are in flight, so
 * the wallet's cost per hold falls exactly when bids pile up.
 *
 * A caller never waits longer than bids.wallet_deadline_ms (plus the time
 * a free sender takes to pick it up, bounded by the same deadline): past
 * it the answer is UNAVAILABLE and, as with any reservation whose answer
 * was lost, the hold (if the wallet made one) is found again by a retry
 * with the same key or released by the start-up reconciliation.
 *
 * Ownership: a request lives on its caller's stack while queued or in a
 * batch; a caller that gives up first unlinks it from the queue, or, once
 * a sender has it, waits for that sender's answer (the batch's own
 * deadline bounds the wait), so no request outlives its stack frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "bids.h"
#include "gavel/users/v1/users.pb-c.h"

const rpc_client_method wallet_reserve_funds_batch = {
    "/gavel.users.v1.Wallet/ReserveFundsBatch", &gavel__users__v1__wallet__descriptor,
    &gavel__users__v1__reserve_funds_batch_request__descriptor,
    &gavel__users__v1__reserve_funds_batch_response__descriptor
};
#define WALLET_KEY_MAX 128 /* the wallet's limit on idempotency keys */

enum {
    RESERVE_BATCH_MAX = 64, /* items per batch (the wallet takes up to 256) */
    MAX_SENDERS = 16,       /* the configuration's upper bound */
};

typedef struct reserve_req {
    struct reserve_req *next;
    char key[WALLET_KEY_MAX + 1];
    int64_t bidder, lot_id, amount;
    char currency[4];
    int64_t queued_at_us; /* mono_us */
    bool taken, done;     /* picked up by a sender; answered */
    int status;
    int64_t hold_id;
    char err[256];
} reserve_req;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work; /* senders: something queued, or stopping */
    pthread_cond_t done; /* callers: some answer arrived */
    reserve_req *head, *tail;
    pthread_t senders[MAX_SENDERS];
    int nsenders;
    bool stopping;
} rs = { .mu = PTHREAD_MUTEX_INITIALIZER,
         .work = PTHREAD_COND_INITIALIZER,
         .done = PTHREAD_COND_INITIALIZER };

/* ---- wallet keys ---------------------------------------------------------------- */

/* True when every byte of s is one the wallet accepts in a key. */
static bool is_key_text(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

/*
 * The wallet key for a reservation: "b:<boot>:<lot>:<bidder>:<amount>:<key>".
 * <boot> is drawn once per process: within a process a retry meets its own
 * hold, while after a restart it gets a fresh one, because the hold a
 * crash left behind is released by the start-up reconciliation and must
 * never be handed back. The amount is part of the key because a bid the
 * engine refused records nothing, so its key may come back with another
 * amount, which the wallet would refuse as a reused key. When that text is
 * too long or holds bytes the wallet refuses, the tail after the lot and
 * bidder becomes the hex SHA-256 of "<amount>:<key>": still deterministic.
 */
static char boot_id[17];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void make_boot_id(void)
{
    char id[33];
    request_id_new(id);
    memcpy(boot_id, id, 16);
    boot_id[16] = '\0';
}

static void reserve_key(int64_t lot_id, int64_t bidder, int64_t amount, const char *key,
                        char out[WALLET_KEY_MAX + 1])
{
    pthread_once(&boot_once, make_boot_id);
    int n = snprintf(out, WALLET_KEY_MAX + 1, "b:%s:%lld:%lld:%lld:%s", boot_id,
                     (long long)lot_id, (long long)bidder, (long long)amount, key);
    if (n > 0 && n <= WALLET_KEY_MAX && is_key_text(key))
        return;
    char *text = xasprintf("%lld:%s", (long long)amount, key);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        panic("SHA-256 is unavailable");
    free(text);
    char hex[65];
    hex_encode(md, 32, hex);
    snprintf(out, WALLET_KEY_MAX + 1, "bh:%s:%lld:%lld:%s", boot_id, (long long)lot_id,
             (long long)bidder, hex);
}

/* ---- answers -------------------------------------------------------------------- */

/* Maps the wallet's verdict on one item to ours, into q. */
static void settle(reserve_req *q, int code, const char *why, int64_t hold_id)
{
    q->hold_id = 0;
    switch (code) {
    case GRPC_STATUS_OK:
        if (hold_id > 0) {
            q->hold_id = hold_id;
            q->status = GRPC_STATUS_OK;
            return;
        }
        log_error("wallet ReserveFundsBatch answered OK without a hold id");
        snprintf(q->err, sizeof q->err, "wallet answered without a hold");
        q->status = GRPC_STATUS_INTERNAL;
        return;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_NOT_FOUND:
        snprintf(q->err, sizeof q->err, "%s", why);
        q->status = code;
        return;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_CANCELLED:
        snprintf(q->err, sizeof q->err, "wallet unavailable: %s",
                 why[0] != '\0' ? why : "no answer within the deadline");
        q->status = GRPC_STATUS_UNAVAILABLE;
        return;
    default:
        /* Our credentials refused, a request the wallet finds malformed,
         * or a wallet bug: retrying will not help. */
        log_error("wallet ReserveFundsBatch: status %d for lot %lld, bidder %lld: %s", code,
                  (long long)q->lot_id, (long long)q->bidder, why);
        snprintf(q->err, sizeof q->err, "wallet failed: %s", why);
        q->status = GRPC_STATUS_INTERNAL;
        return;
    }
}

/* Answers every request of a batch; takes resp. Called without rs.mu. */
static void settle_batch(reserve_req **qs, size_t n, grpc_status_code st,
                         ProtobufCMessage *resp, const char *why)
{
    Gavel__Users__V1__ReserveFundsBatchResponse *r = (void *)resp;
    if (st == GRPC_STATUS_OK && (r == NULL || r->n_results != n)) {
        log_error("wallet ReserveFundsBatch gave %zu results for %zu items",
                  r != NULL ? r->n_results : 0, n);
        st = GRPC_STATUS_INTERNAL;
        why = "wallet answered a batch with the wrong number of results";
    }
    for (size_t i = 0; i < n; i++) {
        if (st != GRPC_STATUS_OK) {
            settle(qs[i], st, why, 0);
            continue;
        }
        const Gavel__Users__V1__ReserveFundsBatchResult *x = r->results[i];
        int code = x->status != NULL ? x->status->code : GRPC_STATUS_INTERNAL;
        const char *msg = x->status != NULL ? x->status->message : "no status";
        settle(qs[i], code, msg, code == 0 && x->response != NULL ? x->response->hold_id : 0);
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    pthread_mutex_lock(&rs.mu);
    for (size_t i = 0; i < n; i++)
        qs[i]->done = true;
    pthread_cond_broadcast(&rs.done);
    pthread_mutex_unlock(&rs.mu);
}

/* ---- senders -------------------------------------------------------------------- */

/* Sends one batch and answers its requests. */
static void send_batch(reserve_req **qs, size_t n)
{
    Gavel__Common__V1__Money money[RESERVE_BATCH_MAX];
    Gavel__Users__V1__ReserveFundsRequest items[RESERVE_BATCH_MAX];
    Gavel__Users__V1__ReserveFundsRequest *ptrs[RESERVE_BATCH_MAX];
    int64_t oldest = qs[0]->queued_at_us;
    for (size_t i = 0; i < n; i++) {
        gavel__common__v1__money__init(&money[i]);
        money[i].currency = qs[i]->currency;
        money[i].units = qs[i]->amount;
        gavel__users__v1__reserve_funds_request__init(&items[i]);
        items[i].idempotency_key = qs[i]->key;
        items[i].user_id = qs[i]->bidder;
        items[i].lot_id = qs[i]->lot_id;
        items[i].amount = &money[i];
        ptrs[i] = &items[i];
        if (qs[i]->queued_at_us < oldest)
            oldest = qs[i]->queued_at_us;
    }
    Gavel__Users__V1__ReserveFundsBatchRequest req =
        GAVEL__USERS__V1__RESERVE_FUNDS_BATCH_REQUEST__INIT;
    req.n_items = n;
    req.items = ptrs;
    char *token = rpc_service_token();
    if (token == NULL) {
        log_error("cannot reserve funds: no service token (is GAVEL_SERVICE_KEY set?)");
        settle_batch(qs, n, GRPC_STATUS_INTERNAL, NULL,
                     "bids has no service identity for the wallet");
        return;
    }
    /* The oldest request's caller stops waiting wallet_deadline_ms after it
     * queued; the batch ends no later, and never with less than 1 ms. */
    int64_t left_ms = bids.wallet_deadline_ms - (mono_us() - oldest) / 1000;
    rpc_call_opts opts = { .token = token, .deadline_ms = left_ms > 1 ? (int)left_ms : 1,
                           .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char why[256] = "";
    grpc_status_code st = rpc_unary(rpc_channel_get(bids.users_addr),
                                    &wallet_reserve_funds_batch, &req.base, &resp, &opts, why,
                                    sizeof why);
    free(token);
    mx_add(bids_mx.reserve_batches, 1);
    mx_add(bids_mx.reserve_items, (double)n);
    settle_batch(qs, n, st, resp, why);
}

static void *sender_main(void *arg)
{
    (void)arg;
    reserve_req *qs[RESERVE_BATCH_MAX];
    pthread_mutex_lock(&rs.mu);
    for (;;) {
        while (!rs.stopping && rs.head == NULL)
            pthread_cond_wait(&rs.work, &rs.mu);
        if (rs.head == NULL) /* stopping, nothing left */
            break;
        size_t n = 0;
        while (rs.head != NULL && n < RESERVE_BATCH_MAX) {
            reserve_req *q = rs.head;
            rs.head = q->next;
            q->next = NULL;
            q->taken = true;
            qs[n++] = q;
        }
        if (rs.head == NULL)
            rs.tail = NULL;
        pthread_mutex_unlock(&rs.mu);
        send_batch(qs, n);
        pthread_mutex_lock(&rs.mu);
    }
    pthread_mutex_unlock(&rs.mu);
    return NULL;
}

/* Takes q out of the queue if no sender has it yet; true if it was there.
 * Call with rs.mu held. */
static bool unqueue(reserve_req *q)
{
    reserve_req *prev = NULL;
    for (reserve_req *p = rs.head; p != NULL; prev = p, p = p->next) {
        if (p != q)
            continue;
        if (prev == NULL)
            rs.head = q->next;
        else
            prev->next = q->next;
        if (rs.tail == q)
            rs.tail = prev;
        return true;
    }
    return false;
}

int funds_reserve(int64_t bidder, int64_t lot_id, const char *currency, int64_t amount,
                  const char *key, int64_t *hold_id, char *err, size_t errlen)
{
    *hold_id = 0;
    reserve_req q = { .bidder = bidder, .lot_id = lot_id, .amount = amount,
                      .queued_at_us = mono_us() };
    reserve_key(lot_id, bidder, amount, key != NULL ? key : "", q.key);
    snprintf(q.currency, sizeof q.currency, "%s", currency);
    struct timespec until;
    deadline_after_ms(&until, bids.wallet_deadline_ms);
    pthread_mutex_lock(&rs.mu);
    if (rs.nsenders == 0 || rs.stopping) {
        pthread_mutex_unlock(&rs.mu);
        snprintf(err, errlen, "wallet unavailable: bids is not running its wallet senders");
        return GRPC_STATUS_UNAVAILABLE;
    }
    if (rs.tail != NULL)
        rs.tail->next = &q;
    else
        rs.head = &q;
    rs.tail = &q;
    pthread_cond_signal(&rs.work);
    while (!q.done && !q.taken)
        if (pthread_cond_timedwait(&rs.done, &rs.mu, &until) != 0)
            break;
    if (!q.done && !q.taken && unqueue(&q)) { /* no sender got to it in time */
        pthread_mutex_unlock(&rs.mu);
        snprintf(err, errlen, "wallet unavailable: no answer within the deadline");
        return GRPC_STATUS_UNAVAILABLE;
    }
    while (!q.done) /* a sender has it: its deadline ends the batch */
        pthread_cond_wait(&rs.done, &rs.mu);
    pthread_mutex_unlock(&rs.mu);
    if (q.status == GRPC_STATUS_OK)
        *hold_id = q.hold_id;
    else
        snprintf(err, errlen, "%s", q.err);
    return q.status;
}

/* ---- start and stop ------------------------------------------------------------- */

int reserve_start(void)
{
    pthread_mutex_lock(&rs.mu);
    rs.stopping = false;
    pthread_mutex_unlock(&rs.mu);
    for (int i = 0; i < (int)bids.wallet_senders && i < MAX_SENDERS; i++) {
        int e = pthread_create(&rs.senders[i], NULL, sender_main, NULL);
        if (e != 0) {
            log_error("cannot start a wallet sender: %s", strerror(e));
            reserve_stop();
            return -1;
        }
        pthread_mutex_lock(&rs.mu);
        rs.nsenders++;
        pthread_mutex_unlock(&rs.mu);
    }
    return 0;
}

void reserve_stop(void)
{
    pthread_mutex_lock(&rs.mu);
    rs.stopping = true;
    int n = rs.nsenders;
    pthread_cond_broadcast(&rs.work);
    pthread_mutex_unlock(&rs.mu);
    for (int i = 0; i < n; i++) /* each sends what is queued, then leaves */
        pthread_join(rs.senders[i], NULL);
    pthread_mutex_lock(&rs.mu);
    rs.nsenders = 0;
    pthread_mutex_unlock(&rs.mu);
}
