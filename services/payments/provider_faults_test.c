/*
 * provider_faults_test: the card provider adapter under the simulator's
 * faults (provider_test_util.h): a 429 pauses and is never retried, 500s
 * are retried within the budget, a timeout after the charge is found again
 * by its key, bad keys, an unreachable provider, bad arguments refused
 * before sending, malformed answers never trusted, and one handle shared
 * by concurrent calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>

#include "provider_test_util.h"

static void test_429_is_backoff_with_retry_after_never_retried(void **state)
{
    (void)state;
    faults("{\"rate_limit\":{\"next\":1,\"retry_after\":7}}");
    int64_t reqs = count("requests"), charges = count("charges");
    prov_intent pi;
    prov_error e;
    char k[64];
    assert_int_equal(provider_authorize(sim.p, key_new(k), 10, "EUR", "tok_visa", NULL, &pi, &e),
                     PROV_BACKOFF);
    assert_int_equal(e.http_status, 429);
    assert_int_equal(e.retry_after_s, 7);
    assert_int_equal(count("requests"), reqs + 1);
    assert_int_equal(count("charges"), charges);
    /* After the pause the same key goes through once. */
    assert_int_equal(provider_authorize(sim.p, k, 10, "EUR", "tok_visa", NULL, &pi, &e), PROV_OK);
    assert_int_equal(count("charges"), charges + 1);
}

static void test_500s_are_retried_within_the_budget(void **state)
{
    (void)state;
    faults("{\"error_500\":{\"next\":2}}");
    int64_t errs = count("errors_500"), charges = count("charges");
    prov_intent pi;
    prov_error e;
    char k[64];
    assert_int_equal(provider_authorize(sim.p, key_new(k), 10, "EUR", "tok_visa", NULL, &pi, &e),
                     PROV_OK);
    assert_int_equal(count("errors_500"), errs + 2);
    assert_int_equal(count("charges"), charges + 1);

    /* 500s for ever: UNAVAILABLE once the budget is spent, after retries. */
    provider *quick = provider_open(sim.base, API_KEY, 300, 600);
    assert_non_null(quick);
    faults("{\"error_500\":{\"probability\":1}}");
    errs = count("errors_500");
    int64_t t0 = mono_us();
    assert_int_equal(provider_retrieve(quick, pi.id, &pi, &e), PROV_UNAVAILABLE);
    assert_true(mono_us() - t0 < 1500000);
    assert_int_equal(e.http_status, 500);
    faults("{}");
    assert_true(count("errors_500") >= errs + 2);
    provider_close(quick);
}

static void test_timeout_after_the_charge_then_same_key_finds_it(void **state)
{
    (void)state;
    /* One attempt only (budget == timeout): the caller sees UNAVAILABLE. */
    provider *quick = provider_open(sim.base, API_KEY, 300, 300);
    assert_non_null(quick);
    faults("{\"timeout_after_effect\":{\"next\":1,\"sleep_ms\":1500}}");
    int64_t charges = count("charges");
    prov_intent pi, again, found;
    prov_error e;
    char k[64];
    key_new(k);
    assert_int_equal(provider_authorize(quick, k, 31337, "EUR", "tok_visa", "lot 9", &pi, &e),
                     PROV_UNAVAILABLE);
    assert_int_equal(e.http_status, 0);
    await_count("charges", charges + 1); /* the charge was made */
    assert_int_equal(provider_find_by_key(sim.p, k, &found, &e), PROV_OK);
    assert_int_equal(provider_authorize(sim.p, k, 31337, "EUR", "tok_visa", "lot 9", &again, &e),
                     PROV_OK);
    assert_string_equal(again.id, found.id);
    assert_int_equal(count("charges"), charges + 1); /* and only once */
    provider_close(quick);

    /* With budget left the adapter retries by itself with the same key. */
    provider *retrying = provider_open(sim.base, API_KEY, 400, 5000);
    faults("{\"timeout_after_effect\":{\"next\":1,\"sleep_ms\":1500}}");
    int64_t replays = count("idempotent_replays");
    assert_int_equal(provider_authorize(retrying, key_new(k), 5, "EUR", "tok_visa", NULL, &pi, &e),
                     PROV_OK);
    assert_int_equal(count("charges"), charges + 2);
    assert_true(count("idempotent_replays") >= replays + 1);
    provider_close(retrying);
}

static void test_bad_api_key_is_rejected(void **state)
{
    (void)state;
    provider *bad = provider_open(sim.base, "sk_wrong", 1000, 2000);
    assert_non_null(bad);
    prov_intent pi;
    prov_error e;
    char k[64];
    int64_t charges = count("charges");
    assert_int_equal(provider_authorize(bad, key_new(k), 10, "EUR", "tok_visa", NULL, &pi, &e),
                     PROV_REJECTED);
    assert_int_equal(e.http_status, 401);
    assert_string_equal(e.code, "invalid_api_key");
    assert_int_equal(count("charges"), charges);
    provider_close(bad);
}

static void test_unreachable_provider_is_unavailable(void **state)
{
    (void)state;
    /* Port 1 on loopback: refused at once, retried until the budget ends. */
    provider *none = provider_open("http://127.0.0.1:1/", API_KEY, 200, 400);
    prov_intent pi;
    prov_error e;
    assert_int_equal(provider_retrieve(none, "pi_x", &pi, &e), PROV_UNAVAILABLE);
    assert_int_equal(e.http_status, 0);
    assert_string_equal(e.code, "network_error");
    provider_close(none);
}

static void test_bad_arguments_are_refused_before_sending(void **state)
{
    (void)state;
    assert_null(provider_open(NULL, API_KEY, 10, 10));
    assert_null(provider_open("ftp://x", API_KEY, 10, 10));
    assert_null(provider_open(sim.base, "a key", 10, 10));
    assert_null(provider_open(sim.base, API_KEY, 100, 10));
    int64_t reqs = count("requests");
    prov_intent pi;
    prov_transfer t;
    prov_error e;
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    prov_status got[] = {
        provider_authorize(sim.p, "k1", 0, "EUR", "tok_visa", NULL, &pi, &e),
        provider_authorize(sim.p, "k1", 1, "eur", "tok_visa", NULL, &pi, &e),
        provider_authorize(sim.p, "k1", 1, "EUR", "tok visa", NULL, &pi, &e),
        provider_authorize(sim.p, "k1", 1, "EUR", "tok_visa", "\xff\xfe", &pi, &e),
        provider_authorize(sim.p, longkey, 1, "EUR", "tok_visa", NULL, &pi, &e),
        provider_authorize(sim.p, "k\r\nX: 1", 1, "EUR", "tok_visa", NULL, &pi, &e),
        provider_authorize(sim.p, "", 1, "EUR", "tok_visa", NULL, &pi, &e),
        provider_capture(sim.p, "k2", "../refunds", 1, &pi, &e),
        provider_capture(sim.p, "k2", "pi_1", -5, &pi, &e),
        provider_cancel(sim.p, "k3", "pi_1?x=1", &pi, &e),
        provider_refund(sim.p, "k4", "pi_1", 0, &t, &e),
        provider_retrieve(sim.p, "", &pi, &e),
        provider_payout(sim.p, "k5", 1, "EUR", "", &t, &e),
        provider_retrieve_refund(sim.p, "re_1/../x", &t, &e),
        provider_retrieve_payout(sim.p, "", &t, &e),
        provider_retrieve_payout(sim.p, NULL, &t, &e),
        provider_authorize(NULL, "k6", 1, "EUR", "tok_visa", NULL, &pi, &e),
    };
    for (size_t i = 0; i < sizeof got / sizeof *got; i++)
        if (got[i] != PROV_REJECTED)
            fail_msg("case %zu: got %s", i, prov_status_name(got[i]));
    assert_int_equal(count("requests"), reqs);
}

/* Answers that break the contract: UNAVAILABLE with the field named. */
static void test_malformed_answers_are_unavailable_never_trusted(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    hold(1000, &pi);
    char ok[512];
    snprintf(ok, sizeof ok, "{\"id\":\"%s\",\"status\":\"requires_capture\",\"amount\":1000,"
             "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"eur\"}", pi.id);
    static const struct {
        const char *name, *body, *want_in_message;
        int status, pad;
        prov_status want;
    } cases[] = {
        { .name = "well formed", .body = NULL, .want = PROV_OK },
        { .name = "not json", .body = "<html>oops</html>", .want = PROV_UNAVAILABLE,
          .want_in_message = "JSON object" },
        { .name = "array", .body = "[]", .want = PROV_UNAVAILABLE },
        { .name = "empty", .body = "", .want = PROV_UNAVAILABLE },
        { .name = "no id", .body = "{\"status\":\"succeeded\",\"amount\":1}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'id'" },
        { .name = "id overlong",
          .body = "{\"id\":\"pi_0123456789012345678901234567890123456789012345678901234567890123\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'id'" },
        { .name = "id with a slash", .body = "{\"id\":\"pi/../x\"}", .want = PROV_UNAVAILABLE },
        { .name = "float amount", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":10.5,"
          "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'amount'" },
        { .name = "string amount", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":\"1000\","
          "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'amount'" },
        { .name = "negative captured", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":1000,"
          "\"amount_captured\":-1,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'amount_captured'" },
        { .name = "captured over amount", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":1000,"
          "\"amount_captured\":1001,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE },
        { .name = "refunded over captured", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":1000,"
          "\"amount_captured\":10,\"amount_refunded\":11,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'amount_refunded'" },
        { .name = "currency", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":1000,"
          "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"EURO\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'currency'" },
        { .name = "status a number", .body = "{\"id\":\"%s\",\"status\":5,\"amount\":1000,"
          "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "'status'" },
        { .name = "huge amount", .body = "{\"id\":\"%s\",\"status\":\"succeeded\",\"amount\":1e400}",
          .want = PROV_UNAVAILABLE },
        { .name = "another intent", .body = "{\"id\":\"pi_other\",\"status\":\"succeeded\",\"amount\":1000,"
          "\"amount_captured\":0,\"amount_refunded\":0,\"currency\":\"EUR\"}",
          .want = PROV_UNAVAILABLE, .want_in_message = "another intent" },
        { .name = "duplicate keys", .body = "{\"id\":\"%s\",\"id\":\"%s\"}", .want = PROV_UNAVAILABLE },
        { .name = "redirect", .body = "{}", .status = 302, .want = PROV_UNAVAILABLE },
        { .name = "400 without a body", .body = "", .status = 400, .want = PROV_REJECTED,
          .want_in_message = "HTTP 400" },
        { .name = "over 1 MiB", .body = "{}", .pad = 1100000, .want = PROV_UNAVAILABLE,
          .want_in_message = "1 MiB" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[600];
        if (cases[i].body == NULL)
            snprintf(body, sizeof body, "%s", ok);
        else
            snprintf(body, sizeof body, cases[i].body, pi.id, pi.id);
        json_t *spec = json_pack("{s:{s:i, s:s, s:i, s:i}}", "malformed", "next", 1, "body", body,
                                 "status", cases[i].status ? cases[i].status : 200, "pad",
                                 cases[i].pad);
        char *text = json_dumps(spec, 0);
        faults(text);
        free(text);
        json_decref(spec);
        prov_status st = provider_retrieve(sim.p, pi.id, &got, &e);
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s), want %s", cases[i].name, prov_status_name(st), e.message,
                     prov_status_name(cases[i].want));
        if (cases[i].want_in_message != NULL && strstr(e.message, cases[i].want_in_message) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].name, e.message,
                     cases[i].want_in_message);
        if (st != PROV_OK && got.id[0] != '\0')
            fail_msg("%s: a result was filled on failure", cases[i].name);
    }
}

/* One handle from many threads; one key from many threads charges once. */
enum { THREADS = 8, PER_THREAD = 5 };
static char shared_key[64];

static void *worker(void *arg)
{
    intptr_t fails = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        prov_intent pi;
        prov_error e;
        char k[64];
        if (provider_authorize(sim.p, key_new(k), 100 + i, "EUR", "tok_visa", NULL, &pi, &e) !=
            PROV_OK)
            fails++;
        if (provider_authorize(sim.p, shared_key, 77, "EUR", "tok_visa", NULL, &pi, &e) != PROV_OK)
            fails++;
    }
    (void)arg;
    return (void *)fails;
}

static void test_concurrent_calls_on_one_handle(void **state)
{
    (void)state;
    key_new(shared_key);
    int64_t charges = count("charges");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    intptr_t fails = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        fails += (intptr_t)r;
    }
    assert_int_equal(fails, 0);
    assert_int_equal(count("charges"), charges + THREADS * PER_THREAD + 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, no_faults)
    const struct CMUnitTest online[] = {
        T(test_429_is_backoff_with_retry_after_never_retried),
        T(test_500s_are_retried_within_the_budget),
        T(test_timeout_after_the_charge_then_same_key_finds_it),
        T(test_bad_api_key_is_rejected),
        T(test_unreachable_provider_is_unavailable),
        T(test_bad_arguments_are_refused_before_sending),
        T(test_malformed_answers_are_unavailable_never_trusted),
        T(test_concurrent_calls_on_one_handle),
    };
#undef T
    return cmocka_run_group_tests_name("simulator faults", online, sim_start, sim_stop);
}
