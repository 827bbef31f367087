/*
 * The HTTP core's settings and series as tables, and the channels to the
 * services: users, auctions, notifications, search, payments and
 * streaming by address, bids by the
 * lot's instance
 * (GAVEL_BIDS_ADDR may list several, in index order; rpc_route.c says
 * which owns a lot).
 */
#include <stdio.h>

#include "http.h"

gw_http_settings gw_cfg;
gw_metric_set gw_mx;

const cfg_entry gw_http_config[] = {
    { "GAVEL_GATEWAY_PORT", "8080", CFG_INT, &gw_cfg.port, 1, 65535,
      "HTTP and WebSocket port" },
    { "GAVEL_GATEWAY_BIND", "127.0.0.1", CFG_STR, &gw_cfg.bind, 0, 0,
      "address the HTTP port binds (an IPv4 or IPv6 literal; 0.0.0.0 for every interface)" },
    { "GAVEL_GATEWAY_WORKERS", "32", CFG_INT, &gw_cfg.workers, 1, 1024,
      "worker threads for blocking work (calls to the services, token checks, limits)" },
    { "GAVEL_GATEWAY_QUEUE", "4096", CFG_INT, &gw_cfg.queue, 1, 1000000,
      "jobs queued or running at most; beyond it requests get 503 at once" },
    { "GAVEL_GATEWAY_AUTH_WORKERS", "4", CFG_INT, &gw_cfg.auth_workers, 1, 256,
      "worker threads of login, register and refresh alone, apart from the others" },
    { "GAVEL_GATEWAY_AUTH_QUEUE", "64", CFG_INT, &gw_cfg.auth_queue, 1, 100000,
      "login, register and refresh jobs queued or running at most; beyond it they get 503 "
      "at once" },
    { "GAVEL_GATEWAY_MAX_BODY", "1048576", CFG_INT, &gw_cfg.max_body, 1024, 4194304,
      "largest request body in bytes (413 above it)" },
    { "GAVEL_GATEWAY_MEDIA_MAX", "8388608", CFG_INT, &gw_cfg.media_max, 1024, 67108864,
      "largest uploaded photo in bytes (POST /api/v1/media; 413 above it)" },
    { "GAVEL_GATEWAY_MEDIA_DIR", "", CFG_STR, &gw_cfg.media_dir, 0, 0,
      "directory of uploaded photos, served at /media/; empty: $GAVEL_RUN_DIR/media, or "
      ".run/media without GAVEL_RUN_DIR" },
    { "GAVEL_GATEWAY_DEADLINE_MS", "5000", CFG_INT, &gw_cfg.deadline_ms, 50, 600000,
      "deadline of a call to a service when the client sets none" },
    { "GAVEL_GATEWAY_MAX_DEADLINE_MS", "30000", CFG_INT, &gw_cfg.max_deadline_ms, 50, 600000,
      "the longest deadline a client may ask for with X-Request-Timeout-Ms" },
    { "GAVEL_GATEWAY_KEEPALIVE_S", "60", CFG_INT, &gw_cfg.keepalive_s, 1, 3600,
      "an idle keep-alive connection is closed after this many seconds" },
    { "GAVEL_GATEWAY_IO_TIMEOUT_S", "10", CFG_INT, &gw_cfg.io_timeout_s, 1, 600,
      "a request's headers, and each part of its body, must arrive within this many seconds" },
    { "GAVEL_GATEWAY_MAX_HEADER", "32768", CFG_INT, &gw_cfg.max_header, 4096, 1048576,
      "most bytes of request line and headers (query strings included)" },
    { "GAVEL_GATEWAY_CORS_ORIGINS", "", CFG_STR, &gw_cfg.cors_origins, 0, 0,
      "origins allowed to call the API from a browser, comma-separated "
      "(https://app.example.com); * allows any; empty allows none" },
    { "GAVEL_GATEWAY_TLS_CERT", "", CFG_STR, &gw_cfg.tls_cert, 0, 0,
      "PEM certificate chain; with GAVEL_GATEWAY_TLS_KEY the port speaks only HTTPS" },
    { "GAVEL_GATEWAY_TLS_KEY", "", CFG_STR, &gw_cfg.tls_key, 0, 0,
      "PEM private key of GAVEL_GATEWAY_TLS_CERT" },
    { "GAVEL_GATEWAY_WEB_DIR", "web", CFG_STR, &gw_cfg.web_dir, 0, 0,
      "directory of the web UI, served at / (index.html) and by file path" },
    { "GAVEL_GATEWAY_ACCESS_LOG", "true", CFG_BOOL, &gw_cfg.is_access_log, 0, 0,
      "write one JSON line per answered request to stderr" },
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &gw_cfg.users_addr, 0, 0,
      "the users service (accounts, sessions, wallets)" },
    { "GAVEL_AUCTIONS_ADDR", "127.0.0.1:50052", CFG_STR, &gw_cfg.auctions_addr, 0, 0,
      "the auctions service (lots, catalog, pricing)" },
    { "GAVEL_BIDS_ADDR", "127.0.0.1:50053", CFG_STR, &gw_cfg.bids_addr, 0, 0,
      "the bids service; several instances comma-separated in index order: lot n goes to "
      "instance n % count" },
    { "GAVEL_NOTIFICATIONS_ADDR", "127.0.0.1:50056", CFG_STR, &gw_cfg.notifications_addr, 0, 0,
      "the notifications service (inbox, subscriptions, notification preferences)" },
    { "GAVEL_SEARCH_ADDR", "127.0.0.1:50054", CFG_STR, &gw_cfg.search_addr, 0, 0,
      "the search service (catalog search and suggestions)" },
    { "GAVEL_PAYMENTS_ADDR", "127.0.0.1:50055", CFG_STR, &gw_cfg.payments_addr, 0, 0,
      "the payments service (card payments, settlements, the provider's webhooks)" },
    { "GAVEL_STREAMING_ADDR", "127.0.0.1:50057", CFG_STR, &gw_cfg.streaming_addr, 0, 0,
      "the streaming service (venue streams, their keys, viewers and latency)" },
    { 0 },
};

const mx_entry gw_http_metrics[] = {
    { "gavel_gateway_http_requests_total", mx_counter,
      "HTTP requests answered, by route template, method and status class.",
      "route,method,class", NULL },
    { "gavel_gateway_http_request_seconds", mx_histogram,
      "Time from a request's headers to its answer.", NULL, &gw_mx.latency },
    { "gavel_gateway_http_in_flight", mx_gauge, "Requests read and not yet answered.", NULL,
      &gw_mx.in_flight },
    { "gavel_gateway_worker_queue_depth", mx_gauge, "Jobs waiting for a worker thread.", NULL,
      &gw_mx.queue_depth },
    { "gavel_gateway_busy_total", mx_counter,
      "Requests answered 503 because their worker queue (normal or auth) was full.", NULL, &gw_mx.busy },
    { "gavel_gateway_edge_auth_refused_total", mx_counter,
      "Requests refused 401 at the edge (token missing, malformed, expired, revoked, forged).",
      NULL, &gw_mx.edge_auth_refused },
    { 0 },
};

static rpc_route *bids_route;

int gw_channels_init(char *err, size_t errlen)
{
    char why[256];
    bids_route = rpc_route_parse(gw_cfg.bids_addr, why, sizeof why);
    if (bids_route == NULL) {
        snprintf(err, errlen, "GAVEL_BIDS_ADDR: %s", why);
        return -1;
    }
    return 0;
}

void gw_channels_free(void)
{
    rpc_route_free(bids_route);
    bids_route = NULL;
}

rpc_channel *gw_users(void)
{
    return rpc_channel_get(gw_cfg.users_addr);
}

rpc_channel *gw_auctions(void)
{
    return rpc_channel_get(gw_cfg.auctions_addr);
}

rpc_channel *gw_notifications(void)
{
    return rpc_channel_get(gw_cfg.notifications_addr);
}

rpc_channel *gw_search(void)
{
    return rpc_channel_get(gw_cfg.search_addr);
}

rpc_channel *gw_payments(void)
{
    return rpc_channel_get(gw_cfg.payments_addr);
}

rpc_channel *gw_streaming(void)
{
    return rpc_channel_get(gw_cfg.streaming_addr);
}

rpc_channel *gw_bids(int64_t lot_id)
{
    return rpc_channel_get(rpc_route_pick(bids_route, lot_id));
}
