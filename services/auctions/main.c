/*
 * gavel-auctions: lots and their lifecycle, moderation, the catalog, the
 * scheduler that opens and closes lots in the bids service, and pricing
 * of paid services.
 */
#include "auctions.h"

static const rpc_method *const tables[] = { lots_methods, catalog_methods, pricing_methods,
                                            NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__auctions__v1__auctions__descriptor, NULL
};
static const rpc_client_method *const calls[] = { &bids_open_lot, &bids_close_lot,
                                                  &users_get_profile, NULL };

/* Applied after the events library's: idempotency keys, then its own. */
static const rpc_migrations migrations[] = {
    { "idem", idem_migrations }, { "auctions", auctions_migrations }, { 0 }
};

static const rpc_service auctions_service = {
    .name = "auctions",
    .addr_env = "GAVEL_AUCTIONS_ADDR",
    .default_addr = "127.0.0.1:50052",
    .default_metrics_port = 9102,
    .default_workers = 16,
    .tables = tables,
    .descriptors = descriptors,
    .calls = calls,
    .config = auctions_config,
    .db = { .name = "gavel_auctions", .pool_default = 8, .pool_min = 3, .pool_max = 256,
            .stmts = auctions_stmts, .migrations = migrations, .pool = &auctions.db },
    .outbox = { .is_on = true, .relay = &auctions.relay },
    .consumers = auctions_consumers,
    .metrics = auctions_metrics,
    .config_check = auctions_config_check,
    .post_init = auctions_post_init,
    .pre_exit = auctions_pre_exit,
    .is_healthy = auctions_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&auctions_service, argc, argv);
}
