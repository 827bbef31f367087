/*
 * One call's key against PostgreSQL: what a second call with a key finds
 * after a first one (replay, conflict, its own key, a key freed by a
 * failure), and what it finds when it comes while the first is still open
 * (it waits on the row, then replays or, the first having failed, claims).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <cmocka.h>

#include "idem/idem_test_util.h"

static void a_second_call_finds_what_the_first_left(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        idt_single first, second;
        idem_state want;
        int64_t shown;       /* the first answer shown to the second call, or -1 */
        idem_state again;    /* the first call made again, after both */
        int64_t again_shown;
    } cases[] = {
        { .name = "the same request replays the first answer",
          .first = IDT_CALL("svc", "Deposit", "k", 100, 7),
          .second = IDT_CALL("svc", "Deposit", "k", 100, 8),
          .want = IDEM_REPLAY, .shown = 7, .again = IDEM_REPLAY, .again_shown = 7 },
        { .name = "another request under the key conflicts",
          .first = IDT_CALL("svc", "Deposit", "k", 100, 7),
          .second = IDT_CALL("svc", "Deposit", "k", 101, 8),
          .want = IDEM_CONFLICT, .shown = 7, .again = IDEM_REPLAY, .again_shown = 7 },
        { .name = "another caller's key is its own",
          .first = IDT_CALL("svc", "Deposit", "k", 100, 7),
          .second = IDT_CALL("42", "Deposit", "k", 101, 8),
          .want = IDEM_NEW, .shown = -1, .again = IDEM_REPLAY, .again_shown = 7 },
        { .name = "another scope is another key",
          .first = IDT_CALL("svc", "Deposit", "k", 100, 7),
          .second = IDT_CALL("svc", "ReserveFunds", "k", 100, 8),
          .want = IDEM_NEW, .shown = -1, .again = IDEM_REPLAY, .again_shown = 7 },
        { .name = "a call that failed leaves its key free",
          .first = IDT_FAILING("svc", "Deposit", "k", 100, 7),
          .second = IDT_CALL("svc", "Deposit", "k", 101, 8),
          .want = IDEM_NEW, .shown = -1, .again = IDEM_CONFLICT, .again_shown = 8 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        idt_db d;
        idt_db_open(&d, 2);
        idt_single first = cases[i].first, second = cases[i].second;
        idt_single_call(d.pool, &first);
        assert_int_equal(first.rc, first.fails ? DB_E_ABORT : 0);
        assert_int_equal(first.state, IDEM_NEW);
        idt_single_call(d.pool, &second);
        assert_int_equal(second.rc, 0);
        assert_int_equal(second.state, cases[i].want);
        assert_int_equal(second.shown, cases[i].shown);
        /* Every call left at most one row, always with an answer. */
        char *sql = xasprintf("SELECT count(*) FROM idem_keys WHERE scope = '%s' AND "
                              "caller = '%s' AND key = '%s' AND response IS NOT NULL",
                              first.scope, first.subject, first.key);
        assert_int_equal(test_sql_i64(d.pg, sql), 1);
        free(sql);
        assert_int_equal(test_sql_i64(d.pg, "SELECT count(*) FROM idem_keys WHERE response IS NULL"),
                         0);
        idt_single again = cases[i].first;
        again.fails = false;
        idt_single_call(d.pool, &again);
        assert_int_equal(again.state, cases[i].again);
        assert_int_equal(again.shown, cases[i].again_shown);
        idt_db_close(&d);
    }
}

typedef struct {
    db_pool *pool;
    idt_single *s;
} second_arg;

static void *second_call(void *arg)
{
    second_arg *a = arg;
    idt_single_call(a->pool, a->s);
    return NULL;
}

static void a_call_during_an_open_claim_waits_for_its_end(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool first_commits;
        int64_t request;     /* the second call's */
        idem_state want;
        int64_t shown;
    } cases[] = {
        { .name = "the first commits: the same request replays it", .first_commits = true,
          .request = 100, .want = IDEM_REPLAY, .shown = 7 },
        { .name = "the first commits: another request conflicts", .first_commits = true,
          .request = 5, .want = IDEM_CONFLICT, .shown = 7 },
        { .name = "the first rolls back: the second claims the key", .first_commits = false,
          .request = 100, .want = IDEM_NEW, .shown = -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        idt_db d;
        idt_db_open(&d, 2);
        idt_open_claim first;
        idt_claim_open(&d, &first, (idt_single)IDT_CALL("bids", "ReserveFunds", "h1", 100, 7));
        idt_single second = IDT_CALL("bids", "ReserveFunds", "h1", cases[i].request, 9);
        second_arg a = { .pool = d.pool, .s = &second };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, second_call, &a), 0);
        idt_wait_until_blocked(&d, &first);
        idt_claim_end(&d, &first, cases[i].first_commits);
        pthread_join(t, NULL);
        assert_int_equal(second.rc, 0);
        assert_int_equal(second.state, cases[i].want);
        assert_int_equal(second.shown, cases[i].shown);
        idt_db_close(&d);
    }
}

static void storing_under_a_key_not_claimed_is_an_error(void **state)
{
    (void)state;
    idt_db d;
    idt_db_open(&d, 1);
    rpc_call *c = idt_call("svc");
    idt_single s = IDT_CALL("svc", "Deposit", "never-claimed", 1, 1);
    idem_key k = idt_key(c, &s);
    db_conn *conn = db_pool_get(d.pool, 1000);
    assert_int_equal(idem_store(c, conn, &k, idt_money(c, 1)), DB_E_SQL);
    db_pool_put(d.pool, conn);
    rpc_call_free_detached(c);
    idt_db_close(&d);
}

int main(void)
{
    log_init("idem-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_second_call_finds_what_the_first_left),
        cmocka_unit_test(a_call_during_an_open_claim_waits_for_its_end),
        cmocka_unit_test(storing_under_a_key_not_claimed_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
