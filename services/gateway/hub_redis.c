/*
 * The hub's one Redis connection: hiredis async on the gateway's loop,
 * subscribed to the channels of lots and users that have local sockets.
 * It connects at start, and again on the next tick after a loss (Redis
 * restarted, the connection broke); every reconnect resubscribes the
 * channels through hub_redis_up, whose confirmations make the hub read
 * every lot's state again, so nothing lost while it was away stays lost.
 *
 * Invariants: at most one context exists; a connect that has not finished
 * within HREDIS_CONNECT_US is abandoned; hiredis frees a context itself
 * after a failed connect or a disconnect, so `ac` is cleared in those
 * callbacks and never freed twice.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>

#include "cache/cache.h"
#include "ws_int.h"

#define HREDIS_CONNECT_US 5000000
#define HREDIS_RETRY_US 500000

static struct {
    redisAsyncContext *ac;   /* NULL while down */
    bool is_up;              /* connected */
    bool has_been_up;        /* for counting reconnects */
    bool is_stopping;
    int64_t connect_at_us;   /* when the pending connect began */
    int64_t retry_at_us;     /* next connect attempt while down */
} hr;

bool hredis_is_up(void)
{
    return hr.is_up;
}

static void on_reply(redisAsyncContext *c, void *r, void *privdata)
{
    (void)c, (void)privdata;
    redisReply *rep = r;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str, *channel = rep->element[1]->str;
    if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING)
        hub_on_message(channel, rep->element[2]->str, rep->element[2]->len);
    else if (strcmp(kind, "subscribe") == 0)
        hub_on_subscribed(channel);
    else if (strcmp(kind, "unsubscribe") == 0)
        hub_on_unsubscribed(channel);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    (void)c;
    if (status != REDIS_OK) { /* hiredis frees the context after this */
        hr.ac = NULL;
        hr.retry_at_us = mono_us() + HREDIS_RETRY_US;
        return;
    }
    hr.is_up = true;
    hr.connect_at_us = 0;
    if (hr.has_been_up) {
        mx_add(ws_mx.redis_reconnects, 1);
        log_info("lot feeds: Redis connection open again; resubscribing");
    }
    hr.has_been_up = true;
    hub_redis_up();
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    (void)c, (void)status;
    bool was_up = hr.is_up;
    hr.ac = NULL;
    hr.is_up = false;
    hr.retry_at_us = mono_us() + HREDIS_RETRY_US;
    if (was_up && !hr.is_stopping) {
        log_warn("lot feeds: Redis connection lost; reconnecting");
        hub_redis_down();
    }
}

static void connect_now(void)
{
    char host[256];
    int port = 0;
    if (rds_address(host, sizeof host, &port) < 0) {
        hr.retry_at_us = mono_us() + HREDIS_CONNECT_US;
        return;
    }
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL || ac->err != 0) {
        if (ac != NULL)
            redisAsyncFree(ac);
        hr.retry_at_us = mono_us() + HREDIS_RETRY_US;
        return;
    }
    if (redisLibuvAttach(ac, gw_loop()) != REDIS_OK) {
        redisAsyncFree(ac);
        hr.retry_at_us = mono_us() + HREDIS_RETRY_US;
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    hr.ac = ac;
    hr.connect_at_us = mono_us();
}

void hredis_tick(int64_t now)
{
    if (hr.is_stopping || hr.is_up)
        return;
    if (hr.ac != NULL) {
        if (hr.connect_at_us != 0 && now - hr.connect_at_us > HREDIS_CONNECT_US) {
            log_warn("lot feeds: Redis connect timed out; retrying");
            redisAsyncContext *ac = hr.ac;
            hr.ac = NULL;
            redisAsyncFree(ac);
        }
        return;
    }
    if (now >= hr.retry_at_us)
        connect_now();
}

int hredis_start(char *err, size_t errlen)
{
    (void)err, (void)errlen;
    hr.is_stopping = false;
    hr.has_been_up = false;
    connect_now(); /* Redis may be away now: the hub works without feeds meanwhile */
    return 0;
}

void hredis_stop(void)
{
    hr.is_stopping = true;
    if (hr.ac != NULL) {
        redisAsyncContext *ac = hr.ac;
        hr.ac = NULL;
        redisAsyncFree(ac);
    }
    hr.is_up = false;
}

void hredis_subscribe(const char *channel)
{
    if (hr.ac != NULL && hr.is_up)
        redisAsyncCommand(hr.ac, on_reply, NULL, "SUBSCRIBE %s", channel);
}

void hredis_unsubscribe(const char *channel)
{
    if (hr.ac != NULL && hr.is_up)
        redisAsyncCommand(hr.ac, NULL, NULL, "UNSUBSCRIBE %s", channel);
}
