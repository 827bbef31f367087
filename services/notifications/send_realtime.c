/*
 * The realtime channel: one PUBLISH of the notification as JSON to Redis
 * channel gavel:user:<id>, which every gateway forwards to that user's
 * WebSockets (docs/notifications.md gives the message). A Lua script sets
 * a marker gavel:notif:sent:<delivery id> and publishes only when the
 * marker was not there, in one atomic step, so a delivery retried after a
 * crash (its lease expired after Redis took it) publishes nothing twice.
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

int send_realtime(const notif_delivery *d, char *err, size_t errlen)
{
    char *text = message_json(d, err, errlen);
    if (text == NULL)
        return -1;
    char marker[48], channel[40];
    snprintf(marker, sizeof marker, "gavel:notif:sent:%lld", (long long)d->id);
    snprintf(channel, sizeof channel, "gavel:user:%lld", (long long)d->user_id);
    int rc = 0;
    redisReply *r = rds_command(&rc, "EVAL %s 2 %s %s %b %s", publish_once, marker, channel,
                                text, strlen(text), MARKER_TTL_S);
    free(text);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", rc == RDS_E_CONN ? "unreachable" : "error");
        return -1;
    }
    int out = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: %.200s", r->str);
        out = -1;
    }
    freeReplyObject(r);
    return out;
}
