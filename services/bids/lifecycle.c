/*
 * Start-up and shut-down of the bids daemon. Order matters: shards exist
 * before the rebuild fills them, the committer runs before the shards
 * accept commands, and on the way out the shards stop first, then the
 * committer writes what they handed over, then the releaser and relay.
 */
#include <stdlib.h>

#include "bids.h"

bids_state bids;

const cfg_entry bids_config[] = {
    { "GAVEL_PG_DSN", "host=127.0.0.1 port=55432 user=gavel dbname=gavel_bids", CFG_STR,
      &bids.pg_dsn, 0, 0, "libpq connection string of the bids database" },
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &bids.users_addr, 0, 0,
      "the users service (Wallet)" },
    { "GAVEL_BIDS_SHARDS", "2", CFG_INT, &bids.shards, 1, MAX_SHARDS,
      "engine threads; lot n belongs to shard (n / instances) % shards" },
    { "GAVEL_BIDS_INSTANCES", "1", CFG_INT, &bids.instances, 1, RPC_ROUTE_MAX,
      "bids instances in all; lot n belongs to instance n % instances" },
    { "GAVEL_BIDS_INSTANCE", "0", CFG_INT, &bids.instance, 0, RPC_ROUTE_MAX - 1,
      "this instance's index (0-based, the order of GAVEL_BIDS_ADDRS)" },
    { "GAVEL_BIDS_DB_POOL", "8", CFG_INT, &bids.pool_size, 3, 256, "database connections" },
    { "GAVEL_BIDS_WALLET_DEADLINE_MS", "2000", CFG_INT, &bids.wallet_deadline_ms, 100, 30000,
      "deadline of a ReserveFunds call" },
    { "GAVEL_BIDS_WALLET_SENDERS", "2", CFG_INT, &bids.wallet_senders, 1, 16,
      "ReserveFundsBatch calls in flight at once (reservations queue meanwhile)" },
    { "GAVEL_BIDS_COMMIT_MAX", "4096", CFG_INT, &bids.commit_max, 1, 1000000,
      "most bids and answers in one group commit" },
    { "GAVEL_BIDS_HEARTBEAT_MS", "5000", CFG_INT, &bids.heartbeat_ms, 100, 60000,
      "WatchLot heartbeat interval" },
    { 0 },
};

static int start_events(void)
{
    bids.producer = ev_producer_start("bids");
    if (bids.producer == NULL)
        return -1;
    bids.relay = ev_relay_start(bids.db, bids.producer);
    return bids.relay != NULL ? 0 : -1;
}

int bids_post_init(void)
{
    char err[512];
    if (bids.instance >= bids.instances) {
        log_error("GAVEL_BIDS_INSTANCE %lld is not below GAVEL_BIDS_INSTANCES %lld",
                  (long long)bids.instance, (long long)bids.instances);
        return -1;
    }
    bids.db = db_pool_new(bids.pg_dsn, (int)bids.pool_size, bids_stmts, err, sizeof err);
    if (bids.db == NULL) {
        log_error("database: %s", err);
        return -1;
    }
    if (db_migrate(bids.db, "events", ev_migrations) < 0 ||
        db_migrate(bids.db, "bids", bids_migrations) < 0 || start_events() < 0)
        return -1;
    if (workers_start() < 0 || store_rebuild() < 0) {
        log_error("cannot rebuild the lots from the database");
        return -1;
    }
    funds_reconcile();
    if (commit_start() < 0 || workers_run() < 0 || funds_start() < 0 || reserve_start() < 0 ||
        reconcile_start() < 0)
        return -1;
    return 0;
}

void bids_pre_exit(void)
{
    reconcile_stop();
    reserve_stop();
    workers_stop();
    commit_stop();
    workers_free();
    funds_stop();
    ev_relay_stop(bids.relay);
    ev_producer_free(bids.producer);
    db_pool_free(bids.db);
    bids.relay = NULL;
    bids.producer = NULL;
    bids.db = NULL;
}

bool bids_is_healthy(void)
{
    return bids.db != NULL;
}
