/*
 * Values of the DSL: integers, money, text, enumerated names and times,
 * each checked against its field's type. Times are evaluated here, in C: unix
 * microseconds, RFC 3339 with any offset, or the relative grammar
 * now() [(+|-) interval <n> (second|minute|hour|day)[s]], kept as an offset
 * until the query knows its `now` (its own, or a cursor's).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dsl_int.h"

/* Strict decimal: an optional '-', then 1..19 digits, within int64. */
bool dsl__parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = n > 0 && s[0] == '-';
    if (n == i || n > 20)
        return false;
    for (size_t k = i; k < n; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    char tmp[24], *end;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* ---- times ---- */

static bool read_digits(const char *s, size_t n, size_t *i, int count, int *out)
{
    int v = 0;
    for (int k = 0; k < count; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && is_leap ? 29 : days[m - 1];
}

/* RFC 3339 date-time: YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|(+|-)hh:mm). */
static bool parse_rfc3339(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (!read_digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
        !read_digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
        !read_digits(s, n, &i, 2, &d) || i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return false;
    i++;
    if (!read_digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
        !read_digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' ||
        !read_digits(s, n, &i, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        int digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (digits < 6)
                frac = frac * 10 + (s[i] - '0');
        if (digits == 0 || digits > 9)
            return false;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1;
        if (!read_digits(s, n, &i, 2, &oh) || i >= n || s[i++] != ':' ||
            !read_digits(s, n, &i, 2, &om) || oh > 23 || om > 59)
            return false;
        oh *= sign;
        om *= sign;
    } else {
        return false;
    }
    if (i != n)
        return false;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    int64_t secs = (int64_t)timegm(&tm) - (int64_t)oh * 3600 - (int64_t)om * 60;
    *out = secs * 1000000 + frac;
    return true;
}

void dsl__skip_blanks(const char *s, size_t n, size_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
}

/* Case-insensitive word w at s[*i], not followed by another letter. */
static bool read_word(const char *s, size_t n, size_t *i, const char *w)
{
    size_t len = strlen(w);
    if (n - *i < len || strncasecmp(s + *i, w, len) != 0)
        return false;
    if (*i + len < n && ((s[*i + len] | 0x20) >= 'a' && (s[*i + len] | 0x20) <= 'z'))
        return false;
    *i += len;
    return true;
}

/* now() [ (+|-) interval <n> (second|minute|hour|day)[s] ] -> offset in µs. */
static bool parse_relative(const char *s, size_t n, int64_t *offset)
{
    static const struct { const char *unit; int64_t us; } units[] = {
        { "seconds", 1000000LL }, { "second", 1000000LL }, { "minutes", 60000000LL },
        { "minute", 60000000LL }, { "hours", 3600000000LL }, { "hour", 3600000000LL },
        { "days", 86400000000LL }, { "day", 86400000000LL },
    };
    size_t i = 0;
    dsl__skip_blanks(s, n, &i);
    if (!read_word(s, n, &i, "now"))
        return false;
    dsl__skip_blanks(s, n, &i);
    if (i >= n || s[i++] != '(')
        return false;
    dsl__skip_blanks(s, n, &i);
    if (i >= n || s[i++] != ')')
        return false;
    dsl__skip_blanks(s, n, &i);
    *offset = 0;
    if (i == n)
        return true;
    int sign = s[i] == '-' ? -1 : 1;
    if (s[i] != '+' && s[i] != '-')
        return false;
    i++;
    dsl__skip_blanks(s, n, &i);
    size_t mark = i;
    if (!read_word(s, n, &i, "interval") || (dsl__skip_blanks(s, n, &i), i == mark + 8))
        return false;
    int64_t count = 0;
    for (mark = i; i < n && s[i] >= '0' && s[i] <= '9' && i - mark < 12; i++)
        count = count * 10 + (s[i] - '0');
    if (i == mark || (i < n && s[i] >= '0' && s[i] <= '9'))
        return false;
    mark = i;
    dsl__skip_blanks(s, n, &i);
    if (i == mark)
        return false;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t at = i;
        if (!read_word(s, n, &at, units[u].unit))
            continue;
        dsl__skip_blanks(s, n, &at);
        if (at != n || __builtin_mul_overflow(count, units[u].us, offset))
            return false;
        *offset *= sign;
        return true;
    }
    return false;
}

/* ---- values ---- */

/* PostgreSQL refuses a LIKE pattern whose escape character (\\) ends it. */
static bool is_like_pattern(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\\' && ++i == n)
            return false;
    return true;
}

/*
 * Reads v as a value of field f into *out; `what` prefixes messages (the
 * position inside an "in" list, or "").
 */
int dsl__parse_value(parser *p, const dsl_field *f, op_code op, const json_t *v,
                     const char *what, value *out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    memset(out, 0, sizeof *out);
    switch (f->type) {
    case DSL_INT:
    case DSL_MONEY:
        if (!(json_is_integer(v) && (out->num = json_integer_value(v), true)) &&
            !(s != NULL && dsl__parse_i64(s, n, &out->num)))
            return dsl__fail(p, DSL_E_VALUE, "%s%s needs %s, got %s", what, f->name,
                             f->type == DSL_MONEY ? "an integer amount in minor units"
                             : "a 64-bit integer",
                             dsl__described(p, v));
        if (f->type == DSL_MONEY && out->num < 0)
            return dsl__fail(p, DSL_E_VALUE, "%s%s must not be negative, got %s", what, f->name,
                             dsl__described(p, v));
        out->text = arena_printf(p->q->mem, "%lld", (long long)out->num);
        return 0;
    case DSL_TIME:
        if (json_is_integer(v))
            out->num = json_integer_value(v);
        else if (s == NULL || !(dsl__parse_i64(s, n, &out->num) || parse_rfc3339(s, n, &out->num) ||
                                (out->is_relative = parse_relative(s, n, &out->num))))
            return dsl__fail(p, DSL_E_VALUE,
                             "%s%s needs unix microseconds, an RFC 3339 time such as "
                             "\"2024-05-01T10:00:00Z\" or now() [(+|-) interval <n> "
                             "(second|minute|hour|day)[s]], got %s",
                             what, f->name, dsl__described(p, v));
        if (!out->is_relative)
            out->text = arena_printf(p->q->mem, "%lld", (long long)out->num);
        return 0;
    case DSL_TEXT:
        if (json_is_integer(v) && op != OP_LIKE) {
            out->text = arena_printf(p->q->mem, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            return 0;
        }
        if (s == NULL)
            return dsl__fail(p, DSL_E_VALUE, "%s%s needs a string, got %s", what, f->name,
                             dsl__described(p, v));
        if (n > DSL_MAX_TEXT)
            return dsl__fail(p, DSL_E_VALUE, "%s%s value is longer than %d bytes", what, f->name,
                             DSL_MAX_TEXT);
        if (op == OP_LIKE && !is_like_pattern(s, n))
            return dsl__fail(p, DSL_E_VALUE, "%s%s pattern ends in a lone \\ (write \\\\ for a "
                             "backslash, \\%% or \\_ for a literal %% or _)", what, f->name);
        out->text = arena_strndup(p->q->mem, s, n);
        return 0;
    case DSL_ENUM:
        for (const char *const *name = f->names; s != NULL && *name != NULL; name++)
            if (strlen(*name) == n && memcmp(*name, s, n) == 0) {
                out->text = *name;
                return 0;
            }
        return dsl__fail(p, DSL_E_VALUE, "%s%s must be one of %s; got %s", what, f->name,
                         dsl__joined(p, f->names, dsl__enum_count(f), NULL),
                         dsl__described(p, v));
    default:
        panic("dsl: value of output-only field %s", f->name);
    }
}

