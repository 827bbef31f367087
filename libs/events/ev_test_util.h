/*
 * ev_test_util.h: helpers for the events tests, never for library code.
 * Include after <cmocka.h>.
 *
 * Tests that need services read GAVEL_TEST_KAFKA (a bootstrap address,
 * e.g. of gavel-devbroker) and GAVEL_TEST_PG_DSN (libpq conninfo, key=value
 * or URI) and skip when either is unset. Each run works in a schema and on
 * topics and groups of its own, named from the clock and pid, so runs
 * never see each other's rows or messages; the schema is dropped at the
 * end.
 */
#ifndef GAVEL_EV_TEST_UTIL_H
#define GAVEL_EV_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/core.h"
#include "events/events_int.h"

static inline const char *evt_env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0') {
        print_message("%s is unset: skipping a test that needs it\n", name);
        skip();
    }
    return v;
}

static inline const char *evt_kafka(void) { return evt_env("GAVEL_TEST_KAFKA"); }

/* A name unique to this run and call: "<prefix>.<us>.<pid>.<n>". */
static inline char *evt_unique(const char *prefix)
{
    static int n;

    return xasprintf("%s.%lld.%d.%d", prefix, (long long)now_us(), (int)getpid(), ++n);
}

static inline void evt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A bootstrap address where nothing listens: a port the kernel just gave
 * us, closed again. Returns a new string. */
static inline char *evt_dead_bootstrap(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return xasprintf("127.0.0.1:%d", (int)ntohs(a.sin_port));
}

/* ---- PostgreSQL: a private schema per test ---- */

typedef struct {
    char *schema;   /* evtest_<us>_<pid> */
    char *dsn;      /* GAVEL_TEST_PG_DSN with search_path set to schema */
    PGconn *pg;     /* for setup and inspection */
    db_pool *pool;  /* migrated with ev_migrations */
} evt_db;

static inline void evt_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static inline void evt_sql(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
}

static inline int64_t evt_sql_i64(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    int64_t v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    v = db_get_i64(res, 0, 0);
    PQclear(res);
    return v;
}

/* Polls sql (one integer) until it equals want or timeout_ms passes;
 * returns the last value. */
static inline int64_t evt_wait_i64(PGconn *pg, const char *sql, int64_t want, int timeout_ms)
{
    int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000, v;

    while ((v = evt_sql_i64(pg, sql)) != want && mono_us() < deadline)
        evt_sleep_ms(50);
    return v;
}

static inline char *evt_dsn_with_schema(const char *dsn, const char *schema)
{
    bool is_uri = strncmp(dsn, "postgres://", 11) == 0 ||
                  strncmp(dsn, "postgresql://", 13) == 0;

    if (!is_uri)
        return xasprintf("%s options='-csearch_path=%s'", dsn, schema);
    return xasprintf("%s%soptions=-csearch_path%%3D%s", dsn,
                     strchr(dsn, '?') ? "&" : "?", schema);
}

static inline void evt_db_open(evt_db *d, int pool_size)
{
    const char *base = evt_env("GAVEL_TEST_PG_DSN");
    char err[256], *sql;

    d->schema = xasprintf("evtest_%lld_%d", (long long)now_us(), (int)getpid());
    d->dsn = evt_dsn_with_schema(base, d->schema);
    d->pg = PQconnectdb(base);
    if (PQstatus(d->pg) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(d->pg));
    PQsetNoticeProcessor(d->pg, evt_quiet, NULL);
    sql = xasprintf("CREATE SCHEMA %s", d->schema);
    evt_sql(d->pg, sql);
    free(sql);
    sql = xasprintf("SET search_path = %s", d->schema);
    evt_sql(d->pg, sql);
    free(sql);
    d->pool = db_pool_new(d->dsn, pool_size, NULL, err, sizeof err);
    if (d->pool == NULL)
        fail_msg("db_pool_new: %s", err);
    assert_int_equal(db_migrate(d->pool, "events", ev_migrations), 0);
}

static inline void evt_db_close(evt_db *d)
{
    char *sql = xasprintf("DROP SCHEMA %s CASCADE", d->schema);

    db_pool_free(d->pool);
    evt_sql(d->pg, sql);
    free(sql);
    PQfinish(d->pg);
    free(d->dsn);
    free(d->schema);
}

/* ---- Kafka: read a topic from the beginning ---- */

typedef struct {
    char *key, *value;  /* copies, NUL-terminated */
    size_t keylen, len;
    char *reason;       /* header gavel-dlq-reason, or NULL */
} evt_msg;

static inline void evt_msgs_free(evt_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].value);
        free(m[i].reason);
    }
    free(m);
}

static inline void evt_copy(evt_msg *dst, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t vlen;

    dst->keylen = m->key_len;
    dst->key = xcalloc(1, m->key_len + 1);
    if (m->key_len)
        memcpy(dst->key, m->key, m->key_len);
    dst->len = m->len;
    dst->value = xcalloc(1, m->len + 1);
    if (m->len)
        memcpy(dst->value, m->payload, m->len);
    dst->reason = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "gavel-dlq-reason", &v, &vlen) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
        dst->reason = xstrndup(v, vlen);
}

/* Reads until `want` messages arrived or timeout_ms passed, through a
 * fresh consumer group; then reads 500 ms more to catch extras. Returns a
 * new array (free with evt_msgs_free) and its length in *n. */
static inline evt_msg *evt_read_topic(const char *topic, size_t want,
                                      int timeout_ms, size_t *n)
{
    char err[256], *group = evt_unique("evtest-reader");
    rd_kafka_conf_t *conf = ev__conf_new(evt_kafka(), err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
    evt_msg *out = xcalloc(want + 64, sizeof *out);
    rd_kafka_t *rk;

    assert_non_null(conf);
    assert_int_equal(ev__conf_set(conf, "group.id", group, err, sizeof err), 0);
    assert_int_equal(ev__conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err), 0);
    assert_non_null(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    *n = 0;
    while (*n < want + 64) {
        rd_kafka_message_t *m;

        if (mono_us() > deadline)
            break;
        if (*n == want && deadline - mono_us() > 500000)
            deadline = mono_us() + 500000;
        if ((m = rd_kafka_consumer_poll(rk, 100)) == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            evt_copy(&out[(*n)++], m);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(group);
    return out;
}

#endif
