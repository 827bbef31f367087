/*
 * ev_producer: an idempotent Kafka producer (enable.idempotence, acks=all,
 * linger.ms=1) whose callers wait for their own delivery reports. Callers
 * enqueue whole batches (the relay up to 500 rows) and then wait, so a
 * longer linger batches nothing more and only delays every report: the
 * relay's 5 ms linger was added to each pass, i.e. to each event's way
 * from its commit to Kafka.
 *
 * Each call enqueues its messages with a per-message cell as opaque, then
 * waits for those cells. There is no background thread: one waiting caller
 * at a time runs rd_kafka_poll (p->polling), which fires the delivery
 * callbacks of every caller's messages; the callback records the result
 * under p->mu and broadcasts, so the other callers sleep on p->cv instead
 * of spinning. A caller that gives up (timeout, cancel) marks its batch
 * abandoned and the last report for it frees it, so a late report never
 * touches freed memory.
 *
 * message.timeout.ms (GAVEL_KAFKA_DELIVERY_TIMEOUT_MS, default 30 s) bounds
 * how long librdkafka keeps retrying one message; after it the report says
 * failed and the outbox row stays unsent.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "events/events_int.h"

struct ev_producer {
    rd_kafka_t *rk;
    pthread_mutex_t mu;  /* guards `polling` and every batch's cells */
    pthread_cond_t cv;   /* a report arrived, or the poller stepped down */
    bool polling;        /* some caller is inside rd_kafka_poll */
    int delivery_timeout_ms;
};

typedef struct batch batch;
typedef struct {
    batch *b;
    rd_kafka_resp_err_t err;
} cell;
struct batch {
    size_t pending;  /* reports still to come */
    bool abandoned;  /* the caller left: the last report frees the batch */
    cell cells[];
};

/* Runs inside rd_kafka_poll/flush on the thread that polls; p->mu is not
 * held there (pollers release it first). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ev_producer *p = opaque;
    cell *c = m->_private;
    batch *b;
    (void)rk;

    if (c == NULL)
        return;
    b = c->b;
    pthread_mutex_lock(&p->mu);
    c->err = m->err;
    b->pending--;
    if (b->abandoned && b->pending == 0)
        free(b);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int conf_producer(ev_producer *p, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    char timeout[24];
    const char *client = ev__source()[0] ? ev__source() : "gavel";

    snprintf(timeout, sizeof timeout, "%d", p->delivery_timeout_ms);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    if (ev__conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        ev__conf_set(conf, "acks", "all", err, errlen) < 0 ||
        ev__conf_set(conf, "linger.ms", "1", err, errlen) < 0 ||
        ev__conf_set(conf, "message.timeout.ms", timeout, err, errlen) < 0 ||
        ev__conf_set(conf, "client.id", client, err, errlen) < 0)
        return -1;
    return 0;
}

ev_producer *ev_producer_new(const char *bootstrap, char *err, size_t errlen)
{
    ev__settings set;
    if (ev__settings_get(&set, err, errlen) < 0)
        return NULL;
    ev_producer *p = xcalloc(1, sizeof *p);
    pthread_condattr_t ca;
    rd_kafka_conf_t *conf;

    p->delivery_timeout_ms = (int)set.delivery_timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);

    if ((conf = ev__conf_new(bootstrap, err, errlen)) == NULL)
        goto fail_conf;
    if (conf_producer(p, conf, err, errlen) < 0)
        goto fail_rk;
    if ((p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)) == NULL)
        goto fail_rk;
    return p;
fail_rk:
    rd_kafka_conf_destroy(conf);
fail_conf:
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
}

void ev_producer_free(ev_producer *p)
{
    if (p == NULL)
        return;
    if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("producer closing with %d events undelivered (their outbox rows "
                 "stay unsent)", rd_kafka_outq_len(p->rk));
    /* Purged messages report through the callback, freeing abandoned batches. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, 1000);
    rd_kafka_destroy(p->rk);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int ev__producer_delivery_timeout_ms(const ev_producer *p)
{
    return p->delivery_timeout_ms;
}

/* Waits on p->cv for at most ms; p->mu held. */
static void cv_wait_ms(ev_producer *p, int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* Polls for up to ms as the single poller, or waits for the one there is.
 * p->mu held on entry and on return. */
static void serve_or_wait(ev_producer *p, int ms)
{
    if (p->polling) {
        cv_wait_ms(p, ms);
        return;
    }
    p->polling = true;
    pthread_mutex_unlock(&p->mu);
    rd_kafka_poll(p->rk, ms);
    pthread_mutex_lock(&p->mu);
    p->polling = false;
    pthread_cond_broadcast(&p->cv);
}

void ev__producer_poll(ev_producer *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->polling)
        serve_or_wait(p, 0);
    pthread_mutex_unlock(&p->mu);
}

/* Enqueues msgs in order; at the first refusal the rest are settled as
 * failed without a report and their headers freed. */
static void enqueue(ev_producer *p, batch *b, ev__msg *msgs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(msgs[i].topic),
            RD_KAFKA_V_KEY((void *)msgs[i].key, msgs[i].keylen),
            RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(msgs[i].headers), RD_KAFKA_V_OPAQUE(&b->cells[i]),
            RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("cannot enqueue event for topic %s: %s", msgs[i].topic,
                     rd_kafka_err2str(e));
            break;
        }
        msgs[i].headers = NULL; /* librdkafka owns them now */
    }
    if (i == n)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t j = i; j < n; j++)
        b->cells[j].err = RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS;
    b->pending -= n - i;
    pthread_mutex_unlock(&p->mu);
    for (size_t j = i; j < n; j++) {
        if (msgs[j].headers != NULL)
            rd_kafka_headers_destroy(msgs[j].headers);
        msgs[j].headers = NULL;
    }
}

/* Copies results out and releases the batch, or leaves that to its last
 * report; p->mu held. Returns 0 when every message was delivered. A cell
 * still at __IN_PROGRESS has had no report yet. */
static int settle(batch *b, ev__msg *msgs, size_t n)
{
    size_t failed = 0;
    const char *why = "no delivery report in time";

    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = b->cells[i].err;

        msgs[i].result = e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : EV_E_KAFKA;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        if (failed++ == 0 && e != RD_KAFKA_RESP_ERR__IN_PROGRESS)
            why = rd_kafka_err2str(e);
    }
    if (failed > 0)
        log_warn("%zu of %zu events not delivered: %s", failed, n, why);
    if (b->pending == 0)
        free(b);
    else
        b->abandoned = true;
    return failed > 0 ? EV_E_KAFKA : 0;
}

int ev__produce_batch(ev_producer *p, ev__msg *msgs, size_t n, int timeout_ms,
                      const atomic_bool *cancel)
{
    batch *b;
    int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
    int rc;

    if (n == 0)
        return 0;
    b = xcalloc(1, sizeof *b + n * sizeof(cell));
    b->pending = n;
    for (size_t i = 0; i < n; i++)
        b->cells[i] = (cell){.b = b, .err = RD_KAFKA_RESP_ERR__IN_PROGRESS};
    enqueue(p, b, msgs, n);

    pthread_mutex_lock(&p->mu);
    while (b->pending > 0 && !(cancel && atomic_load(cancel))) {
        int64_t left = deadline - mono_us();

        if (left <= 0)
            break;
        serve_or_wait(p, left > 100000 ? 100 : (int)(left / 1000) + 1);
    }
    rc = settle(b, msgs, n);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int ev_produce_sync(ev_producer *p, const char *topic, const void *key,
                    size_t keylen, const void *value, size_t len, int timeout_ms)
{
    ev__msg m = {
        .topic = topic, .key = key, .keylen = keylen, .value = value, .len = len,
    };

    return ev__produce_batch(p, &m, 1, timeout_ms, NULL);
}
