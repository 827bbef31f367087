/*
 * The HTTP core's settings and series as tables, and the channels to the
 * services: users, auctions, notifications, search, payments and
 * streaming by address, bids by the lot's recorded instance (libs/rpc
 * rpc_owner: Redis, then the auctions service's record through GetLot,
 * then the legacy rule over GAVEL_BIDS_ADDR's list).
 */
#include <stdio.h>
#include <stdlib.h>

#include "http.h"
#include "gavel/auctions/v1/auctions.pb-c.h"

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
      "the bids service for lots with no recorded instance; several instances "
      "comma-separated in index order: such a lot n goes to instance n % count (recorded "
      "lots follow the registry in Redis)" },
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

static rpc_owner *bids_owner;

static const rpc_client_method auctions_get_lot = {
    "/gavel.auctions.v1.Auctions/GetLot", &gavel__auctions__v1__auctions__descriptor,
    &gavel__auctions__v1__get_lot_request__descriptor,
    &gavel__auctions__v1__get_lot_response__descriptor
};

/* rpc_owner's miss function: the auctions service's durable record, read
 * with the gateway's service identity (which sees every lot). The answer
 * is final once the lot was scheduled; before that nothing is cached. */
static int owner_from_auctions(void *arg, int64_t lot_id, char *name, size_t namelen,
                               bool *is_final)
{
    (void)arg;
    char *token = rpc_service_token();
    if (token == NULL)
        return -1;
    Gavel__Auctions__V1__GetLotRequest req = GAVEL__AUCTIONS__V1__GET_LOT_REQUEST__INIT;
    req.lot_id = lot_id;
    rpc_call_opts o = { .token = token, .deadline_ms = 1000, .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char err[256];
    grpc_status_code st = rpc_unary(gw_auctions(), &auctions_get_lot, &req.base, &resp, &o, err,
                                    sizeof err);
    free(token);
    if (st != GRPC_STATUS_OK)
        return -1;
    const Gavel__Auctions__V1__Lot *lot = ((Gavel__Auctions__V1__GetLotResponse *)resp)->lot;
    int rc = -1;
    if (lot != NULL) {
        snprintf(name, namelen, "%s", lot->bids_instance);
        *is_final = lot->state >= GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED;
        rc = 0;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

int gw_channels_init(char *err, size_t errlen)
{
    char why[256];
    bids_owner = rpc_owner_new(gw_cfg.bids_addr, owner_from_auctions, NULL, why, sizeof why);
    if (bids_owner == NULL) {
        snprintf(err, errlen, "GAVEL_BIDS_ADDR: %s", why);
        return -1;
    }
    return 0;
}

void gw_channels_free(void)
{
    rpc_owner_free(bids_owner);
    bids_owner = NULL;
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
    char addr[256];
    int rc = rpc_owner_addr(bids_owner, lot_id, NULL, addr, sizeof addr);
    if (rc == 0)
        return rpc_channel_get(addr);
    /* The owner's name is known but not its address: the legacy instance
     * refuses the lot (NOT_FOUND), so no bid is taken in the wrong place. */
    log_warn("lot %lld: its bids instance cannot be resolved (%d); asking the legacy one",
             (long long)lot_id, rc);
    return rpc_channel_get(rpc_owner_legacy(bids_owner, lot_id));
}
