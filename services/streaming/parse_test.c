/*
 * The streaming daemon's parsers without a database: program date-times
 * in the spellings muxers write, the latency of a playlist's newest
 * segment, nginx-rtmp's form bodies (escapes, bounds, absent fields), and
 * the shapes and hashes of keys and public names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "streaming.h"

static const struct pdt_case {
    const char *in;
    int64_t want; /* ms since the epoch, -1 = refused */
} pdt_cases[] = {
    { .in = "2026-12-06T23:30:01.250+0000", .want = 1796599801250 },
    { .in = "2026-12-06T23:30:01.250Z", .want = 1796599801250 },
    { .in = "2026-12-06T23:30:01Z", .want = 1796599801000 },
    { .in = "2026-12-07T02:30:01.250+03:00", .want = 1796599801250 },
    { .in = "2026-12-06T22:30:01.250-01", .want = 1796599801250 },
    { .in = "2026-12-06T23:30:01.250", .want = -1 },     /* no zone */
    { .in = "2026-13-06T23:30:01Z", .want = -1 },
    { .in = "2026-12-06 23:30:01Z", .want = -1 },
    { .in = "2026-12-06T23:30:01Zjunk", .want = -1 },
    { .in = "", .want = -1 },
    { .in = "garbage", .want = -1 },
};

static void program_date_times_parse_or_are_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pdt_cases / sizeof pdt_cases[0]; i++) {
        const struct pdt_case *c = &pdt_cases[i];
        int64_t got = strm_parse_pdt_ms(c->in, strlen(c->in));
        if (got != c->want)
            fail_msg("%s: got %lld, want %lld", c->in, (long long)got, (long long)c->want);
    }
}

static void latency_is_of_the_newest_dated_segment(void **state)
{
    (void)state;
    const char *pl = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n"
                     "#EXTINF:1.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-12-06T23:30:00.000+0000\n"
                     "0.ts\r\n#EXTINF:1.000000,\n"
                     "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T23:30:01.000+0000\n1.ts\n";
    int64_t t1 = 1796599801000;
    assert_int_equal(strm_playlist_latency_ms(pl, strlen(pl), t1 + 1300), 1300);
    assert_int_equal(strm_playlist_latency_ms(pl, strlen(pl), t1 - 5), 0); /* clock skew */
    const char *undated = "#EXTM3U\n#EXTINF:1.0,\n0.ts\n";
    assert_int_equal(strm_playlist_latency_ms(undated, strlen(undated), t1), -1);
    assert_int_equal(strm_playlist_latency_ms("", 0, t1), -1);
    /* A date-time after the last segment belongs to no segment yet. */
    const char *dangling = "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T23:30:00.000+0000\n0.ts\n"
                           "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T23:31:00.000+0000\n";
    assert_int_equal(strm_playlist_latency_ms(dangling, strlen(dangling), t1), 1000);
}

static const struct form_case {
    const char *body, *key;
    size_t cap;
    int rc;
    const char *want;
} form_cases[] = {
    { .body = "call=publish&name=abc", .key = "name", .cap = 64, .rc = 3, .want = "abc" },
    { .body = "name=a%2Bb+c&call=x", .key = "name", .cap = 64, .rc = 5, .want = "a+b c" },
    { .body = "xname=1&name=2", .key = "name", .cap = 64, .rc = 1, .want = "2" },
    { .body = "name=", .key = "name", .cap = 64, .rc = 0, .want = "" },
    { .body = "name", .key = "name", .cap = 64, .rc = 0, .want = "" },
    { .body = "call=publish", .key = "name", .cap = 64, .rc = -1 },
    { .body = "", .key = "name", .cap = 64, .rc = -1 },
    { .body = "name=%zz", .key = "name", .cap = 64, .rc = -2 },
    { .body = "name=%4", .key = "name", .cap = 64, .rc = -2 },
    { .body = "name=%", .key = "name", .cap = 64, .rc = -2 },
    { .body = "name=a%00b", .key = "name", .cap = 64, .rc = -2 },
    { .body = "name=abcd", .key = "name", .cap = 4, .rc = -2 },
    { .body = "name=abc", .key = "name", .cap = 4, .rc = 3, .want = "abc" },
};

static void form_fields_decode_within_bounds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof form_cases / sizeof form_cases[0]; i++) {
        const struct form_case *c = &form_cases[i];
        char out[64];
        int rc = strm_form_get(c->body, strlen(c->body), c->key, out, c->cap);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", c->body, rc, c->rc);
        if (rc >= 0)
            assert_string_equal(out, c->want);
    }
}

static void keys_and_names_have_their_shapes(void **state)
{
    (void)state;
    char key[STRM_KEY_LEN + 1], hash[STRM_HASH_HEX], again[STRM_HASH_HEX];
    char name[STRM_NAME_LEN + 1];
    assert_int_equal(strm_key_new(key, hash), 0);
    assert_true(strm_key_is_shaped(key));
    assert_false(strm_name_is_shaped(key));
    strm_key_hash(key, strlen(key), again);
    assert_string_equal(hash, again);
    assert_int_equal(strlen(hash), 64);
    assert_int_equal(strm_name_new(name), 0);
    assert_true(strm_name_is_shaped(name));
    assert_false(strm_key_is_shaped(name));
    strm_key_hash("abc", 3, hash);
    assert_string_equal(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_false(strm_key_is_shaped("a+cdefghijklmnopqrstuvwxyzabcdefghijklmnopq"));
    assert_false(strm_name_is_shaped("ABCDEFGHIJKLMNOP"));
    assert_false(strm_name_is_shaped("abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(program_date_times_parse_or_are_refused),
        cmocka_unit_test(latency_is_of_the_newest_dated_segment),
        cmocka_unit_test(form_fields_decode_within_bounds),
        cmocka_unit_test(keys_and_names_have_their_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
