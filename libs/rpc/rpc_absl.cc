/*
 * rpc_absl: how Gavel starts gRPC, with the one switch of gRPC's abseil it
 * sets; the one C++ file in the tree (abseil has no C interface).
 *
 * Debian builds abseil with assertions on, and then every absl::Mutex
 * that gRPC locks runs abseil's lock-order cycle detector, which aborts
 * the process when it believes it found a cycle. gRPC's own locking has
 * tripped it (a client whose server stays down aborted: grpc/grpc#39461,
 * #40390), and its bookkeeping takes a global lock on every acquisition.
 * Measured on the bids daemon: Ping 85,000-97,000 -> 100,000 calls/s, the
 * refusal path 59,600-63,500 -> 66,000. Release builds of abseil leave
 * the detector off; so does Gavel.
 */
#include <pthread.h>
#include <grpc/grpc.h>
#include <absl/synchronization/mutex.h>

/* Declared for C in rpc.h, which C++ cannot include. */
extern "C" void rpc_grpc_init(void);

static void release_mode(void)
{
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void rpc_grpc_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, release_mode);
    grpc_init();
}
