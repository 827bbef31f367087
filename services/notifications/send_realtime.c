/*
 * The realtime channel: one PUBLISH of the notification as JSON to Redis
 * channel gavel:user:<id>, which every gateway forwards to that user's
 * WebSockets (docs/notifications.md gives the message). A Lua script sets
 * a marker gavel:notif:sent:<delivery id> and publishes only when the
 * marker was not there, in one atomic step, so a delivery retried after a
 * crash (its lease expired after Redis took it) publishes nothing twice.
 * A worker's round sends all its realtime messages as one pipeline: one
 * round trip instead of one per message. When the pipeline fails, every
 * message of it is retried, and the markers keep the ones that went out
 * from going out again.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "notif.h"
#include "pbjson/pbjson.h"

/* Markers outlive any lease and retry schedule by far. */
#define MARKER_TTL_S "604800"

static const char publish_once[] =
    "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then "
    "return redis.call('PUBLISH', KEYS[2], ARGV[1]) end return -1";

/* The message: {"type":"notification","notification":{…},"unreadCount":"n"}.
 * Returns a new string (caller frees) or NULL with err set. */
static char *message_json(const notif_delivery *d, char *err, size_t errlen)
{
    Gavel__Notifications__V1__Notification n = GAVEL__NOTIFICATIONS__V1__NOTIFICATION__INIT;
    n.id = d->notification_id;
    n.user_id = d->user_id;
    n.kind = (Gavel__Notifications__V1__EventKind)d->kind;
    n.title = (char *)d->title;
    n.body = (char *)d->body;
    n.lot_id = d->lot_id;
    n.link = (char *)d->link;
    n.event_id = (char *)d->event_id;
    n.created_at_us = d->created_at_us;
    json_t *obj = NULL;
    if (pbj_encode(&n.base, NULL, &obj, err, errlen) != 0)
        return NULL;
    char unread[24];
    snprintf(unread, sizeof unread, "%lld", (long long)d->unread);
    json_t *msg = json_pack("{s:s, s:o, s:s}", "type", "notification", "notification", obj,
                            "unreadCount", unread);
    if (msg == NULL) {
        snprintf(err, errlen, "cannot build the JSON message");
        return NULL;
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        snprintf(err, errlen, "cannot write the JSON message");
    return text;
}

/* One delivery's EVAL, arguments kept for the pipeline. */
typedef struct {
    char *text;
    char marker[48], channel[40];
} rt_msg;

int send_realtime_batch(const notif_delivery *const *ds, size_t n, char *err, size_t errlen)
{
    /* EVAL script 2 marker channel message ttl */
    enum { ARGC = 7 };
    rt_msg *m = xcalloc(n, sizeof *m);
    const char **argv = xcalloc(n * ARGC, sizeof *argv);
    size_t *len = xcalloc(n * ARGC, sizeof *len);
    int out = NOTIF_SEND_OK;
    for (size_t i = 0; i < n; i++) {
        if ((m[i].text = message_json(ds[i], err, errlen)) == NULL) {
            out = NOTIF_SEND_FAIL;
            break;
        }
        snprintf(m[i].marker, sizeof m[i].marker, "gavel:notif:sent:%lld", (long long)ds[i]->id);
        snprintf(m[i].channel, sizeof m[i].channel, "gavel:user:%lld",
                 (long long)ds[i]->user_id);
        const char *a[ARGC] = { "EVAL", publish_once, "2", m[i].marker, m[i].channel,
                                m[i].text, MARKER_TTL_S };
        for (size_t k = 0; k < ARGC; k++) {
            argv[i * ARGC + k] = a[k];
            len[i * ARGC + k] = strlen(a[k]);
        }
    }
    if (out == NOTIF_SEND_OK) {
        int rc = rds_pipeline(n, ARGC, argv, len);
        if (rc != RDS_OK) {
            snprintf(err, errlen, "redis: %s", rc == RDS_E_CONN ? "unreachable" : "error");
            out = NOTIF_SEND_FAIL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(m[i].text);
    free(m);
    free(argv);
    free(len);
    return out;
}
