/*
 * What the files of the daemon skeleton share (rpc_main.c and the modules
 * it runs); private to libs/rpc. The skeleton runs one daemon per process,
 * so each module keeps its state in one static structure, owned by the
 * thread that runs rpc_server_main unless a function says otherwise.
 */
#ifndef GAVEL_RPC_SKEL_INT_H
#define GAVEL_RPC_SKEL_INT_H

#include "rpc/rpc.h"

/* ---- rpc_settings.c: every settings table of a daemon ---- */

enum { RPC__MAX_TABLES = 8 };

/* One settings table and the name --describe gives it. */
typedef struct {
    const char *table;       /* "runtime", "core", … */
    const cfg_entry *rows;
    int (*load)(char *err, size_t errlen); /* the table's own load and checks; NULL: cfg_load */
} rpc__table;

/** Fills out with svc's tables in load order; returns how many. The
 *  service block's table is built first (rpc__block_config). */
size_t rpc__tables(const rpc_service *svc, rpc__table out[RPC__MAX_TABLES]);
/** Refuses a variable that two rows declare. Returns 0 or -1 with err. */
int rpc__tables_check(const rpc__table *t, size_t n, char *err, size_t errlen);
/** Loads every table strictly, with each library's own checks, and refuses
 *  a variable declared in two tables. Returns 0 or -1 with the reason. */
int rpc__tables_load(const rpc_service *svc, char *err, size_t errlen);

/* ---- rpc_service_block.c: database, relay, consumers, metrics ---- */

/** The service block's settings rows for svc (its address, GAVEL_LISTEN_ADDR,
 *  GAVEL_PG_DSN and GAVEL_<SVC>_DB_POOL when it has a database): built on
 *  first use, borrowed for the process. */
const cfg_entry *rpc__block_config(const rpc_service *svc);
/** The gRPC address to listen on: GAVEL_LISTEN_ADDR, else the service's
 *  own. Borrowed; valid once the tables are loaded. */
const char *rpc__block_listen_addr(const rpc_service *svc);
/** Registers the daemon's metrics, opens the pool, migrates (events, then
 *  the daemon's), starts producer and relay. Returns 0 or -1 (logged);
 *  what started is stopped by rpc__block_stop. */
int rpc__block_start(const rpc_service *svc);
/** Starts the consumers in table order. Returns 0 or -1 (logged). */
int rpc__block_consumers_start(const rpc_service *svc);
/** Stops every consumer started, last first. */
void rpc__block_consumers_stop(void);
/** Stops the relay, frees the producer, closes the pool; clears the
 *  daemon's pointers. Safe after a partial start, and twice. */
void rpc__block_stop(const rpc_service *svc);

/* ---- rpc_listener.c: what serves (gRPC and extra listeners) ---- */

/** Starts the gRPC server for svc on addr (health names from its
 *  descriptors), then each listener in order. Health stays NOT_SERVING
 *  until rpc__front_serve. Returns 0, or -1 with the reason in err, having
 *  stopped what it started. */
int rpc__front_start(const rpc_service *svc, const char *addr, char *err, size_t errlen);
/** Health turns SERVING (while the daemon's is_healthy agrees). */
void rpc__front_serve(void);
/** What /healthz and Health.Check answer. Any thread. */
bool rpc__front_is_healthy(void);
/** The gRPC port bound, 0 when not serving. */
int rpc__front_port(void);
/**
 * Health turns NOT_SERVING; then gRPC drains on this thread while every
 * listener's drain runs on a thread of its own, all within the one
 * budget_ms; then the listeners stop, last first. No-op when not started.
 */
void rpc__front_stop(int budget_ms);

/* ---- rpc_descriptors.c ---- */

/** Health's service names for svc: from its descriptors, else its own
 *  list. Returns a new NULL-terminated array (free() it; the names are
 *  borrowed from the descriptors). */
const char **rpc__service_names(const rpc_service *svc);

/* ---- rpc_auth.c ---- */

/* GAVEL_AUTH_REVOCATION_CACHE_MS and the three key files. */
extern const cfg_entry rpc__auth_config[];

/* ---- rpc_describe.c ---- */

/* The runtime's series (made per method at use). */
extern const mx_entry rpc__runtime_metrics[];

#endif
