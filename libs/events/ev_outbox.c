/*
 * ev_outbox: the transactional outbox. A service adds its event rows in the
 * same PostgreSQL transaction as the change they describe, so an event
 * exists exactly when its change committed; the relay (ev_relay.c) later
 * publishes unsent rows in id order. A trigger NOTIFYs the relay when
 * rows are added (migration 4), so it wakes at the commit, whichever
 * process committed.
 *
 * Ids come from a sequence when the row is inserted, not at commit, so two
 * concurrent transactions may commit out of id order. Per-aggregate order
 * still holds because writers of one lot or user serialize on its row
 * lock before they add events: for one aggregate, id order is commit order.
 *
 * The pool's prepared-statement table belongs to the service, so the
 * inserts are the library's own statements (db_own_exec), prepared on
 * each session the first time they run there, with the envelope as a
 * binary bytea parameter.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events_int.h"

static const char ev_mig_001[] =
    "CREATE TABLE event_outbox (\n"
    "    id         bigserial PRIMARY KEY,\n"
    "    topic      text NOT NULL,\n"
    "    key        text NOT NULL,\n"
    "    event_id   text NOT NULL UNIQUE,\n"
    "    payload    bytea NOT NULL,\n"
    "    created_at timestamptz DEFAULT now(),\n"
    "    sent_at    timestamptz\n"
    ");\n"
    "CREATE INDEX event_outbox_unsent ON event_outbox (id) WHERE sent_at IS NULL;\n"
    "CREATE TABLE event_processed (\n"
    "    consumer     text,\n"
    "    event_id     text,\n"
    "    processed_at timestamptz DEFAULT now(),\n"
    "    PRIMARY KEY (consumer, event_id)\n"
    ");\n";

/* The relay's retention sweep finds old sent rows through this index. */
static const char ev_mig_002[] =
    "CREATE INDEX event_outbox_sent ON event_outbox (sent_at) WHERE sent_at IS NOT NULL;\n";

/* Nothing looks a row up by event id (consumers dedupe on their side, in
 * event_processed), and ids are 128 random bits: the unique index only
 * cost an insertion at a random place on every insert and every update
 * that marks a row sent. */
static const char ev_mig_003[] =
    "ALTER TABLE event_outbox DROP CONSTRAINT event_outbox_event_id_key;\n";

/* Every statement that adds outbox rows wakes the listening relay
 * (ev_relay.c) when its transaction commits: one NOTIFY per statement,
 * and PostgreSQL folds a transaction's identical ones into one. A relay
 * that misses it (none listening, or its session was being replaced)
 * still finds the rows on its next poll. */
static const char ev_mig_004[] =
    "CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    PERFORM pg_notify('gavel_outbox', '');\n"
    "    RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();\n";

const db_migration ev_migrations[] = {
    {1, "001_outbox_and_processed.sql", ev_mig_001},
    {2, "002_outbox_sent_index.sql", ev_mig_002},
    {3, "003_outbox_event_id_not_indexed.sql", ev_mig_003},
    {4, "004_outbox_notify.sql", ev_mig_004},
    {0, NULL, NULL},
};

static const db_stmt st_insert = {
    "ev_outbox_insert",
    "INSERT INTO event_outbox (topic, key, event_id, payload) VALUES ($1, $2, $3, $4)",
};

static bool arg_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && utf8_valid(s, strlen(s));
}

/* Runs the insert; returns 0 or DB_E_* (logged). */
static int insert_row(db_conn *c, const char *topic, const char *key,
                      const char *id, const uint8_t *env, size_t envlen)
{
    const char *values[4] = {topic, key, id, (const char *)env};
    int lengths[4] = {0, 0, 0, (int)envlen};
    int formats[4] = {0, 0, 0, 1};
    int rc = 0;

    PQclear(db_own_exec(c, &st_insert, 4, values, lengths, formats, 0, &rc));
    return rc;
}

int ev_outbox_add(db_conn *c, const char *topic, const char *type,
                  const char *aggregate_id, const ProtobufCMessage *payload,
                  char id_out[33])
{
    char id[33];
    uint8_t *env;
    size_t len;
    int rc;

    if (!arg_ok(topic) || !arg_ok(type) || !arg_ok(aggregate_id)) {
        log_error("ev_outbox_add: topic, type and aggregate id must be non-empty UTF-8");
        return DB_E_CHECK;
    }
    ev_new_id(id);
    env = ev_envelope_pack(id, type, aggregate_id, payload, &len);
    if (len > INT32_MAX) {
        log_error("ev_outbox_add: %s event of %zu bytes is too large", type, len);
        rc = DB_E_CHECK;
        goto out;
    }
    rc = insert_row(c, topic, aggregate_id, id, env, len);
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, id, sizeof id);
out:
    free(env);
    return rc;
}

static const db_stmt st_insert_many = {
    "ev_outbox_insert_many",
    "INSERT INTO event_outbox (topic, key, event_id, payload) "
    "SELECT t.topic, t.key, t.id, decode(t.payload, 'hex') "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
    "WITH ORDINALITY AS t(topic, key, id, payload, n) ORDER BY t.n",
};

int ev_outbox_prepare(db_conn *c)
{
    return db_own_prepare(c, &st_insert_many);
}

/* Inserts (or, piped, sends into c's open pipeline) the n events. */
static int outbox_batch(db_conn *c, const ev_outbox_item *items, size_t n, bool piped)
{
    if (n == 0)
        return 0;
    db_array topics, keys, ids, payloads;
    db_array_init(&topics);
    db_array_init(&keys);
    db_array_init(&ids);
    db_array_init(&payloads);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ev_outbox_item *it = &items[i];
        if (!arg_ok(it->topic) || !arg_ok(it->type) || !arg_ok(it->aggregate_id)) {
            log_error("ev_outbox_add_batch: topic, type and aggregate id must be non-empty UTF-8");
            rc = DB_E_CHECK;
            break;
        }
        char id[33];
        size_t len = 0;
        ev_new_id(id);
        uint8_t *env = ev_envelope_pack(id, it->type, it->aggregate_id, it->payload, &len);
        db_array_text(&topics, it->topic);
        db_array_text(&keys, it->aggregate_id);
        db_array_text(&ids, id);
        db_array_hex(&payloads, env, len);
        free(env);
    }
    if (rc == 0) {
        const char *values[4] = { db_array_str(&topics), db_array_str(&keys),
                                  db_array_str(&ids), db_array_str(&payloads) };
        if (piped)
            db_pipe_send_own(c, &st_insert_many, 4, values);
        else
            PQclear(db_own_exec(c, &st_insert_many, 4, values, NULL, NULL, 0, &rc));
    }
    db_array_free(&topics);
    db_array_free(&keys);
    db_array_free(&ids);
    db_array_free(&payloads);
    return rc;
}

int ev_outbox_add_batch(db_conn *c, const ev_outbox_item *items, size_t n)
{
    return outbox_batch(c, items, n, false);
}

int ev_outbox_pipe_batch(db_conn *c, const ev_outbox_item *items, size_t n)
{
    return outbox_batch(c, items, n, true);
}
