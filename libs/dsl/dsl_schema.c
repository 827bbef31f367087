/*
 * Schemas: looking a field up by name, and the check a service's unit
 * tests run on its schema. The check is what lets the rest of the library
 * trust a schema: names the "fields" and "order" lists can split, a key row
 * that makes every order total, enumerated names that are safe inside the
 * array literal of their sort expression, SQL strings with no quote,
 * semicolon or comment (so the statement's only quotes are those literals),
 * and samples that parse, so no message quotes an example that fails.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"

const dsl_field *dsl__field_named(const dsl_schema *schema, const char *s, size_t n)
{
    for (const dsl_field *f = schema->fields; f->name != NULL; f++)
        if (strlen(f->name) == n && memcmp(f->name, s, n) == 0)
            return f;
    return NULL;
}

size_t dsl__enum_count(const dsl_field *f)
{
    size_t n = 0;
    while (f->names[n] != NULL)
        n++;
    return n;
}

/* ---- the check ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return DSL_E_SCHEMA;
}

static bool is_name(const char *s)
{
    return s != NULL && s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
                                        strlen(s);
}

static bool is_plain_sql(const char *s)
{
    return s != NULL && s[0] != '\0' && strpbrk(s, "'\";") == NULL && strstr(s, "--") == NULL &&
           strstr(s, "/*") == NULL;
}

/* What is wrong with the names of enumerated field f, or NULL. */
static const char *enum_problem(const dsl_field *f)
{
    if (f->type != DSL_ENUM)
        return f->names == NULL ? NULL : "only DSL_ENUM has names";
    if (f->names == NULL || f->names[0] == NULL)
        return "DSL_ENUM needs at least one name";
    for (size_t i = 0; f->names[i] != NULL; i++) {
        if (!is_name(f->names[i]))
            return "every name must be [a-z0-9_]+";
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->names[i], f->names[j]) == 0)
                return "a name is listed twice";
    }
    return NULL;
}

/* What is wrong with row f on its own, or NULL. */
static const char *row_problem(const dsl_field *f)
{
    if (!is_name(f->name))
        return "the name must be [a-z0-9_]+";
    if ((unsigned)f->type > DSL_OUTPUT)
        return "unknown type";
    if (f->flags & ~(unsigned)(DSL_NULLABLE | DSL_LIKE | DSL_ORDER))
        return "unknown flags";
    if (f->type == DSL_OUTPUT)
        return f->column != NULL || f->flags != 0 ? "an output-only field has no column or flags"
               : f->names != NULL ? "only DSL_ENUM has names" : NULL;
    if (!is_plain_sql(f->column))
        return "the column must be SQL without quotes, semicolons or comments";
    if ((f->flags & DSL_LIKE) && f->type != DSL_TEXT)
        return "DSL_LIKE applies to DSL_TEXT only";
    if ((f->flags & DSL_ORDER) && (f->flags & DSL_NULLABLE) && f->type == DSL_TEXT)
        return "a nullable DSL_TEXT cannot be ordered by (NULL sorts as an integer)";
    return enum_problem(f);
}

/* Parses a sample as filter_json, wrapped in [["op", sample]] when op is not
 * NULL; writes what went wrong into err. */
static int sample_problem(const dsl_schema *schema, const char *what, const char *op,
                          const char *sample, char *err, size_t errlen)
{
    if (sample == NULL)
        return bad(err, errlen, "schema: %s is required", what);
    char *text = NULL;
    if (op != NULL) {
        json_t *doc = json_pack("[[ss]]", op, sample);
        text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (text == NULL)
            return bad(err, errlen, "schema: %s is not UTF-8", what);
    }
    const char *in = text != NULL ? text : sample;
    char why[256];
    dsl_query *q = NULL;
    int rc = dsl_parse(schema, in, strlen(in), 0, &q, why, sizeof why);
    dsl_query_free(q);
    free(text);
    return rc < 0 ? bad(err, errlen, "schema: %s %s does not parse: %s", what, sample, why) : 0;
}

int dsl_schema_check(const dsl_schema *schema, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (schema == NULL || schema->fields == NULL || !is_plain_sql(schema->from))
        return bad(err, errlen, "schema: fields and a from item without quotes, semicolons or "
                   "comments are required");
    if (schema->refuses & ~(unsigned)(DSL_NO_FIELDS | DSL_NO_ORDER | DSL_NO_LIMIT | DSL_NO_CURSOR))
        return bad(err, errlen, "schema: unknown refuses bits");
    int n = 0;
    for (const dsl_field *f = schema->fields; f->name != NULL; f++, n++) {
        const char *problem = n >= DSL_MAX_FIELDS ? "more than 64 fields" : row_problem(f);
        for (int j = 0; problem == NULL && j < n; j++)
            if (strcmp(schema->fields[j].name, f->name) == 0)
                problem = "the name is also an earlier field's";
        if (problem != NULL)
            return bad(err, errlen, "field %d (\"%s\"): %s", n, f->name, problem);
    }
    const dsl_field *key = &schema->fields[0];
    if (n == 0 || key->type != DSL_INT || !(key->flags & DSL_ORDER) ||
        (key->flags & DSL_NULLABLE))
        return bad(err, errlen, "field 0 (\"%s\") is the key: a DSL_INT with DSL_ORDER, not "
                   "nullable", n == 0 ? "" : key->name);
    if (!(schema->refuses & DSL_NO_CURSOR) && schema->listing == NULL)
        return bad(err, errlen, "schema: listing is required unless DSL_NO_CURSOR");
    int rc = sample_problem(schema, "sample_filter", NULL, schema->sample_filter, err, errlen);
    if (rc == 0 && !(schema->refuses & DSL_NO_FIELDS))
        rc = sample_problem(schema, "sample_fields", "fields", schema->sample_fields, err, errlen);
    if (rc == 0 && !(schema->refuses & DSL_NO_ORDER))
        rc = sample_problem(schema, "sample_order", "order", schema->sample_order, err, errlen);
    return rc;
}
