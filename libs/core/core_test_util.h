/*
 * core_test_util.h: helpers shared by core's unit tests, never by library
 * code. Death tests run the doomed code in a forked child with stderr on a
 * pipe, so the parent can check both how the child died and what it said.
 * Fork only from tests that have started no threads.
 */
#ifndef GAVEL_CORE_TEST_UTIL_H
#define GAVEL_CORE_TEST_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Runs fn(arg) in a child; returns its wait status and fills out with at
 * most outlen-1 bytes of its stderr (NUL-terminated).
 */
static inline int run_in_child(void (*fn)(void *), void *arg, char *out, size_t outlen)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        char scratch[256];
        char *dst = used + 1 < outlen ? out + used : scratch;
        size_t room = used + 1 < outlen ? outlen - 1 - used : sizeof scratch;
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != scratch)
            used += (size_t)n;
    }
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* True when the status says the child was killed by SIGABRT. */
static inline int died_of_abort(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

#endif
