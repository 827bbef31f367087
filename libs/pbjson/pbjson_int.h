/*
 * pbjson_int.h: what pbjson's modules share with each other and with their
 * own unit tests, never included outside libs/pbjson. Declarations are
 * grouped under the file that defines them.
 *
 * A walk carries a pbj_ctx (options, counters, where errors go) and a
 * chain of pbj_frame on the C stack, one per step from the top-level
 * message, so a message can name its place without building the path
 * while nothing is wrong.
 */
#ifndef GAVEL_PBJSON_INT_H
#define GAVEL_PBJSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "pbjson.h"

typedef enum {
    PBJ_FRAME_FIELD, /* .name, a field's key as written (decode) or emitted */
    PBJ_FRAME_INDEX, /* [index] of a repeated field */
    PBJ_FRAME_KEY,   /* ["key"] of a map */
} pbj_frame_kind;

typedef struct pbj_frame {
    const struct pbj_frame *up; /* NULL at the top-level message */
    pbj_frame_kind kind;
    const char *name; /* FIELD and KEY: borrowed for the frame's life */
    size_t len;
    size_t index;
} pbj_frame;

typedef struct {
    unsigned flags;
    unsigned max_depth;
    size_t max_elements;
    size_t elements;           /* JSON values seen or written so far */
    ProtobufCAllocator *alloc; /* decode only; NULL is malloc */
    char *err;
    size_t errlen;
} pbj_ctx;

/* Longest field name the walks keep on the stack; longer ones go to the heap. */
#define PBJ_NAME_BUF 128

/* ---- pbjson_names.c ---- */

/** Fills c from opts (NULL or 0 members: defaults); err[0] is cleared. */
void pbj__ctx_init(pbj_ctx *c, const pbj_opts *opts, char *err, size_t errlen);

/**
 * Writes "<path>: <message>" into c->err (just the message at the top
 * level) and returns rc. Caller-given names and keys are clipped and their
 * control characters escaped.
 */
int pbj__fail(const pbj_ctx *c, const pbj_frame *at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Replaces the bytes of s that are control characters or not UTF-8 with '?'. */
void pbj__sanitize(char *s);

/** Writes n bytes of s, quoted, clipped and escaped, into out[cap]; returns out. */
char *pbj__quote(char *out, size_t cap, const char *s, size_t n);

/**
 * The key a field is written under: its proto name with PBJ_ORIGINAL_NAMES
 * or when it has no "_", else its JSON name in buf[PBJ_NAME_BUF] or, when
 * longer, in *heap (caller frees *heap, set to NULL when unused).
 */
const char *pbj__field_key(unsigned flags, const ProtobufCFieldDescriptor *f,
                           char buf[PBJ_NAME_BUF], char **heap);

/** True when key[0..len) is the JSON name of the field named proto_name. */
bool pbj__is_json_name(const char *proto_name, const char *key, size_t len);

/** The field of d a JSON key names (proto name or JSON name), or NULL. */
const ProtobufCFieldDescriptor *pbj__field_by_key(const ProtobufCMessageDescriptor *d,
                                                  const char *key, size_t len);

/**
 * True when field f of a message of type parent is a map: a repeated
 * message field whose type is nested in parent as "<Field>Entry" (field
 * name in CamelCase) with exactly key = 1 (an integer, bool or string) and
 * value = 2 — what protoc generates for map<K, V>.
 */
bool pbj__is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);

/** Depth and element accounting: 0, or PBJ_E_LIMIT with the message written. */
int pbj__enter(pbj_ctx *c, const pbj_frame *at, unsigned depth);
int pbj__count(pbj_ctx *c, const pbj_frame *at);

/* ---- pbjson_scalar.c ---- */

/* An integer read exactly from decimal text or a JSON number. */
typedef struct {
    bool is_negative;
    uint64_t mag;
} pbj_int;

/**
 * Reads s[0..n), JSON number syntax (-?digits[.digits][(e|E)[+-]digits],
 * leading zeros allowed), as an exact integer: a fraction must be zero
 * after the exponent is applied. Returns 0, PBJ_E_TYPE (not a number, or a
 * non-zero fraction) or PBJ_E_RANGE (above 2^64 - 1 in magnitude).
 */
int pbj__int_text(const char *s, size_t n, pbj_int *out);

/**
 * The integer a JSON value (string or number) holds for a field of type t,
 * range-checked for t; the result is in *out as int64_t or uint64_t bits.
 * Returns 0 or PBJ_E_TYPE / PBJ_E_RANGE with the message written.
 */
int pbj__json_int(pbj_ctx *c, const pbj_frame *at, const json_t *j, ProtobufCType t,
                  uint64_t *out);

/** The double a JSON value holds for a float (is_float) or double field. */
int pbj__json_double(pbj_ctx *c, const pbj_frame *at, const json_t *j, bool is_float,
                     double *out);

/** A JSON number, or "NaN"/"Infinity"/"-Infinity"; returns a new reference. */
json_t *pbj__double_json(double d);

/** Standard base64 with padding of in[0..n); returns a new xmalloc'd string. */
char *pbj__base64_encode(const uint8_t *in, size_t n, size_t *out_len);

/**
 * Decodes standard or URL-safe base64, padded or not, into out (room for
 * pbj__base64_max(n) bytes). Returns the decoded length or -1 when s is
 * not base64.
 */
long pbj__base64_decode(const char *s, size_t n, uint8_t *out);
#define pbj__base64_max(n) (((n) + 3) / 4 * 3)

/** Bytes one value of type t takes in a protobuf-c struct or repeated array. */
size_t pbj__element_size(ProtobufCType t);

/** The name of a scalar type for messages ("int64", "bool", ...). */
const char *pbj__type_name(ProtobufCType t);

/* ---- pbjson_wkt.c ---- */

typedef enum {
    PBJ_WKT_NONE,
    PBJ_WKT_TIMESTAMP,
    PBJ_WKT_DURATION,
    PBJ_WKT_FIELD_MASK,
    PBJ_WKT_WRAPPER, /* DoubleValue ... BytesValue: the JSON of field 1 */
} pbj_wkt;

/** Which well-known type d is, by full name and checked shape. */
pbj_wkt pbj__wkt_of(const ProtobufCMessageDescriptor *d);

/** JSON of a message of well-known kind w (not NONE); a new reference. */
int pbj__wkt_encode(pbj_ctx *c, const pbj_frame *at, pbj_wkt w, const ProtobufCMessage *m,
                    json_t **out);

/** Fills m (initialised, of kind w) from j; the JSON's strings are borrowed. */
int pbj__wkt_decode(pbj_ctx *c, const pbj_frame *at, pbj_wkt w, const json_t *j,
                    ProtobufCMessage *m);

/* ---- pbjson_encode.c ---- */

/** JSON of one singular value of field f stored at member; a new reference. */
int pbj__encode_value(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const void *member, json_t **out);

/* ---- pbjson_decode.c ---- */

/** Stores the JSON value j (not null) into the singular member of field f. */
int pbj__decode_value(pbj_ctx *c, const pbj_frame *at, unsigned depth,
                      const ProtobufCFieldDescriptor *f, const json_t *j, void *member);

/** Memory from c->alloc (or malloc); out of memory aborts. */
void *pbj__alloc(pbj_ctx *c, size_t n);

#endif
