/*
 * gavel-bids: the bidding engine — lots in memory, sharded over worker
 * threads, every bid durable before it is acknowledged.
 */
#include "bids.h"

static const rpc_method *const tables[] = { bids_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__bids__v1__bids__descriptor, NULL
};
static const rpc_client_method *const calls[] = {
    &wallet_reserve_funds_batch, &wallet_release_funds_batch, &wallet_list_holds, NULL
};

static const rpc_migrations migrations[] = { { "bids", bids_migrations }, { 0 } };

static const rpc_service bids_service = {
    .name = "bids",
    .addr_env = "GAVEL_BIDS_ADDR",
    .default_addr = "127.0.0.1:50053",
    .default_metrics_port = 9103,
    .default_workers = 128, /* handlers wait for the group commit */
    .tables = tables,
    .descriptors = descriptors,
    .calls = calls,
    .config = bids_config,
    .db = { .name = "gavel_bids", .pool_default = 8, .pool_min = 3, .pool_max = 256,
            .stmts = bids_stmts, .migrations = migrations, .pool = &bids.db },
    .outbox = { .is_on = true, .relay = &bids.relay },
    .metrics = bids_metrics,
    .config_check = bids_config_check,
    .post_init = bids_post_init,
    .pre_exit = bids_pre_exit,
    .is_healthy = bids_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&bids_service, argc, argv);
}
