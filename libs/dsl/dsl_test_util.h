/*
 * dsl_test_util.h: cmocka helpers shared by dsl's unit tests and the unit
 * tests of a service's schema (services/auctions/catalog_fields_test.c),
 * never library code. Include after <cmocka.h>.
 */
#ifndef GAVEL_DSL_TEST_UTIL_H
#define GAVEL_DSL_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_test_schema.h"

/* Parses in against schema at `now`, failing the test unless it parses. */
static inline dsl_query *test_parse_ok(const dsl_schema *schema, const char *in, int64_t now)
{
    char err[256];
    dsl_query *q = NULL;
    int rc = dsl_parse(schema, in, strlen(in), now, &q, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: unexpected error %d: %s", in, rc, err);
    return q;
}

/* Parses in at TEST_NOW and frees the query; returns the code. */
static inline int test_parse_rc(const dsl_schema *schema, const char *in, char *err,
                                size_t errlen)
{
    dsl_query *q = NULL;
    int rc = dsl_parse(schema, in, strlen(in), TEST_NOW, &q, err, errlen);
    dsl_query_free(q);
    return rc;
}

/* params[0..n) must be want[], a list ending with NULL. */
static inline void test_assert_params(int n, const char *const *params, const char *const *want)
{
    int nwant = 0;
    while (want[nwant] != NULL)
        nwant++;
    assert_int_equal(n, nwant);
    for (int i = 0; i < n; i++)
        assert_string_equal(params[i], want[i]);
}

/* A filter_json and what parsing it must give: a code and its message. */
typedef struct {
    const char *in;
    int rc;
    const char *msg; /* "" with rc 0 */
} test_refusal;

/* Each of cases[0..n) parses against schema to its code and message, and a
 * refused one leaves no query. */
static inline void test_assert_refusals(const dsl_schema *schema, const test_refusal *cases,
                                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512];
        dsl_query *q = (dsl_query *)&err; /* must come back NULL unless parsed */
        int rc = dsl_parse(schema, cases[i].in, strlen(cases[i].in), TEST_NOW, &q, err,
                           sizeof err);
        if (rc != cases[i].rc || strcmp(err, cases[i].msg) != 0)
            fail_msg("%s:\n got  %d %s\n want %d %s", cases[i].in, rc, err, cases[i].rc,
                     cases[i].msg);
        if (rc < 0)
            assert_null(q);
        dsl_query_free(q);
    }
}

static inline void test_assert_sql_is_ours(const dsl_schema *schema, const char *sql)
{
    if (!test_sql_is_ours(schema, sql))
        fail_msg("caller text in SQL: %s", sql);
}

/* Parses `in` (a JSON array) followed by ["cursor", cursor]; *rc is the
 * code, err (256 bytes) the message. Returns the query (caller frees). */
static inline dsl_query *test_with_cursor(const dsl_schema *schema, const char *in,
                                          const char *cursor, int64_t now, char *err, int *rc)
{
    char *doc = xasprintf("%.*s%s[\"cursor\",\"%s\"]]", (int)strlen(in) - 1, in,
                          strlen(in) > 2 ? "," : "", cursor);
    dsl_query *q = NULL;
    *rc = dsl_parse(schema, doc, strlen(doc), now, &q, err, 256);
    free(doc);
    return q;
}

#endif
