/*
 * pbjson's unit tests share this: hand-written protobuf-c descriptors for
 * what no Gavel proto has (every scalar type, proto2-style presence, maps,
 * the well-known types), written the way protoc-c writes them (fields in
 * number order, names sorted for lookup, one field range, proto3 strings
 * defaulting to protobuf_c_empty_string), and a counting allocator that
 * proves every decode frees what it allocated. The message and field
 * names are the descriptors' own, so the struct members carry the proto
 * field names. descriptors_are_sound (pbjson_encode_test.c) checks the sorted
 * name tables and ranges protobuf-c's lookups rely on.
 */
#ifndef GAVEL_PBJSON_TEST_UTIL_H
#define GAVEL_PBJSON_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson/pbjson.h"

/* ---- building blocks ---- */

static inline void pbjt_init(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d)
{
    memset(m, 0, d->sizeof_message);
    m->descriptor = d;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_STRING &&
            d->fields[i].label == PROTOBUF_C_LABEL_NONE)
            *(const char **)((char *)m + d->fields[i].offset) = protobuf_c_empty_string;
}

#define PBJT_STR_DEFAULT ((const void *)protobuf_c_empty_string)

/* A proto3 field without presence; strings pass PBJT_STR_DEFAULT as def. */
#define F_ONE(ctype, nm, num, typ, desc, def)                                                \
    { #nm, num, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_##typ, 0, offsetof(ctype, nm), desc, \
      def, 0, 0, NULL, NULL }
#define F_REP(ctype, nm, num, typ, desc)                                                    \
    { #nm, num, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_##typ, offsetof(ctype, n_##nm), \
      offsetof(ctype, nm), desc, NULL, 0, 0, NULL, NULL }

/* A message whose fields are numbered 1..n in array order. */
#define PBJT_MESSAGE(var, ctype, full, shortname, pkg, fields, sorted)                   \
    static void var##_init(ProtobufCMessage *m);                                         \
    static const ProtobufCIntRange var##_ranges[] = {                                    \
        { 1, 0 }, { 0, sizeof fields / sizeof fields[0] }                                \
    };                                                                                   \
    static const ProtobufCMessageDescriptor var = {                                      \
        PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, full, shortname, #ctype, pkg, sizeof(ctype), \
        sizeof fields / sizeof fields[0], fields, sorted, 1, var##_ranges,               \
        (ProtobufCMessageInit)var##_init, NULL, NULL, NULL                               \
    };                                                                                   \
    static void var##_init(ProtobufCMessage *m)                                          \
    {                                                                                    \
        pbjt_init(m, &var);                                                              \
    }

static const unsigned pbjt_sorted_1[] = { 0 };
static const unsigned pbjt_sorted_2[] = { 0, 1 };        /* key, value */
static const unsigned pbjt_sorted_nanos[] = { 1, 0 };    /* nanos, seconds */

/* ---- google.protobuf well-known types ---- */

typedef struct {
    ProtobufCMessage base;
    int64_t seconds;
    int32_t nanos;
} pbjt_timestamp;

static const ProtobufCFieldDescriptor pbjt_timestamp_fields[] = {
    F_ONE(pbjt_timestamp, seconds, 1, INT64, NULL, NULL),
    F_ONE(pbjt_timestamp, nanos, 2, INT32, NULL, NULL),
};
PBJT_MESSAGE(pbjt_timestamp_desc, pbjt_timestamp, "google.protobuf.Timestamp", "Timestamp",
             "google.protobuf", pbjt_timestamp_fields, pbjt_sorted_nanos)
PBJT_MESSAGE(pbjt_duration_desc, pbjt_timestamp, "google.protobuf.Duration", "Duration",
             "google.protobuf", pbjt_timestamp_fields, pbjt_sorted_nanos)

typedef struct {
    ProtobufCMessage base;
    size_t n_paths;
    char **paths;
} pbjt_field_mask;

static const ProtobufCFieldDescriptor pbjt_field_mask_fields[] = {
    F_REP(pbjt_field_mask, paths, 1, STRING, NULL),
};
PBJT_MESSAGE(pbjt_field_mask_desc, pbjt_field_mask, "google.protobuf.FieldMask", "FieldMask",
             "google.protobuf", pbjt_field_mask_fields, pbjt_sorted_1)

#define PBJT_WRAPPER(var, ctype, vtype, typ, name, def)                                   \
    typedef struct {                                                                     \
        ProtobufCMessage base;                                                           \
        vtype value;                                                                     \
    } ctype;                                                                             \
    static const ProtobufCFieldDescriptor var##_fields[] = {                             \
        F_ONE(ctype, value, 1, typ, NULL, def),                                          \
    };                                                                                   \
    PBJT_MESSAGE(var, ctype, "google.protobuf." name, name, "google.protobuf", var##_fields, \
                 pbjt_sorted_1)

PBJT_WRAPPER(pbjt_double_value_desc, pbjt_double_value, double, DOUBLE, "DoubleValue", NULL)
PBJT_WRAPPER(pbjt_float_value_desc, pbjt_float_value, float, FLOAT, "FloatValue", NULL)
PBJT_WRAPPER(pbjt_int64_value_desc, pbjt_int64_value, int64_t, INT64, "Int64Value", NULL)
PBJT_WRAPPER(pbjt_uint64_value_desc, pbjt_uint64_value, uint64_t, UINT64, "UInt64Value", NULL)
PBJT_WRAPPER(pbjt_int32_value_desc, pbjt_int32_value, int32_t, INT32, "Int32Value", NULL)
PBJT_WRAPPER(pbjt_uint32_value_desc, pbjt_uint32_value, uint32_t, UINT32, "UInt32Value", NULL)
PBJT_WRAPPER(pbjt_bool_value_desc, pbjt_bool_value, protobuf_c_boolean, BOOL, "BoolValue", NULL)
PBJT_WRAPPER(pbjt_string_value_desc, pbjt_string_value, char *, STRING, "StringValue",
             PBJT_STR_DEFAULT)
PBJT_WRAPPER(pbjt_bytes_value_desc, pbjt_bytes_value, ProtobufCBinaryData, BYTES, "BytesValue",
             NULL)

/* ---- pbjt.Color ---- */

typedef enum { PBJT_COLOR_UNSPECIFIED = 0, PBJT_COLOR_RED = 1, PBJT_COLOR_BLUE = 5 } pbjt_color;

static const ProtobufCEnumValue pbjt_color_values[] = {
    { "COLOR_UNSPECIFIED", "PBJT_COLOR_UNSPECIFIED", 0 },
    { "COLOR_RED", "PBJT_COLOR_RED", 1 },
    { "COLOR_BLUE", "PBJT_COLOR_BLUE", 5 },
};
static const ProtobufCEnumValueIndex pbjt_color_by_name[] = {
    { "COLOR_BLUE", 2 }, { "COLOR_RED", 1 }, { "COLOR_UNSPECIFIED", 0 },
};
static const ProtobufCIntRange pbjt_color_ranges[] = { { 0, 0 }, { 5, 2 }, { 0, 3 } };
static const ProtobufCEnumDescriptor pbjt_color_desc = {
    PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC, "pbjt.Color", "Color", "pbjt_color", "pbjt",
    3, pbjt_color_values, 3, pbjt_color_by_name, 2, pbjt_color_ranges,
    NULL, NULL, NULL, NULL
};

/* ---- pbjt.Scalars: every scalar type, repeated kinds, recursion, presence ---- */

#define PBJT_LONG_NAME                                                                   \
    "the_field_field_field_field_field_field_field_field_field_field_field_field_field_" \
    "field_field_field_field_field_field_field_field_field_field_field_field_field_name_x"

typedef struct pbjt_scalars {
    ProtobufCMessage base;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    int32_t s32;
    int64_t s64;
    uint32_t f32;
    uint64_t f64;
    int32_t sf32;
    int64_t sf64;
    float fl;
    double db;
    protobuf_c_boolean b;
    char *s;
    ProtobufCBinaryData by;
    pbjt_color color;
    size_t n_r_i64;
    int64_t *r_i64;
    size_t n_r_db;
    double *r_db;
    size_t n_r_s;
    char **r_s;
    size_t n_r_by;
    ProtobufCBinaryData *r_by;
    size_t n_r_color;
    pbjt_color *r_color;
    struct pbjt_scalars *child;
    size_t n_r_child;
    struct pbjt_scalars **r_child;
    protobuf_c_boolean has_opt_i32;
    int32_t opt_i32;
    size_t n_r_i32;
    int32_t *r_i32;
    size_t n_r_b;
    protobuf_c_boolean *r_b;
    size_t n_r_fl;
    float *r_fl;
    int32_t long_name;
} pbjt_scalars;

static const ProtobufCMessageDescriptor pbjt_scalars_desc;
static const ProtobufCFieldDescriptor pbjt_scalars_fields[] = {
    F_ONE(pbjt_scalars, i32, 1, INT32, NULL, NULL),
    F_ONE(pbjt_scalars, i64, 2, INT64, NULL, NULL),
    F_ONE(pbjt_scalars, u32, 3, UINT32, NULL, NULL),
    F_ONE(pbjt_scalars, u64, 4, UINT64, NULL, NULL),
    F_ONE(pbjt_scalars, s32, 5, SINT32, NULL, NULL),
    F_ONE(pbjt_scalars, s64, 6, SINT64, NULL, NULL),
    F_ONE(pbjt_scalars, f32, 7, FIXED32, NULL, NULL),
    F_ONE(pbjt_scalars, f64, 8, FIXED64, NULL, NULL),
    F_ONE(pbjt_scalars, sf32, 9, SFIXED32, NULL, NULL),
    F_ONE(pbjt_scalars, sf64, 10, SFIXED64, NULL, NULL),
    F_ONE(pbjt_scalars, fl, 11, FLOAT, NULL, NULL),
    F_ONE(pbjt_scalars, db, 12, DOUBLE, NULL, NULL),
    F_ONE(pbjt_scalars, b, 13, BOOL, NULL, NULL),
    F_ONE(pbjt_scalars, s, 14, STRING, NULL, PBJT_STR_DEFAULT),
    F_ONE(pbjt_scalars, by, 15, BYTES, NULL, NULL),
    F_ONE(pbjt_scalars, color, 16, ENUM, &pbjt_color_desc, NULL),
    F_REP(pbjt_scalars, r_i64, 17, INT64, NULL),
    F_REP(pbjt_scalars, r_db, 18, DOUBLE, NULL),
    F_REP(pbjt_scalars, r_s, 19, STRING, NULL),
    F_REP(pbjt_scalars, r_by, 20, BYTES, NULL),
    F_REP(pbjt_scalars, r_color, 21, ENUM, &pbjt_color_desc),
    F_ONE(pbjt_scalars, child, 22, MESSAGE, &pbjt_scalars_desc, NULL),
    F_REP(pbjt_scalars, r_child, 23, MESSAGE, &pbjt_scalars_desc),
    { "opt_i32", 24, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_INT32,
      offsetof(pbjt_scalars, has_opt_i32), offsetof(pbjt_scalars, opt_i32), NULL, NULL, 0, 0,
      NULL, NULL },
    F_REP(pbjt_scalars, r_i32, 25, INT32, NULL),
    F_REP(pbjt_scalars, r_b, 26, BOOL, NULL),
    F_REP(pbjt_scalars, r_fl, 27, FLOAT, NULL),
    { PBJT_LONG_NAME, 28, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT32, 0,
      offsetof(pbjt_scalars, long_name), NULL, NULL, 0, 0, NULL, NULL },
};
static const unsigned pbjt_scalars_sorted[] = { 12, 14, 21, 15, 11, 6,  7,  10, 0, 1,
                                                 23, 25, 19, 22, 20, 17, 26, 24, 16, 18,
                                                 13, 4,  5,  8,  9,  27, 2,  3 };
PBJT_MESSAGE(pbjt_scalars_desc, pbjt_scalars, "pbjt.Scalars", "Scalars", "pbjt",
             pbjt_scalars_fields, pbjt_scalars_sorted)

/* ---- pbjt.Maps: map fields of several key kinds, and a look-alike ---- */

#define PBJT_ENTRY(var, ctype, ktype, kt, vtype, vt, vdesc, kdef, vdef, full, shortname) \
    typedef struct {                                                                   \
        ProtobufCMessage base;                                                         \
        ktype key;                                                                     \
        vtype value;                                                                   \
    } ctype;                                                                           \
    static const ProtobufCFieldDescriptor var##_fields[] = {                           \
        F_ONE(ctype, key, 1, kt, NULL, kdef),                                          \
        F_ONE(ctype, value, 2, vt, vdesc, vdef),                                       \
    };                                                                                 \
    PBJT_MESSAGE(var, ctype, full, shortname, "pbjt", var##_fields, pbjt_sorted_2)

PBJT_ENTRY(pbjt_labels_entry_desc, pbjt_labels_entry, char *, STRING, int64_t, INT64, NULL,
           PBJT_STR_DEFAULT, NULL, "pbjt.Maps.LabelsEntry", "LabelsEntry")
PBJT_ENTRY(pbjt_by_id_entry_desc, pbjt_by_id_entry, int32_t, INT32, pbjt_scalars *, MESSAGE,
           &pbjt_scalars_desc, NULL, NULL, "pbjt.Maps.ByIdEntry", "ByIdEntry")
PBJT_ENTRY(pbjt_flags_entry_desc, pbjt_flags_entry, protobuf_c_boolean, BOOL, char *, STRING,
           NULL, NULL, PBJT_STR_DEFAULT, "pbjt.Maps.FlagsEntry", "FlagsEntry")
PBJT_ENTRY(pbjt_big_entry_desc, pbjt_big_entry, uint64_t, UINT64, pbjt_color, ENUM,
           &pbjt_color_desc, NULL, NULL, "pbjt.Maps.BigEntry", "BigEntry")
/* Shaped like an entry but not nested in the message using it: a list. */
PBJT_ENTRY(pbjt_pair_desc, pbjt_pair, char *, STRING, char *, STRING, NULL, PBJT_STR_DEFAULT,
           PBJT_STR_DEFAULT, "pbjt.Pair", "Pair")

typedef struct {
    ProtobufCMessage base;
    size_t n_labels;
    pbjt_labels_entry **labels;
    size_t n_by_id;
    pbjt_by_id_entry **by_id;
    size_t n_flags;
    pbjt_flags_entry **flags;
    size_t n_big;
    pbjt_big_entry **big;
    size_t n_pairs;
    pbjt_pair **pairs;
} pbjt_maps;

static const ProtobufCFieldDescriptor pbjt_maps_fields[] = {
    F_REP(pbjt_maps, labels, 1, MESSAGE, &pbjt_labels_entry_desc),
    F_REP(pbjt_maps, by_id, 2, MESSAGE, &pbjt_by_id_entry_desc),
    F_REP(pbjt_maps, flags, 3, MESSAGE, &pbjt_flags_entry_desc),
    F_REP(pbjt_maps, big, 4, MESSAGE, &pbjt_big_entry_desc),
    F_REP(pbjt_maps, pairs, 5, MESSAGE, &pbjt_pair_desc),
};
static const unsigned pbjt_maps_sorted[] = { 3, 1, 2, 0, 4 };
PBJT_MESSAGE(pbjt_maps_desc, pbjt_maps, "pbjt.Maps", "Maps", "pbjt", pbjt_maps_fields,
             pbjt_maps_sorted)

/* ---- pbjt.Wkt: a field of each well-known type ---- */

PBJT_ENTRY(pbjt_m_ts_entry_desc, pbjt_m_ts_entry, char *, STRING, pbjt_timestamp *, MESSAGE,
           &pbjt_timestamp_desc, PBJT_STR_DEFAULT, NULL, "pbjt.Wkt.MTsEntry", "MTsEntry")

typedef struct {
    ProtobufCMessage base;
    pbjt_timestamp *ts;
    pbjt_timestamp *dur;
    pbjt_field_mask *mask;
    pbjt_double_value *d;
    pbjt_float_value *f;
    pbjt_int64_value *i64;
    pbjt_uint64_value *u64;
    pbjt_int32_value *i32;
    pbjt_uint32_value *u32;
    pbjt_bool_value *b;
    pbjt_string_value *s;
    pbjt_bytes_value *by;
    size_t n_r_ts;
    pbjt_timestamp **r_ts;
    size_t n_m_ts;
    pbjt_m_ts_entry **m_ts;
} pbjt_wkt;

static const ProtobufCFieldDescriptor pbjt_wkt_fields[] = {
    F_ONE(pbjt_wkt, ts, 1, MESSAGE, &pbjt_timestamp_desc, NULL),
    F_ONE(pbjt_wkt, dur, 2, MESSAGE, &pbjt_duration_desc, NULL),
    F_ONE(pbjt_wkt, mask, 3, MESSAGE, &pbjt_field_mask_desc, NULL),
    F_ONE(pbjt_wkt, d, 4, MESSAGE, &pbjt_double_value_desc, NULL),
    F_ONE(pbjt_wkt, f, 5, MESSAGE, &pbjt_float_value_desc, NULL),
    F_ONE(pbjt_wkt, i64, 6, MESSAGE, &pbjt_int64_value_desc, NULL),
    F_ONE(pbjt_wkt, u64, 7, MESSAGE, &pbjt_uint64_value_desc, NULL),
    F_ONE(pbjt_wkt, i32, 8, MESSAGE, &pbjt_int32_value_desc, NULL),
    F_ONE(pbjt_wkt, u32, 9, MESSAGE, &pbjt_uint32_value_desc, NULL),
    F_ONE(pbjt_wkt, b, 10, MESSAGE, &pbjt_bool_value_desc, NULL),
    F_ONE(pbjt_wkt, s, 11, MESSAGE, &pbjt_string_value_desc, NULL),
    F_ONE(pbjt_wkt, by, 12, MESSAGE, &pbjt_bytes_value_desc, NULL),
    F_REP(pbjt_wkt, r_ts, 13, MESSAGE, &pbjt_timestamp_desc),
    F_REP(pbjt_wkt, m_ts, 14, MESSAGE, &pbjt_m_ts_entry_desc),
};
static const unsigned pbjt_wkt_sorted[] = { 9, 11, 3, 1, 4, 7, 5, 13, 2, 12, 10, 0, 8, 6 };
PBJT_MESSAGE(pbjt_wkt_desc, pbjt_wkt, "pbjt.Wkt", "Wkt", "pbjt", pbjt_wkt_fields,
             pbjt_wkt_sorted)

/* Every hand-written message descriptor, for descriptors_are_sound. */
static const ProtobufCMessageDescriptor *const pbjt_all[] __attribute__((unused)) = {
    &pbjt_timestamp_desc, &pbjt_duration_desc, &pbjt_field_mask_desc, &pbjt_double_value_desc,
    &pbjt_float_value_desc, &pbjt_int64_value_desc, &pbjt_uint64_value_desc,
    &pbjt_int32_value_desc, &pbjt_uint32_value_desc, &pbjt_bool_value_desc,
    &pbjt_string_value_desc, &pbjt_bytes_value_desc, &pbjt_scalars_desc,
    &pbjt_labels_entry_desc, &pbjt_by_id_entry_desc, &pbjt_flags_entry_desc,
    &pbjt_big_entry_desc, &pbjt_pair_desc, &pbjt_maps_desc, &pbjt_m_ts_entry_desc,
    &pbjt_wkt_desc,
};

/* ---- a counting allocator ---- */

typedef struct {
    long live;  /* allocations not yet freed */
    long total;
} pbjt_counts;

static inline void *pbjt_count_alloc(void *data, size_t n)
{
    pbjt_counts *c = data;
    c->live++;
    c->total++;
    return malloc(n == 0 ? 1 : n);
}

static inline void pbjt_count_free(void *data, void *p)
{
    pbjt_counts *c = data;
    if (p != NULL)
        c->live--;
    free(p);
}

#define PBJT_COUNTING(counts) \
    ((ProtobufCAllocator){ .alloc = pbjt_count_alloc, .free = pbjt_count_free, \
                           .allocator_data = (counts) })

#endif
