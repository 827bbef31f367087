/*
 * The delivery workers. Each round a worker leases up to
 * GAVEL_NOTIFICATIONS_BATCH due deliveries (one statement: their due time
 * moves a lease ahead and their attempt count goes up, so no other worker
 * or replica takes them), decides each one, sends what is to be sent, and
 * records every outcome in one statement.
 *
 * Per delivery, in this order:
 *  - a newer delivery of the same coalesce key (user, lot, kind, channel)
 *    that is pending or sent makes it obsolete: coalesced, never sent
 *    (unless GAVEL_NOTIFICATIONS_COALESCE_MS is 0: no coalescing at all);
 *  - one of that key sent less than GAVEL_NOTIFICATIONS_COALESCE_MS ago
 *    makes it wait for the window's end (not an attempt): a burst gives
 *    its first message at once and then at most one per window, the
 *    latest;
 *  - email, push and Telegram in the user's quiet hours (a kind they did
 *    not mark urgent) wait for their end (not an attempt);
 *  - a NEW_MATCH digest delivery goes with the user's other pending ones
 *    in one email (digest.c);
 *  - otherwise the channel's sender runs: sent, or retried after an
 *    exponential backoff with jitter, or dead-lettered (counted, and a
 *    notification.dead_lettered event on gavel.notifications) after
 *    GAVEL_NOTIFICATIONS_MAX_ATTEMPTS.
 *
 * A worker that dies mid-round leaves its leased rows pending with the
 * lease as their due time: they are taken again once it passes. The
 * realtime sender makes that retry publish nothing twice (send_realtime.c).
 * An email, a webhook POST, a Telegram message or a push cannot be taken
 * back, so each one is recorded sent on its own the moment the other side
 * took it, not with the round: a crash re-sends at most the one message
 * each worker had in flight, with the same Message-ID / X-Gavel-Event-Id.
 * A sender with nowhere to send (no chat id, no push tokens, webhook gone)
 * records the delivery skipped; a 429/503's Retry-After stretches the
 * backoff.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "notif.h"

/* Threads and their wake-ups; mu guards everything but threads. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    size_t n;
    bool stopping;
    uint64_t kicks;      /* bumped by deliver_kick */
    int64_t kicked_us;   /* mono time of the last kick */
} wk = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A kick comes from inside the consumer's transaction, before its
 * COMMIT: for this long after one, an idle worker looks again every
 * KICK_RETRY_MS instead of sleeping GAVEL_NOTIFICATIONS_POLL_MS. */
enum { KICK_WINDOW_US = 200000, KICK_RETRY_MS = 5 };

/* One decided delivery, for the outcome statement. */
typedef struct {
    int64_t id, due_us, sent_us;
    const char *state;
    const char *err;     /* borrowed from the round's err buffers */
    int adj;             /* added to attempts: -1 when this was no attempt */
    bool unrecorded;     /* another worker recorded it (sent in its digest) */
} outcome;

enum { C_ID, C_NOTIF, C_USER, C_CHANNEL, C_ATTEMPTS, C_KIND, C_TITLE, C_BODY, C_LOT, C_LINK,
       C_EVENT, C_CREATED, C_EMAIL, C_OBSOLETE, C_LAST_SENT, C_UNREAD, C_TARGET, C_CHAT,
       C_PUSH_TOKENS, C_HOOK_URL, C_HOOK_SECRET, C_HOOK_ACTIVE, C_DIGEST, C_QUIET_UNTIL,
       C_LANG };

/* A worker that finds a user's digest being sent by another looks again
 * this much later. */
enum { DIGEST_BUSY_US = 1000000 };

static int64_t backoff_us(int attempts, unsigned *seed)
{
    int64_t ms = notif.retry_base_ms;
    for (int i = 1; i < attempts && ms < notif.retry_max_ms; i++)
        ms *= 2;
    if (ms > notif.retry_max_ms)
        ms = notif.retry_max_ms;
    /* Jitter: 50% to 150% of the step, so failed deliveries spread out. */
    double f = 0.5 + (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
    int64_t us = (int64_t)((double)ms * 1000.0 * f);
    return us < notif.retry_max_ms * 1000 ? us : notif.retry_max_ms * 1000;
}

static int send_one(const notif_delivery *d, int64_t *retry_after_ms, char *err,
                    size_t errlen)
{
    *retry_after_ms = 0;
    switch (d->channel) {
    case NOTIF_CH_EMAIL:
        return send_email(d, err, errlen);
    case NOTIF_CH_WEBHOOK:
        return send_webhook(d, retry_after_ms, err, errlen);
    case NOTIF_CH_TELEGRAM:
        return send_telegram(d, retry_after_ms, err, errlen);
    case NOTIF_CH_PUSH:
        return send_push(d, retry_after_ms, err, errlen);
    default:
        snprintf(err, errlen, "channel %d has no sender", d->channel);
        return -1;
    }
}

/* Records one delivery sent at once, outside the round's outcome
 * statement (which repeats it). A failure here only widens the window in
 * which a crash re-sends it: logged, not fatal. */
static void record_sent_now(int64_t id, int64_t sent_us)
{
    db_conn *conn = db_pool_get(notif.db, 1000);
    if (conn == NULL) {
        log_warn("delivery %lld: no connection to record it sent at once", (long long)id);
        return;
    }
    char i[24], at[24];
    const char *p[] = { db_i64(i, id), db_i64(at, sent_us) };
    int rc = 0;
    PGresult *r = db_exec(conn, "deliver_sent_one", 2, p, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        log_warn("delivery %lld: recording it sent failed (%s)", (long long)id,
                 db_strerror(rc));
    PQclear(r);
}

/* Records what a send of d gave (sent, skipped, retried or dead) in o. */
static void settle(const notif_delivery *d, int sent, int64_t retry_after_ms, int64_t now,
                   unsigned *seed, outcome *o, char *err);

/* Decides row i of the lease into o and *d. Sends it now when it is due,
 * unless it is a realtime message: those return true, to go out together
 * in the round's one Redis pipeline (send_realtime_batch) and be settled
 * afterwards. */
static bool decide(const PGresult *r, int i, int64_t now, unsigned *seed, outcome *o,
                   notif_delivery *out, char *err, size_t errlen)
{
    notif_delivery d = {
        .id = db_get_i64(r, i, C_ID), .notification_id = db_get_i64(r, i, C_NOTIF),
        .user_id = db_get_i64(r, i, C_USER), .channel = (int)db_get_i64(r, i, C_CHANNEL),
        .attempts = (int)db_get_i64(r, i, C_ATTEMPTS), .kind = (int)db_get_i64(r, i, C_KIND),
        .title = db_get_str(r, i, C_TITLE), .body = db_get_str(r, i, C_BODY),
        .lot_id = db_get_i64(r, i, C_LOT), .link = db_get_str(r, i, C_LINK),
        .event_id = db_get_str(r, i, C_EVENT), .created_at_us = db_get_i64(r, i, C_CREATED),
        .email = db_get_str(r, i, C_EMAIL), .unread = db_get_i64(r, i, C_UNREAD),
        .target_id = db_get_i64(r, i, C_TARGET), .telegram_chat_id = db_get_str(r, i, C_CHAT),
        .push_tokens = db_get_str(r, i, C_PUSH_TOKENS),
        .webhook_url = db_get_str(r, i, C_HOOK_URL),
        .webhook_secret = db_get_str(r, i, C_HOOK_SECRET),
        .webhook_active = db_get_bool(r, i, C_HOOK_ACTIVE),
        .digest = db_get_bool(r, i, C_DIGEST), .lang = (int)db_get_i64(r, i, C_LANG),
    };
    *out = d;
    int ch = notif_channel_ok(d.channel) ? d.channel : 0;
    int64_t last_sent = db_get_i64(r, i, C_LAST_SENT);
    *o = (outcome){ .id = d.id, .state = "pending", .err = "", .adj = -1 };
    err[0] = '\0';
    /* GAVEL_NOTIFICATIONS_COALESCE_MS=0 turns both folding and the window
     * off: every delivery is sent. */
    if (notif.coalesce_ms > 0 && db_get_bool(r, i, C_OBSOLETE)) {
        o->state = "coalesced";
        o->due_us = now;
        if (ch)
            mx_add(notif_mx.coalesced[ch], 1);
        return false;
    }
    if (last_sent > 0 && notif.coalesce_ms > 0 && now < last_sent + notif.coalesce_ms * 1000) {
        o->due_us = last_sent + notif.coalesce_ms * 1000;
        return false;
    }
    /* Quiet hours hold email, push and Telegram (urgent kinds excepted)
     * until they end, looking again meanwhile in case they change. Not an
     * attempt. */
    int64_t quiet_until = db_get_i64(r, i, C_QUIET_UNTIL);
    if (quiet_until > now) {
        int64_t recheck = now + notif.quiet_recheck_ms * 1000;
        o->due_us = quiet_until < recheck ? quiet_until : recheck;
        return false;
    }
    int64_t retry_after_ms = 0;
    int sent;
    if (d.digest && d.channel == NOTIF_CH_EMAIL) {
        sent = deliver_digest(&d, err, errlen);
        if (sent == NOTIF_SEND_BUSY) {
            o->due_us = now + DIGEST_BUSY_US;
            return false;
        }
        if (sent == NOTIF_SEND_DONE) {
            o->unrecorded = true;
            return false;
        }
    } else if (d.channel == NOTIF_CH_REALTIME) {
        return true;
    } else {
        sent = send_one(&d, &retry_after_ms, err, errlen);
    }
    settle(&d, sent, retry_after_ms, now, seed, o, err);
    return false;
}

static void settle(const notif_delivery *d, int sent, int64_t retry_after_ms, int64_t now,
                   unsigned *seed, outcome *o, char *err)
{
    int ch = notif_channel_ok(d->channel) ? d->channel : 0;
    o->adj = 0;
    if (sent == NOTIF_SEND_SKIP) {
        o->state = "skipped";
        o->due_us = now;
        o->err = err;
        if (ch)
            mx_add(notif_mx.skipped[ch], 1);
        return;
    }
    if (sent == NOTIF_SEND_OK) {
        o->state = "sent";
        o->due_us = now;
        o->sent_us = now_us();
        if (d->channel != NOTIF_CH_REALTIME && !d->digest)
            record_sent_now(d->id, o->sent_us);
        if (ch) {
            mx_add(notif_mx.sent[ch], 1);
            mx_observe(notif_mx.latency[ch], (double)(o->sent_us - d->created_at_us) / 1e6);
        }
        return;
    }
    o->err = err;
    if (ch)
        mx_add(notif_mx.failed[ch], 1);
    /* A webhook delivery is retried for GAVEL_WEBHOOK_DISABLE_AFTER_MS (the
     * contract's 24 h) as well as for the attempts; its webhook turned off
     * gives up at once. */
    bool spent = d->attempts >= notif.max_attempts &&
                 (d->channel != NOTIF_CH_WEBHOOK ||
                  now - d->created_at_us >= notif.webhook_disable_ms * 1000);
    if (spent || ch == 0 || sent == NOTIF_SEND_GIVE_UP) {
        o->state = "dead";
        o->due_us = now;
        if (ch)
            mx_add(notif_mx.dead[ch], 1);
        log_warn("delivery %lld (%s of notification %lld) dead after %d attempts: %s",
                 (long long)d->id, notif_channel_name(d->channel), (long long)d->notification_id,
                 d->attempts, err);
        return;
    }
    /* A 429/503's Retry-After is honoured when longer than the backoff
     * (at most GAVEL_NOTIFICATIONS_RETRY_MAX_MS). */
    int64_t wait = backoff_us(d->attempts, seed);
    if (retry_after_ms * 1000 > wait)
        wait = retry_after_ms < notif.retry_max_ms ? retry_after_ms * 1000
                                                    : notif.retry_max_ms * 1000;
    o->due_us = now + wait;
    if (ch)
        mx_add(notif_mx.retried[ch], 1);
}

/* The outcomes of a round, with a dead-letter event per dead delivery. */
typedef struct {
    const outcome *o;
    size_t n;
    const PGresult *lease;
} done_ctx;

static int dead_letter(db_conn *conn, const done_ctx *x, size_t i)
{
    Gavel__Events__V1__NotificationDeadLettered ev =
        GAVEL__EVENTS__V1__NOTIFICATION_DEAD_LETTERED__INIT;
    int row = (int)i;
    ev.notification_id = db_get_i64(x->lease, row, C_NOTIF);
    ev.user_id = db_get_i64(x->lease, row, C_USER);
    ev.kind = (char *)notif_kind_name((int)db_get_i64(x->lease, row, C_KIND));
    ev.channel = (char *)notif_channel_name((int)db_get_i64(x->lease, row, C_CHANNEL));
    ev.source_event_id = (char *)db_get_str(x->lease, row, C_EVENT);
    ev.attempts = (int32_t)db_get_i64(x->lease, row, C_ATTEMPTS);
    ev.last_error = (char *)x->o[i].err;
    ev.dead_lettered_at_us = now_us();
    char agg[24];
    return ev_outbox_add(conn, NOTIF_TOPIC, "notification.dead_lettered",
                         db_i64(agg, ev.user_id), &ev.base, NULL);
}

static int done_tx(db_conn *conn, void *arg)
{
    const done_ctx *x = arg;
    db_array a[6];
    for (int k = 0; k < 6; k++)
        db_array_init(&a[k]);
    for (size_t i = 0; i < x->n; i++) {
        if (x->o[i].unrecorded)
            continue;
        db_array_i64(&a[0], x->o[i].id);
        db_array_text(&a[1], x->o[i].state);
        db_array_i64(&a[2], x->o[i].due_us);
        db_array_text(&a[3], x->o[i].err);
        db_array_i64(&a[4], x->o[i].sent_us);
        db_array_i64(&a[5], x->o[i].adj);
    }
    const char *p[6];
    for (int k = 0; k < 6; k++)
        p[k] = db_array_str(&a[k]);
    int rc = 0;
    PGresult *r = db_exec(conn, "deliver_done", 6, p, &rc);
    for (int k = 0; k < 6; k++)
        db_array_free(&a[k]);
    if (r == NULL)
        return rc;
    PQclear(r);
    for (size_t i = 0; i < x->n && rc == 0; i++)
        if (strcmp(x->o[i].state, "dead") == 0)
            rc = dead_letter(conn, x, i);
    return rc;
}

/* One round. Returns the deliveries leased, or -1 when the database
 * failed (logged). */
static int round_run(unsigned *seed)
{
    db_conn *conn = db_pool_get(notif.db, 1000);
    if (conn == NULL)
        return -1;
    int64_t now = now_us();
    char at[24], lim[24], lease[24];
    const char *p[] = { db_i64(at, now), db_i64(lim, notif.batch),
                        db_i64(lease, notif.lease_ms * 1000) };
    int rc = 0;
    PGresult *r = db_exec(conn, "deliver_lease", 3, p, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        return -1;
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    outcome *o = xcalloc((size_t)n, sizeof *o);
    char(*errs)[256] = xcalloc((size_t)n, sizeof *errs);
    notif_delivery *d = xcalloc((size_t)n, sizeof *d);
    size_t *rt = xcalloc((size_t)n, sizeof *rt), nrt = 0;
    for (int i = 0; i < n; i++)
        if (decide(r, i, now, seed, &o[i], &d[i], errs[i], sizeof errs[i]))
            rt[nrt++] = (size_t)i;
    /* The round's realtime messages: one Redis pipeline. When it fails,
     * each one is retried; the ones Redis did publish are marked there and
     * publish nothing the next time (send_realtime.c). */
    if (nrt > 0) {
        const notif_delivery **batch = xcalloc(nrt, sizeof *batch);
        for (size_t k = 0; k < nrt; k++)
            batch[k] = &d[rt[k]];
        char err[256] = "";
        int sent = send_realtime_batch(batch, nrt, err, sizeof err);
        for (size_t k = 0; k < nrt; k++) {
            if (sent != NOTIF_SEND_OK)
                snprintf(errs[rt[k]], sizeof errs[rt[k]], "%s", err);
            settle(&d[rt[k]], sent, 0, now, seed, &o[rt[k]], errs[rt[k]]);
        }
        free(batch);
    }
    free(rt);
    free(d);
    done_ctx x = { .o = o, .n = (size_t)n, .lease = r };
    rc = db_tx(notif.db, DB_READ_COMMITTED, done_tx, &x);
    if (rc < 0)
        log_error("recording %d delivery outcomes failed (%s); their leases will expire",
                  n, db_strerror(rc));
    else if (notif.relay != NULL)
        ev_relay_kick(notif.relay);
    free(errs);
    free(o);
    PQclear(r);
    return rc < 0 ? -1 : n;
}

/* Waits for a kick, the poll interval, or a stop. Returns false to stop. */
static bool idle_wait(uint64_t *seen, int ms_after_error)
{
    pthread_mutex_lock(&wk.mu);
    while (!wk.stopping && wk.kicks == *seen) {
        int64_t ms = notif.poll_ms;
        if (mono_us() - wk.kicked_us < KICK_WINDOW_US)
            ms = KICK_RETRY_MS;
        if (ms_after_error > ms)
            ms = ms_after_error;
        struct timespec ts;
        deadline_after_ms(&ts, ms);
        if (pthread_cond_timedwait(&wk.cv, &wk.mu, &ts) != 0)
            break;
    }
    *seen = wk.kicks;
    bool go = !wk.stopping;
    pthread_mutex_unlock(&wk.mu);
    return go;
}

static void *worker_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg ^ (unsigned)now_us();
    uint64_t seen = 0;
    int failures = 0;
    for (;;) {
        int n = round_run(&seed);
        failures = n < 0 ? failures + 1 : 0;
        if (n >= notif.batch) {
            pthread_mutex_lock(&wk.mu);
            bool stop = wk.stopping;
            pthread_mutex_unlock(&wk.mu);
            if (stop)
                break;
            continue; /* more may be due */
        }
        /* After failures back off up to 5 s, so a database outage is not
         * hammered. */
        int wait = failures == 0 ? 0 : failures >= 6 ? 5000 : 100 << (failures - 1);
        if (!idle_wait(&seen, wait))
            break;
    }
    send_email_thread_close();
    send_http_thread_close();
    rds_thread_close();
    return NULL;
}

int deliver_start(void)
{
    wk.n = (size_t)notif.workers;
    wk.threads = xcalloc(wk.n, sizeof *wk.threads);
    wk.stopping = false;
    for (size_t i = 0; i < wk.n; i++) {
        if (pthread_create(&wk.threads[i], NULL, worker_main, (void *)(uintptr_t)(i + 1)) != 0) {
            log_error("cannot start delivery worker %zu", i);
            wk.n = i;
            deliver_stop();
            return -1;
        }
    }
    log_info("%zu delivery workers started", wk.n);
    return 0;
}

void deliver_stop(void)
{
    if (wk.threads == NULL)
        return;
    pthread_mutex_lock(&wk.mu);
    wk.stopping = true;
    pthread_cond_broadcast(&wk.cv);
    pthread_mutex_unlock(&wk.mu);
    for (size_t i = 0; i < wk.n; i++)
        pthread_join(wk.threads[i], NULL);
    free(wk.threads);
    wk.threads = NULL;
    wk.n = 0;
}

void deliver_kick(void)
{
    pthread_mutex_lock(&wk.mu);
    wk.kicks++;
    wk.kicked_us = mono_us();
    pthread_cond_broadcast(&wk.cv);
    pthread_mutex_unlock(&wk.mu);
}
