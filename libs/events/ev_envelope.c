/*
 * ev_envelope: the gavel.events.v1.Envelope every Gavel event travels in,
 * and its ids.
 *
 * An event id is 16 bytes from the kernel's CSPRNG as 32 lowercase hex
 * digits: unique without coordination, and the consumers' dedupe key. An
 * envelope is stamped with server time (now_us), the daemon name given to
 * ev_set_source and the request id of the calling thread's log context.
 * Consumers accept only envelopes that unpack and carry a well-formed id
 * and a type; anything else is malformed for good (EV_E_INVALID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events_int.h"

/* Written once at startup (ev_set_source), read by every thread after. */
static char ev_source[64];

void ev_set_source(const char *source)
{
    snprintf(ev_source, sizeof ev_source, "%s", source ? source : "");
}

const char *ev__source(void)
{
    return ev_source;
}

void ev_new_id(char out[33])
{
    request_id_new(out); /* 128 random bits as hex: the same shape as request ids */
}

uint8_t *ev_envelope_pack(const char *id, const char *type,
                          const char *aggregate_id,
                          const ProtobufCMessage *payload, size_t *len)
{
    Gavel__Events__V1__Envelope env = GAVEL__EVENTS__V1__ENVELOPE__INIT;
    const char *rid = log_request_id();
    char fresh[33];
    uint8_t *body = NULL, *out;
    size_t n;

    if (id == NULL) {
        ev_new_id(fresh);
        id = fresh;
    }
    env.id = (char *)id;
    env.type = (char *)(type ? type : "");
    env.occurred_at_us = now_us();
    env.aggregate_id = (char *)(aggregate_id ? aggregate_id : "");
    env.source = ev_source;
    env.request_id = (char *)(rid ? rid : "");
    if (payload != NULL) {
        n = protobuf_c_message_get_packed_size(payload);
        body = xmalloc(n > 0 ? n : 1);
        env.payload.len = protobuf_c_message_pack(payload, body);
        env.payload.data = body;
    }
    n = gavel__events__v1__envelope__get_packed_size(&env);
    out = xmalloc(n > 0 ? n : 1);
    *len = gavel__events__v1__envelope__pack(&env, out);
    free(body);
    return out;
}

static bool is_hex_id(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return false;
    }
    return i == 32;
}

/* protobuf-c does not check UTF-8 in string fields; PostgreSQL text and
 * JSON consumers would reject it later, where it could only be retried. */
static bool strings_valid(const Gavel__Events__V1__Envelope *e)
{
    const char *s[] = {e->type, e->aggregate_id, e->source, e->request_id};

    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (!utf8_valid(s[i], strlen(s[i])))
            return false;
    return true;
}

int ev__envelope_unpack(const void *buf, size_t len,
                        Gavel__Events__V1__Envelope **out, const char **why)
{
    Gavel__Events__V1__Envelope *e;

    *out = NULL;
    e = gavel__events__v1__envelope__unpack(NULL, len, buf);
    if (e == NULL) {
        *why = "not a gavel.events.v1.Envelope";
        return EV_E_INVALID;
    }
    if (!is_hex_id(e->id))
        *why = "envelope id is not 32 hex digits";
    else if (e->type[0] == '\0')
        *why = "envelope has no type";
    else if (!strings_valid(e))
        *why = "envelope string is not UTF-8";
    else {
        *out = e;
        return 0;
    }
    gavel__events__v1__envelope__free_unpacked(e, NULL);
    return EV_E_INVALID;
}
