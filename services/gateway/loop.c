/*
 * The gateway's threads: one loop thread running libuv (libwebsockets and
 * the async Redis contexts live on it) and a fixed pool of workers for
 * everything that blocks. A job runs on a worker, then its done callback
 * runs on the loop, always both and in that order; the queue of jobs is
 * bounded, so a flood is refused at once instead of waiting in memory.
 *
 * Invariants: the loop thread alone touches lws and runs posted functions;
 * posted functions run in the order they were posted; a job's node is its
 * post node too, so a request costs no allocation here once the free list
 * is warm. The loop ends only after every worker has been joined and every
 * posted function has run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "http.h"
#include "loop.h"

typedef struct node {
    void (*job)(void *arg);
    void (*fn)(void *arg);  /* the done callback, or the posted function */
    void *arg;
    struct node *next;
} node;

typedef struct {
    node *head, *tail;
} fifo;

static struct {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    atomic_bool is_running;          /* between loop start and its end */
    int (*setup)(char *err, size_t errlen);
    char *setup_err;
    size_t setup_errlen;
    int setup_rc;
    bool is_setup_done;

    pthread_mutex_t mu;              /* guards everything below */
    pthread_cond_t cv_work;          /* workers wait for jobs */
    pthread_cond_t cv_setup;         /* gw_loop_start waits for setup */
    fifo jobs;                       /* queued for the workers */
    fifo posts;                      /* queued for the loop */
    node *free_nodes;
    int njobs, max_jobs;             /* queued plus running */
    int nqueued;
    bool is_stopping;
    bool is_closing;                 /* the loop closes its handle after the posts */
    pthread_t *workers;
    int nworkers;
} lp = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv_work = PTHREAD_COND_INITIALIZER,
    .cv_setup = PTHREAD_COND_INITIALIZER,
};

static void fifo_push(fifo *q, node *n)
{
    n->next = NULL;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
}

static node *fifo_pop(fifo *q)
{
    node *n = q->head;
    if (n != NULL) {
        q->head = n->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    return n;
}

/* Under lp.mu. */
static node *node_get(void)
{
    node *n = lp.free_nodes;
    if (n != NULL) {
        lp.free_nodes = n->next;
        return n;
    }
    return xmalloc(sizeof *n);
}

uv_loop_t *gw_loop(void)
{
    return &lp.loop;
}

bool gw_on_loop(void)
{
    return atomic_load(&lp.is_running) && pthread_equal(pthread_self(), lp.thread);
}

int gw_loop_jobs(void)
{
    pthread_mutex_lock(&lp.mu);
    int n = lp.njobs;
    pthread_mutex_unlock(&lp.mu);
    return n;
}

void gw_post(void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&lp.mu);
    node *n = node_get();
    n->job = NULL;
    n->fn = fn;
    n->arg = arg;
    fifo_push(&lp.posts, n);
    pthread_mutex_unlock(&lp.mu);
    uv_async_send(&lp.wake);
}

int gw_work(void (*job)(void *arg), void (*done)(void *arg), void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&lp.mu);
    if (lp.is_stopping || lp.njobs >= lp.max_jobs) {
        rc = -1;
        goto out;
    }
    node *n = node_get();
    n->job = job;
    n->fn = done;
    n->arg = arg;
    fifo_push(&lp.jobs, n);
    lp.njobs++;
    lp.nqueued++;
    mx_set(gw_mx.queue_depth, lp.nqueued);
    pthread_cond_signal(&lp.cv_work);
out:
    pthread_mutex_unlock(&lp.mu);
    return rc;
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lp.mu);
    for (;;) {
        node *n = fifo_pop(&lp.jobs);
        if (n == NULL) {
            if (lp.is_stopping)
                break;
            pthread_cond_wait(&lp.cv_work, &lp.mu);
            continue;
        }
        lp.nqueued--;
        mx_set(gw_mx.queue_depth, lp.nqueued);
        pthread_mutex_unlock(&lp.mu);
        n->job(n->arg);
        log_set_request_id(NULL);
        pthread_mutex_lock(&lp.mu);
        lp.njobs--;
        fifo_push(&lp.posts, n);
        uv_async_send(&lp.wake);
    }
    pthread_mutex_unlock(&lp.mu);
    rds_thread_close(); /* the Redis connection of this thread (token revocation checks) */
    return NULL;
}

/* Loop thread: runs what was posted, oldest first, and once told to close,
 * closes the wake handle after the last of them. */
static void on_wake(uv_async_t *h)
{
    (void)h;
    for (;;) {
        pthread_mutex_lock(&lp.mu);
        node *n = fifo_pop(&lp.posts);
        bool is_closing = lp.is_closing;
        pthread_mutex_unlock(&lp.mu);
        if (n == NULL) {
            if (is_closing && !uv_is_closing((uv_handle_t *)&lp.wake))
                uv_close((uv_handle_t *)&lp.wake, NULL);
            return;
        }
        n->fn(n->arg);
        pthread_mutex_lock(&lp.mu);
        n->next = lp.free_nodes;
        lp.free_nodes = n;
        pthread_mutex_unlock(&lp.mu);
    }
}

static void *loop_main(void *arg)
{
    (void)arg;
    int rc = lp.setup(lp.setup_err, lp.setup_errlen);
    pthread_mutex_lock(&lp.mu);
    lp.setup_rc = rc;
    lp.is_setup_done = true;
    pthread_cond_signal(&lp.cv_setup);
    pthread_mutex_unlock(&lp.mu);
    uv_run(&lp.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void workers_join(void)
{
    pthread_mutex_lock(&lp.mu);
    lp.is_stopping = true;
    pthread_cond_broadcast(&lp.cv_work);
    pthread_mutex_unlock(&lp.mu);
    for (int i = 0; i < lp.nworkers; i++)
        pthread_join(lp.workers[i], NULL);
    free(lp.workers);
    lp.workers = NULL;
    lp.nworkers = 0;
}

static void free_nodes(void)
{
    while (lp.free_nodes != NULL) {
        node *n = lp.free_nodes;
        lp.free_nodes = n->next;
        free(n);
    }
}

int gw_loop_start(int workers, int queue, int (*setup)(char *err, size_t errlen), char *err,
                  size_t errlen)
{
    lp.max_jobs = queue;
    lp.is_stopping = false;
    lp.is_closing = false;
    lp.is_setup_done = false;
    lp.setup = setup;
    lp.setup_err = err;
    lp.setup_errlen = errlen;
    if (uv_loop_init(&lp.loop) != 0) {
        snprintf(err, errlen, "cannot start a libuv loop");
        goto fail_loop;
    }
    uv_async_init(&lp.loop, &lp.wake, on_wake);
    lp.workers = xcalloc((size_t)workers, sizeof *lp.workers);
    for (; lp.nworkers < workers; lp.nworkers++) {
        if (pthread_create(&lp.workers[lp.nworkers], NULL, worker_main, NULL) != 0) {
            snprintf(err, errlen, "cannot start worker thread %d", lp.nworkers + 1);
            goto fail_workers;
        }
    }
    atomic_store(&lp.is_running, true);
    if (pthread_create(&lp.thread, NULL, loop_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the loop thread");
        goto fail_thread;
    }
    pthread_mutex_lock(&lp.mu);
    while (!lp.is_setup_done)
        pthread_cond_wait(&lp.cv_setup, &lp.mu);
    int rc = lp.setup_rc;
    pthread_mutex_unlock(&lp.mu);
    if (rc < 0) {
        gw_loop_stop(NULL);
        return -1;
    }
    return 0;
fail_thread:
    atomic_store(&lp.is_running, false);
fail_workers:
    workers_join();
    uv_close((uv_handle_t *)&lp.wake, NULL);
    uv_run(&lp.loop, UV_RUN_DEFAULT);
    uv_loop_close(&lp.loop);
fail_loop:
    return -1;
}

static void (*stop_teardown)(void);

static void run_teardown(void *arg)
{
    (void)arg;
    stop_teardown();
}

void gw_loop_stop(void (*teardown)(void))
{
    stop_teardown = teardown;
    if (teardown != NULL)
        gw_post(run_teardown, NULL);
    workers_join();
    pthread_mutex_lock(&lp.mu);
    lp.is_closing = true;
    pthread_mutex_unlock(&lp.mu);
    uv_async_send(&lp.wake);
    pthread_join(lp.thread, NULL);
    atomic_store(&lp.is_running, false);
    if (uv_loop_close(&lp.loop) != 0)
        log_warn("the gateway loop closed with handles still open");
    free_nodes();
}
