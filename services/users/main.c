/*
 * gavel-users: accounts, sessions, profiles, auction history and wallets.
 * The skeleton in libs/rpc does the serving; this file names the surface.
 */
#include "users.h"

static const rpc_method *const tables[] = { users_methods, wallet_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__users__v1__users__descriptor, &gavel__users__v1__wallet__descriptor, NULL
};

/* Applied after the events library's: idempotency keys, then its own. */
static const rpc_migrations migrations[] = {
    { "idem", idem_migrations }, { "users", users_migrations }, { 0 }
};

static const rpc_service users_service = {
    .name = "users",
    .addr_env = "GAVEL_USERS_ADDR",
    .default_addr = "127.0.0.1:50051",
    .default_metrics_port = 9101,
    .tables = tables,
    .descriptors = descriptors,
    .config = users_config,
    .db = { .name = "gavel_users", .pool_default = 16, .pool_min = 2, .pool_max = 256,
            .stmts = users_stmts, .migrations = migrations, .pool = &users.db },
    .outbox = { .is_on = true, .relay = &users.relay },
    .consumers = users_consumers,
    .metrics = users_metrics,
    .post_init = users_post_init,
    .pre_exit = users_pre_exit,
    .is_healthy = users_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&users_service, argc, argv);
}
