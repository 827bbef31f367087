/*
 * What a daemon serves on: the gRPC server and any other listener its
 * definition declares (the gateway's HTTP and WebSocket loop), started and
 * drained as one. Health is the skeleton's: NOT_SERVING until every
 * listener has started and the daemon says serving, and NOT_SERVING again
 * before anything is told to drain, so a load balancer stops sending first.
 * Then gRPC and the listeners drain side by side within the one
 * GAVEL_DRAIN_MS budget (not one after the other), and only when all have
 * drained do the listeners stop, last started first.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_skel_int.h"

static struct {
    const rpc_service *svc;   /* the daemon's definition */
    rpc_service run;          /* as the server sees it: health names, readiness */
    const char **names;       /* run.services; owned */
    rpc_server *server;
    size_t nstarted;          /* listeners started, in table order */
    atomic_bool is_ready;
} front;

bool rpc__front_is_healthy(void)
{
    return atomic_load(&front.is_ready) &&
           (front.svc->is_healthy == NULL || front.svc->is_healthy());
}

static void stop_listeners(void)
{
    while (front.nstarted > 0) {
        const rpc_listener *l = &front.svc->listeners[--front.nstarted];
        l->stop(l->arg);
    }
}

int rpc__front_start(const rpc_service *svc, const char *addr, char *err, size_t errlen)
{
    front.svc = svc;
    front.run = *svc;
    front.names = rpc__service_names(svc);
    front.run.services = front.names;
    front.run.is_healthy = rpc__front_is_healthy;
    atomic_store(&front.is_ready, false);
    front.server = rpc_server_start(&front.run, addr, err, errlen);
    if (front.server == NULL)
        goto fail_server;
    for (const rpc_listener *l = svc->listeners; l != NULL && l->name != NULL; l++) {
        char why[256] = "";
        if (l->start(l->arg, why, sizeof why) < 0) {
            snprintf(err, errlen, "listener %s: %s", l->name, why);
            goto fail_listener;
        }
        front.nstarted++;
    }
    return 0;
fail_listener:
    stop_listeners();
    rpc_server_stop(front.server, 0);
    front.server = NULL;
fail_server:
    free(front.names);
    front.names = NULL;
    return -1;
}

void rpc__front_serve(void)
{
    atomic_store(&front.is_ready, true);
}

int rpc__front_port(void)
{
    return front.server != NULL ? rpc_server_port(front.server) : 0;
}

typedef struct {
    const rpc_listener *l;
    int budget_ms;
    pthread_t thread;
    bool has_thread;
} drain_job;

static void *drain_main(void *arg)
{
    drain_job *j = arg;
    j->l->drain(j->l->arg, j->budget_ms);
    return NULL;
}

void rpc__front_stop(int budget_ms)
{
    if (front.server == NULL)
        return;
    atomic_store(&front.is_ready, false);
    int64_t t0 = mono_us();
    drain_job *jobs = xcalloc(front.nstarted + 1, sizeof *jobs);
    for (size_t i = 0; i < front.nstarted; i++) {
        jobs[i] = (drain_job){ .l = &front.svc->listeners[i], .budget_ms = budget_ms };
        if (jobs[i].l->drain != NULL)
            jobs[i].has_thread = pthread_create(&jobs[i].thread, NULL, drain_main, &jobs[i]) == 0;
    }
    rpc_server_stop(front.server, budget_ms);
    front.server = NULL;
    for (size_t i = 0; i < front.nstarted; i++) {
        if (jobs[i].has_thread) {
            pthread_join(jobs[i].thread, NULL);
        } else if (jobs[i].l->drain != NULL) { /* no thread to spare: drain what is left */
            int left = budget_ms - (int)((mono_us() - t0) / 1000);
            jobs[i].l->drain(jobs[i].l->arg, left > 0 ? left : 0);
        }
    }
    free(jobs);
    int64_t took_ms = (mono_us() - t0) / 1000;
    if (took_ms > budget_ms + 100)
        log_warn("drain took %lld ms of a %d ms budget", (long long)took_ms, budget_ms);
    stop_listeners();
    free(front.names);
    front.names = NULL;
}
