/*
 * ev_relay_test: outbox rows to Kafka, against real PostgreSQL
 * (GAVEL_TEST_PG_DSN) and a real broker (GAVEL_TEST_KAFKA); skipped when
 * either is unset. Proves that rows of a committed transaction are
 * published in id order and marked sent, that rows of a rolled-back
 * transaction never reach Kafka, and that rows stay unsent (and are
 * counted as backlog) while the producer cannot deliver, then go out once
 * a relay with a working producer runs, and that the pool gets the relay's
 * session back without the relay's setting or lock. Wake-ups: a commit
 * by another session wakes an idle relay at once (NOTIFY), without a
 * kick and long before its poll; rows whose NOTIFY never came (trigger
 * off) or was lost with the relay's session (killed by the server) are
 * still published, by the poll and by the relay's next session.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "events/ev_test_util.h"

typedef struct {
    const char *topic;
    const char *aggregate;
    int count;
    char (*ids)[33];  /* out: event ids, in insertion order */
    bool roll_back;
} add_job;

static int add_events(db_conn *c, void *arg)
{
    add_job *j = arg;
    Gavel__Events__V1__LotExtended ext = GAVEL__EVENTS__V1__LOT_EXTENDED__INIT;
    int rc;

    for (int i = 0; i < j->count; i++) {
        ext.lot_id = 42;
        ext.new_ends_at_us = i;
        rc = ev_outbox_add(c, j->topic, "lot.extended", j->aggregate, &ext.base, j->ids[i]);
        if (rc < 0)
            return rc;
    }
    return j->roll_back ? DB_E_ABORT : 0;
}

static char *unsent_sql(void)
{
    return xstrdup("SELECT count(*) FROM event_outbox WHERE sent_at IS NULL");
}

static const char *envelope_id(const evt_msg *m, char out[33])
{
    Gavel__Events__V1__Envelope *e = NULL;
    const char *why;

    assert_int_equal(ev__envelope_unpack(m->value, m->len, &e, &why), 0);
    snprintf(out, 33, "%s", e->id);
    gavel__events__v1__envelope__free_unpacked(e, NULL);
    return out;
}

static void committed_rows_are_published_in_id_order_and_marked_sent(void **state)
{
    enum { TXS = 3, PER_TX = 7 };
    char err[256], (*ids)[33] = xcalloc(TXS * PER_TX, 33), got_id[33];
    char *topic = evt_unique("evtest.relay"), *sql = unsent_sql();
    evt_db d;
    ev_producer *p;
    ev_relay *r;
    evt_msg *got;
    size_t n;
    (void)state;

    evt_kafka();
    evt_db_open(&d, 3);
    assert_non_null(p = ev_producer_new(evt_kafka(), err, sizeof err));
    assert_non_null(r = ev_relay_start(d.pool, p));
    for (int t = 0; t < TXS; t++) {
        add_job j = {.topic = topic, .aggregate = "42", .count = PER_TX, .ids = ids + t * PER_TX};

        assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &j), 0);
        ev_relay_kick(r);
    }
    assert_int_equal(evt_wait_i64(d.pg, sql, 0, 15000), 0);
    assert_int_equal(evt_sql_i64(d.pg, "SELECT count(*) FROM event_outbox WHERE sent_at IS NOT NULL"),
                     TXS * PER_TX);
    got = evt_read_topic(topic, TXS * PER_TX, 15000, &n);
    assert_int_equal(n, TXS * PER_TX);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].key, "42");
        assert_string_equal(envelope_id(&got[i], got_id), ids[i]);
    }
    for (int64_t deadline = mono_us() + 3000000; ev_relay_backlog(r) != 0 && mono_us() < deadline;)
        evt_sleep_ms(50);
    assert_int_equal(ev_relay_backlog(r), 0);
    evt_msgs_free(got, n);
    ev_relay_stop(r);
    ev_producer_free(p);
    evt_db_close(&d);
    free(ids);
    free(topic);
    free(sql);
}

static void rolled_back_rows_never_reach_kafka(void **state)
{
    char err[256], (*ids)[33] = xcalloc(4, 33), got_id[33];
    char *topic = evt_unique("evtest.rollback"), *sql = unsent_sql();
    add_job doomed = {.topic = topic, .aggregate = "7", .count = 3, .ids = ids, .roll_back = true};
    add_job marker = {.topic = topic, .aggregate = "7", .count = 1, .ids = ids + 3};
    evt_db d;
    ev_producer *p;
    ev_relay *r;
    evt_msg *got;
    size_t n;
    (void)state;

    evt_kafka();
    evt_db_open(&d, 3);
    assert_non_null(p = ev_producer_new(evt_kafka(), err, sizeof err));
    assert_non_null(r = ev_relay_start(d.pool, p));
    assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &doomed), DB_E_ABORT);
    assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &marker), 0);
    ev_relay_kick(r);
    assert_int_equal(evt_wait_i64(d.pg, sql, 0, 15000), 0);
    assert_int_equal(evt_sql_i64(d.pg, "SELECT count(*) FROM event_outbox"), 1);
    /* Same key, lower ids: had the doomed rows gone out, they would come
     * before the marker; the reader also waits for extras after it. */
    got = evt_read_topic(topic, 1, 15000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(envelope_id(&got[0], got_id), ids[3]);
    evt_msgs_free(got, n);
    ev_relay_stop(r);
    ev_producer_free(p);
    evt_db_close(&d);
    free(ids);
    free(topic);
    free(sql);
}

static void rows_stay_unsent_while_kafka_cannot_deliver(void **state)
{
    enum { N = 5 };
    char err[256], (*ids)[33] = xcalloc(N, 33), *dead = evt_dead_bootstrap();
    char *topic = evt_unique("evtest.outage"), *sql = unsent_sql();
    add_job j = {.topic = topic, .aggregate = "9", .count = N, .ids = ids};
    evt_db d;
    ev_producer *bad, *good;
    ev_relay *r;
    evt_msg *got;
    size_t n;
    int64_t t0;
    (void)state;

    evt_kafka();
    evt_db_open(&d, 3);
    setenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", "300", 1);
    bad = ev_producer_new(dead, err, sizeof err);
    unsetenv("GAVEL_KAFKA_DELIVERY_TIMEOUT_MS");
    assert_non_null(bad);
    assert_non_null(r = ev_relay_start(d.pool, bad));
    assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &j), 0);
    ev_relay_kick(r);
    evt_sleep_ms(2500); /* several attempts: 300 ms delivery timeout, backoff */
    assert_int_equal(evt_sql_i64(d.pg, sql), N);
    assert_int_equal(ev_relay_backlog(r), N);
    t0 = mono_us();
    ev_relay_stop(r);
    assert_true(mono_us() - t0 < 3000000);
    ev_producer_free(bad);

    assert_non_null(good = ev_producer_new(evt_kafka(), err, sizeof err));
    assert_non_null(r = ev_relay_start(d.pool, good));
    assert_int_equal(evt_wait_i64(d.pg, sql, 0, 15000), 0);
    got = evt_read_topic(topic, N, 15000, &n);
    assert_int_equal(n, N);
    evt_msgs_free(got, n);
    ev_relay_stop(r);
    ev_producer_free(good);
    evt_db_close(&d);
    free(dead);
    free(ids);
    free(topic);
    free(sql);
}

static void sent_rows_leave_the_outbox_after_the_retention(void **state)
{
    char err[256], (*ids)[33] = xcalloc(5, 33);
    char *topic = evt_unique("evtest.retention");
    add_job j = {.topic = topic, .aggregate = "9", .count = 5, .ids = ids};
    char *mine = xasprintf("SELECT count(*) FROM event_outbox WHERE topic = '%s'", topic);
    evt_db d;
    ev_producer *p;
    ev_relay *r;
    (void)state;

    evt_kafka();
    evt_db_open(&d, 3);
    setenv("GAVEL_OUTBOX_RETENTION_S", "1", 1);
    assert_non_null(p = ev_producer_new(evt_kafka(), err, sizeof err));
    assert_non_null(r = ev_relay_start(d.pool, p));
    unsetenv("GAVEL_OUTBOX_RETENTION_S");
    assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &j), 0);
    ev_relay_kick(r);
    /* published first (Kafka has them), then deleted a second or two later */
    size_t n;
    evt_msg *got = evt_read_topic(topic, 5, 15000, &n);
    assert_int_equal(n, 5);
    assert_int_equal(evt_wait_i64(d.pg, mine, 0, 15000), 0);
    evt_msgs_free(got, n);
    ev_relay_stop(r);
    ev_producer_free(p);
    evt_db_close(&d);
    free(mine);
    free(ids);
    free(topic);
}

/* The active relay turns bitmap scans off on the session it holds; the
 * pool must get that session back with the setting and the relay lock
 * gone, or another statement of the service would run without them. */
static void the_relay_gives_its_session_back_as_it_found_it(void **state)
{
    char err[256], (*ids)[33] = xcalloc(2, 33);
    char *topic = evt_unique("evtest.session"), *sql = unsent_sql();
    add_job j = {.topic = topic, .aggregate = "5", .count = 2, .ids = ids};
    evt_db d;
    ev_producer *p;
    ev_relay *r;
    (void)state;

    evt_kafka();
    evt_db_open(&d, 2); /* the pool's whole: the relay's session and one more */
    assert_non_null(p = ev_producer_new(evt_kafka(), err, sizeof err));
    assert_non_null(r = ev_relay_start(d.pool, p));
    assert_int_equal(db_tx(d.pool, DB_READ_COMMITTED, add_events, &j), 0);
    ev_relay_kick(r);
    assert_int_equal(evt_wait_i64(d.pg, sql, 0, 15000), 0);
    ev_relay_stop(r);
    db_conn *c[2];
    for (int i = 0; i < 2; i++) {
        assert_non_null(c[i] = db_pool_get(d.pool, 1000));
        PGresult *res = PQexec(db_pg(c[i]), "SELECT current_setting('enable_bitmapscan') || "
                                            "current_setting('synchronous_commit'), "
                                            "(SELECT count(*) FROM pg_locks WHERE "
                                            "locktype = 'advisory' AND pid = pg_backend_pid())");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "onon");
        assert_string_equal(PQgetvalue(res, 0, 1), "0");
        PQclear(res);
    }
    db_pool_put(d.pool, c[0]);
    db_pool_put(d.pool, c[1]);
    ev_producer_free(p);
    evt_db_close(&d);
    free(ids);
    free(topic);
    free(sql);
}

/* Inserts one row the way another process would: its own session, no
 * kick. */
static void insert_elsewhere(evt_db *d, const char *topic, const char *event_id)
{
    char *sql = xasprintf("INSERT INTO event_outbox (topic, key, event_id, payload) "
                          "VALUES ('%s', '1', '%s', '\\x00')", topic, event_id);
    evt_sql(d->pg, sql);
    free(sql);
}

/* Sessions holding the relay lock in this database: the active relay's. */
#define RELAY_HOLDER                                                                      \
    "FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM "          \
    "pg_database WHERE datname = current_database()) AND objid = "                       \
    "(hashtext('gavel_outbox_relay')::bigint & 4294967295)::oid"

static char *unsent_of(const char *topic)
{
    return xasprintf("SELECT count(*) FROM event_outbox WHERE topic = '%s' AND sent_at IS NULL",
                     topic);
}

/* A relay on a fresh schema that polls every poll_ms, for the wake-up
 * tests; rows go to its own topic. */
typedef struct {
    evt_db d;
    ev_producer *p;
    ev_relay *r;
    char *topic, *unsent;
} wake_env;

static void wake_open(wake_env *w, const char *prefix, const char *poll_ms, bool trigger_on)
{
    char err[256];
    evt_kafka();
    w->topic = evt_unique(prefix);
    w->unsent = unsent_of(w->topic);
    evt_db_open(&w->d, 3);
    if (!trigger_on)
        evt_sql(w->d.pg, "ALTER TABLE event_outbox DISABLE TRIGGER event_outbox_notify");
    setenv("GAVEL_OUTBOX_POLL_MS", poll_ms, 1);
    assert_non_null(w->p = ev_producer_new(evt_kafka(), err, sizeof err));
    w->r = ev_relay_start(w->d.pool, w->p);
    unsetenv("GAVEL_OUTBOX_POLL_MS");
    assert_non_null(w->r);
    /* active, and idle after its first pass found nothing */
    assert_int_equal(evt_wait_i64(w->d.pg, "SELECT count(*) " RELAY_HOLDER, 1, 5000), 1);
    evt_sleep_ms(300);
}

static void insert_rows(wake_env *w, int n)
{
    for (int i = 0; i < n; i++) {
        char id[33];
        ev_new_id(id);
        insert_elsewhere(&w->d, w->topic, id);
    }
}

/* Waits for every row to be marked sent and n messages on the topic,
 * then stops and frees everything. */
static void wake_close(wake_env *w, int n, int timeout_ms)
{
    assert_int_equal(evt_wait_i64(w->d.pg, w->unsent, 0, timeout_ms), 0);
    size_t got_n;
    evt_msg *got = evt_read_topic(w->topic, (size_t)n, 15000, &got_n);
    assert_int_equal(got_n, (size_t)n);
    evt_msgs_free(got, got_n);
    ev_relay_stop(w->r);
    ev_producer_free(w->p);
    evt_db_close(&w->d);
    free(w->topic);
    free(w->unsent);
}

/* A relay that polls only every 20 s still publishes a row committed by
 * another session within a second or two: the commit's NOTIFY woke it. */
static void a_commit_elsewhere_wakes_the_idle_relay(void **state)
{
    wake_env w;
    (void)state;

    wake_open(&w, "evtest.notify", "20000", true);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = mono_us();
        insert_rows(&w, 1);
        assert_int_equal(evt_wait_i64(w.d.pg, w.unsent, 0, 10000), 0);
        assert_true(mono_us() - t0 < 8000000); /* far below the 20 s poll */
    }
    wake_close(&w, 3, 1000);
}

/* No NOTIFY at all (the trigger turned off): the poll still finds the
 * rows. */
static void rows_without_a_wake_up_are_found_by_the_poll(void **state)
{
    wake_env w;
    (void)state;

    wake_open(&w, "evtest.poll", "500", false);
    insert_rows(&w, 4);
    wake_close(&w, 4, 15000);
}

/* The relay's session dies (as when the holder is killed or the server
 * drops it) and rows commit before any relay listens again: their NOTIFY
 * reached nobody, yet they go out once a session holds the lock again.
 * The relay finds its session gone on its next pass (its wait sees the
 * socket close), takes a new one and the lock again, and its first pass
 * publishes what committed meanwhile. */
static void rows_committed_while_no_relay_listens_still_go_out(void **state)
{
    wake_env w;
    (void)state;

    wake_open(&w, "evtest.lost", "20000", true);
    evt_sql(w.d.pg, "SELECT pg_terminate_backend(pid) " RELAY_HOLDER);
    insert_rows(&w, 5);
    wake_close(&w, 5, 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(committed_rows_are_published_in_id_order_and_marked_sent),
        cmocka_unit_test(rolled_back_rows_never_reach_kafka),
        cmocka_unit_test(rows_stay_unsent_while_kafka_cannot_deliver),
        cmocka_unit_test(sent_rows_leave_the_outbox_after_the_retention),
        cmocka_unit_test(the_relay_gives_its_session_back_as_it_found_it),
        cmocka_unit_test(a_commit_elsewhere_wakes_the_idle_relay),
        cmocka_unit_test(rows_without_a_wake_up_are_found_by_the_poll),
        cmocka_unit_test(rows_committed_while_no_relay_listens_still_go_out),
    };

    log_init("ev_relay_test", LOG_ERROR);
    ev_set_source("ev_relay_test");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
