/*
 * Placeholder of the WebSocket endpoint until it is built: the protocol
 * exists so /ws upgrades reach it, and it refuses every one of them.
 */
#include "ws.h"

static int ws_refuse(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return -1;
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols gw_ws_protocol = { "gavel.v1", ws_refuse, 0, 0, 0, NULL, 0 };
const cfg_entry gw_ws_config[] = { { 0 } };

int gw_ws_start(char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return 0;
}

void gw_ws_drain(void)
{
}

void gw_ws_stop(void)
{
}
