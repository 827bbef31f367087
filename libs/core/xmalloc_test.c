/*
 * xmalloc_test: the x* helpers return usable memory or abort, never NULL;
 * copies and formatting are exact; panic() leaves a JSON error line on
 * stderr and dies of SIGABRT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_test_util.h"

static void test_zero_byte_requests_return_distinct_pointers(void **state)
{
    (void)state;
    void *a = xmalloc(0), *b = xmalloc(0), *c = xcalloc(0, 8), *d = xrealloc(NULL, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_ptr_not_equal(a, b);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_calloc_zeroes_and_realloc_keeps_contents(void **state)
{
    (void)state;
    unsigned char *p = xcalloc(1000, 4);
    for (size_t i = 0; i < 4000; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0x5a, 4000);
    p = xrealloc(p, 1 << 20);
    for (size_t i = 0; i < 4000; i++)
        assert_int_equal(p[i], 0x5a);
    free(p);
}

static void test_string_copies(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;   /* SIZE_MAX: xstrdup */
        const char *want;
    } cases[] = {
        { .in = "BMW X5", .n = SIZE_MAX, .want = "BMW X5" },
        { .in = "", .n = SIZE_MAX, .want = "" },
        { .in = "BMW X5", .n = 3, .want = "BMW" },
        { .in = "BMW", .n = 64, .want = "BMW" },
        { .in = "BMW", .n = 0, .want = "" },
        { .in = NULL, .n = SIZE_MAX, .want = NULL },
        { .in = NULL, .n = 2, .want = NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = cases[i].n == SIZE_MAX ? xstrdup(cases[i].in)
                                           : xstrndup(cases[i].in, cases[i].n);
        if (!cases[i].want)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void test_asprintf_formats_any_length(void **state)
{
    (void)state;
    char *s = xasprintf("%s #%d at %.2f", "lot", 17, 1234.5);
    assert_string_equal(s, "lot #17 at 1234.50");
    free(s);
    s = xasprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
    s = xasprintf("%5000d", 1);
    assert_int_equal(strlen(s), 5000);
    assert_int_equal(s[4999], '1');
    free(s);
}

static void do_panic(void *arg)
{
    (void)arg;
    log_init("xmalloc_test", LOG_ERROR);
    panic("ledger total %d != %d", 10, 11);
}

static void test_panic_logs_an_error_line_and_aborts(void **state)
{
    (void)state;
    char out[2048];
    int status = run_in_child(do_panic, NULL, out, sizeof out);
    assert_true(died_of_abort(status));
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    if (!j)
        fail_msg("not a JSON line: %s", out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "service")), "xmalloc_test");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "panic: ledger total 10 != 11");
    json_decref(j);
}

static void exhaust(void *arg)
{
    size_t n = *(size_t *)arg;
    void *volatile p = xmalloc(n);
    (void)p;
}

static void test_out_of_memory_aborts_with_a_message(void **state)
{
    (void)state;
    size_t n = SIZE_MAX - 4096;
    char out[2048];
    int status = run_in_child(exhaust, &n, out, sizeof out);
#ifdef __SANITIZE_ADDRESS__
    /* ASan refuses the request itself and exits before malloc returns. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
    assert_true(died_of_abort(status));
    assert_non_null(strstr(out, "out of memory in xmalloc"));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_byte_requests_return_distinct_pointers),
        cmocka_unit_test(test_calloc_zeroes_and_realloc_keeps_contents),
        cmocka_unit_test(test_string_copies),
        cmocka_unit_test(test_asprintf_formats_any_length),
        cmocka_unit_test(test_panic_logs_an_error_line_and_aborts),
        cmocka_unit_test(test_out_of_memory_aborts_with_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
