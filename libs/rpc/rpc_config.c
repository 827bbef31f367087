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
#include <unistd.h>

#include "rpc/rpc_int.h"

rpc__settings rpc__cfg;

static char default_metrics_port[16], default_workers[16], default_expensive[24];

const cfg_entry rpc__runtime_config[] = {
    { "GAVEL_RPC_POLLERS", "1", CFG_INT, &rpc__cfg.pollers, 1, 16,
      "threads that poll the gRPC completion queue" },
    { "GAVEL_RPC_STANDBY_MS", "20", CFG_INT, &rpc__cfg.standby_ms, 0, 10000,
      "a standby poller joins when the polling threads have been away this long (0: none)" },
    { "GAVEL_RPC_WORKERS", default_workers, CFG_INT, &rpc__cfg.workers, 1, 1024,
      "normal pool: workers for users' calls that may block" },
    { "GAVEL_RPC_SERVICE_WORKERS", "8", CFG_INT, &rpc__cfg.service_workers, 1, 1024,
      "service pool: workers for other daemons' calls (service identity)" },
    { "GAVEL_RPC_EXPENSIVE_WORKERS", default_expensive, CFG_INT, &rpc__cfg.expensive_workers, 1,
      256, "expensive pool: workers for anonymous and CPU-heavy calls (half the cores)" },
    { "GAVEL_RPC_QUEUE", "4096", CFG_INT, &rpc__cfg.queue, 1, 1000000,
      "calls that may wait for a worker in the normal and the service pool, each" },
    { "GAVEL_RPC_EXPENSIVE_QUEUE", "16", CFG_INT, &rpc__cfg.expensive_queue, 1, 100000,
      "calls that may wait in the expensive pool; more are refused at once" },
    { "GAVEL_RPC_MAX_STREAMS", "1024", CFG_INT, &rpc__cfg.max_streams, 1, 1000000,
      "HTTP/2 streams one connection may have open at once" },
    { "GAVEL_RPC_HANDSHAKE_MS", "5000", CFG_INT, &rpc__cfg.handshake_ms, 100, 120000,
      "a new connection must finish its HTTP/2 start within this" },
    { "GAVEL_RPC_MAX_IDLE_MS", "600000", CFG_INT, &rpc__cfg.max_idle_ms, 0, 86400000,
      "a connection without calls this long is closed (0: never)" },
    { "GAVEL_RPC_MAX_AGE_MS", "7200000", CFG_INT, &rpc__cfg.max_age_ms, 0, 604800000,
      "a connection this old is asked to reconnect (GOAWAY; 0: never)" },
    { "GAVEL_RPC_MAX_AGE_GRACE_MS", "600000", CFG_INT, &rpc__cfg.max_age_grace_ms, 0, 86400000,
      "after that, how long its calls (streams) may still run" },
    { "GAVEL_RPC_KEEPALIVE_MS", "60000", CFG_INT, &rpc__cfg.keepalive_ms, 1000, 86400000,
      "the server pings a quiet connection this often (dead peers are dropped 20 s later)" },
    { "GAVEL_RPC_MIN_PING_MS", "10000", CFG_INT, &rpc__cfg.min_ping_ms, 1000, 86400000,
      "clients pinging more often without calls get GOAWAY (too_many_pings) at the 2nd strike" },
    { "GAVEL_RPC_RESET_LIMIT", "200", CFG_INT, &rpc__cfg.reset_limit, 0, 1000000,
      "a connection with this many reset calls in a second is shut down (0: never)" },
    { "GAVEL_RPC_LOG_FAILED_PER_S", "20", CFG_INT, &rpc__cfg.log_failed_per_s, 0, 100000,
      "failed-call log lines a second, for the caller's mistakes and for ours each" },
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
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(default_expensive, sizeof default_expensive, "%ld", cores >= 4 ? cores / 2 : 1);
    return cfg_load(rpc__runtime_config, err, errlen);
}
