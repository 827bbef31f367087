/*
 * Names: the JSON name protoc computes for a field, finding a field from
 * either spelling of a key, recognising map fields by protoc's naming
 * convention, and the messages that name a place ("lot.condition.
 * damages[2].severity: ..."), plus the depth and element accounting every
 * walk shares.
 *
 * Invariant: a message written here is valid UTF-8 (a caller's key may be
 * anything jansson lets through; its bad bytes are escaped) and fits its
 * buffer, clipped but NUL-terminated, whatever the buffer's size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pbjson_int.h"

#define CLIP 64          /* bytes of a caller's key or value quoted in a message */
#define MAX_PATH_FRAMES 256

void pbj__ctx_init(pbj_ctx *c, const pbj_opts *opts, char *err, size_t errlen)
{
    *c = (pbj_ctx){ .max_depth = PBJ_DEFAULT_MAX_DEPTH,
                    .max_elements = PBJ_DEFAULT_MAX_ELEMENTS,
                    .err = err,
                    .errlen = errlen };
    if (opts != NULL) {
        c->flags = opts->flags;
        if (opts->max_depth != 0)
            c->max_depth = opts->max_depth;
        if (opts->max_elements != 0)
            c->max_elements = opts->max_elements;
    }
    if (err != NULL && errlen > 0)
        err[0] = '\0';
}

/* ---- writing messages ---- */

typedef struct {
    char *p;
    size_t cap, len; /* len may pass cap: the text is then clipped */
} sink;

static void put(sink *s, const char *data, size_t n)
{
    if (s->len + 1 < s->cap) {
        size_t room = s->cap - 1 - s->len;
        memcpy(s->p + s->len, data, n < room ? n : room);
    }
    s->len += n;
    if (s->cap > 0)
        s->p[s->len < s->cap ? s->len : s->cap - 1] = '\0';
}

static size_t utf8_len_at(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    return len <= n && utf8_valid((const char *)s, len) ? len : 0;
}

/* A caller's bytes: printable text as is, the rest as \xNN, at most CLIP
 * bytes of input then "..."; quotes and backslashes escaped when quoted. */
static void put_escaped(sink *s, const char *str, size_t n, bool is_quoted)
{
    const unsigned char *u = (const unsigned char *)str;
    size_t i = 0;
    if (is_quoted)
        put(s, "\"", 1);
    while (i < n && i < CLIP) {
        size_t len = u[i] >= 0x20 && u[i] != 0x7f ? utf8_len_at(u + i, n - i) : 0;
        if (len == 0) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\x%02x", u[i]);
            put(s, hex, 4);
            i++;
            continue;
        }
        if (is_quoted && (u[i] == '"' || u[i] == '\\'))
            put(s, "\\", 1);
        put(s, str + i, len);
        i += len;
    }
    if (i < n)
        put(s, "...", 3);
    if (is_quoted)
        put(s, "\"", 1);
}

void pbj__sanitize(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char u = (unsigned char)s[i];
        size_t len = u >= 0x20 && u != 0x7f ? utf8_len_at((unsigned char *)s + i, n - i) : 0;
        if (len == 0)
            s[i++] = '?';
        else
            i += len;
    }
}

char *pbj__quote(char *out, size_t cap, const char *s, size_t n)
{
    sink k = { out, cap, 0 };
    if (cap > 0)
        out[0] = '\0';
    put_escaped(&k, s, n, true);
    return out;
}

static void put_frame(sink *s, const pbj_frame *f, bool is_first)
{
    char num[32];
    switch (f->kind) {
    case PBJ_FRAME_FIELD:
        if (!is_first)
            put(s, ".", 1);
        put_escaped(s, f->name, f->len, false);
        break;
    case PBJ_FRAME_INDEX:
        put(s, num, (size_t)snprintf(num, sizeof num, "[%zu]", f->index));
        break;
    case PBJ_FRAME_KEY:
        put(s, "[", 1);
        put_escaped(s, f->name, f->len, true);
        put(s, "]", 1);
        break;
    }
}

/* The path from the top-level message down to at. Frames link upwards, so
 * each is found again from at: quadratic, but only on the error path and
 * over at most MAX_PATH_FRAMES frames. */
static void put_path(sink *s, const pbj_frame *at)
{
    size_t n = 0;
    for (const pbj_frame *f = at; f != NULL; f = f->up)
        n++;
    size_t shown = n > MAX_PATH_FRAMES ? MAX_PATH_FRAMES : n;
    if (shown < n)
        put(s, "...", 3);
    for (size_t i = shown; i-- > 0;) {
        const pbj_frame *f = at;
        for (size_t k = 0; k < i; k++)
            f = f->up;
        put_frame(s, f, i + 1 == n);
    }
}

int pbj__fail(const pbj_ctx *c, const pbj_frame *at, int rc, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return rc;
    sink s = { c->err, c->errlen, 0 };
    c->err[0] = '\0';
    if (at != NULL) {
        put_path(&s, at);
        put(&s, ": ", 2);
    }
    if (s.len + 1 < s.cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s.p + s.len, s.cap - s.len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int pbj__enter(pbj_ctx *c, const pbj_frame *at, unsigned depth)
{
    if (depth > c->max_depth)
        return pbj__fail(c, at, PBJ_E_LIMIT, "nested deeper than %u levels", c->max_depth);
    return 0;
}

int pbj__count(pbj_ctx *c, const pbj_frame *at)
{
    if (++c->elements > c->max_elements)
        return pbj__fail(c, at, PBJ_E_LIMIT, "more than %zu elements", c->max_elements);
    return 0;
}

/* ---- names ---- */

static char upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

size_t pbj_json_name(const char *proto_name, char *out, size_t outlen)
{
    size_t len = 0;
    bool is_cap_next = false;
    for (const char *p = proto_name; *p != '\0'; p++) {
        if (*p == '_') {
            is_cap_next = true;
            continue;
        }
        if (len + 1 < outlen)
            out[len] = is_cap_next ? upper(*p) : *p;
        is_cap_next = false;
        len++;
    }
    if (outlen > 0)
        out[len < outlen ? len : outlen - 1] = '\0';
    return len;
}

const char *pbj__field_key(unsigned flags, const ProtobufCFieldDescriptor *f,
                           char buf[PBJ_NAME_BUF], char **heap)
{
    *heap = NULL;
    if ((flags & PBJ_ORIGINAL_NAMES) || strchr(f->name, '_') == NULL)
        return f->name;
    size_t len = pbj_json_name(f->name, buf, PBJ_NAME_BUF);
    if (len < PBJ_NAME_BUF)
        return buf;
    *heap = xmalloc(len + 1);
    pbj_json_name(f->name, *heap, len + 1);
    return *heap;
}

bool pbj__is_json_name(const char *proto_name, const char *key, size_t len)
{
    size_t i = 0;
    bool is_cap_next = false;
    for (const char *p = proto_name; *p != '\0'; p++) {
        if (*p == '_') {
            is_cap_next = true;
            continue;
        }
        if (i == len || key[i] != (is_cap_next ? upper(*p) : *p))
            return false;
        is_cap_next = false;
        i++;
    }
    return i == len;
}

const ProtobufCFieldDescriptor *pbj__field_by_key(const ProtobufCMessageDescriptor *d,
                                                  const char *key, size_t len)
{
    if (strlen(key) == len) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (f != NULL)
            return f;
    }
    for (unsigned i = 0; i < d->n_fields; i++)
        if (pbj__is_json_name(d->fields[i].name, key, len))
            return &d->fields[i];
    return NULL;
}

/* ---- maps ---- */

static bool is_map_key_type(ProtobufCType t)
{
    return t != PROTOBUF_C_TYPE_FLOAT && t != PROTOBUF_C_TYPE_DOUBLE &&
           t != PROTOBUF_C_TYPE_ENUM && t != PROTOBUF_C_TYPE_BYTES &&
           t != PROTOBUF_C_TYPE_MESSAGE;
}

/* True when entry_name is "<parent>.<FieldInCamelCase>Entry", as protoc
 * names the entry type of map field field_name. */
static bool is_entry_name(const char *entry_name, const char *parent, const char *field_name)
{
    size_t plen = strlen(parent);
    if (strncmp(entry_name, parent, plen) != 0 || entry_name[plen] != '.')
        return false;
    const char *e = entry_name + plen + 1;
    bool is_cap_next = true;
    for (const char *p = field_name; *p != '\0'; p++) {
        if (*p == '_') {
            is_cap_next = true;
            continue;
        }
        if (*e++ != (is_cap_next ? upper(*p) : *p))
            return false;
        is_cap_next = false;
    }
    return strcmp(e, "Entry") == 0;
}

bool pbj__is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    if (e == NULL || e->n_fields != 2)
        return false;
    const ProtobufCFieldDescriptor *k = &e->fields[0], *v = &e->fields[1];
    return k->id == 1 && strcmp(k->name, "key") == 0 && k->label != PROTOBUF_C_LABEL_REPEATED &&
           is_map_key_type(k->type) && v->id == 2 && strcmp(v->name, "value") == 0 &&
           v->label != PROTOBUF_C_LABEL_REPEATED && is_entry_name(e->name, parent->name, f->name);
}
