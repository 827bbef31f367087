/*
 * dsl: Gavel's JSON filter DSL (the contract is the comment of
 * gavel.auctions.v1.ListLotsRequest filter_json; search and saved searches
 * take the same language) turned into one parameterised SELECT. A service
 * brings a schema: its table of fields and the FROM item they are written
 * against; the language, the checks, the messages, the limits, the
 * statement and the cursors are the library's, the same for every schema.
 *
 * Parsing checks everything a caller can get wrong and names it: element
 * indexes in messages are 0-based, the element's position in the JSON array
 * (so "element 2" is the third element, as in JSON Pointer /2). The SQL
 * text is built only from the schema's column expressions and enumerated
 * names, fixed operators and $n placeholders; every value a caller wrote
 * travels as a bound parameter.
 *
 * Ordering is total: NULL in a nullable column sorts as the sentinel
 * 9223372036854775807 (INT64_MAX, i.e. after every value ascending and
 * before every value descending), an enumerated field sorts in the order of
 * its names, and the schema's key (its first row) is always the last order
 * key (taking the direction of the key before it), so keyset pagination
 * neither repeats nor skips a row.
 *
 * Cursors are lowercase hex of: version 1, the `now` that the first page's
 * relative times were evaluated against (later pages reuse it, so a page
 * never shifts under "now() - interval …"), the last row's order-key
 * values, and 16 bytes of SHA-256 over a canonical form of the filters and
 * order plus all of the above, so a cursor used with other filters or
 * order, or altered, is refused.
 *
 * Pure: libc, jansson, OpenSSL's SHA-256 and libs/core only. Threads: a
 * schema is constant data any thread may use; a dsl_query belongs to the
 * thread that parsed it.
 */
#ifndef GAVEL_DSL_H
#define GAVEL_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error vocabulary: 0 success, negative failure. DSL_E_JSON … DSL_E_CURSOR
 * are the caller's mistakes (INVALID_ARGUMENT); DSL_E_SCHEMA is a bug. */
enum {
    DSL_OK = 0,
    DSL_E_JSON = -1,    /* not JSON, not an array, too large, too many elements */
    DSL_E_ELEMENT = -2, /* an element's shape: not an array, unknown or refused
                           operator, wrong arity, a second fields/order/limit/cursor */
    DSL_E_FIELD = -3,   /* unknown field, or one its operator does not apply to */
    DSL_E_VALUE = -4,   /* a value that does not fit its field's type or range */
    DSL_E_CURSOR = -5,  /* a malformed cursor, or one from other filters/order */
    DSL_E_SCHEMA = -6,  /* dsl_schema_check only: the schema itself is broken */
};

#define DSL_MAX_BYTES 8192     /* of filter_json */
#define DSL_MAX_ELEMENTS 32
#define DSL_MAX_IN 100         /* values of one "in" */
#define DSL_MAX_ORDER 3        /* keys of "order", the key field included when named */
#define DSL_MAX_LIMIT 200
#define DSL_DEFAULT_LIMIT 50
#define DSL_MAX_TEXT 1024      /* bytes of one text value or cursor key */
#define DSL_MAX_CURSOR 4096    /* characters of a cursor */
#define DSL_MAX_FIELDS 64      /* rows of a schema ("fields" is a 64-bit mask) */
#define DSL_NULL_SORTS_AS "9223372036854775807"

typedef enum {
    DSL_INT,    /* 64-bit integer: a JSON integer or a decimal string */
    DSL_MONEY,  /* minor units, an integer >= 0 */
    DSL_TIME,   /* unix microseconds, RFC 3339, or now() [(+|-) interval n unit] */
    DSL_TEXT,   /* a string (a JSON integer is taken as its decimal text) */
    DSL_ENUM,   /* one of the row's names, a text column; eq, ne and in only;
                   sorts in the order of the names */
    DSL_OUTPUT, /* may be named in "fields" only: neither filtered nor ordered */
} dsl_type;

enum {
    DSL_NULLABLE = 1u << 0, /* the column may be NULL: "ne" is IS DISTINCT FROM,
                               and ordering sorts NULL as DSL_NULL_SORTS_AS */
    DSL_LIKE = 1u << 1,     /* "like" applies (DSL_TEXT only) */
    DSL_ORDER = 1u << 2,    /* "order" may name it (not nullable DSL_TEXT) */
};

/* One DSL field: every name a schema's DSL knows is one row. */
typedef struct {
    const char *name;               /* as written in the DSL: [a-z0-9_]+ */
    dsl_type type;
    const char *column;             /* SQL expression over the schema's FROM item;
                                       NULL for DSL_OUTPUT */
    unsigned flags;                 /* DSL_NULLABLE | DSL_LIKE | DSL_ORDER */
    const char *reply_field;        /* the caller's: which field of its reply the
                                       row fills; the library never reads it */
    const char *const *names;       /* DSL_ENUM: the values ([a-z0-9_]+) in sort
                                       order, NULL-terminated; else NULL */
} dsl_field;

/* Elements a schema's callers may not write (dsl_schema.refuses). */
enum {
    DSL_NO_FIELDS = 1u << 0,
    DSL_NO_ORDER = 1u << 1,
    DSL_NO_LIMIT = 1u << 2,
    DSL_NO_CURSOR = 1u << 3,
};

/*
 * What one service's filter_json may name, as constant data. The strings
 * are trusted SQL or message text written by the service, never a caller.
 * Messages quote the samples, so they are written in the schema's own
 * fields; dsl_schema_check proves that they parse.
 */
typedef struct {
    const dsl_field *fields;    /* ending with { 0 }; at most DSL_MAX_FIELDS rows.
                                   Row 0 is the key: a unique, non-NULL DSL_INT
                                   with DSL_ORDER that ends every order and is
                                   always returned */
    const char *from;           /* the FROM item the columns use, e.g. "lots l" */
    unsigned refuses;           /* DSL_NO_*: elements refused as DSL_E_ELEMENT */
    const char *listing;        /* the call whose next_cursor a cursor is, e.g.
                                   "ListLots"; unused with DSL_NO_CURSOR */
    const char *sample_filter;  /* a filter_json, e.g. [["eq","city_id",671]] */
    const char *sample_fields;  /* a "fields" value, e.g. id,title; unused with
                                   DSL_NO_FIELDS */
    const char *sample_order;   /* an "order" value, e.g. start_time desc; unused
                                   with DSL_NO_ORDER */
} dsl_schema;

/**
 * Checks a schema against the rules above: names, types, flags, enumerated
 * names, a key row, no quote, semicolon or comment in its SQL strings, and
 * samples that parse. Every service's unit tests call it on its schema.
 * Returns 0, or DSL_E_SCHEMA with a message in err (as dsl_parse writes it)
 * naming the row, e.g. "field 3 (\"vin\"): like applies to DSL_TEXT only".
 */
int dsl_schema_check(const dsl_schema *schema, char *err, size_t errlen);

typedef struct dsl_query dsl_query;

/**
 * Parses json[0..len) (need not be NUL-terminated) against schema, which is
 * borrowed and must outlive the query. Relative times are evaluated against
 * now_us, or against the `now` a cursor carries.
 * Returns 0 with *out a new query (caller frees with dsl_query_free()), or
 * a DSL_E_* code with *out NULL and a message in err (at most errlen bytes,
 * always NUL-terminated when errlen > 0) such as
 * "element 2: unknown field \"price\"". An empty input or "[]" lists
 * everything, by the key, 50 at a time.
 */
int dsl_parse(const dsl_schema *schema, const char *json, size_t len, int64_t now_us,
              dsl_query **out, char *err, size_t errlen);

/** Frees q and everything borrowed from it; NULL is a no-op. */
void dsl_query_free(dsl_query *q);

/** Page size: the "limit" element or DSL_DEFAULT_LIMIT. */
int dsl_limit(const dsl_query *q);

/** Should the answer carry schema->fields[field]? True for every field when
 *  there is no "fields" element, and always for the key (row 0). */
bool dsl_returns(const dsl_query *q, int field);

/** The statement dsl_build_sql made; all of it borrowed from the query,
 *  valid until dsl_query_free. */
typedef struct {
    const char *sql;
    int nparams;                /* visibility parameters first, then ours */
    const char *const *params;  /* [nparams] text parameters, none NULL */
    int nkeys;                  /* order keys, the key field last; their values
                                   are the nkeys columns after the select list */
} dsl_sql;

/**
 * Builds "SELECT <select_list>, <order keys> FROM <schema from> WHERE
 * (<visibility>) AND <filters> [AND <after the cursor>] ORDER BY <keys>
 * LIMIT $n", where $n is the page size plus one (a further row means there
 * is a next page). visibility (NULL means "true") may use $1..$nvis, whose
 * texts vis_params[0..nvis) are borrowed and must outlive *out;
 * select_list is copied. Both are the caller's trusted SQL.
 */
void dsl_build_sql(dsl_query *q, const char *select_list, const char *visibility,
                   int nvis, const char *const *vis_params, dsl_sql *out);

/** The filters alone, as dsl_build_where made them; borrowed from the
 *  query, valid until dsl_query_free. */
typedef struct {
    const char *sql;            /* "<filter> AND <filter> …", or "true" */
    int nparams;
    const char *const *params;  /* [nparams] text parameters for $first… */
} dsl_where;

/**
 * Builds only the conjunction of q's filters, numbering its parameters from
 * $first, for statements of the caller's own shape over the schema's FROM
 * item (counts, facets, whether one row matches a saved search). Order,
 * limit and cursor are not part of it. AND it with other conditions as it
 * is; put it in parentheses before an OR.
 */
void dsl_build_where(dsl_query *q, int first, dsl_where *out);

/**
 * The cursor for the page after a row whose order-key columns (see
 * dsl_sql.nkeys) read key_values[0..nkeys) in text form. Returns a string
 * borrowed from q (valid until dsl_query_free), or NULL when a value does
 * not fit its key (not an integer, or text over DSL_MAX_TEXT bytes).
 */
const char *dsl_cursor_encode(dsl_query *q, const char *const *key_values);

/* ---- one document in memory (dsl_eval.c) ---- */

/* One field's value in a document, as dsl_eval reads it. */
typedef struct {
    bool is_null;      /* no value: a nullable column's NULL */
    int64_t num;       /* DSL_INT, DSL_MONEY, DSL_TIME */
    const char *text;  /* DSL_TEXT, DSL_ENUM: NUL-terminated UTF-8; NULL reads as "" */
} dsl_datum;

/**
 * Does the document `row` pass every filter of q, as the WHERE of
 * dsl_build_where would pass the same row in PostgreSQL? row[i] is the
 * value of q's schema->fields[i], one entry per row of the schema
 * (DSL_OUTPUT rows are never read); borrowed for the call. Relative times
 * are evaluated against now_us, not the `now` of parsing, so a query kept
 * for long stays current. As the statement: numbers compare as numbers,
 * text bytewise (the cluster's C collation); "ne" on a nullable field is
 * IS DISTINCT FROM and every other comparison with NULL fails; "like" is
 * case-insensitive (ASCII and Cyrillic letters fold, other scripts compare
 * as written; % _ and \ escapes as in PostgreSQL, _ one character).
 * fields, order, limit and cursor play no part. Pure; any thread may
 * evaluate a query no thread is parsing.
 */
bool dsl_eval(const dsl_query *q, const dsl_datum *row, int64_t now_us);

/**
 * What a document must hold in schema->fields[field] for q to pass it: when
 * a filter of q is "eq" or "in" on that field with at most max values,
 * copies their texts (borrowed from q, valid until dsl_query_free) into
 * out and returns how many; else 0. For indexing many queries by one
 * field: one of the values is necessary, not sufficient.
 */
int dsl_required_values(const dsl_query *q, int field, const char **out, int max);

/** The index of schema's row named name, or -1. */
int dsl_field_index(const dsl_schema *schema, const char *name);

/**
 * The case folding of dsl_eval's "like", for callers matching free text
 * the same way: writes s with ASCII and Cyrillic letters lower-cased
 * (every other byte as it is) into out, which holds strlen(s) + 1 bytes
 * (folding never changes the length).
 */
void dsl_fold(const char *s, char *out);

#endif
