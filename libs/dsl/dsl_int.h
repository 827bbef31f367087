/*
 * dsl_int: what the DSL's modules share and nothing outside libs/dsl
 * includes — the parsed query, the operators, and the helpers each side
 * needs from the other. dsl_parse.c reads elements, dsl_value.c reads
 * values and times, dsl_schema.c looks fields up and checks schemas,
 * dsl_sql.c writes the statement, dsl_cursor.c the cursors, dsl_buf.c is
 * the growable buffer they write into.
 */
#ifndef GAVEL_DSL_INT_H
#define GAVEL_DSL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/core.h"
#include "dsl.h"

typedef enum { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_LIKE,
               OP_FIELDS, OP_ORDER, OP_LIMIT, OP_CURSOR } op_code;
#define OP_FIRST_SINGLETON OP_FIELDS
/* The DSL_NO_* bit of a singleton operator. */
#define OP_REFUSAL(code) (1u << ((code) - OP_FIRST_SINGLETON))
_Static_assert(OP_REFUSAL(OP_FIELDS) == DSL_NO_FIELDS && OP_REFUSAL(OP_ORDER) == DSL_NO_ORDER &&
               OP_REFUSAL(OP_LIMIT) == DSL_NO_LIMIT && OP_REFUSAL(OP_CURSOR) == DSL_NO_CURSOR,
               "DSL_NO_* follow the singleton operators");

typedef struct {
    const char *name;
    op_code code;
    const char *sql;    /* the comparison, for filters */
    const char *usage;  /* the element's shape, for messages */
} dsl_op;

typedef struct {
    int64_t num;      /* integers and times; for a relative time the offset from now */
    const char *text; /* the parameter's text (times: once resolved) */
    bool is_relative;
} value;

typedef struct {
    const dsl_op *op;
    const dsl_field *f;
    int elem;         /* index in the JSON array, for messages */
    int nvals;
    value *vals;
} filter;

typedef struct {
    const dsl_field *f;
    bool is_desc;
} key;

struct dsl_query {
    arena *mem;                    /* everything below and every string handed out */
    const dsl_schema *schema;      /* borrowed */
    filter filters[DSL_MAX_ELEMENTS];
    int nfilters;
    key keys[DSL_MAX_ORDER + 1];   /* + the key field appended as tie-breaker */
    int nkeys;
    uint64_t mask;                 /* bit i: return schema->fields[i] */
    int limit;
    int64_t now_us;                /* what relative times are evaluated against */
    int seen[4];                   /* element of fields, order, limit, cursor; -1 none */
    const char *cursor;            /* as given; "" when none */
    const char **after;            /* [nkeys] key values to continue after, or NULL */
};

typedef struct {
    dsl_query *q;
    char *err;
    size_t errlen;
    int elem;                      /* element being read, -1 outside any */
} parser;

typedef struct {
    char *p;
    size_t len, cap;
} buf;

/* ---- dsl_parse.c ---- */

/** Writes "element <n>: " (inside an element) and the message into the
 *  parser's buffer; returns rc. */
int dsl__fail(parser *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** A JSON value as messages show it, allocated in the query's arena. */
const char *dsl__described(parser *p, const json_t *v);
/** items[0..n) as "a, b, c", or "a, b<last>c" when last is not NULL (" and "
 *  gives "a, b and c"); allocated in the query's arena. */
const char *dsl__joined(parser *p, const char *const *items, size_t n, const char *last);

/* ---- dsl_value.c ---- */

/** Strict decimal: an optional '-', then digits only, within int64. */
bool dsl__parse_i64(const char *s, size_t n, int64_t *out);
/** Advances *i over blanks (spaces and tabs) of s[0..n). */
void dsl__skip_blanks(const char *s, size_t n, size_t *i);
/**
 * Reads v as a value of field f for operator op into *out (text in the
 * query's arena; relative times keep their offset until resolved). `what`
 * prefixes messages. Returns 0 or DSL_E_VALUE with the message written.
 */
int dsl__parse_value(parser *p, const dsl_field *f, op_code op, const json_t *v,
                     const char *what, value *out);

/* ---- dsl_schema.c ---- */

/** The row of schema named s[0..n), or NULL. */
const dsl_field *dsl__field_named(const dsl_schema *schema, const char *s, size_t n);
/** The number of names of an enumerated field. */
size_t dsl__enum_count(const dsl_field *f);

/* ---- dsl_sql.c ---- */

/** Is k's cursor value text (else a 64-bit integer)? */
bool dsl__key_is_text(const key *k);

/* ---- dsl_cursor.c ---- */

/** Checks q->cursor against the parsed filters and order; on success sets
 *  q->after and q->now_us. Returns 0 or DSL_E_CURSOR with the message. */
int dsl__cursor_decode(parser *p);

/* ---- dsl_buf.c: a growable NUL-terminated buffer; b->p is freed with free() ---- */

void dsl__buf_add(buf *b, const void *data, size_t n);
void dsl__buf_str(buf *b, const char *s);
/** Appends a formatted piece of at most 63 bytes (a longer one is a bug). */
void dsl__buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends v as 8 big-endian bytes. */
void dsl__buf_i64(buf *b, int64_t v);
/** Reads 8 big-endian bytes. */
int64_t dsl__be64(const uint8_t *p);

#endif
