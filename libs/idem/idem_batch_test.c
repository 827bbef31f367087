/*
 * Many calls' keys in one transaction against PostgreSQL: each item finds
 * its key as the single calls made one after another would (stored
 * answers, answers of earlier items, keys refused items left free); what
 * the batch stores is what a second batch and the single calls then find;
 * and a batch waits for a single call holding one of its keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <cmocka.h>

#include "idem/idem_test_util.h"

enum { MAX_ITEMS = 300 };

/* One item: its key and request, and whether its call is refused when it
 * gets to run (its key then stays free). It answers 1000 + request. */
typedef struct {
    const char *key;
    int64_t request;
    bool is_refused;
} item_spec;

typedef struct {
    const item_spec *items;
    size_t n;
    const char *scope;
    /* results, per item */
    idem_state state[MAX_ITEMS];
    int64_t got[MAX_ITEMS];     /* units of the answer it gives, or -1 */
    size_t earlier;             /* keys claimed before the batch */
    int rc;
} batch_run;

typedef struct {
    batch_run *r;
    idem_batch *b;
    rpc_call *c;
} batch_ctx;

static int batch_body(db_conn *conn, void *arg)
{
    batch_ctx *x = arg;
    batch_run *r = x->r;
    idem_batch_attempt(x->b);
    int rc = idem_batch_prepare(conn);
    if (rc < 0 || (rc = db_pipe_begin(conn, NULL, 0)) < 0)
        return rc;
    idem_batch_send_claim(x->b, conn);
    PGresult *res = NULL;
    if ((rc = db_pipe_finish_results(conn, &res, 1)) < 0)
        return rc;
    r->earlier = idem_batch_read_claim(x->b, res);
    PQclear(res);
    if (r->earlier > 0 && (rc = idem_batch_load(x->b, conn)) < 0)
        return rc;
    for (size_t i = 0; i < r->n; i++) {
        r->state[i] = idem_batch_check(x->b, i);
        if (r->state[i] == IDEM_NEW && !r->items[i].is_refused)
            idem_batch_take(x->b, i);
    }
    for (size_t i = 0; i < r->n; i++) {
        r->got[i] = -1;
        if (r->state[i] == IDEM_NEW && !r->items[i].is_refused) {
            idem_batch_answer(x->b, i, idt_money(x->c, 1000 + r->items[i].request));
            r->got[i] = 1000 + r->items[i].request;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->state[i] == IDEM_REPLAY)
            r->got[i] = idt_units(idem_batch_replay(x->b, i));
    if (!idem_batch_has_claims(x->b))
        return 0;
    if ((rc = db_pipe_begin(conn, NULL, 0)) < 0)
        return rc;
    idem_batch_send_finish(x->b, conn);
    db_pipe_send_commit(conn);
    return db_pipe_finish(conn);
}

/* Runs the batch of r as caller "bids" in one transaction. */
static void run_batch(db_pool *pool, batch_run *r)
{
    rpc_call *c = idt_call("bids");
    batch_ctx x = { .r = r, .c = c,
                    .b = idem_batch_new(c, r->scope, &gavel__common__v1__money__descriptor,
                                        r->n) };
    for (size_t i = 0; i < r->n; i++)
        idem_batch_set(x.b, i, r->items[i].key, idt_money(c, r->items[i].request));
    r->rc = db_tx(pool, DB_READ_COMMITTED, batch_body, &x);
    rpc_call_free_detached(c);
}

static void items_find_their_keys_as_single_calls_one_after_another(void **state)
{
    (void)state;
    /* Answered before the batch, by single calls of the same caller. */
    static const idt_single before[] = {
        IDT_CALL("bids", "ReserveFunds", "a", 1, 101),
        IDT_CALL("bids", "ReserveFunds", "b", 2, 102),
        IDT_CALL("bids", "ReleaseFunds", "c", 3, 999), /* another scope: not c's key */
    };
    static const item_spec items[] = {
        { .key = "a", .request = 1 },
        { .key = "b", .request = 9 },
        { .key = "c", .request = 3 },
        { .key = "c", .request = 3 },
        { .key = "c", .request = 4 },
        { .key = "d", .request = 5, .is_refused = true },
        { .key = "d", .request = 6 },
        { .key = "e", .request = 7, .is_refused = true },
    };
    static const struct {
        idem_state state;
        int64_t got;
    } want[2][8] = {
        { /* the batch */
          { IDEM_REPLAY, 101 },   /* a: stored, same request */
          { IDEM_CONFLICT, -1 },  /* b: stored, another request */
          { IDEM_NEW, 1003 },     /* c: new, applied */
          { IDEM_REPLAY, 1003 },  /* c again: the earlier item's answer */
          { IDEM_CONFLICT, -1 },  /* c, another request */
          { IDEM_NEW, -1 },       /* d: new, refused: stays free */
          { IDEM_NEW, 1006 },     /* d: so this one takes it */
          { IDEM_NEW, -1 } },     /* e: refused: its claim is given back */
        { /* the same batch again: every key as the first one left it */
          { IDEM_REPLAY, 101 }, { IDEM_CONFLICT, -1 }, { IDEM_REPLAY, 1003 },
          { IDEM_REPLAY, 1003 }, { IDEM_CONFLICT, -1 }, { IDEM_CONFLICT, -1 },
          { IDEM_REPLAY, 1006 }, { IDEM_NEW, -1 } },
    };
    idt_db d;
    idt_db_open(&d, 2);
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        idt_single s = before[i];
        idt_single_call(d.pool, &s);
        assert_int_equal(s.rc, 0);
    }
    for (int pass = 0; pass < 2; pass++) {
        batch_run r = { .items = items, .n = sizeof items / sizeof items[0],
                        .scope = "ReserveFunds" };
        run_batch(d.pool, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.earlier, pass == 0 ? 2 : 4); /* a, b; then c, d too */
        for (size_t i = 0; i < r.n; i++) {
            print_message("pass %d item %zu\n", pass, i);
            assert_int_equal(r.state[i], want[pass][i].state);
            assert_int_equal(r.got[i], want[pass][i].got);
        }
    }
    /* What the batch stored, the single calls find. */
    static const struct {
        idt_single call;
        idem_state want;
        int64_t shown;
    } after[] = {
        { IDT_CALL("bids", "ReserveFunds", "c", 3, 0), IDEM_REPLAY, 1003 },
        { IDT_CALL("bids", "ReserveFunds", "d", 5, 0), IDEM_CONFLICT, 1006 },
        { IDT_CALL("bids", "ReserveFunds", "e", 8, 0), IDEM_NEW, -1 },
        { IDT_CALL("bids", "ReleaseFunds", "c", 3, 0), IDEM_REPLAY, 999 },
        { IDT_CALL("users", "ReserveFunds", "c", 3, 0), IDEM_NEW, -1 },
    };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        idt_single s = after[i].call;
        s.fails = true; /* look, change nothing */
        idt_single_call(d.pool, &s);
        assert_int_equal(s.state, after[i].want);
        assert_int_equal(s.shown, after[i].shown);
    }
    assert_int_equal(test_sql_i64(d.pg, "SELECT count(*) FROM idem_keys WHERE response IS NULL"),
                     0);
    idt_db_close(&d);
}

static void a_full_batch_of_new_keys_is_stored_whole(void **state)
{
    (void)state;
    static item_spec items[MAX_ITEMS];
    static char keys[MAX_ITEMS][24];
    for (size_t i = 0; i < MAX_ITEMS; i++) {
        /* Keys out of byte order, with characters arrays must quote. */
        snprintf(keys[i], sizeof keys[i], "k\"{%zu},\\", MAX_ITEMS - i);
        items[i] = (item_spec){ .key = keys[i], .request = (int64_t)i };
    }
    idt_db d;
    idt_db_open(&d, 1);
    for (int pass = 0; pass < 2; pass++) {
        batch_run r = { .items = items, .n = MAX_ITEMS, .scope = "ReserveFunds" };
        run_batch(d.pool, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.earlier, pass == 0 ? 0 : MAX_ITEMS);
        for (size_t i = 0; i < MAX_ITEMS; i++) {
            assert_int_equal(r.state[i], pass == 0 ? IDEM_NEW : IDEM_REPLAY);
            assert_int_equal(r.got[i], 1000 + (int64_t)i);
        }
    }
    assert_int_equal(test_sql_i64(d.pg, "SELECT count(*) FROM idem_keys WHERE response IS NOT "
                                       "NULL"), MAX_ITEMS);
    idt_db_close(&d);
}

typedef struct {
    db_pool *pool;
    batch_run *r;
} batch_thread_arg;

static void *batch_thread(void *arg)
{
    batch_thread_arg *a = arg;
    run_batch(a->pool, a->r);
    return NULL;
}

static void a_batch_waits_for_a_single_call_holding_its_key(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool first_commits;
        idem_state want;
        int64_t got;
    } cases[] = {
        { .name = "the single call commits: the item replays it", .first_commits = true,
          .want = IDEM_REPLAY, .got = 7 },
        { .name = "the single call fails: the item takes the key", .first_commits = false,
          .want = IDEM_NEW, .got = 1100 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s\n", cases[i].name);
        idt_db d;
        idt_db_open(&d, 2);
        idt_open_claim first;
        idt_claim_open(&d, &first, (idt_single)IDT_CALL("bids", "ReserveFunds", "x", 100, 7));
        static const item_spec items[] = { { .key = "w", .request = 1 },
                                           { .key = "x", .request = 100 } };
        batch_run r = { .items = items, .n = 2, .scope = "ReserveFunds" };
        batch_thread_arg a = { .pool = d.pool, .r = &r };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, batch_thread, &a), 0);
        idt_wait_until_blocked(&d, &first);
        idt_claim_end(&d, &first, cases[i].first_commits);
        pthread_join(t, NULL);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.state[0], IDEM_NEW);
        assert_int_equal(r.state[1], cases[i].want);
        assert_int_equal(r.got[1], cases[i].got);
        idt_db_close(&d);
    }
}

int main(void)
{
    log_init("idem-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(items_find_their_keys_as_single_calls_one_after_another),
        cmocka_unit_test(a_full_batch_of_new_keys_is_stored_whole),
        cmocka_unit_test(a_batch_waits_for_a_single_call_holding_its_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
