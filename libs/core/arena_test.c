/*
 * arena_test: alignment, copies, block chaining, large allocations, and
 * the cleanup contract (LIFO, exactly once, before memory is released) on
 * both arena_reset and arena_free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "core_test_util.h"

static bool is_aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

static void test_alloc_is_16_byte_aligned_for_every_size(void **state)
{
    (void)state;
    static const size_t sizes[] = { 0, 1, 3, 7, 15, 16, 17, 31, 100, 2047, 2048, 2049,
                                    5000, 8191, 8192, 8193, 100000 };
    arena *a = arena_new();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            unsigned char *p = arena_alloc(a, sizes[i]);
            assert_non_null(p);
            if (!is_aligned16(p))
                fail_msg("size %zu: %p not aligned", sizes[i], (void *)p);
            memset(p, 0xab, sizes[i]);
        }
    }
    arena_free(a);
}

static void test_allocations_keep_their_contents_across_blocks(void **state)
{
    (void)state;
    enum { N = 2000 };
    arena *a = arena_new();
    char *ptrs[N];
    for (int i = 0; i < N; i++)
        ptrs[i] = arena_printf(a, "lot-%d-%0*d", i, i % 40, i);
    for (int i = 0; i < N; i++) {
        char want[128];
        snprintf(want, sizeof want, "lot-%d-%0*d", i, i % 40, i);
        assert_string_equal(ptrs[i], want);
    }
    arena_free(a);
}

static void test_large_allocation_leaves_current_block_in_use(void **state)
{
    (void)state;
    arena *a = arena_new();
    char *small1 = arena_alloc(a, 16);
    char *big = arena_alloc(a, 1 << 20);
    char *small2 = arena_alloc(a, 16);
    memset(big, 1, 1 << 20);
    assert_ptr_equal(small2, small1 + 16);
    arena_free(a);
}

static void test_string_copies(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *in;
        size_t n;  /* SIZE_MAX: arena_strdup */
        const char *want;
    } cases[] = {
        { .name = "strdup", .in = "Audi A6 2019", .n = SIZE_MAX, .want = "Audi A6 2019" },
        { .name = "strdup empty", .in = "", .n = SIZE_MAX, .want = "" },
        { .name = "strndup shorter", .in = "Audi A6 2019", .n = 4, .want = "Audi" },
        { .name = "strndup longer than string", .in = "A6", .n = 100, .want = "A6" },
        { .name = "strndup zero", .in = "A6", .n = 0, .want = "" },
        { .name = "strdup NULL", .in = NULL, .n = SIZE_MAX, .want = NULL },
        { .name = "strndup NULL", .in = NULL, .n = 3, .want = NULL },
    };
    arena *a = arena_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = cases[i].n == SIZE_MAX ? arena_strdup(a, cases[i].in)
                                           : arena_strndup(a, cases[i].in, cases[i].n);
        if (!cases[i].want) {
            assert_null(got);
            continue;
        }
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\"", cases[i].name, got);
        if (cases[i].in)
            assert_ptr_not_equal(got, cases[i].in);
    }
    assert_string_equal(arena_printf(a, "%s-%05.1f-%d", "bid", 3.14159, -7), "bid-003.1--7");
    arena_free(a);
}

static void test_calloc_returns_zeroed_memory_after_reuse(void **state)
{
    (void)state;
    arena *a = arena_new();
    memset(arena_alloc(a, 4096), 0xff, 4096);
    arena_reset(a);
    unsigned char *p = arena_calloc(a, 512, 8);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(p[i], 0);
    arena_free(a);
}

static void calloc_overflow(void *arg)
{
    (void)arg;
    arena *a = arena_new();
    arena_calloc(a, SIZE_MAX / 2, 3);
}

static void test_calloc_overflow_panics(void **state)
{
    (void)state;
    char out[2048];
    int status = run_in_child(calloc_overflow, NULL, out, sizeof out);
    assert_true(died_of_abort(status));
    assert_non_null(strstr(out, "overflows"));
}

struct trace {
    char order[32];
    size_t n;
    const char *arena_text;   /* memory from the arena, read by a cleanup */
    bool text_was_intact;
};

static void note_a(void *arg) { struct trace *t = arg; t->order[t->n++] = 'a'; }
static void note_b(void *arg) { struct trace *t = arg; t->order[t->n++] = 'b'; }
static void note_c(void *arg) { struct trace *t = arg; t->order[t->n++] = 'c'; }

static void read_arena_text(void *arg)
{
    struct trace *t = arg;
    t->text_was_intact = strcmp(t->arena_text, "still here") == 0;
    t->order[t->n++] = 'r';
}

static void test_cleanups_run_last_registered_first_on_free(void **state)
{
    (void)state;
    struct trace t = { .n = 0 };
    arena *a = arena_new();
    arena_on_free(a, note_a, &t);
    arena_on_free(a, note_b, &t);
    arena_on_free(a, note_c, &t);
    arena_free(a);
    t.order[t.n] = '\0';
    assert_string_equal(t.order, "cba");
}

static void test_cleanups_run_once_on_reset_and_not_again_on_free(void **state)
{
    (void)state;
    struct trace t = { .n = 0 };
    arena *a = arena_new();
    arena_on_free(a, note_a, &t);
    arena_on_free(a, note_b, &t);
    arena_reset(a);
    t.order[t.n] = '\0';
    assert_string_equal(t.order, "ba");

    arena_on_free(a, note_c, &t);
    arena_free(a);
    t.order[t.n] = '\0';
    assert_string_equal(t.order, "bac");
}

static void test_cleanup_can_read_arena_memory_from_a_later_block(void **state)
{
    (void)state;
    struct trace t = { .n = 0 };
    arena *a = arena_new();
    for (int i = 0; i < 10; i++)
        arena_alloc(a, 2000);
    t.arena_text = arena_strdup(a, "still here");
    arena_on_free(a, read_arena_text, &t);
    arena_free(a);
    assert_true(t.text_was_intact);
}

static void test_reset_reuses_the_first_block(void **state)
{
    (void)state;
    arena *a = arena_new();
    void *first = arena_alloc(a, 64);
    for (int i = 0; i < 100; i++)
        arena_alloc(a, 1000);
    arena_alloc(a, 1 << 20);
    arena_reset(a);
    assert_ptr_equal(arena_alloc(a, 64), first);
    arena_free(a);
}

static void test_free_null_is_a_no_op(void **state)
{
    (void)state;
    arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_is_16_byte_aligned_for_every_size),
        cmocka_unit_test(test_allocations_keep_their_contents_across_blocks),
        cmocka_unit_test(test_large_allocation_leaves_current_block_in_use),
        cmocka_unit_test(test_string_copies),
        cmocka_unit_test(test_calloc_returns_zeroed_memory_after_reuse),
        cmocka_unit_test(test_calloc_overflow_panics),
        cmocka_unit_test(test_cleanups_run_last_registered_first_on_free),
        cmocka_unit_test(test_cleanups_run_once_on_reset_and_not_again_on_free),
        cmocka_unit_test(test_cleanup_can_read_arena_memory_from_a_later_block),
        cmocka_unit_test(test_reset_reuses_the_first_block),
        cmocka_unit_test(test_free_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
