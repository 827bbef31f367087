/*
 * pbjson: the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/)
 * for any protobuf-c message, driven by its descriptor: one generic walk,
 * never a function per message. The gateway serves every public gRPC
 * method as REST/JSON through it and writes /openapi.json from the same
 * descriptors (pbj_schema_ref).
 *
 * The mapping: field names in lowerCamelCase as protoc computes json_name
 * (or the proto names with PBJ_ORIGINAL_NAMES); 64-bit integers as decimal
 * strings; 32-bit integers, float and double as numbers, and NaN,
 * Infinity, -Infinity as those strings; bytes as standard base64 with
 * padding; enums by value name (an unknown number as the number); repeated
 * fields as arrays; messages as objects; oneof members under their own
 * names; maps (repeated "<Field>Entry" messages with key = 1, value = 2
 * nested in the parent, protoc's convention) as objects. The well-known
 * types google.protobuf.Timestamp (RFC 3339), Duration ("1.5s"), the nine
 * wrappers (the wrapped value) and FieldMask ("a.b,cD") take their special
 * forms. Not supported: Any, Struct, Value, ListValue and NullValue (they
 * map as ordinary messages), the json_name field option (protobuf-c does
 * not keep it; names are always computed), proto2 groups and extensions,
 * and checks that proto2 required fields are present.
 *
 * Decoding accepts both name styles, 64-bit integers as strings or JSON
 * integers, integers written as floats with a zero fraction (1.0, 1e3; as
 * JSON numbers only below 2^53 in magnitude, where a double is exact),
 * enums by name or number, bytes in standard or URL-safe base64 with or
 * without padding, and null as "not set" (the field keeps its default).
 * Strings must be UTF-8 without NUL. uint64 values above 2^63 - 1 must be
 * strings (jansson refuses such JSON integers). Every refusal names its
 * place, e.g. "lot.condition.damages[2].severity: expected a string or
 * number for enum gavel.auctions.v1.DamageSeverity".
 *
 * Limits: every walk counts JSON containers it is nested in and JSON values
 * it has seen, and stops with PBJ_E_LIMIT past the options' maxima; text
 * is pre-scanned against both before jansson builds a tree from it. No
 * recursion is unbounded.
 *
 * Threads: no state outside the call; any thread may call anything here
 * concurrently with its own arguments.
 */
#ifndef GAVEL_PBJSON_H
#define GAVEL_PBJSON_H

#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Error vocabulary: 0 success, negative failure. All but PBJ_E_LIMIT on
 * encode are the caller's mistakes: HTTP 400 / INVALID_ARGUMENT. */
enum {
    PBJ_OK = 0,
    PBJ_E_JSON = -1,  /* not JSON: the message gives jansson's line, column,
                         position and text */
    PBJ_E_FIELD = -2, /* an unknown field, one given under both its names, or
                         a second member of one oneof */
    PBJ_E_TYPE = -3,  /* a value of the wrong JSON type, or text that does not
                         parse as the field's type (integer, base64, enum
                         name, time, UTF-8) */
    PBJ_E_RANGE = -4, /* a number or time outside the field's range, or a
                         64-bit integer as a JSON float that is not exact */
    PBJ_E_LIMIT = -5, /* deeper than max_depth or more than max_elements */
};

#define PBJ_DEFAULT_MAX_DEPTH 32
#define PBJ_DEFAULT_MAX_ELEMENTS 100000

/* Option flags. */
enum {
    PBJ_ORIGINAL_NAMES = 1u << 0, /* encode, schema: proto field names, not
                                     lowerCamelCase */
    PBJ_EMIT_DEFAULTS = 1u << 1,  /* encode: also fields without presence at
                                     their default (0, "", false, the first enum
                                     value, [] and {}); message fields, oneof
                                     members and proto3 optional fields still
                                     appear only when set, as the spec says */
    PBJ_IGNORE_UNKNOWN = 1u << 2, /* decode: skip unknown fields instead of
                                     PBJ_E_FIELD */
};

/*
 * Options; a NULL pbj_opts, or 0 in a member, takes the default. Depth
 * counts nested JSON containers (the top-level object is 1), elements count
 * JSON values (every object, array, member value and array item).
 */
typedef struct {
    unsigned flags;      /* PBJ_ORIGINAL_NAMES | PBJ_EMIT_DEFAULTS | ... */
    unsigned max_depth;  /* 0: PBJ_DEFAULT_MAX_DEPTH */
    size_t max_elements; /* 0: PBJ_DEFAULT_MAX_ELEMENTS */
} pbj_opts;

/* ---- pbjson_encode.c ---- */

/**
 * Writes msg as JSON. Fields come in the descriptor's order (field
 * numbers), so equal messages give equal JSON. Unknown fields kept by
 * protobuf-c are not written.
 * Returns 0 with *out a new reference (caller frees with json_decref()), or
 * a negative PBJ_E_* with *out NULL and a message in err (at most errlen
 * bytes, NUL-terminated): PBJ_E_TYPE for a string field that is not UTF-8
 * or a FieldMask path JSON cannot carry, PBJ_E_RANGE for a Timestamp or
 * Duration outside the spec's range, PBJ_E_LIMIT past the options' limits.
 * msg is borrowed.
 */
int pbj_encode(const ProtobufCMessage *msg, const pbj_opts *opts, json_t **out, char *err,
               size_t errlen);

/* ---- pbjson_decode.c ---- */

/**
 * Reads a message of type desc from the JSON value json (borrowed; its
 * strings need not have been checked by jansson). The message and
 * everything in it are allocated with alloc (NULL: malloc).
 * Returns 0 with *out a new message (caller frees with
 * protobuf_c_message_free_unpacked(*out, alloc); with an arena allocator
 * freeing the arena is enough), or a negative PBJ_E_* with *out NULL,
 * nothing left allocated, and a message naming the place in err.
 */
int pbj_decode_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                    const pbj_opts *opts, ProtobufCAllocator *alloc, ProtobufCMessage **out,
                    char *err, size_t errlen);

/* ---- pbjson_text.c ---- */

/**
 * pbj_decode_json over JSON text (len bytes, need not be NUL-terminated).
 * The text is first checked against the options' depth and element limits
 * (PBJ_E_LIMIT naming line, column and position), then parsed by jansson
 * (PBJ_E_JSON: "malformed JSON at line 1, column 9 (position 8): ...";
 * duplicate keys are refused there too). text is borrowed; results and
 * ownership as pbj_decode_json.
 */
int pbj_decode(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
               const pbj_opts *opts, ProtobufCAllocator *alloc, ProtobufCMessage **out,
               char *err, size_t errlen);

/* ---- pbjson_names.c ---- */

/**
 * Writes the JSON name protoc gives the field named proto_name (each "_"
 * dropped and the letter after it upper-cased: "seller_id" -> "sellerId")
 * into out (outlen bytes, NUL-terminated, truncated if short). Returns the
 * name's full length, as snprintf does.
 */
size_t pbj_json_name(const char *proto_name, char *out, size_t outlen);

/* ---- pbjson_schema.c ---- */

/**
 * The JSON Schema (OpenAPI 3.1 dialect) of messages of type desc, as the
 * encoder writes them: a reference {"$ref": "#/components/schemas/<full
 * name>"} for a message (or the inline schema of a well-known type), with
 * the schema of desc and of every message and enum it reaches added to
 * components (the caller's components.schemas object, borrowed) under
 * their full names, each once: names already there are left alone, so one
 * components object can gather a whole API. int64 kinds are strings with
 * format int64/uint64, enums string enums of their names, repeated fields
 * arrays, maps objects with additionalProperties. flags: PBJ_ORIGINAL_NAMES.
 * Returns a new reference (caller frees with json_decref()), or NULL when
 * components is not an object.
 */
json_t *pbj_schema_ref(const ProtobufCMessageDescriptor *desc, unsigned flags,
                       json_t *components);

#endif
