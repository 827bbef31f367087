/*
 * check: request-field checks every Gavel handler shares. Each check that
 * fails records INVALID_ARGUMENT on the call with a message naming the
 * field and the rule, so a caller can fix the request without reading our
 * code, and returns that status; success returns GRPC_STATUS_OK. Strings
 * arrive already checked for valid UTF-8 and NUL bytes by the rpc runtime.
 */
#ifndef GAVEL_CHECK_H
#define GAVEL_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc/rpc.h"

/** Characters (code points) in valid UTF-8 s. */
size_t utf8_chars(const char *s);

/** min ≤ characters(s) ≤ max and no control characters. */
int check_text(rpc_call *c, const char *field, const char *s, size_t min, size_t max);

/** As check_text, but newlines and tabs are allowed (descriptions, notes). */
int check_prose(rpc_call *c, const char *field, const char *s, size_t min, size_t max);

/** An idempotency key: 1..128 printable ASCII characters. */
int check_idempotency_key(rpc_call *c, const char *key);

/** True when cur is three upper-case letters named in the comma-separated
 *  list (e.g. "RUB,EUR,USD"). */
bool currency_in_list(const char *cur, const char *list);

/**
 * Maps a DB_E_* code to UNAVAILABLE (connection, timeout, conflict: the
 * caller may retry) or INTERNAL, records it on the call and returns it.
 */
int fail_db(rpc_call *c, int rc);

#endif
