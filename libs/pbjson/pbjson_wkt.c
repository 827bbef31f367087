/*
 * Well-known types with their own JSON form, recognised by full name and
 * checked shape (so a message merely named like one maps as an ordinary
 * message): google.protobuf.Timestamp as RFC 3339 in UTC
 * ("1972-01-01T10:00:20.021Z"; input may carry an offset), Duration as
 * seconds with an "s" ("-1.5s"), the nine wrappers as their wrapped value,
 * FieldMask as comma-joined lowerCamelCase paths ("user.displayName,id";
 * input with a "_" is refused, so every path read comes back the same).
 *
 * Invariants: output has 0, 3, 6 or 9 fractional digits, as the spec
 * writes them; times and durations outside the spec's ranges (years 0001
 * to 9999, +-10,000 years) are refused both ways; a FieldMask path that
 * would not come back the same from JSON is refused on output.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pbjson_int.h"

#define TS_MIN (-62135596800LL)  /* 0001-01-01T00:00:00Z */
#define TS_MAX 253402300799LL    /* 9999-12-31T23:59:59Z */
#define DUR_MAX 315576000000LL   /* 10,000 years of 365.25 days */
#define NANOS 1000000000

static const struct {
    const char *name;
    ProtobufCType type;
} wrappers[] = {
    { "google.protobuf.DoubleValue", PROTOBUF_C_TYPE_DOUBLE },
    { "google.protobuf.FloatValue", PROTOBUF_C_TYPE_FLOAT },
    { "google.protobuf.Int64Value", PROTOBUF_C_TYPE_INT64 },
    { "google.protobuf.UInt64Value", PROTOBUF_C_TYPE_UINT64 },
    { "google.protobuf.Int32Value", PROTOBUF_C_TYPE_INT32 },
    { "google.protobuf.UInt32Value", PROTOBUF_C_TYPE_UINT32 },
    { "google.protobuf.BoolValue", PROTOBUF_C_TYPE_BOOL },
    { "google.protobuf.StringValue", PROTOBUF_C_TYPE_STRING },
    { "google.protobuf.BytesValue", PROTOBUF_C_TYPE_BYTES },
};
#define NWRAPPERS (sizeof wrappers / sizeof wrappers[0])

static bool is_field(const ProtobufCFieldDescriptor *f, uint32_t id, const char *name,
                     ProtobufCType type, ProtobufCLabel label)
{
    return f->id == id && f->type == type && f->label == label && strcmp(f->name, name) == 0;
}

static bool is_seconds_nanos(const ProtobufCMessageDescriptor *d)
{
    return d->n_fields == 2 &&
           is_field(&d->fields[0], 1, "seconds", PROTOBUF_C_TYPE_INT64, PROTOBUF_C_LABEL_NONE) &&
           is_field(&d->fields[1], 2, "nanos", PROTOBUF_C_TYPE_INT32, PROTOBUF_C_LABEL_NONE);
}

pbj_wkt pbj__wkt_of(const ProtobufCMessageDescriptor *d)
{
    if (strncmp(d->name, "google.protobuf.", 16) != 0)
        return PBJ_WKT_NONE;
    if (strcmp(d->name, "google.protobuf.Timestamp") == 0)
        return is_seconds_nanos(d) ? PBJ_WKT_TIMESTAMP : PBJ_WKT_NONE;
    if (strcmp(d->name, "google.protobuf.Duration") == 0)
        return is_seconds_nanos(d) ? PBJ_WKT_DURATION : PBJ_WKT_NONE;
    if (strcmp(d->name, "google.protobuf.FieldMask") == 0)
        return d->n_fields == 1 && is_field(&d->fields[0], 1, "paths", PROTOBUF_C_TYPE_STRING,
                                            PROTOBUF_C_LABEL_REPEATED)
                   ? PBJ_WKT_FIELD_MASK
                   : PBJ_WKT_NONE;
    for (size_t i = 0; i < NWRAPPERS; i++)
        if (strcmp(d->name, wrappers[i].name) == 0)
            return d->n_fields == 1 && is_field(&d->fields[0], 1, "value", wrappers[i].type,
                                                PROTOBUF_C_LABEL_NONE)
                       ? PBJ_WKT_WRAPPER
                       : PBJ_WKT_NONE;
    return PBJ_WKT_NONE;
}

/* The seconds and nanos of a Timestamp or Duration. */
#define SECONDS(m) (*(int64_t *)((char *)(m) + (m)->descriptor->fields[0].offset))
#define NANOS_OF(m) (*(int32_t *)((char *)(m) + (m)->descriptor->fields[1].offset))

/* ".fff", ".ffffff" or ".fffffffff" for nanos (0..999999999), or nothing. */
static void put_fraction(char *out, size_t cap, int32_t nanos)
{
    if (nanos == 0)
        out[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(out, cap, ".%03d", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0)
        snprintf(out, cap, ".%06d", (int)(nanos / 1000));
    else
        snprintf(out, cap, ".%09d", (int)nanos);
}

/* ---- encode ---- */

static int timestamp_json(pbj_ctx *c, const pbj_frame *at, const ProtobufCMessage *m,
                          json_t **out)
{
    int64_t s = SECONDS(m);
    int32_t ns = NANOS_OF(m);
    if (s < TS_MIN || s > TS_MAX || ns < 0 || ns >= NANOS)
        return pbj__fail(c, at, PBJ_E_RANGE,
                         "seconds %lld, nanos %d is out of range for google.protobuf.Timestamp",
                         (long long)s, (int)ns);
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char frac[16], text[96];
    put_fraction(frac, sizeof frac, ns);
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    *out = json_string(text);
    return 0;
}

static int duration_json(pbj_ctx *c, const pbj_frame *at, const ProtobufCMessage *m,
                         json_t **out)
{
    int64_t s = SECONDS(m);
    int32_t ns = NANOS_OF(m);
    if (s < -DUR_MAX || s > DUR_MAX || ns <= -NANOS || ns >= NANOS || (s < 0 && ns > 0) ||
        (s > 0 && ns < 0))
        return pbj__fail(c, at, PBJ_E_RANGE,
                         "seconds %lld, nanos %d is out of range for google.protobuf.Duration",
                         (long long)s, (int)ns);
    char frac[16], text[96];
    put_fraction(frac, sizeof frac, ns < 0 ? -ns : ns);
    snprintf(text, sizeof text, "%s%lld%ss", s < 0 || ns < 0 ? "-" : "",
             (long long)(s < 0 ? -s : s), frac);
    *out = json_string(text);
    return 0;
}

/* Appends the JSON form of one snake_case path, or returns false when the
 * path would not come back the same (an upper-case letter, or "_" not
 * followed by a lower-case letter). */
static bool add_camel_path(char **buf, size_t *len, size_t *cap, const char *path)
{
    size_t need = *len + strlen(path) + 2;
    if (need > *cap) {
        *cap = need * 2;
        *buf = xrealloc(*buf, *cap);
    }
    for (const char *p = path; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            return false;
        if (*p == '_') {
            if (p[1] < 'a' || p[1] > 'z')
                return false;
            (*buf)[(*len)++] = (char)(*++p - 'a' + 'A');
        } else
            (*buf)[(*len)++] = *p;
    }
    (*buf)[*len] = '\0';
    return true;
}

static int field_mask_json(pbj_ctx *c, const pbj_frame *at, const ProtobufCMessage *m,
                           json_t **out)
{
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    char *const *paths = *(char *const *const *)((const char *)m + f->offset);
    size_t len = 0, cap = 64;
    char *buf = xmalloc(cap), qbuf[96];
    buf[0] = '\0';
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            buf[len++] = ',';
        if (!add_camel_path(&buf, &len, &cap, paths[i]))
            rc = pbj__fail(c, at, PBJ_E_TYPE,
                           "field mask path %s cannot be written in JSON (lower snake_case "
                           "only)",
                           pbj__quote(qbuf, sizeof qbuf, paths[i], strlen(paths[i])));
    }
    if (rc == 0 && (*out = json_stringn(buf, len)) == NULL)
        rc = pbj__fail(c, at, PBJ_E_TYPE, "field mask path is not UTF-8");
    free(buf);
    return rc;
}

int pbj__wkt_encode(pbj_ctx *c, const pbj_frame *at, pbj_wkt w, const ProtobufCMessage *m,
                    json_t **out)
{
    switch (w) {
    case PBJ_WKT_TIMESTAMP:
        return timestamp_json(c, at, m, out);
    case PBJ_WKT_DURATION:
        return duration_json(c, at, m, out);
    case PBJ_WKT_FIELD_MASK:
        return field_mask_json(c, at, m, out);
    case PBJ_WKT_WRAPPER:
    case PBJ_WKT_NONE:
        break;
    }
    /* A wrapper holds a scalar: the depth does not grow under it. */
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
    return pbj__encode_value(c, at, 0, f, (const char *)m + f->offset, out);
}

/* ---- decode ---- */

/* Reads exactly n decimal digits at s into *out. */
static bool fixed_digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

/* Reads ".d{1,9}" at *p (if there) as nanoseconds, advancing *p. */
static bool fraction_nanos(const char **p, const char *end, int32_t *nanos)
{
    *nanos = 0;
    if (*p >= end || **p != '.')
        return true;
    int nd = 0;
    for ((*p)++; *p < end && **p >= '0' && **p <= '9'; (*p)++, nd++) {
        if (nd == 9)
            return false;
        *nanos = *nanos * 10 + (**p - '0');
    }
    for (int i = nd; i < 9; i++)
        *nanos *= 10;
    return nd > 0;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.f]Z" or with "+HH:MM"/"-HH:MM". */
static bool parse_rfc3339(const char *s, size_t n, int64_t *secs, int32_t *nanos)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (n < 20 || !fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !fixed_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !fixed_digits(s + 11, 2, &h) || s[13] != ':' || !fixed_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !fixed_digits(s + 17, 2, &sec))
        return false;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && is_leap(y) ? 1 : 0) || h > 23 || mi > 59 || sec > 59)
        return false;
    const char *p = s + 19, *end = s + n;
    if (!fraction_nanos(&p, end, nanos) || p >= end)
        return false;
    int sign = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (end - p != 6 || !fixed_digits(p + 1, 2, &oh) || p[3] != ':' ||
            !fixed_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        p += 6;
    } else
        return false;
    if (p != end)
        return false;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    *secs = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
    return true;
}

/* Parses "-?digits[.d{1,9}]s". */
static bool parse_duration(const char *s, size_t n, int64_t *secs, int32_t *nanos)
{
    const char *p = s, *end = s + n;
    bool is_negative = p < end && *p == '-';
    p += is_negative;
    const char *d0 = p;
    *secs = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
        if (*secs <= DUR_MAX) /* saturates: the caller refuses it as out of range */
            *secs = *secs * 10 + (*p - '0');
    if (p == d0 || !fraction_nanos(&p, end, nanos) || p + 1 != end || *p != 's')
        return false;
    if (is_negative) {
        *secs = -*secs;
        *nanos = -*nanos;
    }
    return true;
}

static int seconds_nanos_from(pbj_ctx *c, const pbj_frame *at, pbj_wkt w, const json_t *j,
                              ProtobufCMessage *m)
{
    const char *name = m->descriptor->name;
    char buf[96];
    if (!json_is_string(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected %s string for %s",
                         w == PBJ_WKT_TIMESTAMP ? "an RFC 3339" : "a duration", name);
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    int64_t secs;
    int32_t nanos;
    bool is_ok = w == PBJ_WKT_TIMESTAMP ? parse_rfc3339(s, n, &secs, &nanos)
                                        : parse_duration(s, n, &secs, &nanos);
    if (!is_ok)
        return pbj__fail(c, at, PBJ_E_TYPE, "%s is not a %s such as %s",
                         pbj__quote(buf, sizeof buf, s, n),
                         w == PBJ_WKT_TIMESTAMP ? "time" : "duration",
                         w == PBJ_WKT_TIMESTAMP ? "\"2024-05-01T10:00:00Z\"" : "\"1.5s\"");
    if (w == PBJ_WKT_TIMESTAMP ? secs < TS_MIN || secs > TS_MAX
                               : secs < -DUR_MAX || secs > DUR_MAX)
        return pbj__fail(c, at, PBJ_E_RANGE, "%s is out of range for %s",
                         pbj__quote(buf, sizeof buf, s, n), name);
    SECONDS(m) = secs;
    NANOS_OF(m) = nanos;
    return 0;
}

/* "fooBar.baz" -> "foo_bar.baz" into out (room for 2 * n + 1). */
static void snake_path(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z') {
            out[k++] = '_';
            out[k++] = (char)(s[i] - 'A' + 'a');
        } else
            out[k++] = s[i];
    }
    out[k] = '\0';
}

static int field_mask_from(pbj_ctx *c, const pbj_frame *at, const json_t *j,
                           ProtobufCMessage *m)
{
    if (!json_is_string(j))
        return pbj__fail(c, at, PBJ_E_TYPE, "expected a string for google.protobuf.FieldMask");
    const char *s = json_string_value(j);
    size_t n = json_string_length(j), count = 0;
    if (!utf8_valid(s, n))
        return pbj__fail(c, at, PBJ_E_TYPE, "field mask is not UTF-8 without NUL");
    const char *underscore = memchr(s, '_', n);
    if (underscore != NULL) {
        char buf[96];
        return pbj__fail(c, at, PBJ_E_TYPE, "field mask %s has a \"_\": paths are lowerCamelCase",
                         pbj__quote(buf, sizeof buf, s, n));
    }
    for (size_t i = 0, start = 0; i <= n; i++)
        if (i == n || s[i] == ',') {
            count += i > start;
            start = i + 1;
        }
    if (count == 0)
        return 0;
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
    char **paths = pbj__alloc(c, count * sizeof *paths);
    memset(paths, 0, count * sizeof *paths);
    *(char ***)((char *)m + f->offset) = paths;
    *(size_t *)((char *)m + f->quantifier_offset) = count;
    size_t k = 0;
    for (size_t i = 0, start = 0; i <= n; i++)
        if (i == n || s[i] == ',') {
            if (i > start) {
                paths[k] = pbj__alloc(c, 2 * (i - start) + 1);
                snake_path(s + start, i - start, paths[k++]);
            }
            start = i + 1;
        }
    return 0;
}

int pbj__wkt_decode(pbj_ctx *c, const pbj_frame *at, pbj_wkt w, const json_t *j,
                    ProtobufCMessage *m)
{
    switch (w) {
    case PBJ_WKT_TIMESTAMP:
    case PBJ_WKT_DURATION:
        return seconds_nanos_from(c, at, w, j, m);
    case PBJ_WKT_FIELD_MASK:
        return field_mask_from(c, at, j, m);
    case PBJ_WKT_WRAPPER:
    case PBJ_WKT_NONE:
        break;
    }
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
    return pbj__decode_value(c, at, 0, f, j, (char *)m + f->offset);
}
