/*
 * The daemon skeleton (after Postfix's multi_server_main): a service hands
 * over its definition and this file owns the rest — signals, logs, every
 * settings table, the checks of its declarations, the service block
 * (database, relay, consumers, metrics), the gRPC server and any other
 * listener, /metrics and /healthz, and the drain on SIGTERM. A daemon's
 * main.c is its definition and one call.
 *
 * Start-up and shut-down mirror each other; shut_down runs on every way
 * out, whatever boot reached, and each step skips what never started.
 * Everything here runs on the main thread.
 */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_skel_int.h"

static bool http_healthy(void *arg)
{
    (void)arg;
    return rpc__front_is_healthy();
}

static int boot(const rpc_service *svc)
{
    char err[512];
    if (rpc__tables_load(svc, err, sizeof err) < 0 ||
        (svc->config_check != NULL && svc->config_check(err, sizeof err) < 0)) {
        log_error("configuration: %s", err);
        return -1;
    }
    if (rpc_service_check(svc, err, sizeof err) < 0) {
        log_error("declarations: %s", err);
        return -1;
    }
    rpc__auth_set_service_name(svc->name);
    if (rpc_auth_init() < 0 || rpc__block_start(svc) < 0)
        return -1;
    if (svc->post_init != NULL && svc->post_init() < 0) {
        log_error("start-up of %s failed", svc->name);
        return -1;
    }
    if (rpc__block_consumers_start(svc) < 0)
        return -1;
    const char *addr = rpc__block_listen_addr(svc);
    if (rpc__front_start(svc, addr, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    int mport = (int)rpc__cfg.metrics_port;
    if (mx_http_start(mport, http_healthy, NULL) < 0)
        return -1;
    rpc__front_serve();
    log_info("%s serving gRPC on %s (port %d), metrics and health on port %d", svc->name, addr,
             rpc__front_port(), mx_http_port());
    return 0;
}

/* The way out, in the reverse order of boot. */
static void shut_down(const rpc_service *svc, int drain_ms)
{
    rpc__front_stop(drain_ms);
    mx_http_stop();
    rpc__block_consumers_stop();
    if (svc->pre_exit != NULL)
        svc->pre_exit();
    rpc__block_stop(svc);
}

/* --describe prints and returns 0; no argument returns -1 (run); anything
 * else is a usage error (2). */
static int run_arguments(const rpc_service *svc, int argc, char **argv)
{
    if (argc <= 1)
        return -1;
    if (argc == 2 && strcmp(argv[1], "--describe") == 0) {
        char err[512];
        if (rpc_describe(svc, stdout, err, sizeof err) < 0) {
            fprintf(stderr, "gavel-%s: %s\n", svc->name, err);
            return 1;
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: gavel-%s [--describe]\n", svc->name);
    return 2;
}

int rpc_server_main(const rpc_service *svc, int argc, char **argv)
{
    int rc = run_arguments(svc, argc, argv);
    if (rc >= 0)
        return rc;
    sig_block_all();
    log_init(svc->name, LOG_INFO);
    if (boot(svc) < 0) {
        shut_down(svc, 0);
        return 1;
    }
    int sig = sig_wait();
    int drain_ms = (int)rpc__cfg.drain_ms;
    log_info("signal %d: draining for up to %d ms", sig, drain_ms);
    shut_down(svc, drain_ms);
    log_info("%s stopped", svc->name);
    return 0;
}
