/*
 * The Telegram channel: the Bot API's sendMessage at
 * GAVEL_TELEGRAM_API_URL/bot<GAVEL_TELEGRAM_BOT_TOKEN>/sendMessage, to the
 * chat id in the user's preferences, with the notification's (localised)
 * title, body and link as plain text. No chat id: skipped. The token is in
 * the URL, so errors never repeat the URL.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notif.h"

int send_telegram(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen)
{
    *retry_after_ms = 0;
    if (d->telegram_chat_id[0] == '\0') {
        snprintf(err, errlen, "no Telegram chat id");
        return NOTIF_SEND_SKIP;
    }
    char *text = NULL;
    if (asprintf(&text, "%s\n\n%s%s%s%s", d->title, d->body, d->link[0] != '\0' ? "\n\n" : "",
                 d->link[0] != '\0' ? notif.web_url : "", d->link) < 0)
        panic("out of memory");
    json_t *o = json_pack("{s:s, s:s, s:b}", "chat_id", d->telegram_chat_id, "text", text,
                          "disable_web_page_preview", 1);
    free(text);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body == NULL) {
        snprintf(err, errlen, "the message cannot be written as JSON");
        return NOTIF_SEND_GIVE_UP;
    }
    char *url = NULL;
    if (asprintf(&url, "%s/bot%s/sendMessage", notif.telegram_url, notif.telegram_token) < 0)
        panic("out of memory");
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    notif_http_req req = { .url = url, .headers = h, .body = body, .len = strlen(body) };
    int rc = h != NULL ? notif_http_post(&req, retry_after_ms, err, errlen) : NOTIF_SEND_FAIL;
    if (h == NULL)
        snprintf(err, errlen, "out of memory");
    curl_slist_free_all(h);
    free(url);
    free(body);
    return rc;
}
