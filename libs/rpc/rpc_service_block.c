/*
 * The service block: the start-up and shut-down every daemon shares, run
 * from what its definition declares. Settings rows for its address and
 * database, the pool and its migrations (the events library's first, then
 * those the daemon lists: other libraries' it uses, then its own), the
 * outbox producer and relay, the event consumers and
 * the daemon's metrics. A daemon's own lifecycle.c keeps only its domain.
 *
 * Order, both ways: pool, migrations, producer, relay before post_init
 * (the daemon's start-up may write and kick the relay); consumers after it
 * (post_init may prepare what their handlers use). On the way out the
 * consumers stop first (before pre_exit, while the pool is still open),
 * and after pre_exit the relay publishes what is committed and stops, the
 * producer flushes, and the pool closes last.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_skel_int.h"

#define DEV_DSN "host=127.0.0.1 port=55432 user=gavel"

static struct {
    const rpc_service *svc;          /* the definition the rows were built for */
    cfg_entry rows[5];
    char *owned[4];                  /* the rows' built strings */
    const char *addr, *listen_addr, *dsn;
    int64_t pool_size;
    db_pool *pool;
    ev_producer *producer;
    ev_relay *relay;
    ev_consumer **consumers;
    size_t nconsumers;
} blk;

/* Returns a new "GAVEL_<NAME>_<suffix>" with the service name upper-cased. */
static char *svc_env(const rpc_service *svc, const char *suffix)
{
    char *s = xasprintf("GAVEL_%s_%s", svc->name, suffix);
    for (char *p = s; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

const cfg_entry *rpc__block_config(const rpc_service *svc)
{
    if (blk.svc == svc)
        return blk.rows;
    /* Built once per process for its one daemon; tests describe several. */
    for (size_t i = 0; i < sizeof blk.owned / sizeof blk.owned[0]; i++) {
        free(blk.owned[i]);
        blk.owned[i] = NULL;
    }
    memset(blk.rows, 0, sizeof blk.rows);
    blk.svc = svc;
    size_t n = 0;
    if (svc->addr_env != NULL)
        blk.rows[n++] = (cfg_entry){ svc->addr_env, svc->default_addr, CFG_STR, &blk.addr, 0, 0,
                                     "gRPC address of this daemon (other daemons dial it)" };
    blk.rows[n++] = (cfg_entry){ "GAVEL_LISTEN_ADDR", "", CFG_STR, &blk.listen_addr, 0, 0,
                                 "listen address that overrides the daemon's own, e.g. "
                                 "0.0.0.0:50051 in a container" };
    const rpc_database *db = &svc->db;
    if (db->name != NULL) {
        blk.owned[0] = xasprintf(DEV_DSN " dbname=%s", db->name);
        blk.owned[1] = xasprintf("libpq connection string of the %s database", svc->name);
        blk.owned[2] = svc_env(svc, "DB_POOL");
        blk.owned[3] = xasprintf("%d", db->pool_default);
        blk.rows[n++] = (cfg_entry){ "GAVEL_PG_DSN",
                                     db->default_dsn != NULL ? db->default_dsn : blk.owned[0],
                                     CFG_STR, &blk.dsn, 0, 0, blk.owned[1] };
        blk.rows[n++] = (cfg_entry){ blk.owned[2], blk.owned[3], CFG_INT, &blk.pool_size,
                                     db->pool_min, db->pool_max,
                                     "PostgreSQL connections of the daemon's pool" };
    }
    return blk.rows;
}

const char *rpc_server_own_addr(void)
{
    return blk.addr;
}

const char *rpc__block_listen_addr(const rpc_service *svc)
{
    if (blk.listen_addr != NULL && blk.listen_addr[0] != '\0')
        return blk.listen_addr;
    return blk.addr != NULL ? blk.addr : svc->default_addr;
}

void rpc_metrics_register(const mx_entry *table)
{
    for (const mx_entry *e = table; e != NULL && e->name != NULL; e++)
        if (e->var != NULL)
            *e->var = e->make(e->name, e->help, e->labels);
}

static int open_database(const rpc_service *svc)
{
    char err[512];
    const rpc_database *db = &svc->db;
    blk.pool = db_pool_new(blk.dsn, (int)blk.pool_size, db->stmts, err, sizeof err);
    if (blk.pool == NULL) {
        log_error("database: %s", err);
        return -1;
    }
    if (db_migrate(blk.pool, "events", ev_migrations) < 0)
        return -1;
    for (const rpc_migrations *m = db->migrations; m != NULL && m->component != NULL; m++)
        if (db_migrate(blk.pool, m->component, m->list) < 0)
            return -1;
    if (db->pool != NULL)
        *db->pool = blk.pool;
    return 0;
}

static int start_outbox(const rpc_service *svc)
{
    if (blk.pool == NULL) {
        log_error("%s: the outbox relay needs a database (rpc_service.db)", svc->name);
        return -1;
    }
    blk.producer = ev_producer_start(svc->name);
    if (blk.producer == NULL)
        return -1;
    blk.relay = ev_relay_start(blk.pool, blk.producer);
    if (blk.relay == NULL)
        return -1;
    if (svc->outbox.relay != NULL)
        *svc->outbox.relay = blk.relay;
    return 0;
}

int rpc__block_start(const rpc_service *svc)
{
    rpc_metrics_register(svc->metrics);
    if (svc->db.name != NULL && open_database(svc) < 0)
        return -1;
    if (svc->outbox.is_on && start_outbox(svc) < 0)
        return -1;
    return 0;
}

int rpc__block_consumers_start(const rpc_service *svc)
{
    size_t n = 0;
    for (const rpc_consumer *c = svc->consumers; c != NULL && c->group != NULL; c++)
        n++;
    if (n == 0)
        return 0;
    if (blk.pool == NULL) {
        log_error("%s: event consumers need a database (rpc_service.db)", svc->name);
        return -1;
    }
    char *bootstrap = ev_bootstrap();
    if (bootstrap == NULL) {
        log_error("no Kafka bootstrap: set GAVEL_KAFKA_BOOTSTRAP or GAVEL_KAFKA_BOOTSTRAP_FILE");
        return -1;
    }
    blk.consumers = xcalloc(n, sizeof *blk.consumers);
    int rc = 0;
    char err[512];
    for (const rpc_consumer *c = svc->consumers; c->group != NULL; c++) {
        ev_consumer *ec =
            c->is_piped ? ev_consumer_start_piped(bootstrap, c->group, c->topics, blk.pool,
                                                  c->stmts, c->handler, c->batch_end, c->arg,
                                                  err, sizeof err)
                        : ev_consumer_start_batched(bootstrap, c->group, c->topics, blk.pool,
                                                    c->handler, c->batch_end, c->arg, err,
                                                    sizeof err);
        if (ec == NULL) {
            log_error("events: consumer %s: %s", c->group, err);
            rc = -1;
            break;
        }
        blk.consumers[blk.nconsumers++] = ec;
    }
    free(bootstrap);
    return rc;
}

void rpc__block_consumers_stop(void)
{
    while (blk.nconsumers > 0)
        ev_consumer_stop(blk.consumers[--blk.nconsumers]);
    free(blk.consumers);
    blk.consumers = NULL;
}

void rpc__block_stop(const rpc_service *svc)
{
    rpc__block_consumers_stop();
    if (svc->outbox.relay != NULL)
        *svc->outbox.relay = NULL;
    ev_relay_stop(blk.relay);
    blk.relay = NULL;
    ev_producer_free(blk.producer);
    blk.producer = NULL;
    if (svc->db.pool != NULL)
        *svc->db.pool = NULL;
    db_pool_free(blk.pool);
    blk.pool = NULL;
}
