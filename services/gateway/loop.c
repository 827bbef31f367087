/*
 * The gateway's threads: one loop thread running libuv (libwebsockets and
 * the async Redis contexts live on it) and fixed pools of workers for
 * everything that blocks, one pool per class of job: the normal pool
 * serves reads, writes and the WebSocket, a small separate pool serves
 * login, register and refresh, so a flood of logins waiting on argon2 in
 * the users service never holds the workers that serve GET /lots/{id}.
 * A job runs on a worker of its class, then its done callback runs on the
 * loop, always both and in that order; each class's queue of jobs is
 * bounded, so a flood is refused at once instead of waiting in memory.
 *
 * Invariants: the loop thread alone touches lws and runs posted functions;
 * posted functions run in the order they were posted; a job's node is its
 * post node too, so a request costs no allocation here once the free list
 * is warm. A job may hold itself past its worker (gw_job_hold: it waits on
 * an asynchronous call, not on a thread) and ends with gw_job_release from
 * any thread; its done callback then runs as usual, and it counts against
 * its class's queue bound until then. The loop ends only after every
 * worker has been joined, every held job released and every posted
 * function has run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "http.h"
#include "loop.h"

typedef struct node {
    struct pool *owner;              /* a job's pool; NULL for a post */
    void (*job)(void *arg);
    void (*fn)(void *arg);  /* the done callback, or the posted function */
    void *arg;
    struct node *next;
} node;

typedef struct {
    node *head, *tail;
} fifo;

/* One class's workers and their queue; under lp.mu. */
typedef struct pool {
    pthread_cond_t cv;               /* its workers wait for jobs */
    fifo jobs;
    int njobs, max_jobs;             /* queued plus running (held ones too) */
    int nqueued;
    pthread_t *workers;
    int nworkers;
} pool;

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
    pthread_cond_t cv_setup;         /* gw_loop_start waits for setup */
    pool pools[GW_JOB_CLASSES];
    fifo posts;                      /* queued for the loop */
    node *free_nodes;
    bool is_stopping;
    bool is_closing;                 /* the loop closes its handle after the posts */
    int nheld;                       /* jobs held past their worker (gw_job_hold) */
    pthread_cond_t cv_held;          /* gw_loop_stop waits for nheld == 0 */
} lp = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv_setup = PTHREAD_COND_INITIALIZER,
    .cv_held = PTHREAD_COND_INITIALIZER,
    .pools = { [GW_JOB_NORMAL] = { .cv = PTHREAD_COND_INITIALIZER },
               [GW_JOB_AUTH] = { .cv = PTHREAD_COND_INITIALIZER } },
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
    int n = 0;
    for (int i = 0; i < GW_JOB_CLASSES; i++)
        n += lp.pools[i].njobs;
    pthread_mutex_unlock(&lp.mu);
    return n;
}

/* Under lp.mu: jobs waiting for a worker, of every class. */
static void queue_depth_set(void)
{
    int n = 0;
    for (int i = 0; i < GW_JOB_CLASSES; i++)
        n += lp.pools[i].nqueued;
    mx_set(gw_mx.queue_depth, n);
}

void gw_post(void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&lp.mu);
    node *n = node_get();
    n->owner = NULL;
    n->job = NULL;
    n->fn = fn;
    n->arg = arg;
    fifo_push(&lp.posts, n);
    pthread_mutex_unlock(&lp.mu);
    uv_async_send(&lp.wake);
}

int gw_work_class(gw_job_class cls, void (*job)(void *arg), void (*done)(void *arg),
                  void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&lp.mu);
    pool *p = &lp.pools[cls < GW_JOB_CLASSES ? cls : GW_JOB_NORMAL];
    if (lp.is_stopping || p->njobs >= p->max_jobs) {
        rc = -1;
        goto out;
    }
    node *n = node_get();
    n->owner = p;
    n->job = job;
    n->fn = done;
    n->arg = arg;
    fifo_push(&p->jobs, n);
    p->njobs++;
    p->nqueued++;
    queue_depth_set();
out:
    pthread_mutex_unlock(&lp.mu);
    /* after the unlock: the worker woken does not block on lp.mu at once */
    if (rc == 0)
        pthread_cond_signal(&p->cv);
    return rc;
}

int gw_work(void (*job)(void *arg), void (*done)(void *arg), void *arg)
{
    return gw_work_class(GW_JOB_NORMAL, job, done, arg);
}

/* The job this worker thread runs, and whether it was held. */
static __thread node *running;
static __thread bool is_held;

gw_job *gw_job_hold(void)
{
    if (running == NULL)
        panic("gw_job_hold outside a job");
    pthread_mutex_lock(&lp.mu);
    lp.nheld++;
    pthread_mutex_unlock(&lp.mu);
    is_held = true;
    return (gw_job *)running;
}

void gw_job_release(gw_job *h)
{
    node *n = (node *)h;
    pthread_mutex_lock(&lp.mu);
    n->owner->njobs--;
    fifo_push(&lp.posts, n);
    if (--lp.nheld == 0)
        pthread_cond_broadcast(&lp.cv_held);
    pthread_mutex_unlock(&lp.mu);
    uv_async_send(&lp.wake);
}

/* A worker of the pool arg points to. */
static void *worker_main(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&lp.mu);
    for (;;) {
        node *n = fifo_pop(&p->jobs);
        if (n == NULL) {
            if (lp.is_stopping)
                break;
            pthread_cond_wait(&p->cv, &lp.mu);
            continue;
        }
        p->nqueued--;
        queue_depth_set();
        pthread_mutex_unlock(&lp.mu);
        running = n;
        is_held = false;
        n->job(n->arg);
        running = NULL;
        log_set_request_id(NULL);
        pthread_mutex_lock(&lp.mu);
        if (is_held) /* n is gw_job_release's now, maybe posted already */
            continue;
        p->njobs--;
        fifo_push(&lp.posts, n);
        pthread_mutex_unlock(&lp.mu);
        uv_async_send(&lp.wake); /* a syscall: not under lp.mu */
        pthread_mutex_lock(&lp.mu);
    }
    pthread_mutex_unlock(&lp.mu);
    rds_thread_close(); /* this thread's Redis connection (revocation checks, limits) */
    return NULL;
}

/* Loop thread: runs what was posted, oldest first, and once told to close,
 * closes the wake handle after the last of them. */
static void on_wake(uv_async_t *h)
{
    (void)h;
    for (;;) {
        /* all that was posted so far, taken at once, run in order */
        pthread_mutex_lock(&lp.mu);
        fifo batch = lp.posts;
        lp.posts.head = lp.posts.tail = NULL;
        bool is_closing = lp.is_closing;
        pthread_mutex_unlock(&lp.mu);
        if (batch.head == NULL) {
            if (is_closing && !uv_is_closing((uv_handle_t *)&lp.wake))
                uv_close((uv_handle_t *)&lp.wake, NULL);
            return;
        }
        for (node *n = batch.head; n != NULL; n = n->next)
            n->fn(n->arg);
        pthread_mutex_lock(&lp.mu);
        batch.tail->next = lp.free_nodes;
        lp.free_nodes = batch.head;
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
    for (int c = 0; c < GW_JOB_CLASSES; c++)
        pthread_cond_broadcast(&lp.pools[c].cv);
    pthread_mutex_unlock(&lp.mu);
    for (int c = 0; c < GW_JOB_CLASSES; c++) {
        pool *p = &lp.pools[c];
        for (int i = 0; i < p->nworkers; i++)
            pthread_join(p->workers[i], NULL);
        free(p->workers);
        p->workers = NULL;
        p->nworkers = 0;
    }
}

/* Starts the pool's workers; 0, or -1 with err naming the one that failed
 * (those started keep running until workers_join). */
static int pool_start(pool *p, const gw_pool_size *size, const char *name, char *err,
                      size_t errlen)
{
    p->max_jobs = size->queue;
    p->workers = xcalloc((size_t)size->workers, sizeof *p->workers);
    for (; p->nworkers < size->workers; p->nworkers++) {
        if (pthread_create(&p->workers[p->nworkers], NULL, worker_main, p) != 0) {
            snprintf(err, errlen, "cannot start %s worker thread %d", name, p->nworkers + 1);
            return -1;
        }
    }
    return 0;
}

static void free_nodes(void)
{
    while (lp.free_nodes != NULL) {
        node *n = lp.free_nodes;
        lp.free_nodes = n->next;
        free(n);
    }
}

int gw_loop_start(const gw_pool_size sizes[GW_JOB_CLASSES],
                  int (*setup)(char *err, size_t errlen), char *err, size_t errlen)
{
    static const char *const names[GW_JOB_CLASSES] = { [GW_JOB_NORMAL] = "a",
                                                       [GW_JOB_AUTH] = "an auth" };
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
    for (int c = 0; c < GW_JOB_CLASSES; c++)
        if (pool_start(&lp.pools[c], &sizes[c], names[c], err, errlen) < 0)
            goto fail_workers;
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
    while (lp.nheld > 0) /* their calls end by their deadlines */
        pthread_cond_wait(&lp.cv_held, &lp.mu);
    lp.is_closing = true;
    pthread_mutex_unlock(&lp.mu);
    uv_async_send(&lp.wake);
    pthread_join(lp.thread, NULL);
    atomic_store(&lp.is_running, false);
    if (uv_loop_close(&lp.loop) != 0)
        log_warn("the gateway loop closed with handles still open");
    free_nodes();
}
