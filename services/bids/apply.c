/*
 * Applying commands to a shard's lots, on the shard's thread. The engine
 * (lot.h) decides; this file turns each decision into what must become
 * durable (bids, lot snapshot, autobids, holds, releases, events, the
 * stored answer) in the shard's current batch, and answers only when that
 * batch comes back committed (apply_committed). Refusals change nothing
 * and are answered at once.
 *
 * Funds: a caller whose standing hold on the lot does not cover the amount
 * is told so by a check-only pass; the handler reserves on its own thread
 * and comes back with the hold. A hold that a refused command brought is
 * released; a bidder who no longer leads and has no active autobid gets
 * their hold released — in the same transaction as the change.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"

static void reply(cmd *c, int status, const char *msg, uint8_t *resp, size_t len)
{
    waiter_finish(c->w, status, msg, resp, len);
    waiter_release(c->w);
    free(c);
}

/* A refusal that queued the release of the hold it brought is answered
 * only once that release is durable: a caller told "refused" must never
 * find their money held after a crash. */
static void refuse_at_commit(shard *sh, cmd *c, int status, const char *why)
{
    batch_add_release(sh->cur, c->hold_id, c->lot_id, c->bidder_id, "refused");
    c->w->status = status;
    snprintf(c->w->message, sizeof c->w->message, "%s", why);
    batch_add_waiter(sh->cur, c->w);
    free(c);
}

int apply_engine_status(int rc)
{
    switch (rc) {
    case LOT_E_NOT_LIVE:
    case LOT_E_CLOSED:
    case LOT_E_LEADING:
    case LOT_E_NOT_VENUE:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case LOT_E_TOO_LOW:
    case LOT_E_INVALID:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case LOT_E_SELLER:
        return GRPC_STATUS_PERMISSION_DENIED;
    case LOT_E_NO_AUTOBID:
        return GRPC_STATUS_NOT_FOUND;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

static lot_entry *need_lot(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    if (e == NULL) {
        char msg[96];
        snprintf(msg, sizeof msg, "lot %lld is not open for bidding", (long long)c->lot_id);
        reply(c, GRPC_STATUS_NOT_FOUND, msg, NULL, 0);
    }
    return e;
}

/* Answers a repeated idempotency key; true when c was consumed. */
static bool replay(lot_entry *e, cmd *c)
{
    req_entry *r = req_find(e, c->bidder_id, c->key);
    if (r == NULL && e->has_committed && e->committed.status == LOT_CLOSED) {
        char msg[96]; /* its keys left memory at close: the table knows */
        snprintf(msg, sizeof msg, "lot %lld is closed", (long long)c->lot_id);
        reply(c, STATUS_CLOSED_LOOKUP, msg, NULL, 0);
        return true;
    }
    if (r == NULL)
        return false;
    if (strcmp(r->hash, c->request_hash) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "idempotency_key %.128s was already used for a different request",
                 c->key);
        reply(c, GRPC_STATUS_FAILED_PRECONDITION, msg, NULL, 0);
    } else if (!r->durable) {
        r->followers = xrealloc(r->followers, (r->nfollowers + 1) * sizeof *r->followers);
        r->followers[r->nfollowers++] = c->w; /* answered with the first, at commit */
        free(c);
    } else {
        reply(c, STATUS_REPLAY_STORED, NULL, NULL, 0);
    }
    return true;
}

static bidder_hold *hold_of(lot_entry *e, int64_t bidder)
{
    for (size_t i = 0; i < e->nholds; i++)
        if (e->holds[i].bidder == bidder)
            return &e->holds[i];
    return NULL;
}

/* Makes hold the bidder's covering hold; a superseded one is released. */
static void set_hold(shard *sh, lot_entry *e, int64_t bidder, int64_t hold_id, int64_t amount)
{
    bidder_hold *h = hold_of(e, bidder);
    if (h != NULL && h->hold_id == hold_id)
        return;
    if (h != NULL)
        batch_add_release(sh->cur, h->hold_id, e->eng.r.lot_id, bidder, "superseded");
    if (h == NULL) {
        if (e->nholds == e->capholds) {
            e->capholds = e->capholds ? 2 * e->capholds : 8;
            e->holds = xrealloc(e->holds, e->capholds * sizeof *e->holds);
        }
        h = &e->holds[e->nholds++];
    }
    *h = (bidder_hold){ bidder, hold_id, amount };
    batch_add_hold(sh->cur, e->eng.r.lot_id, bidder, hold_id, amount);
}

/* Releases every hold not covering the leader or an active autobid
 * (keep_leader false: every hold, for cancelled or unsold lots). */
static void sweep_holds(shard *sh, lot_entry *e, bool keep_leader)
{
    const lot *l = &e->eng;
    size_t k = 0;
    for (size_t i = 0; i < e->nholds; i++) {
        bidder_hold h = e->holds[i];
        bool keep = (keep_leader && h.bidder == l->leader_id) ||
                    (l->status != LOT_CLOSED && lot_autobid_of(l, h.bidder) != NULL);
        if (keep) {
            e->holds[k++] = h;
            continue;
        }
        batch_add_release(sh->cur, h.hold_id, l->r.lot_id, h.bidder,
                          l->status == LOT_CLOSED ? "lot closed" : "outbid");
        batch_add_hold(sh->cur, l->r.lot_id, h.bidder, h.hold_id, 0);
    }
    e->nholds = k;
}

static ProtobufCMessage *update_new(batch *b)
{
    Gavel__Bids__V1__LotUpdate *u = arena_calloc(b->mem, 1, sizeof *u);
    gavel__bids__v1__lot_update__init(u);
    u->server_time_us = now_us();
    return &u->base;
}

void apply_close_effects(shard *sh, lot_entry *e)
{
    lot *l = &e->eng;
    /* The room's winning bid has no hold: the venue vouches for its paddles. */
    bidder_hold *wh = l->outcome == LOT_OUTCOME_WINNER && l->leader_floor_paddle == 0
                          ? hold_of(e, l->leader_id)
                          : NULL;
    e->winning_hold = wh != NULL ? wh->hold_id : 0;
    sweep_holds(sh, e, l->outcome == LOT_OUTCOME_WINNER);
    Gavel__Events__V1__LotClosed ev = GAVEL__EVENTS__V1__LOT_CLOSED__INIT;
    ev.lot_id = l->r.lot_id;
    ev.winner_id = l->outcome == LOT_OUTCOME_WINNER ? l->leader_id : 0;
    ev.price = check_money_new(sh->cur->mem, l->r.currency, l->price);
    ev.reserve_met = lot_reserve_met(l) && l->bid_count > 0;
    ev.closed_at_us = l->closed_at_us;
    ev.floor_paddle = l->outcome == LOT_OUTCOME_WINNER ? l->leader_floor_paddle : 0;
    batch_add_event(sh->cur, "lot.closed", l->r.lot_id, &ev.base);
    Gavel__Bids__V1__LotUpdate *u = (void *)update_new(sh->cur);
    u->change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_CLOSED;
    u->closed = arena_calloc(sh->cur->mem, 1, sizeof *u->closed);
    gavel__bids__v1__lot_closed__init(u->closed);
    u->closed->outcome = (Gavel__Bids__V1__CloseOutcome)l->outcome;
    if (l->outcome == LOT_OUTCOME_WINNER && e->has_last_bid)
        u->closed->winning_bid = bid_to_proto(sh->cur->mem, &e->last_bid, l->r.currency);
    u->closed->state = state_to_proto(sh->cur->mem, l, now_us());
    batch_add_watch(sh->cur, l->r.lot_id, &u->base);
}

static void record_bid(shard *sh, lot_entry *e, const lot_bid *bid)
{
    lot *l = &e->eng;
    arena *m = sh->cur->mem;
    batch_add_bid(sh->cur, bid);
    e->last_bid = *bid;
    e->has_last_bid = true;
    Gavel__Events__V1__BidPlaced ev = GAVEL__EVENTS__V1__BID_PLACED__INIT;
    ev.lot_id = l->r.lot_id;
    ev.bid_id = bid->bid_id;
    ev.seq = bid->seq;
    ev.bidder_id = bid->bidder_id;
    ev.amount = check_money_new(m, l->r.currency, bid->amount);
    ev.is_autobid = bid->is_autobid;
    ev.placed_at_us = bid->placed_at_us;
    ev.ends_at_us = l->ends_at_us;
    ev.floor_paddle = bid->floor_paddle;
    batch_add_event(sh->cur, "bid.placed", l->r.lot_id, &ev.base);
    Gavel__Bids__V1__LotUpdate *u = (void *)update_new(sh->cur);
    u->change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_BID_ACCEPTED;
    u->bid_accepted = arena_calloc(m, 1, sizeof *u->bid_accepted);
    gavel__bids__v1__bid_accepted__init(u->bid_accepted);
    u->bid_accepted->bid = bid_to_proto(m, bid, l->r.currency);
    u->bid_accepted->state = state_to_proto(m, l, bid->placed_at_us);
    batch_add_watch(sh->cur, l->r.lot_id, &u->base);
}

static void record_extended(shard *sh, lot_entry *e, const lot_effect *eff)
{
    lot *l = &e->eng;
    Gavel__Events__V1__LotExtended ev = GAVEL__EVENTS__V1__LOT_EXTENDED__INIT;
    ev.lot_id = l->r.lot_id;
    ev.old_ends_at_us = eff->old_ends_at_us;
    ev.new_ends_at_us = eff->new_ends_at_us;
    batch_add_event(sh->cur, "lot.extended", l->r.lot_id, &ev.base);
    Gavel__Bids__V1__LotUpdate *u = (void *)update_new(sh->cur);
    u->change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_EXTENDED;
    u->extended = arena_calloc(sh->cur->mem, 1, sizeof *u->extended);
    gavel__bids__v1__lot_extended__init(u->extended);
    u->extended->old_ends_at_us = eff->old_ends_at_us;
    u->extended->new_ends_at_us = eff->new_ends_at_us;
    u->extended->state = state_to_proto(sh->cur->mem, l, now_us());
    batch_add_watch(sh->cur, l->r.lot_id, &u->base);
}

/* Everything an accepted command changed, into the current batch. */
static void record_effect(shard *sh, lot_entry *e, const lot_effect *eff, int64_t prev_leader,
                          int32_t prev_paddle)
{
    lot *l = &e->eng;
    for (size_t i = 0; i < eff->nbids; i++)
        record_bid(sh, e, &eff->bids[i]);
    /* The room outbid is told by the auctioneer, not by a notification to
     * the clerk who entered its bid. */
    if (prev_leader != 0 && l->leader_id != prev_leader && prev_paddle == 0) {
        Gavel__Events__V1__BidOutbid ev = GAVEL__EVENTS__V1__BID_OUTBID__INIT;
        ev.lot_id = l->r.lot_id;
        ev.previous_leader_id = prev_leader;
        ev.new_leader_id = l->leader_id;
        ev.amount = check_money_new(sh->cur->mem, l->r.currency, l->price);
        batch_add_event(sh->cur, "bid.outbid", l->r.lot_id, &ev.base);
    }
    if (eff->extended)
        record_extended(sh, e, eff);
    if (eff->closed)
        apply_close_effects(sh, e);
    else
        sweep_holds(sh, e, true);
    if (l->nautobids > 0)
        batch_add_autobids(sh->cur, l);
    batch_add_lot(sh->cur, l, false, e->winning_hold);
}

/* Stores the answer under the key and answers at commit. */
static void answer_at_commit(shard *sh, lot_entry *e, cmd *c, const char *method,
                             const ProtobufCMessage *resp)
{
    size_t len = 0;
    uint8_t *bytes = pack_new(resp, &len);
    batch_add_request(sh->cur, e->eng.r.lot_id, c->bidder_id, c->key, method,
                      c->request_hash, bytes, len);
    req_entry *r = req_add(sh, e, c->bidder_id, c->key, c->request_hash);
    r->pending_resp = xmalloc(len + 1);
    memcpy(r->pending_resp, bytes, len);
    r->pending_len = len;
    c->w->status = GRPC_STATUS_OK;
    c->w->response = bytes;
    c->w->response_len = len;
    batch_add_waiter(sh->cur, c->w);
    free(c);
}

/* The bids autobids placed after the caller's (eff->bids[1..]), as
 * receipts in m; NULL with *n 0 when there are none. */
static Gavel__Bids__V1__Bid **triggered_to_proto(arena *m, const lot_effect *eff,
                                                 const char *currency, size_t *n)
{
    *n = eff->nbids > 1 ? eff->nbids - 1 : 0;
    if (*n == 0)
        return NULL;
    Gavel__Bids__V1__Bid **out = arena_calloc(m, *n, sizeof *out);
    for (size_t i = 1; i < eff->nbids; i++)
        out[i - 1] = bid_to_proto(m, &eff->bids[i], currency);
    return out;
}

/* Runs fn on a throw-away copy of the lot: the exact verdict, no change. */
static int dry_run(const lot *l, int (*fn)(lot *, const cmd *, lot_effect *, char *, size_t),
                   const cmd *c, char *why, size_t whylen)
{
    lot copy = *l;
    copy.autobids = NULL;
    copy.capautobids = l->nautobids; /* the copy owns exactly what it holds */
    if (l->nautobids > 0) {
        copy.autobids = xmalloc(l->nautobids * sizeof *l->autobids);
        memcpy(copy.autobids, l->autobids, l->nautobids * sizeof *l->autobids);
    }
    lot_effect eff;
    int rc = fn(&copy, c, &eff, why, whylen);
    free(copy.autobids);
    return rc;
}

static int run_place(lot *l, const cmd *c, lot_effect *eff, char *why, size_t whylen)
{
    return lot_place_venue(l, c->bidder_id, c->amount, 0, c->media_time_us, now_us(), eff, why,
                           whylen);
}

static int run_autobid(lot *l, const cmd *c, lot_effect *eff, char *why, size_t whylen)
{
    return lot_set_autobid(l, c->bidder_id, c->amount, now_us(), eff, why, whylen);
}

/* The amount the caller's hold must cover for this command. */
static int64_t funds_needed(const lot *l, const cmd *c)
{
    if (c->kind == CMD_PLACE && l->r.buy_now_price > 0 && c->amount >= l->r.buy_now_price)
        return l->r.buy_now_price;
    return c->amount;
}

/* On a hot lot many bidders aim at the same next minimum; the first whose
 * check passes goes off to reserve funds. A later bid that could not beat
 * the highest bid in flight is refused now, without a wallet call: it
 * would be refused anyway once that one lands (it can only have won if
 * that bid's funds fail, and then a retry succeeds). The leader is left to
 * the engine, which refuses them as leading whatever the amount, as the
 * lot's view does. */
static bool refuse_behind_inflight(lot_entry *e, cmd *c)
{
    inflight_prune(e, now_us());
    int64_t top = inflight_top(e);
    if (top == 0 || inflight_has(e, c) || c->bidder_id == e->eng.leader_id)
        return false; /* nothing ahead, the same request again, or the leader */
    int64_t min = top + lot_increment(&e->eng, top);
    if (c->amount >= min || (e->eng.r.buy_now_price > 0 && c->amount >= e->eng.r.buy_now_price))
        return false;
    char why[160];
    inflight_why(top, min, why, sizeof why);
    reply(c, GRPC_STATUS_INVALID_ARGUMENT, why, NULL, 0);
    return true;
}

/* Check-only pass and funds gate shared by PLACE and AUTOBID. Returns true
 * when the command may go on to change the lot. */
static bool gate(shard *sh, lot_entry *e, cmd *c,
                 int (*fn)(lot *, const cmd *, lot_effect *, char *, size_t))
{
    char why[256] = "";
    lot_tick(&e->eng, now_us());
    if (strcmp(c->currency, e->eng.r.currency) != 0) {
        snprintf(why, sizeof why, "amount.currency must be %s, the lot's currency",
                 e->eng.r.currency);
        reply(c, GRPC_STATUS_INVALID_ARGUMENT, why, NULL, 0);
        return false;
    }
    bidder_hold *h = hold_of(e, c->bidder_id);
    int64_t held = h != NULL ? h->amount : 0;
    int64_t need = funds_needed(&e->eng, c);
    int64_t covered = c->hold_id > 0 ? c->hold_amount : held;
    if (c->check_only && c->kind == CMD_PLACE && refuse_behind_inflight(e, c))
        return false;
    if (c->check_only || covered < need) {
        int rc = dry_run(&e->eng, fn, c, why, sizeof why);
        if (rc < 0) {
            if (c->hold_id > 0 && (h == NULL || h->hold_id != c->hold_id))
                refuse_at_commit(sh, c, apply_engine_status(rc), why);
            else
                reply(c, apply_engine_status(rc), why, NULL, 0);
            return false;
        }
        c->w->needs_funds = need > held;
        c->w->funds_amount = need;
        /* The handler's reservation ends within the wallet deadline; the
         * margin covers the hops around it. */
        if (c->w->needs_funds && c->kind == CMD_PLACE)
            inflight_add(e, c, now_us() + (bids.wallet_deadline_ms + 250) * 1000);
        reply(c, GRPC_STATUS_OK, NULL, NULL, 0);
        return false;
    }
    return true;
}

static void do_place(shard *sh, cmd *c)
{
    lot_entry *e = need_lot(sh, c);
    if (e == NULL || replay(e, c))
        return;
    if (!c->check_only && inflight_blocked(e, c)) {
        inflight_park(sh, e, c); /* lands after the lower bid ahead of it */
        return;
    }
    if (!c->check_only)
        inflight_remove(e, c); /* it lands or is refused now */
    if (!gate(sh, e, c, run_place))
        return;
    lot *l = &e->eng;
    int64_t prev_leader = l->leader_id;
    int32_t prev_paddle = l->leader_floor_paddle;
    bidder_hold *h = hold_of(e, c->bidder_id);
    lot_effect eff;
    char why[256] = "";
    int rc = lot_place_venue(l, c->bidder_id, c->amount, 0, c->media_time_us, now_us(), &eff,
                             why, sizeof why);
    if (rc < 0) {
        if (c->hold_id > 0 && (h == NULL || h->hold_id != c->hold_id))
            refuse_at_commit(sh, c, apply_engine_status(rc), why);
        else
            reply(c, apply_engine_status(rc), why, NULL, 0);
        return;
    }
    if (c->hold_id > 0)
        set_hold(sh, e, c->bidder_id, c->hold_id, c->hold_amount);
    record_effect(sh, e, &eff, prev_leader, prev_paddle);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__PlaceBidResponse *r = arena_calloc(m, 1, sizeof *r);
    gavel__bids__v1__place_bid_response__init(r);
    r->bid = bid_to_proto(m, &eff.bids[0], l->r.currency);
    r->triggered_bids = triggered_to_proto(m, &eff, l->r.currency, &r->n_triggered_bids);
    r->state = state_to_proto(m, l, now_us());
    r->caller_is_leading = l->leader_id == c->bidder_id;
    answer_at_commit(sh, e, c, "PlaceBid", &r->base);
}

/* A floor bid: no funds (the venue vouches for its paddles), no bids in
 * flight to wait for; otherwise a bid like any other, in the same
 * sequence, durable before the clerk is answered. */
static void do_floor(shard *sh, cmd *c)
{
    lot_entry *e = need_lot(sh, c);
    if (e == NULL || replay(e, c))
        return;
    lot *l = &e->eng;
    char why[256] = "";
    if (strcmp(c->currency, l->r.currency) != 0) {
        snprintf(why, sizeof why, "amount.currency must be %s, the lot's currency",
                 l->r.currency);
        reply(c, GRPC_STATUS_INVALID_ARGUMENT, why, NULL, 0);
        return;
    }
    int64_t prev_leader = l->leader_id;
    int32_t prev_paddle = l->leader_floor_paddle;
    lot_effect eff;
    int rc = lot_place_venue(l, c->bidder_id, c->amount, c->floor_paddle, 0, now_us(), &eff, why,
                             sizeof why);
    if (rc < 0) {
        reply(c, apply_engine_status(rc), why, NULL, 0);
        return;
    }
    inflight_prune(e, now_us());
    record_effect(sh, e, &eff, prev_leader, prev_paddle);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__PlaceFloorBidResponse *r = arena_calloc(m, 1, sizeof *r);
    gavel__bids__v1__place_floor_bid_response__init(r);
    r->bid = bid_to_proto(m, &eff.bids[0], l->r.currency);
    r->triggered_bids = triggered_to_proto(m, &eff, l->r.currency, &r->n_triggered_bids);
    r->state = state_to_proto(m, l, now_us());
    answer_at_commit(sh, e, c, "PlaceFloorBid", &r->base);
}

static Gavel__Bids__V1__AutoBid *autobid_to_proto(arena *m, const lot *l, int64_t bidder,
                                                  int64_t max)
{
    Gavel__Bids__V1__AutoBid *a = arena_calloc(m, 1, sizeof *a);
    gavel__bids__v1__auto_bid__init(a);
    const lot_autobid *ab = lot_autobid_find(l, bidder);
    a->lot_id = l->r.lot_id;
    a->bidder_id = bidder;
    a->max_amount = check_money_new(m, l->r.currency, ab != NULL ? ab->max : max);
    a->set_at_us = ab != NULL ? ab->set_at_us : 0;
    /* lot_autobid_status mirrors AutoBidStatus value for value */
    a->status = ab != NULL ? (Gavel__Bids__V1__AutoBidStatus)ab->status
                           : GAVEL__BIDS__V1__AUTO_BID_STATUS__AUTO_BID_STATUS_CANCELLED;
    return a;
}

static void do_autobid(shard *sh, cmd *c)
{
    lot_entry *e = need_lot(sh, c);
    if (e == NULL || replay(e, c) || !gate(sh, e, c, run_autobid))
        return;
    lot *l = &e->eng;
    int64_t prev_leader = l->leader_id;
    int32_t prev_paddle = l->leader_floor_paddle;
    lot_effect eff;
    char why[256] = "";
    int rc = lot_set_autobid(l, c->bidder_id, c->amount, now_us(), &eff, why, sizeof why);
    if (rc < 0) {
        reply(c, apply_engine_status(rc), why, NULL, 0);
        return;
    }
    if (c->hold_id > 0)
        set_hold(sh, e, c->bidder_id, c->hold_id, c->hold_amount);
    record_effect(sh, e, &eff, prev_leader, prev_paddle);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__SetAutoBidResponse *r = arena_calloc(m, 1, sizeof *r);
    gavel__bids__v1__set_auto_bid_response__init(r);
    r->autobid = autobid_to_proto(m, l, c->bidder_id, c->amount);
    r->n_placed_bids = eff.nbids;
    r->placed_bids = arena_calloc(m, eff.nbids ? eff.nbids : 1, sizeof *r->placed_bids);
    for (size_t i = 0; i < eff.nbids; i++)
        r->placed_bids[i] = bid_to_proto(m, &eff.bids[i], l->r.currency);
    r->state = state_to_proto(m, l, now_us());
    r->caller_is_leading = l->leader_id == c->bidder_id;
    answer_at_commit(sh, e, c, "SetAutoBid", &r->base);
}

static void do_cancel(shard *sh, cmd *c)
{
    lot_entry *e = need_lot(sh, c);
    if (e == NULL || replay(e, c))
        return;
    lot *l = &e->eng;
    lot_tick(l, now_us());
    char why[256] = "";
    if (l->status == LOT_CLOSED) {
        reply(c, GRPC_STATUS_FAILED_PRECONDITION, "the lot is closed", NULL, 0);
        return;
    }
    int rc = lot_cancel_autobid(l, c->bidder_id, why, sizeof why);
    if (rc < 0) {
        reply(c, apply_engine_status(rc), why, NULL, 0);
        return;
    }
    sweep_holds(sh, e, true);
    batch_add_autobids(sh->cur, l);
    batch_add_lot(sh->cur, l, false, e->winning_hold);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__CancelAutoBidResponse *r = arena_calloc(m, 1, sizeof *r);
    gavel__bids__v1__cancel_auto_bid_response__init(r);
    r->autobid = autobid_to_proto(m, l, c->bidder_id, 0);
    r->state = state_to_proto(m, l, now_us());
    answer_at_commit(sh, e, c, "CancelAutoBid", &r->base);
}

/* Applies the lot's parked bids that nothing blocks any more; true when
 * one was. The view follows each: the next may be answered at once. */
static bool drain_parked(shard *sh, lot_entry *e)
{
    cmd *c;
    bool moved = false;
    while (e->parked != NULL && (c = inflight_unpark(sh, e, now_us())) != NULL) {
        do_place(sh, c);
        view_publish(sh, e);
        moved = true;
    }
    return moved;
}

void apply_parked(shard *sh)
{
    size_t k = 0;
    for (size_t i = 0; i < sh->nparked_lots; i++) {
        lot_entry *e = sh->parked_lots[i];
        if (drain_parked(sh, e))
            view_publish(sh, e);
        if (e->parked != NULL)
            sh->parked_lots[k++] = e;
        else
            e->in_parked_lots = false;
    }
    sh->nparked_lots = k;
}

void apply_cmd(shard *sh, cmd *c)
{
    int64_t lot_id = c->lot_id;
    bool lot_cmd = c->kind != CMD_COMMITTED && c->kind != CMD_STATE && c->kind != CMD_WATCH;
    switch (c->kind) {
    case CMD_PLACE:
        do_place(sh, c);
        break;
    case CMD_AUTOBID:
        do_autobid(sh, c);
        break;
    case CMD_CANCEL:
        do_cancel(sh, c);
        break;
    case CMD_FLOOR:
        do_floor(sh, c);
        break;
    default:
        apply_other(sh, c);
        break;
    }
    /* Handlers read the lot's view: it shows this command before anything
     * else is answered (view.c). Whatever moved the lot (a landing, a
     * refusal, failed funds, a close) may have unblocked bids parked
     * behind it. */
    lot_entry *e;
    if (!lot_cmd || (e = shard_find(sh, lot_id)) == NULL)
        return;
    view_publish(sh, e);
    if (sh->nparked > 0 && drain_parked(sh, e))
        view_publish(sh, e); /* what the last unpark pruned */
}
