/*
 * Text and key checks: characters are counted, not bytes; control
 * characters are refused except the prose ones; keys are printable ASCII.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "check/check.h"

static void characters_are_counted_not_bytes(void **state)
{
    (void)state;
    assert_int_equal(check_utf8_chars(""), 0);
    assert_int_equal(check_utf8_chars("Ivan"), 4);
    assert_int_equal(check_utf8_chars("Иван"), 4);
    assert_int_equal(check_utf8_chars("車🚗"), 2);
}

static void text_and_keys_follow_their_rules(void **state)
{
    (void)state;
    static const struct {
        int (*check)(rpc_call *c, const char *field, const char *s, size_t min, size_t max);
        const char *in;
        int want;
        const char *message;
    } cases[] = {
        { .check = check_text, .in = "Иван", .want = GRPC_STATUS_OK },
        { .check = check_text, .in = "Иванов", .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "name must be 1 to 5 characters" },
        { .check = check_text, .in = "", .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "name must be 1 to 5 characters" },
        { .check = check_text, .in = "a\tb", .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "name must not contain control characters" },
        { .check = check_prose, .in = "a\tb\n", .want = GRPC_STATUS_OK },
        { .check = check_prose, .in = "a\x7f", .want = GRPC_STATUS_INVALID_ARGUMENT,
          .message = "name must not contain control characters" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rpc_call *c = rpc_call_new_detached(NULL);
        assert_int_equal(cases[i].check(c, "name", cases[i].in, 1, 5), cases[i].want);
        if (cases[i].message != NULL)
            assert_string_equal(rpc_call_message(c), cases[i].message);
        rpc_call_free_detached(c);
    }
    static const struct { const char *key; bool ok; } keys[] = {
        { .key = "k-1_{\"}\\", .ok = true }, { .key = "", .ok = false },
        { .key = "a b", .ok = false }, { .key = "ключ", .ok = false },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        rpc_call *c = rpc_call_new_detached(NULL);
        assert_int_equal(check_idempotency_key(c, keys[i].key) == GRPC_STATUS_OK, keys[i].ok);
        rpc_call_free_detached(c);
    }
}

int main(void)
{
    log_init("check-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(characters_are_counted_not_bytes),
        cmocka_unit_test(text_and_keys_follow_their_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
