/*
 * gavel.bids.v1.Bids handlers, on the rpc worker threads. They validate,
 * then hand a command to the lot's shard and wait for its answer, which
 * comes only once the change is durable; a PlaceBid the lot's view shows
 * to be too low, or to come from the lot's leader, is refused here
 * (view.c). Funds are reserved here, between
 * a check-only pass and the real command, so a slow wallet delays only its
 * own caller and never a lot's sequence. The bidder is always the verified
 * caller: no request field can name another.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"
#include "idem/idem.h"

/* A bid's money (check_money): a positive amount in a currency code; the
 * lot's currency, which only the lot knows, decides the rest (view.c and
 * the engine refuse another). */
static const check_money_rule bid_money = { .min_units = 1 };

static cmd *cmd_new(cmd_kind kind, int64_t lot_id, int64_t bidder)
{
    cmd *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->lot_id = lot_id;
    m->bidder_id = bidder;
    return m;
}

/* Submits m (ownership passes) and waits; returns the waiter (caller
 * releases) or NULL after recording DEADLINE_EXCEEDED. */
static waiter *submit_wait(rpc_call *c, cmd *m)
{
    waiter *w = waiter_new();
    m->w = w;
    worker_submit(m);
    if (waiter_wait(w, rpc_time_left_ms(c)))
        return w;
    waiter_release(w);
    rpc_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED,
             "no answer before the deadline; the outcome is unknown: retry with the same "
             "idempotency key");
    return NULL;
}

/* An answer stored in the requests table: the first answer to this key
 * (hash NULL: already matched in memory), or why there is none to give. */
static int stored_answer(rpc_call *c, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                         int64_t lot_id, int64_t bidder, const char *key, const char *hash,
                         const char *refusal)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = store_load_response(lot_id, bidder, key, hash, &bytes, &len);
    if (rc == STORED_NONE && refusal != NULL)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "%s", refusal);
    if (rc == STORED_OTHER)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "idempotency_key %.128s was already used for a different request", key);
    if (rc != STORED_SAME)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "cannot read the stored answer; retry");
    *out = rpc_unpack(c, d, bytes, len);
    free(bytes);
    return *out != NULL ? GRPC_STATUS_OK
                        : rpc_fail(c, GRPC_STATUS_INTERNAL, "stored answer unreadable");
}

/* Turns a finished waiter into the call's answer. */
static int finish(rpc_call *c, waiter *w, const ProtobufCMessageDescriptor *d,
                  ProtobufCMessage **out, int64_t lot_id, int64_t bidder, const char *key,
                  const char *hash)
{
    int status = w->status;
    if (status == STATUS_REPLAY_STORED || status == STATUS_CLOSED_LOOKUP) {
        char refusal[sizeof w->message];
        snprintf(refusal, sizeof refusal, "%s", w->message);
        waiter_release(w);
        return status == STATUS_REPLAY_STORED
                   ? stored_answer(c, d, out, lot_id, bidder, key, NULL, NULL)
                   : stored_answer(c, d, out, lot_id, bidder, key, hash, refusal);
    }
    if (status != GRPC_STATUS_OK) {
        rpc_fail(c, (grpc_status_code)status, "%s", w->message);
        waiter_release(w);
        return status;
    }
    *out = w->response != NULL ? rpc_unpack(c, d, w->response, w->response_len) : NULL;
    waiter_release(w);
    return *out != NULL ? GRPC_STATUS_OK : rpc_fail(c, GRPC_STATUS_INTERNAL, "empty answer");
}

/*
 * PlaceBid and SetAutoBid are answered without a thread waiting per call:
 * the handler defers its call and submits the check-only pass; most calls
 * on a hot lot end there (refused as outbid), answered from the shard's
 * thread. Only a call that must reserve funds or read a stored answer
 * goes on, on an rpc worker, since those steps block.
 */
typedef struct {
    rpc_call *c;
    const ProtobufCMessageDescriptor *d;
    cmd second;     /* the real command, once funded */
    waiter *checked; /* the check-only pass's answer */
} funded_call;

/* After the check passed: reserve if the standing hold does not cover the
 * amount, then apply. On a worker thread. */
static int funded_rest(funded_call *f, ProtobufCMessage **out)
{
    rpc_call *c = f->c;
    cmd second = f->second;
    waiter *w = f->checked;
    if (w->status != GRPC_STATUS_OK || w->response != NULL)
        return finish(c, w, f->d, out, second.lot_id, second.bidder_id, second.key,
                      second.request_hash);
    bool needs = w->needs_funds;
    int64_t need = w->funds_amount;
    waiter_release(w);
    if (needs) {
        char err[256];
        int st = funds_reserve(second.bidder_id, second.lot_id, second.currency, need,
                               second.key, &second.hold_id, err, sizeof err);
        if (st != GRPC_STATUS_OK) {
            /* others may bid this amount */
            cmd *u = cmd_new(CMD_UNCLAIM, second.lot_id, second.bidder_id);
            u->amount = second.amount;
            snprintf(u->key, sizeof u->key, "%s", second.key);
            worker_submit(u);
            return rpc_fail(c, (grpc_status_code)st, "%s", err);
        }
        second.hold_amount = need;
    }
    cmd *m2 = xmalloc(sizeof *m2);
    *m2 = second;
    if ((w = submit_wait(c, m2)) == NULL)
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    if (w->status == GRPC_STATUS_OK && w->response == NULL) {
        waiter_release(w);
        return rpc_fail(c, GRPC_STATUS_ABORTED, "the lot changed while funds were reserved; retry");
    }
    return finish(c, w, f->d, out, second.lot_id, second.bidder_id, second.key,
                  second.request_hash);
}

static void funded_resume(rpc_call *c, void *arg)
{
    ProtobufCMessage *out = NULL;
    int code = funded_rest(arg, &out);
    rpc_complete(c, code, out);
}

/* The check-only pass answered, on the thread that finished it. */
static void on_checked(void *arg, waiter *w)
{
    funded_call *f = arg;
    bool settled = w->status != GRPC_STATUS_OK || w->response != NULL;
    if (settled && w->status != STATUS_REPLAY_STORED && w->status != STATUS_CLOSED_LOOKUP) {
        ProtobufCMessage *out = NULL;
        int code = finish(f->c, w, f->d, &out, 0, 0, "", NULL);
        rpc_complete(f->c, code, out);
        return;
    }
    f->checked = w;
    rpc_resume(f->c, funded_resume, f);
}

static int funded_command(rpc_call *c, cmd_kind kind, int64_t lot_id,
                          const Gavel__Common__V1__Money *amount, const char *key,
                          int64_t media_time_us, const ProtobufCMessage *in,
                          const ProtobufCMessageDescriptor *d)
{
    int64_t bidder = rpc_caller(c)->user_id;
    funded_call *f = rpc_alloc(c, sizeof *f);
    f->c = c;
    f->d = d;
    cmd *m = &f->second;
    m->kind = kind;
    m->lot_id = lot_id;
    m->bidder_id = bidder;
    m->amount = amount->units;
    m->media_time_us = media_time_us; /* judged by the engine: venue lots only */
    snprintf(m->currency, sizeof m->currency, "%s", amount->currency);
    snprintf(m->key, sizeof m->key, "%s", key);
    idem_request_hash(in, m->request_hash);
    cmd *check = xmalloc(sizeof *check);
    *check = *m;
    check->check_only = true;
    waiter *w = waiter_new();
    w->then = on_checked;
    w->then_arg = f;
    check->w = w;
    worker_submit(check);
    return RPC_ASYNC; /* on_checked owns the call now */
}

static int bids_place(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__PlaceBidRequest *req = (const void *)in;
    int rc;
    (void)out; /* answered later, by funded_command's continuation */
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    if ((rc = check_money(c, "amount", req->amount, &bid_money, NULL)) != 0 ||
        (rc = check_idempotency_key(c, req->idempotency_key)) != 0)
        return rc;
    char why[160];
    if ((rc = view_refuse_stale(req->lot_id, rpc_caller(c)->user_id, req->idempotency_key,
                                req->amount->currency, req->amount->units, why, sizeof why)) != 0)
        return rpc_fail(c, (grpc_status_code)rc, "%s", why);
    return funded_command(c, CMD_PLACE, req->lot_id, req->amount, req->idempotency_key,
                          req->media_time_us, in,
                          &gavel__bids__v1__place_bid_response__descriptor);
}

static int bids_set_autobid(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__SetAutoBidRequest *req = (const void *)in;
    int rc;
    (void)out; /* answered later, by funded_command's continuation */
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    if ((rc = check_money(c, "max_amount", req->max_amount, &bid_money, NULL)) != 0 ||
        (rc = check_idempotency_key(c, req->idempotency_key)) != 0)
        return rc;
    return funded_command(c, CMD_AUTOBID, req->lot_id, req->max_amount, req->idempotency_key,
                          0, in, &gavel__bids__v1__set_auto_bid_response__descriptor);
}

/* Submits m (lot, caller set) under the request's idempotency key, waits
 * for the durable answer and unpacks it as d: a retry gets the first
 * answer, from memory or the requests table. */
static int keyed_submit(rpc_call *c, cmd *m, const char *key, const ProtobufCMessage *in,
                        const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    int64_t lot_id = m->lot_id, who = m->bidder_id;
    snprintf(m->key, sizeof m->key, "%s", key);
    char hash[IDEM_HASH_HEX];
    idem_request_hash(in, hash);
    memcpy(m->request_hash, hash, sizeof hash);
    waiter *w = submit_wait(c, m);
    if (w == NULL)
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    return finish(c, w, d, out, lot_id, who, key, hash);
}

static int bids_cancel_autobid(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__CancelAutoBidRequest *req = (const void *)in;
    int rc;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    if ((rc = check_idempotency_key(c, req->idempotency_key)) != 0)
        return rc;
    cmd *m = cmd_new(CMD_CANCEL, req->lot_id, rpc_caller(c)->user_id);
    return keyed_submit(c, m, req->idempotency_key, in,
                        &gavel__bids__v1__cancel_auto_bid_response__descriptor, out);
}

/* Venue lots: the clerk enters the room's bid. No funds to reserve, so
 * the handler waits for the durable answer directly. */
static int bids_place_floor(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__PlaceFloorBidRequest *req = (const void *)in;
    int rc;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    if (req->floor_paddle < 1 || req->floor_paddle > LOT_MAX_PADDLE)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "floor_paddle must be 1..%d, got %d",
                        LOT_MAX_PADDLE, req->floor_paddle);
    if ((rc = check_money(c, "amount", req->amount, &bid_money, NULL)) != 0 ||
        (rc = check_idempotency_key(c, req->idempotency_key)) != 0)
        return rc;
    int64_t clerk = rpc_caller(c)->user_id;
    if (clerk <= 0)
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "floor bids are entered by a clerk");
    cmd *m = cmd_new(CMD_FLOOR, req->lot_id, clerk);
    m->amount = req->amount->units;
    m->floor_paddle = req->floor_paddle;
    snprintf(m->currency, sizeof m->currency, "%s", req->amount->currency);
    return keyed_submit(c, m, req->idempotency_key, in,
                        &gavel__bids__v1__place_floor_bid_response__descriptor, out);
}

static int bids_fair_warning(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__FairWarningRequest *req = (const void *)in;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    cmd *m = cmd_new(CMD_WARN, req->lot_id, rpc_caller(c)->user_id);
    return bids_submit_and_finish(c, m, &gavel__bids__v1__fair_warning_response__descriptor, out);
}

/* The shard answered a GetLotState, on its thread. */
static void on_state(void *arg, waiter *w)
{
    rpc_call *c = arg;
    ProtobufCMessage *out = NULL;
    int code = finish(c, w, &gavel__bids__v1__get_lot_state_response__descriptor, &out, 0, 0, "",
                      NULL);
    rpc_complete(c, code, out);
}

/* Answered by the lot's shard from memory: no thread waits for it. */
static int bids_get_state(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__GetLotStateRequest *req = (const void *)in;
    (void)out;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    cmd *m = cmd_new(CMD_STATE, req->lot_id, rpc_caller(c)->user_id);
    m->w = waiter_new();
    m->w->then = on_state;
    m->w->then_arg = c;
    worker_submit(m);
    return RPC_ASYNC; /* on_state owns the call now */
}

static int bids_watch(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)out;
    const Gavel__Bids__V1__WatchLotRequest *req = (const void *)in;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    cmd *m = cmd_new(CMD_WATCH, req->lot_id, rpc_caller(c)->user_id);
    m->stream = rpc_stream_open(c, NULL, NULL); /* its reference goes to the shard */
    worker_submit(m);
    return RPC_ASYNC;
}

int bids_submit_and_finish(rpc_call *c, cmd *m, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out)
{
    waiter *w = submit_wait(c, m);
    if (w == NULL)
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    return finish(c, w, d, out, 0, 0, "", NULL);
}

#define B(name) "/gavel.bids.v1.Bids/" name
#define D(t) &gavel__bids__v1__##t##__descriptor
const rpc_method bids_methods[] = {
    { B("PlaceBid"), D(place_bid_request), D(place_bid_response), bids_place, RPC_ROLE_BIDDER,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_FAST, 0 },
    { B("SetAutoBid"), D(set_auto_bid_request), D(set_auto_bid_response), bids_set_autobid,
      RPC_ROLE_BIDDER, RPC_IDEMPOTENT, 5000, RPC_CLASS_FAST, 0 },
    { B("CancelAutoBid"), D(cancel_auto_bid_request), D(cancel_auto_bid_response),
      bids_cancel_autobid, RPC_ROLE_BIDDER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { B("PlaceFloorBid"), D(place_floor_bid_request), D(place_floor_bid_response),
      bids_place_floor, RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, RPC_IDEMPOTENT, 5000,
      RPC_CLASS_NORMAL, 0 },
    { B("FairWarning"), D(fair_warning_request), D(fair_warning_response), bids_fair_warning,
      RPC_ROLE_MODERATOR | RPC_ROLE_ADMIN, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { B("GetLotState"), D(get_lot_state_request), D(get_lot_state_response), bids_get_state,
      RPC_ANY_USER, RPC_IDEMPOTENT, 2000, RPC_CLASS_FAST, 0 },
    { B("ListBids"), D(list_bids_request), D(list_bids_response), bids_list, RPC_ANY_USER,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { B("WatchLot"), D(watch_lot_request), D(lot_update), bids_watch, RPC_ANY_USER,
      RPC_STREAMING, 0, RPC_CLASS_NORMAL, 0 },
    { B("OpenLot"), D(open_lot_request), D(open_lot_response), bids_open_lot, RPC_STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { B("CloseLot"), D(close_lot_request), D(close_lot_response), bids_close_lot, RPC_STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { B("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC,
      RPC_IDEMPOTENT, 1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
