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
 * Messages already waiting are taken together, up to BATCH_MAX, and
 * applied in one transaction (one COMMIT and one offset commit for all),
 * in the order received; their dedupe rows go in with one statement. A
 * batch that cannot be applied whole because one event is invalid is
 * applied again one event at a time. A piped consumer's handler only
 * sends its writes (db_pipe_send): a whole batch's writes then cost one
 * round trip, where each statement would otherwise wait for its own. Its
 * optional batch end runs after the last handler call of each attempt, so
 * a handler can fold the batch's events and write them set-based there;
 * a batched consumer (not piped) has the same batch end.
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

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000, BATCH_MAX = 64 };

struct ev_consumer {
    rd_kafka_t *rk;          /* owned; used by the thread only once started */
    ev_producer *dlq;        /* owned: writes <topic>.dlq */
    db_pool *pool;           /* borrowed */
    ev_handler handler;
    ev_batch_end end;        /* piped only; may be NULL */
    void *arg;
    bool piped;              /* the handler sends into a pipeline */
    const char *const *prepare; /* borrowed: the statements it sends */
    int nprepare;
    char *group;             /* owned */
    pthread_t thread;
    atomic_bool stop;
    mx_metric *m_applied, *m_duplicate, *m_invalid, *m_retried;
    mx_metric *m_assigned;   /* partitions this member holds now */
    int64_t assigned_at_us;  /* when m_assigned was last read (monotonic) */
};

/* Events applied in one transaction; the messages and envelopes are
 * borrowed. */
typedef struct {
    ev_consumer *c;
    Gavel__Events__V1__Envelope **envs;
    size_t n;
    size_t applied;          /* of the last attempt: new events */
} apply_ctx;

/* Rows that exist already are events applied before: RETURNING names only
 * the new ones. A batch holding an id twice inserts it once. */
static const db_stmt st_processed = {
    "ev_consumer_processed",
    "INSERT INTO event_processed (consumer, event_id) "
    "SELECT $1, id FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING RETURNING event_id",
};

/* Inserts the dedupe rows of the whole batch; fresh[i] tells whether
 * envs[i] is to be applied: its row is new and it is the first of the
 * batch with its id. */
static int record_processed(db_conn *conn, const apply_ctx *a, bool *fresh)
{
    db_array ids;
    db_array_init(&ids);
    for (size_t i = 0; i < a->n; i++) {
        db_array_text(&ids, a->envs[i]->id);
        fresh[i] = false;
    }
    const char *values[2] = {a->c->group, db_array_str(&ids)};
    int rc = 0;
    PGresult *res = db_own_exec(conn, &st_processed, 2, values, NULL, NULL, 0, &rc);
    db_array_free(&ids);
    if (res == NULL) {
        if (rc != DB_E_RETRY)
            log_error("consumer %s: recording %zu event(s), first %s, failed (%s)", a->c->group,
                      a->n, a->envs[0]->id, db_strerror(rc));
        return rc;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        size_t i = 0;
        while (i < a->n && (fresh[i] || strcmp(a->envs[i]->id, id) != 0))
            i++;
        if (i < a->n)
            fresh[i] = true;
    }
    PQclear(res);
    return 0;
}

/* The transaction body: the dedupe rows, then the handler for every new
 * event of the batch, in order. */
static int apply_tx(db_conn *conn, void *arg)
{
    apply_ctx *a = arg;
    ev_consumer *c = a->c;
    bool fresh[BATCH_MAX];
    a->applied = 0;
    int rc = record_processed(conn, a, fresh);
    if (rc < 0)
        return rc;
    if (c->piped && (rc = db_pipe_begin(conn, c->prepare, c->nprepare)) < 0)
        return rc;
    for (size_t i = 0; i < a->n && rc >= 0; i++) {
        if (!fresh[i])
            continue;
        log_set_request_id(a->envs[i]->request_id[0] ? a->envs[i]->request_id : NULL);
        rc = c->handler(conn, a->envs[i], c->arg);
        a->applied++;
    }
    if (c->end != NULL) {
        int ended = c->end(conn, rc >= 0, c->arg);
        if (rc >= 0)
            rc = ended;
    }
    if (c->piped) {
        int sent = db_pipe_finish(conn);
        if (rc >= 0)
            rc = sent;
    }
    return rc < 0 ? rc : 0;
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

static void warn_not_applied(const ev_consumer *c, const rd_kafka_message_t *m,
                             const Gavel__Events__V1__Envelope *env, size_t n, int rc)
{
    log_warn("consumer %s: event %s (%s) at %s [%d] offset %lld%s not applied "
             "(%d: %s), will retry", c->group, env->id, env->type,
             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
             n > 1 ? " and the rest of its batch" : "", rc,
             rc >= DB_E_ABORT ? db_strerror(rc) : "handler");
}

/* Applies one message. Returns 0 when its offset may be committed. */
static int handle(ev_consumer *c, const rd_kafka_message_t *m)
{
    Gavel__Events__V1__Envelope *env = NULL;
    const char *why = NULL;
    int rc;

    if (ev__envelope_unpack(m->payload, m->len, &env, &why) < 0)
        return dead_letter(c, m, why);
    apply_ctx a = {.c = c, .envs = &env, .n = 1};
    rc = db_tx(c->pool, DB_READ_COMMITTED, apply_tx, &a);
    if (rc == EV_E_INVALID)
        rc = dead_letter(c, m, "handler rejected the event");
    else if (rc < 0)
        warn_not_applied(c, m, env, 1, rc);
    else
        mx_add(a.applied ? c->m_applied : c->m_duplicate, 1);
    log_set_request_id(NULL);
    gavel__events__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* Points every partition of msgs[0..n) back at its first message there, so
 * the next polls return them again. */
static void rewind_to(ev_consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    rd_kafka_error_t *e;

    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        if (rd_kafka_topic_partition_list_find(l, topic, msgs[i]->partition) == NULL)
            rd_kafka_topic_partition_list_add(l, topic, msgs[i]->partition)->offset =
                msgs[i]->offset;
    }
    if ((e = rd_kafka_seek_partitions(c->rk, l, 5000)) != NULL) {
        log_warn("consumer %s: cannot rewind: %s", c->group, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
                log_warn("consumer %s: cannot rewind %s [%d]: %s", c->group, l->elems[i].topic,
                         (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Commits, synchronously, the offsets past msgs[0..n) (in poll order, so
 * the last of each partition is its highest). */
static void commit(ev_consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);

    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, topic, msgs[i]->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(l, topic, msgs[i]->partition);
        p->offset = msgs[i]->offset + 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("consumer %s: offset commit of %zu event(s) from %s [%d] offset %lld failed: "
                 "%s (they will be redelivered and skipped)", c->group, n,
                 rd_kafka_topic_name(msgs[0]->rkt), (int)msgs[0]->partition,
                 (long long)msgs[0]->offset, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Applies msgs[0..n) one transaction each, committing each offset; at the
 * first that fails, rewinds the rest. Returns how many were done. */
static size_t handle_each(ev_consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (handle(c, msgs[i]) != 0) {
            rewind_to(c, msgs + i, n - i);
            return i;
        }
        commit(c, msgs + i, 1);
    }
    return n;
}

/* Applies msgs[0..n) in one transaction when it can. Returns 0 when every
 * message was applied or dead-lettered and its offset committed; -1 after
 * rewinding to the first that was not. */
static int handle_batch(ev_consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    if (n == 1)
        return handle_each(c, msgs, 1) == 1 ? 0 : -1;
    Gavel__Events__V1__Envelope *envs[BATCH_MAX];
    size_t k = 0;
    const char *why = NULL;
    for (; k < n && ev__envelope_unpack(msgs[k]->payload, msgs[k]->len, &envs[k], &why) == 0;
         k++)
        ;
    int rc = EV_E_INVALID; /* a malformed envelope: one at a time, to dead-letter it */
    apply_ctx a = {.c = c, .envs = envs, .n = n};
    if (k == n)
        rc = db_tx(c->pool, DB_READ_COMMITTED, apply_tx, &a);
    log_set_request_id(NULL);
    if (rc >= 0) {
        mx_add(c->m_applied, (double)a.applied);
        mx_add(c->m_duplicate, (double)(n - a.applied));
        commit(c, msgs, n);
    } else if (rc != EV_E_INVALID) {
        warn_not_applied(c, msgs[0], envs[0], n, rc);
        rewind_to(c, msgs, n);
    }
    for (size_t i = 0; i < k; i++)
        gavel__events__v1__envelope__free_unpacked(envs[i], NULL);
    if (rc == EV_E_INVALID)
        return handle_each(c, msgs, n) == n ? 0 : -1;
    return rc >= 0 ? 0 : -1;
}

/* Waits for a message, then takes those already waiting behind it. */
static size_t poll_batch(ev_consumer *c, rd_kafka_message_t **msgs)
{
    size_t n = 0;
    int wait_ms = 200;
    rd_kafka_message_t *m;
    while (n < BATCH_MAX && (m = rd_kafka_consumer_poll(c->rk, wait_ms)) != NULL) {
        wait_ms = 0;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            msgs[n++] = m;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("consumer %s: %s", c->group, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return n;
}

/* The partitions the group gave this member, at most ten times a second:
 * during a rebalance, or while a member that left without a word still
 * holds some until its session times out, fewer than the topic has (and
 * their events wait). */
static void note_assignment(ev_consumer *c)
{
    int64_t now = mono_us();
    if (now - c->assigned_at_us < 100000)
        return;
    c->assigned_at_us = now;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return;
    mx_set(c->m_assigned, l->cnt);
    rd_kafka_topic_partition_list_destroy(l);
}

static void *consumer_main(void *arg)
{
    ev_consumer *c = arg;
    int backoff = 0;
    rd_kafka_message_t *msgs[BATCH_MAX];

    while (!atomic_load(&c->stop)) {
        size_t n = poll_batch(c, msgs);
        note_assignment(c);
        if (n == 0)
            continue;
        if (handle_batch(c, msgs, n) == 0) {
            backoff = 0;
        } else {
            mx_add(c->m_retried, 1);
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            backoff = backoff > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff;
            ev__sleep_unless(&c->stop, backoff);
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
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
    ev__settings set;
    char session_s[24], fetch_wait[24];
    rd_kafka_t *rk;

    if (ev__settings_get(&set, err, errlen) < 0)
        return NULL;
    rd_kafka_conf_t *conf = ev__conf_new(bootstrap, err, errlen);
    if (conf == NULL)
        return NULL;
    snprintf(session_s, sizeof session_s, "%lld", (long long)set.session_timeout_ms);
    snprintf(fetch_wait, sizeof fetch_wait, "%lld", (long long)set.fetch_wait_ms);
    if (ev__conf_set(conf, "session.timeout.ms", session_s, err, errlen) < 0)
        goto fail;
    /* allow.auto.create.topics: a consumer may start before the first
     * event of its topic exists; brokers still decide (auto.create.topics.enable).
     * fetch.wait.max.ms GAVEL_KAFKA_FETCH_WAIT_MS, default 50
     * (librdkafka's default 500): a broker that
     * answers an empty fetch only after that wait (the dev broker does)
     * otherwise holds an event that arrives meanwhile for up to 0.5 s; at
     * 10 events/s the search index's lag went from p50 0.25-0.5 s, p99
     * 0.5 s to p50 0.025-0.05 s, p99 0.1 s (docs/search.md), for twenty
     * empty fetches a second per idle broker instead of two. */
    if (ev__conf_set(conf, "group.id", group, err, errlen) < 0 ||
        ev__conf_set(conf, "client.id", group, err, errlen) < 0 ||
        ev__conf_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        ev__conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        ev__conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        ev__conf_set(conf, "allow.auto.create.topics", "true", err, errlen) < 0 ||
        ev__conf_set(conf, "fetch.wait.max.ms", fetch_wait, err, errlen) < 0)
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
    mx_metric *m = mx_counter(EV__CONSUMED_METRIC, EV__CONSUMED_HELP, labels);

    free(labels);
    return m;
}

static void metrics_init(ev_consumer *c)
{
    c->m_applied = consumed(c->group, "applied");
    c->m_duplicate = consumed(c->group, "duplicate");
    c->m_invalid = consumed(c->group, "dead_lettered");
    c->m_retried = consumed(c->group, "retried");
    char *labels = xasprintf("group=\"%s\"", c->group);
    c->m_assigned = mx_gauge(EV__ASSIGNED_METRIC, EV__ASSIGNED_HELP, labels);
    free(labels);
}

static ev_consumer *consumer_start(const char *bootstrap, const char *group,
                                   const char *const *topics, db_pool *pool, bool piped,
                                   const char *const *prepare, ev_handler handler,
                                   ev_batch_end end, void *arg, char *err, size_t errlen)
{
    ev_consumer *c;
    int e;

    if (!group_ok(group) || topics == NULL || topics[0] == NULL || handler == NULL) {
        snprintf(err, errlen, "consumer needs a group of [A-Za-z0-9._-], topics and a handler");
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    *c = (ev_consumer){.pool = pool, .handler = handler, .end = end, .arg = arg, .piped = piped,
                       .group = xstrdup(group)};
    c->prepare = prepare;
    while (prepare != NULL && prepare[c->nprepare] != NULL)
        c->nprepare++;
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

ev_consumer *ev_consumer_start(const char *bootstrap, const char *group,
                               const char *const *topics, db_pool *pool,
                               ev_handler handler, void *arg,
                               char *err, size_t errlen)
{
    return consumer_start(bootstrap, group, topics, pool, false, NULL, handler, NULL, arg, err,
                          errlen);
}

ev_consumer *ev_consumer_start_batched(const char *bootstrap, const char *group,
                                       const char *const *topics, db_pool *pool,
                                       ev_handler handler, ev_batch_end end, void *arg,
                                       char *err, size_t errlen)
{
    return consumer_start(bootstrap, group, topics, pool, false, NULL, handler, end, arg, err,
                          errlen);
}

ev_consumer *ev_consumer_start_piped(const char *bootstrap, const char *group,
                                     const char *const *topics, db_pool *pool,
                                     const char *const *stmts, ev_handler handler,
                                     ev_batch_end end, void *arg, char *err, size_t errlen)
{
    return consumer_start(bootstrap, group, topics, pool, true, stmts, handler, end, arg, err,
                          errlen);
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
