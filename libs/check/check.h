/*
 * check: request-field checks every Gavel handler shares. Each check that
 * fails records INVALID_ARGUMENT on the call with a message naming the
 * field and the rule, so a caller can fix the request without reading our
 * code, and returns that status; success returns GRPC_STATUS_OK. Strings
 * arrive already checked for valid UTF-8 and NUL bytes by the rpc runtime.
 *
 * Money (check_money.c) is checked here and nowhere else: the range of an
 * amount, what a currency may be, and the one constructor of a
 * gavel.common.v1.Money.
 */
#ifndef GAVEL_CHECK_H
#define GAVEL_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"

/* ---- text (check.c) ---- */

/** Characters (code points) in valid UTF-8 s. */
size_t check_utf8_chars(const char *s);

/** min ≤ characters(s) ≤ max and no control characters. */
int check_text(rpc_call *c, const char *field, const char *s, size_t min, size_t max);

/** As check_text, but newlines and tabs are allowed (descriptions, notes). */
int check_prose(rpc_call *c, const char *field, const char *s, size_t min, size_t max);

/** An idempotency key: 1..128 printable ASCII characters. */
int check_idempotency_key(rpc_call *c, const char *key);

/**
 * Maps a DB_E_* code to UNAVAILABLE (connection, timeout, conflict: the
 * caller may retry) or INTERNAL, records it on the call and returns it.
 */
int check_fail_db(rpc_call *c, int rc);

/* ---- money (check_money.c) ---- */

/* The most minor units one amount may hold, in any field of any service:
 * 10^15 (ten trillion roubles in kopecks), far inside int64 so sums of a
 * few amounts cannot overflow. */
#define CHECK_MONEY_MAX 1000000000000000LL

/** True when cur is three upper-case letters named in the comma-separated
 *  list (e.g. "RUB,EUR,USD"). */
bool check_currency_in_list(const char *cur, const char *list);

/** True when min_units ≤ units ≤ CHECK_MONEY_MAX: the range rule of
 *  check_money, for amounts that are not (or no longer) a Money field. */
bool check_money_units(int64_t units, int64_t min_units);

/* What one kind of money field must hold. Borrowed by check_money for the
 * call only, so a compound literal over configuration will do. */
typedef struct {
    int64_t min_units;            /* 1: a positive amount; 0 also allows zero */
    const char *currencies;       /* accepted, comma-separated; NULL: any three
                                   * upper-case letters (the caller checks more) */
    const char *default_currency; /* what an empty currency means; NULL: none,
                                   * the currency is required */
} check_money_rule;

/**
 * Checks money field `field` (its name in messages, e.g. "amount" or
 * "items[3].amount") of a request against rule: present, currency as the
 * rule says, then rule->min_units ≤ units ≤ CHECK_MONEY_MAX. The messages:
 * "<field> is required", "<field>.currency must be one of <list>" (or
 * "must be three upper-case letters"), "<field>.units must be between
 * <min> and <max> minor units (got <units>)". On success *cur (may be
 * NULL) is the currency that applies: m's own or the rule's default,
 * borrowed from m or the rule. Returns GRPC_STATUS_OK or
 * INVALID_ARGUMENT (recorded with rpc_fail).
 */
int check_money(rpc_call *c, const char *field, const Gavel__Common__V1__Money *m,
                const check_money_rule *rule, const char **cur);

/* ---- pages (check_page.c) ---- */

/**
 * Reads a PageRequest (NULL = defaults) of a list whose page token is the
 * last id of the previous page, newest first: *size is page_size (1..max,
 * 0 = def), *after the token's id (0 = first page). Returns OK, or
 * INVALID_ARGUMENT recorded on c ("page.page_size must be 0 to 200",
 * "page.page_token is malformed").
 */
int check_page(rpc_call *c, const Gavel__Common__V1__PageRequest *pg, int def, int max,
               int *size, int64_t *after);

/** A new Money of units in currency (copied), allocated in a with
 *  everything it points to, so it lives as long as the arena. */
Gavel__Common__V1__Money *check_money_new(arena *a, const char *currency, int64_t units);

#endif
