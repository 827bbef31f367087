/*
 * JSON text in: a linear pre-scan refuses text nested deeper or holding
 * more values than the options allow before jansson builds a tree from it
 * (so a hostile body costs one pass, not a tree of a million nodes), then
 * jansson parses it, refusing duplicate keys, and pbj_decode_json reads
 * the tree.
 *
 * Invariant: the pre-scan counts values the way the walk does (the root,
 * each member value, each array item: one plus the commas plus the
 * non-empty containers of valid JSON), so text that passes it cannot fail
 * the walk's limits; on malformed text it may count anything, and jansson
 * refuses that text anyway.
 */
#include <stdio.h>
#include <string.h>

#include "pbjson_int.h"

static int prescan_fail(pbj_ctx *c, const char *s, size_t at, const char *what)
{
    int line = 1, column = 1;
    for (size_t i = 0; i < at; i++) {
        if (s[i] == '\n') {
            line++;
            column = 1;
        } else if (((unsigned char)s[i] & 0xc0) != 0x80)
            column++;
    }
    return pbj__fail(c, NULL, PBJ_E_LIMIT, "%s at line %d, column %d (position %zu)", what,
                     line, column, at);
}

static int prescan(pbj_ctx *c, const char *s, size_t n)
{
    unsigned depth = 0;
    size_t values = 1;
    bool is_in_string = false, is_escaped = false, is_just_opened = false;
    char what[64];
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (is_in_string) {
            if (is_escaped)
                is_escaped = false;
            else if (ch == '\\')
                is_escaped = true;
            else if (ch == '"')
                is_in_string = false;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        if (is_just_opened && ch != ']' && ch != '}')
            values++;
        is_just_opened = false;
        if (ch == '"')
            is_in_string = true;
        else if (ch == ',')
            values++;
        else if (ch == ']' || ch == '}')
            depth -= depth > 0;
        else if (ch == '[' || ch == '{') {
            is_just_opened = true;
            if (++depth > c->max_depth) {
                snprintf(what, sizeof what, "nested deeper than %u levels", c->max_depth);
                return prescan_fail(c, s, i, what);
            }
        }
        if (values > c->max_elements) {
            snprintf(what, sizeof what, "more than %zu elements", c->max_elements);
            return prescan_fail(c, s, i, what);
        }
    }
    return 0;
}

int pbj_decode(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
               const pbj_opts *opts, ProtobufCAllocator *alloc, ProtobufCMessage **out,
               char *err, size_t errlen)
{
    pbj_ctx c;
    pbj__ctx_init(&c, opts, err, errlen);
    *out = NULL;
    int rc = prescan(&c, text, len);
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *j =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (j == NULL) {
        pbj__sanitize(je.text);
        return pbj__fail(&c, NULL, PBJ_E_JSON, "malformed JSON at line %d, column %d "
                                               "(position %d): %s",
                         je.line, je.column, je.position, je.text);
    }
    rc = pbj_decode_json(desc, j, opts, alloc, out, err, errlen);
    json_decref(j);
    return rc;
}
