/*
 * The bids daemon's side of the wallet (gavel.users.v1.Wallet).
 *
 * Reserving is synchronous: a handler calls funds_reserve on its own
 * thread, before its command reaches the lot's worker, and never waits
 * longer than bids.wallet_deadline_ms. The wallet key is derived from the
 * caller's key and amount, so a retried PlaceBid finds the hold of its
 * first attempt instead of taking a second one.
 *
 * Releasing is asynchronous and durable: the committer writes a
 * hold_releases row in the same transaction as the change that freed a
 * hold, and the releaser thread here calls ReleaseFunds until the wallet
 * confirms, then deletes the row. Rows are only deleted after a definite
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
#include <openssl/evp.h>

#include "bids.h"
#include "gavel/users/v1/users.pb-c.h"

#define RESERVE_METHOD "/gavel.users.v1.Wallet/ReserveFunds"
#define RELEASE_METHOD "/gavel.users.v1.Wallet/ReleaseFunds"
#define WALLET_KEY_MAX 128 /* the wallet's limit on idempotency keys */

enum {
    RELEASE_BATCH = 100,       /* rows per read (LIMIT of "release_pending") */
    RELEASE_IDLE_MS = 1000,    /* poll interval without kicks */
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

/* The releaser. mu guards started/stopping/kicked; the metrics are set
 * once by funds_start and then used only by the releaser thread. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping, kicked;
    mx_metric *m_released, *m_gone, *m_unknown, *m_failed, *m_pending;
} rel = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- reserve ---------------------------------------------------------------------- */

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

/* Maps the wallet's answer to ours; takes resp. */
static int reserve_result(grpc_status_code st, ProtobufCMessage *resp, const char *why,
                          int64_t *hold_id, char *err, size_t errlen)
{
    switch (st) {
    case GRPC_STATUS_OK: {
        *hold_id = ((Gavel__Users__V1__ReserveFundsResponse *)resp)->hold_id;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (*hold_id > 0)
            return GRPC_STATUS_OK;
        log_error("wallet ReserveFunds answered OK without a hold id");
        snprintf(err, errlen, "wallet answered without a hold");
        return GRPC_STATUS_INTERNAL;
    }
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_NOT_FOUND:
        snprintf(err, errlen, "%s", why);
        return st;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_CANCELLED:
        snprintf(err, errlen, "wallet unavailable: %s",
                 why[0] != '\0' ? why : "no answer within the deadline");
        return GRPC_STATUS_UNAVAILABLE;
    default:
        /* Our credentials refused, or a wallet bug: retrying will not help. */
        log_error("wallet ReserveFunds failed with status %d: %s", (int)st, why);
        snprintf(err, errlen, "wallet failed: %s", why);
        return GRPC_STATUS_INTERNAL;
    }
}

int funds_reserve(int64_t bidder, int64_t lot_id, const char *currency, int64_t amount,
                  const char *key, int64_t *hold_id, char *err, size_t errlen)
{
    *hold_id = 0;
    char wkey[WALLET_KEY_MAX + 1];
    reserve_key(lot_id, bidder, amount, key != NULL ? key : "", wkey);
    Gavel__Common__V1__Money money = GAVEL__COMMON__V1__MONEY__INIT;
    money.currency = (char *)currency;
    money.units = amount;
    Gavel__Users__V1__ReserveFundsRequest req = GAVEL__USERS__V1__RESERVE_FUNDS_REQUEST__INIT;
    req.idempotency_key = wkey;
    req.user_id = bidder;
    req.lot_id = lot_id;
    req.amount = &money;
    char *token = rpc_service_token();
    if (token == NULL) {
        log_error("cannot reserve funds: no service token (is GAVEL_SERVICE_KEY set?)");
        snprintf(err, errlen, "bids has no service identity for the wallet");
        return GRPC_STATUS_INTERNAL;
    }
    rpc_call_opts opts = { .token = token, .deadline_ms = (int)bids.wallet_deadline_ms,
                           .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char why[256];
    grpc_status_code st = rpc_unary(rpc_channel_get(bids.users_addr), RESERVE_METHOD, &req.base,
                                    &gavel__users__v1__reserve_funds_response__descriptor,
                                    &resp, &opts, why, sizeof why);
    free(token);
    return reserve_result(st, resp, why, hold_id, err, errlen);
}

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

/* Deletes a settled row. Returns 0 or -1; a row left behind is released
 * again later, which the fixed key makes harmless. */
static int delete_settled(int64_t hold_id)
{
    db_conn *c = db_pool_get(bids.db, RELEASE_DB_WAIT_MS);
    if (c == NULL)
        return -1;
    char id[24];
    const char *p[] = { db_i64(id, hold_id) };
    int rc = 0;
    PGresult *r = db_exec(c, "release_done", 1, p, &rc);
    db_pool_put(bids.db, c);
    if (r == NULL) {
        log_warn("hold %lld released but its row stays: %s", (long long)hold_id,
                 db_strerror(rc));
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
        mx_add(rel.m_released, 1);
        return ROW_DELETE;
    case GRPC_STATUS_FAILED_PRECONDITION: /* already released or captured */
        log_info("hold %lld (lot %lld): nothing left to release: %s", hold, lot, why);
        mx_add(rel.m_gone, 1);
        return ROW_DELETE;
    case GRPC_STATUS_NOT_FOUND:
        log_warn("hold %lld (lot %lld) is unknown to the wallet, dropped: %s", hold, lot, why);
        mx_add(rel.m_unknown, 1);
        return ROW_DELETE;
    case GRPC_STATUS_INVALID_ARGUMENT:
        /* This row can never succeed; the others still may. */
        log_error("hold %lld (lot %lld) refused by the wallet, row kept: %s", hold, lot, why);
        mx_add(rel.m_failed, 1);
        return ROW_KEEP;
    default:
        log_warn("hold %lld (lot %lld) not released yet (status %d: %s); retrying later", hold,
                 lot, (int)st, why);
        mx_add(rel.m_failed, 1);
        return ROW_STOP;
    }
}

static row_action release_one(rpc_channel *ch, const char *token, const pending_release *p)
{
    char key[48], rid[33], why[256];
    snprintf(key, sizeof key, "release:%lld", (long long)p->hold_id);
    request_id_new(rid);
    log_set_request_id(rid);
    Gavel__Users__V1__ReleaseFundsRequest req = GAVEL__USERS__V1__RELEASE_FUNDS_REQUEST__INIT;
    req.idempotency_key = key;
    req.hold_id = p->hold_id;
    /* One attempt per call: this loop is the retry, with its own backoff,
     * and a call retrying inside itself would only hold up funds_stop. */
    rpc_call_opts opts = { .token = token, .request_id = rid,
                           .deadline_ms = RELEASE_DEADLINE_MS, .idempotent = false };
    ProtobufCMessage *resp = NULL;
    grpc_status_code st =
        rpc_unary(ch, RELEASE_METHOD, &req.base,
                  &gavel__users__v1__release_funds_response__descriptor, &resp, &opts, why,
                  sizeof why);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    row_action a = release_outcome(p, st, why);
    log_set_request_id(NULL);
    return a;
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
    mx_set(rel.m_pending, n);
    if (n == 0)
        return ROUND_IDLE;
    char *token = rpc_service_token();
    if (token == NULL) {
        log_error("%d hold releases wait: no service token (is GAVEL_SERVICE_KEY set?)", n);
        return ROUND_FAILED;
    }
    rpc_channel *ch = rpc_channel_get(bids.users_addr);
    int settled = 0;
    bool failed = false;
    for (int i = 0; i < n && !failed && !is_stopping(); i++) {
        row_action a = release_one(ch, token, &rows[i]);
        if (a == ROW_STOP || (a == ROW_DELETE && delete_settled(rows[i].hold_id) < 0))
            failed = true;
        else if (a == ROW_DELETE)
            mx_set(rel.m_pending, n - ++settled);
    }
    free(token);
    if (failed)
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

static void lookup_metrics(void)
{
    const char *help = "Wallet holds settled from hold_releases, by wallet answer.";
    rel.m_released = mx_counter("gavel_bids_holds_released_total", help, "result=\"released\"");
    rel.m_gone = mx_counter("gavel_bids_holds_released_total", help, "result=\"already_settled\"");
    rel.m_unknown = mx_counter("gavel_bids_holds_released_total", help, "result=\"not_found\"");
    rel.m_failed = mx_counter("gavel_bids_hold_release_failures_total",
                              "ReleaseFunds calls that left their hold for a later try.", NULL);
    rel.m_pending = mx_gauge("gavel_bids_hold_releases_pending",
                             "hold_releases rows in the releaser's last read (at most 100), "
                             "minus those settled since.",
                             NULL);
}

/** Starts the releaser thread. Returns 0, or -1 (logged). */
int funds_start(void)
{
    lookup_metrics();
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
