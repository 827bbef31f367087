/*
 * Scalars: integers read exactly from decimal text or JSON numbers and
 * range-checked for their field's type, floating point with the spec's
 * NaN/Infinity strings, and base64 both ways.
 *
 * Invariants: an integer is never taken through a double where the double
 * could be inexact (text is read digit by digit; a JSON float counts for a
 * 64-bit field only below 2^53 in magnitude); a value refused is quoted,
 * clipped, in the message. strtod reads numbers in the C locale's format:
 * Gavel's daemons never call setlocale.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson_int.h"

#define EXACT_DOUBLE_LIMIT 9007199254740992.0 /* 2^53 */
#define TWO_POW_63 9223372036854775808.0
/* The smallest double that rounds to infinity as a float: FLT_MAX plus
 * half an ulp (ties round to even, away from FLT_MAX's odd mantissa). */
#define FLOAT_LIMIT 0x1.ffffffp+127
#define EXP_CAP 1000000000000000LL

static const char *const type_names[] = {
    [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
    [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
    [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
    [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
    [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
    [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
    [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
    [PROTOBUF_C_TYPE_MESSAGE] = "message",
};

const char *pbj__type_name(ProtobufCType t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] && type_names[t] != NULL
               ? type_names[t]
               : "?";
}

size_t pbj__element_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* ---- integers from text ---- */

/* The parts of text in JSON number syntax: digits [d0, d1) before the
 * point, [f0, f1) after it, and the exponent (saturated at EXP_CAP). */
typedef struct {
    bool is_negative;
    size_t d0, d1, f0, f1;
    long long exp;
} number_parts;

static size_t digits(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

static bool split_number(const char *s, size_t n, number_parts *p)
{
    size_t i = 0;
    *p = (number_parts){ 0 };
    if (i < n && s[i] == '-') {
        p->is_negative = true;
        i++;
    }
    p->d0 = i;
    p->d1 = i = digits(s, n, i);
    if (p->d1 == p->d0)
        return false;
    p->f0 = p->f1 = i;
    if (i < n && s[i] == '.') {
        p->f0 = i + 1;
        p->f1 = i = digits(s, n, i + 1);
        if (p->f1 == p->f0)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool is_neg_exp = false;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            is_neg_exp = s[i++] == '-';
        size_t e0 = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (p->exp < EXP_CAP)
                p->exp = p->exp * 10 + (s[i] - '0');
        if (i == e0)
            return false;
        if (is_neg_exp)
            p->exp = -p->exp;
    }
    return i == n;
}

/* The i-th significant digit: those before the point, then after it. */
static int digit_at(const char *s, const number_parts *p, size_t i)
{
    size_t nint = p->d1 - p->d0;
    return s[i < nint ? p->d0 + i : p->f0 + (i - nint)] - '0';
}

int pbj__int_text(const char *s, size_t n, pbj_int *out)
{
    number_parts p;
    if (!split_number(s, n, &p))
        return PBJ_E_TYPE;
    size_t nd = (p.d1 - p.d0) + (p.f1 - p.f0);
    long long shift = p.exp - (long long)(p.f1 - p.f0);
    size_t keep = nd;
    if (shift < 0) {
        keep = (unsigned long long)-shift >= nd ? 0 : nd - (size_t)-shift;
        for (size_t i = keep; i < nd; i++)
            if (digit_at(s, &p, i) != 0)
                return PBJ_E_TYPE;
        shift = 0;
    }
    uint64_t mag = 0;
    for (size_t i = 0; i < keep; i++) {
        unsigned d = (unsigned)digit_at(s, &p, i);
        if (mag > (UINT64_MAX - d) / 10)
            return PBJ_E_RANGE;
        mag = mag * 10 + d;
    }
    for (long long i = 0; i < shift && mag != 0; i++) {
        if (mag > UINT64_MAX / 10)
            return PBJ_E_RANGE;
        mag *= 10;
    }
    *out = (pbj_int){ .is_negative = p.is_negative && mag != 0, .mag = mag };
    return 0;
}

/* ---- integers from JSON ---- */

/* A JSON value as a message shows it: quoted and clipped text, the number,
 * or what kind of value it is. */
static const char *shown(const json_t *j, char *buf, size_t cap)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        return pbj__quote(buf, cap, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return buf;
    case JSON_REAL:
        /* the shortest text that reads back as the same double */
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(buf, cap, "%.*g", digits, json_real_value(j));
            if (strtod(buf, NULL) == json_real_value(j))
                break;
        }
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    }
    return "?";
}

static bool is_64bit(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_INT64 || t == PROTOBUF_C_TYPE_SINT64 ||
           t == PROTOBUF_C_TYPE_SFIXED64 || t == PROTOBUF_C_TYPE_UINT64 ||
           t == PROTOBUF_C_TYPE_FIXED64;
}

static bool fits(pbj_int v, ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return v.mag <= (v.is_negative ? 2147483648u : 2147483647u);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return !v.is_negative && v.mag <= UINT32_MAX;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return !v.is_negative;
    default:
        return v.mag <= (v.is_negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
    }
}

/* The integer read from a JSON number: exact for integers, for floats only
 * with a zero fraction (and below 2^53 for 64-bit fields). */
static int number_int(pbj_ctx *c, const pbj_frame *at, const json_t *j, ProtobufCType t,
                      pbj_int *v)
{
    char buf[96];
    if (json_is_integer(j)) {
        json_int_t i = json_integer_value(j);
        *v = (pbj_int){ .is_negative = i < 0,
                        .mag = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i };
        return 0;
    }
    double d = json_real_value(j);
    if (!isfinite(d) || d != floor(d))
        return pbj__fail(c, at, PBJ_E_TYPE, "%s is not an integer", shown(j, buf, sizeof buf));
    if (is_64bit(t) && fabs(d) >= EXACT_DOUBLE_LIMIT)
        return pbj__fail(c, at, PBJ_E_RANGE,
                         "%s is not exact as a JSON number; write %s values beyond 2^53 "
                         "as strings",
                         shown(j, buf, sizeof buf), pbj__type_name(t));
    if (fabs(d) >= TWO_POW_63)
        return pbj__fail(c, at, PBJ_E_RANGE, "%s is out of range for %s",
                         shown(j, buf, sizeof buf), pbj__type_name(t));
    *v = (pbj_int){ .is_negative = d < 0, .mag = (uint64_t)fabs(d) };
    return 0;
}

int pbj__json_int(pbj_ctx *c, const pbj_frame *at, const json_t *j, ProtobufCType t,
                  uint64_t *out)
{
    char buf[96];
    pbj_int v;
    int rc = 0;
    if (json_is_string(j)) {
        rc = pbj__int_text(json_string_value(j), json_string_length(j), &v);
        if (rc == PBJ_E_TYPE)
            return pbj__fail(c, at, rc, "%s is not an integer", shown(j, buf, sizeof buf));
    } else if (json_is_number(j)) {
        rc = number_int(c, at, j, t, &v);
        if (rc < 0)
            return rc;
    } else {
        return pbj__fail(c, at, PBJ_E_TYPE, "expected a string or number for %s",
                         pbj__type_name(t));
    }
    if (rc == PBJ_E_RANGE || !fits(v, t))
        return pbj__fail(c, at, PBJ_E_RANGE, "%s is out of range for %s",
                         shown(j, buf, sizeof buf), pbj__type_name(t));
    *out = v.is_negative ? (uint64_t)0 - v.mag : v.mag;
    return 0;
}

/* ---- floating point ---- */

static int text_double(pbj_ctx *c, const pbj_frame *at, const json_t *j, const char *name,
                       double *out)
{
    char buf[96];
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    number_parts p;
    if (n == 3 && memcmp(s, "NaN", 3) == 0)
        *out = NAN;
    else if (n == 8 && memcmp(s, "Infinity", 8) == 0)
        *out = INFINITY;
    else if (n == 9 && memcmp(s, "-Infinity", 9) == 0)
        *out = -INFINITY;
    else if (!split_number(s, n, &p))
        return pbj__fail(c, at, PBJ_E_TYPE, "%s is not a number", shown(j, buf, sizeof buf));
    else {
        errno = 0;
        *out = strtod(s, NULL);
        if (errno == ERANGE && isinf(*out))
            return pbj__fail(c, at, PBJ_E_RANGE, "%s is out of range for %s",
                             shown(j, buf, sizeof buf), name);
    }
    return 0;
}

int pbj__json_double(pbj_ctx *c, const pbj_frame *at, const json_t *j, bool is_float,
                     double *out)
{
    char buf[96];
    const char *name = is_float ? "float" : "double";
    if (json_is_integer(j))
        *out = (double)json_integer_value(j);
    else if (json_is_real(j))
        *out = json_real_value(j);
    else if (json_is_string(j)) {
        int rc = text_double(c, at, j, name, out);
        if (rc < 0)
            return rc;
    } else
        return pbj__fail(c, at, PBJ_E_TYPE,
                         "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\" for %s",
                         name);
    if (is_float && isfinite(*out) && fabs(*out) >= FLOAT_LIMIT)
        return pbj__fail(c, at, PBJ_E_RANGE, "%s is out of range for float",
                         shown(j, buf, sizeof buf));
    return 0;
}

json_t *pbj__double_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* ---- base64 ---- */

static const char b64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pbj__base64_encode(const uint8_t *in, size_t n, size_t *out_len)
{
    size_t len = (n + 2) / 3 * 4;
    char *out = xmalloc(len + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = b64_digits[v >> 18];
        *o++ = b64_digits[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64_digits[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64_digits[v & 63] : '=';
    }
    *o = '\0';
    *out_len = len;
    return out;
}

/* The 6-bit value of a digit of either alphabet, or -1. */
static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

long pbj__base64_decode(const char *s, size_t n, uint8_t *out)
{
    size_t pad = 0;
    while (pad < 2 && n > 0 && s[n - 1] == '=') {
        n--;
        pad++;
    }
    if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1)
        return -1;
    size_t len = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)len;
}
