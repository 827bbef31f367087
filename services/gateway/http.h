/*
 * The HTTP core of the gateway: its settings and series, one request's
 * state, and the steps that pass a request from the connection (loop
 * thread) to its job (a worker) and back.
 */
#ifndef GAVEL_GATEWAY_HTTP_H
#define GAVEL_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

/* ---- config.c: settings, series, channels ---- */

typedef struct {
    int64_t port;
    const char *bind;
    int64_t workers, queue;
    int64_t auth_workers, auth_queue; /* the pool of login, register, refresh */
    int64_t max_body;           /* bytes */
    int64_t media_max;          /* bytes of an uploaded photo */
    const char *media_dir;      /* where uploads live; "" $GAVEL_RUN_DIR/media */
    int64_t deadline_ms;        /* a call's deadline when the client sets none */
    int64_t max_deadline_ms;    /* the most a client may ask for */
    int64_t keepalive_s;        /* idle keep-alive connections close after it */
    int64_t io_timeout_s;       /* headers and each body chunk must arrive within it */
    int64_t max_header;         /* bytes of request line and headers */
    const char *cors_origins;   /* comma list; "" none */
    const char *tls_cert, *tls_key;
    const char *web_dir;        /* the web UI's files served at /; "" none */
    bool is_access_log;
    const char *users_addr, *auctions_addr, *bids_addr, *notifications_addr;
    const char *search_addr, *payments_addr, *streaming_addr;
} gw_http_settings;

extern gw_http_settings gw_cfg;
extern const cfg_entry gw_http_config[];

typedef struct {
    mx_metric *in_flight;       /* requests read and not yet answered */
    mx_metric *queue_depth;     /* jobs waiting for a worker */
    mx_metric *busy;            /* requests refused because the queue was full */
    mx_metric *latency;         /* seconds from the request's headers to its answer */
    mx_metric *edge_auth_refused;
} gw_metric_set;

extern gw_metric_set gw_mx;
extern const mx_entry gw_http_metrics[];

/** Parses GAVEL_BIDS_ADDR into the bids route; 0 or -1 with err naming it. */
int gw_channels_init(char *err, size_t errlen);
void gw_channels_free(void);

/* ---- http.c ---- */

/** The client's IP address of a connection as text ("127.0.0.1", "::1";
 *  an IPv4-mapped IPv6 address as IPv4), "unknown" when lws cannot say.
 *  Loop thread. */
void gw_client_addr(struct lws *wsi, char *out, size_t outlen);

/* ---- http_status.c: gRPC status to HTTP ---- */

/** The HTTP status of a gRPC status (the map; unknown ones 500). */
int gw_http_status(int grpc_code);
/** The error code word of the body, "invalid_argument"; "internal" when unknown. */
const char *gw_grpc_code_name(int grpc_code);
/** True when a failed call means the wallet lacks the money: the wallet's
 *  and bids' contracts answer RESOURCE_EXHAUSTED with a message that starts
 *  "insufficient funds". Over HTTP that is 402 insufficient_funds (and
 *  INSUFFICIENT_FUNDS on /ws), never a rate limit's 429, so a client can
 *  tell "top up" from "slow down". `message` may be NULL. */
bool gw_is_insufficient_funds(int grpc_code, const char *message);

#endif
