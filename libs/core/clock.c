/*
 * clock: the two clocks a daemon needs. Wall time (CLOCK_REALTIME) stamps
 * records and logs: server time is the only clock Gavel trusts, never a
 * client's. Monotonic time (CLOCK_MONOTONIC) measures durations and
 * deadlines, since it never jumps when the wall clock is stepped.
 */
#include "core.h"

#include <time.h>

static int64_t clock_us(clockid_t id, const char *name)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        panic("clock_gettime(%s) failed", name);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_us(void)
{
    return clock_us(CLOCK_REALTIME, "CLOCK_REALTIME");
}

int64_t mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
}

void deadline_after_ms(struct timespec *out, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}
