/*
 * The DSL's elements: jansson parses filter_json, each element is checked
 * against the operator table below and the schema's fields into a
 * dsl_query (values and times: dsl_value.c), and dsl_sql.c turns that into
 * one SELECT whose text holds only the schema's columns, fixed operators
 * and $n placeholders — never a caller's value.
 *
 * Invariants: a query that parsed always builds; every order ends with the
 * schema's key field (so the order is total and keyset pages neither repeat
 * nor skip rows); ORDER BY, the selected key columns and the keyset
 * condition use the same sort expression of a field, so the cursor's
 * values compare as they sort. Every message is the same for every schema
 * but for the names, lists and samples it takes from the schema.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dsl_int.h"

static const dsl_op ops[] = {
    { "eq", OP_EQ, "=", "[\"eq\", field, value]" },
    { "ne", OP_NE, "<>", "[\"ne\", field, value]" },
    { "gt", OP_GT, ">", "[\"gt\", field, value]" },
    { "gte", OP_GTE, ">=", "[\"gte\", field, value]" },
    { "lt", OP_LT, "<", "[\"lt\", field, value]" },
    { "lte", OP_LTE, "<=", "[\"lte\", field, value]" },
    { "in", OP_IN, "IN", "[\"in\", field, [value, ...]]" },
    { "like", OP_LIKE, "LIKE", "[\"like\", field, \"%pattern%\"]" },
    { "fields", OP_FIELDS, NULL, NULL }, /* usage quotes the schema's sample */
    { "order", OP_ORDER, NULL, "[\"order\", \"field [asc|desc], ...\"]" },
    { "limit", OP_LIMIT, NULL, "[\"limit\", n]" },
    { "cursor", OP_CURSOR, NULL, "[\"cursor\", next_cursor]" },
};
#define NOPS (sizeof ops / sizeof ops[0])

/* ---- messages ---- */

int dsl__fail(parser *p, int rc, const char *fmt, ...)
{
    if (p->errlen == 0)
        return rc;
    int n = p->elem >= 0 ? snprintf(p->err, p->errlen, "element %d: ", p->elem) : 0;
    if (n < 0 || (size_t)n >= p->errlen)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

/* A caller's text for a message: control characters escaped, at most max
 * bytes of it; quoted (with quotes and backslashes escaped) when is_quoted. */
static const char *escaped(parser *p, const char *s, size_t n, size_t max, bool is_quoted)
{
    size_t clip = n > max ? max : n;
    while (clip > 0 && clip < n && ((unsigned char)s[clip] & 0xc0) == 0x80)
        clip--;
    char *out = arena_alloc(p->q->mem, clip * 4 + 8), *o = out;
    if (is_quoted)
        *o++ = '"';
    for (size_t i = 0; i < clip; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            o += snprintf(o, 5, "\\x%02x", c);
            continue;
        }
        if (is_quoted && (c == '"' || c == '\\'))
            *o++ = '\\';
        *o++ = (char)c;
    }
    if (is_quoted)
        *o++ = '"';
    if (clip < n)
        o += snprintf(o, 4, "...");
    *o = '\0';
    return out;
}

static const char *shown(parser *p, const char *s, size_t n)
{
    return escaped(p, s, n, 40, true);
}

/* A JSON value as a message shows it. */
const char *dsl__described(parser *p, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return shown(p, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return arena_printf(p->q->mem, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return arena_printf(p->q->mem, "%g", json_real_value(v));
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_ARRAY:
        return "an array";
    default:
        return "an object";
    }
}

const char *dsl__joined(parser *p, const char *const *items, size_t n, const char *last)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2 + (last != NULL ? strlen(last) : 0);
    char *out = arena_alloc(p->q->mem, len), *o = out;
    for (size_t i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n && last != NULL ? last : ", ";
        o += snprintf(o, len - (size_t)(o - out), "%s%s", sep, items[i]);
    }
    *o = '\0';
    return out;
}

/* The fields "like" applies to, as "a, b and c". */
static const char *like_fields(parser *p)
{
    const dsl_field *fields = p->q->schema->fields;
    const char *names[DSL_MAX_FIELDS];
    size_t n = 0;
    for (const dsl_field *f = fields; f->name != NULL && n < DSL_MAX_FIELDS; f++)
        if (f->flags & DSL_LIKE)
            names[n++] = f->name;
    return dsl__joined(p, names, n, " and ");
}

/* The operators this schema takes, as "eq, ne, …". */
static const char *taken_ops(parser *p)
{
    const char *names[NOPS];
    size_t n = 0;
    for (size_t i = 0; i < NOPS; i++)
        if (ops[i].code < OP_FIRST_SINGLETON ||
            !(p->q->schema->refuses & OP_REFUSAL(ops[i].code)))
            names[n++] = ops[i].name;
    return dsl__joined(p, names, n, NULL);
}

static const dsl_field *field_named(parser *p, const char *s, size_t n)
{
    return dsl__field_named(p->q->schema, s, n);
}

static const dsl_field *key_field(const dsl_query *q)
{
    return &q->schema->fields[0];
}

/* ---- elements ---- */

static int parse_filter(parser *p, const dsl_op *op, const json_t *e)
{
    const json_t *name = json_array_get(e, 1), *v = json_array_get(e, 2);
    if (!json_is_string(name))
        return dsl__fail(p, DSL_E_FIELD, "the field must be a string, got %s",
                         dsl__described(p, name));
    const dsl_field *f = field_named(p, json_string_value(name), json_string_length(name));
    if (f == NULL)
        return dsl__fail(p, DSL_E_FIELD, "unknown field %s",
                         shown(p, json_string_value(name), json_string_length(name)));
    if (f->type == DSL_OUTPUT)
        return dsl__fail(p, DSL_E_FIELD, "field \"%s\" can be returned but not filtered on",
                         f->name);
    if (op->code == OP_LIKE && !(f->flags & DSL_LIKE)) {
        const char *like = like_fields(p);
        return like[0] == '\0' ? dsl__fail(p, DSL_E_FIELD, "\"like\" applies to no field here")
               : dsl__fail(p, DSL_E_FIELD, "\"like\" applies only to %s, not %s", like, f->name);
    }
    if (f->type == DSL_ENUM && op->code != OP_EQ && op->code != OP_NE && op->code != OP_IN)
        return dsl__fail(p, DSL_E_FIELD, "\"%s\" does not apply to %s (use eq, ne or in)",
                         op->name, f->name);
    filter *fl = &p->q->filters[p->q->nfilters];
    *fl = (filter){ .op = op, .f = f, .elem = p->elem, .nvals = 1 };
    if (op->code == OP_IN) {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || n < 1 || n > DSL_MAX_IN)
            return dsl__fail(p, DSL_E_VALUE, "\"in\" needs an array of 1 to %d values, got %s",
                             DSL_MAX_IN, json_is_array(v) ? arena_printf(p->q->mem, "%zu values", n)
                             : dsl__described(p, v));
        fl->nvals = (int)n;
    }
    fl->vals = arena_calloc(p->q->mem, (size_t)fl->nvals, sizeof *fl->vals);
    for (int i = 0; i < fl->nvals; i++) {
        const char *what = op->code == OP_IN ? arena_printf(p->q->mem, "value %d: ", i) : "";
        const json_t *item = op->code == OP_IN ? json_array_get(v, (size_t)i) : v;
        int rc = dsl__parse_value(p, f, op->code, item, what, &fl->vals[i]);
        if (rc < 0)
            return rc;
    }
    p->q->nfilters++;
    return 0;
}

/* Cuts s[*at..n) at the next comma into a blank-trimmed item [*b, *e). */
static void next_item(const char *s, size_t n, size_t *at, size_t *b, size_t *e)
{
    dsl__skip_blanks(s, n, at);
    *b = *at;
    while (*at < n && s[*at] != ',')
        (*at)++;
    *e = *at;
    while (*e > *b && (s[*e - 1] == ' ' || s[*e - 1] == '\t'))
        (*e)--;
}

static int parse_fields(parser *p, const char *s, size_t n)
{
    dsl_query *q = p->q;
    q->mask = 0;
    for (size_t at = 0, b, e; at <= n; at++) {
        next_item(s, n, &at, &b, &e);
        const dsl_field *f = field_named(p, s + b, e - b);
        if (f == NULL)
            return dsl__fail(p, DSL_E_FIELD, e == b ? "empty field name in %s" : "unknown field %s",
                             e == b ? shown(p, s, n) : shown(p, s + b, e - b));
        uint64_t bit = 1ull << (f - q->schema->fields);
        if (q->mask & bit)
            return dsl__fail(p, DSL_E_FIELD, "field \"%s\" is listed twice", f->name);
        q->mask |= bit;
    }
    q->mask |= 1; /* the key always comes */
    return 0;
}

static int parse_order(parser *p, const char *s, size_t n)
{
    dsl_query *q = p->q;
    for (size_t at = 0, b, e; at <= n; at++) {
        next_item(s, n, &at, &b, &e);
        size_t w = b;
        while (w < e && s[w] != ' ' && s[w] != '\t')
            w++;
        size_t d = w;
        dsl__skip_blanks(s, e, &d);
        bool is_desc = d < e && e - d == 4 && strncasecmp(s + d, "desc", 4) == 0;
        if (d < e && !is_desc && !(e - d == 3 && strncasecmp(s + d, "asc", 3) == 0))
            return dsl__fail(p, DSL_E_ELEMENT, "order key %s must be a field, then asc or desc",
                             shown(p, s + b, e - b));
        const dsl_field *f = field_named(p, s + b, w - b);
        if (f == NULL)
            return dsl__fail(p, DSL_E_FIELD, w == b ? "empty order key in %s" : "unknown field %s",
                             w == b ? shown(p, s, n) : shown(p, s + b, w - b));
        if (!(f->flags & DSL_ORDER))
            return dsl__fail(p, DSL_E_FIELD, "cannot order by \"%s\"", f->name);
        if (q->nkeys == DSL_MAX_ORDER)
            return dsl__fail(p, DSL_E_ELEMENT, "at most %d order keys", DSL_MAX_ORDER);
        for (int k = 0; k < q->nkeys; k++) {
            if (q->keys[k].f == f)
                return dsl__fail(p, DSL_E_FIELD, "order names \"%s\" twice", f->name);
            if (q->keys[k].f == key_field(q))
                return dsl__fail(p, DSL_E_FIELD,
                                 "\"%s\" must be the last order key (it is unique)",
                                 key_field(q)->name);
        }
        q->keys[q->nkeys++] = (key){ .f = f, .is_desc = is_desc };
    }
    return 0;
}

static int parse_singleton(parser *p, const dsl_op *op, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int64_t limit = 0;
    switch (op->code) {
    case OP_FIELDS:
    case OP_ORDER:
        if (s == NULL)
            return dsl__fail(p, DSL_E_VALUE, "\"%s\" needs a string such as \"%s\", got %s",
                             op->name, op->code == OP_FIELDS ? p->q->schema->sample_fields
                             : p->q->schema->sample_order, dsl__described(p, v));
        return op->code == OP_FIELDS ? parse_fields(p, s, n) : parse_order(p, s, n);
    case OP_LIMIT:
        if (!(json_is_integer(v) && (limit = json_integer_value(v), true)) &&
            !(s != NULL && dsl__parse_i64(s, n, &limit)))
            limit = -1;
        if (limit < 1 || limit > DSL_MAX_LIMIT)
            return dsl__fail(p, DSL_E_VALUE, "limit must be an integer from 1 to %d, got %s",
                             DSL_MAX_LIMIT, dsl__described(p, v));
        p->q->limit = (int)limit;
        return 0;
    default:
        if (s == NULL || n > DSL_MAX_CURSOR)
            return dsl__fail(p, DSL_E_CURSOR,
                             "malformed cursor; pass next_cursor exactly as %s returned it",
                             p->q->schema->listing);
        p->q->cursor = arena_strndup(p->q->mem, s, n);
        return 0;
    }
}

static int parse_element(parser *p, const json_t *e)
{
    size_t n = json_array_size(e);
    if (!json_is_array(e))
        return dsl__fail(p, DSL_E_ELEMENT,
                         "must be an array such as [\"eq\", field, value], got %s",
                         dsl__described(p, e));
    const json_t *name = json_array_get(e, 0);
    if (n == 0 || !json_is_string(name))
        return dsl__fail(p, DSL_E_ELEMENT, "must start with the operator's name, got %s",
                         n == 0 ? "an empty array" : dsl__described(p, name));
    const dsl_op *op = NULL;
    for (size_t i = 0; i < NOPS && op == NULL; i++)
        if (strcmp(ops[i].name, json_string_value(name)) == 0 &&
            strlen(ops[i].name) == json_string_length(name))
            op = &ops[i];
    if (op == NULL)
        return dsl__fail(p, DSL_E_ELEMENT, "unknown operator %s (%s)",
                         shown(p, json_string_value(name), json_string_length(name)),
                         taken_ops(p));
    if (op->code >= OP_FIRST_SINGLETON && (p->q->schema->refuses & OP_REFUSAL(op->code)))
        return dsl__fail(p, DSL_E_ELEMENT, "\"%s\" is not accepted here; filter_json takes %s",
                         op->name, taken_ops(p));
    size_t want = op->code >= OP_FIRST_SINGLETON ? 2 : 3;
    const char *usage = op->code == OP_FIELDS
                        ? arena_printf(p->q->mem, "[\"fields\", \"%s,...\"]",
                                       p->q->schema->sample_fields)
                        : op->usage;
    if (n != want)
        return dsl__fail(p, DSL_E_ELEMENT,
                         "\"%s\" takes %zu item%s after its name, as in %s; got %zu", op->name,
                         want - 1, want == 2 ? "" : "s", usage, n - 1);
    if (op->code < OP_FIRST_SINGLETON)
        return parse_filter(p, op, e);
    int *seen = &p->q->seen[op->code - OP_FIRST_SINGLETON];
    if (*seen >= 0)
        return dsl__fail(p, DSL_E_ELEMENT, "a second \"%s\" (the first is element %d)", op->name,
                         *seen);
    *seen = p->elem;
    return parse_singleton(p, op, json_array_get(e, 1));
}

/* ---- the query ---- */

/* After every element: the key tie-breaker, the cursor, then the times. */
static int finish(parser *p)
{
    dsl_query *q = p->q;
    if (q->nkeys == 0 || q->keys[q->nkeys - 1].f != key_field(q)) {
        bool is_desc = q->nkeys > 0 && q->keys[q->nkeys - 1].is_desc;
        q->keys[q->nkeys++] = (key){ .f = key_field(q), .is_desc = is_desc };
    }
    p->elem = q->seen[OP_CURSOR - OP_FIRST_SINGLETON];
    int rc = q->cursor[0] != '\0' ? dsl__cursor_decode(p) : 0;
    for (int i = 0; rc == 0 && i < q->nfilters; i++) {
        filter *f = &q->filters[i];
        p->elem = f->elem;
        for (int k = 0; rc == 0 && k < f->nvals; k++) {
            value *v = &f->vals[k];
            int64_t at;
            if (!v->is_relative)
                continue;
            if (__builtin_add_overflow(q->now_us, v->num, &at))
                rc = dsl__fail(p, DSL_E_VALUE, "%s: now() %s is out of range", f->f->name,
                               v->num < 0 ? "minus the interval" : "plus the interval");
            else
                v->text = arena_printf(q->mem, "%lld", (long long)at);
        }
    }
    return rc;
}

int dsl_parse(const dsl_schema *schema, const char *json, size_t len, int64_t now_us,
              dsl_query **out, char *err, size_t errlen)
{
    json_t *root = NULL;
    arena *mem = arena_new();
    dsl_query *q = arena_calloc(mem, 1, sizeof *q);
    *q = (dsl_query){ .mem = mem, .schema = schema, .mask = ~0ull, .limit = DSL_DEFAULT_LIMIT,
                      .now_us = now_us, .seen = { -1, -1, -1, -1 }, .cursor = "" };
    parser p = { .q = q, .err = err, .errlen = errlen, .elem = -1 };
    int rc = 0;
    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (len > DSL_MAX_BYTES) {
        rc = dsl__fail(&p, DSL_E_JSON, "filter_json is %zu bytes; at most %d", len, DSL_MAX_BYTES);
        goto out;
    }
    if (len > 0) {
        json_error_t je;
        root = json_loadb(json, len, 0, &je);
        if (root == NULL) {
            rc = dsl__fail(&p, DSL_E_JSON, "filter_json is not valid JSON (line %d, column %d): %s",
                           je.line, je.column, escaped(&p, je.text, strlen(je.text), 160, false));
            goto out;
        }
        if (!json_is_array(root)) {
            rc = dsl__fail(&p, DSL_E_JSON, "filter_json must be a JSON array of elements, such as "
                           "%s", schema->sample_filter);
            goto out;
        }
        if (json_array_size(root) > DSL_MAX_ELEMENTS) {
            rc = dsl__fail(&p, DSL_E_JSON, "filter_json has %zu elements; at most %d",
                           json_array_size(root), DSL_MAX_ELEMENTS);
            goto out;
        }
    }
    for (size_t i = 0; i < json_array_size(root); i++) {
        p.elem = (int)i;
        if ((rc = parse_element(&p, json_array_get(root, i))) < 0)
            goto out;
    }
    rc = finish(&p);
out:
    json_decref(root);
    if (rc < 0)
        arena_free(mem);
    else
        *out = q;
    return rc;
}

void dsl_query_free(dsl_query *q)
{
    if (q != NULL)
        arena_free(q->mem);
}

int dsl_limit(const dsl_query *q)
{
    return q->limit;
}

bool dsl_returns(const dsl_query *q, int field)
{
    return field >= 0 && field < DSL_MAX_FIELDS && (q->mask >> field & 1);
}

