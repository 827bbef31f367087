/*
 * Encoding: a protobuf-c message to a jansson tree, walking its descriptor.
 *
 * Invariants: fields come out in the descriptor's order, so equal messages
 * give equal JSON; a field without presence is written only when it is not
 * at its default (a float or double -0 is not the default: its sign
 * survives) unless PBJ_EMIT_DEFAULTS; a oneof member, a message field or a
 * proto2 optional field only when set; the walk counts depth and values
 * like the decoder, so a message nested past max_depth (protobuf-c does
 * not bound nesting when it unpacks) ends in PBJ_E_LIMIT, not in a deep
 * recursion; on failure nothing is left allocated.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pbjson_int.h"

#define MEMBER(m, off) ((const char *)(m) + (off))

static int encode_message(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                          const ProtobufCMessage *m, json_t **out);

/* True when a field without presence holds its default; floating point
 * compares bits, so -0 is a value. */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *member)
{
    static const uint64_t zero = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)member == NULL;
    default:
        return memcmp(member, &zero, pbj__element_size(f->type)) == 0;
    }
}

static bool is_written(const pbj_ctx *c, const ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f)
{
    const void *member = MEMBER(m, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)MEMBER(m, f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)MEMBER(m, f->quantifier_offset) > 0 ||
               (c->flags & PBJ_EMIT_DEFAULTS);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)member != NULL;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING)
            return *(const void *const *)member != NULL &&
                   *(const void *const *)member != f->default_value;
        return *(const protobuf_c_boolean *)MEMBER(m, f->quantifier_offset);
    default:
        return (c->flags & PBJ_EMIT_DEFAULTS) || !is_default(f, member);
    }
}

static json_t *enum_json(const ProtobufCEnumDescriptor *e, int32_t v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(e, v);
    return ev != NULL ? json_string(ev->name) : json_integer(v);
}

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
    size_t len;
    char *s = pbj__base64_encode(b->data, b->len, &len);
    json_t *j = json_stringn_nocheck(s, len);
    free(s);
    return j;
}

static json_t *int64_json(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return json_string_nocheck(buf);
}

static json_t *uint64_json(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string_nocheck(buf);
}

int pbj__encode_value(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const void *member, json_t **out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *out = json_integer(*(const int32_t *)member);
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *out = json_integer(*(const uint32_t *)member);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *out = int64_json(*(const int64_t *)member);
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *out = uint64_json(*(const uint64_t *)member);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        *out = pbj__double_json(*(const float *)member);
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        *out = pbj__double_json(*(const double *)member);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        *out = json_boolean(*(const protobuf_c_boolean *)member);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        *out = enum_json(f->descriptor, *(const int32_t *)member);
        return 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        *out = json_string(s != NULL ? s : "");
        return *out != NULL ? 0 : pbj__fail(c, at, PBJ_E_TYPE, "string is not UTF-8");
    }
    case PROTOBUF_C_TYPE_BYTES:
        *out = bytes_json(member);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;
        if (sub != NULL)
            return encode_message(c, at, depth + 1, sub, out);
        /* An unset map value or list item is the type's default. */
        const ProtobufCMessageDescriptor *d = f->descriptor;
        ProtobufCMessage *empty = xmalloc(d->sizeof_message);
        protobuf_c_message_init(d, empty);
        int rc = encode_message(c, at, depth + 1, empty, out);
        protobuf_c_message_free_unpacked(empty, NULL);
        return rc;
    }
    }
    return pbj__fail(c, at, PBJ_E_TYPE, "field type %d is unknown", (int)f->type);
}

static int encode_array(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                        const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                        json_t **out)
{
    size_t n = *(const size_t *)MEMBER(m, f->quantifier_offset);
    const char *items = *(const char *const *)MEMBER(m, f->offset);
    size_t size = pbj__element_size(f->type);
    int rc = pbj__enter(c, at, depth + 1);
    json_t *a = json_array();
    for (size_t i = 0; i < n && rc == 0; i++) {
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_INDEX, .index = i };
        json_t *v = NULL;
        rc = pbj__count(c, &fr);
        if (rc == 0)
            rc = pbj__encode_value(c, &fr, depth + 1, f, items + i * size, &v);
        if (rc == 0)
            json_array_append_new(a, v);
    }
    *out = rc == 0 ? a : (json_decref(a), NULL);
    return rc;
}

/* The text of a map key: the string, "true"/"false" or the decimal number. */
static const char *map_key(const ProtobufCFieldDescriptor *kf, const void *member,
                           char buf[24])
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        return s != NULL ? s : "";
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)member ? "true" : "false";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, 24, "%" PRId64, *(const int64_t *)member);
        return buf;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, 24, "%" PRIu64, *(const uint64_t *)member);
        return buf;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, 24, "%" PRIu32, *(const uint32_t *)member);
        return buf;
    default:
        snprintf(buf, 24, "%" PRId32, *(const int32_t *)member);
        return buf;
    }
}

/* A map's entries in their order; a later entry with the same key
 * replaces an earlier one, as on the wire. */
static int encode_map(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                      json_t **out)
{
    size_t n = *(const size_t *)MEMBER(m, f->quantifier_offset);
    const ProtobufCMessage *const *entries = *(const ProtobufCMessage *const *const *)MEMBER(
        m, f->offset);
    const ProtobufCMessageDescriptor *e = f->descriptor;
    int rc = pbj__enter(c, at, depth + 1);
    json_t *obj = json_object();
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (entries[i] == NULL)
            continue;
        char buf[24];
        const char *key = map_key(&e->fields[0], MEMBER(entries[i], e->fields[0].offset), buf);
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_KEY, .name = key, .len = strlen(key) };
        json_t *v = NULL;
        rc = pbj__count(c, &fr);
        if (rc == 0)
            rc = pbj__encode_value(c, &fr, depth + 1, &e->fields[1],
                                   MEMBER(entries[i], e->fields[1].offset), &v);
        if (rc == 0 && json_object_set_new(obj, key, v) < 0)
            rc = pbj__fail(c, &fr, PBJ_E_TYPE, "map key is not UTF-8");
    }
    *out = rc == 0 ? obj : (json_decref(obj), NULL);
    return rc;
}

static int encode_field(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                        const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                        json_t **out)
{
    int rc = pbj__count(c, at);
    if (rc < 0)
        return rc;
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return pbj__encode_value(c, at, depth, f, MEMBER(m, f->offset), out);
    if (pbj__is_map(m->descriptor, f))
        return encode_map(c, at, depth, f, m, out);
    return encode_array(c, at, depth, f, m, out);
}

/* m as a JSON object (or a well-known type's form) at nesting depth. */
static int encode_message(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                          const ProtobufCMessage *m, json_t **out)
{
    pbj_wkt w = pbj__wkt_of(m->descriptor);
    if (w != PBJ_WKT_NONE)
        return pbj__wkt_encode(c, at, w, m, out);
    int rc = pbj__enter(c, at, depth);
    json_t *obj = json_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields && rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!is_written(c, m, f))
            continue;
        char buf[PBJ_NAME_BUF], *heap;
        const char *key = pbj__field_key(c->flags, f, buf, &heap);
        pbj_frame fr = { .up = at, .kind = PBJ_FRAME_FIELD, .name = key, .len = strlen(key) };
        json_t *v = NULL;
        rc = encode_field(c, &fr, depth, m, f, &v);
        if (rc == 0)
            json_object_set_new_nocheck(obj, key, v);
        free(heap);
    }
    *out = rc == 0 ? obj : (json_decref(obj), NULL);
    return rc;
}

int pbj_encode(const ProtobufCMessage *msg, const pbj_opts *opts, json_t **out, char *err,
               size_t errlen)
{
    pbj_ctx c;
    pbj__ctx_init(&c, opts, err, errlen);
    *out = NULL;
    int rc = pbj__count(&c, NULL);
    if (rc == 0)
        rc = encode_message(&c, NULL, 1, msg, out);
    return rc;
}
