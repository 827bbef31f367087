/*
 * The webhook channel: one signed JSON POST per (notification, webhook).
 * The body is fixed per notification, so a retried delivery carries the
 * same bytes and the same X-Gavel-Event-Id ("notification-<id>", as the
 * email's Message-ID) for the partner to de-duplicate; only the timestamp
 * and signature are new per attempt:
 *   X-Gavel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * Any 2xx acknowledges. A failure starts (or continues) the webhook's run
 * of failures; one longer than GAVEL_WEBHOOK_DISABLE_AFTER_MS turns the
 * webhook off (is_active false, counted) and dead-letters the delivery;
 * a success ends the run. A webhook deleted or off meanwhile: skipped.
 * The contract is docs/notifications-webhooks.md.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notif.h"

enum { SECRET_CAP = 512 };

/* Records the attempt's outcome on the webhook. Returns whether it is
 * still on (true when that cannot be told: the next attempt tells). */
static bool health(int64_t webhook_id, bool ok)
{
    db_conn *conn = db_pool_get(notif.db, 1000);
    if (conn == NULL)
        return true;
    char id[24], at[24], lim[24];
    const char *p[] = { db_i64(id, webhook_id), db_i64(at, ok ? 0 : now_us()),
                        db_i64(lim, notif.webhook_disable_ms * 1000) };
    int rc = 0;
    PGresult *r = db_exec(conn, "webhook_health", 3, p, &rc);
    db_pool_put(notif.db, conn);
    bool on = r == NULL || PQntuples(r) == 0 || db_get_bool(r, 0, 0);
    if (r == NULL)
        log_warn("webhook %lld: recording its health failed (%s)", (long long)webhook_id,
                 db_strerror(rc));
    PQclear(r);
    return on;
}

static char *body_of(const notif_delivery *d)
{
    json_t *n = notif_delivery_json(d);
    if (n == NULL)
        return NULL;
    char id[40];
    snprintf(id, sizeof id, "notification-%lld", (long long)d->notification_id);
    json_t *o = json_pack("{s:s, s:s, s:o}", "id", id, "kind", notif_kind_name(d->kind),
                          "notification", n);
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int send_webhook(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen)
{
    *retry_after_ms = 0;
    if (d->webhook_url[0] == '\0' || !d->webhook_active) {
        snprintf(err, errlen, "webhook %lld deleted or off", (long long)d->target_id);
        return NOTIF_SEND_SKIP;
    }
    uint8_t secret[SECRET_CAP];
    size_t sl = 0;
    if (webhook_secret_open(d->webhook_secret, secret, sizeof secret, &sl) != 0) {
        snprintf(err, errlen, "webhook %lld: its secret cannot be opened with this key",
                 (long long)d->target_id);
        return NOTIF_SEND_FAIL;
    }
    char *body = body_of(d);
    if (body == NULL) {
        OPENSSL_cleanse(secret, sizeof secret);
        snprintf(err, errlen, "the notification cannot be written as JSON");
        return NOTIF_SEND_GIVE_UP;
    }
    size_t len = strlen(body);
    int64_t t = now_us() / 1000000;
    char sig[65];
    int signed_ok = webhook_sign(secret, sl, t, body, len, sig);
    OPENSSL_cleanse(secret, sizeof secret);
    if (signed_ok != 0) {
        free(body);
        snprintf(err, errlen, "signing failed");
        return NOTIF_SEND_FAIL;
    }
    char h_sig[128], h_ts[48], h_ev[64], h_dl[48], h_kind[64];
    snprintf(h_sig, sizeof h_sig, "X-Gavel-Signature: t=%lld,v1=%s", (long long)t, sig);
    snprintf(h_ts, sizeof h_ts, "X-Gavel-Timestamp: %lld", (long long)t);
    snprintf(h_ev, sizeof h_ev, "X-Gavel-Event-Id: notification-%lld",
             (long long)d->notification_id);
    snprintf(h_dl, sizeof h_dl, "X-Gavel-Delivery-Id: %lld", (long long)d->id);
    snprintf(h_kind, sizeof h_kind, "X-Gavel-Kind: %s", notif_kind_name(d->kind));
    struct curl_slist *h = NULL;
    const char *lines[] = { "Content-Type: application/json", h_sig, h_ts, h_ev, h_dl, h_kind,
                            "Expect:" };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct curl_slist *n = curl_slist_append(h, lines[i]);
        if (n == NULL) {
            curl_slist_free_all(h);
            free(body);
            snprintf(err, errlen, "out of memory");
            return NOTIF_SEND_FAIL;
        }
        h = n;
    }
    notif_http_req req = { .url = d->webhook_url, .headers = h, .body = body, .len = len,
                           .public_only = true };
    int rc = notif_http_post(&req, retry_after_ms, err, errlen);
    curl_slist_free_all(h);
    free(body);
    if (!health(d->target_id, rc == NOTIF_SEND_OK) && rc != NOTIF_SEND_OK) {
        mx_add(notif_mx.webhooks_disabled, 1);
        log_warn("webhook %lld of user %lld turned off after failing for %lld ms: %s",
                 (long long)d->target_id, (long long)d->user_id,
                 (long long)notif.webhook_disable_ms, err);
        size_t el = strlen(err);
        snprintf(err + el, errlen - el, "; webhook turned off");
        return NOTIF_SEND_GIVE_UP;
    }
    return rc;
}
