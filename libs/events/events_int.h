/*
 * events_int.h: what the events modules share among themselves. Never
 * included outside libs/events (tests beside the modules may).
 */
#ifndef GAVEL_EVENTS_INT_H
#define GAVEL_EVENTS_INT_H

#include <stdatomic.h>
#include <librdkafka/rdkafka.h>

#include "events/events.h"

/* ---- envelopes ---- */

/** Borrowed; the name given to ev_set_source ("" before), process lifetime. */
const char *ev__source(void);

/**
 * Unpacks and validates an Envelope (id of 32 hex digits, non-empty type,
 * strings valid UTF-8). Returns 0 with a new message in *out (caller frees
 * with gavel__events__v1__envelope__free_unpacked(*out, NULL)), or
 * EV_E_INVALID with a short reason in *why (a static string).
 */
int ev__envelope_unpack(const void *buf, size_t len,
                        Gavel__Events__V1__Envelope **out, const char **why);

/* ---- rdkafka plumbing shared by producer and consumer ---- */

/**
 * Returns a new configuration with bootstrap.servers and the log and error
 * callbacks set, or NULL with a message in err. Caller owns it (it passes
 * to rd_kafka_new or is destroyed with rd_kafka_conf_destroy).
 */
rd_kafka_conf_t *ev__conf_new(const char *bootstrap, char *err, size_t errlen);
/** Sets one property; returns 0, or -1 with a message in err. */
int ev__conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                 char *err, size_t errlen);

/* ---- producer internals ---- */

/** One message of a batch. `headers` is taken by ev__produce_batch. */
typedef struct {
    const char *topic;
    const void *key;
    size_t keylen;
    const void *value;
    size_t len;
    rd_kafka_headers_t *headers; /* NULL for none */
    int result;                  /* out: 0 delivered, EV_E_KAFKA otherwise */
} ev__msg;

/**
 * Enqueues msgs in order (copying key and value) and waits until every
 * delivery report arrived, timeout_ms passed or *cancel (may be NULL)
 * became true. Enqueueing stops at the first message librdkafka refuses,
 * so a later message never overtakes a failed earlier one from this call;
 * the refused and following ones get EV_E_KAFKA. Returns 0 when all were
 * acknowledged, EV_E_KAFKA otherwise (msgs[i].result says which). Messages
 * still in flight at timeout may be delivered later. Thread-safe.
 */
int ev__produce_batch(ev_producer *p, ev__msg *msgs, size_t n, int timeout_ms,
                      const atomic_bool *cancel);
/** Serves pending callbacks without blocking, unless another thread is. */
void ev__producer_poll(ev_producer *p);
/** Longest time a message may wait for delivery (message.timeout.ms). */
int ev__producer_delivery_timeout_ms(const ev_producer *p);

/* ---- settings and series (ev_config.c) ---- */

/* The values of ev_config, copied out for one start. */
typedef struct {
    const char *bootstrap;       /* "" when unset */
    const char *bootstrap_file;
    int64_t delivery_timeout_ms;
    int64_t session_timeout_ms;
    int64_t outbox_retention_s;
    int64_t outbox_poll_ms;
    int64_t fetch_wait_ms;
} ev__settings;

/** Loads ev_config from the environment and copies it into *out. Returns
 *  0, or -1 with a message naming the variable in err. Thread-safe. */
int ev__settings_get(ev__settings *out, char *err, size_t errlen);

/* The fixed series of ev_metrics, set by ev__metrics_register. */
typedef struct {
    mx_metric *outbox_backlog, *published, *publish_failures, *outbox_deleted;
} ev__metric_set;
extern ev__metric_set ev__mx;
/** Registers ev_metrics once per process; relays and consumers call it. */
void ev__metrics_register(void);

/* The per-group family of consumers (series made per group and outcome). */
#define EV__CONSUMED_METRIC "gavel_events_consumed_total"
#define EV__CONSUMED_HELP "Events taken from Kafka, by outcome."
#define EV__ASSIGNED_METRIC "gavel_events_assigned_partitions"
#define EV__ASSIGNED_HELP "Partitions the consumer group has given this member now."

/* ---- small helpers ---- */

/** Sleeps up to ms, in slices, returning early once *stop is true. */
void ev__sleep_unless(const atomic_bool *stop, int ms);

#endif
