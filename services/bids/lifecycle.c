/*
 * Start-up and shut-down of the bids engine. The skeleton opens the
 * database, migrates it and starts the outbox relay before post_init, and
 * stops the relay and closes the pool after pre_exit; in between, order
 * matters: shards exist before the rebuild fills them, the committer runs
 * before the shards accept commands, and on the way out the shards stop
 * first, then the committer writes what they handed over, then the
 * releaser.
 */
#include <string.h>

#include "bids.h"

bids_state bids;
bids_metric_set bids_mx;

const cfg_entry bids_config[] = {
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &bids.users_addr, 0, 0,
      "the users service (Wallet)" },
    { "GAVEL_BIDS_SHARDS", "2", CFG_INT, &bids.shards, 1, MAX_SHARDS,
      "engine threads; lot n belongs to shard (n / instances) % shards" },
    { "GAVEL_BIDS_INSTANCES", "1", CFG_INT, &bids.instances, 1, RPC_ROUTE_MAX,
      "bids instances in all; lot n belongs to instance n % instances" },
    { "GAVEL_BIDS_INSTANCE", "0", CFG_INT, &bids.instance, 0, RPC_ROUTE_MAX - 1,
      "this instance's index (0-based, the order of GAVEL_BIDS_ADDRS) for lots with no "
      "recorded instance" },
    { "GAVEL_BIDS_NAME", "", CFG_STR, &bids.name, 0, 0,
      "this instance's name in the registry (1..31 of a-z, 0-9, -); empty: "
      "bids-<GAVEL_BIDS_INSTANCE>" },
    { "GAVEL_BIDS_ADVERTISE_ADDR", "", CFG_STR, &bids.advertise_addr, 0, 0,
      "the gRPC address other daemons reach this instance at, as registered; empty: "
      "GAVEL_BIDS_ADDR" },
    { "GAVEL_BIDS_ACCEPTING", "true", CFG_BOOL, &bids.is_accepting, 0, 0,
      "take new lots (false: draining; lots already held are served until they close)" },
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

#define RELEASED_HELP "Wallet holds settled from hold_releases, by wallet answer."
#define DROPPED_HELP "WatchLot streams dropped before the lot closed."
const mx_entry bids_metrics[] = {
    { "gavel_bids_refused_early_total", mx_counter,
      "PlaceBids refused from the lot's view (too low, or by its leader), without its shard.",
      NULL, &bids_mx.refused_early },
    { "gavel_bids_group_commits_total", mx_counter, "Group-commit transactions.", NULL,
      &bids_mx.group_commits },
    { "gavel_bids_committed_total", mx_counter, "Bids made durable.", NULL, &bids_mx.committed },
    { "gavel_bids_group_commit_kilobids", mx_histogram, "Bids per group commit, in thousands.",
      NULL, &bids_mx.commit_kilobids },
    { "gavel_bids_group_commit_seconds", mx_histogram, "Duration of a group-commit transaction.",
      NULL, &bids_mx.commit_seconds },
    { "gavel_bids_reserve_batches_total", mx_counter, "Wallet.ReserveFundsBatch calls sent.",
      NULL, &bids_mx.reserve_batches },
    { "gavel_bids_reserve_items_total", mx_counter,
      "Reservations sent in Wallet.ReserveFundsBatch calls.", NULL, &bids_mx.reserve_items },
    { "gavel_bids_holds_released_total", mx_counter, RELEASED_HELP, "result=\"released\"",
      &bids_mx.holds_released },
    { "gavel_bids_holds_released_total", mx_counter, RELEASED_HELP,
      "result=\"already_settled\"", &bids_mx.holds_already_settled },
    { "gavel_bids_holds_released_total", mx_counter, RELEASED_HELP, "result=\"not_found\"",
      &bids_mx.holds_not_found },
    { "gavel_bids_hold_release_failures_total", mx_counter,
      "ReleaseFunds calls that left their hold for a later try.", NULL,
      &bids_mx.release_failures },
    { "gavel_bids_hold_releases_pending", mx_gauge,
      "hold_releases rows in the releaser's last read (at most 100), minus those settled since.",
      NULL, &bids_mx.releases_pending },
    { "gavel_bids_idempotency_keys", mx_gauge, "Idempotency keys held in memory (open lots only).",
      NULL, &bids_mx.idempotency_keys },
    { "gavel_bids_watchers_dropped_total", mx_counter, DROPPED_HELP, "reason=\"slow\"",
      &bids_mx.watchers_dropped_slow },
    { "gavel_bids_watchers_dropped_total", mx_counter, DROPPED_HELP, "reason=\"gone\"",
      &bids_mx.watchers_dropped_gone },
    { "gavel_bids_feed_published_total", mx_counter,
      "Lot feeds published to Redis (gavel:lot:<id>).", NULL, &bids_mx.feed_published },
    { "gavel_bids_feed_dropped_total", mx_counter,
      "Lot feeds dropped (Redis unreachable or too far behind); readers heal from the seq gap.",
      NULL, &bids_mx.feed_dropped },
    { 0 },
};

int bids_config_check(char *err, size_t errlen)
{
    static char default_name[RPC_OWNER_NAME_MAX];
    if (bids.instance >= bids.instances) {
        snprintf(err, errlen, "GAVEL_BIDS_INSTANCE %lld is not below GAVEL_BIDS_INSTANCES %lld",
                 (long long)bids.instance, (long long)bids.instances);
        return -1;
    }
    if (bids.name[0] == '\0') {
        snprintf(default_name, sizeof default_name, "bids-%lld", (long long)bids.instance);
        bids.name = default_name;
    }
    if (!rpc_owner_name_ok(bids.name)) {
        snprintf(err, errlen,
                 "GAVEL_BIDS_NAME \"%.64s\" must be 1..%d of a-z, 0-9 and -, not starting "
                 "with -",
                 bids.name, RPC_OWNER_NAME_MAX - 1);
        return -1;
    }
    if (strlen(bids.advertise_addr) > 255 || strchr(bids.advertise_addr, ' ') != NULL ||
        (bids.advertise_addr[0] != '\0' && strchr(bids.advertise_addr, ':') == NULL)) {
        snprintf(err, errlen, "GAVEL_BIDS_ADVERTISE_ADDR must be host:port");
        return -1;
    }
    return 0;
}

int bids_post_init(void)
{
    if (workers_start() < 0 || store_rebuild() < 0) {
        log_error("cannot rebuild the lots from the database");
        return -1;
    }
    funds_reconcile();
    if (commit_start() < 0 || workers_run() < 0 || funds_start() < 0 || reserve_start() < 0 ||
        reconcile_start() < 0 || registry_start(rpc_server_own_addr()) < 0)
        return -1;
    return 0;
}

void bids_pre_exit(void)
{
    registry_stop();
    reconcile_stop();
    reserve_stop();
    workers_stop();
    commit_stop();
    workers_free();
    funds_stop();
}

bool bids_is_healthy(void)
{
    return bids.db != NULL;
}
