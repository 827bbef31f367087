/*
 * Which event tells whom what. The events library runs notif_event_apply
 * in the transaction that records the event id, so everything written
 * here (what we learn about users and lots, the inbox rows and their
 * deliveries) happens exactly once per event. A payload that cannot be
 * decoded, or names no lot or user, is EV_E_INVALID: dead-lettered to
 * "<topic>.dlq" while the partition moves on. Events nobody is told
 * about are recorded and otherwise ignored.
 *
 *   bid.placed          remember the bidder; BID_PLACED to followers and seller
 *   bid.outbid          OUTBID to the previous leader
 *                       (both gathered and written per batch: bid_events.c)
 *   lot.extended        LOT_EXTENDED to bidders and followers
 *   auction.ending_soon AUCTION_ENDING_SOON to bidders and followers
 *   auction.closed      AUCTION_WON to the winner, AUCTION_LOST to the other
 *                       bidders, LOT_SOLD to the seller
 *   lot.state_changed   approved/rejected: LOT_MODERATED to the seller;
 *                       scheduled/live: AUCTION_STARTING to the followers of
 *                       the lot and of its seller
 *   lot.upserted        remember seller and title; scheduled/live: NEW_MATCH
 *                       to the users whose saved search or segment it
 *                       matches, once per lot (match.c)
 *   user.registered     remember the email
 *   wallet.deposit, wallet.capture   WALLET to the owner
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notif.h"

/* Recipients of one notification; grows on the heap, freed by the caller. */
typedef struct {
    int64_t *users, *subs;
    size_t n, cap;
} recips;

static void recips_add(recips *r, int64_t user, int64_t sub)
{
    if (user <= 0)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (r->users[i] == user)
            return;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->users = xrealloc(r->users, r->cap * sizeof *r->users);
        r->subs = xrealloc(r->subs, r->cap * sizeof *r->subs);
    }
    r->users[r->n] = user;
    r->subs[r->n++] = sub;
}

static void recips_free(recips *r)
{
    free(r->users);
    free(r->subs);
}

/* What we know of a lot: its seller (0 unknown) and title ("lot N"). */
typedef struct {
    int64_t id, seller_id;
    char title[256];
} lot_info;

/* The lot's title, or "lot N" when we do not know it. Lot titles are the
 * seller's words, the same in every language. */
static void lot_title(lot_info *l, const char *t)
{
    notif_text_args a = { .num = l->id };
    if (t[0] != '\0')
        snprintf(l->title, sizeof l->title, "%s", t);
    else
        notif_text(l->title, sizeof l->title, NOTIF_LANG_EN, NOTIF_T_LOT_N, &a);
}

static int lot_load(db_conn *conn, int64_t lot_id, lot_info *l)
{
    char id[24];
    const char *p[] = { db_i64(id, lot_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "lot_get", 1, p, &rc);
    if (r == NULL)
        return rc;
    l->id = lot_id;
    l->seller_id = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : 0;
    lot_title(l, PQntuples(r) > 0 ? db_get_str(r, 0, 1) : "");
    PQclear(r);
    return 0;
}

/* Adds the lot's audience for kind (see lot_audience), leaving out skip. */
static int audience_add(db_conn *conn, recips *to, int64_t lot_id, int kind, bool bidders,
                        int64_t seller_followed, int64_t skip)
{
    char lot[24], k[24], s[24];
    const char *p[] = { db_i64(lot, lot_id), db_i64(k, kind), bidders ? "true" : "false",
                        db_i64(s, seller_followed) };
    int rc = 0;
    PGresult *r = db_exec(conn, "lot_audience", 4, p, &rc);
    if (r == NULL)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t u = db_get_i64(r, i, 0);
        if (u != skip)
            recips_add(to, u, db_get_i64(r, i, 1));
    }
    PQclear(r);
    return 0;
}

bool notif_money_ok(const Gavel__Common__V1__Money *m)
{
    return m != NULL && strlen(m->currency) == 3 && m->units >= 0;
}

/* Writes one notification to the recipients. */
static int tell(db_conn *conn, const Gavel__Events__V1__Envelope *env, int kind, int64_t lot_id,
                const recips *to, const notif_texts *t)
{
    /* A notification is dated by its event (the commit that made it), so
     * createdAtUs shows the user when it happened and the latency series
     * measure the whole way from that commit. */
    int64_t now = now_us();
    int64_t at = env->occurred_at_us > 0 && env->occurred_at_us <= now ? env->occurred_at_us : now;
    notif_fanout f = { .event_id = env->id, .kind = kind, .lot_id = lot_id, .texts = t, .at_us = at, .users = to->users,
                       .subscriptions = to->subs, .n = to->n };
    return notif_fanout_write(conn, &f);
}

static int tell_one(db_conn *conn, const Gavel__Events__V1__Envelope *env, int kind,
                    int64_t lot_id, int64_t user, const notif_texts *t)
{
    int64_t sub = 0;
    recips to = { .users = &user, .subs = &sub, .n = user > 0 ? 1 : 0 };
    return tell(conn, env, kind, lot_id, &to, t);
}

/* Extended and ending soon: everyone in the lot hears the new end. */
static int tell_lot_end(db_conn *conn, const Gavel__Events__V1__Envelope *env, int kind,
                        int64_t lot_id, int64_t ends_at_us)
{
    if (lot_id <= 0 || ends_at_us <= 0)
        return EV_E_INVALID;
    lot_info l;
    recips to = { 0 };
    int rc = lot_load(conn, lot_id, &l);
    if (rc == 0)
        rc = audience_add(conn, &to, lot_id, kind, true, 0, 0);
    if (rc == 0 && to.n > 0) {
        notif_texts t;
        notif_text_args a = { .lot = l.title, .at_us = ends_at_us };
        bool ext = kind == GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_LOT_EXTENDED;
        notif_texts_fill(&t, ext ? NOTIF_T_EXTENDED_TITLE : NOTIF_T_ENDING_TITLE,
                         NOTIF_T_ENDS_AT_BODY, &a);
        rc = tell(conn, env, kind, lot_id, &to, &t);
    }
    recips_free(&to);
    return rc;
}

static int on_extended(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                       const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotExtended *e = (const void *)m;
    return tell_lot_end(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_LOT_EXTENDED,
                        e->lot_id, e->new_ends_at_us);
}

static int on_ending_soon(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                          const ProtobufCMessage *m)
{
    const Gavel__Events__V1__AuctionEndingSoon *e = (const void *)m;
    return tell_lot_end(conn, env,
                        GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_AUCTION_ENDING_SOON,
                        e->lot_id, e->ends_at_us);
}

static int remember_seller(db_conn *conn, int64_t lot_id, int64_t seller_id)
{
    if (seller_id <= 0)
        return 0;
    char lot[24], s[24];
    const char *p[] = { db_i64(lot, lot_id), db_i64(s, seller_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "lot_seller", 2, p, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    return 0;
}

static int on_closed(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                     const ProtobufCMessage *m)
{
    const Gavel__Events__V1__AuctionClosed *e = (const void *)m;
    if (e->lot_id <= 0 || e->seller_id < 0 || e->winner_id < 0 ||
        (e->winner_id > 0 && !notif_money_ok(e->price)))
        return EV_E_INVALID;
    lot_info l;
    int rc = remember_seller(conn, e->lot_id, e->seller_id);
    if (rc == 0)
        rc = lot_load(conn, e->lot_id, &l);
    if (rc != 0)
        return rc;
    notif_texts *t = xmalloc(sizeof *t);
    notif_text_args a = { .lot = l.title, .money = e->price };
    /* The room won a venue lot: the clerk who entered the bid won nothing. */
    if (e->winner_id > 0 && e->floor_paddle == 0) {
        notif_texts_fill(t, NOTIF_T_WON_TITLE, NOTIF_T_WON_BODY, &a);
        rc = tell_one(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_AUCTION_WON,
                      e->lot_id, e->winner_id, t);
    }
    recips lost = { 0 };
    if (rc == 0)
        rc = audience_add(conn, &lost, e->lot_id,
                          GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_AUCTION_LOST, true, 0,
                          e->winner_id);
    if (rc == 0 && lost.n > 0) {
        /* Followers who never bid did not lose: only bidders hear it. */
        size_t k = 0;
        for (size_t i = 0; i < lost.n; i++)
            if (lost.subs[i] == 0)
                lost.users[k++] = lost.users[i];
        lost.n = k;
        for (size_t i = 0; i < k; i++)
            lost.subs[i] = 0;
        notif_texts_fill(t, NOTIF_T_LOST_TITLE,
                         e->winner_id > 0 ? NOTIF_T_LOST_BODY : NOTIF_T_LOST_NO_WINNER_BODY, &a);
        rc = tell(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_AUCTION_LOST,
                  e->lot_id, &lost, t);
    }
    recips_free(&lost);
    int64_t seller = e->seller_id > 0 ? e->seller_id : l.seller_id;
    if (rc == 0 && seller > 0) {
        if (e->winner_id > 0)
            notif_texts_fill(t, NOTIF_T_SOLD_TITLE, NOTIF_T_SOLD_BODY, &a);
        else
            notif_texts_fill(t, NOTIF_T_UNSOLD_TITLE,
                             e->reserve_met ? NOTIF_T_UNSOLD_NO_BIDS_BODY
                                            : NOTIF_T_UNSOLD_RESERVE_BODY, &a);
        rc = tell_one(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_LOT_SOLD,
                      e->lot_id, seller, t);
    }
    free(t);
    return rc;
}

static int on_state_changed(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                            const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotStateChanged *e = (const void *)m;
    if (e->lot_id <= 0 || e->seller_id < 0)
        return EV_E_INVALID;
    lot_info l;
    int rc = remember_seller(conn, e->lot_id, e->seller_id);
    if (rc == 0)
        rc = lot_load(conn, e->lot_id, &l);
    if (rc != 0)
        return rc;
    const char *to = e->to_state;
    if (strcmp(to, "approved") == 0 || strcmp(to, "rejected") == 0) {
        notif_texts t;
        notif_text_args a = { .lot = l.title, .text = e->reason };
        if (to[0] == 'a')
            notif_texts_fill(&t, NOTIF_T_APPROVED_TITLE, NOTIF_T_APPROVED_BODY, &a);
        else
            notif_texts_fill(&t, NOTIF_T_REJECTED_TITLE, NOTIF_T_REJECTED_BODY, &a);
        return tell_one(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_LOT_MODERATED,
                        e->lot_id, l.seller_id, &t);
    }
    if (strcmp(to, "scheduled") != 0 && strcmp(to, "live") != 0)
        return 0;
    int kind = GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_AUCTION_STARTING;
    recips r = { 0 };
    rc = audience_add(conn, &r, e->lot_id, kind, false, l.seller_id, l.seller_id);
    if (rc == 0 && r.n > 0) {
        notif_texts t;
        notif_text_args a = { .lot = l.title };
        if (to[0] == 'l')
            notif_texts_fill(&t, NOTIF_T_LIVE_TITLE, NOTIF_T_LIVE_BODY, &a);
        else
            notif_texts_fill(&t, NOTIF_T_SCHEDULED_TITLE, NOTIF_T_SCHEDULED_BODY, &a);
        rc = tell(conn, env, kind, e->lot_id, &r, &t);
    }
    recips_free(&r);
    return rc;
}

static int on_upserted(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                       const ProtobufCMessage *m)
{
    const Gavel__Events__V1__LotUpserted *e = (const void *)m;
    if (e->lot_id <= 0 || e->seller_id < 0)
        return EV_E_INVALID;
    char lot[24], s[24], at[24];
    const char *p[] = { db_i64(lot, e->lot_id), db_i64(s, e->seller_id), e->title,
                        db_i64(at, e->updated_at_us) };
    int rc = 0;
    PGresult *r = db_exec(conn, "lot_upsert", 4, p, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    return notif_match_lot(conn, env, e);
}

static int on_registered(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                         const ProtobufCMessage *m)
{
    (void)env;
    const Gavel__Events__V1__UserRegistered *e = (const void *)m;
    if (e->user_id <= 0)
        return EV_E_INVALID;
    char uid[24];
    const char *p[] = { db_i64(uid, e->user_id), e->email };
    int rc = 0;
    PGresult *r = db_exec(conn, "account_upsert", 2, p, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    return 0;
}

static int on_wallet(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                     const ProtobufCMessage *m)
{
    const Gavel__Events__V1__WalletChanged *e = (const void *)m;
    if (e->user_id <= 0 || !notif_money_ok(e->amount))
        return EV_E_INVALID;
    bool deposit = strcmp(e->kind, "deposit") == 0;
    if (!deposit && strcmp(e->kind, "capture") != 0)
        return 0; /* holds come and go with every bid: not worth a message */
    notif_texts t;
    notif_text_args a = { .money = e->amount, .num = e->lot_id };
    if (deposit)
        notif_texts_fill(&t, NOTIF_T_DEPOSIT_TITLE, NOTIF_T_DEPOSIT_BODY, &a);
    else
        notif_texts_fill(&t, NOTIF_T_CAPTURE_TITLE, NOTIF_T_CAPTURE_BODY, &a);
    return tell_one(conn, env, GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_WALLET,
                    e->lot_id, e->user_id, &t);
}

typedef int (*apply_fn)(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                        const ProtobufCMessage *m);

static int on_bid_placed(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                         const ProtobufCMessage *m)
{
    (void)conn;
    return notif_bid_placed(env, m);
}

static int on_outbid(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                     const ProtobufCMessage *m)
{
    (void)conn;
    return notif_bid_outbid(env, m);
}

static const struct {
    const char *type;
    const ProtobufCMessageDescriptor *desc;
    apply_fn apply;
} routes[] = {
    { "bid.placed", &gavel__events__v1__bid_placed__descriptor, on_bid_placed },
    { "bid.outbid", &gavel__events__v1__bid_outbid__descriptor, on_outbid },
    { "lot.extended", &gavel__events__v1__lot_extended__descriptor, on_extended },
    { "auction.ending_soon", &gavel__events__v1__auction_ending_soon__descriptor,
      on_ending_soon },
    { "auction.closed", &gavel__events__v1__auction_closed__descriptor, on_closed },
    { "lot.state_changed", &gavel__events__v1__lot_state_changed__descriptor,
      on_state_changed },
    { "lot.upserted", &gavel__events__v1__lot_upserted__descriptor, on_upserted },
    { "user.registered", &gavel__events__v1__user_registered__descriptor, on_registered },
    { "wallet.deposit", &gavel__events__v1__wallet_changed__descriptor, on_wallet },
    { "wallet.capture", &gavel__events__v1__wallet_changed__descriptor, on_wallet },
};

int notif_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg)
{
    (void)arg;
    size_t k = 0, n = sizeof routes / sizeof routes[0];
    while (k < n && strcmp(routes[k].type, env->type) != 0)
        k++;
    if (k == n)
        return 0; /* nobody is told about it */
    ProtobufCMessage *m =
        protobuf_c_message_unpack(routes[k].desc, NULL, env->payload.len, env->payload.data);
    if (m == NULL) {
        log_warn("event %s (%s): payload does not decode", env->id, env->type);
        return EV_E_INVALID;
    }
    /* Bids noted so far go in before any other event reads what they
     * write (a close reads the lot's bidders). */
    int rc = 0;
    if (routes[k].apply != on_bid_placed && routes[k].apply != on_outbid)
        rc = notif_bids_flush(conn);
    if (rc == 0)
        rc = routes[k].apply(conn, env, m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc == EV_E_INVALID)
        log_warn("event %s (%s): names no valid lot, user or amount", env->id, env->type);
    return rc;
}

int notif_batch_end(db_conn *conn, bool ok, void *arg)
{
    int rc = 0;
    if (ok)
        rc = notif_bids_flush(conn);
    else
        notif_bids_forget();
    int written = notif_fanout_flush(conn, ok && rc == 0, arg);
    return rc != 0 ? rc : written;
}
