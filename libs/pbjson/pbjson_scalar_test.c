/*
 * The scalar readers on their own: integers from decimal text exactly
 * (fractions that vanish under the exponent, overflow at 2^64, no float
 * detour), base64 in both alphabets with and without padding, and the
 * names protoc gives fields and map entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pbjson_int.h"

typedef struct {
    const char *in;
    int want_rc;
    bool is_negative;
    uint64_t mag;
} int_case;

static const int_case int_cases[] = {
    { .in = "0", .mag = 0 },
    { .in = "-0", .mag = 0 },
    { .in = "007", .mag = 7 },
    { .in = "18446744073709551615", .mag = UINT64_MAX },
    { .in = "18446744073709551616", .want_rc = PBJ_E_RANGE },
    { .in = "-9223372036854775808", .is_negative = true, .mag = (uint64_t)INT64_MAX + 1 },
    { .in = "1.0", .mag = 1 },
    { .in = "1.000000000000000000000000000000", .mag = 1 },
    { .in = "1e3", .mag = 1000 },
    { .in = "1E+3", .mag = 1000 },
    { .in = "12.5e1", .mag = 125 },
    { .in = "1250e-1", .mag = 125 },
    { .in = "1.5", .want_rc = PBJ_E_TYPE },
    { .in = "1251e-1", .want_rc = PBJ_E_TYPE },
    { .in = "0e999999999999999999999", .mag = 0 },
    { .in = "1e20", .want_rc = PBJ_E_RANGE },
    { .in = "1e999999999999999999999", .want_rc = PBJ_E_RANGE },
    { .in = "5e-999999999999999999999", .want_rc = PBJ_E_TYPE },
    { .in = "9223372036854775807.0000000000000000001", .want_rc = PBJ_E_TYPE },
    { .in = "18446744073709551615e0", .mag = UINT64_MAX },
    { .in = "1844674407370955161.5e1", .mag = UINT64_MAX },
    { .in = "", .want_rc = PBJ_E_TYPE },
    { .in = "-", .want_rc = PBJ_E_TYPE },
    { .in = "+1", .want_rc = PBJ_E_TYPE },
    { .in = " 1", .want_rc = PBJ_E_TYPE },
    { .in = "1 ", .want_rc = PBJ_E_TYPE },
    { .in = "1.", .want_rc = PBJ_E_TYPE },
    { .in = ".5", .want_rc = PBJ_E_TYPE },
    { .in = "1e", .want_rc = PBJ_E_TYPE },
    { .in = "0x10", .want_rc = PBJ_E_TYPE },
    { .in = "NaN", .want_rc = PBJ_E_TYPE },
};

static void integers_are_read_exactly_from_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
        const int_case *c = &int_cases[i];
        pbj_int v = { true, 12345 };
        int rc = pbj__int_text(c->in, strlen(c->in), &v);
        if (rc != c->want_rc)
            fail_msg("\"%s\": rc %d, want %d", c->in, rc, c->want_rc);
        if (rc == 0 && (v.is_negative != c->is_negative || v.mag != c->mag))
            fail_msg("\"%s\": got %s%llu", c->in, v.is_negative ? "-" : "",
                     (unsigned long long)v.mag);
    }
    pbj_int v;
    assert_int_equal(pbj__int_text("12\0" "3", 4, &v), PBJ_E_TYPE); /* NUL inside */
}

typedef struct {
    const char *in;
    const char *want; /* NULL: refused */
    size_t want_len;
} b64_case;

static const b64_case b64_cases[] = {
    { "", "", 0 },
    { "Zg==", "f", 1 },
    { "Zg", "f", 1 },
    { "Zm8=", "fo", 2 },
    { "Zm8", "fo", 2 },
    { "Zm9v", "foo", 3 },
    { "+/+/", "\xfb\xff\xbf", 3 },
    { "-_-_", "\xfb\xff\xbf", 3 },
    { "AP8", "\x00\xff", 2 },
    { "Z", NULL, 0 },
    { "Zg=", NULL, 0 },
    { "Zg===", NULL, 0 },
    { "Z===", NULL, 0 },
    { "Zm9v\n", NULL, 0 },
    { "Zm 9v", NULL, 0 },
    { "Zg==Zg==", NULL, 0 },
    { "Z*==", NULL, 0 },
};

static void base64_reads_both_alphabets_padded_or_not(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
        const b64_case *c = &b64_cases[i];
        uint8_t out[16];
        long len = pbj__base64_decode(c->in, strlen(c->in), out);
        if (c->want == NULL) {
            if (len >= 0)
                fail_msg("\"%s\" decoded, want refused", c->in);
            continue;
        }
        if (len != (long)c->want_len || memcmp(out, c->want, c->want_len) != 0)
            fail_msg("\"%s\": length %ld", c->in, len);
    }
}

static void base64_writes_the_standard_alphabet_with_padding(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        { "", 0, "" }, { "f", 1, "Zg==" }, { "fo", 2, "Zm8=" }, { "foo", 3, "Zm9v" },
        { "\xfb\xff\xbf", 3, "+/+/" }, { "\x00\xff", 2, "AP8=" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *s = pbj__base64_encode((const uint8_t *)cases[i].in, cases[i].n, &len);
        assert_string_equal(s, cases[i].want);
        assert_int_equal(len, strlen(cases[i].want));
        free(s);
    }
}

static void json_names_follow_protoc(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "seller_id", "sellerId" },      { "id", "id" },
        { "tread_depth_tenths_mm", "treadDepthTenthsMm" },
        { "foo__bar", "fooBar" },         { "_foo", "Foo" },
        { "foo_", "foo" },                { "foo_1", "foo1" },
        { "fooBar", "fooBar" },           { "r_i64", "rI64" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t len = pbj_json_name(cases[i].in, out, sizeof out);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(len, strlen(cases[i].want));
        assert_true(pbj__is_json_name(cases[i].in, cases[i].want, strlen(cases[i].want)));
    }
    char small[4];
    assert_int_equal(pbj_json_name("seller_id", small, sizeof small), 8);
    assert_string_equal(small, "sel");
    assert_false(pbj__is_json_name("seller_id", "sellerI", 7));
    assert_false(pbj__is_json_name("seller_id", "sellerIdx", 9));
    assert_false(pbj__is_json_name("seller_id", "seller_id", 9));
}

static void messages_quote_what_callers_wrote_safely(void **state)
{
    (void)state;
    char out[160];
    pbj__quote(out, sizeof out, "a\"b\\c\n\x01\xff", 8);
    assert_string_equal(out, "\"a\\\"b\\\\c\\x0a\\x01\\xff\"");
    char longer[100];
    memset(longer, 'x', sizeof longer);
    pbj__quote(out, sizeof out, longer, sizeof longer);
    assert_int_equal(strlen(out), 64 + 5);
    assert_string_equal(out + 65, "...\"");
    char tiny[5];
    pbj__quote(tiny, sizeof tiny, "abcdef", 6);
    assert_string_equal(tiny, "\"abc");
    /* a multi-byte character is kept whole, never cut */
    pbj__quote(out, sizeof out, "\xc3\xa9t\xc3", 4);
    assert_string_equal(out, "\"\xc3\xa9t\\xc3\"");
    char text[] = "bad \x01 byte \xff and \xc3\xa9";
    pbj__sanitize(text);
    assert_string_equal(text, "bad ? byte ? and \xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_are_read_exactly_from_text),
        cmocka_unit_test(base64_reads_both_alphabets_padded_or_not),
        cmocka_unit_test(base64_writes_the_standard_alphabet_with_padding),
        cmocka_unit_test(json_names_follow_protoc),
        cmocka_unit_test(messages_quote_what_callers_wrote_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
