/*
 * What one incoming message does (docs/websocket.md): the socket's rate
 * bucket first, then the JSON and its "type" and "id", then the handler
 * of that type. Everything that blocks (token checks, calls to the bids
 * service) goes to ws_jobs.c; every refusal is an error message naming the
 * request id, and changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_int.h"

#define ID_MAX 128

static void refuse(ws_sock *s, const char *id, const char *code, const char *msg)
{
    size_t n = 0;
    ws_send_take(s, wsp_error(id, code, &n, "%s", msg));
}

static bool take_token(ws_sock *s)
{
    int64_t now = mono_us();
    s->tokens += (double)(now - s->tokens_at_us) * (double)ws_cfg.rate / 1e6;
    if (s->tokens > (double)ws_cfg.burst)
        s->tokens = (double)ws_cfg.burst;
    s->tokens_at_us = now;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

/* A lot id as JSON: a decimal string (proto3 JSON) or an integer, > 0. */
static int64_t lot_id_of(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
    if (!json_is_string(v))
        return -1;
    const char *t = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(t, &end, 10);
    if (end == t || *end != '\0' || errno != 0 || n <= 0)
        return -1;
    return n;
}

/* The "lots" array of a (un)subscribe, checked whole before anything. */
static int read_lots(ws_sock *s, const json_t *msg, const char *id, int64_t *ids, size_t max,
                     size_t *n)
{
    const json_t *lots = json_object_get(msg, "lots");
    size_t i;
    const json_t *v;
    char why[160];
    if (!json_is_array(lots) || json_array_size(lots) == 0) {
        refuse(s, id, "INVALID_ARGUMENT", "lots: expected a non-empty array of lot ids");
        return -1;
    }
    if (json_array_size(lots) > max) {
        snprintf(why, sizeof why, "lots: at most %zu lot ids in one message", max);
        refuse(s, id, "INVALID_ARGUMENT", why);
        return -1;
    }
    json_array_foreach(lots, i, v) {
        ids[i] = lot_id_of(v);
        if (ids[i] < 0) {
            snprintf(why, sizeof why, "lots[%zu]: expected a lot id (a positive integer as "
                     "a string)", i);
            refuse(s, id, "INVALID_ARGUMENT", why);
            return -1;
        }
    }
    *n = json_array_size(lots);
    return 0;
}

static void answer_lots(ws_sock *s, const char *type, const char *id, const int64_t *ids,
                        size_t n)
{
    json_t *o = json_object(), *a = json_array();
    json_object_set_new(o, "type", json_string(type));
    if (id != NULL)
        json_object_set_new(o, "id", json_string(id));
    for (size_t i = 0; i < n; i++) {
        char t[24];
        snprintf(t, sizeof t, "%lld", (long long)ids[i]);
        json_array_append_new(a, json_string(t));
    }
    json_object_set_new(o, "lots", a);
    size_t len = 0;
    ws_send_take(s, wsp_dump(o, &len));
    json_decref(o);
}

static void on_subscribe(ws_sock *s, const json_t *msg, const char *id, bool is_sub)
{
    size_t max = (size_t)ws_cfg.max_lots, n = 0;
    int64_t *ids = xcalloc(max + 1, sizeof *ids);
    if (read_lots(s, msg, id, ids, max, &n) < 0)
        goto out;
    if (is_sub) {
        /* The reply comes first, so every snapshot follows it. */
        answer_lots(s, "subscribed", id, ids, n);
        for (size_t i = 0; i < n; i++) {
            if (hub_subscribe(s, ids[i]) < 0) {
                char why[128];
                snprintf(why, sizeof why, "lot %lld not followed: at most %lld lots per "
                         "connection", (long long)ids[i], (long long)ws_cfg.max_lots);
                refuse(s, id, "RESOURCE_EXHAUSTED", why);
                break;
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            hub_unsubscribe(s, ids[i]);
        answer_lots(s, "unsubscribed", id, ids, n);
    }
out:
    free(ids);
}

static void on_auth(ws_sock *s, const json_t *msg, const char *id)
{
    const char *token = json_string_value(json_object_get(msg, "token"));
    if (token == NULL || token[0] == '\0' || strlen(token) > 4096) {
        refuse(s, id, "INVALID_ARGUMENT", "token: expected the access token (a JWT string)");
        return;
    }
    wsj_auth(s, xstrdup(token), id, false);
}

static void on_call(ws_sock *s, const json_t *msg, const char *id, wsj_call_kind kind)
{
    if (s->token == NULL) {
        refuse(s, id, "UNAUTHENTICATED", "this needs an access token: send {\"type\":\"auth\","
               "\"token\":\"...\"} first, or connect with Authorization: Bearer");
        return;
    }
    wsj_call(s, kind, msg, id);
}

void ws_handle(ws_sock *s, const char *text, size_t len)
{
    if (!take_token(s)) {
        mx_add(ws_mx.rate_limited, 1);
        char why[128];
        snprintf(why, sizeof why, "more than %lld messages a second; message dropped",
                 (long long)ws_cfg.rate);
        refuse(s, NULL, "RESOURCE_EXHAUSTED", why);
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (msg == NULL || !json_is_object(msg)) {
        char why[256];
        if (msg == NULL)
            snprintf(why, sizeof why, "malformed JSON at position %d: %s", jerr.position,
                     jerr.text);
        else
            snprintf(why, sizeof why, "a message is a JSON object with a \"type\"");
        refuse(s, NULL, "INVALID_ARGUMENT", why);
        json_decref(msg);
        return;
    }
    const json_t *idv = json_object_get(msg, "id");
    const char *id = json_string_value(idv);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if ((idv != NULL && id == NULL) || (id != NULL && strlen(id) > ID_MAX)) {
        refuse(s, NULL, "INVALID_ARGUMENT", "id: expected a string of at most 128 bytes");
    } else if (type == NULL) {
        refuse(s, id, "INVALID_ARGUMENT", "type: expected a string (auth, subscribe, "
               "unsubscribe, place_bid, set_autobid, ping)");
    } else if (strcmp(type, "ping") == 0) {
        json_t *o = json_pack("{s:s}", "type", "pong");
        if (id != NULL)
            json_object_set_new(o, "id", json_string(id));
        size_t n = 0;
        ws_send_take(s, wsp_dump(o, &n));
        json_decref(o);
    } else if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0) {
        on_subscribe(s, msg, id, type[0] == 's');
    } else if (strcmp(type, "auth") == 0) {
        on_auth(s, msg, id);
    } else if (strcmp(type, "place_bid") == 0) {
        on_call(s, msg, id, WSJ_PLACE_BID);
    } else if (strcmp(type, "set_autobid") == 0) {
        on_call(s, msg, id, WSJ_SET_AUTOBID);
    } else {
        char why[160];
        snprintf(why, sizeof why, "unknown type \"%.64s\" (auth, subscribe, unsubscribe, "
                 "place_bid, set_autobid, ping)", type);
        refuse(s, id, "INVALID_ARGUMENT", why);
    }
    json_decref(msg);
}
