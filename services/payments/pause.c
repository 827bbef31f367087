/*
 * The provider's back-off. A 429 answers with Retry-After; from then until
 * that moment no settlement worker calls the provider (they sleep), and
 * the RPCs that would call it answer UNAVAILABLE. One pause-until time for
 * the process, kept in an atomic: a later pause extends it, an earlier one
 * never shortens it.
 */
#include <stdatomic.h>

#include "payments.h"

static _Atomic int64_t pause_until_us;

void pause_provider(int seconds)
{
    if (seconds < 1)
        seconds = 1;
    int64_t until = now_us() + (int64_t)seconds * 1000000;
    int64_t cur = atomic_load(&pause_until_us);
    while (cur < until && !atomic_compare_exchange_weak(&pause_until_us, &cur, until))
        ;
    mx_add(pay_mx.provider_paused, 1);
    log_warn("the provider asked us to back off: every provider call paused for %d s", seconds);
}

int64_t pause_left_us(void)
{
    int64_t left = atomic_load(&pause_until_us) - now_us();
    return left > 0 ? left : 0;
}
