/*
 * match_index: every saved search and dealer segment in memory, filed so
 * that one new lot meets only the few whose predicates it could pass
 * (match_index.c); and the segment grammar (match_segment.c). Pure: libc,
 * libs/core and libs/dsl, no database, so unit tests and the benchmark
 * drive it as the daemon does. Threads: an index belongs to whoever built
 * it; match_index_run only reads it, so several threads may run one index
 * that nobody is adding to.
 */
#ifndef GAVEL_MATCH_INDEX_H
#define GAVEL_MATCH_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsl/dsl.h"

/* 0 success; MATCH_E_INVALID: a segment or saved search that cannot be read
 * (the message says why). */
enum { MATCH_OK = 0, MATCH_E_INVALID = -1 };

/* Saved-search filters: the catalog's fields (dsl_catalog_fields), filter
 * elements only. Subscribe checks with it, the index parses with it. */
extern const dsl_schema match_search_schema;

/* ---- match_segment.c: segment names ---- */

/* A segment's predicates. A segment name is either a label ("premium",
 * "trucks": operators announce to it, no lot matches it by itself) or
 * key:value pairs joined by ':' — make:<m>, region:<r> (repeatable: any of
 * them), price:<band> in whole currency units of the start price and
 * year:<band>, a band being a-b, a-, -b or a. E.g.
 * "make:toyota:make:lexus:region:moscow:price:1000000-3000000". Makes and
 * regions compare with the lot's lower-cased, blanks written '_'. */
enum { MATCH_SEG_MAX_VALUES = 16 };
typedef struct {
    bool is_label;
    int nmakes, nregions;
    char makes[MATCH_SEG_MAX_VALUES][65];
    char regions[MATCH_SEG_MAX_VALUES][65];
    int64_t price_min, price_max;   /* minor units, inclusive; INT64_MIN/MAX open */
    int64_t year_min, year_max;
    bool has_price, has_year;
} match_segment;

/**
 * Reads a segment name (already [a-z0-9:_-]{1,64}) into *out. Returns 0,
 * or MATCH_E_INVALID with a message in err naming the part, e.g.
 * "segment \"price:x\": price needs a band such as 1000000-3000000 …".
 */
int match_segment_parse(const char *name, match_segment *out, char *err, size_t errlen);

/** s lower-cased (dsl_fold) with blanks written '_', as segments spell
 *  makes and regions, into out[0..outlen) (cut at a character boundary). */
void match_normalize(const char *s, char *out, size_t outlen);

/* ---- match_index.c ---- */

typedef struct match_index match_index;

/* One subscription a lot passed. */
typedef struct {
    int64_t user_id, subscription_id;
} match_hit;

/* Hits of one run: grows on the heap; free with match_hits_free. */
typedef struct {
    match_hit *v;
    size_t n, cap;
} match_hits;

/** Returns a new empty index; caller frees with match_index_free(). */
match_index *match_index_new(void);
/** Frees the index and every query in it; NULL is a no-op. */
void match_index_free(match_index *ix);
/** Subscriptions in the index (labels are not kept). */
size_t match_index_size(const match_index *ix);

/**
 * Adds subscription `id` of `user`: a segment name, or a saved search of
 * free text `query` (every word must be a word of the lot's title, make or
 * model, case-insensitive) and DSL `filter` ("" for none). Strings are
 * copied. Returns 0 (a label segment is accepted and not kept), or
 * MATCH_E_INVALID with the message in err; the index is unchanged then.
 */
int match_index_add_segment(match_index *ix, int64_t id, int64_t user, const char *segment,
                            char *err, size_t errlen);
int match_index_add_search(match_index *ix, int64_t id, int64_t user, const char *query,
                           const char *filter, char *err, size_t errlen);

/**
 * Every subscription lot `row` (dsl_catalog_fields order, borrowed) passes,
 * appended to *out, at most once each and in no particular order; one
 * user may appear for several subscriptions. Relative times in filters are
 * read against now_us. With is_naive, every subscription is tested one by
 * one instead of through the index (the benchmark's baseline; same hits).
 */
void match_index_run(const match_index *ix, const dsl_datum *row, int64_t now_us, bool is_naive,
                     match_hits *out);

/** Keeps one hit per user, the lowest subscription id; sorts by user. */
void match_hits_by_user(match_hits *h);
void match_hits_free(match_hits *h);

#endif
