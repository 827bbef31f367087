/*
 * Start-up and shut-down of the auctions daemon: configuration, database
 * and migrations, the outbox relay, then the scheduler. On the way out the
 * scheduler stops first (it may be mid-call to the bids service), then the
 * relay publishes what is committed.
 */
#include "auctions.h"

auctions_state auctions;

const cfg_entry auctions_config[] = {
    { "GAVEL_PG_DSN", "host=127.0.0.1 port=55432 user=gavel dbname=gavel_auctions", CFG_STR,
      &auctions.pg_dsn, 0, 0, "libpq connection string of the auctions database" },
    { "GAVEL_BIDS_ADDR", "127.0.0.1:50053", CFG_STR, &auctions.bids_addr, 0, 0,
      "the bids service (OpenLot, CloseLot), when it runs as one instance" },
    { "GAVEL_BIDS_ADDRS", "", CFG_STR, &auctions.bids_addrs, 0, 0,
      "several bids instances, comma-separated in their index order: lot n goes to "
      "instance n % count (overrides GAVEL_BIDS_ADDR)" },
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &auctions.users_addr, 0, 0,
      "the users service (GetProfile: CreateLot checks the seller staff name)" },
    { "GAVEL_CURRENCY", "RUB", CFG_STR, &auctions.currency, 0, 0, "platform currency" },
    { "GAVEL_CURRENCIES", "RUB,EUR,USD", CFG_STR, &auctions.currencies, 0, 0,
      "currencies lots may be priced in" },
    { "GAVEL_AUCTIONS_DB_POOL", "8", CFG_INT, &auctions.pool_size, 3, 256,
      "database connections" },
    { "GAVEL_AUCTIONS_MIN_LEAD_MS", "60000", CFG_INT, &auctions.min_lead_ms, 0, 86400000,
      "ScheduleLot: how far ahead of now a lot may open at the earliest" },
    { "GAVEL_AUCTIONS_MIN_DURATION_MS", "60000", CFG_INT, &auctions.min_duration_ms, 1000,
      86400000, "ScheduleLot: the shortest auction" },
    { "GAVEL_AUCTIONS_DEFAULT_DURATION_MS", "1800000", CFG_INT, &auctions.default_duration_ms,
      1000, 2592000000LL, "ScheduleLot without an end: the seed's 30-minute online auction" },
    { "GAVEL_AUCTIONS_ENDING_SOON_MS", "300000", CFG_INT, &auctions.ending_soon_ms, 0,
      86400000, "auction.ending_soon goes out this long before a live lot's end" },
    { "GAVEL_AUCTIONS_TICK_MS", "250", CFG_INT, &auctions.tick_ms, 10, 10000,
      "the scheduler's longest sleep between looks at due lots" },
    { "GAVEL_AUCTIONS_BIDS_DEADLINE_MS", "3000", CFG_INT, &auctions.bids_deadline_ms, 100,
      60000, "deadline of an OpenLot/CloseLot call" },
    { 0 },
};

int auctions_post_init(void)
{
    char err[512];
    const char *addrs = auctions.bids_addrs[0] != '\0' ? auctions.bids_addrs : auctions.bids_addr;
    auctions.bids_route = rpc_route_parse(addrs, err, sizeof err);
    if (auctions.bids_route == NULL) {
        log_error("GAVEL_BIDS_ADDRS: %s", err);
        return -1;
    }
    auctions.db = db_pool_new(auctions.pg_dsn, (int)auctions.pool_size, auctions_stmts, err,
                              sizeof err);
    if (auctions.db == NULL) {
        log_error("database: %s", err);
        return -1;
    }
    if (db_migrate(auctions.db, "events", ev_migrations) < 0 ||
        db_migrate(auctions.db, "idem", idem_migrations) < 0 ||
        db_migrate(auctions.db, "auctions", auctions_migrations) < 0)
        return -1;
    auctions.producer = ev_producer_start("auctions");
    if (auctions.producer == NULL)
        return -1;
    auctions.relay = ev_relay_start(auctions.db, auctions.producer);
    if (auctions.relay == NULL)
        return -1;
    return scheduler_start();
}

void auctions_pre_exit(void)
{
    scheduler_stop();
    ev_relay_stop(auctions.relay);
    ev_producer_free(auctions.producer);
    db_pool_free(auctions.db);
    rpc_route_free(auctions.bids_route);
    auctions.relay = NULL;
    auctions.producer = NULL;
    auctions.db = NULL;
    auctions.bids_route = NULL;
}

bool auctions_is_healthy(void)
{
    return auctions.db != NULL;
}
