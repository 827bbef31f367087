/*
 * log_test: the exact shape of a log line, JSON escaping done by jansson,
 * repair of invalid UTF-8, level filtering and its GAVEL_LOG_LEVEL
 * override, per-thread request ids, and whole lines under concurrency.
 * stderr is captured through a pipe drained by a thread, the way a
 * container runtime reads a daemon's stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

/* ---- capturing stderr ------------------------------------------------------ */

static struct {
    int saved_fd;
    int read_fd;
    pthread_t reader;
    char *buf;
    size_t len;
} cap;

static void *drain(void *arg)
{
    (void)arg;
    size_t cap_size = 0;
    char chunk[4096];
    ssize_t n;
    while ((n = read(cap.read_fd, chunk, sizeof chunk)) > 0) {
        if (cap.len + (size_t)n + 1 > cap_size) {
            cap_size = (cap.len + (size_t)n + 1) * 2;
            cap.buf = xrealloc(cap.buf, cap_size);
        }
        memcpy(cap.buf + cap.len, chunk, (size_t)n);
        cap.len += (size_t)n;
        cap.buf[cap.len] = '\0';
    }
    return NULL;
}

static void capture_begin(void)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    cap.buf = xstrdup("");
    cap.len = 0;
    cap.read_fd = fds[0];
    cap.saved_fd = dup(STDERR_FILENO);
    assert_true(cap.saved_fd >= 0);
    assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    close(fds[1]);
    assert_int_equal(pthread_create(&cap.reader, NULL, drain, NULL), 0);
}

/* Returns everything written since capture_begin; caller frees. */
static char *capture_end(void)
{
    dup2(cap.saved_fd, STDERR_FILENO);
    close(cap.saved_fd);
    pthread_join(cap.reader, NULL);
    close(cap.read_fd);
    return cap.buf;
}

/* Logs one message at lvl and returns the single line written, or NULL. */
static json_t *log_one(log_level lvl, const char *msg, char **raw)
{
    capture_begin();
    log_msg(lvl, "%s", msg);
    char *out = capture_end();
    json_t *j = NULL;
    if (*out) {
        char *nl = strchr(out, '\n');
        assert_non_null(nl);
        assert_int_equal(nl[1], '\0');
        json_error_t e;
        j = json_loads(out, 0, &e);
        if (!j)
            fail_msg("not JSON (%s): %s", e.text, out);
    }
    if (raw)
        *raw = out;
    else
        free(out);
    return j;
}

static const char *field(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_line_has_fields_in_contract_order(void **state)
{
    (void)state;
    log_init("users", LOG_DEBUG);
    log_set_request_id(NULL);
    char *raw = NULL;
    json_t *j = log_one(LOG_INFO, "hello 5", &raw);
    static const char prefix[] = "{\"ts\":\"";
    static const char suffix[] =
        "Z\",\"level\":\"info\",\"service\":\"users\",\"msg\":\"hello 5\"}\n";
    assert_memory_equal(raw, prefix, sizeof prefix - 1);
    assert_string_equal(raw + sizeof prefix - 1 + 26, suffix);

    struct tm tm = { 0 };
    int us = -1;
    const char *ts = field(j, "ts");
    assert_int_equal(strlen(ts), 27);
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_int_equal(sscanf(rest, ".%6dZ", &us), 1);
    time_t when = timegm(&tm);
    assert_true(llabs((long long)(when - time(NULL))) <= 5);
    free(raw);
    json_decref(j);
}

static void test_request_id_appears_only_while_set(void **state)
{
    (void)state;
    log_init("bids", LOG_DEBUG);
    log_set_request_id("0123456789abcdef0123456789abcdef");
    assert_string_equal(log_request_id(), "0123456789abcdef0123456789abcdef");
    char *raw = NULL;
    json_t *j = log_one(LOG_WARN, "bid rejected", &raw);
    assert_non_null(strstr(raw, "\"service\":\"bids\",\"request_id\":\"0123456789abcdef"
                                "0123456789abcdef\",\"msg\":\"bid rejected\"}"));
    assert_string_equal(field(j, "level"), "warn");
    free(raw);
    json_decref(j);

    log_set_request_id(NULL);
    assert_null(log_request_id());
    j = log_one(LOG_WARN, "no call", NULL);
    assert_null(json_object_get(j, "request_id"));
    json_decref(j);
}

static void test_messages_are_escaped_by_jansson(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *msg;
        const char *want;
    } cases[] = {
        { .name = "quotes", .msg = "lot \"A6\"", .want = "lot \"A6\"" },
        { .name = "backslash", .msg = "C:\\cars", .want = "C:\\cars" },
        { .name = "newline", .msg = "two\nlines", .want = "two\nlines" },
        { .name = "controls", .msg = "tab\tbell\x01", .want = "tab\tbell\x01" },
        { .name = "field injection", .msg = "x\",\"level\":\"error",
          .want = "x\",\"level\":\"error" },
        { .name = "utf-8 kept", .msg = "\xd0\xbb\xd0\xbe\xd1\x82 \xe2\x82\xac",
          .want = "\xd0\xbb\xd0\xbe\xd1\x82 \xe2\x82\xac" },
        { .name = "invalid byte", .msg = "bad \xff byte", .want = "bad \xef\xbf\xbd byte" },
        { .name = "overlong", .msg = "\xc0\xaf", .want = "\xef\xbf\xbd\xef\xbf\xbd" },
        { .name = "truncated at end", .msg = "euro \xe2\x82",
          .want = "euro \xef\xbf\xbd\xef\xbf\xbd" },
        { .name = "empty", .msg = "", .want = "" },
    };
    log_init("users", LOG_DEBUG);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *raw = NULL;
        json_t *j = log_one(LOG_INFO, cases[i].msg, &raw);
        if (!j || strcmp(field(j, "msg"), cases[i].want) != 0)
            fail_msg("%s: line %s", cases[i].name, raw);
        if (strchr(raw, '\n') != raw + strlen(raw) - 1)
            fail_msg("%s: raw newline inside the line", cases[i].name);
        assert_string_equal(field(j, "level"), "info");
        free(raw);
        json_decref(j);
    }
}

static void test_levels_below_minimum_are_dropped(void **state)
{
    (void)state;
    static const struct {
        log_level min, lvl;
        bool written;
    } cases[] = {
        { .min = LOG_DEBUG, .lvl = LOG_DEBUG, .written = true },
        { .min = LOG_INFO, .lvl = LOG_DEBUG, .written = false },
        { .min = LOG_INFO, .lvl = LOG_INFO, .written = true },
        { .min = LOG_WARN, .lvl = LOG_INFO, .written = false },
        { .min = LOG_WARN, .lvl = LOG_ERROR, .written = true },
        { .min = LOG_ERROR, .lvl = LOG_WARN, .written = false },
        { .min = LOG_ERROR, .lvl = LOG_ERROR, .written = true },
    };
    unsetenv("GAVEL_LOG_LEVEL");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_init("auctions", cases[i].min);
        json_t *j = log_one(cases[i].lvl, "x", NULL);
        if ((j != NULL) != cases[i].written)
            fail_msg("row %zu: written %d, want %d", i, j != NULL, cases[i].written);
        json_decref(j);
    }
    log_init("auctions", LOG_DEBUG);
    json_t *j = log_one((log_level)42, "odd level", NULL);
    assert_string_equal(field(j, "level"), "error");
    json_decref(j);
}

static void test_env_level_overrides_init(void **state)
{
    (void)state;
    static const struct {
        const char *env;
        log_level init, probe;
        bool written;
    } cases[] = {
        { .env = "debug", .init = LOG_ERROR, .probe = LOG_DEBUG, .written = true },
        { .env = "ERROR", .init = LOG_DEBUG, .probe = LOG_WARN, .written = false },
        { .env = "warn", .init = LOG_DEBUG, .probe = LOG_INFO, .written = false },
        { .env = "", .init = LOG_WARN, .probe = LOG_INFO, .written = false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("GAVEL_LOG_LEVEL", cases[i].env, 1);
        log_init("search", cases[i].init);
        json_t *j = log_one(cases[i].probe, "probe", NULL);
        if ((j != NULL) != cases[i].written)
            fail_msg("GAVEL_LOG_LEVEL=%s: written %d", cases[i].env, j != NULL);
        json_decref(j);
    }

    setenv("GAVEL_LOG_LEVEL", "loud", 1);
    capture_begin();
    log_init("search", LOG_WARN);
    log_info("dropped");
    char *out = capture_end();
    assert_non_null(strstr(out, "GAVEL_LOG_LEVEL=loud is not debug/info/warn/error"));
    assert_null(strstr(out, "dropped"));
    free(out);
    unsetenv("GAVEL_LOG_LEVEL");
}

static void test_request_id_is_sanitised_and_bounded(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { .in = "abc-123_X.y", .want = "abc-123_X.y" },
        { .in = "a b\"c\n\xff", .want = "a_b\"c__" },
        { .in = "", .want = NULL },
        { .in = "0123456789012345678901234567890123456789012345678901234567890123456789",
          .want = "012345678901234567890123456789012345678901234567890123456789012" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_set_request_id(cases[i].in);
        if (!cases[i].want)
            assert_null(log_request_id());
        else
            assert_string_equal(log_request_id(), cases[i].want);
    }
    log_set_request_id(NULL);
}

struct seen_ids {
    bool started_without_id;
    char after_set[64];
};

static void *other_thread_id(void *arg)
{
    struct seen_ids *seen = arg;
    seen->started_without_id = log_request_id() == NULL;
    log_set_request_id("worker");
    snprintf(seen->after_set, sizeof seen->after_set, "%s", log_request_id());
    return NULL;
}

static void test_request_id_is_per_thread(void **state)
{
    (void)state;
    struct seen_ids seen = { .started_without_id = false };
    log_set_request_id("main-call");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread_id, &seen), 0);
    pthread_join(t, NULL);
    assert_true(seen.started_without_id);
    assert_string_equal(seen.after_set, "worker");
    assert_string_equal(log_request_id(), "main-call");
    log_set_request_id(NULL);
}

static void test_long_message_is_written_whole(void **state)
{
    (void)state;
    log_init("gateway", LOG_DEBUG);
    size_t n = 100000;
    char *msg = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)('a' + i % 26);
    msg[n] = '\0';
    json_t *j = log_one(LOG_INFO, msg, NULL);
    assert_string_equal(field(j, "msg"), msg);
    json_decref(j);
    free(msg);
}

enum { THREADS = 8, LINES = 200 };

static void *log_many(void *arg)
{
    int id = (int)(intptr_t)arg;
    char rid[16];
    snprintf(rid, sizeof rid, "thread-%d", id);
    log_set_request_id(rid);
    for (int i = 0; i < LINES; i++)
        log_info("t%d line %d %*s", id, i, 900 + id * 50, "");
    return NULL;
}

static void test_concurrent_lines_never_interleave(void **state)
{
    (void)state;
    log_init("bids", LOG_DEBUG);
    capture_begin();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_many, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end();
    int per_thread[THREADS] = { 0 };
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), lines++) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            fail_msg("line %d is not JSON", lines);
        int id = -1;
        assert_int_equal(sscanf(field(j, "request_id"), "thread-%d", &id), 1);
        assert_true(id >= 0 && id < THREADS);
        assert_memory_equal(field(j, "msg"), "t", 1);
        per_thread[id]++;
        json_decref(j);
    }
    assert_int_equal(lines, THREADS * LINES);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(per_thread[i], LINES);
    free(out);
}

static void test_request_id_new_is_32_hex_and_unique(void **state)
{
    (void)state;
    enum { N = 500 };
    static char ids[N][33];
    for (int i = 0; i < N; i++) {
        memset(ids[i], 'x', sizeof ids[i]);
        request_id_new(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[i], ids[k]);
    }
}

int main(void)
{
    unsetenv("GAVEL_LOG_LEVEL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_fields_in_contract_order),
        cmocka_unit_test(test_request_id_appears_only_while_set),
        cmocka_unit_test(test_messages_are_escaped_by_jansson),
        cmocka_unit_test(test_levels_below_minimum_are_dropped),
        cmocka_unit_test(test_env_level_overrides_init),
        cmocka_unit_test(test_request_id_is_sanitised_and_bounded),
        cmocka_unit_test(test_request_id_is_per_thread),
        cmocka_unit_test(test_long_message_is_written_whole),
        cmocka_unit_test(test_concurrent_lines_never_interleave),
        cmocka_unit_test(test_request_id_new_is_32_hex_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
