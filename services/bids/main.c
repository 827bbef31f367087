/*
 * gavel-bids: the bidding engine — lots in memory, sharded over worker
 * threads, every bid durable before it is acknowledged.
 */
#include "bids.h"

static const rpc_method *const tables[] = { bids_methods, NULL };
static const char *const services[] = { "gavel.bids.v1.Bids", NULL };

static const rpc_service bids_service = {
    .name = "bids",
    .addr_env = "GAVEL_BIDS_ADDR",
    .default_addr = "127.0.0.1:50053",
    .default_metrics_port = 9103,
    .default_workers = 128, /* handlers wait for the group commit */
    .tables = tables,
    .services = services,
    .config = bids_config,
    .post_init = bids_post_init,
    .pre_exit = bids_pre_exit,
    .is_healthy = bids_is_healthy,
};

int main(void)
{
    return rpc_server_main(&bids_service);
}
