/*
 * Decoding: a jansson tree into a protobuf-c message allocated with the
 * caller's ProtobufCAllocator, walking the message's descriptor.
 *
 * Invariants: the message under construction is always one
 * protobuf_c_message_free_unpacked can free: every allocation is stored in
 * its place before anything else can fail (arrays zeroed with their count
 * set, a oneof's case set before its member is filled), so a failure
 * anywhere frees the whole message and leaves nothing behind. Each JSON
 * value is counted and each container checked against the depth limit
 * before it is entered. A field is set at most once: a key naming a field
 * the object also names under its other spelling, or a second member of
 * one oneof, is refused.
 */
#include <stdio.h>
#include <string.h>

#include "pbjson_int.h"

#define MEMBER(m, off) ((char *)(m) + (off))

static int decode_message(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                          const json_t *j, ProtobufCMessage *m);

void *pbj__alloc(pbj_ctx *c, size_t n)
{
    if (c->alloc == NULL)
        return xmalloc(n);
    void *p = c->alloc->alloc(c->alloc->allocator_data, n);
    if (p == NULL)
        panic("pbjson: out of memory allocating %zu bytes", n);
    return p;
}

static ProtobufCMessage *new_message(pbj_ctx *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = pbj__alloc(c, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

/* ---- singular values ---- */

static int string_from(pbj_ctx *c, const pbj_frame *at, const json_t *j, char **member)
{
    if (!json_is_string(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected a string");
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (!utf8_valid(s, n))
        return pbj__fail(c, at, PBJ_E_TYPE, memchr(s, '\0', n) != NULL
                                                ? "string holds a NUL character"
                                                : "string is not UTF-8");
    char *copy = pbj__alloc(c, n + 1);
    memcpy(copy, s, n + 1);
    *member = copy;
    return 0;
}

static int bytes_from(pbj_ctx *c, const pbj_frame *at, const json_t *j, ProtobufCBinaryData *b)
{
    if (!json_is_string(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected a base64 string for bytes");
    size_t n = json_string_length(j);
    if (n == 0)
        return 0;
    b->data = pbj__alloc(c, pbj__base64_max(n));
    long len = pbj__base64_decode(json_string_value(j), n, b->data);
    if (len < 0)
        return pbj__fail(c, at, PBJ_E_TYPE, "not base64");
    b->len = (size_t)len;
    return 0;
}

static int enum_from(pbj_ctx *c, const pbj_frame *at, const ProtobufCEnumDescriptor *e,
                     const json_t *j, int32_t *member)
{
    char buf[96];
    if (json_is_number(j)) {
        uint64_t bits;
        int rc = pbj__json_int(c, at, j, PROTOBUF_C_TYPE_INT32, &bits);
        if (rc == 0)
            *member = (int32_t)(int64_t)bits;
        return rc;
    }
    if (!json_is_string(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected a string or number for enum %s",
                         e->name);
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    const ProtobufCEnumValue *v =
        strlen(s) == n ? protobuf_c_enum_descriptor_get_value_by_name(e, s) : NULL;
    if (v == NULL)
        return pbj__fail(c, at, PBJ_E_TYPE, "unknown value %s for enum %s",
                         pbj__quote(buf, sizeof buf, s, n), e->name);
    *member = v->value;
    return 0;
}

static int integer_from(pbj_ctx *c, const pbj_frame *at, ProtobufCType t, const json_t *j,
                        void *member)
{
    uint64_t bits;
    int rc = pbj__json_int(c, at, j, t, &bits);
    if (rc < 0)
        return rc;
    if (pbj__element_size(t) == 8)
        memcpy(member, &bits, 8);
    else {
        uint32_t low = (uint32_t)bits;
        memcpy(member, &low, 4);
    }
    return 0;
}

int pbj__decode_value(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const json_t *j, void *member)
{
    double d;
    int rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
        rc = pbj__json_double(c, at, j, true, &d);
        if (rc == 0)
            *(float *)member = (float)d;
        return rc;
    case PROTOBUF_C_TYPE_DOUBLE:
        rc = pbj__json_double(c, at, j, false, &d);
        if (rc == 0)
            *(double *)member = d;
        return rc;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return pbj__fail(c, at, PBJ_E_TYPE, "expected true or false for bool");
        *(protobuf_c_boolean *)member = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return enum_from(c, at, f->descriptor, j, member);
    case PROTOBUF_C_TYPE_STRING:
        return string_from(c, at, j, member);
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_from(c, at, j, member);
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub = new_message(c, f->descriptor);
        *(ProtobufCMessage **)member = sub;
        return decode_message(c, at, depth + 1, j, sub);
    }
    default:
        return integer_from(c, at, f->type, j, member);
    }
}

/* ---- repeated fields and maps ---- */

static int decode_array(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                        const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *m)
{
    if (!json_is_array(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected an array for a repeated field");
    int rc = pbj__enter(c, at, depth + 1);
    size_t n = json_array_size(j), size = pbj__element_size(f->type);
    if (rc < 0 || n == 0)
        return rc;
    char *items = pbj__alloc(c, n * size);
    memset(items, 0, n * size);
    *(char **)MEMBER(m, f->offset) = items;
    *(size_t *)MEMBER(m, f->quantifier_offset) = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_INDEX, .index = i };
        const json_t *v = json_array_get(j, i);
        rc = pbj__count(c, &fr);
        if (rc == 0 && json_is_null(v))
            rc = pbj__fail(c, &fr, PBJ_E_TYPE, "null is not allowed in a repeated field");
        if (rc == 0)
            rc = pbj__decode_value(c, &fr, depth + 1, f, v, items + i * size);
    }
    return rc;
}

static int map_key_from(pbj_ctx *c, const pbj_frame *at, const ProtobufCFieldDescriptor *kf,
                        const char *key, size_t len, void *member)
{
    json_t *k = json_stringn_nocheck(key, len);
    int rc;
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        rc = string_from(c, at, k, member);
    else if (kf->type != PROTOBUF_C_TYPE_BOOL)
        rc = integer_from(c, at, kf->type, k, member);
    else if (len == 4 && memcmp(key, "true", 4) == 0)
        rc = (*(protobuf_c_boolean *)member = 1, 0);
    else if (len == 5 && memcmp(key, "false", 5) == 0)
        rc = (*(protobuf_c_boolean *)member = 0, 0);
    else
        rc = pbj__fail(c, at, PBJ_E_TYPE, "a bool map key must be \"true\" or \"false\"");
    json_decref(k);
    return rc;
}

static int decode_map(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *m)
{
    if (!json_is_object(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected an object for a map field");
    int rc = pbj__enter(c, at, depth + 1);
    size_t n = json_object_size(j), i = 0;
    if (rc < 0 || n == 0)
        return rc;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    ProtobufCMessage **entries = pbj__alloc(c, n * sizeof *entries);
    memset(entries, 0, n * sizeof *entries);
    *(ProtobufCMessage ***)MEMBER(m, f->offset) = entries;
    *(size_t *)MEMBER(m, f->quantifier_offset) = n;
    const char *key;
    size_t len;
    json_t *v;
    json_object_keylen_foreach((json_t *)j, key, len, v)
    {
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_KEY, .name = key, .len = len };
        rc = pbj__count(c, &fr);
        if (rc == 0 && json_is_null(v))
            rc = pbj__fail(c, &fr, PBJ_E_TYPE, "null is not allowed as a map value");
        if (rc < 0)
            break;
        ProtobufCMessage *entry = entries[i++] = new_message(c, e);
        rc = map_key_from(c, &fr, &e->fields[0], key, len, MEMBER(entry, e->fields[0].offset));
        if (rc == 0)
            rc = pbj__decode_value(c, &fr, depth + 1, &e->fields[1], v,
                                   MEMBER(entry, e->fields[1].offset));
        if (rc < 0)
            break;
    }
    return rc;
}

/* ---- messages ---- */

/* Refuses a field the object also names under its other spelling. */
static int check_given_once(pbj_ctx *c, const pbj_frame *at, const json_t *obj,
                            const ProtobufCFieldDescriptor *f, const char *key, size_t len)
{
    if (strchr(f->name, '_') == NULL) /* one spelling only */
        return 0;
    char buf[PBJ_NAME_BUF], *heap;
    const char *json_name = pbj__field_key(0, f, buf, &heap);
    bool is_proto_name = strlen(f->name) == len && memcmp(f->name, key, len) == 0;
    const char *other = is_proto_name ? json_name : f->name;
    int rc = 0;
    if (strcmp(json_name, f->name) != 0 && json_object_get(obj, other) != NULL)
        rc = pbj__fail(c, at, PBJ_E_FIELD, "given twice (also as %s)", other);
    free(heap);
    return rc;
}

/* Refuses a second member of a oneof, then marks f as the one set. */
static int claim_oneof(pbj_ctx *c, const pbj_frame *at, ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f)
{
    uint32_t *oneof_case = (uint32_t *)MEMBER(m, f->quantifier_offset);
    if (*oneof_case != 0 && *oneof_case != f->id) {
        const ProtobufCFieldDescriptor *set =
            protobuf_c_message_descriptor_get_field(m->descriptor, *oneof_case);
        char buf[PBJ_NAME_BUF], *heap = NULL;
        const char *name = set != NULL ? pbj__field_key(c->flags, set, buf, &heap) : "?";
        int rc = pbj__fail(c, at, PBJ_E_FIELD, "another member of its oneof (%s) is already set",
                           name);
        free(heap);
        return rc;
    }
    *oneof_case = f->id;
    return 0;
}

static int decode_field(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                        const ProtobufCFieldDescriptor *f, const json_t *v, ProtobufCMessage *m)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return pbj__is_map(m->descriptor, f) ? decode_map(c, at, depth, f, v, m)
                                             : decode_array(c, at, depth, f, v, m);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        int rc = claim_oneof(c, at, m, f);
        if (rc < 0)
            return rc;
    }
    int rc = pbj__decode_value(c, at, depth, f, v, MEMBER(m, f->offset));
    if (rc == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
    return rc;
}

/* Fills m (initialised) from j, an object (or a well-known type's form)
 * at nesting depth. */
static int decode_message(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                          const json_t *j, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    pbj_wkt w = pbj__wkt_of(d);
    if (w != PBJ_WKT_NONE)
        return pbj__wkt_decode(c, at, w, j, m);
    if (!json_is_object(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected an object for message %s", d->name);
    int rc = pbj__enter(c, at, depth);
    const char *key;
    size_t len;
    json_t *v;
    if (rc < 0)
        return rc;
    json_object_keylen_foreach((json_t *)j, key, len, v)
    {
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_FIELD, .name = key, .len = len };
        const ProtobufCFieldDescriptor *f = pbj__field_by_key(d, key, len);
        rc = pbj__count(c, &fr);
        if (rc == 0 && f == NULL && !(c->flags & PBJ_IGNORE_UNKNOWN))
            rc = pbj__fail(c, &fr, PBJ_E_FIELD, "unknown field");
        if (rc == 0 && f != NULL)
            rc = check_given_once(c, &fr, j, f, key, len);
        if (rc == 0 && f != NULL && !json_is_null(v))
            rc = decode_field(c, &fr, depth, f, v, m);
        if (rc < 0)
            break;
    }
    return rc;
}

int pbj_decode_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                    const pbj_opts *opts, ProtobufCAllocator *alloc, ProtobufCMessage **out,
                    char *err, size_t errlen)
{
    pbj_ctx c;
    pbj__ctx_init(&c, opts, err, errlen);
    c.alloc = alloc;
    *out = NULL;
    ProtobufCMessage *m = new_message(&c, desc);
    int rc = pbj__count(&c, NULL);
    if (rc == 0)
        rc = decode_message(&c, NULL, 1, json, m);
    if (rc < 0)
        protobuf_c_message_free_unpacked(m, alloc);
    else
        *out = m;
    return rc;
}
