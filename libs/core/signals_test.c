/*
 * signals_test: termination signals are taken synchronously by sig_wait()
 * once sig_block_all() has run, threads started afterwards inherit the
 * mask, and SIGPIPE turns into EPIPE instead of killing the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "core.h"

static void test_sig_wait_returns_each_termination_signal(void **state)
{
    (void)state;
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGTERM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        assert_int_equal(kill(getpid(), sigs[i]), 0);
        assert_int_equal(sig_wait(), sigs[i]);
    }
}

static void *read_mask(void *arg)
{
    sigset_t *mask = arg;
    pthread_sigmask(SIG_BLOCK, NULL, mask);
    return NULL;
}

static void test_threads_started_later_inherit_the_mask(void **state)
{
    (void)state;
    sigset_t mask;
    sigemptyset(&mask);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_mask, &mask), 0);
    pthread_join(t, NULL);
    static const int blocked[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        assert_int_equal(sigismember(&mask, blocked[i]), 1);
    assert_int_equal(sigismember(&mask, SIGUSR1), 0);
}

static void *wait_in_thread(void *arg)
{
    *(int *)arg = sig_wait();
    return NULL;
}

static void test_signal_to_process_reaches_the_waiting_thread(void **state)
{
    (void)state;
    int got = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_in_thread, &got), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    pthread_join(t, NULL);
    assert_int_equal(got, SIGHUP);
}

static int write_to_closed_pipe(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    close(fds[0]);
    errno = 0;
    ssize_t n = write(fds[1], "x", 1);
    int err = errno;
    close(fds[1]);
    return n == -1 ? err : 0;
}

static void test_write_to_closed_pipe_is_epipe_not_death(void **state)
{
    (void)state;
    assert_int_equal(write_to_closed_pipe(), EPIPE);
}

/* A thread that unblocks SIGPIPE still survives: it is also ignored. */
static void *unblock_and_write(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    *(int *)arg = write_to_closed_pipe();
    return NULL;
}

static void test_sigpipe_stays_ignored_when_unblocked(void **state)
{
    (void)state;
    int err = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, unblock_and_write, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(err, EPIPE);
}

int main(void)
{
    sig_block_all();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_wait_returns_each_termination_signal),
        cmocka_unit_test(test_threads_started_later_inherit_the_mask),
        cmocka_unit_test(test_signal_to_process_reaches_the_waiting_thread),
        cmocka_unit_test(test_write_to_closed_pipe_is_epipe_not_death),
        cmocka_unit_test(test_sigpipe_stays_ignored_when_unblocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
