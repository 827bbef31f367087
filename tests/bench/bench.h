/*
 * Shared pieces of the gavel-bench load generator.
 */
#ifndef GAVEL_BENCH_H
#define GAVEL_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define WARMUP_US 1000000LL

typedef struct {
    int64_t *v;
    size_t n, cap;
    int64_t errors;
} samples;

void sample_add(samples *s, int64_t us);
/** Prints calls, errors, rps and p50/p99/p999 over `seconds`; sorts s. */
void report(samples *s, double seconds);
/** A positive count from argv, or exit(2). */
int arg_int(const char *s);
/** gavel-bench open|place (bench_bids.c). */
int run_bids(int argc, char **argv);
/** gavel-bench quote|quote-sql|quote-plan (bench_quote.c). */
int run_quote(int argc, char **argv);

#endif
