/*
 * provider_test_util.h: the card provider simulator for the adapter's
 * tests (provider_test.c, provider_faults_test.c), never for daemon code.
 * Include after <cmocka.h>.
 *
 * sim_start runs deploy/dev/provider_sim.py on a port of its choosing
 * (group setup) and opens an adapter on it; sim_stop stops both. The
 * simulator is found from GAVEL_SRC_DIR, else from this file's path as the
 * compiler saw it (the Makefile compiles from the top of the tree), so run
 * the tests from the top directory or set GAVEL_SRC_DIR. ctl and count
 * read the simulator's /_control/ endpoints, which prove what happened on
 * the provider's side.
 */
#ifndef GAVEL_PAYMENTS_PROVIDER_TEST_UTIL_H
#define GAVEL_PAYMENTS_PROVIDER_TEST_UTIL_H

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "provider.h"

#define SELF "services/payments/provider_test_util.h"
#define API_KEY "sk_test_gavel_provider_test"
#define HOOK_SECRET "whsec_gavel_provider_test"

static struct {
    pid_t pid;
    char base[64];
    provider *p;          /* timeout 2 s, budget 8 s */
} sim;

/* ---- the simulator ---- */

static inline void src_root(char *root, size_t cap)
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

static inline int sim_start(void **state)
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

static inline int sim_stop(void **state)
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

static inline size_t buf_cb(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    b->p = xrealloc(b->p, b->len + size * n + 1);
    memcpy(b->p + b->len, p, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* A /_control/ request; returns its JSON answer (caller decrefs). */
static inline json_t *ctl(const char *path, const char *post)
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

static inline void faults(const char *spec)
{
    json_decref(ctl("/_control/faults", spec));
}

static inline int no_faults(void **state)
{
    (void)state;
    faults("{}");
    return 0;
}

/* A counter of the simulator's state (charges, requests, errors_500, ...). */
static inline int64_t count(const char *name)
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
static inline void await_count(const char *name, int64_t want)
{
    for (int i = 0; i < 100 && count(name) < want; i++)
        usleep(50000);
    assert_int_equal(count(name), want);
}

static inline const char *key_new(char out[64])
{
    static int n;
    snprintf(out, 64, "test-%d-%d-%lld", (int)getpid(), __atomic_add_fetch(&n, 1, __ATOMIC_SEQ_CST),
             (long long)now_us());
    return out;
}

/* An authorised intent of amount EUR, asserted. */
static inline void hold(int64_t amount, prov_intent *pi)
{
    char k[64];
    prov_error e;
    assert_int_equal(provider_authorize(sim.p, key_new(k), amount, "EUR", "tok_visa", "lot 1",
                                        pi, &e), PROV_OK);
    assert_int_equal(pi->state, PROV_INTENT_REQUIRES_CAPTURE);
}

#endif
