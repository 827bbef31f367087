/*
 * The shard-thread side of reads, streams and the scheduler's commands:
 * GetLotState, WatchLot, OpenLot, CloseLot, and the committer's report
 * that a batch is durable. Reads and streams see only committed state, so
 * nobody is shown a bid that a crash could still take back.
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

static void reply_msg(cmd *c, const ProtobufCMessage *m)
{
    size_t len = 0;
    uint8_t *bytes = pack_new(m, &len);
    reply(c, GRPC_STATUS_OK, NULL, bytes, len);
}

static void not_found(cmd *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "lot %lld is not open for bidding", (long long)c->lot_id);
    reply(c, GRPC_STATUS_NOT_FOUND, msg, NULL, 0);
}

static void do_state(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    if (e == NULL || !e->has_committed) {
        not_found(c);
        return;
    }
    arena *m = arena_new();
    Gavel__Bids__V1__GetLotStateResponse r = GAVEL__BIDS__V1__GET_LOT_STATE_RESPONSE__INIT;
    lot view = e->committed;
    lot_tick(&view, now_us());
    r.state = state_to_proto(m, &view, now_us());
    r.caller_is_leading = c->bidder_id != 0 && view.leader_id == c->bidder_id;
    const lot_autobid *ab = lot_autobid_of(&e->eng, c->bidder_id);
    if (ab != NULL) {
        r.caller_autobid = arena_calloc(m, 1, sizeof *r.caller_autobid);
        gavel__bids__v1__auto_bid__init(r.caller_autobid);
        r.caller_autobid->lot_id = c->lot_id;
        r.caller_autobid->bidder_id = c->bidder_id;
        r.caller_autobid->max_amount = check_money_new(m, view.r.currency, ab->max);
        r.caller_autobid->status = GAVEL__BIDS__V1__AUTO_BID_STATUS__AUTO_BID_STATUS_ACTIVE;
        r.caller_autobid->set_at_us = ab->set_at_us;
    }
    reply_msg(c, &r.base);
    arena_free(m);
}

static void do_watch(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    if (e == NULL || !e->has_committed) {
        rpc_stream_finish(c->stream, GRPC_STATUS_NOT_FOUND, "lot is not open for bidding");
        rpc_stream_release(c->stream);
        free(c);
        return;
    }
    arena *m = arena_new();
    Gavel__Bids__V1__LotUpdate u = GAVEL__BIDS__V1__LOT_UPDATE__INIT;
    u.server_time_us = now_us();
    u.change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_SNAPSHOT;
    lot view = e->committed;
    lot_tick(&view, now_us());
    u.snapshot = state_to_proto(m, &view, u.server_time_us);
    rpc_stream_send(c->stream, &u.base);
    arena_free(m);
    if (view.status == LOT_CLOSED) {
        rpc_stream_finish(c->stream, GRPC_STATUS_OK, NULL);
        rpc_stream_release(c->stream);
    } else {
        watch_add(&e->watchers, c->stream);
    }
    free(c);
}

static bool same_rules(const lot_rules *a, const lot_rules *b)
{
    if (a->seller_id != b->seller_id || strcmp(a->currency, b->currency) != 0 ||
        a->start_price != b->start_price || a->reserve_price != b->reserve_price ||
        a->buy_now_price != b->buy_now_price || a->nbands != b->nbands ||
        a->starts_at_us != b->starts_at_us || a->ends_at_us != b->ends_at_us ||
        a->soft_close_s != b->soft_close_s || a->max_extensions != b->max_extensions ||
        a->venue != b->venue)
        return false;
    for (int i = 0; i < a->nbands; i++)
        if (a->bands[i].from != b->bands[i].from || a->bands[i].increment != b->bands[i].increment)
            return false;
    return true;
}

/* Answers with the lot's state once everything before it is durable. */
static void answer_open_at_commit(shard *sh, lot_entry *e, cmd *c)
{
    Gavel__Bids__V1__OpenLotResponse r = GAVEL__BIDS__V1__OPEN_LOT_RESPONSE__INIT;
    r.state = state_to_proto(sh->cur->mem, &e->eng, now_us());
    c->w->status = GRPC_STATUS_OK;
    c->w->response = pack_new(&r.base, &c->w->response_len);
    batch_add_waiter(sh->cur, c->w);
    free(c);
}

static void do_open(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    int64_t now = now_us();
    if (e == NULL) {
        e = shard_add(sh, c->lot_id);
        lot_init(&e->eng, &c->rules, now);
        batch_add_lot(sh->cur, &e->eng, true, 0);
    } else if (!same_rules(&e->eng.r, &c->rules)) {
        lot_tick(&e->eng, now);
        if (e->eng.status != LOT_PENDING || e->eng.bid_count > 0) {
            reply(c, GRPC_STATUS_FAILED_PRECONDITION,
                  "the lot is already live or closed with different rules", NULL, 0);
            return;
        }
        lot_release(&e->eng);
        lot_init(&e->eng, &c->rules, now);
        batch_add_lot(sh->cur, &e->eng, false, 0);
    }
    answer_open_at_commit(sh, e, c);
}

static void do_close(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    if (e == NULL) {
        not_found(c);
        return;
    }
    lot *l = &e->eng;
    bool was_closed = l->status == LOT_CLOSED;
    lot_outcome o = c->hammer && !c->cancel ? lot_hammer(l, now_us())
                                            : lot_close(l, now_us(), c->cancel);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__CloseLotResponse *r = arena_calloc(m, 1, sizeof *r);
    gavel__bids__v1__close_lot_response__init(r);
    r->outcome = (Gavel__Bids__V1__CloseOutcome)o;
    r->ends_at_us = l->ends_at_us;
    r->state = state_to_proto(m, l, now_us());
    if (o == LOT_OUTCOME_EXTENDED) {
        reply_msg(c, &r->base);
        return;
    }
    if (!was_closed) {
        apply_close_effects(sh, e);
        if (l->nautobids > 0)
            batch_add_autobids(sh->cur, l);
        batch_add_lot(sh->cur, l, false, e->winning_hold);
    }
    r->closed_at_us = l->closed_at_us;
    if (o == LOT_OUTCOME_WINNER && e->has_last_bid)
        r->winning_bid = bid_to_proto(m, &e->last_bid, l->r.currency);
    r->winning_hold_id = e->winning_hold;
    if (e->has_committed && e->committed.status == LOT_CLOSED) {
        reply_msg(c, &r->base);
        return;
    }
    c->w->status = GRPC_STATUS_OK;
    c->w->response = pack_new(&r->base, &c->w->response_len);
    batch_add_waiter(sh->cur, c->w);
    free(c);
}

/* The clerk's last call: durable (the lots row keeps fair_warning_at_us,
 * so a restart still shows it), then on every stream and the lot feed. */
static void do_warn(shard *sh, cmd *c)
{
    lot_entry *e = shard_find(sh, c->lot_id);
    if (e == NULL) {
        not_found(c);
        return;
    }
    lot *l = &e->eng;
    char why[160] = "";
    int64_t now = now_us();
    int rc = lot_fair_warning(l, now, why, sizeof why);
    if (rc < 0) {
        reply(c, apply_engine_status(rc), why, NULL, 0);
        return;
    }
    batch_add_lot(sh->cur, l, false, e->winning_hold);
    arena *m = sh->cur->mem;
    Gavel__Bids__V1__LotUpdate *u = arena_calloc(m, 1, sizeof *u);
    gavel__bids__v1__lot_update__init(u);
    u->server_time_us = now;
    u->change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_FAIR_WARNING;
    u->fair_warning = arena_calloc(m, 1, sizeof *u->fair_warning);
    gavel__bids__v1__fair_warning__init(u->fair_warning);
    u->fair_warning->warned_at_us = now;
    u->fair_warning->state = state_to_proto(m, l, now);
    batch_add_watch(sh->cur, l->r.lot_id, &u->base);
    Gavel__Bids__V1__FairWarningResponse r = GAVEL__BIDS__V1__FAIR_WARNING_RESPONSE__INIT;
    r.state = u->fair_warning->state;
    c->w->status = GRPC_STATUS_OK;
    c->w->response = pack_new(&r.base, &c->w->response_len);
    batch_add_waiter(sh->cur, c->w);
    free(c);
}

void apply_committed(shard *sh, batch *b)
{
    for (size_t i = 0; i < b->nlots; i++) {
        lot_entry *e = shard_find(sh, b->lots[i].r.lot_id);
        if (e != NULL) {
            e->committed = b->lots[i];
            e->committed.autobids = NULL;
            e->committed.nautobids = e->committed.capautobids = 0;
            e->has_committed = true;
        }
    }
    for (size_t i = 0; i < b->nrequests; i++) {
        lot_entry *e = shard_find(sh, b->requests[i].lot_id);
        req_entry *r = e != NULL ? req_find(e, b->requests[i].bidder_id, b->requests[i].key) : NULL;
        if (r == NULL)
            continue;
        for (size_t k = 0; k < r->nfollowers; k++) {
            uint8_t *copy = xmalloc(r->pending_len + 1);
            memcpy(copy, r->pending_resp, r->pending_len);
            waiter_finish(r->followers[k], GRPC_STATUS_OK, NULL, copy, r->pending_len);
            waiter_release(r->followers[k]);
        }
        free(r->followers);
        free(r->pending_resp);
        r->followers = NULL;
        r->nfollowers = 0;
        r->pending_resp = NULL;
        r->durable = true;
    }
    for (size_t i = 0; i < b->nlots; i++) {
        lot_entry *e = shard_find(sh, b->lots[i].r.lot_id);
        if (e != NULL && e->committed.status == LOT_CLOSED && e->nreqs > 0)
            req_forget_durable(sh, e);
    }
    for (size_t i = 0; i < b->nwaiters; i++) {
        waiter *w = b->waiters[i];
        char msg[sizeof w->message];
        snprintf(msg, sizeof msg, "%s", w->message); /* refusals answered at commit */
        waiter_finish(w, w->status, msg, w->response, w->response_len);
        waiter_release(w);
    }
    b->nwaiters = 0;
    for (size_t i = 0; i < b->nwatch; i++) {
        lot_entry *e = shard_find(sh, b->watch_lot[i]);
        if (e == NULL)
            continue;
        watch_publish(&e->watchers, b->watch_msg[i], &e->committed);
        const Gavel__Bids__V1__LotUpdate *u = (const void *)b->watch_msg[i];
        if (u->change_case == GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_CLOSED)
            watch_finish_all(&e->watchers, GRPC_STATUS_OK, NULL);
    }
    batch_free(b);
}

void apply_heartbeats(shard *sh)
{
    for (size_t i = 0; i < sh->tcap; i++)
        for (lot_entry *e = sh->table[i]; e != NULL; e = e->next) {
            if (e->watchers == NULL)
                continue;
            Gavel__Bids__V1__Heartbeat hb = GAVEL__BIDS__V1__HEARTBEAT__INIT;
            hb.seq = e->committed.seq;
            hb.ends_at_us = e->committed.ends_at_us;
            Gavel__Bids__V1__LotUpdate u = GAVEL__BIDS__V1__LOT_UPDATE__INIT;
            u.server_time_us = now_us();
            u.change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_HEARTBEAT;
            u.heartbeat = &hb;
            watch_publish(&e->watchers, &u.base, &e->committed);
        }
}

void apply_other(shard *sh, cmd *c)
{
    switch (c->kind) {
    case CMD_STATE:
        do_state(sh, c);
        break;
    case CMD_WATCH:
        do_watch(sh, c);
        break;
    case CMD_OPEN:
        do_open(sh, c);
        break;
    case CMD_CLOSE:
        do_close(sh, c);
        break;
    case CMD_WARN:
        do_warn(sh, c);
        break;
    case CMD_COMMITTED:
        apply_committed(sh, c->batch);
        free(c);
        break;
    case CMD_UNCLAIM: {
        lot_entry *e = shard_find(sh, c->lot_id);
        if (e != NULL)
            inflight_remove(e, c); /* its funds failed: others may bid this amount */
        free(c);
        break;
    }
    case CMD_RECONCILE: {
        lot_entry *e = shard_find(sh, c->lot_id);
        for (size_t i = 0; e != NULL && i < c->norphans; i++)
            if (!lot_knows_hold(e, c->orphans[i].hold_id))
                batch_add_release(sh->cur, c->orphans[i].hold_id, c->lot_id,
                                  c->orphans[i].bidder_id, "orphaned by a restart");
        free(c->orphans);
        free(c);
        break;
    }
    default:
        panic("unexpected command %d on a shard", c->kind);
    }
}
