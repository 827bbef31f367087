/*
 * gavel-bench login-flood TARGET CONCURRENCY SECONDS
 *
 * An attacker's load on the users service: CONCURRENCY anonymous Login
 * calls in flight at all times from one completion queue, each with an
 * email nobody registered and a wrong password, each answer followed at
 * once by the next call. The system tests and `make bench` run it beside
 * real bidding to show the flood cannot slow bids down.
 *
 * Prints one line: calls=… seconds=… rps=… ok=… busy=… throttled=…
 * unauthenticated=… other=… (busy: refused because the expensive pool's
 * queue was full; throttled: refused by the login throttle).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>

#include "rpc/rpc.h"
#include "gavel/users/v1/users.pb-c.h"

#include "bench.h"

typedef struct {
    bench_call c;
} flood_slot;

typedef struct {
    long calls, ok, busy, throttled, unauthenticated, other;
} flood_counts;

static grpc_byte_buffer *login_request(unsigned nonce, long k)
{
    char email[96];
    snprintf(email, sizeof email, "nobody-%u-%ld@flood.invalid", nonce, k);
    Gavel__Users__V1__LoginRequest r = GAVEL__USERS__V1__LOGIN_REQUEST__INIT;
    r.email = email;
    r.password = "not the password at all";
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

static void count(flood_counts *fc, const bench_call *c, bool ok)
{
    fc->calls++;
    if (!ok) {
        fc->other++;
        return;
    }
    const char *msg = (const char *)GRPC_SLICE_START_PTR(c->details);
    size_t len = GRPC_SLICE_LENGTH(c->details);
    switch (c->status) {
    case GRPC_STATUS_OK:
        fc->ok++;
        break;
    case GRPC_STATUS_UNAUTHENTICATED:
        fc->unauthenticated++;
        break;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        if (len >= 11 && memcmp(msg, "server busy", 11) == 0)
            fc->busy++;
        else
            fc->throttled++;
        break;
    default:
        fc->other++;
    }
}

int run_login_flood(const char *target, int conc, int seconds)
{
    rpc_grpc_init();
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, cr, NULL);
    grpc_channel_credentials_release(cr);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    flood_slot *slots = xcalloc((size_t)conc, sizeof *slots);
    unsigned nonce = (unsigned)(now_us() & 0xffffffff);
    long k = 0;
    int64_t start = mono_us(), end = start + (int64_t)seconds * 1000000;
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_seconds(seconds + 30, GPR_TIMESPAN));
    for (int i = 0; i < conc; i++)
        bench_call_start(&slots[i].c, ch, cq, "/gavel.users.v1.Users/Login",
                         login_request(nonce, k++), NULL, 0, deadline, &slots[i]);
    flood_counts fc = { 0 };
    for (int inflight = conc; inflight > 0;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        flood_slot *s = ev.tag;
        count(&fc, &s->c, ev.success != 0);
        bench_call_end(&s->c);
        if (mono_us() < end)
            bench_call_start(&s->c, ch, cq, "/gavel.users.v1.Users/Login",
                             login_request(nonce, k++), NULL, 0, deadline, s);
        else
            inflight--;
    }
    double took = (double)(mono_us() - start) / 1e6;
    printf("calls=%ld seconds=%.2f rps=%.0f ok=%ld busy=%ld throttled=%ld unauthenticated=%ld "
           "other=%ld\n",
           fc.calls, took, (double)fc.calls / took, fc.ok, fc.busy, fc.throttled,
           fc.unauthenticated, fc.other);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    free(slots);
    return 0;
}
