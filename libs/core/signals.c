/*
 * signals: daemons take signals synchronously. main() blocks the
 * termination signals before starting any thread, so every thread inherits
 * the mask and no handler ever runs on an arbitrary thread; main later
 * calls sig_wait() and starts a drain. SIGPIPE is blocked and also set to
 * SIG_IGN for the life of the process: a peer closing a socket must be an
 * EPIPE error from write(), never a dead daemon, whatever a thread's mask.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

void sig_block_all(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        panic("pthread_sigmask: %s", strerror(rc));

    struct sigaction sa = { .sa_handler = SIG_IGN };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        panic("sigaction(SIGPIPE): %s", strerror(errno));
}

int sig_wait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        int rc = sigwait(&set, &sig);
        if (rc == 0)
            return sig;
        if (rc != EINTR)
            panic("sigwait: %s", strerror(rc));
    }
}
