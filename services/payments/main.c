/*
 * gavel-payments: card payments through the provider with manual capture,
 * the settlement of every closed auction exactly once, the provider's
 * webhooks, and a double-entry ledger that always balances. The skeleton
 * in libs/rpc does the serving; this file names the surface.
 */
#include "payments.h"
#include "idem/idem.h"

static const rpc_method *const tables[] = { pay_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__payments__v1__payments__descriptor, NULL
};

static const rpc_migrations migrations[] = {
    { "idem", idem_migrations }, { "payments", payments_migrations }, { 0 }
};

static const rpc_service payments_service = {
    .name = "payments",
    .addr_env = "GAVEL_PAYMENTS_ADDR",
    .default_addr = "127.0.0.1:50055",
    .default_metrics_port = 9105,
    .tables = tables,
    .descriptors = descriptors,
    .calls = pay_calls,
    .config = pay_config,
    .db = { .name = "gavel_payments", .pool_default = 8, .pool_min = 2, .pool_max = 256,
            .stmts = pay_stmts, .migrations = migrations, .pool = &pay.db },
    .outbox = { .is_on = true, .relay = &pay.relay },
    .consumers = pay_consumers,
    .metrics = pay_metrics,
    .config_check = pay_config_check,
    .post_init = pay_post_init,
    .pre_exit = pay_pre_exit,
    .is_healthy = pay_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&payments_service, argc, argv);
}
