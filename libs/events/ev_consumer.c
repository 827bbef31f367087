/*
 * ev_consumer: a consumer-group thread that applies each event once.
 *
 * For every message, in one READ COMMITTED transaction: insert
 * (group, event id) into event_processed, and run the handler only when
 * that row is new. The Kafka offset is committed, synchronously, only
 * after the transaction committed. A crash between the two redelivers the
 * event, and the existing row turns the redelivery into a no-op; two
 * members racing on one event (during a rebalance) serialize on the row's
 * unique key, and the loser sees the conflict and does nothing.
 *
 * A message that is not a valid Envelope, or that the handler rejects
 * with EV_E_INVALID, is logged, counted, copied to "<topic>.dlq" (headers
 * say why and where from) and then committed: it can never succeed, and it
 * must not stop the partition. Any other failure (database down, handler
 * error, DLQ not writable) rewinds the partition to the message and backs
 * off, 100 ms doubling to 5 s; the consumer still polls between attempts,
 * so it stays in its group. Offsets never move past an event that was
 * neither applied nor dead-lettered.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events_int.h"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000 };

struct ev_consumer {
    rd_kafka_t *rk;          /* owned; used by the thread only once started */
    ev_producer *dlq;        /* owned: writes <topic>.dlq */
    db_pool *pool;           /* borrowed */
    ev_handler handler;
    void *arg;
    char *group;             /* owned */
    pthread_t thread;
    atomic_bool stop;
    mx_metric *m_applied, *m_duplicate, *m_invalid, *m_retried;
};

typedef struct {
    ev_consumer *c;
    const Gavel__Events__V1__Envelope *env;
    bool is_new;
} apply_ctx;

static const char sql_processed[] =
    "INSERT INTO event_processed (consumer, event_id) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING";

/* The transaction body: dedupe row, then the handler if the row is new. */
static int apply_tx(db_conn *conn, void *arg)
{
    apply_ctx *a = arg;
    PGconn *pg = db_pg(conn);
    const char *values[2] = {a->c->group, a->env->id};
    PGresult *res;
    int rc;

    res = PQexecParams(pg, sql_processed, 2, NULL, values, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = res ? db_classify(res, pg) : DB_E_CONN;
        if (rc != DB_E_RETRY)
            log_error("consumer %s: recording event %s failed (%s): %s", a->c->group,
                      a->env->id, db_strerror(rc),
                      res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
        PQclear(res);
        return rc;
    }
    a->is_new = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return a->is_new ? a->c->handler(conn, a->env, a->c->arg) : 0;
}

static rd_kafka_headers_t *dlq_headers(const ev_consumer *c,
                                       const rd_kafka_message_t *m, const char *why)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    char num[24];

    rd_kafka_header_add(h, "gavel-dlq-reason", -1, why, -1);
    rd_kafka_header_add(h, "gavel-dlq-topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "gavel-dlq-group", -1, c->group, -1);
    snprintf(num, sizeof num, "%d", (int)m->partition);
    rd_kafka_header_add(h, "gavel-dlq-partition", -1, num, -1);
    snprintf(num, sizeof num, "%lld", (long long)m->offset);
    rd_kafka_header_add(h, "gavel-dlq-offset", -1, num, -1);
    return h;
}

/* Copies m to <topic>.dlq. Returns 0 once Kafka has it, or EV_E_KAFKA. */
static int dead_letter(ev_consumer *c, const rd_kafka_message_t *m, const char *why)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    char *dlq = xasprintf("%s.dlq", topic);
    ev__msg dm = {
        .topic = dlq, .key = m->key, .keylen = m->key_len,
        .value = m->payload, .len = m->len, .headers = dlq_headers(c, m, why),
    };
    int rc = ev__produce_batch(c->dlq, &dm, 1,
                               ev__producer_delivery_timeout_ms(c->dlq) + 5000, &c->stop);

    if (rc == 0) {
        mx_add(c->m_invalid, 1);
        log_error("consumer %s: malformed event at %s [%d] offset %lld (%s), "
                  "copied to %s and skipped", c->group, topic, (int)m->partition,
                  (long long)m->offset, why, dlq);
    }
    free(dlq);
    return rc;
}

/* Applies one message. Returns 0 when its offset may be committed. */
static int handle(ev_consumer *c, const rd_kafka_message_t *m)
{
    Gavel__Events__V1__Envelope *env = NULL;
    apply_ctx a = {.c = c};
    const char *why = NULL;
    int rc;

    if (ev__envelope_unpack(m->payload, m->len, &env, &why) < 0)
        return dead_letter(c, m, why);
    a.env = env;
    log_set_request_id(env->request_id[0] ? env->request_id : NULL);
    rc = db_tx(c->pool, DB_READ_COMMITTED, apply_tx, &a);
    if (rc == EV_E_INVALID) {
        rc = dead_letter(c, m, "handler rejected the event");
    } else if (rc < 0) {
        log_warn("consumer %s: event %s (%s) at %s [%d] offset %lld not applied "
                 "(%d: %s), will retry", c->group, env->id, env->type,
                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset, rc, rc >= DB_E_ABORT ? db_strerror(rc) : "handler");
    } else {
        mx_add(a.is_new ? c->m_applied : c->m_duplicate, 1);
    }
    log_set_request_id(NULL);
    gavel__events__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* Points the partition back at m so the next poll returns it again. */
static void rewind_to(ev_consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *e;

    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)
        ->offset = m->offset;
    if ((e = rd_kafka_seek_partitions(c->rk, l, 5000)) != NULL) {
        log_warn("consumer %s: cannot rewind %s [%d]: %s", c->group,
                 rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (l->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("consumer %s: cannot rewind %s [%d]: %s", c->group,
                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                 rd_kafka_err2str(l->elems[0].err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void commit(ev_consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t e = rd_kafka_commit_message(c->rk, m, 0);

    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("consumer %s: offset commit for %s [%d] offset %lld failed: %s "
                 "(the event will be redelivered and skipped)", c->group,
                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset, rd_kafka_err2str(e));
}

static void *consumer_main(void *arg)
{
    ev_consumer *c = arg;
    int backoff = 0;

    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 200);

        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && handle(c, m) == 0) {
            commit(c, m);
            backoff = 0;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            mx_add(c->m_retried, 1);
            rewind_to(c, m);
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            backoff = backoff > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff;
            ev__sleep_unless(&c->stop, backoff);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log_warn("consumer %s: %s", c->group, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c->rk);
    return NULL;
}

/* Group names become metric labels and log fields: keep them plain. */
static bool group_ok(const char *g)
{
    if (g == NULL || g[0] == '\0' || strlen(g) > 200)
        return false;
    for (; *g; g++)
        if (!((*g >= 'a' && *g <= 'z') || (*g >= 'A' && *g <= 'Z') ||
              (*g >= '0' && *g <= '9') || *g == '.' || *g == '_' || *g == '-'))
            return false;
    return true;
}

/*
 * session.timeout.ms (GAVEL_KAFKA_SESSION_TIMEOUT_MS, default 10 s rather
 * than librdkafka's 45 s): a crashed member's partitions move on sooner,
 * and librdkafka's mock broker, after the last member of a group leaves,
 * holds the next join for the old session timeout minus one second.
 */
static rd_kafka_t *consumer_rk(const char *bootstrap, const char *group,
                               char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = ev__conf_new(bootstrap, err, errlen);
    int64_t session = cfg_int("GAVEL_KAFKA_SESSION_TIMEOUT_MS", 10000);
    char session_s[24];
    rd_kafka_t *rk;

    if (conf == NULL)
        return NULL;
    snprintf(session_s, sizeof session_s, "%lld", (long long)session);
    if (ev__conf_set(conf, "session.timeout.ms", session_s, err, errlen) < 0)
        goto fail;
    /* allow.auto.create.topics: a consumer may start before the first
     * event of its topic exists; brokers still decide (auto.create.topics.enable). */
    if (ev__conf_set(conf, "group.id", group, err, errlen) < 0 ||
        ev__conf_set(conf, "client.id", group, err, errlen) < 0 ||
        ev__conf_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        ev__conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        ev__conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        ev__conf_set(conf, "allow.auto.create.topics", "true", err, errlen) < 0)
        goto fail;
    if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen)) == NULL)
        goto fail;
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static int subscribe(rd_kafka_t *rk, const char *const *topics, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    rd_kafka_resp_err_t e;

    for (size_t i = 0; topics[i] != NULL; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    snprintf(err, errlen, "cannot subscribe: %s", rd_kafka_err2str(e));
    return -1;
}

static mx_metric *consumed(const char *group, const char *result)
{
    char *labels = xasprintf("group=\"%s\",result=\"%s\"", group, result);
    mx_metric *m = mx_counter("gavel_events_consumed_total",
                              "Events taken from Kafka, by outcome.", labels);

    free(labels);
    return m;
}

static void metrics_init(ev_consumer *c)
{
    c->m_applied = consumed(c->group, "applied");
    c->m_duplicate = consumed(c->group, "duplicate");
    c->m_invalid = consumed(c->group, "dead_lettered");
    c->m_retried = consumed(c->group, "retried");
}

ev_consumer *ev_consumer_start(const char *bootstrap, const char *group,
                               const char *const *topics, db_pool *pool,
                               ev_handler handler, void *arg,
                               char *err, size_t errlen)
{
    ev_consumer *c;
    int e;

    if (!group_ok(group) || topics == NULL || topics[0] == NULL || handler == NULL) {
        snprintf(err, errlen, "consumer needs a group of [A-Za-z0-9._-], topics and a handler");
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    *c = (ev_consumer){.pool = pool, .handler = handler, .arg = arg,
                       .group = xstrdup(group)};
    atomic_init(&c->stop, false);
    metrics_init(c);
    if ((c->rk = consumer_rk(bootstrap, group, err, errlen)) == NULL)
        goto fail_rk;
    if (subscribe(c->rk, topics, err, errlen) < 0)
        goto fail_dlq;
    if ((c->dlq = ev_producer_new(bootstrap, err, errlen)) == NULL)
        goto fail_dlq;
    if ((e = pthread_create(&c->thread, NULL, consumer_main, c)) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread: %s", strerror(e));
        goto fail_thread;
    }
    return c;
fail_thread:
    ev_producer_free(c->dlq);
fail_dlq:
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
fail_rk:
    free(c->group);
    free(c);
    return NULL;
}

void ev_consumer_stop(ev_consumer *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    rd_kafka_destroy(c->rk);
    ev_producer_free(c->dlq);
    free(c->group);
    free(c);
}
