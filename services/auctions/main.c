/*
 * gavel-auctions: lots and their lifecycle, moderation, the catalog, the
 * scheduler that opens and closes lots in the bids service, and pricing
 * of paid services.
 */
#include "auctions.h"

static const rpc_method *const tables[] = { lots_methods, catalog_methods, pricing_methods,
                                            NULL };
static const char *const services[] = { "gavel.auctions.v1.Auctions", NULL };

static const rpc_service auctions_service = {
    .name = "auctions",
    .addr_env = "GAVEL_AUCTIONS_ADDR",
    .default_addr = "127.0.0.1:50052",
    .default_metrics_port = 9102,
    .default_workers = 16,
    .tables = tables,
    .services = services,
    .config = auctions_config,
    .post_init = auctions_post_init,
    .pre_exit = auctions_pre_exit,
    .is_healthy = auctions_is_healthy,
};

int main(void)
{
    return rpc_server_main(&auctions_service);
}
