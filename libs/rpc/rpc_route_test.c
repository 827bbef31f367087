/*
 * rpc_route_test: key k goes to address k % N of the list, the same list
 * gives the same answer everywhere, and malformed lists are refused with
 * a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/rpc.h"

static void keys_go_to_key_mod_n(void **state)
{
    (void)state;
    char err[128];
    rpc_route *r = rpc_route_parse("10.0.0.1:50053,10.0.0.2:50053,10.0.0.3:50053", err,
                                   sizeof err);
    assert_non_null(r);
    assert_int_equal(rpc_route_count(r), 3);
    assert_string_equal(rpc_route_pick(r, 3), "10.0.0.1:50053");
    assert_string_equal(rpc_route_pick(r, 4), "10.0.0.2:50053");
    assert_string_equal(rpc_route_pick(r, 5), "10.0.0.3:50053");
    assert_string_equal(rpc_route_pick(r, 900000002), "10.0.0.3:50053"); /* 900000002 % 3 = 2 */
    assert_string_equal(rpc_route_pick(r, INT64_MAX), "10.0.0.2:50053");  /* % 3 = 1 */
    assert_int_equal(rpc_route_index(3, -1), 1); /* never out of range */
    assert_int_equal(rpc_route_index(3, INT64_MIN), rpc_route_index(3, INT64_MIN));
    assert_true(rpc_route_index(3, INT64_MIN) < 3);
    rpc_route_free(r);
}

static void one_address_takes_every_key(void **state)
{
    (void)state;
    char err[128];
    rpc_route *r = rpc_route_parse("127.0.0.1:50053", err, sizeof err);
    assert_non_null(r);
    for (int64_t k = 1; k < 100; k++)
        assert_string_equal(rpc_route_pick(r, k), "127.0.0.1:50053");
    rpc_route_free(r);
}

static void malformed_lists_are_refused(void **state)
{
    (void)state;
    const char *bad[] = { "", "a:1,", ",a:1", "a:1,,b:2", "a:1, b:2", NULL };
    char err[128];
    for (int i = 0; bad[i] != NULL; i++) {
        err[0] = '\0';
        assert_null(rpc_route_parse(bad[i], err, sizeof err));
        assert_true(strlen(err) > 0);
    }
    assert_null(rpc_route_parse(NULL, err, sizeof err));
    char many[RPC_ROUTE_MAX * 4 + 8];
    size_t len = 0;
    for (int i = 0; i <= RPC_ROUTE_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, "%sa:1", i ? "," : "");
    assert_null(rpc_route_parse(many, err, sizeof err));
    assert_non_null(strstr(err, "more than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_go_to_key_mod_n),
        cmocka_unit_test(one_address_takes_every_key),
        cmocka_unit_test(malformed_lists_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
