/*
 * gavel-notifications: who hears about what, and how. Consumes the bids,
 * auctions, users and wallet events, writes each user's inbox, and
 * delivers every notification once per channel the user chose.
 * The skeleton in libs/rpc does the serving; this file names the surface.
 */
#include "notif.h"

static const rpc_method *const tables[] = { notif_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__notifications__v1__notifications__descriptor, NULL
};

static const rpc_migrations migrations[] = {
    { "notifications", notifications_migrations }, { 0 }
};

static const rpc_service notifications_service = {
    .name = "notifications",
    .addr_env = "GAVEL_NOTIFICATIONS_ADDR",
    .default_addr = "127.0.0.1:50056",
    .default_metrics_port = 9106,
    .tables = tables,
    .descriptors = descriptors,
    .config = notif_config,
    .db = { .name = "gavel_notifications", .pool_default = 8, .pool_min = 2, .pool_max = 256,
            .stmts = notif_stmts, .migrations = migrations, .pool = &notif.db },
    .outbox = { .is_on = true, .relay = &notif.relay },
    .consumers = notif_consumers,
    .metrics = notif_metrics,
    .config_check = notif_config_check,
    .post_init = notif_post_init,
    .pre_exit = notif_pre_exit,
    .is_healthy = notif_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&notifications_service, argc, argv);
}
