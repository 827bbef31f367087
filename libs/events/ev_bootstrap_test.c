/*
 * ev_bootstrap_test: where daemons find Kafka. Proves the environment
 * variable wins over the file, the file's first line is used trimmed, and
 * a missing or empty file gives NULL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "events/events.h"

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/ev_bootstrap_test.%d", (int)getpid());
    unsetenv("GAVEL_KAFKA_BOOTSTRAP");
    setenv("GAVEL_KAFKA_BOOTSTRAP_FILE", path, 1);
    unlink(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unsetenv("GAVEL_KAFKA_BOOTSTRAP");
    unsetenv("GAVEL_KAFKA_BOOTSTRAP_FILE");
    return 0;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void environment_wins_over_the_file(void **state)
{
    char *b;
    (void)state;

    write_file("127.0.0.1:1111\n");
    setenv("GAVEL_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092", 1);
    b = ev_bootstrap();
    assert_string_equal(b, "kafka-1:9092,kafka-2:9092");
    free(b);
}

static void first_line_of_the_file_is_used_trimmed(void **state)
{
    static const struct {
        const char *file, *want;
    } cases[] = {
        {.file = "127.0.0.1:40001\n", .want = "127.0.0.1:40001"},
        {.file = "  127.0.0.1:40001,127.0.0.1:40002 \r\nsecond line\n",
         .want = "127.0.0.1:40001,127.0.0.1:40002"},
        {.file = "127.0.0.1:40003", .want = "127.0.0.1:40003"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b;

        write_file(cases[i].file);
        b = ev_bootstrap();
        assert_non_null(b);
        assert_string_equal(b, cases[i].want);
        free(b);
    }
}

static void missing_or_empty_file_gives_null(void **state)
{
    (void)state;
    assert_null(ev_bootstrap());
    write_file("\n");
    assert_null(ev_bootstrap());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(environment_wins_over_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(first_line_of_the_file_is_used_trimmed, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_or_empty_file_gives_null, setup, teardown),
    };

    log_init("ev_bootstrap_test", LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
