/*
 * gavel-users: accounts, sessions, profiles, auction history and wallets.
 * The skeleton in libs/rpc does the serving; this file names the surface.
 */
#include "users.h"

static const rpc_method *const tables[] = { users_methods, wallet_methods, NULL };
static const char *const services[] = { "gavel.users.v1.Users", "gavel.users.v1.Wallet", NULL };

static const rpc_service users_service = {
    .name = "users",
    .addr_env = "GAVEL_USERS_ADDR",
    .default_addr = "127.0.0.1:50051",
    .default_metrics_port = 9101,
    .tables = tables,
    .services = services,
    .config = users_config,
    .post_init = users_post_init,
    .pre_exit = users_pre_exit,
    .is_healthy = users_is_healthy,
};

int main(void)
{
    return rpc_server_main(&users_service);
}
