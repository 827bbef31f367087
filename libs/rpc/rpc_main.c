/*
 * The daemon skeleton (after Postfix's multi_server_main): a service hands
 * over its definition and this file owns the rest — signals, logs,
 * configuration, keys, the listener, /metrics and /healthz, and the drain on
 * SIGTERM. A daemon's main.c is its definition and one call.
 */
#include <stdio.h>
#include "rpc/rpc_int.h"


static rpc_server *running;

static bool http_healthy(void *arg)
{
    const rpc_service *svc = arg;
    return running != NULL && atomic_load(&running->serving) &&
           (svc->is_healthy == NULL || svc->is_healthy());
}


static int boot(const rpc_service *svc)
{
    char err[512];
    if (rpc__config_load(svc, err, sizeof err) < 0) {
        log_error("configuration: %s", err);
        return -1;
    }
    if (svc->config != NULL && cfg_load(svc->config, err, sizeof err) < 0) {
        log_error("configuration: %s", err);
        return -1;
    }
    rpc__auth_set_service_name(svc->name);
    if (rpc_auth_init() < 0)
        return -1;
    if (svc->post_init != NULL && svc->post_init() < 0) {
        log_error("start-up of %s failed", svc->name);
        return -1;
    }
    const char *addr = cfg_str("GAVEL_LISTEN_ADDR", cfg_str(svc->addr_env, svc->default_addr));
    running = rpc_server_start(svc, addr, err, sizeof err);
    if (running == NULL) {
        log_error("%s", err);
        return -1;
    }
    int mport = (int)rpc__cfg.metrics_port;
    if (mx_http_start(mport, http_healthy, (void *)svc) < 0) {
        rpc_server_stop(running, 0);
        running = NULL;
        return -1;
    }
    log_info("%s serving gRPC on %s (port %d), metrics and health on port %d", svc->name,
             addr, rpc_server_port(running), mport);
    return 0;
}

int rpc_server_main(const rpc_service *svc)
{
    sig_block_all();
    log_init(svc->name, LOG_INFO);
    if (boot(svc) < 0) {
        if (svc->pre_exit != NULL)
            svc->pre_exit();
        return 1;
    }
    int sig = sig_wait();
    int drain_ms = (int)rpc__cfg.drain_ms;
    log_info("signal %d: draining for up to %d ms", sig, drain_ms);
    rpc_server_stop(running, drain_ms);
    running = NULL;
    mx_http_stop();
    if (svc->pre_exit != NULL)
        svc->pre_exit();
    log_info("%s stopped", svc->name);
    return 0;
}
