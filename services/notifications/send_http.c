/*
 * One POST for the HTTP channels (webhooks, Telegram, push) through
 * libcurl, on a handle per worker thread so connections are reused: no
 * redirects, http and https only, the whole exchange bounded by
 * GAVEL_NOTIFICATIONS_HTTP_TIMEOUT_MS, the answer's body read and dropped
 * (at most 64 KiB). For webhooks every address the name resolves to is
 * checked before connecting (notif_addr_allowed), so a public name that
 * points inside is refused, and no proxy is used. Also the JSON of a notification that these
 * channels carry.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "notif.h"

static __thread CURL *curl_handle; /* this worker's */

enum { REPLY_MAX = 65536 };

static size_t drop_cb(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    size_t *seen = arg;
    *seen += size * n;
    return *seen > REPLY_MAX ? 0 : size * n;
}

/* Refuses sockets to addresses a webhook may not reach. */
static curl_socket_t open_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    bool *refused = arg;
    if (!notif_addr_allowed(&a->addr)) {
        *refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* Retry-After in seconds (an HTTP date is treated as absent). */
static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
    int64_t *retry_ms = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[32];
        size_t vl = len - (sizeof name - 1);
        if (vl >= sizeof v)
            vl = sizeof v - 1;
        memcpy(v, p + sizeof name - 1, vl);
        v[vl] = '\0';
        char *end = NULL;
        long long s = strtoll(v, &end, 10);
        if (end != v && s >= 0 && s <= 86400)
            *retry_ms = s * 1000;
    }
    return len;
}

int notif_http_post(const notif_http_req *r, int64_t *retry_after_ms, char *err, size_t errlen)
{
    *retry_after_ms = 0;
    if (curl_handle == NULL && (curl_handle = curl_easy_init()) == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return NOTIF_SEND_FAIL;
    }
    CURL *c = curl_handle;
    size_t seen = 0;
    bool refused = false;
    int64_t retry_ms = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Gavel-Notifications/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &retry_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)notif.http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)notif.http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (r->public_only) {
        /* No proxy from the environment: the check must see the partner's
         * own addresses. */
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cb);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &refused);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code >= 200 && code < 300)) {
        snprintf(err, errlen, "%s%s (status %ld)", curl_easy_strerror(rc),
                 refused ? ": the address is not public" : "", code);
        return NOTIF_SEND_FAIL;
    }
    if (code < 200 || code > 299) {
        if (code == 429 || code == 503)
            *retry_after_ms = retry_ms;
        snprintf(err, errlen, "answered %ld", code);
        return NOTIF_SEND_FAIL;
    }
    return NOTIF_SEND_OK;
}

void send_http_thread_close(void)
{
    if (curl_handle != NULL)
        curl_easy_cleanup(curl_handle);
    curl_handle = NULL;
}

json_t *notif_delivery_json(const notif_delivery *d)
{
    char url[2300] = "";
    if (d->link[0] != '\0')
        snprintf(url, sizeof url, "%s%s", notif.web_url, d->link);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I}",
                     "id", (json_int_t)d->notification_id, "user_id", (json_int_t)d->user_id,
                     "kind", notif_kind_name(d->kind), "language",
                     d->lang == NOTIF_LANG_RU ? "ru" : "en", "title", d->title, "body", d->body,
                     "lot_id", (json_int_t)d->lot_id, "link", d->link, "url", url,
                     "event_id", d->event_id, "created_at_us", (json_int_t)d->created_at_us);
}
