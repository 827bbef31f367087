/*
 * gavel-gateway: what every part of the daemon shares. One loop thread
 * runs a libuv loop with libwebsockets (HTTP and WebSocket) and the async
 * Redis contexts on it; nothing else touches them. Blocking work (calls to
 * the services, token checks, Redis commands) runs on the gateway's worker
 * pool and hands its result back to the loop. The services are reached
 * through the channels below.
 */
#ifndef GAVEL_GATEWAY_H
#define GAVEL_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <libwebsockets.h>

#include "rpc/rpc.h"

/** The loop; valid between listener start and stop. */
uv_loop_t *gw_loop(void);
/** The libwebsockets context on the loop; same lifetime. */
struct lws_context *gw_lws(void);
/** True on the loop thread. */
bool gw_on_loop(void);
/**
 * Runs job(arg) on a worker thread, then done(arg) on the loop thread
 * (always both, in that order). Returns 0, or -1 when the bounded queue is
 * full: then neither runs and the caller answers 503 / an error message.
 * Any thread.
 */
int gw_work(void (*job)(void *arg), void (*done)(void *arg), void *arg);
/* Classes of jobs, each with its own workers and bounded queue: auth jobs
 * (login, register, refresh: they wait on argon2 in the users service)
 * never hold the workers of the others. */
typedef enum { GW_JOB_NORMAL, GW_JOB_AUTH, GW_JOB_CLASSES } gw_job_class;
/** As gw_work, on the workers of class cls (gw_work is GW_JOB_NORMAL).
 *  -1 when that class's queue is full. Any thread. */
int gw_work_class(gw_job_class cls, void (*job)(void *arg), void (*done)(void *arg),
                  void *arg);
/* A job that outlives its worker's turn: it started an asynchronous call
 * (rpc_unary_start) and ends when the answer comes. */
typedef struct gw_job gw_job;
/** Called inside a job, on its worker: the job does not end when its
 *  function returns (the worker moves on) but at gw_job_release of the
 *  handle returned, from any thread, exactly once; then its done callback
 *  runs on the loop as usual. The job keeps its place in its class's
 *  bounded queue until then, and the loop's stop waits for it. */
gw_job *gw_job_hold(void);
void gw_job_release(gw_job *h);
/** Runs fn(arg) on the loop thread soon (from any thread). */
void gw_post(void (*fn)(void *arg), void *arg);

/*
 * Channels to the services (rpc_channel_get), from GAVEL_USERS_ADDR,
 * GAVEL_AUCTIONS_ADDR, GAVEL_NOTIFICATIONS_ADDR, GAVEL_SEARCH_ADDR, GAVEL_PAYMENTS_ADDR, GAVEL_STREAMING_ADDR and GAVEL_BIDS_ADDR (a
 * comma list of legacy bids instances); gw_bids(lot_id) is the lot's
 * recorded instance (libs/rpc rpc_owner_addr, thread-safe). Borrowed; any
 * thread.
 */
rpc_channel *gw_users(void);
rpc_channel *gw_auctions(void);
rpc_channel *gw_notifications(void);
rpc_channel *gw_search(void);
rpc_channel *gw_payments(void);
rpc_channel *gw_streaming(void);
rpc_channel *gw_bids(int64_t lot_id);

#endif
