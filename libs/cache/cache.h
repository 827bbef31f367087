/*
 * cache: Redis access for Gavel daemons over hiredis. Each thread keeps its
 * own connection (hiredis contexts are not thread-safe), opened on first
 * use and re-opened once after a failure. Used for the token revocation
 * list now; rate limits and pub/sub fan-out later.
 */
#ifndef GAVEL_CACHE_H
#define GAVEL_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

enum {
    RDS_OK = 0,
    RDS_E_CONN = -30,  /* Redis unreachable or the connection broke */
    RDS_E_REPLY = -31, /* Redis answered with an error */
};

#include <stddef.h>

#include "core/core.h"

/** The cache library's settings: GAVEL_REDIS_ADDR ("host:port", default
 *  127.0.0.1:56379). */
extern const cfg_entry rds_config[];
/** Loads rds_config from the environment and checks the address is
 *  host:port with a port of 1..65535. Returns 0, or -1 with a message
 *  naming the variable in err. The daemon skeleton calls it before
 *  start-up; the first connection calls it too (a failure is logged and no
 *  connection opens). */
int rds_config_load(char *err, size_t errlen);

/** Sets the address ("host:port") used by new connections instead of
 *  GAVEL_REDIS_ADDR (tests). Call before any thread uses Redis. */
void rds_configure(const char *addr);

/** The address new connections use, split: host (hostlen bytes) and port.
 *  Returns 0, or -1 when it is not host:port. For connections the cache
 *  library does not make itself (the gateway's async subscriber). */
int rds_address(char *host, size_t hostlen, int *port);

/**
 * Runs one command on this thread's connection (hiredis format string),
 * re-connecting and retrying once when the connection broke. Returns a reply
 * the caller frees with freeReplyObject(), or NULL with *rc set.
 */
redisReply *rds_command(int *rc, const char *fmt, ...);

/**
 * Runs one command of argc arguments (argv[i], binary-safe with lengths
 * argvlen) on this thread's connection, re-connecting and retrying once
 * when the connection broke. Returns a reply the caller frees with
 * freeReplyObject(): with *rc RDS_OK, or with *rc RDS_E_REPLY when Redis
 * answered with an error (the reply is that error, for the caller to read,
 * e.g. NOSCRIPT; not logged). NULL with *rc RDS_E_CONN when Redis cannot
 * be reached. argv is borrowed for the call.
 */
redisReply *rds_command_argv(int *rc, int argc, const char *const *argv,
                             const size_t *argvlen);

/**
 * Sends n commands of argc arguments each (argv[i*argc + k], binary-safe
 * with lengths argvlen) as one pipeline on this thread's connection and
 * reads every reply, re-connecting and sending them all again once when the
 * connection broke (so a command may run twice: use it for idempotent or
 * repeatable commands such as PUBLISH). Returns 0, RDS_E_CONN, or
 * RDS_E_REPLY when Redis refused one of them (the others still ran).
 */
int rds_pipeline(size_t n, int argc, const char *const *argv, const size_t *argvlen);

/** Marks a token id revoked for ttl_s seconds. Returns 0 or RDS_E_*. */
int rds_revoke(const char *jti, int64_t ttl_s);
/** 1 when revoked, 0 when not, RDS_E_* when Redis cannot say. */
int rds_is_revoked(const char *jti);

/** Closes this thread's connection (thread exit hooks call it). */
void rds_thread_close(void);

#endif
