/*
 * The loop thread and the worker pool behind gateway.h, as the HTTP
 * listener starts and stops them.
 */
#ifndef GAVEL_GATEWAY_LOOP_H
#define GAVEL_GATEWAY_LOOP_H

#include <stddef.h>

#include "gateway.h"

/* The size of one class's pool: its threads and its jobs queued or
 * running at most. */
typedef struct {
    int workers;
    int queue;
} gw_pool_size;

/**
 * Starts each class's worker threads with its bounded queue (sizes[cls]),
 * then the loop thread, which runs setup(err, errlen) before its loop
 * (setup creates the lws context on it). Returns 0, or -1 with setup's
 * message in err (nothing is left running). Main thread.
 */
int gw_loop_start(const gw_pool_size sizes[GW_JOB_CLASSES],
                  int (*setup)(char *err, size_t errlen), char *err, size_t errlen);
/**
 * Runs teardown() on the loop (it destroys the lws context), lets every
 * queued job run and its done callback with it, then ends the loop and
 * joins every thread. Main thread; after gw_loop_start succeeded.
 */
void gw_loop_stop(void (*teardown)(void));
/** Jobs queued or running on the workers (for the drain and metrics). */
int gw_loop_jobs(void);

#endif
