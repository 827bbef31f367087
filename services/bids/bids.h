/*
 * bids daemon, private header. The pieces:
 *
 *   handlers.c   RPC handlers: validate, reserve funds when needed (on the
 *                caller's thread, outside any lot's sequence), submit a
 *                command to the lot's worker, wait for the durable answer
 *   worker.c     shard threads: each owns the lots with
 *                (lot_id / instances) % shards == i,
 *                applies commands in arrival order with the engine (lot.h),
 *                and answers only after the committer reports the batch
 *   commit.c     one committer thread: batches from all workers, one
 *                PostgreSQL transaction each round (group commit)
 *   store.c      SQL: statements, rebuild at start-up
 *   reserve.c    wallet reservations: callers wait while sender threads
 *                gather them into Wallet.ReserveFundsBatch calls
 *   funds.c      wallet releases: background, from the hold_releases
 *                table, in Wallet.ReleaseFundsBatch calls
 *   watch.c      WatchLot streams, fed by the workers after each commit
 *   convert.c    engine structs to protobuf
 */
#ifndef GAVEL_BIDS_H
#define GAVEL_BIDS_H

#include <pthread.h>

#include "cache/cache.h"
#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "events/events.h"
#include "rpc/rpc.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"
#include "lot.h"

#define BIDS_TOPIC "gavel.bids"
#define MAX_SHARDS 16

typedef struct watcher watcher; /* a WatchLot stream (watch.c) */
typedef struct lot_entry lot_entry; /* a lot in a shard (worker internals below) */

/* ---- process state (lifecycle.c) ---- */
typedef struct {
    db_pool *db;             /* the skeleton's (rpc_service.db) */
    ev_relay *relay;         /* the skeleton's (rpc_service.outbox) */
    const char *users_addr;
    int64_t shards;
    int64_t instances, instance; /* legacy rule: lot n is ours when n % instances == instance */
    int64_t wallet_deadline_ms;
    int64_t wallet_senders;  /* reserve batches in flight at once */
    int64_t commit_max;      /* most commands per group commit */
    int64_t heartbeat_ms;    /* WatchLot heartbeat */
    const char *name;        /* this instance in the registry (registry.c) */
    const char *advertise_addr; /* its address there; "" = GAVEL_BIDS_ADDR */
    bool is_accepting;       /* takes new lots; false = draining */
} bids_state;

/* The daemon's series, registered from bids_metrics (lifecycle.c) before
 * post_init; each is updated by the one module named. */
typedef struct {
    mx_metric *refused_early;                                  /* view.c */
    mx_metric *group_commits, *committed, *commit_kilobids, *commit_seconds; /* commit.c */
    mx_metric *reserve_batches, *reserve_items;                /* reserve.c */
    mx_metric *holds_released, *holds_already_settled, *holds_not_found; /* funds.c */
    mx_metric *release_failures, *releases_pending;            /* funds.c */
    mx_metric *idempotency_keys;                               /* worker.c */
    mx_metric *watchers_dropped_slow, *watchers_dropped_gone;  /* watch.c */
    mx_metric *feed_published, *feed_dropped;                  /* lot_feed.c */
} bids_metric_set;

extern bids_state bids;
extern bids_metric_set bids_mx;
extern const mx_entry bids_metrics[];
extern const cfg_entry bids_config[];
/* The Wallet methods bids calls (reserve.c, funds.c, reconcile.c). */
extern const rpc_client_method wallet_reserve_funds_batch, wallet_release_funds_batch,
    wallet_list_holds;
extern const db_stmt bids_stmts[];
extern const db_migration bids_migrations[];
extern const rpc_method bids_methods[];

int bids_config_check(char *err, size_t errlen);
/* registry.c: this instance in the registry of bids instances. */
int registry_start(const char *own_addr);
void registry_stop(void);
int bids_post_init(void);
void bids_pre_exit(void);
bool bids_is_healthy(void);

/* ---- commands (handlers -> worker -> committer -> worker -> handler) ---- */

typedef enum {
    CMD_PLACE,       /* manual bid */
    CMD_AUTOBID,     /* set autobid */
    CMD_CANCEL,      /* cancel autobid */
    CMD_STATE,       /* read committed state */
    CMD_OPEN,
    CMD_CLOSE,
    CMD_FLOOR,       /* venue lots: a floor bid entered by a clerk */
    CMD_WARN,        /* venue lots: fair warning */
    CMD_WATCH,       /* register a stream */
    CMD_UNCLAIM,     /* handler -> worker: a bid's funds failed; forget it in flight */
    CMD_RECONCILE,   /* reconcile.c -> worker: release these holds unless the lot knows them */
    CMD_COMMITTED,   /* committer -> worker: a batch is durable */
} cmd_kind;

/* Where a command's answer goes; shared by the handler and the engine,
 * freed by whoever drops the last reference. The handler either waits
 * (waiter_wait) or, having deferred its call, sets `then` before
 * submitting: then(then_arg, w) runs once, on the thread that finishes w,
 * holds the handler's reference, and must not block. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int status;              /* gRPC status */
    char message[256];
    uint8_t *response;       /* packed response (malloc), on OK */
    size_t response_len;
    /* funds pre-check result (CMD_PLACE/CMD_AUTOBID with check_only) */
    bool needs_funds;
    int64_t funds_amount;
    void (*then)(void *arg, struct waiter *w);
    void *then_arg;
} waiter;

waiter *waiter_new(void);
void waiter_release(waiter *w);
/** Waits until done or ms elapse; returns true when done. */
bool waiter_wait(waiter *w, int ms);
/** Completes w (status, message, response taken over) and signals, or runs
 *  its `then`. */
void waiter_finish(waiter *w, int status, const char *msg, uint8_t *resp, size_t len);

struct batch;

typedef struct {
    int64_t hold_id, bidder_id;
} cmd_hold;

typedef struct cmd {
    cmd_kind kind;
    int64_t lot_id;
    int64_t bidder_id;
    int64_t amount;            /* bid amount or autobid maximum */
    char currency[4];          /* the amount's currency (must be the lot's) */
    bool check_only;           /* only check rules and funds, change nothing */
    int64_t hold_id;           /* funds reserved for this command, 0 if none */
    int64_t hold_amount;
    char key[129];             /* idempotency key */
    char request_hash[65];
    bool is_staff;
    bool cancel;               /* CMD_CLOSE */
    bool hammer;               /* CMD_CLOSE: the clerk's hammer (venue lots) */
    int32_t floor_paddle;      /* CMD_FLOOR */
    int64_t media_time_us;     /* CMD_PLACE on venue lots */
    lot_rules rules;           /* CMD_OPEN */
    rpc_stream *stream;        /* CMD_WATCH (a reference is held) */
    struct batch *batch;       /* CMD_COMMITTED */
    cmd_hold *orphans;         /* CMD_RECONCILE (malloc'd, owned by the command) */
    size_t norphans;
    waiter *w;
    struct cmd *next;
} cmd;

/* ---- worker.c ---- */
/** Allocates the shards (before store_rebuild restores lots into them). */
int workers_start(void);
/** Starts the shard threads (after the rebuild). */
int workers_run(void);
void workers_stop(void);
/** Calls fn for every lot (only while the shards are not running). */
void workers_each_lot(void (*fn)(lot_entry *e, void *arg), void *arg);
/** The lot's entry (only while the shards are not running), or NULL. */
lot_entry *worker_find_lot(int64_t lot_id);
/** Frees every lot and what is left in the queues (after commit_stop). */
void workers_free(void);
/** Hands cmd to the worker owning cmd->lot_id (takes ownership). */
void worker_submit(cmd *c);
/** Number of lots in memory (metrics). */
int64_t workers_lot_count(void);

/* ---- commit.c ---- */

/* One persisted change, as the committer writes it. */
typedef struct {
    lot_bid bid;
} batch_bid;

typedef struct {
    int64_t lot_id, bidder_id, hold_id, amount;
} batch_hold;

typedef struct {
    int64_t hold_id, lot_id, bidder_id;
    const char *reason;
} batch_release;

typedef struct {
    int64_t lot_id, bidder_id;
    char key[129];
    const char *method;
    char request_hash[65];
    uint8_t *response;
    size_t response_len;
} batch_request;

typedef struct {
    const char *type;        /* static string, e.g. "bid.placed" */
    char aggregate_id[24];
    const ProtobufCMessage *msg; /* in the batch's arena */
} batch_event;

/* A batch from one worker: everything its commands changed since the last
 * hand-off. Lots are written as snapshots of their state at the end. */
typedef struct batch {
    int shard;
    lot *lots;                 /* snapshots (autobids not owned) */
    size_t nlots, caplots;
    bool *lot_is_new;          /* INSERT rather than UPDATE */
    int64_t *winning_hold;     /* per snapshot */
    batch_bid *bids; size_t nbids, capbids;
    lot_autobid *autobids; int64_t *autobid_lot; size_t nautobids, capautobids;
    batch_hold *holds; size_t nholds, capholds;
    batch_release *releases; size_t nreleases, capreleases;
    batch_request *requests; size_t nrequests, caprequests;
    batch_event *events; size_t nevents, capevents;
    waiter **waiters; size_t nwaiters, capwaiters;
    /* Stream updates to send once durable, built in the batch's arena. */
    arena *mem;
    int64_t *watch_lot; ProtobufCMessage **watch_msg; size_t nwatch, capwatch;
    struct batch *next;
} batch;

/* Appenders (grow arrays with xrealloc). */
void batch_add_lot(batch *b, const lot *snapshot, bool is_new, int64_t winning_hold);
void batch_add_bid(batch *b, const lot_bid *bid);
void batch_add_autobids(batch *b, const lot *l);
void batch_add_hold(batch *b, int64_t lot_id, int64_t bidder, int64_t hold_id, int64_t amount);
void batch_add_release(batch *b, int64_t hold_id, int64_t lot_id, int64_t bidder,
                       const char *reason);
void batch_add_request(batch *b, int64_t lot_id, int64_t bidder, const char *key,
                       const char *method, const char *hash, const uint8_t *resp, size_t len);
void batch_add_event(batch *b, const char *type, int64_t lot_id, const ProtobufCMessage *ev);
void batch_add_waiter(batch *b, waiter *w);
void batch_add_watch(batch *b, int64_t lot_id, ProtobufCMessage *update);

/* ---- lot_feed.c: LotFeed to Redis gavel:lot:<id> after each commit ---- */
int lot_feed_start(void);
/** Builds and queues the feeds of a committed round (committer thread). */
void lot_feed_round(batch *const *round, size_t n);
/** Sends what waits (unless Redis is away) and stops the publisher. */
void lot_feed_stop(void);

/* ---- handlers.c / handlers_admin.c ---- */
int bids_open_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int bids_close_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int bids_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
/** Submits m, waits for the durable answer and unpacks it as d. */
int bids_submit_and_finish(rpc_call *c, cmd *m, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out);

/* ---- worker internals (worker.c, apply.c) ---- */

/* An idempotency key seen on a lot. Answers are kept in memory only until
 * they are durable; later replays read them from the requests table. */
typedef struct req_entry {
    int64_t bidder;
    char key[129];
    char hash[65];
    bool durable;
    uint8_t *pending_resp;       /* until durable */
    size_t pending_len;
    waiter **followers;          /* retries that arrived before durability */
    size_t nfollowers;
    struct req_entry *next;
} req_entry;

typedef struct {
    int64_t bidder, hold_id, amount;
} bidder_hold;

typedef struct inflight_bid inflight_bid;

enum { VIEW_INFLIGHT_MAX = 16 };

/* What a PlaceBid handler may read of a lot without its shard (view.c):
 * enough to tell a bid that the shard would refuse as too low, or as
 * placed by the lot's leader.
 * The shard copies it from the engine after every command on the lot,
 * under its view_lock; handlers read it under the same lock. */
typedef struct {
    bool live;                   /* LOT_LIVE when copied */
    int64_t ends_at_us, seller_id, buy_now_price;
    char currency[4];
    int64_t bid_count, leader_id, price, increment, next_min, start_price;
    /* bids reserving funds: the highest, the minimum it sets, the earliest
     * deadline among them, and who placed them */
    int64_t top, top_min, inflight_until_us;
    int64_t inflight_bidders[VIEW_INFLIGHT_MAX];
    size_t ninflight;            /* > VIEW_INFLIGHT_MAX: too many to list */
} lot_view;

struct lot_entry {
    lot eng;                     /* engine state, ahead of the database */
    lot committed;               /* as of the last durable batch (no autobids) */
    bool has_committed;
    int64_t winning_hold;
    lot_bid last_bid;            /* the newest recorded bid (the winner's at close) */
    bool has_last_bid;
    bidder_hold *holds; size_t nholds, capholds;
    req_entry **reqs; size_t reqcap, nreqs;
    watcher *watchers;
    /* Manual bids reserving funds, lowest first (inflight.c): bids that
     * cannot beat the highest are refused before they touch the wallet,
     * and bids whose funds came back land in this order. */
    inflight_bid *inflight; size_t ninflight, capinflight;
    cmd *parked;                 /* funded bids waiting for a lower one to land */
    bool in_parked_lots;         /* listed in its shard's parked_lots */
    lot_view view;               /* under the shard's view_lock */
    struct lot_entry *next;
};

typedef struct shard {
    int index;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cmd *qhead, *qtail;
    bool stopping;
    lot_entry **table;
    size_t tcap, nlots;
    size_t nparked;              /* commands parked on its lots (inflight.c) */
    lot_entry **parked_lots;     /* lots that may hold parked commands (inflight.c) */
    size_t nparked_lots, capparked_lots;
    batch *cur;
    /* Written by the shard's thread only, read by handlers (view.c): the
     * table's chains, each lot's view and idempotency keys. */
    pthread_rwlock_t view_lock;
} shard;

/* ---- view.c: refusing stale bids without the shard ---- */
/** Copies e's engine state into its view (shard thread). */
void view_publish(shard *sh, lot_entry *e);
/**
 * For a PlaceBid (caller, lot, key, currency, amount) the lot's shard
 * would refuse as placed by the leader or as too low: writes the shard's
 * own message to why and returns GRPC_STATUS_FAILED_PRECONDITION or
 * GRPC_STATUS_INVALID_ARGUMENT. Returns 0 when only the shard can tell (a
 * retry, a new state, a buy-now, …). Any thread.
 */
int view_refuse_stale(int64_t lot_id, int64_t bidder, const char *key, const char *currency,
                      int64_t amount, char *why, size_t whylen);
/** The shard that owns lot_id (worker.c). */
shard *worker_shard_of(int64_t lot_id);

lot_entry *shard_find(shard *sh, int64_t lot_id);
lot_entry *shard_add(shard *sh, int64_t lot_id);
/* ---- inflight.c: manual bids reserving funds on a lot (shard thread) ---- */
/** Drops entries past their deadline or below the lot's next minimum
 *  (they could only be refused), and all once the lot is closed. */
void inflight_prune(lot_entry *e, int64_t now);
/** The highest amount in flight, 0 when none. */
int64_t inflight_top(const lot_entry *e);
/** Writes the refusal of a bid below min, the minimum that the bid of top
 *  in flight sets. */
void inflight_why(int64_t top, int64_t min, char *why, size_t whylen);
/** Fills v's in-flight fields as the refusal rule above would see them
 *  while no entry is past its deadline. */
void inflight_summarize(const lot_entry *e, lot_view *v);
/** True when c's bid (bidder, key, amount) is in flight. */
bool inflight_has(const lot_entry *e, const cmd *c);
/** Records c's bid until until_us, if it beats every bid in flight. */
void inflight_add(lot_entry *e, const cmd *c, int64_t until_us);
/** Forgets c's bid (landed, refused or unfunded). */
void inflight_remove(lot_entry *e, const cmd *c);
/** True when a lower bid ahead of c's is still in flight. */
bool inflight_blocked(const lot_entry *e, const cmd *c);
/** Parks c (ownership passes) until inflight_unpark hands it back. */
void inflight_park(shard *sh, lot_entry *e, cmd *c);
/** The first parked command no longer blocked (ownership passes back), or
 *  NULL. Prunes first. */
cmd *inflight_unpark(shard *sh, lot_entry *e, int64_t now);
/** Answers parked commands UNAVAILABLE and frees the lists (shutdown). */
void inflight_free(lot_entry *e);

/** Applies one command on sh's thread (apply.c). */
void apply_cmd(shard *sh, cmd *c);
/** A batch became durable: answer, publish, mark requests (apply.c). */
void apply_committed(shard *sh, batch *b);
/** Sends a heartbeat to every watched lot of the shard (apply_admin.c). */
void apply_heartbeats(shard *sh);
/** Applies the parked bids of every lot that are no longer blocked
 *  (shard loop, while any are parked: entries also leave by deadline). */
void apply_parked(shard *sh);
/** STATE, WATCH, OPEN, CLOSE, WARN, COMMITTED, UNCLAIM (apply_admin.c). */
void apply_other(shard *sh, cmd *c);
#define STATUS_REPLAY_STORED 100 /* handler: the answer is in the requests table */
/* handler: the lot is closed and its keys left memory; the answer of a
 * retry is in the requests table, else the command is refused with the
 * waiter's message (FAILED_PRECONDITION) */
#define STATUS_CLOSED_LOOKUP 101
/** The gRPC status of an engine refusal (apply.c). */
int apply_engine_status(int rc);
/** Holds, events and stream update of a lot that just closed (apply.c). */
void apply_close_effects(shard *sh, lot_entry *e);
void worker_restore_last_bid(int64_t lot_id, const lot_bid *b);
/** True when hold_id is a bidder's covering hold or the winning hold of e. */
bool lot_knows_hold(const lot_entry *e, int64_t hold_id);
/* The lot's idempotency keys: read on the shard's thread or under its
 * view_lock; written by the shard's thread under that lock. */
req_entry *req_find(lot_entry *e, int64_t bidder, const char *key);
req_entry *req_add(shard *sh, lot_entry *e, int64_t bidder, const char *key, const char *hash);
/** A closed lot keeps no durable key in memory (replays read the requests
 *  table): frees them and returns how many. Keys still pending stay. */
size_t req_forget_durable(shard *sh, lot_entry *e);

batch *batch_new(int shard);
void batch_free(batch *b);
bool batch_is_empty(const batch *b);
int commit_start(void);
void commit_stop(void);
/** Queues b for the next transaction; the worker gets CMD_COMMITTED. */
void commit_submit(batch *b);

/* ---- store.c ---- */
/** Loads every lot with its autobids, holds and request keys into the
 *  workers (calls worker_restore). Returns 0 or DB_E_*. */
int store_rebuild(void);
/** Restores one lot read from the database (store.c -> worker.c). */
void worker_restore_lot(const lot *l, int64_t winning_hold);
void worker_restore_autobid(int64_t lot_id, const lot_autobid *a);
void worker_restore_hold(int64_t lot_id, int64_t bidder, int64_t hold_id, int64_t amount);
void worker_restore_request(int64_t lot_id, int64_t bidder, const char *key, const char *hash);
/* What store_load_response found under a key. */
enum { STORED_SAME = 0, STORED_NONE = 1, STORED_OTHER = 2 };
/** Reads the answer stored under (lot, bidder, key). Returns STORED_SAME
 *  with a malloc'd copy in *resp (caller frees) when the stored request
 *  hash equals hash (or hash is NULL), STORED_OTHER when it differs,
 *  STORED_NONE when there is no such key, or DB_E_*. */
int store_load_response(int64_t lot_id, int64_t bidder, const char *key, const char *hash,
                        uint8_t **resp, size_t *len);
/** Bands as stored text "from:inc,…" and back. */
void bands_format(const lot_rules *r, char *out, size_t outlen);
int bands_parse(const char *s, lot_rules *r);

/* ---- reserve.c ---- */
/** Reserves amount for bidder on lot; blocks the calling thread at most
 *  about bids.wallet_deadline_ms. Returns a GRPC status; *hold_id on OK;
 *  a refusal's message in err. Any thread, while the senders run. */
int funds_reserve(int64_t bidder, int64_t lot_id, const char *currency, int64_t amount,
                  const char *key, int64_t *hold_id, char *err, size_t errlen);
/** Starts the sender threads. Returns 0, or -1 (logged). */
int reserve_start(void);
/** Sends what is queued, then joins the senders; later calls get
 *  UNAVAILABLE. */
void reserve_stop(void);

/* ---- funds.c ---- */
int funds_start(void);
void funds_stop(void);
/** Wakes the releaser after a commit that queued releases. */
void funds_kick(void);
/** Queues wallet holds on our lots that no bid refers to (reconcile.c).
 *  Call after the rebuild and before the shards run. */
int funds_reconcile(void);
/** Finishes in the background what funds_reconcile could not (the wallet
 *  did not answer); call once the shards run. Returns 0 or -1. */
int reconcile_start(void);
/** Stops that thread (before the shards stop). */
void reconcile_stop(void);

/* ---- watch.c ---- */
/** Adds a stream to lot's watch list (worker thread). */
void watch_add(watcher **list, rpc_stream *s);
/** Sends msg to every open stream, drops closed and far-behind ones. */
void watch_publish(watcher **list, const ProtobufCMessage *msg, const lot *snapshot);
/** Finishes every stream with status (closing or draining). */
void watch_finish_all(watcher **list, grpc_status_code code, const char *msg);

/* ---- convert.c ---- */
Gavel__Bids__V1__LotState *state_to_proto(arena *a, const lot *l, int64_t now_us);
Gavel__Bids__V1__Bid *bid_to_proto(arena *a, const lot_bid *b, const char *currency);
/** Packs a message into a new malloc'd buffer. */
uint8_t *pack_new(const ProtobufCMessage *m, size_t *len);

#endif
