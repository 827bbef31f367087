/*
 * Rules the users daemon applies before touching the database: password
 * policy, roles, and argon2id round trips (currencies and character counts
 * are libs/check's, tested there).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "users.h"

static void password_policy_accepts_and_refuses(void **state)
{
    (void)state;
    static const struct { const char *in; bool ok; } cases[] = {
        { .in = "secret12345", .ok = true },
        { .in = "ДилерПароль1", .ok = true },          /* non-ASCII letters count */
        { .in = "short1", .ok = false },               /* under 10 bytes */
        { .in = "onlyletters", .ok = false },
        { .in = "1234567890", .ok = false },
        { .in = "", .ok = false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(password_policy(cases[i].in) == NULL, cases[i].ok);
    char longpw[200];
    memset(longpw, 'a', sizeof longpw);
    longpw[0] = '1';
    longpw[129] = '\0';
    assert_non_null(password_policy(longpw)); /* 129 bytes */
    longpw[128] = '\0';
    assert_null(password_policy(longpw));     /* 128 bytes */
}

static void roles_round_trip_and_service_is_not_a_person(void **state)
{
    (void)state;
    const char *names[] = { "bidder", "seller", "moderator", "admin" };
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(role_to_text(role_from_text(names[i])), names[i]);
    assert_null(role_to_text(GAVEL__USERS__V1__ROLE__ROLE_SERVICE));
    assert_null(role_to_text(GAVEL__USERS__V1__ROLE__ROLE_UNSPECIFIED));
    assert_int_equal(role_from_text("root"), GAVEL__USERS__V1__ROLE__ROLE_UNSPECIFIED);
}

static void password_hash_verifies_only_the_same_password(void **state)
{
    (void)state;
    users.argon_t = 1;
    users.argon_m_kib = 1024;
    char hash[160];
    assert_int_equal(password_hash("secret12345", hash, sizeof hash), 0);
    assert_non_null(strstr(hash, "$argon2id$"));
    assert_true(password_verify(hash, "secret12345"));
    assert_false(password_verify(hash, "secret12346"));
    assert_false(password_verify(NULL, "secret12345")); /* unknown account */
    char again[160];
    assert_int_equal(password_hash("secret12345", again, sizeof again), 0);
    assert_string_not_equal(hash, again); /* fresh salt each time */
}

int main(void)
{
    log_init("users-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(password_policy_accepts_and_refuses),
        cmocka_unit_test(roles_round_trip_and_service_is_not_a_person),
        cmocka_unit_test(password_hash_verifies_only_the_same_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
