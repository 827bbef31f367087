/*
 * Start-up and shut-down of the auctions daemon's own parts: the route to
 * the bids instances, read with the settings, and the scheduler. The
 * skeleton opens and migrates the database and runs the outbox relay
 * around them. On the way out the scheduler stops first (it may be
 * mid-call to the bids service); then the skeleton's relay publishes what
 * is committed.
 */
#include "auctions.h"

auctions_state auctions;
auctions_metric_set auctions_mx;

const cfg_entry auctions_config[] = {
    { "GAVEL_BIDS_ADDR", "127.0.0.1:50053", CFG_STR, &auctions.bids_addr, 0, 0,
      "the bids service (OpenLot, CloseLot) for lots with no recorded instance, when it runs "
      "as one instance" },
    { "GAVEL_BIDS_ADDRS", "", CFG_STR, &auctions.bids_addrs, 0, 0,
      "the legacy bids instances, comma-separated in their index order: a lot with no "
      "recorded instance goes to instance n % count (overrides GAVEL_BIDS_ADDR); recorded "
      "lots follow the registry in Redis" },
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &auctions.users_addr, 0, 0,
      "the users service (GetProfile: CreateLot checks the seller staff name)" },
    { "GAVEL_CURRENCY", "RUB", CFG_STR, &auctions.currency, 0, 0, "platform currency" },
    { "GAVEL_CURRENCIES", "RUB,EUR,USD", CFG_STR, &auctions.currencies, 0, 0,
      "currencies lots may be priced in" },
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

const mx_entry auctions_metrics[] = {
    { "gavel_auctions_lots_opened_total", mx_counter, "Lots opened in the bids service.", NULL,
      &auctions_mx.lots_opened },
    { "gavel_auctions_lots_closed_total", mx_counter, "Lots closed by the scheduler.", NULL,
      &auctions_mx.lots_closed },
    { "gavel_auctions_close_extended_total", mx_counter,
      "CloseLot answers that soft close moved the end.", NULL, &auctions_mx.close_extended },
    { "gavel_auctions_open_refused_total", mx_counter, "Lots the bids service refused to open.",
      NULL, &auctions_mx.open_refused },
    { "gavel_auctions_open_lag_seconds", mx_histogram,
      "How late a lot opened after its start time.", NULL, &auctions_mx.open_lag },
    { 0 },
};

int auctions_config_check(char *err, size_t errlen)
{
    char why[256];
    const char *addrs = auctions.bids_addrs[0] != '\0' ? auctions.bids_addrs : auctions.bids_addr;
    auctions.bids_owner = rpc_owner_new(addrs, NULL, NULL, why, sizeof why);
    if (auctions.bids_owner == NULL) {
        snprintf(err, errlen, "%s: %s",
                 auctions.bids_addrs[0] != '\0' ? "GAVEL_BIDS_ADDRS" : "GAVEL_BIDS_ADDR", why);
        return -1;
    }
    return 0;
}

int auctions_post_init(void)
{
    return scheduler_start();
}

void auctions_pre_exit(void)
{
    scheduler_stop();
    rpc_owner_free(auctions.bids_owner);
    auctions.bids_owner = NULL;
}

bool auctions_is_healthy(void)
{
    return auctions.db != NULL;
}
