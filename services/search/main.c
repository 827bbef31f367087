/*
 * gavel-search: the catalog search. A denormalised index of lots in its own
 * database, fed by the auctions and bids events, answering full text,
 * filters, facets and sorts. The skeleton in libs/rpc does the serving;
 * this file names the surface.
 */
#include "search.h"

static const rpc_method *const tables[] = { search_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__search__v1__search__descriptor, NULL
};
static const rpc_client_method *const calls[] = { &search_list_lots, NULL };

static const rpc_migrations migrations[] = {
    { "search", search_migrations }, { 0 }
};

static const rpc_service search_service = {
    .name = "search",
    .addr_env = "GAVEL_SEARCH_ADDR",
    .default_addr = "127.0.0.1:50054",
    .default_metrics_port = 9104,
    .tables = tables,
    .descriptors = descriptors,
    .calls = calls,
    .config = search_config,
    .db = { .name = "gavel_search", .pool_default = 8, .pool_min = 2, .pool_max = 256,
            .stmts = search_stmts, .migrations = migrations, .pool = &search.db },
    .consumers = search_consumers,
    .metrics = search_metrics,
    .post_init = search_post_init,
    .pre_exit = search_pre_exit,
    .is_healthy = search_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&search_service, argc, argv);
}
