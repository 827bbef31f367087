/*
 * Dropping a publisher: nginx-rtmp's control module answers
 * GET <control>/drop/publisher?app=live&name=<public name> by closing
 * that stream's publishing connection (its publish_done follows). Called
 * after a key was revoked or rotated, outside any transaction.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "streaming.h"

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

int strm_drop_publisher(const char *name)
{
    if (strcmp(strm.control_url, "off") == 0)
        return 0;
    char url[1024];
    if (snprintf(url, sizeof url, "%s/drop/publisher?app=live&name=%s", strm.control_url, name) >=
        (int)sizeof url)
        return -1;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return -1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || status >= 500) {
        log_warn("ingest control %s: %s (HTTP %ld); the publisher of %s goes at its next update",
                 strm.control_url, rc != CURLE_OK ? curl_easy_strerror(rc) : "error", status, name);
        return -1;
    }
    return 0;
}
