/*
 * metrics_test: the Prometheus text format byte for byte — HELP and TYPE
 * once per family, label sets, histogram buckets merged with the metric's
 * labels, _sum and _count, value formatting — plus lost-update freedom
 * under threads and panics on misuse. The registry is process-wide, so
 * every test uses metric names of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_test_util.h"

/* True when line (up to '\n') belongs to family `name`. */
static bool line_is_family(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)
        return strncmp(line + 7, name, n) == 0 && line[7 + n] == ' ';
    if (strncmp(line, name, n) != 0)
        return false;
    const char *rest = line + n;
    static const char *const suffixes[] = { "_bucket", "_sum", "_count", "" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (strncmp(rest, suffixes[i], k) == 0 && (rest[k] == '{' || rest[k] == ' '))
            return true;
    }
    return false;
}

/* Returns the rendered lines of one family, in order; caller frees. */
static char *render_family(const char *name)
{
    char *all = mx_render();
    char *out = xstrdup("");
    for (char *line = all; *line;) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        if (line_is_family(line, name)) {
            char *grown = xasprintf("%s%.*s", out, (int)(end - line + 1), line);
            free(out);
            out = grown;
        }
        line = end + 1;
    }
    free(all);
    return out;
}

static void assert_family(const char *name, const char *want)
{
    char *got = render_family(name);
    if (strcmp(got, want) != 0)
        fail_msg("family %s:\n--- got\n%s--- want\n%s", name, got, want);
    free(got);
}

static void test_counter_renders_help_type_and_value(void **state)
{
    (void)state;
    mx_metric *m = mx_counter("t1_requests_total", "Requests served.", NULL);
    mx_add(m, 1);
    mx_add(m, 2.5);
    assert_family("t1_requests_total",
                  "# HELP t1_requests_total Requests served.\n"
                  "# TYPE t1_requests_total counter\n"
                  "t1_requests_total 3.5\n");
}

static void test_help_and_type_print_once_per_family(void **state)
{
    (void)state;
    mx_metric *login = mx_counter("t2_rpc_total", "RPCs by method.", "method=\"Login\"");
    mx_metric *reg = mx_counter("t2_rpc_total", "ignored later help", "method=\"Register\"");
    assert_ptr_equal(mx_counter("t2_rpc_total", NULL, "method=\"Login\""), login);
    assert_ptr_not_equal(login, reg);
    mx_add(login, 2);
    mx_add(reg, 1);
    assert_family("t2_rpc_total",
                  "# HELP t2_rpc_total RPCs by method.\n"
                  "# TYPE t2_rpc_total counter\n"
                  "t2_rpc_total{method=\"Login\"} 2\n"
                  "t2_rpc_total{method=\"Register\"} 1\n");
}

static void test_empty_labels_are_the_unlabelled_series(void **state)
{
    (void)state;
    assert_ptr_equal(mx_gauge("t3_up", "Up.", ""), mx_gauge("t3_up", "Up.", NULL));
}

static void test_gauge_set_and_add(void **state)
{
    (void)state;
    mx_metric *g = mx_gauge("t4_open_lots", "Lots open for bidding.", NULL);
    mx_set(g, 10);
    mx_add(g, -2.5);
    assert_family("t4_open_lots",
                  "# HELP t4_open_lots Lots open for bidding.\n"
                  "# TYPE t4_open_lots gauge\n"
                  "t4_open_lots 7.5\n");
    mx_set(g, -1);
    assert_family("t4_open_lots",
                  "# HELP t4_open_lots Lots open for bidding.\n"
                  "# TYPE t4_open_lots gauge\n"
                  "t4_open_lots -1\n");
}

static void test_values_render_shortest_exact_form(void **state)
{
    (void)state;
    static const struct {
        double in;
        const char *want;
    } cases[] = {
        { .in = 0, .want = "0" },
        { .in = 0.1, .want = "0.1" },
        { .in = 1e-7, .want = "1e-07" },
        { .in = 123456789, .want = "123456789" },
        { .in = 9007199254740993.0, .want = "9007199254740992" },
        { .in = 1.0 / 3.0, .want = "0.33333333333333331" },
        { .in = INFINITY, .want = "+Inf" },
        { .in = -INFINITY, .want = "-Inf" },
        { .in = NAN, .want = "NaN" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char labels[32], want[128];
        snprintf(labels, sizeof labels, "case=\"%zu\"", i);
        mx_set(mx_gauge("t5_value", "Formatting.", labels), cases[i].in);
        snprintf(want, sizeof want, "t5_value{%s} %s\n", labels, cases[i].want);
        char *got = render_family("t5_value");
        if (!strstr(got, want))
            fail_msg("want line %s in:\n%s", want, got);
        free(got);
    }
}

static void test_help_text_is_escaped(void **state)
{
    (void)state;
    mx_counter("t6_escaped_total", "first line\nC:\\path", NULL);
    assert_family("t6_escaped_total",
                  "# HELP t6_escaped_total first line\\nC:\\\\path\n"
                  "# TYPE t6_escaped_total counter\n"
                  "t6_escaped_total 0\n");
}

static void test_missing_help_prints_type_only(void **state)
{
    (void)state;
    mx_counter("t7_nohelp_total", NULL, NULL);
    assert_family("t7_nohelp_total",
                  "# TYPE t7_nohelp_total counter\n"
                  "t7_nohelp_total 0\n");
}

static const char *const bucket_les[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

static void test_histogram_buckets_merge_labels_with_le(void **state)
{
    (void)state;
    static const double observed[] = { 0.00005, 0.0001, 0.003, 0.7, 3, 42, 10 };
    static const int want_cumulative[] = { 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 5, 6, 7 };
    mx_metric *h = mx_histogram("t8_rpc_seconds", "RPC latency.", "method=\"PlaceBid\"");
    double sum = 0;
    for (size_t i = 0; i < sizeof observed / sizeof observed[0]; i++) {
        mx_observe(h, observed[i]);
        sum += observed[i];
    }
    mx_observe(h, NAN);

    char want[4096];
    size_t len = (size_t)snprintf(want, sizeof want,
                                  "# HELP t8_rpc_seconds RPC latency.\n"
                                  "# TYPE t8_rpc_seconds histogram\n");
    for (size_t i = 0; i < 17; i++)
        len += (size_t)snprintf(want + len, sizeof want - len,
                                "t8_rpc_seconds_bucket{method=\"PlaceBid\",le=\"%s\"} %d\n",
                                bucket_les[i], want_cumulative[i]);
    char *got = render_family("t8_rpc_seconds");
    assert_memory_equal(got, want, len);

    double got_sum = 0;
    int got_count = 0;
    assert_int_equal(sscanf(got + len, "t8_rpc_seconds_sum{method=\"PlaceBid\"} %lf\n"
                                       "t8_rpc_seconds_count{method=\"PlaceBid\"} %d\n",
                            &got_sum, &got_count), 2);
    assert_true(got_sum == sum);
    assert_int_equal(got_count, 7);
    assert_string_equal(strstr(got, "_count"), "_count{method=\"PlaceBid\"} 7\n");
    free(got);
}

static void test_histogram_without_labels_has_le_only(void **state)
{
    (void)state;
    mx_observe(mx_histogram("t9_job_seconds", "Job time.", NULL), 0.5);
    char *got = render_family("t9_job_seconds");
    assert_non_null(strstr(got, "\nt9_job_seconds_bucket{le=\"0.25\"} 0\n"
                                "t9_job_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(got, "\nt9_job_seconds_bucket{le=\"+Inf\"} 1\n"
                                "t9_job_seconds_sum 0.5\n"
                                "t9_job_seconds_count 1\n"));
    free(got);
}

enum { THREADS = 8, ROUNDS = 50000 };

static void *hammer(void *arg)
{
    mx_metric **m = arg;
    for (int i = 0; i < ROUNDS; i++) {
        mx_add(m[0], 1);
        mx_add(m[1], 0.5);
        mx_observe(m[2], 0.001);
    }
    return NULL;
}

static void test_concurrent_updates_are_not_lost(void **state)
{
    (void)state;
    mx_metric *m[3] = {
        mx_counter("t10_hits_total", "Hits.", NULL),
        mx_gauge("t10_level", "Level.", NULL),
        mx_histogram("t10_wait_seconds", "Wait.", NULL),
    };
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *all = mx_render();
    assert_non_null(strstr(all, "\nt10_hits_total 400000\n"));
    assert_non_null(strstr(all, "\nt10_level 200000\n"));
    assert_non_null(strstr(all, "\nt10_wait_seconds_bucket{le=\"0.0005\"} 0\n"
                                "t10_wait_seconds_bucket{le=\"0.001\"} 400000\n"));
    assert_non_null(strstr(all, "\nt10_wait_seconds_count 400000\n"));
    free(all);
}

static void counter_then_gauge(void *arg)
{
    (void)arg;
    mx_counter("t11_a", "", NULL);
    mx_gauge("t11_a", "", NULL);
}

static void gauge_then_histogram_other_labels(void *arg)
{
    (void)arg;
    mx_gauge("t11_b", "", "x=\"1\"");
    mx_histogram("t11_b", "", "x=\"2\"");
}

static void set_on_counter(void *arg)
{
    (void)arg;
    mx_set(mx_counter("t11_c", "", NULL), 1);
}

static void observe_on_gauge(void *arg)
{
    (void)arg;
    mx_observe(mx_gauge("t11_d", "", NULL), 1);
}

static void add_on_histogram(void *arg)
{
    (void)arg;
    mx_add(mx_histogram("t11_e", "", NULL), 1);
}

static void counter_goes_down(void *arg)
{
    (void)arg;
    mx_add(mx_counter("t11_f", "", NULL), -1);
}

static void name_starts_with_digit(void *arg)
{
    (void)arg;
    mx_counter("1t11", "", NULL);
}

static void name_with_dash(void *arg)
{
    (void)arg;
    mx_counter("t11-g", "", NULL);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        void (*fn)(void *);
        const char *want;
    } cases[] = {
        { .name = "type clash", .fn = counter_then_gauge,
          .want = "t11_a is a counter, not a gauge" },
        { .name = "type clash across labels", .fn = gauge_then_histogram_other_labels,
          .want = "t11_b is a gauge, not a histogram" },
        { .name = "set on counter", .fn = set_on_counter, .want = "mx_set on counter t11_c" },
        { .name = "observe on gauge", .fn = observe_on_gauge, .want = "mx_observe on gauge" },
        { .name = "add on histogram", .fn = add_on_histogram, .want = "mx_add on histogram" },
        { .name = "counter down", .fn = counter_goes_down, .want = "cannot go down" },
        { .name = "digit first", .fn = name_starts_with_digit,
          .want = "not a valid Prometheus name" },
        { .name = "dash", .fn = name_with_dash, .want = "not a valid Prometheus name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[4096];
        int status = run_in_child(cases[i].fn, NULL, out, sizeof out);
        if (!died_of_abort(status) || !strstr(out, cases[i].want))
            fail_msg("%s: status %d, stderr %s", cases[i].name, status, out);
    }
}

int main(void)
{
    log_init("metrics_test", LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_misuse_panics),
        cmocka_unit_test(test_counter_renders_help_type_and_value),
        cmocka_unit_test(test_help_and_type_print_once_per_family),
        cmocka_unit_test(test_empty_labels_are_the_unlabelled_series),
        cmocka_unit_test(test_gauge_set_and_add),
        cmocka_unit_test(test_values_render_shortest_exact_form),
        cmocka_unit_test(test_help_text_is_escaped),
        cmocka_unit_test(test_missing_help_prints_type_only),
        cmocka_unit_test(test_histogram_buckets_merge_labels_with_le),
        cmocka_unit_test(test_histogram_without_labels_has_le_only),
        cmocka_unit_test(test_concurrent_updates_are_not_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
