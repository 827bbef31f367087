/*
 * config_test: every way a configuration value can be right or wrong, one
 * table row each, plus the all-or-nothing rule of cfg_load() and the
 * single-variable lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define VAR "GAVEL_TEST_VALUE"

struct cfg_case {
    const char *name;
    const char *env;        /* NULL: unset */
    cfg_type type;
    const char *def;
    int64_t min, max;
    int want_rc;
    int64_t want_int;
    bool want_bool;
    const char *want_str;
    const char *want_err;   /* substring of the message when want_rc < 0 */
};

static const struct cfg_case cases[] = {
    { .name = "int default when unset", .type = CFG_INT, .def = "8", .min = 1, .max = 64,
      .want_int = 8 },
    { .name = "int default when empty", .env = "", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_int = 8 },
    { .name = "int from env", .env = "32", .type = CFG_INT, .def = "8", .min = 1, .max = 64,
      .want_int = 32 },
    { .name = "int at lower bound", .env = "1", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_int = 1 },
    { .name = "int at upper bound", .env = "64", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_int = 64 },
    { .name = "negative int in range", .env = "-5", .type = CFG_INT, .def = "0", .min = -10,
      .max = 10, .want_int = -5 },
    { .name = "explicit plus sign", .env = "+7", .type = CFG_INT, .def = "0", .min = 0,
      .max = 10, .want_int = 7 },
    { .name = "unbounded int", .env = "-9223372036854775808", .type = CFG_INT, .def = "0",
      .want_int = INT64_MIN },
    { .name = "int above range", .env = "65", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_rc = -1,
      .want_err = VAR "=65 is out of range (allowed 1..64)" },
    { .name = "int below range", .env = "0", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_rc = -1,
      .want_err = VAR "=0 is out of range (allowed 1..64)" },
    { .name = "int not a number", .env = "lots", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_rc = -1,
      .want_err = VAR "=lots is not an integer (allowed 1..64)" },
    { .name = "int with trailing garbage", .env = "12abc", .type = CFG_INT, .def = "8",
      .min = 1, .max = 64, .want_rc = -1, .want_err = "is not an integer" },
    { .name = "int with leading space", .env = " 12", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_rc = -1, .want_err = "is not an integer" },
    { .name = "int with trailing space", .env = "12 ", .type = CFG_INT, .def = "8", .min = 1,
      .max = 64, .want_rc = -1, .want_err = "is not an integer" },
    { .name = "int in hex", .env = "0x10", .type = CFG_INT, .def = "8", .min = 1, .max = 64,
      .want_rc = -1, .want_err = "is not an integer" },
    { .name = "int overflows int64", .env = "9223372036854775808", .type = CFG_INT,
      .def = "8", .want_rc = -1, .want_err = "is not an integer" },
    { .name = "lone minus", .env = "-", .type = CFG_INT, .def = "8", .want_rc = -1,
      .want_err = "is not an integer" },
    { .name = "bad default is named as the default", .type = CFG_INT, .def = "100",
      .min = 1, .max = 64, .want_rc = -1,
      .want_err = VAR " (default \"100\") is out of range (allowed 1..64)" },
    { .name = "bool true", .env = "true", .type = CFG_BOOL, .def = "0", .want_bool = true },
    { .name = "bool YES any case", .env = "YES", .type = CFG_BOOL, .def = "0",
      .want_bool = true },
    { .name = "bool 1", .env = "1", .type = CFG_BOOL, .def = "0", .want_bool = true },
    { .name = "bool no", .env = "no", .type = CFG_BOOL, .def = "1", .want_bool = false },
    { .name = "bool False", .env = "False", .type = CFG_BOOL, .def = "1",
      .want_bool = false },
    { .name = "bool default", .type = CFG_BOOL, .def = "yes", .want_bool = true },
    { .name = "bool not a bool", .env = "maybe", .type = CFG_BOOL, .def = "0",
      .want_rc = -1,
      .want_err = VAR "=maybe is not a boolean (allowed 1/0/true/false/yes/no)" },
    { .name = "bool 2", .env = "2", .type = CFG_BOOL, .def = "0", .want_rc = -1,
      .want_err = "is not a boolean" },
    { .name = "string from env", .env = "postgres://db/users", .type = CFG_STR,
      .def = "x", .want_str = "postgres://db/users" },
    { .name = "string default", .type = CFG_STR, .def = "127.0.0.1",
      .want_str = "127.0.0.1" },
    { .name = "required string missing", .type = CFG_STR, .def = NULL, .want_rc = -1,
      .want_err = VAR " is required but not set" },
    { .name = "required int present", .env = "3", .type = CFG_INT, .def = NULL, .min = 1,
      .max = 5, .want_int = 3 },
};

static void check_case(const struct cfg_case *c)
{
    if (c->env)
        setenv(VAR, c->env, 1);
    else
        unsetenv(VAR);
    int64_t i = -12345;
    bool b = !c->want_bool;
    const char *s = "untouched";
    void *var = c->type == CFG_INT ? (void *)&i : c->type == CFG_BOOL ? (void *)&b : (void *)&s;
    const cfg_entry table[] = {
        { .env = VAR, .def = c->def, .type = c->type, .var = var, .min = c->min,
          .max = c->max, .help = "test value" },
        { 0 },
    };
    char err[256] = "";
    int rc = cfg_load(table, err, sizeof err);
    if (rc != c->want_rc)
        fail_msg("%s: rc %d, want %d (err \"%s\")", c->name, rc, c->want_rc, err);
    if (rc < 0) {
        if (!strstr(err, c->want_err))
            fail_msg("%s: err \"%s\" lacks \"%s\"", c->name, err, c->want_err);
        return;
    }
    if (c->type == CFG_INT && i != c->want_int)
        fail_msg("%s: got %lld", c->name, (long long)i);
    if (c->type == CFG_BOOL && b != c->want_bool)
        fail_msg("%s: got %d", c->name, b);
    if (c->type == CFG_STR && strcmp(s, c->want_str) != 0)
        fail_msg("%s: got \"%s\"", c->name, s);
}

static void test_load_validates_each_kind_of_value(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    unsetenv(VAR);
}

static void test_load_writes_nothing_when_a_later_entry_is_bad(void **state)
{
    (void)state;
    setenv("GAVEL_TEST_WORKERS", "4", 1);
    setenv("GAVEL_TEST_DEBUG", "perhaps", 1);
    int64_t workers = 1;
    bool debug = false;
    const cfg_entry table[] = {
        { "GAVEL_TEST_WORKERS", "2", CFG_INT, &workers, 1, 16, "worker threads" },
        { "GAVEL_TEST_DEBUG", "0", CFG_BOOL, &debug, 0, 0, "debug mode" },
        { 0 },
    };
    char err[128];
    assert_int_equal(cfg_load(table, err, sizeof err), -1);
    assert_non_null(strstr(err, "GAVEL_TEST_DEBUG=perhaps"));
    assert_int_equal(workers, 1);

    setenv("GAVEL_TEST_DEBUG", "yes", 1);
    assert_int_equal(cfg_load(table, err, sizeof err), 0);
    assert_int_equal(workers, 4);
    assert_true(debug);
    unsetenv("GAVEL_TEST_WORKERS");
    unsetenv("GAVEL_TEST_DEBUG");
}

static void test_load_truncates_long_messages_safely(void **state)
{
    (void)state;
    setenv(VAR, "not-a-number", 1);
    int64_t v = 0;
    const cfg_entry table[] = {
        { VAR, "1", CFG_INT, &v, 1, 2, NULL },
        { 0 },
    };
    char err[12];
    assert_int_equal(cfg_load(table, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(cfg_load(table, NULL, 0), -1);
    unsetenv(VAR);
}

static void test_empty_table_loads(void **state)
{
    (void)state;
    const cfg_entry table[] = { { 0 } };
    char err[16];
    assert_int_equal(cfg_load(table, err, sizeof err), 0);
}

static void test_single_lookups_fall_back_to_default(void **state)
{
    (void)state;
    static const struct {
        const char *env;   /* NULL: unset */
        const char *want_str;
        int64_t want_int;
    } rows[] = {
        { .env = NULL, .want_str = "dflt", .want_int = 9100 },
        { .env = "", .want_str = "dflt", .want_int = 9100 },
        { .env = "9105", .want_str = "9105", .want_int = 9105 },
        { .env = "-3", .want_str = "-3", .want_int = -3 },
        { .env = "91o5", .want_str = "91o5", .want_int = 9100 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].env)
            setenv(VAR, rows[i].env, 1);
        else
            unsetenv(VAR);
        assert_string_equal(cfg_str(VAR, "dflt"), rows[i].want_str);
        assert_int_equal(cfg_int(VAR, 9100), rows[i].want_int);
    }
    unsetenv(VAR);
}

int main(void)
{
    log_init("config_test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_validates_each_kind_of_value),
        cmocka_unit_test(test_load_writes_nothing_when_a_later_entry_is_bad),
        cmocka_unit_test(test_load_truncates_long_messages_safely),
        cmocka_unit_test(test_empty_table_loads),
        cmocka_unit_test(test_single_lookups_fall_back_to_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
