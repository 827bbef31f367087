/*
 * A thread that runs one job now and then every interval until stopped:
 * the ledger invariant check and the reconciliation with the provider.
 */
#include <time.h>

#include "payments.h"

static void *ticker_main(void *arg)
{
    pay_ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        pthread_mutex_unlock(&t->mu);
        t->run();
        pthread_mutex_lock(&t->mu);
        struct timespec ts;
        deadline_after_ms(&ts, *t->interval_ms);
        while (!t->stopping && pthread_cond_timedwait(&t->cv, &t->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int ticker_start(pay_ticker *t)
{
    t->stopping = false;
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        log_error("cannot start the %s thread", t->name);
        return -1;
    }
    t->started = true;
    return 0;
}

void ticker_stop(pay_ticker *t)
{
    if (!t->started)
        return;
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    t->started = false;
}

bool ticker_stopping(pay_ticker *t)
{
    pthread_mutex_lock(&t->mu);
    bool stopping = t->stopping;
    pthread_mutex_unlock(&t->mu);
    return stopping;
}
