/*
 * NEW_MATCH email digests. While GAVEL_NOTIFICATIONS_DIGEST_S is on, the
 * fan-out writes each NEW_MATCH email as a digest delivery due one window
 * after its notification. The first of a user's to fall due takes every
 * pending digest delivery of that user with it: one email lists them all,
 * and they are recorded sent together the moment the server took it.
 *
 * One worker at a time builds a user's digest: it holds a session
 * advisory lock on the user for the build, the send and the record, so
 * two workers never mail the same lots; a worker that dies mid-send
 * gives the lock back with its connection, and its deliveries, still
 * pending, go again after their lease with the same Message-ID (the
 * first delivery's). A worker that finds the lock taken leaves its
 * delivery for a second later; one whose delivery is no longer pending
 * (it went in another worker's digest) records nothing for it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "notif.h"

/* Lots in one email; more go in the next one, a moment later. */
enum { DIGEST_MAX = 100 };

int deliver_digest(const notif_delivery *d, char *err, size_t errlen)
{
    db_conn *conn = db_pool_get(notif.db, 1000);
    if (conn == NULL) {
        snprintf(err, errlen, "no database connection for the digest");
        return NOTIF_SEND_FAIL;
    }
    char uid[24], lim[24];
    const char *p[] = { db_i64(uid, d->user_id), db_i64(lim, DIGEST_MAX) };
    int rc = 0;
    PGresult *r = db_exec(conn, "digest_lock", 1, p, &rc);
    if (r == NULL) {
        snprintf(err, errlen, "digest lock: %s", db_strerror(rc));
        db_pool_put(notif.db, conn);
        return NOTIF_SEND_FAIL;
    }
    bool locked = db_get_bool(r, 0, 0);
    PQclear(r);
    if (!locked) {
        db_pool_put(notif.db, conn);
        return NOTIF_SEND_BUSY;
    }
    int out = NOTIF_SEND_FAIL;
    r = db_exec(conn, "digest_rows", 2, p, &rc);
    if (r == NULL) {
        snprintf(err, errlen, "digest rows: %s", db_strerror(rc));
    } else {
        int n = PQntuples(r);
        notif_digest_item *items = xcalloc(n > 0 ? (size_t)n : 1, sizeof *items);
        db_array ids;
        db_array_init(&ids);
        bool mine = false;
        for (int i = 0; i < n; i++) {
            items[i] = (notif_digest_item){ .delivery_id = db_get_i64(r, i, 0),
                                            .title = db_get_str(r, i, 1),
                                            .body = db_get_str(r, i, 2),
                                            .link = db_get_str(r, i, 3) };
            mine = mine || items[i].delivery_id == d->id;
            db_array_i64(&ids, items[i].delivery_id);
        }
        if (!mine && n < DIGEST_MAX) {
            out = NOTIF_SEND_DONE;
        } else if (send_email_digest(d, items, (size_t)n, err, errlen) == 0) {
            char at[24];
            const char *q[] = { db_array_str(&ids), db_i64(at, now_us()) };
            PGresult *s = db_exec(conn, "digest_sent", 2, q, &rc);
            if (s == NULL)
                log_warn("digest of user %lld sent but not recorded (%s): it will go again",
                         (long long)d->user_id, db_strerror(rc));
            PQclear(s);
            out = mine ? NOTIF_SEND_OK : NOTIF_SEND_BUSY;
        }
        db_array_free(&ids);
        free(items);
        PQclear(r);
    }
    r = db_exec(conn, "digest_unlock", 1, p, &rc);
    PQclear(r);
    db_pool_put(notif.db, conn);
    return out;
}
