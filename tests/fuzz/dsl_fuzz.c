/*
 * libFuzzer harness for the catalog DSL (services/auctions/dsl.c), built by
 * `make fuzz`. Each input is parsed as filter_json; a query that parses must
 * build, its SQL must hold no quote, semicolon or comment other than the
 * state-rank constant of the field table, and a cursor made from it must be
 * accepted on the next page. The input is also tried as a cursor under a
 * few orders (text and integer keys). Any violated property aborts, which
 * libFuzzer reports as a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/core.h"
#include "dsl.h"

#define NOW 1714557600000000LL
#define STATE_LITERAL "'{draft,in_review,approved,rejected,scheduled,live,closed,cancelled}'"

static void check(bool ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "dsl_fuzz: %s: %s\n", what, detail);
        abort();
    }
}

/* Outside the one constant, the SQL may hold no quote, ';' or "--". */
static void check_sql_text(const dsl_sql *s)
{
    char *copy = xstrdup(s->sql);
    for (char *at = strstr(copy, STATE_LITERAL); at != NULL; at = strstr(at, STATE_LITERAL))
        memset(at, ' ', strlen(STATE_LITERAL));
    check(strchr(copy, '\'') == NULL && strchr(copy, ';') == NULL &&
          strchr(copy, '"') == NULL && strstr(copy, "--") == NULL &&
          strstr(copy, "/*") == NULL, "SQL text carries more than columns", s->sql);
    for (int i = 0; i < s->nparams; i++)
        check(s->params[i] != NULL, "NULL parameter", s->sql);
    free(copy);
}

static dsl_query *parse_and_build(const char *json, size_t len, int64_t now, dsl_sql *s)
{
    char err[256];
    dsl_query *q = NULL;
    int rc = dsl_parse(json, len, now, &q, err, sizeof err);
    if (rc < 0) {
        check(q == NULL && err[0] != '\0' && strlen(err) < sizeof err, "error without message",
              json);
        return NULL;
    }
    const char *vis[] = { "7" };
    dsl_build_sql(q, "l.id, l.title", "l.seller_id = $1", 1, vis, s);
    check_sql_text(s);
    return q;
}

/* A cursor from q for a made-up last row must be accepted on the next page. */
static void cursor_round_trip(const uint8_t *data, size_t size, dsl_query *q, const dsl_sql *s)
{
    const char *vals[8], *texts[8];
    char text[32];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    for (int k = 0; k < s->nkeys && k < 8; k++) {
        vals[k] = "42"; /* fits integer and text keys alike */
        texts[k] = text;
    }
    const char *cursor = dsl_cursor_encode(q, vals);
    check(cursor != NULL, "no cursor for integer values", s->sql);
    const char *text_cursor = dsl_cursor_encode(q, texts); /* NULL unless every key is text */
    if (text_cursor != NULL)
        cursor = text_cursor;
    json_t *root = size > 0 ? json_loadb((const char *)data, size, 0, NULL) : json_array();
    if (root == NULL)
        return;
    bool has_cursor = false;
    for (size_t i = 0; i < json_array_size(root); i++) {
        const char *op = json_string_value(json_array_get(json_array_get(root, i), 0));
        has_cursor |= op != NULL && strcmp(op, "cursor") == 0;
    }
    json_array_append_new(root, json_pack("[ss]", "cursor", cursor));
    char *again = json_dumps(root, JSON_COMPACT);
    size_t elems = json_array_size(root);
    json_decref(root);
    char err[256];
    dsl_query *next = NULL;
    int rc = dsl_parse(again, strlen(again), NOW + 1, &next, err, sizeof err);
    if (strlen(again) <= DSL_MAX_BYTES && elems <= DSL_MAX_ELEMENTS && !has_cursor)
        check(rc == 0, "a cursor of our own was refused", err);
    free(again);
    dsl_query_free(next);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dsl_sql s;
    dsl_query *q = parse_and_build((const char *)data, size, NOW, &s);
    if (q != NULL) {
        cursor_round_trip(data, size, q, &s);
        dsl_query_free(q);
    }
    if (size > 0 && size <= DSL_MAX_CURSOR && utf8_valid((const char *)data, size)) {
        /* the input as a cursor, under orders whose keys are text and integers */
        static const char *const orders[] = { "id", "title, year desc", "make desc, model",
                                              "state, start_time desc" };
        json_t *doc = json_pack("[[ss],[ss#]]", "order", orders[data[0] % 4], "cursor",
                                (const char *)data, size);
        char *text = json_dumps(doc, JSON_COMPACT);
        dsl_query_free(parse_and_build(text, strlen(text), NOW, &s));
        free(text);
        json_decref(doc);
    }
    return 0;
}
