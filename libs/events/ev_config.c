/*
 * The events library's settings and series, each declared once as a
 * table. The settings are read strictly: the daemon skeleton loads them
 * before start-up (ev_config_load), and every producer, relay and consumer
 * loads them again as it starts, so a bad value is refused the same way
 * wherever it is read, and a value set just before a start (tests) is the
 * one that start sees. The series are registered when a relay or consumer
 * starts; families made per consumer group have no fixed series.
 */
#include <pthread.h>
#include <stdio.h>

#include "events/events_int.h"

static pthread_mutex_t settings_mu = PTHREAD_MUTEX_INITIALIZER;
static ev__settings settings; /* written by cfg_load under settings_mu */

const cfg_entry ev_config[] = {
    { "GAVEL_KAFKA_BOOTSTRAP", "", CFG_STR, &settings.bootstrap, 0, 0,
      "Kafka bootstrap servers, e.g. kafka:9092; wins over GAVEL_KAFKA_BOOTSTRAP_FILE" },
    { "GAVEL_KAFKA_BOOTSTRAP_FILE", ".run/kafka.bootstrap", CFG_STR, &settings.bootstrap_file,
      0, 0, "file whose first line is the bootstrap address (the dev broker writes it)" },
    { "GAVEL_KAFKA_DELIVERY_TIMEOUT_MS", "30000", CFG_INT, &settings.delivery_timeout_ms, 100,
      300000, "how long the producer tries to deliver one event (message.timeout.ms)" },
    { "GAVEL_KAFKA_SESSION_TIMEOUT_MS", "10000", CFG_INT, &settings.session_timeout_ms, 1000,
      3600000, "consumer group session timeout (session.timeout.ms)" },
    { "GAVEL_KAFKA_FETCH_WAIT_MS", "50", CFG_INT, &settings.fetch_wait_ms, 1, 500,
      "longest wait of a consumer's fetch for new data (fetch.wait.max.ms): a broker "
      "that answers an empty fetch only after it (the dev broker) delays an event by up "
      "to this much" },
    { "GAVEL_OUTBOX_POLL_MS", "1000", CFG_INT, &settings.outbox_poll_ms, 10, 60000,
      "longest sleep of an idle outbox relay; a commit that adds rows wakes it at once "
      "(NOTIFY), the poll only finds rows whose wake-up was missed" },
    { "GAVEL_OUTBOX_RETENTION_S", "86400", CFG_INT, &settings.outbox_retention_s, 1, 315360000,
      "sent outbox rows older than this are deleted by the active relay" },
    { 0 },
};

int ev__settings_get(ev__settings *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&settings_mu);
    int rc = cfg_load(ev_config, err, errlen);
    if (rc == 0)
        *out = settings;
    pthread_mutex_unlock(&settings_mu);
    return rc;
}

int ev_config_load(char *err, size_t errlen)
{
    ev__settings s;
    return ev__settings_get(&s, err, errlen);
}

ev__metric_set ev__mx;

const mx_entry ev_metrics[] = {
    { "gavel_events_outbox_backlog", mx_gauge, "Outbox rows not yet published to Kafka.", NULL,
      &ev__mx.outbox_backlog },
    { "gavel_events_published_total", mx_counter, "Outbox events acknowledged by Kafka.", NULL,
      &ev__mx.published },
    { "gavel_events_publish_failures_total", mx_counter,
      "Outbox events whose publication failed and will be retried.", NULL,
      &ev__mx.publish_failures },
    { "gavel_events_outbox_deleted_total", mx_counter,
      "Sent outbox rows deleted after GAVEL_OUTBOX_RETENTION_S.", NULL, &ev__mx.outbox_deleted },
    { EV__CONSUMED_METRIC, mx_counter, EV__CONSUMED_HELP, "group,result", NULL },
    { EV__ASSIGNED_METRIC, mx_gauge, EV__ASSIGNED_HELP, "group", NULL },
    { 0 },
};

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics(void)
{
    for (const mx_entry *e = ev_metrics; e->name != NULL; e++)
        if (e->var != NULL)
            *e->var = e->make(e->name, e->help, e->labels);
}

void ev__metrics_register(void)
{
    pthread_once(&metrics_once, register_metrics);
}
