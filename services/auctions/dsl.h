/*
 * dsl: the catalog's JSON filter DSL (gavel.auctions.v1.ListLotsRequest
 * filter_json, whose comment is the contract) turned into one
 * parameterised SELECT over the lots table.
 *
 * Parsing checks everything a caller can get wrong and names it: element
 * indexes in messages are 0-based, the element's position in the JSON array
 * (so "element 2" is the third element, as in JSON Pointer /2). The SQL
 * text is built only from the field table below, fixed operators and $n
 * placeholders; every value a caller wrote travels as a bound parameter.
 *
 * Ordering is total: NULL in a nullable column sorts as the sentinel
 * 9223372036854775807 (INT64_MAX, i.e. after every value ascending and
 * before every value descending), the state sorts in lifecycle order, and
 * `id` is always the last key (taking the direction of the key before it),
 * so keyset pagination neither repeats nor skips a row.
 *
 * Cursors are lowercase hex of: version 1, the `now` that the first page's
 * relative times were evaluated against (later pages reuse it, so a page
 * never shifts under "now() - interval …"), the last row's order-key
 * values, and 16 bytes of SHA-256 over a canonical form of the filters and
 * order plus all of the above, so a cursor used with other filters or
 * order, or altered, is refused.
 *
 * Pure: libc, jansson, OpenSSL's SHA-256 and libs/core only. Threads: a
 * dsl_query belongs to the thread that parsed it.
 */
#ifndef GAVEL_AUCTIONS_DSL_H
#define GAVEL_AUCTIONS_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error vocabulary: 0 success, negative failure (all INVALID_ARGUMENT). */
enum {
    DSL_OK = 0,
    DSL_E_JSON = -1,    /* not JSON, not an array, too large, too many elements */
    DSL_E_ELEMENT = -2, /* an element's shape: not an array, unknown operator,
                           wrong arity, a second fields/order/limit/cursor */
    DSL_E_FIELD = -3,   /* unknown field, or one its operator does not apply to */
    DSL_E_VALUE = -4,   /* a value that does not fit its field's type or range */
    DSL_E_CURSOR = -5,  /* a malformed cursor, or one from other filters/order */
};

#define DSL_MAX_BYTES 8192     /* of filter_json */
#define DSL_MAX_ELEMENTS 32
#define DSL_MAX_IN 100         /* values of one "in" */
#define DSL_MAX_ORDER 3        /* keys of "order", id included when named */
#define DSL_MAX_LIMIT 200
#define DSL_DEFAULT_LIMIT 50
#define DSL_MAX_TEXT 1024      /* bytes of one text value or cursor key */
#define DSL_MAX_CURSOR 4096    /* characters of a cursor */
#define DSL_NULL_SORTS_AS "9223372036854775807"

typedef enum {
    DSL_INT,    /* 64-bit integer: a JSON integer or a decimal string */
    DSL_MONEY,  /* minor units, an integer >= 0 */
    DSL_TIME,   /* unix microseconds, RFC 3339, or now() [(+|-) interval n unit] */
    DSL_TEXT,   /* a string (a JSON integer is taken as its decimal text) */
    DSL_STATE,  /* "draft" … "cancelled"; eq, ne and in only */
    DSL_OUTPUT, /* may be named in "fields" only: neither filtered nor ordered */
} dsl_type;

enum {
    DSL_NULLABLE = 1u << 0, /* the column may be NULL: "ne" is IS DISTINCT FROM */
    DSL_LIKE = 1u << 1,     /* "like" applies */
};

/* One DSL field: every name the DSL knows is a row of dsl_fields. */
typedef struct {
    const char *name;      /* as written in the DSL */
    dsl_type type;
    const char *column;    /* SQL expression for filters (alias l); NULL for DSL_OUTPUT */
    const char *sort;      /* SQL expression for ORDER BY and cursors, NULLs as the
                              sentinel; NULL when the field cannot be ordered by */
    unsigned flags;
    const char *lot_field; /* the gavel.auctions.v1.Lot field it returns */
} dsl_field;

/* The field table, ending with {0}; its rows cover every Lot field once. */
extern const dsl_field dsl_fields[];

typedef struct dsl_query dsl_query;

/**
 * Parses json[0..len) (need not be NUL-terminated). Relative times are
 * evaluated against now_us, or against the `now` a cursor carries.
 * Returns 0 with *out a new query (caller frees with dsl_query_free()), or
 * a DSL_E_* code with *out NULL and a message in err (at most errlen bytes,
 * always NUL-terminated when errlen > 0) such as
 * "element 2: unknown field \"price\"". An empty input or "[]" lists
 * everything, by id, 50 at a time.
 */
int dsl_parse(const char *json, size_t len, int64_t now_us, dsl_query **out,
              char *err, size_t errlen);

/** Frees q and everything borrowed from it; NULL is a no-op. */
void dsl_query_free(dsl_query *q);

/** Page size: the "limit" element or DSL_DEFAULT_LIMIT. */
int dsl_limit(const dsl_query *q);

/** Should the answer carry dsl_fields[field]? True for every field when
 *  there is no "fields" element, and always for id. */
bool dsl_returns(const dsl_query *q, int field);

/** The statement dsl_build_sql made; all of it borrowed from the query,
 *  valid until dsl_query_free. */
typedef struct {
    const char *sql;
    int nparams;                /* visibility parameters first, then ours */
    const char *const *params;  /* [nparams] text parameters, none NULL */
    int nkeys;                  /* order keys, id last; their values are the
                                   nkeys columns after the select list */
} dsl_sql;

/**
 * Builds "SELECT <select_list>, <order keys> FROM lots l WHERE
 * (<visibility>) AND <filters> [AND <after the cursor>] ORDER BY <keys>
 * LIMIT $n", where $n is the page size plus one (a further row means there
 * is a next page). visibility (NULL means "true") may use $1..$nvis, whose
 * texts vis_params[0..nvis) are borrowed and must outlive *out;
 * select_list is copied. Both are the caller's trusted SQL.
 */
void dsl_build_sql(dsl_query *q, const char *select_list, const char *visibility,
                   int nvis, const char *const *vis_params, dsl_sql *out);

/**
 * The cursor for the page after a row whose order-key columns (see
 * dsl_sql.nkeys) read key_values[0..nkeys) in text form. Returns a string
 * borrowed from q (valid until dsl_query_free), or NULL when a value does
 * not fit its key (not an integer, or text over DSL_MAX_TEXT bytes).
 */
const char *dsl_cursor_encode(dsl_query *q, const char *const *key_values);

#endif
