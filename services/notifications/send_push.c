/*
 * The push channel: one JSON POST per notification to the push gateway
 * at GAVEL_PUSH_URL (the service that speaks Web Push, FCM and APNs),
 * carrying the user's push tokens from their preferences and the
 * notification (the same object as a webhook's). No tokens: skipped.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notif.h"

int send_push(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen)
{
    *retry_after_ms = 0;
    json_t *tokens = json_loads(d->push_tokens, 0, NULL);
    if (!json_is_array(tokens) || json_array_size(tokens) == 0) {
        json_decref(tokens);
        snprintf(err, errlen, "no push tokens");
        return NOTIF_SEND_SKIP;
    }
    json_t *n = notif_delivery_json(d);
    json_t *o = n != NULL ? json_pack("{s:o, s:o}", "tokens", tokens, "notification", n) : NULL;
    if (n == NULL)
        json_decref(tokens);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body == NULL) {
        snprintf(err, errlen, "the message cannot be written as JSON");
        return NOTIF_SEND_GIVE_UP;
    }
    char idem[64];
    snprintf(idem, sizeof idem, "X-Gavel-Event-Id: notification-%lld",
             (long long)d->notification_id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h != NULL ? curl_slist_append(h, idem) : NULL;
    notif_http_req req = { .url = notif.push_url, .headers = h, .body = body,
                           .len = strlen(body) };
    int rc = h2 != NULL ? notif_http_post(&req, retry_after_ms, err, errlen) : NOTIF_SEND_FAIL;
    if (h2 == NULL)
        snprintf(err, errlen, "out of memory");
    curl_slist_free_all(h);
    free(body);
    return rc;
}
