/*
 * The hub: one channel per lot that has local subscribers (gavel:lot:<id>)
 * and per user with an authenticated socket (gavel:user:<id>), each one
 * Redis subscription on the hub's connection (hub_redis.c), fanned out to
 * the sockets here.
 *
 * A lot's channel keeps its stream (ws_stream): the newest state it has
 * seen (a feed or a GetLotState answer), ordered by rank (seq, then
 * status, then a venue's fair warning), and the last WS_RECENT_MAX feeds. A feed of the same rank is a
 * duplicate and dropped, a lower one is stale and dropped; a feed whose
 * seq jumps past the bids it carries shows a lost message, and the lot's
 * state is read again. So is it when the subscription is confirmed (a new
 * lot, or every lot after a Redis reconnect): a lost pub/sub message heals
 * by itself. A new subscriber gets a lot_snapshot of the newest state once
 * its lot's state has been read, then updates.
 *
 * Fan-out: a feed changes the lot's stream once and marks the lot; at the
 * end of the loop turn (a uv_check, with a uv_idle so the loop does not
 * sleep first) each marked lot's subscribers are walked once and those
 * that owe a message are listed on their sockets, which ws.c writes. A
 * turn's feeds cost one walk per lot, whatever their number. A lot is
 * walked again no sooner than its subscribers / HUB_LOT_MSG_RATE seconds
 * after its last pass (a uv_timer holds the lots changed sooner): feeds
 * in between merge into the next update.
 *
 * Invariants: a channel is in the table while it has subscribers or a
 * Redis command in flight; one GetLotState per lot at a time (a second
 * need is remembered); a changed lot is in the changed list or in the
 * deferred list, once;
 * everything here is the loop thread's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_int.h"

#define HUB_BUCKETS 4096
#define HUB_TICK_MS 200
#define HUB_RETRY_US 1000000 /* a failed GetLotState is tried again after it */
/* Messages a second one lot's fan-out writes at most: a lot with n
 * subscribers is walked again n / HUB_LOT_MSG_RATE s after its last pass
 * at the earliest (200 ms for 5,000, 2 ms for 50), feeds meanwhile merging.
 * A hot lot cannot take the whole loop nor outrun its readers (5,000
 * sockets in make bench: p99 0.54 s at 25,000, 0.98 s at 50,000). */
#define HUB_LOT_MSG_RATE 25000

typedef enum { RS_NONE, RS_SUBSCRIBING, RS_SUBSCRIBED, RS_UNSUBSCRIBING } redis_state;

typedef struct hub_chan {
    hub_kind kind;
    int64_t id;
    char name[48];             /* the Redis channel */
    struct hub_chan *hnext;    /* in its bucket */
    redis_state rs;
    ws_sub *subs;              /* lot: its subscriptions */
    ws_sock *socks;            /* user: its sockets */
    int n;                     /* subscribers */
    ws_stream st;              /* lot: the newest state seen and recent feeds */
    struct hub_chan *dirty_next;  /* lot: in the changed or the deferred list */
    bool is_dirty;             /* lot: in the list of lots changed this turn */
    bool is_deferred;          /* lot: changed, waiting for next_pass_us */
    int64_t next_pass_us;      /* lot: its subscribers are walked again from then */
    bool is_fetching, needs_fetch;
    int64_t retry_at_us;       /* lot: 0, or when to read its state again */
} hub_chan;

static struct {
    hub_chan *buckets[HUB_BUCKETS];
    hub_chan *dirty;           /* lots changed this turn */
    hub_chan *deferred;        /* lots changed too soon after their last pass */
    uv_timer_t tick;
    uv_timer_t defer;          /* active while lots are deferred */
    uv_check_t turn_end;       /* active while something waits to be written */
    uv_idle_t no_wait;         /* with it: the loop does not sleep before that */
    bool is_started;
} hub;

/* ---- the table ---- */

static size_t bucket(hub_kind k, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull + (uint64_t)k;
    return (size_t)(h >> 52) % HUB_BUCKETS;
}

static hub_chan *chan_find(hub_kind k, int64_t id)
{
    for (hub_chan *c = hub.buckets[bucket(k, id)]; c != NULL; c = c->hnext)
        if (c->kind == k && c->id == id)
            return c;
    return NULL;
}

static hub_chan *chan_get(hub_kind k, int64_t id)
{
    hub_chan *c = chan_find(k, id);
    if (c != NULL)
        return c;
    c = xcalloc(1, sizeof *c);
    c->kind = k;
    c->id = id;
    snprintf(c->name, sizeof c->name, "gavel:%s:%lld", k == HUB_LOT ? "lot" : "user",
             (long long)id);
    size_t b = bucket(k, id);
    c->hnext = hub.buckets[b];
    hub.buckets[b] = c;
    return c;
}

static void chan_free(hub_chan *c)
{
    hub_chan **link = &hub.buckets[bucket(c->kind, c->id)];
    while (*link != c)
        link = &(*link)->hnext;
    *link = c->hnext;
    if (c->is_dirty || c->is_deferred) {
        for (link = c->is_dirty ? &hub.dirty : &hub.deferred; *link != c;
             link = &(*link)->dirty_next)
            ;
        *link = c->dirty_next;
    }
    wsp_feed_unref(c->st.last);
    for (int i = 0; i < c->st.nrecent; i++)
        wsp_feed_unref(c->st.recent[i]);
    free(c);
}

/* From a Redis channel name; NULL when it is none of ours. */
static hub_chan *chan_by_name(const char *name)
{
    long long id = 0;
    char tail;
    if (sscanf(name, "gavel:lot:%lld%c", &id, &tail) == 1)
        return chan_find(HUB_LOT, id);
    if (sscanf(name, "gavel:user:%lld%c", &id, &tail) == 1)
        return chan_find(HUB_USER, id);
    return NULL;
}

/* A channel that gained a subscriber: subscribe it when it is not. */
static void chan_want(hub_chan *c)
{
    if (c->rs == RS_NONE && hredis_is_up()) {
        hredis_subscribe(c->name);
        c->rs = RS_SUBSCRIBING;
    }
}

/* A channel that lost one: unsubscribe and forget it when it has none. */
static void chan_release(hub_chan *c)
{
    if (c->n > 0)
        return;
    if (c->rs == RS_SUBSCRIBED && hredis_is_up()) {
        hredis_unsubscribe(c->name);
        c->rs = RS_UNSUBSCRIBING;
    } else if (c->rs == RS_NONE && !c->is_fetching) {
        chan_free(c);
    }
}

/* ---- lot states and their fan-out ---- */

/* End of a loop turn that changed lots or queued messages: each changed
 * lot's subscribers that owe a message are listed on their sockets, then
 * every listed socket is written. One pass per turn, so the feeds of a
 * turn cost one walk of a lot's subscribers, and a socket still writing
 * the last pass gets the newest state when it can take it. */
static void on_turn_end(uv_check_t *h)
{
    (void)h;
    int64_t now = mono_us();
    while (hub.dirty != NULL) {
        hub_chan *lot = hub.dirty;
        hub.dirty = lot->dirty_next;
        lot->is_dirty = false;
        lot->next_pass_us = now + (int64_t)lot->n * 1000000 / HUB_LOT_MSG_RATE;
        for (ws_sub *sub = lot->subs; sub != NULL; sub = sub->lot_next)
            ws_sub_mark(sub);
    }
    ws_flush();
    uv_check_stop(&hub.turn_end);
    uv_idle_stop(&hub.no_wait);
}

static void lot_mark(hub_chan *lot)
{
    lot->is_dirty = true;
    lot->dirty_next = hub.dirty;
    hub.dirty = lot;
    hub_want_flush();
}

/* Deferred lots whose time came are marked; the timer is set for the
 * next one. */
static void on_defer(uv_timer_t *t)
{
    (void)t;
    int64_t now = mono_us(), next = 0;
    for (hub_chan **link = &hub.deferred; *link != NULL;) {
        hub_chan *lot = *link;
        if (lot->next_pass_us <= now + 500) { /* timers have milliseconds */
            *link = lot->dirty_next;
            lot->is_deferred = false;
            lot_mark(lot);
        } else {
            if (next == 0 || lot->next_pass_us < next)
                next = lot->next_pass_us;
            link = &lot->dirty_next;
        }
    }
    if (next != 0)
        uv_timer_start(&hub.defer, on_defer, (uint64_t)((next - now + 999) / 1000), 0);
}

static void on_no_wait(uv_idle_t *h)
{
    (void)h;
}

void hub_want_flush(void)
{
    if (!hub.is_started || uv_is_active((uv_handle_t *)&hub.turn_end))
        return;
    uv_check_start(&hub.turn_end, on_turn_end);
    uv_idle_start(&hub.no_wait, on_no_wait);
}

/* The lot's stream changed: its subscribers are looked at once, at the
 * end of this loop turn, however many feeds came in it. */
static void lot_changed(hub_chan *lot)
{
    if (lot->is_dirty || lot->is_deferred)
        return;
    int64_t now = mono_us();
    if (now >= lot->next_pass_us || !hub.is_started) {
        lot_mark(lot);
        return;
    }
    lot->is_deferred = true;
    lot->dirty_next = hub.deferred;
    hub.deferred = lot;
    uint64_t due = uv_timer_get_due_in(&hub.defer);
    uint64_t wait = (uint64_t)((lot->next_pass_us - now + 999) / 1000);
    if (!uv_is_active((uv_handle_t *)&hub.defer) || wait < due)
        uv_timer_start(&hub.defer, on_defer, wait, 0);
}

/* f (taken) is the lot's newest state; a feed from Redis (is_feed) also
 * joins the recent ones whose bids go to sockets that are behind. */
static void stream_set(ws_stream *st, ws_feed *f, bool is_feed)
{
    if (is_feed) {
        if (st->nrecent == WS_RECENT_MAX) {
            wsp_feed_unref(st->recent[0]);
            memmove(st->recent, st->recent + 1, (WS_RECENT_MAX - 1) * sizeof st->recent[0]);
            st->nrecent--;
        }
        st->recent[st->nrecent++] = wsp_feed_ref(f);
    }
    wsp_feed_unref(st->last);
    st->last = f;
}

static void fetch(hub_chan *lot)
{
    if (lot->is_fetching) {
        lot->needs_fetch = true;
        return;
    }
    lot->needs_fetch = false;
    if (wsj_fetch_state(lot->id) < 0) {
        lot->retry_at_us = mono_us() + HUB_RETRY_US;
        return;
    }
    lot->is_fetching = true;
    lot->retry_at_us = 0;
    mx_add(ws_mx.snapshots, 1);
}

static void refuse_waiting(hub_chan *lot, int grpc_code, const char *why)
{
    for (ws_sub *sub = lot->subs, *next; sub != NULL; sub = next) {
        next = sub->lot_next;
        if (sub->is_ready)
            continue;
        ws_sock *s = sub->sock;
        hub_unsubscribe(s, lot->id);
        size_t n = 0;
        ws_send_take(s, wsp_error(NULL, wsp_code(grpc_code), &n, "lot %lld: %s",
                                  (long long)lot->id, why));
    }
}

void hub_state_done(int64_t lot_id, ws_feed *f, int grpc_code, const char *why)
{
    hub_chan *lot = hub.is_started ? chan_find(HUB_LOT, lot_id) : NULL;
    if (lot == NULL) {
        wsp_feed_unref(f);
        return;
    }
    /* is_fetching stays set meanwhile: it holds the channel while its
     * subscribers change */
    if (f == NULL) {
        if (grpc_code == GRPC_STATUS_NOT_FOUND || grpc_code == GRPC_STATUS_INVALID_ARGUMENT ||
            grpc_code == GRPC_STATUS_PERMISSION_DENIED) {
            refuse_waiting(lot, grpc_code, why);
        } else {
            log_warn("lot %lld: cannot read its state (%s); retrying", (long long)lot_id, why);
            lot->retry_at_us = mono_us() + HUB_RETRY_US;
        }
    } else {
        bool is_newer = lot->st.last == NULL || f->rank > lot->st.last->rank;
        if (is_newer)
            stream_set(&lot->st, f, false);
        else
            wsp_feed_unref(f);
        /* Waiting subscribers get the newest state; the others only when
         * the read found what they missed. */
        for (ws_sub *sub = lot->subs; sub != NULL; sub = sub->lot_next)
            if (!sub->is_ready || is_newer) {
                sub->is_ready = true;
                sub->needs_snapshot = true;
            }
        lot_changed(lot);
    }
    lot->is_fetching = false;
    if (lot->needs_fetch && lot->n > 0)
        fetch(lot);
    else if (lot->n == 0)
        chan_release(lot);
}

static void on_lot_feed(hub_chan *lot, const char *data, size_t len)
{
    char err[256];
    ws_feed *f = wsp_feed_unpack((const uint8_t *)data, len, err, sizeof err);
    if (f == NULL || f->lot_id != lot->id) {
        log_warn("%s: feed dropped: %s", lot->name, f == NULL ? err : "another lot's state");
        mx_add(ws_mx.dropped, 1);
        wsp_feed_unref(f);
        return;
    }
    const ws_feed *last = lot->st.last;
    if (last != NULL && f->rank <= last->rank) {
        mx_add(ws_mx.dropped, 1); /* a duplicate, or older than what we hold */
        wsp_feed_unref(f);
        return;
    }
    if (last != NULL && f->seq - f->nbids > last->seq)
        fetch(lot); /* a feed was lost: read the state to heal */
    stream_set(&lot->st, f, true);
    lot_changed(lot);
}

/* A notification for a user (JSON object text from the notifications
 * service): every socket of the user gets it as {"type":"notification",…}. */
static void on_user_message(hub_chan *user, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(o)) {
        log_warn("%s: message dropped: not a JSON object", user->name);
        json_decref(o);
        return;
    }
    json_object_set_new(o, "type", json_string("notification"));
    size_t n = 0;
    char *text = wsp_dump(o, &n);
    json_decref(o);
    for (ws_sock *s = user->socks, *next; s != NULL; s = next) {
        next = s->user_next;
        ws_send(s, text, n);
    }
    free(text);
}

/* ---- from Redis ---- */

void hub_on_message(const char *channel, const char *data, size_t len)
{
    hub_chan *c = chan_by_name(channel);
    if (c == NULL || c->rs != RS_SUBSCRIBED)
        return;
    if (c->kind == HUB_LOT)
        on_lot_feed(c, data, len);
    else
        on_user_message(c, data, len);
}

void hub_on_subscribed(const char *channel)
{
    hub_chan *c = chan_by_name(channel);
    if (c == NULL || c->rs != RS_SUBSCRIBING)
        return;
    c->rs = RS_SUBSCRIBED;
    if (c->n == 0)
        chan_release(c);
    else if (c->kind == HUB_LOT)
        fetch(c); /* from now on no feed is missed: read the state it starts from */
}

void hub_on_unsubscribed(const char *channel)
{
    hub_chan *c = chan_by_name(channel);
    if (c == NULL || c->rs != RS_UNSUBSCRIBING)
        return;
    c->rs = RS_NONE;
    if (c->n > 0)
        chan_want(c); /* someone came back meanwhile */
    else
        chan_release(c);
}

void hub_redis_up(void)
{
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (hub_chan *c = hub.buckets[b], *next; c != NULL; c = next) {
            next = c->hnext;
            c->rs = RS_NONE;
            if (c->n > 0)
                chan_want(c);
            else
                chan_release(c);
        }
}

void hub_redis_down(void)
{
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (hub_chan *c = hub.buckets[b]; c != NULL; c = c->hnext)
            c->rs = RS_NONE;
}

/* ---- subscribers ---- */

int hub_subscribe(ws_sock *s, int64_t lot_id)
{
    for (ws_sub *sub = s->subs; sub != NULL; sub = sub->sock_next)
        if (sub->lot->id == lot_id) { /* again: a fresh snapshot */
            sub->is_ready = false;
            fetch(sub->lot);
            return 0;
        }
    if (s->nsubs >= ws_cfg.max_lots)
        return -1;
    hub_chan *lot = chan_get(HUB_LOT, lot_id);
    ws_sub *sub = xcalloc(1, sizeof *sub);
    sub->sock = s;
    sub->lot = lot;
    sub->st = &lot->st;
    sub->sent_rank = -1;
    sub->lot_next = lot->subs;
    if (lot->subs != NULL)
        lot->subs->lot_prev = sub;
    lot->subs = sub;
    lot->n++;
    sub->sock_next = s->subs;
    s->subs = sub;
    s->nsubs++;
    chan_want(lot);
    /* Subscribed in Redis already (or Redis is away): read the state now;
     * otherwise the confirmation will. */
    if (lot->rs == RS_SUBSCRIBED || lot->rs == RS_NONE)
        fetch(lot);
    return 0;
}

static void sub_free(ws_sub *sub)
{
    hub_chan *lot = sub->lot;
    ws_sub_clear(sub);
    if (sub->lot_prev != NULL)
        sub->lot_prev->lot_next = sub->lot_next;
    else
        lot->subs = sub->lot_next;
    if (sub->lot_next != NULL)
        sub->lot_next->lot_prev = sub->lot_prev;
    lot->n--;
    free(sub);
    chan_release(lot);
}

void hub_unsubscribe(ws_sock *s, int64_t lot_id)
{
    for (ws_sub **link = &s->subs; *link != NULL; link = &(*link)->sock_next) {
        ws_sub *sub = *link;
        if (sub->lot->id == lot_id) {
            *link = sub->sock_next;
            s->nsubs--;
            sub_free(sub);
            return;
        }
    }
}

static void user_leave(ws_sock *s)
{
    hub_chan *u = s->user_chan;
    if (u == NULL)
        return;
    if (s->user_prev != NULL)
        s->user_prev->user_next = s->user_next;
    else
        u->socks = s->user_next;
    if (s->user_next != NULL)
        s->user_next->user_prev = s->user_prev;
    s->user_chan = NULL;
    s->user_prev = s->user_next = NULL;
    u->n--;
    chan_release(u);
}

void hub_set_user(ws_sock *s)
{
    if (!hub.is_started || (s->user_chan != NULL && s->user_chan->id == s->user_id))
        return;
    user_leave(s);
    if (s->user_id <= 0)
        return;
    hub_chan *u = chan_get(HUB_USER, s->user_id);
    s->user_next = u->socks;
    if (u->socks != NULL)
        u->socks->user_prev = s;
    u->socks = s;
    u->n++;
    s->user_chan = u;
    chan_want(u);
}

void hub_sock_gone(ws_sock *s)
{
    while (s->subs != NULL) {
        ws_sub *sub = s->subs;
        s->subs = sub->sock_next;
        sub_free(sub);
    }
    s->nsubs = 0;
    user_leave(s);
}

/* ---- life ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
    int64_t now = mono_us();
    hredis_tick(now);
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (hub_chan *c = hub.buckets[b]; c != NULL; c = c->hnext)
            if (c->retry_at_us != 0 && c->retry_at_us <= now && c->n > 0)
                fetch(c);
    ws_check_slow(now);
}

int hub_start(char *err, size_t errlen)
{
    if (hredis_start(err, errlen) < 0)
        return -1;
    uv_timer_init(gw_loop(), &hub.tick);
    uv_timer_start(&hub.tick, on_tick, HUB_TICK_MS, HUB_TICK_MS);
    uv_check_init(gw_loop(), &hub.turn_end);
    uv_timer_init(gw_loop(), &hub.defer);
    uv_idle_init(gw_loop(), &hub.no_wait);
    hub.is_started = true;
    return 0;
}

void hub_stop(void)
{
    if (!hub.is_started)
        return;
    hub.is_started = false;
    uv_timer_stop(&hub.tick);
    uv_close((uv_handle_t *)&hub.tick, NULL);
    uv_check_stop(&hub.turn_end);
    uv_close((uv_handle_t *)&hub.turn_end, NULL);
    uv_timer_stop(&hub.defer);
    uv_close((uv_handle_t *)&hub.defer, NULL);
    uv_idle_stop(&hub.no_wait);
    uv_close((uv_handle_t *)&hub.no_wait, NULL);
    hredis_stop();
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        for (hub_chan *c = hub.buckets[b]; c != NULL; c = c->hnext) {
            c->rs = RS_NONE;
            c->is_fetching = false; /* its answer finds no channel */
        }
    /* Each round frees a socket's subscriptions or an empty channel. */
    for (size_t b = 0; b < HUB_BUCKETS; b++)
        while (hub.buckets[b] != NULL) {
            hub_chan *c = hub.buckets[b];
            if (c->subs != NULL)
                hub_sock_gone(c->subs->sock);
            else if (c->socks != NULL)
                hub_sock_gone(c->socks);
            else
                chan_free(c);
        }
}
