/*
 * Dealer segments as names: the predicates a segment stands for are
 * written in its name (the contract's segment is one string of
 * [a-z0-9:_-]{1,64}), so a segment needs no table of its own and the
 * index reads it the same way on every instance. A name whose first part
 * is not a key is a label: kept for operators, never matched by itself.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "match_index.h"

void match_normalize(const char *s, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t n = strlen(s);
    if (n >= outlen) {
        n = outlen - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    char tmp[1024];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    dsl_fold(tmp, out);
    for (char *p = out; *p != '\0'; p++)
        if (*p == ' ' || *p == '\t')
            *p = '_';
}

static int bad(char *err, size_t errlen, const char *name, const char *fmt, const char *part)
{
    if (errlen > 0) {
        int n = snprintf(err, errlen, "segment \"%s\": ", name);
        if (n > 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, fmt, part);
    }
    return MATCH_E_INVALID;
}

/* Decimal digits s[0..n), at most 12 of them; false when empty or not. */
static bool read_num(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* a-b, a-, -b or a into [*lo, *hi]; open ends are INT64_MIN/MAX. */
static bool read_band(const char *v, int64_t *lo, int64_t *hi)
{
    const char *dash = strchr(v, '-');
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (dash == NULL)
        return read_num(v, strlen(v), lo) && (*hi = *lo, true);
    if (strchr(dash + 1, '-') != NULL || (dash == v && dash[1] == '\0'))
        return false;
    if (dash > v && !read_num(v, (size_t)(dash - v), lo))
        return false;
    if (dash[1] != '\0' && !read_num(dash + 1, strlen(dash + 1), hi))
        return false;
    return *lo <= *hi;
}

static int read_pair(const char *name, const char *key, const char *v, match_segment *out,
                     char *err, size_t errlen)
{
    if (v[0] == '\0')
        return bad(err, errlen, name, "%s needs a value after its ':'", key);
    bool is_make = strcmp(key, "make") == 0;
    if (is_make || strcmp(key, "region") == 0) {
        int *n = is_make ? &out->nmakes : &out->nregions;
        if (*n == MATCH_SEG_MAX_VALUES)
            return bad(err, errlen, name, "at most 16 values of %s", key);
        snprintf(is_make ? out->makes[*n] : out->regions[*n], 65, "%s", v);
        (*n)++;
        return MATCH_OK;
    }
    bool is_price = strcmp(key, "price") == 0;
    bool *has = is_price ? &out->has_price : &out->has_year;
    int64_t lo, hi;
    if (*has)
        return bad(err, errlen, name, "a second %s band", key);
    if (!read_band(v, &lo, &hi))
        return bad(err, errlen, name,
                   is_price ? "%s needs a band in whole currency units such as 1000000-3000000, "
                              "1000000- or -3000000 (low end first)"
                            : "%s needs a band such as 2015-2020, 2015- or -2010 (low end first)",
                   key);
    *has = true;
    if (is_price) {
        out->price_min = lo == INT64_MIN ? INT64_MIN : lo * 100;
        out->price_max = hi == INT64_MAX ? INT64_MAX : hi * 100 + 99;
    } else {
        out->year_min = lo;
        out->year_max = hi;
    }
    return MATCH_OK;
}

static bool is_key(const char *s)
{
    return strcmp(s, "make") == 0 || strcmp(s, "region") == 0 || strcmp(s, "price") == 0 ||
           strcmp(s, "year") == 0;
}

int match_segment_parse(const char *name, match_segment *out, char *err, size_t errlen)
{
    *out = (match_segment){ .price_min = INT64_MIN, .price_max = INT64_MAX,
                            .year_min = INT64_MIN, .year_max = INT64_MAX };
    char copy[128];
    if (strlen(name) >= sizeof copy)
        return bad(err, errlen, "", "is longer than 64 characters%s", "");
    snprintf(copy, sizeof copy, "%s", name);
    char *save = NULL, *key = strtok_r(copy, ":", &save);
    if (key == NULL || !is_key(key)) {
        out->is_label = true;
        return MATCH_OK;
    }
    /* strtok_r skips empty parts: "make::x" must not read as make:x */
    if (strstr(name, "::") != NULL || name[strlen(name) - 1] == ':')
        return bad(err, errlen, name, "has an empty part%s", "");
    while (key != NULL) {
        if (!is_key(key))
            return bad(err, errlen, name,
                       "unknown key \"%s\" (make, region, price or year, each followed by "
                       "':' and its value)", key);
        const char *v = strtok_r(NULL, ":", &save);
        int rc = read_pair(name, key, v != NULL ? v : "", out, err, errlen);
        if (rc != MATCH_OK)
            return rc;
        key = strtok_r(NULL, ":", &save);
    }
    return MATCH_OK;
}
