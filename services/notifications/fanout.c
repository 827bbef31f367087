/*
 * Notifications to sets of users, in the consumer's transaction: an inbox
 * row per user (unique per event and user, so a replayed event writes
 * nothing twice) and a pending delivery per channel the user's
 * preferences choose for the kind, or the platform default. Only
 * channels with a sender get rows; email only when the user has an
 * address or is not known yet (the sender waits for it).
 * Bursty kinds carry a coalesce key per (lot, kind), which the workers
 * use to fold a burst into its latest message. A NEW_MATCH email is a
 * digest delivery, due GAVEL_NOTIFICATIONS_DIGEST_S later (digest.c).
 * The row keeps the English texts; a user whose language is Russian also
 * gets the Russian ones, which every channel and the inbox then use.
 *
 * Set-based: notif_fanout_write only gathers; notif_fanout_flush, the
 * consumer's batch end, writes every notification of the batch with one
 * statement ("fanout"), whatever the number of events and recipients.
 * Both run on the consumer's thread only (the gathered batch is its own).
 */
#include <stdio.h>

#include "notif.h"

/* The batch gathered so far: one entry per notification (kind, texts,
 * …) and one per recipient (which notification, user, subscription). */
enum { F_KIND, F_TITLE, F_BODY, F_LOT, F_LINK, F_EVENT, F_AT, F_DEFAULTS, F_KEY, F_DIGEST,
       F_TITLE_RU, F_BODY_RU, F_N };
enum { R_NOTIF, R_USER, R_SUB, R_N };

static struct {
    db_array f[F_N], r[R_N];
    size_t notifications, recipients;
    bool ready;          /* the arrays are initialised */
} batch;

static void batch_reset(void)
{
    batch.ready = true;
    for (int k = 0; k < F_N; k++) {
        db_array_free(&batch.f[k]);
        db_array_init(&batch.f[k]);
    }
    for (int k = 0; k < R_N; k++) {
        db_array_free(&batch.r[k]);
        db_array_init(&batch.r[k]);
    }
    batch.notifications = batch.recipients = 0;
}

int notif_fanout_write(db_conn *conn, const notif_fanout *f)
{
    (void)conn;
    if (f->n == 0)
        return 0;
    if (!batch.ready)
        batch_reset();
    char link[48] = "", key[64] = "";
    if (f->lot_id > 0)
        snprintf(link, sizeof link, "/lots/%lld", (long long)f->lot_id);
    if (notif_kind_coalesces(f->kind) && f->lot_id > 0)
        snprintf(key, sizeof key, "lot:%lld:%d", (long long)f->lot_id, f->kind);
    /* A digest's window starts when the match is found, whatever the
     * event's own time. */
    int64_t digest_due = notif.digest_s > 0 ? now_us() + notif.digest_s * 1000000 : 0;
    db_array_i64(&batch.f[F_KIND], f->kind);
    db_array_text(&batch.f[F_TITLE], f->texts->title[NOTIF_LANG_EN]);
    db_array_text(&batch.f[F_BODY], f->texts->body[NOTIF_LANG_EN]);
    db_array_i64(&batch.f[F_LOT], f->lot_id);
    db_array_text(&batch.f[F_LINK], link);
    db_array_text(&batch.f[F_EVENT], f->event_id);
    db_array_i64(&batch.f[F_AT], f->at_us);
    db_array_text(&batch.f[F_DEFAULTS], notif_default_channels(f->kind));
    db_array_text(&batch.f[F_KEY], key);
    db_array_i64(&batch.f[F_DIGEST], digest_due);
    db_array_text(&batch.f[F_TITLE_RU], f->texts->title[NOTIF_LANG_RU]);
    db_array_text(&batch.f[F_BODY_RU], f->texts->body[NOTIF_LANG_RU]);
    batch.notifications++;
    for (size_t i = 0; i < f->n; i++) {
        db_array_i64(&batch.r[R_NOTIF], (int64_t)batch.notifications); /* 1-based ordinal */
        db_array_i64(&batch.r[R_USER], f->users[i]);
        db_array_i64(&batch.r[R_SUB], f->subscriptions != NULL ? f->subscriptions[i] : 0);
    }
    batch.recipients += f->n;
    return 0;
}

int notif_fanout_flush(db_conn *conn, bool ok, void *arg)
{
    (void)arg;
    if (!ok || batch.recipients == 0) {
        batch_reset();
        return 0;
    }
    const char *p[R_N + F_N + 1];
    for (int k = 0; k < R_N; k++)
        p[k] = db_array_str(&batch.r[k]);
    for (int k = 0; k < F_N; k++)
        p[R_N + k] = db_array_str(&batch.f[k]);
    p[R_N + F_N] = notif_live_channels();
    int rc = 0;
    PGresult *r = db_exec(conn, "fanout", R_N + F_N + 1, p, &rc);
    batch_reset();
    if (r == NULL)
        return rc;
    mx_add(notif_mx.created, (double)db_get_i64(r, 0, 0));
    if (db_get_i64(r, 0, 1) > 0)
        deliver_kick();
    PQclear(r);
    return 0;
}

void notif_fanout_close(void)
{
    for (int k = 0; k < F_N; k++)
        db_array_free(&batch.f[k]);
    for (int k = 0; k < R_N; k++)
        db_array_free(&batch.r[k]);
    batch.ready = false;
    batch.notifications = batch.recipients = 0;
}
