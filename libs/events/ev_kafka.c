/*
 * ev_kafka: librdkafka settings and callbacks every events handle shares,
 * and the interruptible sleep the relay and consumer back off with.
 *
 * librdkafka's logs become our JSON lines. It logs broker connection
 * failures at LOG_ERR and retries them itself, so those are warnings here:
 * the failures that matter (an event not delivered, an offset not
 * committed) are reported by the code that sees them. The log callback runs
 * on librdkafka's threads, the error callback on whichever thread polls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/core.h"
#include "events/events_int.h"

/* librdkafka logs with syslog(3) levels. <syslog.h> itself cannot be
 * included: its LOG_INFO and LOG_DEBUG macros clash with core's log levels. */
enum { RDK_LOG_WARNING = 4, RDK_LOG_INFO = 6 };

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    log_level lvl = level <= RDK_LOG_WARNING ? LOG_WARN
                    : level <= RDK_LOG_INFO    ? LOG_INFO
                                               : LOG_DEBUG;
    log_msg(lvl, "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char fatal[512];
    (void)opaque;

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        log_error("rdkafka %s fatal error, the handle must be recreated: %s",
                  rd_kafka_name(rk), fatal);
        return;
    }
    log_warn("rdkafka %s: %s: %s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

int ev__conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                 char *err, size_t errlen)
{
    char why[256];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "kafka setting %s=%s: %s", name, value, why);
    return -1;
}

rd_kafka_conf_t *ev__conf_new(const char *bootstrap, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (bootstrap == NULL || bootstrap[0] == '\0') {
        snprintf(err, errlen, "no Kafka bootstrap address");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (ev__conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) < 0 ||
        ev__conf_set(conf, "log.connection.close", "false", err, errlen) < 0)
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

void ev__sleep_unless(const atomic_bool *stop, int ms)
{
    while (ms > 0 && !(stop && atomic_load(stop))) {
        int slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)slice * 1000000L};

        nanosleep(&ts, NULL);
        ms -= slice;
    }
}
