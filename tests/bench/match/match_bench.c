/*
 * gavel-match-bench [SUBSCRIPTIONS [LOTS]]
 *
 * Matching new lots against saved searches and segments in memory, as the
 * notifications daemon does (services/notifications/match_index.c): builds
 * an index of SUBSCRIPTIONS (default 100,000) generated dealers' segments
 * and saved searches — makes, regions, price and year bands, DSL filters,
 * free text, some with no make or region at all — then runs LOTS (default
 * 1,000) random lots through it, and through the naive loop that tests
 * every subscription one by one. Both must give the same hits. Prints the
 * build time and, per lot, the mean and p99 milliseconds of each way.
 * Deterministic (a fixed seed); no database, no network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dsl/dsl_catalog.h"
#include "match_index.h"

static const char *const makes[] = {
    "Toyota", "Lexus", "BMW", "Mercedes-Benz", "Audi", "Volkswagen", "Skoda", "Kia", "Hyundai",
    "Nissan", "Mazda", "Honda", "Ford", "Chevrolet", "Renault", "Peugeot", "Citroen", "Lada",
    "GAZ", "UAZ", "Mitsubishi", "Subaru", "Suzuki", "Volvo", "Land Rover", "Jeep", "Porsche",
    "Infiniti", "Genesis", "Haval", "Chery", "Geely", "Opel", "Fiat", "Jaguar", "Mini",
    "Cadillac", "Dodge", "Tesla", "Exeed",
};
static const char *const models[] = { "Camry", "RX", "X5", "E-Class", "A6", "Polo", "Octavia",
                                      "Rio", "Solaris", "Qashqai", "CX-5", "Civic", "Focus",
                                      "Niva", "Vesta", "Outlander", "Forester", "XC90" };
static const char *const regions[] = {
    "Moscow", "Saint Petersburg", "Kazan", "Novosibirsk", "Yekaterinburg", "Nizhny Novgorod",
    "Samara", "Omsk", "Rostov", "Ufa", "Krasnoyarsk", "Voronezh", "Perm", "Volgograd",
    "Krasnodar", "Saratov", "Tyumen", "Tolyatti", "Izhevsk", "Barnaul", "Irkutsk", "Khabarovsk",
    "Yaroslavl", "Vladivostok", "Tomsk", "Orenburg", "Kemerovo", "Ryazan", "Astrakhan", "Penza",
};
#define N(a) (sizeof(a) / sizeof(a)[0])

static uint64_t seed = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(uint64_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed % n;
}

static void norm(const char *s, char *out, size_t n)
{
    match_normalize(s, out, n);
}

/* One generated subscription: 50% segments, 50% saved searches, of which
 * a few per cent are filed open (no make, region or word). */
static void add_one(match_index *ix, int64_t id)
{
    char err[256], a[80], b[80], buf[512];
    int64_t year = 2005 + (int64_t)rnd(15);
    int kind = (int)rnd(100);
    norm(makes[rnd(N(makes))], a, sizeof a);
    norm(regions[rnd(N(regions))], b, sizeof b);
    int rc;
    if (kind < 25)
        snprintf(buf, sizeof buf, "make:%s:year:%lld-", a, (long long)year);
    else if (kind < 40)
        snprintf(buf, sizeof buf, "make:%s:region:%s:price:-%llu", a, b,
                 (unsigned long long)(500000 + rnd(5000000)));
    else if (kind < 48)
        snprintf(buf, sizeof buf, "region:%s:year:%lld-%lld", b, (long long)year,
                 (long long)year + 5);
    else if (kind < 50)
        snprintf(buf, sizeof buf, "price:%llu-", (unsigned long long)(3000000 + rnd(9000000)));
    if (kind < 50) {
        rc = match_index_add_segment(ix, id, id, buf, err, sizeof err);
    } else if (kind < 80) {
        snprintf(buf, sizeof buf, "[[\"eq\",\"make\",\"%s\"],[\"gte\",\"year\",%lld],"
                 "[\"lte\",\"start_price\",%llu]]", makes[rnd(N(makes))], (long long)year,
                 (unsigned long long)(100000000 + rnd(900000000)));
        rc = match_index_add_search(ix, id, id, "", buf, err, sizeof err);
    } else if (kind < 90) {
        rc = match_index_add_search(ix, id, id, models[rnd(N(models))],
                                    "[[\"gte\",\"year\",2012]]", err, sizeof err);
    } else if (kind < 97) {
        snprintf(buf, sizeof buf, "[[\"eq\",\"region\",\"%s\"],[\"in\",\"category_id\",[1,2,3]]]",
                 regions[rnd(N(regions))]);
        rc = match_index_add_search(ix, id, id, "", buf, err, sizeof err);
    } else {
        snprintf(buf, sizeof buf, "[[\"lt\",\"mileage_km\",%llu],[\"like\",\"title\",\"%%4x4%%\"]]",
                 (unsigned long long)(10000 + rnd(50000)));
        rc = match_index_add_search(ix, id, id, "", buf, err, sizeof err);
    }
    if (rc != 0) {
        fprintf(stderr, "subscription %lld: %s\n", (long long)id, err);
        exit(1);
    }
}

typedef struct {
    dsl_datum row[DSL_MAX_FIELDS];
    char title[160];
} lot;

static void make_lot(lot *l)
{
    for (int i = 0; i < DSL_MAX_FIELDS; i++)
        l->row[i] = (dsl_datum){ .is_null = true };
    const char *make = makes[rnd(N(makes))], *model = models[rnd(N(models))];
    snprintf(l->title, sizeof l->title, "%s %s %s", make, model, rnd(10) == 0 ? "4x4" : "");
    const struct { const char *f; int64_t num; const char *text; } v[] = {
        { "id", 1, NULL }, { "title", 0, l->title }, { "make", 0, make }, { "model", 0, model },
        { "region", 0, regions[rnd(N(regions))] }, { "year", 2005 + (int64_t)rnd(20), NULL },
        { "start_price", 10000000 + (int64_t)rnd(1000000000), NULL },
        { "mileage_km", (int64_t)rnd(200000), NULL }, { "category_id", 1 + (int64_t)rnd(6), NULL },
        { "state", 0, "scheduled" },
    };
    for (size_t k = 0; k < N(v); k++)
        l->row[dsl_field_index(&match_search_schema, v[k].f)] =
            (dsl_datum){ .num = v[k].num, .text = v[k].text };
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, int64_t *us, int n, size_t hits)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)us[i];
    qsort(us, (size_t)n, sizeof *us, cmp_i64);
    printf("%-6s mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f hits_per_lot=%.1f\n", what,
           sum / n / 1000.0, (double)us[n / 2] / 1000.0, (double)us[n * 99 / 100] / 1000.0,
           (double)us[n - 1] / 1000.0, (double)hits / n);
}

int main(int argc, char **argv)
{
    long subs = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    int nlots = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1000;
    if (subs < 1 || nlots < 1) {
        fprintf(stderr, "usage: gavel-match-bench [SUBSCRIPTIONS [LOTS]]\n");
        return 2;
    }
    int64_t t0 = mono_us();
    match_index *ix = match_index_new();
    for (long i = 1; i <= subs; i++)
        add_one(ix, i);
    printf("subscriptions=%zu build_ms=%.1f lots=%d\n", match_index_size(ix),
           (double)(mono_us() - t0) / 1000.0, nlots);
    int64_t *idx_us = xcalloc((size_t)nlots, sizeof *idx_us);
    int64_t *naive_us = xcalloc((size_t)nlots, sizeof *naive_us);
    size_t idx_hits = 0, naive_hits = 0;
    lot *l = xmalloc(sizeof *l);
    for (int i = 0; i < nlots; i++) {
        make_lot(l);
        match_hits a = { 0 }, b = { 0 };
        int64_t s = mono_us();
        match_index_run(ix, l->row, now_us(), false, &a);
        idx_us[i] = mono_us() - s;
        s = mono_us();
        match_index_run(ix, l->row, now_us(), true, &b);
        naive_us[i] = mono_us() - s;
        if (a.n != b.n) {
            fprintf(stderr, "lot %d: the index hit %zu, the loop %zu\n", i, a.n, b.n);
            return 1;
        }
        idx_hits += a.n;
        naive_hits += b.n;
        match_hits_free(&a);
        match_hits_free(&b);
    }
    report("index", idx_us, nlots, idx_hits);
    report("naive", naive_us, nlots, naive_hits);
    free(l);
    free(idx_us);
    free(naive_us);
    match_index_free(ix);
    return 0;
}
