/*
 * The WebSocket endpoint's settings and series as tables (joined into the
 * daemon's by main.c), so docs and --describe check what exists.
 */
#include "ws_int.h"

ws_settings ws_cfg;
ws_metric_set ws_mx;

const cfg_entry gw_ws_config[] = {
    { "GAVEL_GATEWAY_WS_MAX_MESSAGE", "16384", CFG_INT, &ws_cfg.max_msg, 256, 1048576,
      "largest incoming WebSocket message in bytes; a larger one is skipped with an error" },
    { "GAVEL_GATEWAY_WS_QUEUE_LIMIT", "65536", CFG_INT, &ws_cfg.queue_limit, 4096, 16777216,
      "bytes waiting to be sent to one socket before its slow-consumer clock starts" },
    { "GAVEL_GATEWAY_WS_SLOW_GRACE_MS", "5000", CFG_INT, &ws_cfg.slow_grace_ms, 100, 600000,
      "a socket whose queue stays over the limit this long is closed with 1008" },
    { "GAVEL_GATEWAY_WS_RATE", "20", CFG_INT, &ws_cfg.rate, 1, 100000,
      "messages a second one socket may send (token bucket refill)" },
    { "GAVEL_GATEWAY_WS_BURST", "40", CFG_INT, &ws_cfg.burst, 1, 100000,
      "messages one socket may send at once (token bucket size)" },
    { "GAVEL_GATEWAY_WS_MAX_LOTS", "200", CFG_INT, &ws_cfg.max_lots, 1, 100000,
      "lots one socket may follow at once" },
    { "GAVEL_GATEWAY_WS_SNDBUF", "131072", CFG_INT, &ws_cfg.sndbuf, 0, 67108864,
      "kernel send buffer of a WebSocket connection in bytes (0: the kernel's autotuning)" },
    { "GAVEL_GATEWAY_WS_PING_S", "30", CFG_INT, &ws_cfg.ping_s, 5, 3600,
      "an idle WebSocket gets a ping after this many seconds, and is closed after twice it" },
    { 0 },
};

const mx_entry gw_ws_metrics[] = {
    { "gavel_gateway_ws_open", mx_gauge, "WebSocket connections open.", NULL, &ws_mx.open },
    { "gavel_gateway_ws_messages_in_total", mx_counter, "WebSocket messages received.", NULL,
      &ws_mx.msg_in },
    { "gavel_gateway_ws_messages_out_total", mx_counter, "WebSocket messages sent.", NULL,
      &ws_mx.msg_out },
    { "gavel_gateway_ws_feeds_dropped_total", mx_counter,
      "Lot feeds dropped: duplicates, older than the state held, or unreadable.", NULL,
      &ws_mx.dropped },
    { "gavel_gateway_ws_coalesced_total", mx_counter,
      "Lot feeds merged into a later update for a socket that was behind.", NULL,
      &ws_mx.coalesced },
    { "gavel_gateway_ws_slow_closes_total", mx_counter,
      "Sockets closed with 1008 because their send queue stayed over the limit.", NULL,
      &ws_mx.slow_closes },
    { "gavel_gateway_ws_snapshots_total", mx_counter,
      "Lot states read with GetLotState (new subscribers, gaps, Redis reconnects).", NULL,
      &ws_mx.snapshots },
    { "gavel_gateway_ws_redis_reconnects_total", mx_counter,
      "Times the lot-feed Redis connection was opened again after a loss.", NULL,
      &ws_mx.redis_reconnects },
    { "gavel_gateway_ws_errors_total", mx_counter, "Error messages sent to sockets.", NULL,
      &ws_mx.errors },
    { "gavel_gateway_ws_rate_limited_total", mx_counter,
      "Messages refused by a socket's rate limit.", NULL, &ws_mx.rate_limited },
    { 0 },
};
