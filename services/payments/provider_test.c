/*
 * provider_test: the card provider adapter's calls against the real
 * simulator (provider_test_util.h): holds, captures, cancels, refunds,
 * reads, payouts and declines, with the simulator's counters proving what
 * happened on its side; and the webhook signature check on its own. The
 * adapter's behaviour under faults is in provider_faults_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "provider_test_util.h"

/* ---- webhook signatures (no simulator needed) ---- */

static void sign(const char *secret, const char *ts, const char *body, char hex[65])
{
    char *msg = xasprintf("%s.%s", ts, body);
    uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)msg, strlen(msg), mac, &ml);
    free(msg);
    hex_encode(mac, 32, hex);
}

static void test_webhook_verify_table(void **state)
{
    (void)state;
    const int64_t now = 1800000000;
    const char *body = "{\"id\":\"evt_1\",\"type\":\"payment_intent.captured\"}";
    char good[65], other[65], empty[65];
    sign("s3cret", "1800000000", body, good);
    sign("wrong", "1800000000", body, other);
    sign("s3cret", "1800000000", "", empty);
    char h[20][400];
    int i = 0;
    static const int want[] = { 0, -1, 0, -1, -1, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,
                                -1, -1 };
    snprintf(h[i++], 400, "t=1800000000,v1=%s", good);                       /* valid */
    snprintf(h[i++], 400, "t=1800000000,v1=%s", other);                      /* wrong secret */
    snprintf(h[i++], 400, "t=1800000000,v1=%s,v1=%s", other, good);          /* rotation */
    snprintf(h[i++], 400, "t=1800000000,v1=%s,v1=%s", other, other);         /* none matches */
    snprintf(h[i++], 400, "t=1799999000,v1=%s", good);                       /* stale, wrong t */
    snprintf(h[i++], 400, "v1=%s, t=1800000000, v0=abc", good);              /* order, spaces */
    snprintf(h[i++], 400, "t=1800000000,v1=%s", empty);                      /* empty body */
    snprintf(h[i++], 400, "t=1800000000");                                   /* no v1 */
    snprintf(h[i++], 400, "v1=%s", good);                                    /* no t */
    snprintf(h[i++], 400, "t=18e8,v1=%s", good);                             /* t not digits */
    snprintf(h[i++], 400, "t=1800000000,v1=%.63s", good);                    /* short hex */
    snprintf(h[i++], 400, "t=1800000000,v1=%.62szz", good);                  /* not hex */
    snprintf(h[i++], 400, "t=1800000000,t=1800000000,v1=%s", good);          /* two t */
    snprintf(h[i++], 400, "%s", "");                                         /* empty */
    snprintf(h[i++], 400, "t=1800000000,,v1=%s", good);                      /* empty item */
    snprintf(h[i++], 400, "t=-1800000000,v1=%s", good);                      /* sign */
    snprintf(h[i++], 400, "t=1800000000,v1=%s,", good);                      /* trailing comma */
    snprintf(h[i++], 400, "t=1800000000,v1=%s", good);                       /* body differs */
    snprintf(h[i++], 400, "t=1800000000,v1=%s", good);                       /* NULL body */
    for (int k = 0; k < i; k++) {
        const char *b = k == 6 ? "" : k == 17 ? "{\"id\":\"evt_2\"}" : body;
        const void *bp = k == 18 ? NULL : b;
        size_t bl = strlen(b);
        int got = provider_webhook_verify("s3cret", h[k], bp, bl, now, 300);
        if (got != want[k])
            fail_msg("case %d (%s): got %d, want %d", k, h[k], got, want[k]);
    }
    assert_int_equal(provider_webhook_verify(NULL, h[0], body, strlen(body), now, 300), -1);
    assert_int_equal(provider_webhook_verify("", h[0], body, strlen(body), now, 300), -1);
    assert_int_equal(provider_webhook_verify("s3cret", NULL, body, strlen(body), now, 300), -1);
}

static void test_webhook_verify_timestamp_tolerance_both_ways(void **state)
{
    (void)state;
    const char *body = "{}";
    char sig[65], h[128];
    sign("k", "1800000000", body, sig);
    snprintf(h, sizeof h, "t=1800000000,v1=%s", sig);
    static const struct {
        int64_t now;
        int tol;
        int want;
    } cases[] = {
        { .now = 1800000000, .tol = 0, .want = 0 },
        { .now = 1800000300, .tol = 300, .want = 0 },    /* edge, old */
        { .now = 1800000301, .tol = 300, .want = -1 },   /* stale */
        { .now = 1799999700, .tol = 300, .want = 0 },    /* edge, ahead */
        { .now = 1799999699, .tol = 300, .want = -1 },   /* from the future */
        { .now = 1800000000, .tol = -1, .want = -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (provider_webhook_verify("k", h, body, 2, cases[i].now, cases[i].tol) != cases[i].want)
            fail_msg("case %zu: now %lld tol %d", i, (long long)cases[i].now, cases[i].tol);
    char longh[5000];
    memset(longh, 'a', sizeof longh - 1);
    longh[sizeof longh - 1] = '\0';
    assert_int_equal(provider_webhook_verify("k", longh, body, 2, 1800000000, 300), -1);
}

/* The simulator signs what the C side verifies: the two agree on the scheme. */
static void test_webhook_signed_by_simulator_verifies(void **state)
{
    (void)state;
    int64_t now = now_us() / 1000000;
    json_t *r = ctl("/_control/sign", "{\"body\":\"{\\\"id\\\":\\\"evt_x\\\"}\"}");
    const char *h = json_string_value(json_object_get(r, "signature"));
    assert_non_null(h);
    const char *body = "{\"id\":\"evt_x\"}";
    assert_int_equal(provider_webhook_verify(HOOK_SECRET, h, body, strlen(body), now, 60), 0);
    assert_int_equal(provider_webhook_verify("another", h, body, strlen(body), now, 60), -1);
    json_decref(r);
}

/* ---- calls against the simulator ---- */

static void test_authorize_holds_the_amount(void **state)
{
    (void)state;
    int64_t before = count("charges");
    prov_intent pi;
    hold(123456, &pi);
    assert_true(strncmp(pi.id, "pi_", 3) == 0);
    assert_int_equal(pi.amount, 123456);
    assert_int_equal(pi.amount_captured, 0);
    assert_string_equal(pi.currency, "EUR");
    assert_true(pi.expires_at_s > now_us() / 1000000);
    assert_int_equal(count("charges"), before + 1);
}

static void test_capture_exact_amount_below_the_hold(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    char k[64];
    hold(10000, &pi);
    assert_int_equal(provider_capture(sim.p, key_new(k), pi.id, 9000, &got, &e), PROV_OK);
    assert_int_equal(got.state, PROV_INTENT_SUCCEEDED);
    assert_int_equal(got.amount_captured, 9000);
    assert_string_equal(got.id, pi.id);
    /* The same key again: the same answer, not a second capture. */
    int64_t caps = count("captures");
    assert_int_equal(provider_capture(sim.p, k, pi.id, 9000, &got, &e), PROV_OK);
    assert_int_equal(count("captures"), caps);
    /* The same key for another amount: refused. */
    assert_int_equal(provider_capture(sim.p, k, pi.id, 8000, &got, &e), PROV_REJECTED);
    assert_int_equal(e.http_status, 422);
    assert_string_equal(e.code, "idempotency_key_reused");
}

static void test_capture_over_the_hold_is_rejected(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    char k[64];
    hold(5000, &pi);
    assert_int_equal(provider_capture(sim.p, key_new(k), pi.id, 5001, &got, &e), PROV_REJECTED);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "amount_too_large");
    assert_true(strlen(e.message) > 0);
    assert_int_equal(provider_retrieve(sim.p, pi.id, &got, &e), PROV_OK);
    assert_int_equal(got.state, PROV_INTENT_REQUIRES_CAPTURE);
}

static void test_cancel_releases_the_hold_once(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    char k[64];
    hold(700, &pi);
    assert_int_equal(provider_cancel(sim.p, key_new(k), pi.id, &got, &e), PROV_OK);
    assert_int_equal(got.state, PROV_INTENT_CANCELED);
    assert_int_equal(provider_cancel(sim.p, key_new(k), pi.id, &got, &e), PROV_REJECTED);
    assert_int_equal(provider_capture(sim.p, key_new(k), pi.id, 700, &got, &e), PROV_REJECTED);
    assert_string_equal(e.code, "payment_intent_unexpected_state");
}

static void test_partial_refunds_up_to_the_captured_amount(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_transfer rf;
    prov_error e;
    char k[64];
    hold(5000, &pi);
    assert_int_equal(provider_capture(sim.p, key_new(k), pi.id, 4000, &got, &e), PROV_OK);
    assert_int_equal(provider_refund(sim.p, key_new(k), pi.id, 1500, &rf, &e), PROV_OK);
    assert_true(strncmp(rf.id, "re_", 3) == 0);
    assert_int_equal(rf.amount, 1500);
    assert_string_equal(rf.state, "succeeded");
    assert_int_equal(provider_refund(sim.p, key_new(k), pi.id, 2501, &rf, &e), PROV_REJECTED);
    assert_string_equal(e.code, "amount_too_large");
    assert_int_equal(provider_refund(sim.p, key_new(k), pi.id, 2500, &rf, &e), PROV_OK);
    assert_int_equal(provider_retrieve(sim.p, pi.id, &got, &e), PROV_OK);
    assert_int_equal(got.amount_refunded, 4000);
    assert_int_equal(got.amount_captured, 4000);
    /* Nothing captured, nothing to refund. */
    hold(100, &pi);
    assert_int_equal(provider_refund(sim.p, key_new(k), pi.id, 1, &rf, &e), PROV_REJECTED);
}

static void test_retrieve_and_not_found(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    hold(42, &pi);
    assert_int_equal(provider_retrieve(sim.p, pi.id, &got, &e), PROV_OK);
    assert_memory_equal(&got, &pi, sizeof got);
    assert_int_equal(provider_retrieve(sim.p, "pi_nope", &got, &e), PROV_NOT_FOUND);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(got.id, "");
}

static void test_find_by_key(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_error e;
    char k[64];
    key_new(k);
    assert_int_equal(provider_authorize(sim.p, k, 999, "USD", "tok_visa", NULL, &pi, &e), PROV_OK);
    assert_int_equal(provider_find_by_key(sim.p, k, &got, &e), PROV_OK);
    assert_string_equal(got.id, pi.id);
    assert_string_equal(got.currency, "USD");
    assert_int_equal(provider_find_by_key(sim.p, "never-used key&x=1", &got, &e), PROV_REJECTED);
    assert_int_equal(provider_find_by_key(sim.p, "never-used-key&x=1", &got, &e), PROV_NOT_FOUND);
}

static void test_payout_and_closed_account(void **state)
{
    (void)state;
    prov_transfer po;
    prov_error e;
    char k[64];
    assert_int_equal(provider_payout(sim.p, key_new(k), 880000, "EUR", "acct_seller_7", &po, &e),
                     PROV_OK);
    assert_true(strncmp(po.id, "po_", 3) == 0);
    assert_int_equal(po.amount, 880000);
    assert_string_equal(po.currency, "EUR");
    assert_string_equal(po.state, "succeeded");
    int64_t n = count("payouts");
    assert_int_equal(provider_payout(sim.p, k, 880000, "EUR", "acct_seller_7", &po, &e), PROV_OK);
    assert_int_equal(count("payouts"), n);
    assert_int_equal(provider_payout(sim.p, key_new(k), 1, "EUR", "acct_closed", &po, &e),
                     PROV_DECLINED);
    assert_string_equal(e.code, "account_closed");
}

/* Sets a refund's or payout's status at the simulator after the fact. */
static void transfer_set(const char *kind, const char *id, const char *status)
{
    char body[160];
    snprintf(body, sizeof body, "{\"%s\":\"%s\",\"status\":\"%s\"}", kind, id, status);
    json_t *j = ctl("/_control/transfer", body);
    assert_string_equal(json_string_value(json_object_get(j, "status")), status);
    json_decref(j);
}

static void test_refund_and_payout_reads_see_later_failures(void **state)
{
    (void)state;
    prov_intent pi, got;
    prov_transfer rf, po, read;
    prov_error e;
    char k[64];
    hold(3000, &pi);
    assert_int_equal(provider_capture(sim.p, key_new(k), pi.id, 3000, &got, &e), PROV_OK);
    assert_int_equal(provider_refund(sim.p, key_new(k), pi.id, 1000, &rf, &e), PROV_OK);
    assert_int_equal(provider_retrieve_refund(sim.p, rf.id, &read, &e), PROV_OK);
    assert_memory_equal(&read, &rf, sizeof read);
    /* the card network bounces it: failed, and no longer counted as refunded */
    transfer_set("refund", rf.id, "failed");
    assert_int_equal(provider_retrieve_refund(sim.p, rf.id, &read, &e), PROV_OK);
    assert_string_equal(read.state, "failed");
    assert_int_equal(read.amount, 1000);
    assert_string_equal(read.currency, "EUR");
    assert_int_equal(provider_retrieve(sim.p, pi.id, &got, &e), PROV_OK);
    assert_int_equal(got.amount_refunded, 0);
    assert_int_equal(provider_payout(sim.p, key_new(k), 2500, "EUR", "acct_7", &po, &e), PROV_OK);
    assert_int_equal(provider_retrieve_payout(sim.p, po.id, &read, &e), PROV_OK);
    assert_memory_equal(&read, &po, sizeof read);
    transfer_set("payout", po.id, "returned");
    assert_int_equal(provider_retrieve_payout(sim.p, po.id, &read, &e), PROV_OK);
    assert_string_equal(read.state, "returned");
    /* a payout's id is no refund's, and unknown ids are not found */
    assert_int_equal(provider_retrieve_refund(sim.p, po.id, &read, &e), PROV_NOT_FOUND);
    assert_string_equal(read.id, "");
    assert_int_equal(provider_retrieve_payout(sim.p, "po_nope", &read, &e), PROV_NOT_FOUND);
    assert_int_equal(e.http_status, 404);
    /* an answer about another payout is not trusted */
    json_t *spec = json_pack("{s:{s:i, s:s}}", "malformed", "next", 1, "body",
                             "{\"id\":\"po_other\",\"amount\":2500,\"currency\":\"EUR\","
                             "\"status\":\"succeeded\"}");
    char *text = json_dumps(spec, 0);
    faults(text);
    free(text);
    json_decref(spec);
    assert_int_equal(provider_retrieve_payout(sim.p, po.id, &read, &e), PROV_UNAVAILABLE);
    assert_non_null(strstr(e.message, "another payout"));
    assert_string_equal(read.id, "");
}

static void test_declines_carry_code_and_the_failed_intent(void **state)
{
    (void)state;
    static const struct {
        const char *token, *code;
    } cases[] = {
        { .token = "tok_decline", .code = "card_declined" },
        { .token = "tok_insufficient", .code = "insufficient_funds" },
        { .token = "tok_expired", .code = "expired_card" },
    };
    int64_t before = count("charges");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        prov_intent pi;
        prov_error e;
        char k[64];
        assert_int_equal(provider_authorize(sim.p, key_new(k), 2000, "EUR", cases[i].token, "x",
                                            &pi, &e), PROV_DECLINED);
        assert_int_equal(e.http_status, 402);
        assert_string_equal(e.code, cases[i].code);
        assert_true(strlen(e.message) > 0);
        assert_int_equal(pi.state, PROV_INTENT_FAILED);
        assert_true(strncmp(pi.id, "pi_", 3) == 0);
        /* Replayed: the same decline. */
        assert_int_equal(provider_authorize(sim.p, k, 2000, "EUR", cases[i].token, "x", &pi, &e),
                         PROV_DECLINED);
    }
    faults("{\"decline\":{\"next\":1,\"code\":\"do_not_honor\"}}");
    prov_intent pi;
    prov_error e;
    char k[64];
    assert_int_equal(provider_authorize(sim.p, key_new(k), 1, "EUR", "tok_visa", NULL, &pi, &e),
                     PROV_DECLINED);
    assert_string_equal(e.code, "do_not_honor");
    assert_int_equal(count("charges"), before);
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_webhook_verify_table),
        cmocka_unit_test(test_webhook_verify_timestamp_tolerance_both_ways),
    };
#define T(f) cmocka_unit_test_setup(f, no_faults)
    const struct CMUnitTest online[] = {
        T(test_webhook_signed_by_simulator_verifies),
        T(test_authorize_holds_the_amount),
        T(test_capture_exact_amount_below_the_hold),
        T(test_capture_over_the_hold_is_rejected),
        T(test_cancel_releases_the_hold_once),
        T(test_partial_refunds_up_to_the_captured_amount),
        T(test_retrieve_and_not_found),
        T(test_find_by_key),
        T(test_payout_and_closed_account),
        T(test_refund_and_payout_reads_see_later_failures),
        T(test_declines_carry_code_and_the_failed_intent),
    };
#undef T
    int failed = cmocka_run_group_tests_name("offline", offline, NULL, NULL);
    failed += cmocka_run_group_tests_name("simulator", online, sim_start, sim_stop);
    return failed;
}
