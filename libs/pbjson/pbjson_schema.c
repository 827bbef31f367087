/*
 * JSON Schema (the OpenAPI 3.1 dialect) of messages as pbj_encode writes
 * them, for /openapi.json: each message and enum becomes one component
 * schema named by its full proto name, referenced with $ref; well-known
 * types are written inline in their JSON form.
 *
 * Invariant: the types reached from a message are gathered with a work
 * list, not by recursion, and each is written once (a name already in the
 * caller's components is never rewritten), so recursive messages and
 * shared types end.
 */
#include <string.h>

#include "pbjson_int.h"

#define REF_PREFIX "#/components/schemas/"

/* Types still to write: message or enum descriptors. */
typedef struct {
    struct {
        const void *desc;
        bool is_enum;
    } *items;
    size_t n, cap;
} worklist;

static void push(worklist *w, const void *desc, bool is_enum)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->items = xrealloc(w->items, w->cap * sizeof *w->items);
    }
    w->items[w->n].desc = desc;
    w->items[w->n++].is_enum = is_enum;
}

static json_t *ref(const char *name)
{
    json_t *r = json_object();
    json_object_set_new(r, "$ref", json_sprintf(REF_PREFIX "%s", name));
    return r;
}

static json_t *typed(const char *type, const char *format)
{
    json_t *s = json_object();
    json_object_set_new(s, "type", json_string(type));
    if (format != NULL)
        json_object_set_new(s, "format", json_string(format));
    return s;
}

static json_t *scalar_schema(ProtobufCType t)
{
    json_t *s;
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return typed("integer", "int32");
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        s = typed("integer", "uint32");
        json_object_set_new(s, "minimum", json_integer(0));
        json_object_set_new(s, "maximum", json_integer(UINT32_MAX));
        return s;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return typed("string", "int64");
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return typed("string", "uint64");
    case PROTOBUF_C_TYPE_FLOAT:
        return typed("number", "float");
    case PROTOBUF_C_TYPE_DOUBLE:
        return typed("number", "double");
    case PROTOBUF_C_TYPE_BOOL:
        return typed("boolean", NULL);
    case PROTOBUF_C_TYPE_BYTES:
        s = typed("string", NULL);
        json_object_set_new(s, "contentEncoding", json_string("base64"));
        return s;
    default:
        return typed("string", NULL);
    }
}

static json_t *wkt_schema(pbj_wkt w, const ProtobufCMessageDescriptor *d)
{
    json_t *s;
    switch (w) {
    case PBJ_WKT_TIMESTAMP:
        return typed("string", "date-time");
    case PBJ_WKT_DURATION:
        s = typed("string", NULL);
        json_object_set_new(s, "pattern", json_string("^-?[0-9]+(\\.[0-9]{1,9})?s$"));
        return s;
    case PBJ_WKT_FIELD_MASK:
        return typed("string", NULL);
    default:
        /* A wrapper is its value, or null when unset. */
        s = scalar_schema(d->fields[0].type);
        json_t *both = json_array();
        json_array_append(both, json_object_get(s, "type"));
        json_array_append_new(both, json_string("null"));
        json_object_set_new(s, "type", both);
        return s;
    }
}

/* The schema of one value of field f; types it references go on w. */
static json_t *value_schema(worklist *w, const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_ENUM) {
        push(w, f->descriptor, true);
        return ref(((const ProtobufCEnumDescriptor *)f->descriptor)->name);
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return scalar_schema(f->type);
    const ProtobufCMessageDescriptor *d = f->descriptor;
    pbj_wkt wkt = pbj__wkt_of(d);
    if (wkt != PBJ_WKT_NONE)
        return wkt_schema(wkt, d);
    push(w, d, false);
    return ref(d->name);
}

static json_t *field_schema(worklist *w, const ProtobufCMessageDescriptor *parent,
                            const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return value_schema(w, f);
    json_t *s;
    if (pbj__is_map(parent, f)) {
        const ProtobufCMessageDescriptor *e = f->descriptor;
        s = typed("object", NULL);
        json_object_set_new(s, "additionalProperties", value_schema(w, &e->fields[1]));
    } else {
        s = typed("array", NULL);
        json_object_set_new(s, "items", value_schema(w, f));
    }
    return s;
}

static json_t *message_schema(worklist *w, const ProtobufCMessageDescriptor *d, unsigned flags)
{
    json_t *props = json_object();
    for (unsigned i = 0; i < d->n_fields; i++) {
        char buf[PBJ_NAME_BUF], *heap;
        const char *key = pbj__field_key(flags, &d->fields[i], buf, &heap);
        json_object_set_new(props, key, field_schema(w, d, &d->fields[i]));
        free(heap);
    }
    json_t *s = typed("object", NULL);
    json_object_set_new(s, "properties", props);
    return s;
}

static json_t *enum_schema(const ProtobufCEnumDescriptor *e)
{
    json_t *names = json_array();
    for (unsigned i = 0; i < e->n_values; i++)
        json_array_append_new(names, json_string(e->values[i].name));
    json_t *s = typed("string", NULL);
    json_object_set_new(s, "enum", names);
    return s;
}

json_t *pbj_schema_ref(const ProtobufCMessageDescriptor *desc, unsigned flags,
                       json_t *components)
{
    pbj_wkt wkt = pbj__wkt_of(desc);
    if (wkt != PBJ_WKT_NONE)
        return wkt_schema(wkt, desc);
    if (!json_is_object(components))
        return NULL;
    worklist w = { 0 };
    push(&w, desc, false);
    while (w.n > 0) {
        w.n--;
        const void *d = w.items[w.n].desc;
        bool is_enum = w.items[w.n].is_enum;
        const char *name = is_enum ? ((const ProtobufCEnumDescriptor *)d)->name
                                   : ((const ProtobufCMessageDescriptor *)d)->name;
        if (json_object_get(components, name) != NULL)
            continue;
        json_object_set_new(components, name,
                            is_enum ? enum_schema(d) : message_schema(&w, d, flags));
    }
    free(w.items);
    return ref(desc->name);
}
