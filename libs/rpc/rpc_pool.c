/*
 * Worker pools. Calls that may block run on workers, and which workers is
 * decided by who calls and what (rpc.h, rpc_class): other daemons' calls
 * in the service pool, users' calls in the normal pool, anonymous and
 * CPU-heavy calls (password hashing) in the expensive pool. Each pool has
 * its own threads and a bounded queue of new calls, so a flood of one kind
 * fills only its own queue and is then refused at once, while the others
 * keep their workers: 256 wrong-password logins cannot delay the wallet
 * calls a bid waits for.
 *
 * Invariants: a call is in at most one queue; a new call is refused only
 * when its queue is full (the two queues of a pool are bounded apart, so
 * anonymous calls cannot take a service identity's room), never a resumed step (its call was
 * admitted already and must be completed); workers stay until the drain
 * is over, so a resumed step always finds one. The expensive pool's
 * workers run at a lower priority (niceness 10), so hashing yields the CPU
 * to everything else on a loaded machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache/cache.h"
#include "rpc/rpc_int.h"

static const char *const pool_names[RPC__NPOOLS] = {
    [RPC__POOL_NORMAL] = "normal",
    [RPC__POOL_SERVICE] = "service",
    [RPC__POOL_EXPENSIVE] = "expensive",
};

/* Takes the next call, service identities' and resumed ones first; NULL
 * once the pool is exiting and empty. */
static rpc_call *take(rpc__pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->head[0] == NULL && p->head[1] == NULL && !p->exiting)
        pthread_cond_wait(&p->cv, &p->mu);
    int q = p->head[0] != NULL ? 0 : 1;
    rpc_call *c = p->head[q];
    if (c != NULL) {
        p->head[q] = c->next;
        if (p->head[q] == NULL)
            p->tail[q] = NULL;
        c->next = NULL;
        if (c->is_counted) {
            c->is_counted = false;
            p->queued[q]--;
        }
        mx_set(p->m_queued, (double)(p->queued[0] + p->queued[1]));
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void *worker_main(void *arg)
{
    rpc__pool *p = arg;
    if (p->nice != 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice) != 0)
        log_warn("rpc: cannot lower the priority of a %s worker", p->name);
    for (rpc_call *c; (c = take(p)) != NULL;) {
        mx_add(p->m_busy, 1);
        if (c->resume != NULL)
            rpc__call_resume(c);
        else
            rpc__call_run(c);
        mx_add(p->m_busy, -1);
    }
    rds_thread_close();
    return NULL;
}

static void push(rpc__pool *p, rpc_call *c, int q)
{
    c->next = NULL;
    if (p->tail[q] != NULL)
        p->tail[q]->next = c;
    else
        p->head[q] = c;
    p->tail[q] = c;
    pthread_cond_signal(&p->cv);
}

bool rpc__pool_admit(rpc__pool *p, rpc_call *c, bool ahead)
{
    int q = ahead ? 0 : 1;
    pthread_mutex_lock(&p->mu);
    bool room = p->queued[q] < p->max_queued;
    if (room) {
        c->pool = p;
        c->is_counted = true;
        p->queued[q]++;
        push(p, c, q);
        mx_set(p->m_queued, (double)(p->queued[0] + p->queued[1]));
    }
    pthread_mutex_unlock(&p->mu);
    if (!room)
        mx_add(p->m_refused, 1);
    return room;
}

void rpc__pool_resume(rpc__pool *p, rpc_call *c)
{
    pthread_mutex_lock(&p->mu);
    c->pool = p;
    push(p, c, 0);
    pthread_mutex_unlock(&p->mu);
}

static void pool_start(rpc_server *s, rpc__pool_id id, int64_t threads, int64_t max_queued,
                       int nice)
{
    rpc__pool *p = &s->pools[id];
    p->name = pool_names[id];
    p->srv = s;
    p->nthreads = (int)threads;
    p->max_queued = (size_t)max_queued;
    p->nice = nice;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    char labels[64];
    snprintf(labels, sizeof labels, "pool=\"%s\"", p->name);
    p->m_queued = rpc__metric("gavel_rpc_pool_queued", labels);
    p->m_busy = rpc__metric("gavel_rpc_pool_busy", labels);
    p->m_refused = rpc__metric("gavel_rpc_pool_refused_total", labels);
    p->threads = xcalloc((size_t)p->nthreads, sizeof *p->threads);
    for (int i = 0; i < p->nthreads; i++)
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            panic("cannot start an rpc worker thread (%s pool)", p->name);
}

void rpc__pools_start(rpc_server *s)
{
    pool_start(s, RPC__POOL_NORMAL, rpc__cfg.workers, rpc__cfg.queue, 0);
    pool_start(s, RPC__POOL_SERVICE, rpc__cfg.service_workers, rpc__cfg.queue, 0);
    pool_start(s, RPC__POOL_EXPENSIVE, rpc__cfg.expensive_workers, rpc__cfg.expensive_queue, 10);
}

void rpc__pools_stop(rpc_server *s)
{
    for (int id = 0; id < RPC__NPOOLS; id++) {
        rpc__pool *p = &s->pools[id];
        pthread_mutex_lock(&p->mu);
        p->exiting = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    for (int id = 0; id < RPC__NPOOLS; id++) {
        rpc__pool *p = &s->pools[id];
        for (int i = 0; i < p->nthreads; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
}
