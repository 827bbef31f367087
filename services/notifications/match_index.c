/*
 * Saved searches and segments in memory, filed by what a lot must have to
 * pass them, so one lot meets only its candidates:
 *
 *   "m:<make>"   subscriptions that need one of a few makes (a segment's
 *                makes, a filter's eq/in on make);
 *   "r:<region>" the rest that need one of a few regions;
 *   "w:<word>"   the rest that are saved searches with free text, under
 *                their longest word (every word must be in the lot);
 *   open         the rest (price or year bands alone, filters on other
 *                fields), tested for every lot.
 *
 * Invariants: each subscription is filed in exactly one family, at most
 * once under a key; a lot has one make, one region and a set of distinct
 * words, so one run meets each candidate once. Filing is a necessary
 * condition only: every candidate is then tested in full (segment bands,
 * words, dsl_eval of the filter). Keys are normalised (match_normalize),
 * so an exact equality in a filter is never lost to case or blanks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dsl/dsl_catalog.h"
#include "match_index.h"

const dsl_schema match_search_schema = {
    .fields = dsl_catalog_fields,
    .from = "lots l",
    .refuses = DSL_NO_FIELDS | DSL_NO_ORDER | DSL_NO_LIMIT | DSL_NO_CURSOR,
    .sample_filter = "[[\"eq\",\"make\",\"Toyota\"],[\"gte\",\"year\",2015]]",
};

enum { MAX_WORDS = 64, KEY_MAX = 80 };

typedef struct {
    int64_t id, user;
    const char *const *makes, *const *regions, *const *words; /* normalised; in mem */
    int nmakes, nregions, nwords;
    int64_t price_min, price_max, year_min, year_max;
    bool has_price, has_year;
    dsl_query *filter;                                        /* owned; NULL: none */
} entry;

typedef struct {
    char *key;        /* in mem; NULL: free slot */
    uint32_t *ids;    /* heap */
    uint32_t n, cap;
} bucket;

struct match_index {
    arena *mem;
    entry *entries;
    size_t n, cap;
    bucket *slots;
    size_t nslots, used;       /* nslots a power of two */
    uint32_t *open;
    size_t nopen, capopen;
    int f_make, f_region, f_title, f_model, f_price, f_year;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bucket *slot_of(const match_index *ix, const char *key)
{
    if (ix->nslots == 0)
        return NULL;
    for (size_t i = hash(key) & (ix->nslots - 1);; i = (i + 1) & (ix->nslots - 1)) {
        bucket *b = &ix->slots[i];
        if (b->key == NULL || strcmp(b->key, key) == 0)
            return b;
    }
}

static void grow_slots(match_index *ix)
{
    bucket *old = ix->slots;
    size_t nold = ix->nslots;
    ix->nslots = nold ? 2 * nold : 1024;
    ix->slots = xcalloc(ix->nslots, sizeof *ix->slots);
    for (size_t i = 0; i < nold; i++)
        if (old[i].key != NULL)
            *slot_of(ix, old[i].key) = old[i];
    free(old);
}

static void push(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t id)
{
    if (*n > 0 && (*v)[*n - 1] == id)
        return; /* filed under this key already */
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 4;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = id;
}

static void file_under(match_index *ix, const char *family, const char *value, uint32_t id)
{
    char key[KEY_MAX + 4];
    char norm[KEY_MAX];
    match_normalize(value, norm, sizeof norm);
    snprintf(key, sizeof key, "%s%s", family, norm);
    if ((ix->used + 1) * 10 > ix->nslots * 7)
        grow_slots(ix);
    bucket *b = slot_of(ix, key);
    if (b->key == NULL) {
        b->key = arena_strdup(ix->mem, key);
        ix->used++;
    }
    push(&b->ids, &b->n, &b->cap, id);
}

match_index *match_index_new(void)
{
    match_index *ix = xcalloc(1, sizeof *ix);
    ix->mem = arena_new();
    const dsl_schema *s = &match_search_schema;
    ix->f_make = dsl_field_index(s, "make");
    ix->f_region = dsl_field_index(s, "region");
    ix->f_title = dsl_field_index(s, "title");
    ix->f_model = dsl_field_index(s, "model");
    ix->f_price = dsl_field_index(s, "start_price");
    ix->f_year = dsl_field_index(s, "year");
    if (ix->f_make < 0 || ix->f_region < 0 || ix->f_title < 0 || ix->f_model < 0 ||
        ix->f_price < 0 || ix->f_year < 0)
        panic("match: the catalog lost a field the index reads");
    return ix;
}

void match_index_free(match_index *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->n; i++)
        dsl_query_free(ix->entries[i].filter);
    for (size_t i = 0; i < ix->nslots; i++)
        free(ix->slots[i].ids);
    free(ix->slots);
    free(ix->entries);
    free(ix->open);
    arena_free(ix->mem);
    free(ix);
}

size_t match_index_size(const match_index *ix)
{
    return ix->n;
}

/* Splits folded text into its distinct words (runs of letters, digits and
 * non-ASCII bytes), written into buf; returns how many. */
static int words_of(const char *folded, char *buf, size_t buflen, const char **out, int max)
{
    int n = 0;
    size_t at = 0;
    for (const char *p = folded; *p != '\0';) {
        unsigned char c = (unsigned char)*p;
        bool is_word = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!is_word) {
            p++;
            continue;
        }
        const char *start = p;
        while (*p != '\0' && ((unsigned char)*p >= 0x80 || (*p >= 'a' && *p <= 'z') ||
                              (*p >= '0' && *p <= '9')))
            p++;
        size_t len = (size_t)(p - start);
        if (n == max || at + len + 1 > buflen)
            break;
        memcpy(buf + at, start, len);
        buf[at + len] = '\0';
        bool is_dup = false;
        for (int k = 0; k < n && !is_dup; k++)
            is_dup = strcmp(out[k], buf + at) == 0;
        if (!is_dup) {
            out[n++] = buf + at;
            at += len + 1;
        }
    }
    return n;
}

static const char *const *copy_list(arena *mem, const char *const *v, int n, bool normalise)
{
    const char **out = arena_calloc(mem, (size_t)(n > 0 ? n : 1), sizeof *out);
    for (int i = 0; i < n; i++) {
        char norm[KEY_MAX];
        match_normalize(v[i], norm, sizeof norm);
        out[i] = arena_strdup(mem, normalise ? norm : v[i]);
    }
    return out;
}

static uint32_t append(match_index *ix, const entry *e)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? 2 * ix->cap : 256;
        ix->entries = xrealloc(ix->entries, ix->cap * sizeof *ix->entries);
    }
    ix->entries[ix->n] = *e;
    return (uint32_t)ix->n++;
}

static void file_open(match_index *ix, uint32_t id)
{
    uint32_t n = (uint32_t)ix->nopen, cap = (uint32_t)ix->capopen;
    push(&ix->open, &n, &cap, id);
    ix->nopen = n;
    ix->capopen = cap;
}

int match_index_add_segment(match_index *ix, int64_t id, int64_t user, const char *segment,
                            char *err, size_t errlen)
{
    match_segment s;
    int rc = match_segment_parse(segment, &s, err, errlen);
    if (rc != MATCH_OK || s.is_label)
        return rc;
    const char *makes[MATCH_SEG_MAX_VALUES], *regions[MATCH_SEG_MAX_VALUES];
    for (int i = 0; i < s.nmakes; i++)
        makes[i] = s.makes[i];
    for (int i = 0; i < s.nregions; i++)
        regions[i] = s.regions[i];
    entry e = { .id = id, .user = user, .nmakes = s.nmakes, .nregions = s.nregions,
                .makes = copy_list(ix->mem, makes, s.nmakes, true),
                .regions = copy_list(ix->mem, regions, s.nregions, true),
                .price_min = s.price_min, .price_max = s.price_max, .has_price = s.has_price,
                .year_min = s.year_min, .year_max = s.year_max, .has_year = s.has_year };
    uint32_t at = append(ix, &e);
    if (s.nmakes > 0)
        for (int i = 0; i < s.nmakes; i++)
            file_under(ix, "m:", s.makes[i], at);
    else if (s.nregions > 0)
        for (int i = 0; i < s.nregions; i++)
            file_under(ix, "r:", s.regions[i], at);
    else
        file_open(ix, at);
    return MATCH_OK;
}

/* Files a saved search: a make its filter requires, else a region, else
 * its longest word, else open. */
static void file_search(match_index *ix, const entry *e, uint32_t at)
{
    const char *vals[16];
    int n = e->filter != NULL ? dsl_required_values(e->filter, ix->f_make, vals, 16) : 0;
    const char *family = "m:";
    if (n == 0 && e->filter != NULL) {
        n = dsl_required_values(e->filter, ix->f_region, vals, 16);
        family = "r:";
    }
    if (n == 0 && e->nwords > 0) {
        int best = 0;
        for (int i = 1; i < e->nwords; i++)
            if (strlen(e->words[i]) > strlen(e->words[best]))
                best = i;
        vals[0] = e->words[best];
        n = 1;
        family = "w:";
    }
    for (int i = 0; i < n; i++)
        file_under(ix, family, vals[i], at);
    if (n == 0)
        file_open(ix, at);
}

int match_index_add_search(match_index *ix, int64_t id, int64_t user, const char *query,
                           const char *filter, char *err, size_t errlen)
{
    dsl_query *q = NULL;
    if (filter[0] != '\0' &&
        dsl_parse(&match_search_schema, filter, strlen(filter), now_us(), &q, err, errlen) < 0)
        return MATCH_E_INVALID;
    size_t qlen = strlen(query);
    char *folded = xmalloc(qlen + 1), *buf = xmalloc(qlen + 1);
    dsl_fold(query, folded);
    const char *words[MAX_WORDS];
    int nwords = words_of(folded, buf, qlen + 1, words, MAX_WORDS);
    entry e = { .id = id, .user = user, .filter = q, .nwords = nwords,
                .words = copy_list(ix->mem, words, nwords, false) };
    free(folded);
    free(buf);
    file_search(ix, &e, append(ix, &e));
    return MATCH_OK;
}

/* ---- a run ---- */

/* What every candidate is tested against, computed once per lot. */
typedef struct {
    const dsl_datum *row;
    int64_t now_us;
    char make[KEY_MAX], region[KEY_MAX];
    const char *words[MAX_WORDS * 3];
    int nwords;
    char wordbuf[3 * 1024];
} lot_view;

static bool in_list(const char *s, const char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

static bool passes(const match_index *ix, const entry *e, const lot_view *l)
{
    const dsl_datum *price = &l->row[ix->f_price], *year = &l->row[ix->f_year];
    if (e->nmakes > 0 && !in_list(l->make, e->makes, e->nmakes))
        return false;
    if (e->nregions > 0 && !in_list(l->region, e->regions, e->nregions))
        return false;
    if (e->has_price &&
        (price->is_null || price->num < e->price_min || price->num > e->price_max))
        return false;
    if (e->has_year && (year->is_null || year->num < e->year_min || year->num > e->year_max))
        return false;
    for (int i = 0; i < e->nwords; i++)
        if (!in_list(e->words[i], l->words, l->nwords))
            return false;
    return e->filter == NULL || dsl_eval(e->filter, l->row, l->now_us);
}

static void hit(match_hits *out, const entry *e)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 64;
        out->v = xrealloc(out->v, out->cap * sizeof *out->v);
    }
    out->v[out->n++] = (match_hit){ .user_id = e->user, .subscription_id = e->id };
}

static void run_list(const match_index *ix, const uint32_t *ids, size_t n, const lot_view *l,
                     match_hits *out)
{
    for (size_t i = 0; i < n; i++)
        if (passes(ix, &ix->entries[ids[i]], l))
            hit(out, &ix->entries[ids[i]]);
}

static void run_key(const match_index *ix, const char *family, const char *value,
                    const lot_view *l, match_hits *out)
{
    char key[KEY_MAX + 4];
    snprintf(key, sizeof key, "%s%s", family, value);
    const bucket *b = slot_of(ix, key);
    if (b != NULL && b->key != NULL)
        run_list(ix, b->ids, b->n, l, out);
}

static const char *text_of(const dsl_datum *d)
{
    return d->is_null || d->text == NULL ? "" : d->text;
}

static void view_of(const match_index *ix, const dsl_datum *row, int64_t now_us, lot_view *l)
{
    l->row = row;
    l->now_us = now_us;
    match_normalize(text_of(&row[ix->f_make]), l->make, sizeof l->make);
    match_normalize(text_of(&row[ix->f_region]), l->region, sizeof l->region);
    char joined[3 * 1024 + 3];
    snprintf(joined, sizeof joined, "%.1023s %.1023s %.1023s", text_of(&row[ix->f_title]),
             text_of(&row[ix->f_make]), text_of(&row[ix->f_model]));
    char folded[sizeof joined];
    dsl_fold(joined, folded);
    l->nwords = words_of(folded, l->wordbuf, sizeof l->wordbuf, l->words,
                         (int)(sizeof l->words / sizeof l->words[0]));
}

void match_index_run(const match_index *ix, const dsl_datum *row, int64_t now_us, bool is_naive,
                     match_hits *out)
{
    lot_view *l = xmalloc(sizeof *l);
    view_of(ix, row, now_us, l);
    if (is_naive) {
        for (size_t i = 0; i < ix->n; i++)
            if (passes(ix, &ix->entries[i], l))
                hit(out, &ix->entries[i]);
        free(l);
        return;
    }
    if (l->make[0] != '\0')
        run_key(ix, "m:", l->make, l, out);
    if (l->region[0] != '\0')
        run_key(ix, "r:", l->region, l, out);
    for (int i = 0; i < l->nwords; i++)
        run_key(ix, "w:", l->words[i], l, out);
    run_list(ix, ix->open, ix->nopen, l, out);
    free(l);
}

static int by_user(const void *a, const void *b)
{
    const match_hit *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return (x->subscription_id > y->subscription_id) - (x->subscription_id < y->subscription_id);
}

void match_hits_by_user(match_hits *h)
{
    if (h->n == 0)
        return;
    qsort(h->v, h->n, sizeof *h->v, by_user);
    size_t k = 1;
    for (size_t i = 1; i < h->n; i++)
        if (h->v[i].user_id != h->v[k - 1].user_id)
            h->v[k++] = h->v[i];
    h->n = k;
}

void match_hits_free(match_hits *h)
{
    free(h->v);
    *h = (match_hits){ 0 };
}
