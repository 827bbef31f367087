/*
 * The HTTP/1.1 side of libwebsockets on the loop thread: each request's
 * headers are copied into a gw_req (lws keeps them only until the
 * transaction ends), its body is gathered up to GAVEL_GATEWAY_MAX_BODY
 * (GAVEL_GATEWAY_MEDIA_MAX for a photo upload),
 * the request is dispatched (rest.c), and its answer is written in one
 * lws_write with the headers every answer carries: the request id,
 * Cache-Control (no-store for the API), the Content-Security-Policy (none
 * for the API, the pages' own for the web UI's files), CORS for allowed
 * origins, Retry-After, Allow, ETag. The other security headers come from
 * the vhost (http_listener.c). Each answer writes one access-log line.
 *
 * Invariants: a connection carries at most one request at a time (lws
 * reads the next one only after the transaction completed); a request is
 * counted in flight from its headers to its answer or its connection's
 * end; a request whose connection went away while its job ran is freed
 * when the job's done callback finds it orphaned, never before. Nothing
 * here blocks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "request.h"
#include "routes.h"

/* lws per-session data of an HTTP connection. */
typedef struct gw_conn {
    struct lws *wsi;            /* set while listed */
    gw_req *req;                /* the request in progress, or NULL */
    struct gw_conn *prev, *next;
} gw_conn;

#define MAX_ORIGINS 32
#define FREE_REQS_MAX 256

static struct {
    gw_conn *conns;             /* open HTTP connections (loop thread) */
    gw_req *free_reqs;          /* reusable requests with their arenas (loop thread) */
    int nfree;
    bool is_draining;
    char *origins_buf;
    const char *origins[MAX_ORIGINS];
    size_t norigins;
    atomic_int in_flight;
} hs;

static const char *const method_names[GW_METHODS] = {
    [GW_GET] = "GET", [GW_POST] = "POST", [GW_PUT] = "PUT", [GW_PATCH] = "PATCH",
    [GW_DELETE] = "DELETE", [GW_HEAD] = "HEAD", [GW_OPTIONS] = "OPTIONS",
};

const char *gw_method_name(gw_method m)
{
    return m < GW_METHODS ? method_names[m] : "";
}

int gw_http_init(char *err, size_t errlen)
{
    hs.origins_buf = xstrdup(gw_cfg.cors_origins);
    hs.norigins = 0;
    for (char *save = NULL, *o = strtok_r(hs.origins_buf, ",", &save); o != NULL;
         o = strtok_r(NULL, ",", &save)) {
        while (*o == ' ')
            o++;
        size_t n = strlen(o);
        while (n > 0 && o[n - 1] == ' ')
            o[--n] = '\0';
        if (n == 0)
            continue;
        if (hs.norigins == MAX_ORIGINS) {
            snprintf(err, errlen, "GAVEL_GATEWAY_CORS_ORIGINS: more than %d origins",
                     MAX_ORIGINS);
            return -1;
        }
        if (strcmp(o, "*") != 0 && strncmp(o, "http://", 7) != 0 &&
            strncmp(o, "https://", 8) != 0) {
            snprintf(err, errlen,
                     "GAVEL_GATEWAY_CORS_ORIGINS: \"%.100s\" is not an origin "
                     "(scheme://host[:port]) or *", o);
            return -1;
        }
        hs.origins[hs.norigins++] = o;
    }
    return 0;
}

void gw_http_free(void)
{
    while (hs.free_reqs != NULL) {
        gw_req *r = hs.free_reqs;
        hs.free_reqs = r->next_free;
        arena_free(r->a);
        free(r);
    }
    hs.nfree = 0;
    free(hs.origins_buf);
    hs.origins_buf = NULL;
    hs.norigins = 0;
}

int gw_http_in_flight(void)
{
    return atomic_load(&hs.in_flight);
}

/* ---- requests ---- */

static gw_req *req_new(struct lws *wsi)
{
    gw_req *r = hs.free_reqs;
    if (r != NULL) {
        hs.free_reqs = r->next_free;
        hs.nfree--;
        arena *a = r->a;
        memset(r, 0, sizeof *r);
        r->a = a;
    } else {
        r = xcalloc(1, sizeof *r);
        r->a = arena_new();
    }
    r->wsi = wsi;
    r->t0_us = mono_us();
    return r;
}

static void req_free(gw_req *r)
{
    if (hs.nfree >= FREE_REQS_MAX) {
        arena_free(r->a);
        free(r);
        return;
    }
    arena_reset(r->a);
    r->next_free = hs.free_reqs;
    hs.free_reqs = r;
    hs.nfree++;
}

/* A request counts in flight from its dispatch (or early answer) until
 * its answer is written or its connection is gone. */
static void count_in(gw_req *r)
{
    r->is_counted = true;
    mx_set(gw_mx.in_flight, atomic_fetch_add(&hs.in_flight, 1) + 1);
}

static void count_out(gw_req *r)
{
    if (!r->is_counted)
        return;
    r->is_counted = false;
    mx_set(gw_mx.in_flight, atomic_fetch_sub(&hs.in_flight, 1) - 1);
}

/* ---- reading a request ---- */

static const char *hdr_dup(gw_req *r, struct lws *wsi, enum lws_token_indexes h)
{
    int n = lws_hdr_total_length(wsi, h);
    if (n <= 0)
        return NULL;
    char *s = arena_alloc(r->a, (size_t)n + 1);
    if (lws_hdr_copy(wsi, s, n + 1, h) < 0)
        return NULL;
    return s;
}

static const char *custom_dup(gw_req *r, struct lws *wsi, const char *name)
{
    int nlen = (int)strlen(name);
    int n = lws_hdr_custom_length(wsi, name, nlen);
    if (n <= 0)
        return NULL;
    char *s = arena_alloc(r->a, (size_t)n + 1);
    if (lws_hdr_custom_copy(wsi, s, n + 1, name, nlen) < 0)
        return NULL;
    return s;
}

/* 1..64 of [A-Za-z0-9._-]: what we accept from a client and forward. */
static bool is_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-') || n >= 64)
            return false;
    }
    return n > 0;
}

static void read_request_id(gw_req *r, struct lws *wsi)
{
    const char *id = custom_dup(r, wsi, "x-request-id:");
    if (id != NULL && is_request_id(id))
        snprintf(r->request_id, sizeof r->request_id, "%s", id);
    else
        request_id_new(r->request_id);
}

void gw_client_addr(struct lws *wsi, char *out, size_t outlen)
{
    char ip[RPC_ADDR_MAX] = "";
    lws_get_peer_simple(wsi, ip, sizeof ip);
    const char *p = strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL ? ip + 7 : ip;
    snprintf(out, outlen, "%s", p[0] != '\0' ? p : "unknown");
}

static void read_client_addr(gw_req *r, struct lws *wsi)
{
    gw_client_addr(wsi, r->client_addr, sizeof r->client_addr);
}

/* As lws decides it: HTTP/1.1 keeps the connection unless "close", 1.0
 * closes it unless "keep-alive". */
static bool read_keepalive(gw_req *r, struct lws *wsi)
{
    const char *ver = hdr_dup(r, wsi, WSI_TOKEN_HTTP);
    bool is_ka = ver != NULL && strlen(ver) > 7 && ver[5] == '1' && ver[7] == '1';
    const char *conn = hdr_dup(r, wsi, WSI_TOKEN_CONNECTION);
    if (conn != NULL && strlen(conn) < 24) {
        if (strcasecmp(conn, "keep-alive") == 0)
            is_ka = true;
        else if (strcasecmp(conn, "close") == 0)
            is_ka = false;
    }
    return is_ka;
}

static const char *allowed_origin(const char *origin)
{
    if (origin == NULL)
        return NULL;
    for (size_t i = 0; i < hs.norigins; i++)
        if (strcmp(hs.origins[i], "*") == 0 || strcasecmp(hs.origins[i], origin) == 0)
            return hs.origins[i][0] == '*' ? "*" : hs.origins[i];
    return NULL;
}

static void read_args(gw_req *r, struct lws *wsi)
{
    char buf[32768];
    size_t cap = 0;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, (int)sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (r->nargs == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = arena_alloc(r->a, cap * sizeof *grown);
            if (r->nargs > 0)
                memcpy(grown, r->args, r->nargs * sizeof *grown);
            r->args = grown;
        }
        r->args[r->nargs++] = arena_strndup(r->a, buf, (size_t)n);
    }
}

static gw_method read_method(struct lws *wsi)
{
    char *uri = NULL;
    int len = 0;
    switch (lws_http_get_uri_and_method(wsi, &uri, &len)) {
    case LWSHUMETH_GET: return GW_GET;
    case LWSHUMETH_POST: return GW_POST;
    case LWSHUMETH_PUT: return GW_PUT;
    case LWSHUMETH_PATCH: return GW_PATCH;
    case LWSHUMETH_DELETE: return GW_DELETE;
    case LWSHUMETH_HEAD: return GW_HEAD;
    case LWSHUMETH_OPTIONS: return GW_OPTIONS;
    default: return GW_METHODS;
    }
}

/* ---- answering ---- */

static void access_log(const gw_req *r, size_t bytes)
{
    if (!gw_cfg.is_access_log)
        return;
    int64_t us = now_us();
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char ts[40];
    size_t tn = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tn, sizeof ts - tn, ".%06dZ", (int)(us % 1000000));
    char line[640];
    int n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"info\",\"service\":\"gateway\",\"msg\":\"access\","
                     "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"ms\":%.3f,\"bytes\":%zu,"
                     "\"request_id\":\"%s\",\"client_addr\":\"%s\",\"user_id\":%lld}\n",
                     ts, gw_method_name(r->method), r->route != NULL ? gw_route_template(r->route)
                                                                      : "unmatched",
                     r->status, (double)(mono_us() - r->t0_us) / 1000.0, bytes, r->request_id,
                     r->client_addr, (long long)r->user_id);
    if (n > 0 && (size_t)n < sizeof line && write(2, line, (size_t)n) < 0)
        (void)errno;
}

/* The API's answers are data, never a page: they may load nothing. */
#define API_CSP "default-src 'none'; frame-ancestors 'none'"

#define ADD_HDR(name, val, len)                                                                \
    (lws_add_http_header_by_name(wsi, (const unsigned char *)(name),                          \
                                 (const unsigned char *)(val), (int)(len), &p, end) == 0)

static int put_headers(struct lws *wsi, gw_req *r, bool is_closing, unsigned char *start,
                       unsigned char *end, size_t *hlen)
{
    unsigned char *p = start;
    char num[24];
    bool ok = lws_add_http_header_status(wsi, (unsigned)r->status | LWSAHH_FLAG_NO_SERVER_NAME,
                                         &p, end) == 0;
    const char *type = r->out_type != NULL ? r->out_type : "application/json";
    const char *cache = r->cache_control != NULL ? r->cache_control : "no-store";
    const char *csp = r->csp != NULL ? r->csp : API_CSP;
    if (ok && (r->out_len > 0 || r->out_type != NULL))
        ok = ADD_HDR("content-type:", type, strlen(type));
    if (r->status != 204 && r->status != 304)
        ok = ok && lws_add_http_header_content_length(wsi, r->out_len, &p, end) == 0;
    ok = ok && ADD_HDR("x-request-id:", r->request_id, strlen(r->request_id));
    ok = ok && ADD_HDR("cache-control:", cache, strlen(cache));
    ok = ok && ADD_HDR("content-security-policy:", csp, strlen(csp));
    if (ok && r->etag[0] != '\0')
        ok = ADD_HDR("etag:", r->etag, strlen(r->etag));
    if (ok && r->cors_origin != NULL) {
        ok = ADD_HDR("access-control-allow-origin:", r->cors_origin, strlen(r->cors_origin)) &&
             ADD_HDR("vary:", "Origin", 6) &&
             ADD_HDR("access-control-expose-headers:", "X-Request-Id, Retry-After", 25);
        if (ok && r->is_preflight)
            ok = ADD_HDR("access-control-allow-methods:", r->allow, strlen(r->allow)) &&
                 ADD_HDR("access-control-allow-headers:", GW_CORS_ALLOW_HEADERS,
                         strlen(GW_CORS_ALLOW_HEADERS)) &&
                 ADD_HDR("access-control-max-age:", "600", 3);
    }
    if (ok && r->allow != NULL)
        ok = ADD_HDR("allow:", r->allow, strlen(r->allow));
    if (ok && r->is_auth_refused)
        ok = ADD_HDR("www-authenticate:", "Bearer", 6);
    if (ok && r->retry_after_s > 0) {
        int n = snprintf(num, sizeof num, "%lld", (long long)r->retry_after_s);
        ok = ADD_HDR("retry-after:", num, n);
    }
    if (ok && is_closing)
        ok = ADD_HDR("connection:", "close", 5);
    else if (ok && r->is_keepalive)
        ok = ADD_HDR("connection:", "keep-alive", 10);
    ok = ok && lws_finalize_http_header(wsi, &p, end) == 0;
    *hlen = (size_t)(p - start);
    return ok ? 0 : -1;
}

/* Bodies over this leave in parts of this size, one per writeable
 * callback, so lws copies aside at most what the socket did not take of
 * one part, never the rest of a large answer, and one large answer does
 * not hold the loop while other connections wait. Measured on
 * tests/bench/live.sh (195 KB segments, 1,000 players): 256 KB parts
 * 5,900-9,700 answers/s, 64 KB parts 6,300-7,100, the whole body in one
 * write 4,900-5,000 with twice the p99. */
#define PART_MAX (256 * 1024)

/* Writes the next part of r's body after its headers went; 1 while more
 * remain, 0 when the last went, -1 on a write error. lws may write in the
 * LWS_PRE bytes in front of a part, which are the end of the part before
 * (already sent, or copied aside by lws) and may be a live file's bytes
 * that other answers share: they are put back once lws_write returns. */
static int write_part(struct lws *wsi, gw_req *r)
{
    unsigned char saved[LWS_PRE], *p = r->out + r->sent;
    size_t n = r->out_len - r->sent;
    bool is_last = n <= PART_MAX;
    if (!is_last)
        n = PART_MAX;
    memcpy(saved, p - LWS_PRE, LWS_PRE);
    int w = lws_write(wsi, p, n, is_last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    memcpy(p - LWS_PRE, saved, LWS_PRE);
    if (w < 0)
        return -1;
    r->sent += n;
    return is_last ? 0 : 1;
}

/* Loop thread, in the connection's writeable callback. Returns what the
 * callback returns: 0, or -1 to close the connection (after lws flushed
 * what it holds). A large body leaves over several callbacks; the request
 * stays the connection's until its last part went. */
static int write_answer(struct lws *wsi, gw_conn *c)
{
    gw_req *r = c->req;
    unsigned char hdr[GW_HDR_ROOM];
    size_t hlen = 0, body = r->method == GW_HEAD ? 0 : r->out_len;
    int rc = 0;
    if (r->sent > 0) { /* the next part */
        rc = write_part(wsi, r);
        if (rc == 1) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        goto done;
    }
    r->is_closing = hs.is_draining || !r->is_keepalive || r->status == 413 || r->status == 411;
    if (put_headers(wsi, r, r->is_closing, hdr, hdr + sizeof hdr, &hlen) < 0) {
        log_error("answer headers of %s do not fit in %d bytes", r->request_id, GW_HDR_ROOM);
        rc = -1;
        goto done;
    }
    unsigned char *start = r->out - hlen;
    memcpy(start, hdr, hlen);
    if (body > PART_MAX) {
        if (lws_write(wsi, start, hlen + PART_MAX, LWS_WRITE_HTTP) < 0) {
            rc = -1;
            goto done;
        }
        r->sent = PART_MAX;
        lws_callback_on_writable(wsi);
        return 0;
    }
    rc = lws_write(wsi, start, hlen + body, LWS_WRITE_HTTP_FINAL) < 0 ? -1 : 0;
done:
    c->req = NULL; /* before the transaction ends: lws may free c with it */
    if (rc == 0 && (r->is_closing || lws_http_transaction_completed(wsi)))
        rc = -1;
    mx_observe(gw_mx.latency, (double)(mono_us() - r->t0_us) / 1e6);
    gw_routes_count(r->route, r->status);
    access_log(r, body);
    count_out(r);
    req_free(r);
    return rc;
}

/* The answer is ready: write it when the socket can take it. */
static void answer_ready(gw_req *r)
{
    if (r->wsi == NULL) {
        count_out(r);
        req_free(r);
        return;
    }
    lws_callback_on_writable(r->wsi);
}

void gw_http_job_done(gw_req *r)
{
    r->is_job_running = false;
    answer_ready(r);
}

static void start(gw_req *r)
{
    count_in(r);
    /* The job's deadline bounds it; this only guards against a lost answer. */
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                    (int)(gw_cfg.max_deadline_ms / 1000) + 30);
    if (gw_rest_dispatch(r) == 1)
        answer_ready(r);
}

/* An answer made on the loop before any job: counted in flight from now. */
static int refuse_now(gw_req *r, int status, const char *code, const char *msg)
{
    count_in(r);
    gw_answer_error(r, status, code, "%s", msg);
    answer_ready(r);
    return 0;
}

static void conn_list(gw_conn *c, struct lws *wsi)
{
    if (c->wsi != NULL)
        return;
    c->wsi = wsi;
    c->prev = NULL;
    c->next = hs.conns;
    if (hs.conns != NULL)
        hs.conns->prev = c;
    hs.conns = c;
}

static void conn_gone(gw_conn *c)
{
    if (c->wsi == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        hs.conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->wsi = NULL;
    gw_req *r = c->req;
    c->req = NULL;
    if (r == NULL)
        return;
    if (r->is_job_running) {
        r->wsi = NULL; /* the done callback frees it */
        return;
    }
    count_out(r);
    req_free(r);
}

/* Parses Content-Length strictly; -1 when malformed. */
static int64_t content_length(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    int64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > INT64_MAX / 10 - 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int on_request(struct lws *wsi, gw_conn *c, const char *uri, size_t len)
{
    conn_list(c, wsi);
    gw_req *r = req_new(wsi);
    c->req = r;
    r->method = read_method(wsi);
    r->path = arena_strndup(r->a, uri, len);
    read_request_id(r, wsi);
    read_client_addr(r, wsi);
    r->is_keepalive = read_keepalive(r, wsi);
    r->cors_origin = allowed_origin(hdr_dup(r, wsi, WSI_TOKEN_ORIGIN));
    r->authorization = hdr_dup(r, wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    r->content_type = hdr_dup(r, wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    r->idem_key = custom_dup(r, wsi, "idempotency-key:");
    r->timeout = custom_dup(r, wsi, "x-request-timeout-ms:");
    r->if_none_match = hdr_dup(r, wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    r->signature = custom_dup(r, wsi, "gavel-signature:");
    read_args(r, wsi);
    if (r->method == GW_METHODS)
        return refuse_now(r, 405, "method_not_allowed", "unsupported HTTP method");
    if (hdr_dup(r, wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) != NULL)
        return refuse_now(r, 411, "length_required",
                          "send the body with Content-Length, not Transfer-Encoding");
    const char *cl = hdr_dup(r, wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    int64_t n = cl != NULL ? content_length(cl) : 0;
    if (n < 0)
        return refuse_now(r, 400, "invalid_argument", "Content-Length is not a number");
    if (cl == NULL && (r->method == GW_POST || r->method == GW_PUT || r->method == GW_PATCH))
        return refuse_now(r, 411, "length_required",
                          "a POST, PUT or PATCH needs a Content-Length (0 without a body)");
    int64_t limit = gw_media_body_limit(r->method, r->path);
    if (n > limit) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is %lld bytes; the limit is %lld bytes",
                 (long long)n, (long long)limit);
        return refuse_now(r, 413, "payload_too_large", msg);
    }
    r->has_body = cl != NULL;
    /* lws delivers a body, or the empty body of a POST with Content-Length 0,
     * through the body callbacks; anything else is complete now. */
    if (n > 0 || (cl != NULL && r->method == GW_POST)) {
        r->body_cap = (size_t)n + 1;
        r->body = arena_alloc(r->a, r->body_cap);
        return 0;
    }
    start(r);
    return 0;
}

static int on_body(gw_conn *c, const void *in, size_t len)
{
    gw_req *r = c->req;
    if (r != NULL && r->out != NULL)
        return 0; /* refused already (411, 413): the connection closes after the answer */
    if (r == NULL || r->body == NULL || r->body_len + len >= r->body_cap)
        return -1;
    if (len == 0) /* lws's empty body of a POST with Content-Length: 0 */
        return 0;
    memcpy(r->body + r->body_len, in, len);
    r->body_len += len;
    return 0;
}

static int on_body_done(gw_conn *c)
{
    gw_req *r = c->req;
    if (r != NULL && r->out != NULL)
        return 0;
    if (r == NULL || r->body == NULL)
        return -1;
    r->body[r->body_len] = '\0';
    start(r);
    return 0;
}

/* A WebSocket upgrade is let through on /ws only; elsewhere 404. */
static int on_upgrade(struct lws *wsi, gw_conn *c, const char *what)
{
    char *uri = NULL;
    int len = 0;
    if (lws_http_get_uri_and_method(wsi, &uri, &len) < 0)
        return -1;
    if (strcasecmp(what, "websocket") == 0 && uri != NULL && len == 3 &&
        memcmp(uri, "/ws", 3) == 0)
        return 0;
    (void)c;
    return -1;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    gw_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return c != NULL ? on_request(wsi, c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c != NULL ? on_body(c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c != NULL ? on_body_done(c) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c == NULL || c->req == NULL || c->req->is_job_running || c->req->out == NULL)
            return 0;
        return write_answer(wsi, c);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_upgrade(wsi, c, in != NULL ? in : "");
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c != NULL)
            conn_gone(c);
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols gw_http_protocol = {
    "http", http_cb, sizeof(gw_conn), 0, 0, NULL, 4 * 1024 * 1024
};

void gw_http_drain(void)
{
    hs.is_draining = true;
    for (gw_conn *c = hs.conns; c != NULL; c = c->next)
        if (c->req == NULL)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}
