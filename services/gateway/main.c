/*
 * gavel-gateway: the single entry point for clients. REST/JSON under
 * /api/v1/ mapped to the services' gRPC methods, the WebSocket /ws, edge
 * checks (tokens, rate limits, CORS) on one libuv loop with a worker pool.
 * Its gRPC port serves health only. This file joins the modules' settings
 * into one table and hands the daemon to the skeleton.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "limits.h"
#include "live.h"
#include "request.h"
#include "routes.h"
#include "ws.h"

extern const rpc_listener gw_listeners[];

static int gw_post_init(void)
{
    char err[512];
    if (gw_channels_init(err, sizeof err) < 0 || gw_routes_init(err, sizeof err) < 0 ||
        gw_openapi_init(err, sizeof err) < 0 || gw_http_init(err, sizeof err) < 0 ||
        gw_media_init(err, sizeof err) < 0 || gw_live_init(err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

static void gw_pre_exit(void)
{
    gw_http_free();
    gw_openapi_free();
    gw_routes_free();
    gw_channels_free();
}

/* The daemon's one settings table: the HTTP core's, the limits', the
 * WebSocket's, the live streams'. Lives for the process. */
static cfg_entry *joined_config(void)
{
    const cfg_entry *parts[] = { gw_http_config, gw_limits_config, gw_ws_config,
                                 gw_live_config };
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (const cfg_entry *e = parts[i]; e->env != NULL; e++)
            n++;
    cfg_entry *all = xcalloc(n + 1, sizeof *all);
    n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (const cfg_entry *e = parts[i]; e->env != NULL; e++)
            all[n++] = *e;
    return all;
}

/* The daemon's one series table: the HTTP core's, the limits', the
 * WebSocket's and the live streams'. Lives for the process. */
static mx_entry *joined_metrics(void)
{
    const mx_entry *parts[] = { gw_http_metrics, gw_limits_metrics,
                                gw_ws_metrics, gw_live_metrics };
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (const mx_entry *e = parts[i]; e->name != NULL; e++)
            n++;
    mx_entry *all = xcalloc(n + 1, sizeof *all);
    n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (const mx_entry *e = parts[i]; e->name != NULL; e++)
            all[n++] = *e;
    return all;
}

int main(int argc, char **argv)
{
    rpc_service gateway = {
        .name = "gateway",
        .addr_env = "GAVEL_GATEWAY_ADDR",
        .default_addr = "127.0.0.1:50058",
        .default_metrics_port = 9108,
        .calls = gw_routes_calls(),
        .config = joined_config(),
        .metrics = joined_metrics(),
        .config_check = gw_limits_check,
        .listeners = gw_listeners,
        .post_init = gw_post_init,
        .pre_exit = gw_pre_exit,
    };
    int rc = rpc_server_main(&gateway, argc, argv);
    free((void *)gateway.config);
    free((void *)gateway.metrics);
    return rc;
}
