/*
 * events: how Gavel daemons publish and consume Kafka events without losing
 * or inventing one.
 *
 *   change + outbox row ──(same PostgreSQL transaction)──► outbox table
 *   relay thread ──(idempotent producer, acks=all, in id order)──► Kafka
 *   consumer ──(handler + processed-event row, one transaction)──► commit offset
 *
 * Every event is a gavel.events.v1.Envelope; the Kafka key is its
 * aggregate id so per-lot / per-user order holds.
 */
#ifndef GAVEL_EVENTS_H
#define GAVEL_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "core/core.h"
#include "db/db.h"
#include "gavel/events/v1/events.pb-c.h"

enum {
    EV_OK = 0,
    EV_E_KAFKA = -20,   /* broker unreachable, delivery failed or timed out */
    EV_E_INVALID = -21, /* malformed event: will never succeed, not retried */
    EV_E_DB = -22,      /* database failure while recording the event */
};

/**
 * The library's settings: GAVEL_KAFKA_BOOTSTRAP, GAVEL_KAFKA_BOOTSTRAP_FILE,
 * GAVEL_KAFKA_DELIVERY_TIMEOUT_MS, GAVEL_KAFKA_SESSION_TIMEOUT_MS and
 * GAVEL_OUTBOX_RETENTION_S, read strictly.
 */
extern const cfg_entry ev_config[];
/** Loads ev_config from the environment. Returns 0, or -1 with a message
 *  naming the variable, its value and the allowed range in err. The daemon
 *  skeleton calls it before start-up; producers, relays and consumers load
 *  the table again when they start and fail the same way. */
int ev_config_load(char *err, size_t errlen);
/** The series the library keeps (gavel_events_*); it registers them itself
 *  when a relay or consumer starts. */
extern const mx_entry ev_metrics[];

/** The tables the outbox and consumer dedupe need; apply with
 *  db_migrate(pool, "events", ev_migrations) before using either. */
extern const db_migration ev_migrations[];

/**
 * Reads the Kafka bootstrap address: GAVEL_KAFKA_BOOTSTRAP when set,
 * otherwise the first line of the file GAVEL_KAFKA_BOOTSTRAP_FILE
 * (default ".run/kafka.bootstrap"). Returns a new string (caller frees)
 * or NULL when neither is available or the settings are bad (logged).
 */
char *ev_bootstrap(void);

/* ---- producer ------------------------------------------------------------- */

typedef struct ev_producer ev_producer;

/** Returns a new idempotent producer (enable.idempotence, acks=all), or NULL
 *  with a message in err. Caller frees with ev_producer_free(). */
ev_producer *ev_producer_new(const char *bootstrap, char *err, size_t errlen);
/** Flushes (up to 10 s) and frees; NULL is a no-op. */
void ev_producer_free(ev_producer *p);
/**
 * What every publishing daemon does at start-up: reads the bootstrap
 * address (ev_bootstrap), sets `source` (ev_set_source) and returns a new
 * producer, or NULL after logging why.
 */
ev_producer *ev_producer_start(const char *source);
/**
 * Produces one message and waits for its delivery report.
 * Returns 0 once the broker acknowledged it, or EV_E_KAFKA.
 */
int ev_produce_sync(ev_producer *p, const char *topic, const void *key,
                    size_t keylen, const void *value, size_t len, int timeout_ms);

/* ---- outbox ----------------------------------------------------------------- */

/**
 * Adds one event to the outbox inside the caller's open transaction on c:
 * wraps `payload` in an Envelope (new id, type, now, aggregate id, source =
 * the daemon name given to ev_set_source, request id of this thread's log
 * context). Writes the new event id into id_out[33] when not NULL.
 * Returns 0 or a DB_E_* code (the caller's transaction must then roll back).
 */
int ev_outbox_add(db_conn *c, const char *topic, const char *type,
                  const char *aggregate_id, const ProtobufCMessage *payload,
                  char id_out[33]);

/* One event for ev_outbox_add_batch; everything borrowed for the call. */
typedef struct {
    const char *topic;
    const char *type;
    const char *aggregate_id;
    const ProtobufCMessage *payload;
} ev_outbox_item;

/**
 * As ev_outbox_add for n events in one statement (group commit writers).
 * Rows keep the order of items, so per-aggregate order holds.
 * Returns 0 or a DB_E_* code (the transaction must then roll back).
 */
int ev_outbox_add_batch(db_conn *c, const ev_outbox_item *items, size_t n);
/** The same rows, sent into c's open pipeline (db_pipe_begin) instead of
 *  waited for; their outcome comes with db_pipe_finish. Returns 0, or
 *  DB_E_CHECK (logged, nothing sent) for a malformed item. */
int ev_outbox_pipe_batch(db_conn *c, const ev_outbox_item *items, size_t n);
/** Prepares the batch insert on c's session, outside a pipeline, so that
 *  ev_outbox_pipe_batch sends it prepared (else it goes as text: parsed
 *  and planned each time). Returns 0 or DB_E_*. */
int ev_outbox_prepare(db_conn *c);

/** Sets the `source` written into envelopes (the daemon name). Call once. */
void ev_set_source(const char *source);

typedef struct ev_relay ev_relay;

/**
 * Starts the relay thread: it takes a PostgreSQL advisory lock so that one
 * relay per database publishes, then repeatedly publishes unsent outbox
 * rows in id order and marks them sent once Kafka acknowledged them. A
 * broker outage only delays delivery. Borrows pool and producer until
 * ev_relay_stop(). Returns NULL when the thread cannot start.
 */
ev_relay *ev_relay_start(db_pool *pool, ev_producer *prod);
/** Wakes the relay now (after a commit that added events). */
void ev_relay_kick(ev_relay *r);
/** Stops the thread after its current batch and frees; NULL is a no-op. */
void ev_relay_stop(ev_relay *r);
/** Rows not yet published (for metrics/health). -1 when unknown. */
int64_t ev_relay_backlog(ev_relay *r);

/* ---- consumer ------------------------------------------------------------------ */

/**
 * Applies one event inside an open transaction on c. Returns 0 to commit,
 * EV_E_INVALID to skip a malformed event for good (it is logged, counted and
 * copied to "<topic>.dlq"), or any other negative code to roll back and
 * retry the same event later with backoff. `env` is borrowed for the call.
 */
typedef int (*ev_handler)(db_conn *c, const Gavel__Events__V1__Envelope *env,
                          void *arg);

typedef struct ev_consumer ev_consumer;

/**
 * Starts a consumer thread in group `group` on `topics` (NULL-terminated,
 * borrowed for the consumer's life). For each message it runs, in one
 * transaction, an insert of (group, event id) into the dedupe table and —
 * only when that row is new — the handler; after COMMIT it commits the
 * Kafka offset. A redelivered event is therefore applied exactly once.
 * Returns NULL with a message in err on failure.
 */
ev_consumer *ev_consumer_start(const char *bootstrap, const char *group,
                               const char *const *topics, db_pool *pool,
                               ev_handler handler, void *arg,
                               char *err, size_t errlen);
/**
 * Ends a piped consumer's batch: called once per transaction attempt,
 * after the handler has seen the attempt's last new event, on the same
 * connection and pipeline, with the consumer's `arg`. `ok` is false when
 * a handler failed; the batch is then rolled back and end should only
 * forget what it gathered. With ok, it sends the writes it gathered (a
 * handler that folds a batch's events into set-based statements sends
 * them here) and returns 0, or a negative code like a handler. Called
 * with nothing gathered too, and never for an attempt that failed before
 * its first handler call.
 */
typedef int (*ev_batch_end)(db_conn *c, bool ok, void *arg);

/**
 * Like ev_consumer_start, for a handler that reads nothing back: it runs
 * with c in pipeline mode and only sends its writes, with db_pipe_send
 * (statements named in `stmts`, NULL-terminated, borrowed for the
 * consumer's life; NULL for none) or db_pipe_send_sql. A failed write is
 * seen once the batch's writes have all been sent, and rolls it back like
 * a handler error. Every write of a batch then costs one round trip.
 * `end` (NULL for none) closes each batch, see ev_batch_end.
 */
ev_consumer *ev_consumer_start_piped(const char *bootstrap, const char *group,
                                     const char *const *topics, db_pool *pool,
                                     const char *const *stmts, ev_handler handler,
                                     ev_batch_end end, void *arg, char *err, size_t errlen);
/**
 * Like ev_consumer_start, with `end` (see ev_batch_end) closing each
 * batch on the same connection, outside any pipeline: a handler that
 * reads may still gather its writes across a batch's events and send
 * them there, one statement per table instead of one per event.
 */
ev_consumer *ev_consumer_start_batched(const char *bootstrap, const char *group,
                                       const char *const *topics, db_pool *pool,
                                       ev_handler handler, ev_batch_end end, void *arg,
                                       char *err, size_t errlen);
/** Stops the thread, commits nothing further, frees; NULL is a no-op. */
void ev_consumer_stop(ev_consumer *c);

/* ---- envelopes --------------------------------------------------------------- */

/** Fills a new event id (32 hex chars). */
void ev_new_id(char out[33]);

/**
 * Serializes an Envelope around `payload`. Returns a new buffer (caller
 * frees with free()) and its length in *len. id may be NULL (a new one).
 */
uint8_t *ev_envelope_pack(const char *id, const char *type,
                          const char *aggregate_id,
                          const ProtobufCMessage *payload, size_t *len);

#endif
