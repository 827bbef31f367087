/*
 * Rules of token buckets as the settings give them, and the wait a client
 * is told. Pure.
 */
#include <stdio.h>

#include "limit/limit.h"

int lim_rule_check(const lim_rule *r, const char *name_per_min, const char *name_burst,
                   char *err, size_t errlen)
{
    if (r->per_min < 0 || r->per_min > LIM_PER_MIN_MAX) {
        snprintf(err, errlen, "%s=%lld is out of range (allowed 0..%d)", name_per_min,
                 (long long)r->per_min, LIM_PER_MIN_MAX);
        return LIM_E_ARG;
    }
    if (r->burst < 0 || r->burst > LIM_BURST_MAX) {
        snprintf(err, errlen, "%s=%lld is out of range (allowed 0..%d)", name_burst,
                 (long long)r->burst, LIM_BURST_MAX);
        return LIM_E_ARG;
    }
    if (r->per_min > 0 && r->burst < 1) {
        snprintf(err, errlen, "%s=%lld turns the bucket on, so %s must be at least 1 (it is %lld)",
                 name_per_min, (long long)r->per_min, name_burst, (long long)r->burst);
        return LIM_E_ARG;
    }
    return 0;
}

int64_t lim_retry_after_s(int64_t wait_ms)
{
    if (wait_ms <= 1000)
        return 1;
    return (wait_ms + 999) / 1000;
}
