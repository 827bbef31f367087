/*
 * This instance in the registry of bids instances (libs/rpc rpc_owner):
 * registered at start and again every REFRESH_MS, so a Redis that lost its
 * data learns it again within seconds; GAVEL_BIDS_ACCEPTING says whether it
 * takes new lots (0: draining, its lots are served until they close). A
 * refresh leaves an operator's SREM from gavel:bids:accepting in place; the
 * first registration after a start, or after Redis lost the instance, adds
 * it again. On a clean exit it leaves the alive set, so no new lot is given to it while it
 * is down. A Redis failure is logged and retried; it never stops the
 * engine (lots already recorded keep their owner). One thread, started by
 * registry_start and joined by registry_stop (both on the main thread).
 */
#include <errno.h>
#include <string.h>

#include "bids.h"

#define REFRESH_MS 5000

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stopping;
    char addr[256];
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void register_once(bool *warned, bool *is_start)
{
    int rc = rpc_owner_register(bids.name, reg.addr, bids.is_accepting, *is_start);
    if (rc == 0)
        *is_start = false;
    if (rc < 0 && !*warned)
        log_warn("cannot register bids instance %s in Redis (%d); retrying every %d ms",
                 bids.name, rc, REFRESH_MS);
    else if (rc == 0 && *warned)
        log_info("bids instance %s registered again", bids.name);
    *warned = rc < 0;
}

static void *registry_main(void *arg)
{
    (void)arg;
    bool warned = false, is_start = true;
    pthread_mutex_lock(&reg.mu);
    while (!reg.stopping) {
        pthread_mutex_unlock(&reg.mu);
        register_once(&warned, &is_start);
        struct timespec until;
        deadline_after_ms(&until, REFRESH_MS);
        pthread_mutex_lock(&reg.mu);
        while (!reg.stopping && pthread_cond_timedwait(&reg.cv, &reg.mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&reg.mu);
    if (rpc_owner_unregister(bids.name) < 0)
        log_warn("cannot take bids instance %s out of the alive set", bids.name);
    rds_thread_close();
    return NULL;
}

int registry_start(const char *listen_addr)
{
    snprintf(reg.addr, sizeof reg.addr, "%s",
             bids.advertise_addr[0] != '\0' ? bids.advertise_addr : listen_addr);
    reg.stopping = false;
    if (pthread_create(&reg.thread, NULL, registry_main, NULL) != 0) {
        log_error("cannot start the registry thread");
        return -1;
    }
    reg.started = true;
    log_info("bids instance %s at %s, %s new lots", bids.name, reg.addr,
             bids.is_accepting ? "accepting" : "not accepting (draining)");
    return 0;
}

void registry_stop(void)
{
    if (!reg.started)
        return;
    pthread_mutex_lock(&reg.mu);
    reg.stopping = true;
    pthread_cond_signal(&reg.cv);
    pthread_mutex_unlock(&reg.mu);
    pthread_join(reg.thread, NULL);
    reg.started = false;
}
