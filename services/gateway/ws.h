/*
 * The WebSocket endpoint /ws (protocol "gavel.v1", docs/websocket.md): its
 * lws protocol, its start, drain and stop on the loop thread, its settings
 * and series.
 */
#ifndef GAVEL_GATEWAY_WS_H
#define GAVEL_GATEWAY_WS_H

#include <stddef.h>
#include <libwebsockets.h>

#include "core/core.h"

extern const struct lws_protocols gw_ws_protocol;  /* name "gavel.v1" */
int gw_ws_start(char *err, size_t errlen);  /* loop thread, after the lws context exists */
void gw_ws_drain(void);                     /* loop thread: stop taking new sockets, close
                                               open ones with 1001 "going away" */
void gw_ws_stop(void);                      /* loop thread: free everything */
int gw_ws_open(void);                       /* open sockets (any thread; the drain waits
                                               for 0) */
/** Ping and hang-up of idle sockets, for the lws context (http_listener.c). */
const lws_retry_bo_t *gw_ws_idle_policy(void);
extern const cfg_entry gw_ws_config[];
extern const mx_entry gw_ws_metrics[];

#endif
