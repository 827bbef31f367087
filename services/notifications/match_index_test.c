/*
 * The match index without a database: segment names read into their
 * predicates or refused with a message naming the part; saved searches
 * and segments filed by make, region, word or open each meet a lot that
 * passes them exactly once and never one that fails them; the index run
 * gives the same hits as testing every subscription one by one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"
#include "dsl/dsl_catalog.h"
#include "match_index.h"

static const struct seg_case {
    const char *in;
    int rc;
    const char *msg; /* a part of the message; "" with rc 0 */
} seg_cases[] = {
    { .in = "premium", .rc = MATCH_OK, .msg = "" },
    { .in = "trucks:heavy", .rc = MATCH_OK, .msg = "" },
    { .in = "make:toyota:make:lexus:region:moscow:price:1000000-3000000", .rc = MATCH_OK,
      .msg = "" },
    { .in = "year:2015-", .rc = MATCH_OK, .msg = "" },
    { .in = "price:-500", .rc = MATCH_OK, .msg = "" },
    { .in = "year:2018", .rc = MATCH_OK, .msg = "" },
    { .in = "make", .rc = MATCH_E_INVALID, .msg = "make needs a value" },
    { .in = "make:bmw:", .rc = MATCH_E_INVALID, .msg = "empty part" },
    { .in = "make::bmw", .rc = MATCH_E_INVALID, .msg = "empty part" },
    { .in = "make:bmw:colour:red", .rc = MATCH_E_INVALID, .msg = "unknown key \"colour\"" },
    { .in = "price:abc", .rc = MATCH_E_INVALID, .msg = "price needs a band" },
    { .in = "price:-", .rc = MATCH_E_INVALID, .msg = "price needs a band" },
    { .in = "year:2020-2010", .rc = MATCH_E_INVALID, .msg = "year needs a band" },
    { .in = "year:1-2-3", .rc = MATCH_E_INVALID, .msg = "year needs a band" },
    { .in = "year:1-2:year:3-4", .rc = MATCH_E_INVALID, .msg = "a second year band" },
    { .in = "price:1234567890123", .rc = MATCH_E_INVALID, .msg = "price needs a band" },
};

static void segment_names_read_or_are_refused_by_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof seg_cases / sizeof seg_cases[0]; i++) {
        match_segment s;
        char err[256] = "";
        int rc = match_segment_parse(seg_cases[i].in, &s, err, sizeof err);
        if (rc != seg_cases[i].rc || strstr(err, seg_cases[i].msg) == NULL)
            fail_msg("%s: got %d \"%s\", want %d \"%s\"", seg_cases[i].in, rc, err,
                     seg_cases[i].rc, seg_cases[i].msg);
    }
    match_segment s;
    char err[256];
    assert_int_equal(match_segment_parse("make:a:price:10-20:year:2001-", &s, err, sizeof err), 0);
    assert_int_equal(s.nmakes, 1);
    assert_int_equal(s.price_min, 1000);
    assert_int_equal(s.price_max, 2099);
    assert_int_equal(s.year_min, 2001);
    assert_true(s.year_max == INT64_MAX);
}

/* A lot of the catalog: row[] in dsl_catalog_fields order. */
typedef struct {
    dsl_datum row[DSL_MAX_FIELDS];
} lot;

static void set(lot *l, const char *field, int64_t num, const char *text)
{
    int i = dsl_field_index(&match_search_schema, field);
    assert_true(i >= 0);
    l->row[i] = (dsl_datum){ .num = num, .text = text };
}

static lot a_lot(const char *make, const char *region, int64_t year, int64_t price_units)
{
    lot l;
    for (int i = 0; i < DSL_MAX_FIELDS; i++)
        l.row[i] = (dsl_datum){ .is_null = true };
    set(&l, "id", 42, NULL);
    set(&l, "title", 0, "Toyota Camry 2.5 XLE, один владелец");
    set(&l, "make", 0, make);
    set(&l, "model", 0, "Camry");
    set(&l, "region", 0, region);
    set(&l, "year", year, NULL);
    set(&l, "start_price", price_units, NULL);
    set(&l, "state", 0, "live");
    return l;
}

/* Subscriptions with the ids that must match a_lot("Toyota", "Moscow",
 * 2019, 150000000) (id < 100) and those that must not (id >= 100). */
static void fill(match_index *ix)
{
    char err[256];
    const struct { int64_t id; const char *seg; } segs[] = {
        { 1, "make:toyota" },
        { 2, "make:bmw:make:toyota:region:moscow" },
        { 3, "region:moscow:year:2015-2020" },
        { 4, "price:1000000-2000000" },            /* open: a band alone */
        { 5, "year:2019" },
        { 100, "make:bmw" },
        { 101, "make:toyota:region:kazan" },
        { 102, "region:moscow:year:2020-" },
        { 103, "price:-1000000" },
        { 104, "premium" },                         /* a label is never matched */
    };
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++)
        assert_int_equal(match_index_add_segment(ix, segs[i].id, 1000 + segs[i].id, segs[i].seg,
                                                 err, sizeof err), 0);
    const struct { int64_t id; const char *query, *filter; } searches[] = {
        { 10, "camry", "" },                                    /* by word */
        { 11, "CAMRY xle", "[[\"gte\",\"year\",2018]]" },
        { 12, "", "[[\"in\",\"make\",[\"Lexus\",\"Toyota\"]]]" },  /* by make */
        { 13, "", "[[\"eq\",\"region\",\"Moscow\"],[\"lt\",\"start_price\",200000000]]" },
        { 14, "", "[[\"like\",\"title\",\"%ОДИН%\"]]" },           /* open */
        { 15, "владелец", "" },
        { 110, "corolla", "" },
        { 111, "camry", "[[\"lt\",\"year\",2010]]" },
        { 112, "", "[[\"eq\",\"make\",\"toyota\"]]" },           /* = is exact */
        { 113, "", "[[\"eq\",\"region\",\"Moscow\"],[\"eq\",\"state\",\"scheduled\"]]" },
        { 114, "camry lexus", "" },                             /* every word */
    };
    for (size_t i = 0; i < sizeof searches / sizeof searches[0]; i++)
        assert_int_equal(match_index_add_search(ix, searches[i].id, 1000 + searches[i].id,
                                                searches[i].query, searches[i].filter, err,
                                                sizeof err), 0);
}

static void each_passing_subscription_is_hit_once_and_no_other(void **state)
{
    (void)state;
    match_index *ix = match_index_new();
    fill(ix);
    assert_int_equal(match_index_size(ix), 20); /* the label is not kept */
    lot l = a_lot("Toyota", "Moscow", 2019, 150000000);
    for (int naive = 0; naive < 2; naive++) {
        match_hits h = { 0 };
        match_index_run(ix, l.row, now_us(), naive, &h);
        bool seen[200] = { false };
        for (size_t i = 0; i < h.n; i++) {
            int64_t id = h.v[i].subscription_id;
            if (id >= 100 || seen[id])
                fail_msg("%s: subscription %lld %s", naive ? "naive" : "index", (long long)id,
                         seen[id] ? "hit twice" : "hit though the lot fails it");
            seen[id] = true;
            assert_int_equal(h.v[i].user_id, 1000 + id);
        }
        assert_int_equal(h.n, 11);
        match_hits_free(&h);
    }
    match_index_free(ix);
}

static void makes_and_regions_compare_lower_cased_with_blanks_as_underscores(void **state)
{
    (void)state;
    match_index *ix = match_index_new();
    char err[256];
    assert_int_equal(match_index_add_segment(ix, 1, 7, "make:land_rover:region:nizhny_novgorod",
                                             err, sizeof err), 0);
    lot l = a_lot("LAND Rover", "Nizhny Novgorod", 2019, 100);
    match_hits h = { 0 };
    match_index_run(ix, l.row, now_us(), false, &h);
    assert_int_equal(h.n, 1);
    match_hits_free(&h);
    match_index_free(ix);
}

static void a_bad_filter_is_refused_and_the_index_unchanged(void **state)
{
    (void)state;
    match_index *ix = match_index_new();
    char err[256];
    assert_int_equal(match_index_add_search(ix, 1, 7, "", "[[\"order\",\"year desc\"]]", err,
                                            sizeof err), MATCH_E_INVALID);
    assert_non_null(strstr(err, "\"order\" is not accepted here"));
    assert_int_equal(match_index_add_segment(ix, 2, 7, "price:x", err, sizeof err),
                     MATCH_E_INVALID);
    assert_int_equal(match_index_size(ix), 0);
    match_index_free(ix);
}

static void hits_by_user_keep_the_lowest_subscription(void **state)
{
    (void)state;
    match_hits h = { 0 };
    const match_hit v[] = { { 5, 9 }, { 3, 4 }, { 5, 2 }, { 3, 8 }, { 1, 1 } };
    h.v = xmalloc(sizeof v);
    memcpy(h.v, v, sizeof v);
    h.n = h.cap = 5;
    match_hits_by_user(&h);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.v[0].user_id, 1);
    assert_int_equal(h.v[1].subscription_id, 4);
    assert_int_equal(h.v[2].subscription_id, 2);
    match_hits_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(segment_names_read_or_are_refused_by_name),
        cmocka_unit_test(each_passing_subscription_is_hit_once_and_no_other),
        cmocka_unit_test(makes_and_regions_compare_lower_cased_with_blanks_as_underscores),
        cmocka_unit_test(a_bad_filter_is_refused_and_the_index_unchanged),
        cmocka_unit_test(hits_by_user_keep_the_lowest_subscription),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
