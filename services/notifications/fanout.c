/*
 * One notification to a set of users, in the consumer's transaction: an
 * inbox row per user (unique per event and user, so a replayed event
 * writes nothing twice) and a pending delivery per channel the user's
 * preferences choose for the kind, or the platform default. Only
 * channels with a sender get rows; email only when the user has an
 * address or is not known yet (the sender waits for it).
 * Bursty kinds carry a coalesce key per (lot, kind), which the workers
 * use to fold a burst into its latest message. A NEW_MATCH email is a
 * digest delivery, due GAVEL_NOTIFICATIONS_DIGEST_S later (digest.c).
 * The row keeps the English texts; a user whose language is Russian also
 * gets the Russian ones, which their email, push and Telegram use.
 */
#include <stdio.h>

#include "notif.h"

int notif_fanout_write(db_conn *conn, const notif_fanout *f)
{
    if (f->n == 0)
        return 0;
    db_array users, subs;
    db_array_init(&users);
    db_array_init(&subs);
    for (size_t i = 0; i < f->n; i++) {
        db_array_i64(&users, f->users[i]);
        db_array_i64(&subs, f->subscriptions != NULL ? f->subscriptions[i] : 0);
    }
    char kind[24], lot[24], at[24], link[48], key[64] = "", digest[24];
    if (f->lot_id > 0)
        snprintf(link, sizeof link, "/lots/%lld", (long long)f->lot_id);
    else
        link[0] = '\0';
    if (notif_kind_coalesces(f->kind) && f->lot_id > 0)
        snprintf(key, sizeof key, "lot:%lld:%d", (long long)f->lot_id, f->kind);
    /* A digest's window starts when the match is found, whatever the
     * event's own time. */
    int64_t digest_due = notif.digest_s > 0 ? now_us() + notif.digest_s * 1000000 : 0;
    const char *p[] = { db_array_str(&users), db_array_str(&subs), db_i64(kind, f->kind),
                        f->texts->title[NOTIF_LANG_EN], f->texts->body[NOTIF_LANG_EN],
                        db_i64(lot, f->lot_id), link, f->event_id,
                        db_i64(at, f->at_us), notif_default_channels(f->kind),
                        notif_live_channels(), key, db_i64(digest, digest_due),
                        f->texts->title[NOTIF_LANG_RU], f->texts->body[NOTIF_LANG_RU] };
    int rc = 0;
    PGresult *r = db_exec(conn, "fanout", 15, p, &rc);
    db_array_free(&users);
    db_array_free(&subs);
    if (r == NULL)
        return rc;
    mx_add(notif_mx.created, (double)db_get_i64(r, 0, 0));
    if (db_get_i64(r, 0, 1) > 0)
        deliver_kick();
    PQclear(r);
    return 0;
}
