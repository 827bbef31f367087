/*
 * The card provider adapter's transport: one HTTP exchange per attempt
 * through libcurl, with a small pool of easy handles (taken under a mutex,
 * used by one thread at a time, so connections are reused and any thread
 * may call), and the retry policy of provider.h: network errors and 5xx are
 * retried with exponential backoff and full jitter while the call's budget
 * lasts, each attempt bounded by the per-attempt timeout; a 429 is returned
 * at once with its Retry-After. Every attempt of a call sends the same
 * bytes and the same Idempotency-Key, so the provider acts at most once.
 * No redirects are followed and only http and https are spoken.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "provider_int.h"

enum { POOL_MAX = 8, BACKOFF_FIRST_MS = 50, BACKOFF_CAP_MS = 2000, RETRY_AFTER_MAX_S = 3600 };

struct provider {
    char *base;              /* without trailing '/' */
    char *auth;              /* "Authorization: Bearer <key>" */
    int timeout_ms, budget_ms;
    pthread_mutex_t mu;      /* guards idle[] */
    CURL *idle[POOL_MAX];
    int n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

/* A key goes into a header line: printable ASCII without spaces only. */
static bool is_token(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= max || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n > 0;
}

provider *provider_open(const char *base_url, const char *api_key, int timeout_ms, int budget_ms)
{
    if (base_url == NULL || api_key == NULL || timeout_ms <= 0 || budget_ms < timeout_ms ||
        !is_token(api_key, 512) || !is_token(base_url, 2048) ||
        (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
        return NULL;
    pthread_once(&curl_once, curl_start);
    provider *p = xcalloc(1, sizeof *p);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    p->base = xstrndup(base_url, n);
    p->auth = xasprintf("Authorization: Bearer %s", api_key);
    p->timeout_ms = timeout_ms;
    p->budget_ms = budget_ms;
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void provider_close(provider *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    OPENSSL_cleanse(p->auth, strlen(p->auth));
    free(p->auth);
    free(p->base);
    free(p);
}

static CURL *handle_take(provider *p)
{
    CURL *c = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle > 0)
        c = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    return c != NULL ? c : curl_easy_init();
}

static void handle_give(provider *p, CURL *c)
{
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < POOL_MAX) {
        p->idle[p->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (c != NULL)
        curl_easy_cleanup(c);
}

/* One attempt's answer. */
typedef struct {
    CURLcode rc;
    long status;            /* 0 when no answer arrived */
    int retry_after_s;
    char *data;             /* NUL-terminated */
    size_t len;
} attempt;

static size_t collect_cb(char *p, size_t size, size_t n, void *arg)
{
    attempt *a = arg;
    size_t add = size * n;
    if (a->len + add > PROV_REPLY_MAX)
        return 0;
    a->data = xrealloc(a->data, a->len + add + 1);
    memcpy(a->data + a->len, p, add);
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

/* Retry-After as delay-seconds; an HTTP date or nonsense counts as 1 s. */
static int retry_after_of(CURL *c)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return 1;
    char *end = NULL;
    long long s = strtoll(h->value, &end, 10);
    if (end == h->value || *end != '\0' || s < 1)
        return 1;
    return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (int)s;
}

static void attempt_once(provider *p, const prov_request *req, int timeout_ms, attempt *a)
{
    memset(a, 0, sizeof *a);
    CURL *c = handle_take(p);
    if (c == NULL) {
        a->rc = CURLE_FAILED_INIT;
        return;
    }
    char *url = xasprintf("%s%s", p->base, req->path);
    char *idem = req->is_post ? xasprintf("Idempotency-Key: %s", req->idem_key) : NULL;
    struct curl_slist *h = NULL, *n;
    const char *lines[] = { p->auth, "Accept: application/json",
                            "Content-Type: application/json", "Expect:", idem };
    for (size_t i = 0; i < sizeof lines / sizeof *lines && lines[i] != NULL; i++) {
        if ((n = curl_slist_append(h, lines[i])) == NULL)
            panic("out of memory");
        h = n;
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Gavel-Payments/1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    if (req->is_post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    a->rc = curl_easy_perform(c);
    if (a->rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
        if (a->status == 429)
            a->retry_after_s = retry_after_of(c);
    }
    /* The pool keeps the handle, so it must not point at this call's memory. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    free(idem);
    free(url);
    handle_give(p, c);
}

/* Full jitter over an exponential cap: uniform in [cap/2, cap]. */
static int64_t backoff_ms(int n)
{
    static __thread uint64_t seed;
    if (seed == 0)
        seed = (uint64_t)mono_us() ^ (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15ull;
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    int64_t cap = BACKOFF_FIRST_MS;
    for (int i = 0; i < n && cap < BACKOFF_CAP_MS; i++)
        cap *= 2;
    if (cap > BACKOFF_CAP_MS)
        cap = BACKOFF_CAP_MS;
    return cap / 2 + (int64_t)(seed % (uint64_t)(cap / 2 + 1));
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

prov_status prov__fail(prov_error *err, prov_status st, const char *code, const char *fmt, ...)
{
    if (code != NULL)
        snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return st;
}

void prov__copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--; /* src[n] would start the cut-off part: end before it */
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
    dst[n] = '\0';
    if (!utf8_valid(dst, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)dst[i] >= 0x80)
                dst[i] = '?';
}

/* The answer of a non-2xx status, mapped and described. */
static prov_status map_failure(const attempt *a, json_t *body, prov_error *err)
{
    err->http_status = (int)a->status;
    json_t *e = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code != NULL)
        prov__copy_text(err->code, sizeof err->code, code);
    if (msg != NULL)
        prov__copy_text(err->message, sizeof err->message, msg);
    else
        snprintf(err->message, sizeof err->message, "the provider answered HTTP %ld", a->status);
    if (a->status == 429) {
        err->retry_after_s = a->retry_after_s;
        return PROV_BACKOFF;
    }
    if (a->status == 402)
        return PROV_DECLINED;
    if (a->status == 404)
        return PROV_NOT_FOUND;
    if (a->status >= 400 && a->status < 500)
        return PROV_REJECTED;
    return PROV_UNAVAILABLE;
}

static bool is_transient(const attempt *a)
{
    if (a->rc == CURLE_WRITE_ERROR)   /* an answer over PROV_REPLY_MAX: no better next time */
        return false;
    return a->rc != CURLE_OK || a->status >= 500;
}

prov_status prov__send(provider *p, const prov_request *req, json_t **reply, prov_error *err)
{
    *reply = NULL;
    int64_t deadline = mono_us() + (int64_t)p->budget_ms * 1000;
    attempt a = { 0 };
    for (int n = 0;; n++) {
        int64_t left_ms = (deadline - mono_us()) / 1000;
        int timeout = left_ms < p->timeout_ms ? (int)left_ms : p->timeout_ms;
        if (timeout < 1)
            timeout = 1;
        free(a.data);
        attempt_once(p, req, timeout, &a);
        if (!is_transient(&a))
            break;
        int64_t wait = backoff_ms(n);
        if (mono_us() + wait * 1000 >= deadline)
            break;
        sleep_ms(wait);
    }
    if (a.rc != CURLE_OK) {
        err->http_status = 0;
        prov__fail(err, PROV_UNAVAILABLE, "network_error", "%s %s: %s",
                   req->is_post ? "POST" : "GET", req->path,
                   a.rc == CURLE_WRITE_ERROR ? "the answer is over 1 MiB" : curl_easy_strerror(a.rc));
        free(a.data);
        return PROV_UNAVAILABLE;
    }
    json_error_t jerr;
    json_t *body = a.len > 0 ? json_loadb(a.data, a.len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    free(a.data);
    if (a.status >= 200 && a.status < 300) {
        if (json_is_object(body)) {
            *reply = body;
            return PROV_OK;
        }
        json_decref(body);
        err->http_status = (int)a.status;
        return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                          "the provider answered HTTP %ld to %s without a JSON object",
                          a.status, req->path);
    }
    prov_status st = map_failure(&a, body, err);
    if (json_is_object(body))
        *reply = body;
    else
        json_decref(body);
    return st;
}
