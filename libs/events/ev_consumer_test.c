/*
 * ev_consumer_test: exactly-once application, against real PostgreSQL
 * (GAVEL_TEST_PG_DSN) and a real broker (GAVEL_TEST_KAFKA); skipped when
 * either is unset. The handler appends a row per application to a table
 * without a unique key, so a second application would show.
 *
 * Proves: an envelope produced twice is applied once; a consumer restarted
 * after its offset commit applies nothing again; one restarted after the
 * database commit but before the offset commit (the state a crash leaves)
 * gets the event again and skips it; one stopped while retrying applies
 * the event once after restart; transient handler failures retry the same
 * event without overtaking it; a consumer that starts before its topic
 * exists gets the first event; a malformed message and a handler-rejected
 * event go to <topic>.dlq, are committed, and do not stop the consumer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "events/ev_test_util.h"

typedef struct {
    const char *group;
    atomic_int calls;
    atomic_int fail_first;        /* this many calls fail with EV_E_DB */
    const char *reject_type;      /* EV_E_INVALID for this type */
    const char *always_fail_type; /* EV_E_DB for this type, forever */
    bool piped;                   /* started with ev_consumer_start_piped */
    int bad_write;                /* piped: the write of this number (1, 2 …) fails */
    atomic_int writes;
    bool gather;                  /* piped: the batch end writes what the handler gathered */
    char gathered[64][33];        /* ids of the attempt so far (a batch holds at most 64) */
    size_t ngathered;
    atomic_int ends_failed;       /* batch ends told that a handler failed */
} handler_cfg;

static const char sql_applied[] = "INSERT INTO applied (grp, event_id, type) VALUES ($1, $2, $3)";

static int record(db_conn *c, const Gavel__Events__V1__Envelope *env, void *arg)
{
    handler_cfg *h = arg;
    const char *values[3] = {h->group, env->id, env->type};
    PGresult *res;
    int rc = 0;

    atomic_fetch_add(&h->calls, 1);
    if (h->reject_type && strcmp(env->type, h->reject_type) == 0)
        return EV_E_INVALID;
    if (h->always_fail_type && strcmp(env->type, h->always_fail_type) == 0)
        return EV_E_DB;
    if (atomic_fetch_sub(&h->fail_first, 1) > 0)
        return EV_E_DB;
    if (h->gather) {
        assert_true(h->ngathered < 64);
        snprintf(h->gathered[h->ngathered++], sizeof h->gathered[0], "%s", env->id);
        return 0;
    }
    if (h->piped) { /* the failure shows only when the batch's pipeline ends */
        bool bad = atomic_fetch_add(&h->writes, 1) + 1 == h->bad_write;
        db_pipe_send_sql(c, bad ? "INSERT INTO no_such_table VALUES ($1, $2, $3)" : sql_applied,
                         3, values);
        return 0;
    }
    res = PQexecParams(db_pg(c), sql_applied, 3, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = db_classify(res, db_pg(c));
    PQclear(res);
    return rc;
}

/* The batch end of a gathering handler: one statement for the attempt's
 * events, in the order the handler saw them. */
static int write_gathered(db_conn *c, bool ok, void *arg)
{
    handler_cfg *h = arg;
    size_t n = h->ngathered;

    h->ngathered = 0;
    if (!ok) {
        atomic_fetch_add(&h->ends_failed, 1);
        return 0;
    }
    if (n == 0)
        return 0;
    db_array ids;
    db_array_init(&ids);
    for (size_t i = 0; i < n; i++)
        db_array_text(&ids, h->gathered[i]);
    bool bad = atomic_fetch_add(&h->writes, 1) + 1 == h->bad_write;
    const char *values[2] = {h->group, db_array_str(&ids)};
    db_pipe_send_sql(c, bad ? "INSERT INTO no_such_table VALUES ($1, $2)"
                            : "INSERT INTO applied (grp, event_id, type) SELECT $1, id, "
                              "'bid.placed' FROM unnest($2::text[]) WITH ORDINALITY AS g(id, n) "
                              "ORDER BY n",
                     2, values);
    db_array_free(&ids);
    return 0;
}

typedef struct {
    evt_db d;
    char *topic;
    char *group;
    ev_producer *p;
} fixture;

/* Leaves *state NULL without Kafka or PostgreSQL: cmocka treats a skip()
 * in a setup function as an error, so the test itself skips (fx()). */
static int setup(void **state)
{
    fixture *f;
    char err[256];

    *state = NULL;
    if (!getenv("GAVEL_TEST_KAFKA") || !getenv("GAVEL_TEST_PG_DSN"))
        return 0;
    setenv("GAVEL_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    f = xcalloc(1, sizeof *f);
    evt_db_open(&f->d, 3);
    evt_sql(f->d.pg, "CREATE TABLE applied (seq bigserial, grp text, event_id text, type text)");
    f->topic = evt_unique("evtest.consume");
    f->group = evt_unique("evtest-group");
    if ((f->p = ev_producer_new(evt_kafka(), err, sizeof err)) == NULL)
        fail_msg("ev_producer_new: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    if (f == NULL)
        return 0;
    ev_producer_free(f->p);
    evt_db_close(&f->d);
    free(f->topic);
    free(f->group);
    free(f);
    return 0;
}

static fixture *fx(void **state)
{
    if (*state == NULL) {
        evt_kafka();
        evt_env("GAVEL_TEST_PG_DSN");
    }
    return *state;
}

static void produce(fixture *f, const char *id, const char *type)
{
    size_t len;
    uint8_t *buf = ev_envelope_pack(id, type, "5", NULL, &len);

    assert_int_equal(ev_produce_sync(f->p, f->topic, "5", 1, buf, len, 10000), 0);
    free(buf);
}

static ev_consumer *start(fixture *f, handler_cfg *h)
{
    const char *topics[] = {f->topic, NULL};
    char err[256];
    ev_consumer *c;

    h->group = f->group;
    c = h->piped ? ev_consumer_start_piped(evt_kafka(), f->group, topics, f->d.pool, NULL,
                                           record, h->gather ? write_gathered : NULL, h, err,
                                           sizeof err)
                 : ev_consumer_start(evt_kafka(), f->group, topics, f->d.pool, record, h, err,
                                     sizeof err);
    if (c == NULL)
        fail_msg("ev_consumer_start: %s", err);
    return c;
}

/* Times event `id` was applied by the handler, after waiting (up to
 * 20 s) for it to become `want`. */
static int64_t applied(fixture *f, const char *id, int64_t want)
{
    char *sql = xasprintf("SELECT count(*) FROM applied WHERE event_id = '%s'", id);
    int64_t n = evt_wait_i64(f->d.pg, sql, want, 20000);

    free(sql);
    return n;
}

static void same_envelope_produced_twice_is_applied_once(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {0};
    char e[33], last[33];
    ev_consumer *c;

    ev_new_id(e);
    ev_new_id(last);
    produce(f, e, "bid.placed");
    produce(f, e, "bid.placed");
    produce(f, last, "bid.placed");
    c = start(f, &h);
    assert_int_equal(applied(f, last, 1), 1);
    assert_int_equal(applied(f, e, 1), 1);
    assert_int_equal(atomic_load(&h.calls), 2);
    assert_int_equal(evt_sql_i64(f->d.pg, "SELECT count(*) FROM event_processed"), 2);
    ev_consumer_stop(c);
}

static void restart_after_offset_commit_applies_nothing_again(void **state)
{
    fixture *f = fx(state);
    handler_cfg h1 = {0}, h2 = {0};
    char a[33], b[33];
    ev_consumer *c;

    ev_new_id(a);
    ev_new_id(b);
    produce(f, a, "bid.placed");
    c = start(f, &h1);
    assert_int_equal(applied(f, a, 1), 1);
    ev_consumer_stop(c);

    produce(f, b, "bid.placed");
    c = start(f, &h2);
    assert_int_equal(applied(f, b, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(applied(f, a, 1), 1);
    assert_int_equal(atomic_load(&h2.calls), 1); /* a was not even redelivered */
}

static void restart_before_offset_commit_skips_the_applied_event(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {0};
    char a[33], b[33], *sql;
    ev_consumer *c;

    ev_new_id(a);
    ev_new_id(b);
    produce(f, a, "bid.placed");
    /* What a consumer that crashed between its COMMIT and the offset
     * commit leaves behind: the effect and the dedupe row, no offset. */
    sql = xasprintf("INSERT INTO event_processed (consumer, event_id) VALUES ('%s', '%s');"
                    "INSERT INTO applied (grp, event_id, type) VALUES ('%s', '%s', 'bid.placed')",
                    f->group, a, f->group, a);
    evt_sql(f->d.pg, sql);
    free(sql);
    produce(f, b, "bid.placed");
    c = start(f, &h);
    assert_int_equal(applied(f, b, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(applied(f, a, 1), 1);
    assert_int_equal(atomic_load(&h.calls), 1); /* a came back but was skipped */
}

static void consumer_stopped_while_retrying_applies_the_event_once_after_restart(void **state)
{
    fixture *f = fx(state);
    handler_cfg broken = {.always_fail_type = "flaky"}, healthy = {0};
    char x[33];
    ev_consumer *c;
    int64_t t0;

    ev_new_id(x);
    produce(f, x, "flaky");
    c = start(f, &broken);
    for (int64_t end = mono_us() + 20000000; atomic_load(&broken.calls) < 3 && mono_us() < end;)
        evt_sleep_ms(50);
    assert_true(atomic_load(&broken.calls) >= 3);
    t0 = mono_us();
    ev_consumer_stop(c);
    assert_true(mono_us() - t0 < 5000000);
    assert_int_equal(applied(f, x, 0), 0);
    assert_int_equal(evt_sql_i64(f->d.pg, "SELECT count(*) FROM event_processed"), 0);

    c = start(f, &healthy);
    assert_int_equal(applied(f, x, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(atomic_load(&healthy.calls), 1);
}

static void transient_failures_retry_the_same_event_without_overtaking_it(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {.fail_first = 3};
    char a[33], b[33], *sql;
    ev_consumer *c;

    ev_new_id(a);
    ev_new_id(b);
    produce(f, a, "bid.placed");
    produce(f, b, "bid.placed");
    c = start(f, &h);
    assert_int_equal(applied(f, b, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(applied(f, a, 1), 1);
    assert_int_equal(atomic_load(&h.calls), 5);
    sql = xasprintf("SELECT count(*) FROM applied x JOIN applied y ON x.event_id = '%s' "
                    "AND y.event_id = '%s' AND x.seq < y.seq", a, b);
    assert_int_equal(evt_sql_i64(f->d.pg, sql), 1);
    free(sql);
}

static void consumer_started_before_its_topic_exists_gets_the_first_event(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {0};
    char e[33];
    ev_consumer *c;

    ev_new_id(e);
    c = start(f, &h); /* its metadata request auto-creates the topic */
    evt_sleep_ms(1000);
    produce(f, e, "user.registered");
    assert_int_equal(applied(f, e, 1), 1);
    ev_consumer_stop(c);
}

static void malformed_and_rejected_events_go_to_the_dlq_and_are_skipped(void **state)
{
    fixture *f = fx(state);
    handler_cfg h1 = {.reject_type = "bad.type"}, h2 = {0};
    char r[33], v[33], w[33], *dlq = xasprintf("%s.dlq", f->topic);
    static const char garbage[] = "\xff\xffgarbage";
    ev_consumer *c;
    evt_msg *got;
    size_t n;

    ev_new_id(r);
    ev_new_id(v);
    ev_new_id(w);
    assert_int_equal(ev_produce_sync(f->p, f->topic, "5", 1, garbage, sizeof garbage - 1, 10000), 0);
    produce(f, r, "bad.type");
    produce(f, v, "bid.placed");
    c = start(f, &h1);
    assert_int_equal(applied(f, v, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(applied(f, r, 0), 0);

    /* Both offsets were committed: a new member sees only the new event. */
    produce(f, w, "bid.placed");
    c = start(f, &h2);
    assert_int_equal(applied(f, w, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(atomic_load(&h2.calls), 1);

    got = evt_read_topic(dlq, 2, 15000, &n);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].len, sizeof garbage - 1);
    assert_memory_equal(got[0].value, garbage, sizeof garbage - 1);
    assert_string_equal(got[0].reason, "not a gavel.events.v1.Envelope");
    assert_string_equal(got[1].reason, "handler rejected the event");
    assert_string_equal(got[1].key, "5");
    evt_msgs_free(got, n);
    free(dlq);
}

/* Events already waiting are taken together: one rejected in the middle,
 * one delivered twice and a failed first attempt must still leave every
 * good event applied once, in the order produced. */
static void check_waiting_together(fixture *f, handler_cfg *hp)
{
    enum { N = 30, BAD = 10, TWICE = 5 };
    handler_cfg *h = hp, h2 = {.piped = hp->piped};
    char ids[N][33], last[33], *dlq = xasprintf("%s.dlq", f->topic);
    char *want = xstrdup("");

    for (int i = 0; i < N; i++) {
        ev_new_id(ids[i]);
        produce(f, ids[i], i == BAD ? "bad.type" : "bid.placed");
        if (i == TWICE + 10)
            produce(f, ids[TWICE], "bid.placed");
        if (i != BAD) {
            char *w = xasprintf("%s%s%s", want, want[0] ? "," : "", ids[i]);
            free(want);
            want = w;
        }
    }
    ev_consumer *c = start(f, h);
    assert_int_equal(applied(f, ids[N - 1], 1), 1);
    ev_consumer_stop(c);
    char *sql = xasprintf("SELECT string_agg(event_id, ',' ORDER BY seq) FROM applied "
                          "WHERE grp = '%s'", f->group);
    PGresult *r = PQexec(f->d.pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    free(sql);

    size_t n;
    evt_msg *got = evt_read_topic(dlq, 1, 15000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].reason, "handler rejected the event");
    evt_msgs_free(got, n);

    /* Every offset was committed: a new member sees only the new event. */
    ev_new_id(last);
    produce(f, last, "bid.placed");
    c = start(f, &h2);
    assert_int_equal(applied(f, last, 1), 1);
    ev_consumer_stop(c);
    assert_int_equal(atomic_load(&h2.calls), 1);
    free(want);
    free(dlq);
}

static void events_waiting_together_are_applied_once_in_order(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {.reject_type = "bad.type", .fail_first = 1};
    check_waiting_together(f, &h);
}

/* A piped handler's writes travel with the batch's: a write that fails
 * (seen only when the pipeline ends) rolls back the writes sent before it,
 * and the retry applies each event once. */
static void piped_writes_are_applied_once_in_order(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {.reject_type = "bad.type", .fail_first = 1, .piped = true,
                     .bad_write = 4};
    check_waiting_together(f, &h);
}

/* A handler that only gathers, and a batch end that writes the batch in
 * one statement: the same guarantees, and a failed attempt's gathering is
 * dropped before the retry. */
static void gathered_batches_are_applied_once_in_order(void **state)
{
    fixture *f = fx(state);
    handler_cfg h = {.reject_type = "bad.type", .fail_first = 1, .piped = true,
                     .gather = true, .bad_write = 2};
    check_waiting_together(f, &h);
    assert_true(atomic_load(&h.ends_failed) >= 2); /* the failed first call, the rejected event */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_envelope_produced_twice_is_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_after_offset_commit_applies_nothing_again, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_before_offset_commit_skips_the_applied_event, setup, teardown),
        cmocka_unit_test_setup_teardown(consumer_stopped_while_retrying_applies_the_event_once_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(transient_failures_retry_the_same_event_without_overtaking_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(consumer_started_before_its_topic_exists_gets_the_first_event,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_and_rejected_events_go_to_the_dlq_and_are_skipped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(events_waiting_together_are_applied_once_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(piped_writes_are_applied_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(gathered_batches_are_applied_once_in_order, setup,
                                        teardown),
    };

    log_init("ev_consumer_test", LOG_ERROR);
    if (getenv("EV_TEST_FILTER"))
        cmocka_set_test_filter(getenv("EV_TEST_FILTER"));
    ev_set_source("ev_consumer_test");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
