/*
 * The runtime's own settings, as one table like every daemon's: worker
 * pools per method class, their queue bounds, HTTP/2 limits, the drain and
 * the metrics port. rpc_server_main loads it strictly before start-up (a
 * bad value stops the daemon, naming it); a server started directly (unit
 * tests) loads it with the same rules on first use. Defaults that depend on
 * the service (workers, metrics port) are filled in from its definition
 * before loading.
 */
#include <stdio.h>

#include "rpc/rpc_int.h"

rpc__settings rpc__cfg;

static char default_metrics_port[16], default_workers[16];

const cfg_entry rpc__runtime_config[] = {
    { "GAVEL_RPC_POLLERS", "1", CFG_INT, &rpc__cfg.pollers, 1, 16,
      "threads that poll the gRPC completion queue" },
    { "GAVEL_RPC_WORKERS", default_workers, CFG_INT, &rpc__cfg.workers, 1, 1024,
      "worker threads for users' calls that block (normal class)" },
    { "GAVEL_DRAIN_MS", "10000", CFG_INT, &rpc__cfg.drain_ms, 0, 600000,
      "on SIGTERM, how long calls in flight may finish" },
    { "GAVEL_METRICS_PORT", default_metrics_port, CFG_INT, &rpc__cfg.metrics_port, 0, 65535,
      "port of /metrics and /healthz (0: a free port)" },
    { 0 },
};

int rpc__config_load(const rpc_service *svc, char *err, size_t errlen)
{
    snprintf(default_metrics_port, sizeof default_metrics_port, "%d",
             svc->default_metrics_port);
    snprintf(default_workers, sizeof default_workers, "%d",
             svc->default_workers > 0 ? svc->default_workers : 8);
    return cfg_load(rpc__runtime_config, err, errlen);
}
