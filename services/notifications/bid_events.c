/*
 * bid.placed and bid.outbid, the bulk of what the consumer reads (two per
 * accepted bid), handled per batch rather than per event: each is only
 * noted when it arrives, and notif_bids_flush then runs one statement for
 * all of them (the bidders recorded, and each lot's seller, title and
 * followers read back) before writing their notifications into the
 * batch's fan-out (fanout.c, one statement more at the batch end). A
 * batch of 64 events of bidding costs two statements instead of one or
 * two per event.
 *
 * Order: the noted bids are flushed before any other event of the batch
 * is applied (events_apply.c) and at the batch end, so an event that reads
 * what a bid wrote (lot_bidders, for a close) sees it, as it would one
 * event at a time. Consumer thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notif.h"

/* One noted event; strings copied (the envelope is freed after its
 * handler). */
typedef struct {
    bool outbid;                 /* bid.outbid, else bid.placed */
    bool floor;                  /* a venue floor bid (bidder is the clerk) */
    char event_id[64];
    int64_t at_us;               /* the notification's time */
    int64_t lot_id, user_id;     /* bidder (placed) or previous leader (outbid) */
    char currency[8];
    int64_t units;
} noted_bid;

/* A lot as the flush read it: seller, title, followers. */
typedef struct {
    int64_t id, seller_id;
    char title[256];
    int64_t *users, *subs;
    size_t n, cap;
} lot_audience;

static struct {
    noted_bid *v;
    size_t n, cap;
} noted;

static int64_t event_time(const Gavel__Events__V1__Envelope *env)
{
    int64_t now = now_us();
    return env->occurred_at_us > 0 && env->occurred_at_us <= now ? env->occurred_at_us : now;
}

static void note(const Gavel__Events__V1__Envelope *env, bool outbid, bool floor,
                 int64_t lot_id, int64_t user_id, const Gavel__Common__V1__Money *amount)
{
    if (noted.n == noted.cap) {
        noted.cap = noted.cap ? 2 * noted.cap : 64;
        noted.v = xrealloc(noted.v, noted.cap * sizeof *noted.v);
    }
    noted_bid *b = &noted.v[noted.n++];
    *b = (noted_bid){ .outbid = outbid, .floor = floor, .at_us = event_time(env),
                      .lot_id = lot_id, .user_id = user_id, .units = amount->units };
    snprintf(b->event_id, sizeof b->event_id, "%s", env->id);
    snprintf(b->currency, sizeof b->currency, "%s", amount->currency);
}

int notif_bid_placed(const Gavel__Events__V1__Envelope *env, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__BidPlaced *e = (const void *)m;
    if (e->lot_id <= 0 || e->bidder_id <= 0 || !notif_money_ok(e->amount))
        return EV_E_INVALID;
    note(env, false, e->floor_paddle > 0, e->lot_id, e->bidder_id, e->amount);
    return 0;
}

int notif_bid_outbid(const Gavel__Events__V1__Envelope *env, const ProtobufCMessage *m)
{
    const Gavel__Events__V1__BidOutbid *e = (const void *)m;
    if (e->lot_id <= 0 || e->previous_leader_id <= 0 || !notif_money_ok(e->amount))
        return EV_E_INVALID;
    note(env, true, false, e->lot_id, e->previous_leader_id, e->amount);
    return 0;
}

static lot_audience *find_lot(lot_audience *lots, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (lots[i].id == id)
            return &lots[i];
    return NULL;
}

/* Reads the audience rows (lot, seller, title, user or NULL, sub) into
 * one entry per lot. */
static size_t audiences_read(PGresult *r, lot_audience *lots)
{
    size_t n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = db_get_i64(r, i, 0);
        lot_audience *l = find_lot(lots, n, id);
        if (l == NULL) {
            l = &lots[n++];
            *l = (lot_audience){ .id = id, .seller_id = db_get_i64(r, i, 1) };
            const char *t = db_get_str(r, i, 2);
            notif_text_args a = { .num = id };
            if (t[0] != '\0')
                snprintf(l->title, sizeof l->title, "%s", t);
            else
                notif_text(l->title, sizeof l->title, NOTIF_LANG_EN, NOTIF_T_LOT_N, &a);
        }
        if (PQgetisnull(r, i, 3))
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->users = xrealloc(l->users, l->cap * sizeof *l->users);
            l->subs = xrealloc(l->subs, l->cap * sizeof *l->subs);
        }
        l->users[l->n] = db_get_i64(r, i, 3);
        l->subs[l->n++] = db_get_i64(r, i, 4);
    }
    return n;
}

/* The notification of noted bid b, into the batch's fan-out. */
static int tell(const noted_bid *b, const lot_audience *l)
{
    Gavel__Common__V1__Money money = GAVEL__COMMON__V1__MONEY__INIT;
    char currency[8];
    snprintf(currency, sizeof currency, "%s", b->currency);
    money.currency = currency;
    money.units = b->units;
    notif_texts *t = xmalloc(sizeof *t);
    notif_text_args a = { .lot = l->title, .money = &money };
    notif_fanout f = { .event_id = b->event_id, .lot_id = b->lot_id, .texts = t,
                       .at_us = b->at_us };
    int64_t sub0 = 0, *users = NULL, *subs = NULL;
    size_t n = 0;
    if (b->outbid) {
        notif_texts_fill(t, NOTIF_T_OUTBID_TITLE, NOTIF_T_OUTBID_BODY, &a);
        f.kind = GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_OUTBID;
        users = xmalloc(sizeof *users);
        subs = xmalloc(sizeof *subs);
        users[0] = b->user_id;
        subs[0] = sub0;
        n = 1;
    } else {
        /* The lot's followers and its seller, never the bidder. */
        notif_texts_fill(t, NOTIF_T_BID_PLACED_TITLE, NOTIF_T_BID_PLACED_BODY, &a);
        f.kind = GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_BID_PLACED;
        users = xcalloc(l->n + 1, sizeof *users);
        subs = xcalloc(l->n + 1, sizeof *subs);
        for (size_t i = 0; i < l->n; i++)
            if (l->users[i] != b->user_id) {
                users[n] = l->users[i];
                subs[n++] = l->subs[i];
            }
        bool seller_listed = false;
        for (size_t i = 0; i < n; i++)
            seller_listed = seller_listed || users[i] == l->seller_id;
        if (l->seller_id > 0 && l->seller_id != b->user_id && !seller_listed) {
            users[n] = l->seller_id;
            subs[n++] = 0;
        }
    }
    f.users = users;
    f.subscriptions = subs;
    f.n = n;
    int rc = notif_fanout_write(NULL, &f);
    free(users);
    free(subs);
    free(t);
    return rc;
}

int notif_bids_flush(db_conn *conn)
{
    if (noted.n == 0)
        return 0;
    db_array bid_lots, bidders, lots;
    db_array_init(&bid_lots);
    db_array_init(&bidders);
    db_array_init(&lots);
    size_t nlots = 0;
    for (size_t i = 0; i < noted.n; i++) {
        const noted_bid *b = &noted.v[i];
        if (!b->outbid && !b->floor) {
            db_array_i64(&bid_lots, b->lot_id);
            db_array_i64(&bidders, b->user_id);
        }
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = noted.v[k].lot_id == b->lot_id;
        if (!seen) {
            db_array_i64(&lots, b->lot_id);
            nlots++;
        }
    }
    char kind[24];
    const char *p[] = { db_array_str(&bid_lots), db_array_str(&bidders), db_array_str(&lots),
                        db_i64(kind, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_BID_PLACED) };
    int rc = 0;
    PGresult *r = db_exec(conn, "bids_audience", 4, p, &rc);
    db_array_free(&bid_lots);
    db_array_free(&bidders);
    db_array_free(&lots);
    if (r == NULL) {
        notif_bids_forget();
        return rc;
    }
    lot_audience *aud = xcalloc(nlots, sizeof *aud);
    size_t n = audiences_read(r, aud);
    PQclear(r);
    for (size_t i = 0; i < noted.n && rc == 0; i++) {
        const lot_audience *l = find_lot(aud, n, noted.v[i].lot_id);
        if (l != NULL)
            rc = tell(&noted.v[i], l);
    }
    for (size_t i = 0; i < n; i++) {
        free(aud[i].users);
        free(aud[i].subs);
    }
    free(aud);
    noted.n = 0;
    return rc;
}

void notif_bids_forget(void)
{
    noted.n = 0;
}

void notif_bids_close(void)
{
    free(noted.v);
    noted.v = NULL;
    noted.n = noted.cap = 0;
}
