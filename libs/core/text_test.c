/*
 * text_test: hex encoding and the exact edges of well-formed UTF-8
 * (RFC 3629): overlong forms, surrogates, the U+10FFFF ceiling, truncated
 * sequences, stray continuation bytes and NUL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "core.h"
#include "core_int.h"

static void test_hex_encode_is_lowercase_and_terminated(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const uint8_t in[8];
        size_t n;
        const char *want;
    } cases[] = {
        { .name = "empty", .in = { 0 }, .n = 0, .want = "" },
        { .name = "zero byte", .in = { 0x00 }, .n = 1, .want = "00" },
        { .name = "all nibbles", .in = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef },
          .n = 8, .want = "0123456789abcdef" },
        { .name = "high bytes", .in = { 0xff, 0xfe, 0x80 }, .n = 3, .want = "fffe80" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[17];
        memset(out, 'x', sizeof out);
        hex_encode(cases[i].in, cases[i].n, out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, out, cases[i].want);
    }
}

static const struct {
    const char *name;
    const char *in;
    size_t n;
    bool want;
} utf8_cases[] = {
    { .name = "empty", .in = "", .n = 0, .want = true },
    { .name = "ascii", .in = "Gavel lot 42", .n = 12, .want = true },
    { .name = "two-byte e-acute", .in = "\xc3\xa9", .n = 2, .want = true },
    { .name = "three-byte euro", .in = "\xe2\x82\xac", .n = 3, .want = true },
    { .name = "four-byte emoji", .in = "\xf0\x9f\x9a\x97", .n = 4, .want = true },
    { .name = "smallest two-byte U+0080", .in = "\xc2\x80", .n = 2, .want = true },
    { .name = "smallest three-byte U+0800", .in = "\xe0\xa0\x80", .n = 3, .want = true },
    { .name = "last before surrogates U+D7FF", .in = "\xed\x9f\xbf", .n = 3, .want = true },
    { .name = "first after surrogates U+E000", .in = "\xee\x80\x80", .n = 3, .want = true },
    { .name = "smallest four-byte U+10000", .in = "\xf0\x90\x80\x80", .n = 4, .want = true },
    { .name = "largest code point U+10FFFF", .in = "\xf4\x8f\xbf\xbf", .n = 4, .want = true },
    { .name = "cyrillic word", .in = "\xd0\xbb\xd0\xbe\xd1\x82", .n = 6, .want = true },
    { .name = "overlong slash C0 AF", .in = "\xc0\xaf", .n = 2, .want = false },
    { .name = "overlong NUL C0 80", .in = "\xc0\x80", .n = 2, .want = false },
    { .name = "overlong C1 BF", .in = "\xc1\xbf", .n = 2, .want = false },
    { .name = "overlong three-byte E0 80 AF", .in = "\xe0\x80\xaf", .n = 3, .want = false },
    { .name = "overlong three-byte E0 9F BF", .in = "\xe0\x9f\xbf", .n = 3, .want = false },
    { .name = "overlong four-byte F0 8F BF BF", .in = "\xf0\x8f\xbf\xbf", .n = 4, .want = false },
    { .name = "high surrogate U+D800", .in = "\xed\xa0\x80", .n = 3, .want = false },
    { .name = "low surrogate U+DFFF", .in = "\xed\xbf\xbf", .n = 3, .want = false },
    { .name = "surrogate pair as CESU-8", .in = "\xed\xa0\xbd\xed\xb8\x80", .n = 6, .want = false },
    { .name = "above U+10FFFF F4 90", .in = "\xf4\x90\x80\x80", .n = 4, .want = false },
    { .name = "lead byte F5", .in = "\xf5\x80\x80\x80", .n = 4, .want = false },
    { .name = "lead byte FF", .in = "\xff", .n = 1, .want = false },
    { .name = "stray continuation", .in = "a\x80" "b", .n = 3, .want = false },
    { .name = "truncated two-byte", .in = "\xc3", .n = 1, .want = false },
    { .name = "truncated three-byte", .in = "\xe2\x82", .n = 2, .want = false },
    { .name = "truncated four-byte", .in = "\xf0\x9f\x9a", .n = 3, .want = false },
    { .name = "truncated by length not NUL", .in = "\xe2\x82\xac", .n = 2, .want = false },
    { .name = "bad continuation in middle", .in = "\xe2\x28\xa1", .n = 3, .want = false },
    { .name = "bad last continuation", .in = "\xf0\x9f\x9a\x41", .n = 4, .want = false },
    { .name = "NUL at start", .in = "\0abc", .n = 4, .want = false },
    { .name = "NUL in middle", .in = "ab\0c", .n = 4, .want = false },
    { .name = "NUL at end", .in = "abc\0", .n = 4, .want = false },
};

static void test_hex_decode_round_trips_and_refuses_bad_input(void **state)
{
    (void)state;
    const uint8_t bytes[] = { 0x00, 0x7f, 0x80, 0xab, 0xff };
    char hex[11];
    uint8_t back[5];
    hex_encode(bytes, sizeof bytes, hex);
    assert_int_equal(hex_decode(hex, back, sizeof back), 0);
    assert_memory_equal(back, bytes, sizeof bytes);
    assert_int_equal(hex_decode("00AbFf", back, 3), 0); /* either case */
    assert_int_equal(back[1], 0xab);
    assert_int_equal(hex_decode("0g", back, 1), -1);
    assert_int_equal(hex_decode("0", back, 1), -1);  /* too short */
    assert_int_equal(hex_decode("", back, 1), -1);
}

static void test_utf8_valid_accepts_exactly_rfc3629(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        bool got = utf8_valid(utf8_cases[i].in, utf8_cases[i].n);
        if (got != utf8_cases[i].want)
            fail_msg("%s: got %d, want %d", utf8_cases[i].name, got, utf8_cases[i].want);
    }
}

static void test_utf8_seqlen_reports_sequence_length(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        size_t want;
    } cases[] = {
        { .in = "A", .n = 1, .want = 1 },
        { .in = "\xc3\xa9", .n = 2, .want = 2 },
        { .in = "\xe2\x82\xac" "A", .n = 4, .want = 3 },
        { .in = "\xf0\x9f\x9a\x97", .n = 4, .want = 4 },
        { .in = "\xe2\x82\xac", .n = 2, .want = 0 },
        { .in = "\x80", .n = 1, .want = 0 },
        { .in = "\0", .n = 1, .want = 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(core__utf8_seqlen((const unsigned char *)cases[i].in, cases[i].n),
                         cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode_is_lowercase_and_terminated),
        cmocka_unit_test(test_hex_decode_round_trips_and_refuses_bad_input),
        cmocka_unit_test(test_utf8_valid_accepts_exactly_rfc3629),
        cmocka_unit_test(test_utf8_seqlen_reports_sequence_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
