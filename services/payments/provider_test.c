/*
 * provider_test: the card provider adapter against the real simulator
 * (deploy/dev/provider_sim.py, started here on a port of its choosing and
 * stopped at the end), and the webhook signature check on its own.
 * Counters of the simulator's /_control/state prove what happened on the
 * provider's side: one charge per key, no retry of a 429, retries of 500s.
 *
 * The simulator is found from GAVEL_SRC_DIR, else from this file's path as
 * the compiler saw it (the Makefile compiles from the top of the tree), so
 * run the test from the top directory or set GAVEL_SRC_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "provider.h"

#define SELF "services/payments/provider_test.c"
#define API_KEY "sk_test_gavel_provider_test"
#define HOOK_SECRET "whsec_gavel_provider_test"

static struct {
    pid_t pid;
    char base[64];
    provider *p;          /* timeout 2 s, budget 8 s */
} sim;

/* ---- the simulator ---- */

static void src_root(char *root, size_t cap)
{
    const char *env = getenv("GAVEL_SRC_DIR");
    const char *file = __FILE__;
    size_t n = strlen(file), sl = strlen(SELF);
    if (env != NULL && *env != '\0')
        snprintf(root, cap, "%s", env);
    else if (n > sl && strcmp(file + n - sl, SELF) == 0)
        snprintf(root, cap, "%.*s", (int)(n - sl), file);
    else
        snprintf(root, cap, ".");
}

static int sim_start(void **state)
{
    (void)state;
    char root[512], script[600];
    src_root(root, sizeof root);
    snprintf(script, sizeof script, "%s/deploy/dev/provider_sim.py", root);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    sim.pid = fork();
    if (sim.pid < 0)
        return -1;
    if (sim.pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (getenv("GAVEL_TEST_VERBOSE") == NULL) {
            FILE *null = freopen("/dev/null", "w", stderr);
            (void)null;
        }
        setenv("GAVEL_PROVIDER_API_KEY", API_KEY, 1);
        setenv("GAVEL_PROVIDER_WEBHOOK_SECRET", HOOK_SECRET, 1);
        execl("/usr/bin/python3", "python3", script, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[128] = "";
    size_t n = 0;
    int64_t deadline = mono_us() + 15 * 1000000;
    while (n < sizeof line - 1 && strchr(line, '\n') == NULL && mono_us() < deadline) {
        struct pollfd pf = { .fd = fds[0], .events = POLLIN };
        if (poll(&pf, 1, 200) <= 0)
            continue;
        ssize_t r = read(fds[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    close(fds[0]);
    int port = 0;
    const char *at = strstr(line, "127.0.0.1:");
    if (at == NULL || sscanf(at, "127.0.0.1:%d", &port) != 1 || port <= 0) {
        fprintf(stderr, "provider_sim did not start (%s): got \"%s\"\n", script, line);
        return -1;
    }
    snprintf(sim.base, sizeof sim.base, "http://127.0.0.1:%d", port);
    sim.p = provider_open(sim.base, API_KEY, 2000, 8000);
    return sim.p != NULL ? 0 : -1;
}

static int sim_stop(void **state)
{
    (void)state;
    provider_close(sim.p);
    if (sim.pid <= 0)
        return 0;
    kill(sim.pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(sim.pid, &st, WNOHANG) == sim.pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
        usleep(50000);
    }
    kill(sim.pid, SIGKILL);
    waitpid(sim.pid, NULL, 0);
    return -1; /* it ignored SIGTERM */
}

typedef struct {
    char *p;
    size_t len;
} buf;

static size_t buf_cb(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    b->p = xrealloc(b->p, b->len + size * n + 1);
    memcpy(b->p + b->len, p, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* A /_control/ request; returns its JSON answer (caller decrefs). */
static json_t *ctl(const char *path, const char *post)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof url, "%s%s", sim.base, path);
    buf b = { 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (post != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    json_t *j = json_loads(b.p != NULL ? b.p : "", 0, NULL);
    free(b.p);
    assert_non_null(j);
    return j;
}

static void faults(const char *spec)
{
    json_decref(ctl("/_control/faults", spec));
}

static int no_faults(void **state)
{
    (void)state;
    faults("{}");
    return 0;
}

/* A counter of the simulator's state (charges, requests, errors_500, ...). */
static int64_t count(const char *name)
{
    json_t *s = ctl("/_control/state", NULL);
    json_t *v = json_object_get(json_object_get(s, "counts"), name);
    assert_true(json_is_integer(v));
    int64_t n = json_integer_value(v);
    json_decref(s);
    return n;
}

/* The counter once it reaches want (the simulator may still be acting on
 * a request the client gave up on); fails after 5 s. */
static void await_count(const char *name, int64_t want)
{
    for (int i = 0; i < 100 && count(name) < want; i++)
        usleep(50000);
    assert_int_equal(count(name), want);
}

static const char *key_new(char out[64])
{
    static int n;
    snprintf(out, 64, "test-%d-%d-%lld", (int)getpid(), __atomic_add_fetch(&n, 1, __ATOMIC_SEQ_CST),
             (long long)now_us());
    return out;
}

/* An authorised intent of amount EUR, asserted. */
static void hold(int64_t amount, prov_intent *pi)
{
    char k[64];
    prov_error e;
    assert_int_equal(provider_authorize(sim.p, key_new(k), amount, "EUR", "tok_visa", "lot 1",
                                        pi, &e), PROV_OK);
    assert_int_equal(pi->state, PROV_INTENT_REQUIRES_CAPTURE);
}

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
    int failed = cmocka_run_group_tests_name("offline", offline, NULL, NULL);
    failed += cmocka_run_group_tests_name("simulator", online, sim_start, sim_stop);
    return failed;
}
