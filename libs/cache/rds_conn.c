/*
 * Per-thread Redis connections. A connection belongs to the thread that
 * opened it; a broken one is dropped and the command retried once on a new
 * connection, so a Redis restart costs one failed attempt, not a failed call.
 * The address is the library's one setting (rds_config), read strictly: an
 * address that is not host:port stops a daemon at start-up.
 */
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "cache/cache.h"
#include "core/core.h"

static char rds_addr[256];
static pthread_once_t rds_once = PTHREAD_ONCE_INIT;
static _Thread_local redisContext *rds_ctx;
static const char *redis_addr_setting;

const cfg_entry rds_config[] = {
    { "GAVEL_REDIS_ADDR", "127.0.0.1:56379", CFG_STR, &redis_addr_setting, 0, 0,
      "Redis host:port (the token revocation list, login throttle counters)" },
    { 0 },
};

/* Splits "host:port" (the last colon) into host and a port of 1..65535. */
static bool split_addr(const char *addr, char *host, size_t hostlen, long *port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= hostlen)
        return false;
    char *end = NULL;
    *port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || *port < 1 || *port > 65535)
        return false;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    return true;
}

int rds_config_load(char *err, size_t errlen)
{
    if (cfg_load(rds_config, err, errlen) < 0)
        return -1;
    char host[256];
    long port;
    if (!split_addr(redis_addr_setting, host, sizeof host, &port)) {
        snprintf(err, errlen, "GAVEL_REDIS_ADDR=%.64s is not host:port (port 1..65535)",
                 redis_addr_setting);
        return -1;
    }
    return 0;
}

static void rds_default_addr(void)
{
    char err[256];
    if (rds_addr[0] != '\0')
        return;
    if (rds_config_load(err, sizeof err) < 0)
        log_error("redis: %s", err);
    else
        snprintf(rds_addr, sizeof rds_addr, "%s", redis_addr_setting);
}

void rds_configure(const char *addr)
{
    snprintf(rds_addr, sizeof rds_addr, "%s", addr);
}

int rds_address(char *host, size_t hostlen, int *port)
{
    pthread_once(&rds_once, rds_default_addr);
    long p = 0;
    if (!split_addr(rds_addr, host, hostlen, &p))
        return -1;
    *port = (int)p;
    return 0;
}

static redisContext *rds_connect(void)
{
    pthread_once(&rds_once, rds_default_addr);
    char host[256];
    long port;
    if (!split_addr(rds_addr, host, sizeof host, &port)) {
        log_warn("redis address \"%s\" is not host:port", rds_addr);
        return NULL;
    }
    struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
    redisContext *c = redisConnectWithTimeout(host, (int)port, tv);
    if (c == NULL || c->err) {
        log_warn("redis %s unreachable: %s", rds_addr, c ? c->errstr : "out of memory");
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

void rds_thread_close(void)
{
    if (rds_ctx != NULL) {
        redisFree(rds_ctx);
        rds_ctx = NULL;
    }
}

static redisReply *rds_vcommand(int *rc, const char *fmt, va_list ap)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rds_ctx == NULL && (rds_ctx = rds_connect()) == NULL)
            continue;
        va_list copy;
        va_copy(copy, ap);
        redisReply *r = redisvCommand(rds_ctx, fmt, copy);
        va_end(copy);
        if (r == NULL) { /* the connection broke: hiredis cannot reuse it */
            log_warn("redis command failed: %s", rds_ctx->errstr);
            rds_thread_close();
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            log_warn("redis error: %s", r->str);
            freeReplyObject(r);
            *rc = RDS_E_REPLY;
            return NULL;
        }
        *rc = RDS_OK;
        return r;
    }
    *rc = RDS_E_CONN;
    return NULL;
}

redisReply *rds_command(int *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = rds_vcommand(rc, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *rds_command_argv(int *rc, int argc, const char *const *argv,
                             const size_t *argvlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rds_ctx == NULL && (rds_ctx = rds_connect()) == NULL)
            continue;
        redisReply *r = redisCommandArgv(rds_ctx, argc, (const char **)argv, argvlen);
        if (r == NULL) { /* the connection broke: hiredis cannot reuse it */
            log_warn("redis command failed: %s", rds_ctx->errstr);
            rds_thread_close();
            continue;
        }
        *rc = r->type == REDIS_REPLY_ERROR ? RDS_E_REPLY : RDS_OK;
        return r;
    }
    *rc = RDS_E_CONN;
    return NULL;
}

int rds_revoke(const char *jti, int64_t ttl_s)
{
    int rc;
    if (ttl_s < 1)
        ttl_s = 1;
    redisReply *r = rds_command(&rc, "SET gavel:revoked:%s 1 EX %lld", jti,
                                (long long)ttl_s);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int rds_is_revoked(const char *jti)
{
    int rc;
    redisReply *r = rds_command(&rc, "EXISTS gavel:revoked:%s", jti);
    if (r == NULL)
        return rc;
    int revoked = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return revoked;
}

/* Sends the pipeline and reads its replies; -1 when the connection broke. */
static int pipeline_once(size_t n, int argc, const char *const *argv, const size_t *argvlen,
                         int *rc)
{
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(rds_ctx, argc, (const char **)&argv[i * (size_t)argc],
                                   &argvlen[i * (size_t)argc]) != REDIS_OK)
            return -1;
    *rc = RDS_OK;
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(rds_ctx, &reply) != REDIS_OK)
            return -1;
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_ERROR) {
            log_warn("redis error: %s", r->str);
            *rc = RDS_E_REPLY;
        }
        freeReplyObject(r);
    }
    return 0;
}

int rds_pipeline(size_t n, int argc, const char *const *argv, const size_t *argvlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rds_ctx == NULL && (rds_ctx = rds_connect()) == NULL)
            continue;
        int rc = RDS_OK;
        if (pipeline_once(n, argc, argv, argvlen, &rc) == 0)
            return rc;
        log_warn("redis pipeline failed: %s", rds_ctx->errstr);
        rds_thread_close(); /* hiredis cannot reuse a broken context */
    }
    return RDS_E_CONN;
}
