/*
 * rpc_owner_test: instance names are checked strictly, a new lot goes to
 * sorted[lot % n], and the resolver's order holds without Redis: a name of
 * "" is the legacy rule, an unrecorded lot asks the miss function, whose
 * final answers are cached and whose provisional ones are not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cache/cache.h"
#include "rpc/rpc.h"

static void names_are_short_lowercase_words(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool want;
    } cases[] = {
        { .in = "bids-0", .want = true },
        { .in = "b", .want = true },
        { .in = "bids-eu-west-12", .want = true },
        { .in = "0123456789012345678901234567890", .want = true }, /* 31 */
        { .in = "01234567890123456789012345678901", .want = false }, /* 32 */
        { .in = "", .want = false },
        { .in = "-bids", .want = false },
        { .in = "Bids-0", .want = false },
        { .in = "bids 0", .want = false },
        { .in = "bids_0", .want = false },
        { .in = "bids:0", .want = false },
        { .in = "bids\n0", .want = false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(rpc_owner_name_ok(cases[i].in), cases[i].want);
    assert_false(rpc_owner_name_ok(NULL));
}

static void new_lots_spread_over_the_sorted_names(void **state)
{
    (void)state;
    const char *names[] = { "bids-0", "bids-1", "bids-2" };
    int count[3] = { 0 };
    for (int64_t lot = 1000; lot < 1300; lot++) {
        const char *got = rpc_owner_choose(names, 3, lot);
        assert_string_equal(got, names[lot % 3]);
        count[lot % 3]++;
    }
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
    assert_string_equal(rpc_owner_choose(names, 1, 7), "bids-0");
}

typedef struct {
    int calls;
    const char *name;
    bool is_final;
    int rc;
} miss_stub;

static int miss(void *arg, int64_t lot_id, char *name, size_t namelen, bool *is_final)
{
    (void)lot_id;
    miss_stub *m = arg;
    m->calls++;
    snprintf(name, namelen, "%s", m->name);
    *is_final = m->is_final;
    return m->rc;
}

static void legacy_lots_follow_lot_mod_n(void **state)
{
    (void)state;
    char err[128], addr[256];
    miss_stub m = { .name = "", .is_final = true };
    rpc_owner *o = rpc_owner_new("10.0.0.1:1,10.0.0.2:1", miss, &m, err, sizeof err);
    assert_non_null(o);
    assert_int_equal(rpc_owner_addr(o, 7, "", addr, sizeof addr), 0);
    assert_string_equal(addr, "10.0.0.2:1");
    assert_int_equal(m.calls, 0); /* a recorded "" needs no lookup */
    assert_int_equal(rpc_owner_addr(o, 8, NULL, addr, sizeof addr), 0);
    assert_string_equal(addr, "10.0.0.1:1");
    assert_int_equal(m.calls, 1);
    assert_int_equal(rpc_owner_addr(o, 8, NULL, addr, sizeof addr), 0); /* cached: final */
    assert_int_equal(m.calls, 1);
    rpc_owner_free(o);
}

static void provisional_answers_are_not_cached(void **state)
{
    (void)state;
    char err[128], addr[256];
    miss_stub m = { .name = "", .is_final = false };
    rpc_owner *o = rpc_owner_new("10.0.0.1:1", miss, &m, err, sizeof err);
    assert_non_null(o);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rpc_owner_addr(o, 42, NULL, addr, sizeof addr), 0);
    assert_int_equal(m.calls, 3);
    m.rc = -1; /* the durable record cannot be read: legacy, nothing cached */
    assert_int_equal(rpc_owner_addr(o, 43, NULL, addr, sizeof addr), 0);
    assert_string_equal(addr, "10.0.0.1:1");
    m.name = "Not A Name";
    m.rc = 0;
    m.is_final = true;
    assert_int_equal(rpc_owner_addr(o, 44, NULL, addr, sizeof addr), 0);
    assert_string_equal(addr, "10.0.0.1:1");
    rpc_owner_free(o);
}

static void a_named_owner_needs_the_registry(void **state)
{
    (void)state;
    char err[128], addr[256];
    miss_stub m = { .name = "bids-7", .is_final = true };
    rpc_owner *o = rpc_owner_new("10.0.0.1:1", miss, &m, err, sizeof err);
    assert_non_null(o);
    /* Redis is unreachable and no address was ever cached for bids-7. */
    assert_true(rpc_owner_addr(o, 9, NULL, addr, sizeof addr) < 0);
    assert_true(rpc_owner_addr(o, 9, "bids-7", addr, sizeof addr) < 0);
    assert_int_equal(rpc_owner_pick(9, addr, sizeof addr), RDS_E_CONN);
    rpc_owner_free(o);
    assert_null(rpc_owner_new("", NULL, NULL, err, sizeof err));
}

int main(void)
{
    rds_configure("127.0.0.1:1"); /* nothing listens there */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_short_lowercase_words),
        cmocka_unit_test(new_lots_spread_over_the_sorted_names),
        cmocka_unit_test(legacy_lots_follow_lot_mod_n),
        cmocka_unit_test(provisional_answers_are_not_cached),
        cmocka_unit_test(a_named_owner_needs_the_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
