/*
 * Failed calls in the log. Every call that ends in an error other than
 * NOT_FOUND gets one line with its method, status and message (and the
 * request id the log line carries), at info for the caller's mistakes and
 * at warn for our own failures (INTERNAL, UNKNOWN, UNAVAILABLE, DATA_LOSS,
 * DEADLINE_EXCEEDED). A flood of bad calls must not fill the disk, nor
 * hide our own failures: each of the two kinds may write at most
 * GAVEL_RPC_LOG_FAILED_PER_S lines a second, and the first line of the
 * next second says how many were dropped. Counting is lock-free: a hot lot
 * refuses tens of thousands of late bids a second on the polling thread.
 */
#include <stdatomic.h>

#include "rpc/rpc_int.h"

typedef struct {
    _Atomic int64_t second;   /* mono_us / 10^6 of the window being counted */
    atomic_long written;
    atomic_long dropped;
} log_budget;

static log_budget budgets[2]; /* [0] the caller's mistakes, [1] ours */

static const char *const status_names[17] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

static bool is_ours(int code)
{
    return code == GRPC_STATUS_INTERNAL || code == GRPC_STATUS_UNKNOWN ||
           code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DATA_LOSS ||
           code == GRPC_STATUS_DEADLINE_EXCEEDED;
}

/* True when this line may be written; opens a new second when one began. */
static bool may_write(log_budget *b, log_level lvl)
{
    int64_t now_s = mono_us() / 1000000;
    int64_t seen = atomic_load(&b->second);
    if (seen != now_s && atomic_compare_exchange_strong(&b->second, &seen, now_s)) {
        atomic_store(&b->written, 0);
        long dropped = atomic_exchange(&b->dropped, 0);
        if (dropped > 0)
            log_msg(lvl, "%ld more failed-call lines were dropped in the last second "
                         "(GAVEL_RPC_LOG_FAILED_PER_S=%lld)",
                    dropped, (long long)rpc__cfg.log_failed_per_s);
    }
    if (atomic_fetch_add(&b->written, 1) < rpc__cfg.log_failed_per_s)
        return true;
    atomic_fetch_add(&b->dropped, 1);
    return false;
}

void rpc__log_failed(const char *method, int code, const char *message)
{
    bool ours = is_ours(code);
    log_level lvl = ours ? LOG_WARN : LOG_INFO;
    if (!may_write(&budgets[ours], lvl))
        return;
    log_msg(lvl, "%s -> %d %s: %s", method, code,
            code >= 0 && code <= 16 ? status_names[code] : "?", message);
}
