/*
 * The WebSocket endpoint /ws (protocol "gavel.v1"): its lws protocol, its
 * start, drain and stop on the loop thread, and its settings.
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
extern const cfg_entry gw_ws_config[];

#endif
