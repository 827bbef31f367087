/*
 * Every settings table a daemon reads, loaded by the skeleton: a bad value
 * in any of them (the runtime's, a library's, the service block's, the
 * daemon's) stops the start naming the variable, a variable declared in
 * two tables is refused, and --describe prints every table and series in
 * its one-line form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"

static int64_t knob;
static const cfg_entry own[] = {
    { "GAVEL_T_KNOB", "5", CFG_INT, &knob, 1, 9, "a daemon setting" },
    { 0 },
};
static const char *dsn_again;
static const cfg_entry own_dsn[] = {
    { "GAVEL_PG_DSN", "x", CFG_STR, &dsn_again, 0, 0, "declared by the block already" },
    { 0 },
};

static mx_metric *m_ok, *m_bad;
static const mx_entry t_metrics[] = {
    { "gavel_t_done_total", mx_counter, "Things done, by outcome.", "result=\"ok\"", &m_ok },
    { "gavel_t_done_total", mx_counter, "Things done, by outcome.", "result=\"bad\"", &m_bad },
    { "gavel_t_wait_seconds", mx_histogram, "Waits.", NULL, NULL },
    { 0 },
};
static const mx_entry two_types[] = {
    { "gavel_t_x", mx_counter, "x", NULL, NULL },
    { "gavel_t_x", mx_gauge, "x", NULL, NULL },
    { 0 },
};
static const mx_entry foreign_name[] = {
    { "gavel_users_x_total", mx_counter, "x", NULL, NULL },
    { 0 },
};

static const rpc_service t_svc = {
    .name = "t",
    .addr_env = "GAVEL_T_ADDR",
    .default_addr = "127.0.0.1:50099",
    .default_metrics_port = 9199,
    .config = own,
    .db = { .name = "gavel_t", .pool_default = 4, .pool_min = 2, .pool_max = 64 },
    .metrics = t_metrics,
};

static void every_table_refuses_a_bad_value_naming_it(void **state)
{
    (void)state;
    static const struct {
        const char *env, *value, *want;
    } cases[] = {
        { .env = "GAVEL_RPC_POLLERS", .value = "0",
          .want = "GAVEL_RPC_POLLERS=0 is out of range (allowed 1..16)" },
        { .env = "GAVEL_LOG_LEVEL", .value = "loud",
          .want = "GAVEL_LOG_LEVEL=loud is not a level (allowed debug, info, warn, error)" },
        { .env = "GAVEL_BIND_ADDR", .value = "localhost",
          .want = "GAVEL_BIND_ADDR=localhost is not an IPv4 or IPv6 literal" },
        { .env = "GAVEL_REDIS_ADDR", .value = "redis",
          .want = "GAVEL_REDIS_ADDR=redis is not host:port (port 1..65535)" },
        { .env = "GAVEL_KAFKA_SESSION_TIMEOUT_MS", .value = "5s",
          .want = "GAVEL_KAFKA_SESSION_TIMEOUT_MS=5s is not an integer (allowed 1000..3600000)" },
        /* Regression: read with cfg_int, "abc" fell back to 1000 with a warning. */
        { .env = "GAVEL_AUTH_REVOCATION_CACHE_MS", .value = "abc",
          .want = "GAVEL_AUTH_REVOCATION_CACHE_MS=abc is not an integer (allowed 0..60000)" },
        { .env = "GAVEL_T_DB_POOL", .value = "1",
          .want = "GAVEL_T_DB_POOL=1 is out of range (allowed 2..64)" },
        { .env = "GAVEL_T_KNOB", .value = "10",
          .want = "GAVEL_T_KNOB=10 is out of range (allowed 1..9)" },
    };
    char err[256] = "";
    assert_int_equal(rpc__tables_load(&t_svc, err, sizeof err), 0);
    assert_int_equal(knob, 5);
    assert_string_equal(rpc__block_listen_addr(&t_svc), "127.0.0.1:50099");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv(cases[i].env, cases[i].value, 1);
        assert_int_equal(rpc__tables_load(&t_svc, err, sizeof err), -1);
        assert_string_equal(err, cases[i].want);
        unsetenv(cases[i].env);
    }
    setenv("GAVEL_LISTEN_ADDR", "0.0.0.0:50099", 1);
    assert_int_equal(rpc__tables_load(&t_svc, err, sizeof err), 0);
    assert_string_equal(rpc__block_listen_addr(&t_svc), "0.0.0.0:50099");
    unsetenv("GAVEL_LISTEN_ADDR");
}

static void a_variable_declared_twice_is_refused(void **state)
{
    (void)state;
    rpc_service twice = t_svc;
    twice.config = own_dsn;
    char err[256] = "";
    assert_int_equal(rpc__tables_load(&twice, err, sizeof err), -1);
    assert_string_equal(err, "GAVEL_PG_DSN is declared twice (tables service and daemon)");
}

/* Runs rpc_describe into a string; returns its result. */
static int describe(const rpc_service *svc, char **text, char *err, size_t errlen)
{
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    int rc = rpc_describe(svc, f, err, errlen);
    fclose(f);
    return rc;
}

static void describe_prints_every_table_and_series(void **state)
{
    (void)state;
    char *text = NULL, err[256] = "";
    assert_int_equal(describe(&t_svc, &text, err, sizeof err), 0);
    static const char *const want[] = {
        "config\truntime\tGAVEL_METRICS_PORT\tint\t9199\t0\t65535\t",
        "config\tcore\tGAVEL_LOG_LEVEL\tstr\tinfo\t-\t-\t",
        "config\tcache\tGAVEL_REDIS_ADDR\tstr\t127.0.0.1:56379\t-\t-\t",
        "config\tevents\tGAVEL_OUTBOX_RETENTION_S\tint\t86400\t1\t315360000\t",
        "config\trpc\tGAVEL_AUTH_REVOCATION_CACHE_MS\tint\t1000\t0\t60000\t",
        "config\tservice\tGAVEL_T_ADDR\tstr\t127.0.0.1:50099\t-\t-\t",
        "config\tservice\tGAVEL_LISTEN_ADDR\tstr\t\t-\t-\t",
        "config\tservice\tGAVEL_PG_DSN\tstr\thost=127.0.0.1 port=55432 user=gavel "
        "dbname=gavel_t\t-\t-\t",
        "config\tservice\tGAVEL_T_DB_POOL\tint\t4\t2\t64\t",
        "config\tdaemon\tGAVEL_T_KNOB\tint\t5\t1\t9\ta daemon setting\n",
        "metric\truntime\tgavel_rpc_requests_total\tcounter\tmethod,code\t",
        "metric\tevents\tgavel_events_consumed_total\tcounter\tgroup,result\t",
        "metric\tevents\tgavel_events_published_total\tcounter\t-\t",
        "metric\tdaemon\tgavel_t_done_total\tcounter\tresult\tThings done, by outcome.\n",
        "metric\tdaemon\tgavel_t_wait_seconds\thistogram\t-\tWaits.\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(text, want[i]) == NULL)
            fail_msg("missing \"%s\" in:\n%s", want[i], text);
    /* One line per family, however many series it declares. */
    assert_null(strstr(strstr(text, "gavel_t_done_total") + 1, "gavel_t_done_total"));
    free(text);
}

static void describe_refuses_contradicting_metrics(void **state)
{
    (void)state;
    char *text = NULL, err[256] = "";
    rpc_service bad = t_svc;
    bad.metrics = two_types;
    assert_int_equal(describe(&bad, &text, err, sizeof err), -1);
    assert_string_equal(err, "metric gavel_t_x is declared as a counter and a gauge");
    free(text);
    text = NULL;
    bad.metrics = foreign_name;
    assert_int_equal(describe(&bad, &text, err, sizeof err), -1);
    assert_string_equal(err, "metric gavel_users_x_total of the t daemon is not named gavel_t_…");
    free(text);
}

static void the_metrics_table_registers_its_series(void **state)
{
    (void)state;
    rpc_metrics_register(t_metrics);
    assert_non_null(m_ok);
    assert_non_null(m_bad);
    assert_true(m_ok != m_bad);
    mx_add(m_bad, 2);
    char *page = mx_render();
    assert_non_null(strstr(page, "gavel_t_done_total{result=\"bad\"} 2\n"));
    free(page);
}

int main(void)
{
    log_init("rpc_settings_test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_table_refuses_a_bad_value_naming_it),
        cmocka_unit_test(a_variable_declared_twice_is_refused),
        cmocka_unit_test(describe_prints_every_table_and_series),
        cmocka_unit_test(describe_refuses_contradicting_metrics),
        cmocka_unit_test(the_metrics_table_registers_its_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
