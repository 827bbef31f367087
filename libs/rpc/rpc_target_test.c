/*
 * rpc__target_list: which GAVEL_*_ADDR values become a balanced channel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/rpc_int.h"

static void a_list_of_ipv4_addresses_gets_the_ipv4_scheme(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(rpc__target_list("127.0.0.1:50051,127.0.0.1:50061", out, sizeof out), 1);
    assert_string_equal(out, "ipv4:127.0.0.1:50051,127.0.0.1:50061");
    assert_int_equal(rpc__target_list("10.0.0.1:1,10.0.0.2:65535,10.0.0.3:80", out,
                                      sizeof out), 1);
    assert_string_equal(out, "ipv4:10.0.0.1:1,10.0.0.2:65535,10.0.0.3:80");
}

static void one_address_or_a_grpc_target_is_left_alone(void **state)
{
    (void)state;
    char out[64] = "untouched";
    assert_int_equal(rpc__target_list("127.0.0.1:50051", out, sizeof out), 0);
    assert_int_equal(rpc__target_list("users:50051", out, sizeof out), 0);
    assert_int_equal(rpc__target_list("ipv4:127.0.0.1:1,127.0.0.1:2", out, sizeof out), 0);
    assert_int_equal(rpc__target_list("dns:///a:1,b:2", out, sizeof out), 0);
    assert_string_equal(out, "untouched");
}

static void a_malformed_list_is_refused(void **state)
{
    (void)state;
    char out[256];
    static const char *const bad[] = {
        "users-0:50051,users-1:50051",     /* names: not for the ipv4 resolver */
        "127.0.0.1:50051,",                /* empty element */
        ",127.0.0.1:50051",
        "127.0.0.1:50051,,127.0.0.1:2",
        "127.0.0.1:0,127.0.0.1:2",         /* port out of range */
        "127.0.0.1:65536,127.0.0.1:2",
        "127.0.0.1:5x,127.0.0.1:2",
        "127.0.0.1,127.0.0.1:2",           /* no port */
        "127.0.0.1:,127.0.0.1:2",
        "127.0.0.256:1,127.0.0.1:2",
        "[::1]:1,[::1]:2",
        "127.0.0.1:1 ,127.0.0.1:2",
        "127.0.0.1:1234567,127.0.0.1:2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rpc__target_list(bad[i], out, sizeof out), -1);
    /* Does not fit the caller's buffer. */
    char tiny[16];
    assert_int_equal(rpc__target_list("127.0.0.1:1,127.0.0.1:2", tiny, sizeof tiny), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_list_of_ipv4_addresses_gets_the_ipv4_scheme),
        cmocka_unit_test(one_address_or_a_grpc_target_is_left_alone),
        cmocka_unit_test(a_malformed_list_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
