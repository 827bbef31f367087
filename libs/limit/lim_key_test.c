/*
 * The names of the limits' keys: addresses count by host (IPv4) or by /64
 * (IPv6), mapped IPv4 as IPv4; rate keys refuse what would make an
 * ambiguous or oversized name; an account is named by the hash of its
 * email lower-cased, so the users service and the gateway agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "limit/limit.h"

static void addresses_count_by_host_or_by_64(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { .in = "192.0.2.7", .want = "192.0.2.7" },
        { .in = "::ffff:192.0.2.7", .want = "192.0.2.7" },
        { .in = "2001:db8:1:2:3:4:5:6", .want = "2001:db8:1:2::/64" },
        { .in = "2001:db8:1:2::9", .want = "2001:db8:1:2::/64" },
        { .in = "::1", .want = "::/64" },
        { .in = "unknown", .want = "unknown" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[80];
        lim_addr_subject(cases[i].in, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void rate_keys_name_class_scope_and_subject(void **state)
{
    (void)state;
    char out[LIM_KEY_MAX];
    assert_int_equal(lim_rate_key("read", "addr", "192.0.2.7", out, sizeof out), 0);
    assert_string_equal(out, "gavel:rate:read:addr:192.0.2.7");
    assert_int_equal(lim_rate_key("ws_msg", "user", "42", out, sizeof out), 0);
    assert_string_equal(out, "gavel:rate:ws_msg:user:42");
}

static void rate_keys_refuse_what_would_be_ambiguous_or_too_long(void **state)
{
    (void)state;
    char long_subject[128];
    memset(long_subject, 'a', sizeof long_subject - 1);
    long_subject[sizeof long_subject - 1] = '\0';
    static const struct {
        const char *cls, *scope, *subject;
    } bad[] = {
        { .cls = "", .scope = "addr", .subject = "x" },
        { .cls = "Read", .scope = "addr", .subject = "x" },
        { .cls = "read:x", .scope = "addr", .subject = "x" },
        { .cls = "read", .scope = "", .subject = "x" },
        { .cls = "read", .scope = "addr", .subject = "" },
        { .cls = "read", .scope = "addr", .subject = "a b" },
        { .cls = "read", .scope = "addr", .subject = "a\nb" },
        { .cls = NULL, .scope = "addr", .subject = "x" },
        { .cls = "read", .scope = "addr", .subject = NULL },
    };
    char out[LIM_KEY_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lim_rate_key(bad[i].cls, bad[i].scope, bad[i].subject, out,
                                      sizeof out), LIM_E_ARG);
        assert_string_equal(out, "");
    }
    assert_int_equal(lim_rate_key("read", "addr", long_subject, out, sizeof out), LIM_E_ARG);
    char small[24];
    assert_int_equal(lim_rate_key("read", "addr", "192.0.2.7", small, sizeof small), LIM_E_ARG);
    assert_string_equal(small, "");
}

static void account_key_is_the_hash_of_the_email_lower_cased(void **state)
{
    (void)state;
    char a[65], b[65], c[65], key[LIM_KEY_MAX];
    lim_account_hash("Dealer@Example.COM", a);
    lim_account_hash("dealer@example.com", b);
    lim_account_hash("other@example.com", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* echo -n dealer@example.com | sha256sum */
    assert_string_equal(b, "c4c4ca66d33ee892963aeba0b4d214b49b9a5818e90109f5dd28abc188daea20");
    lim_login_account_key(b, key, sizeof key);
    assert_int_equal(strncmp(key, "gavel:login:acct:", 17), 0);
    assert_string_equal(key + 17, b);
    assert_null(strchr(key, '@'));
}

static void address_key_counts_the_64(void **state)
{
    (void)state;
    char key[LIM_KEY_MAX];
    lim_login_address_key("2001:db8:1:2:3:4:5:6", key, sizeof key);
    assert_string_equal(key, "gavel:login:addr:2001:db8:1:2::/64");
    lim_login_address_key("::ffff:10.1.2.3", key, sizeof key);
    assert_string_equal(key, "gavel:login:addr:10.1.2.3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_count_by_host_or_by_64),
        cmocka_unit_test(rate_keys_name_class_scope_and_subject),
        cmocka_unit_test(rate_keys_refuse_what_would_be_ambiguous_or_too_long),
        cmocka_unit_test(account_key_is_the_hash_of_the_email_lower_cased),
        cmocka_unit_test(address_key_counts_the_64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
