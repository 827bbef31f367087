/*
 * Start-up and shut-down of the users daemon: configuration, database and
 * migrations, signing key, the outbox relay, the participation consumer and
 * the first admin. Start-up fails loudly rather than serving half-ready.
 */
#include <stdlib.h>

#include "users.h"

users_state users;

const cfg_entry users_config[] = {
    { "GAVEL_PG_DSN", "host=127.0.0.1 port=55432 user=gavel dbname=gavel_users", CFG_STR,
      &users.pg_dsn, 0, 0, "libpq connection string of the users database" },
    { "GAVEL_JWT_PRIVATE_KEY", ".run/keys/jwt.key", CFG_STR, &users.private_key_path, 0, 0,
      "Ed25519 PEM key that signs access tokens" },
    { "GAVEL_BOOTSTRAP_ADMIN_FILE", "", CFG_STR, &users.admin_file, 0, 0,
      "file with GAVEL_ADMIN_EMAIL/GAVEL_ADMIN_PASSWORD; the admin is created once" },
    { "GAVEL_CURRENCY", "RUB", CFG_STR, &users.currency, 0, 0, "platform currency" },
    { "GAVEL_CURRENCIES", "RUB,EUR,USD", CFG_STR, &users.currencies, 0, 0,
      "currencies wallets accept" },
    { "GAVEL_USERS_DB_POOL", "16", CFG_INT, &users.pool_size, 2, 256, "database connections" },
    { "GAVEL_ACCESS_TTL_S", "900", CFG_INT, &users.access_ttl_s, 60, 86400,
      "access token lifetime" },
    { "GAVEL_REFRESH_TTL_S", "2592000", CFG_INT, &users.refresh_ttl_s, 600, 31536000,
      "refresh token lifetime" },
    { "GAVEL_ARGON2_MEMORY_KIB", "19456", CFG_INT, &users.argon_m_kib, 1024, 1048576,
      "argon2id memory cost" },
    { "GAVEL_ARGON2_ITERATIONS", "2", CFG_INT, &users.argon_t, 1, 10, "argon2id time cost" },
    { "GAVEL_LOGIN_ACCOUNT_FAILURES", "10", CFG_INT, &users.login_account_failures, 0, 1000000,
      "failed logins of one account within the window before its logins are refused; 0: off" },
    { "GAVEL_LOGIN_ADDRESS_FAILURES", "50", CFG_INT, &users.login_address_failures, 0, 1000000,
      "failed logins from one client address within the window before its logins are "
      "refused; 0: off" },
    { "GAVEL_LOGIN_WINDOW_S", "900", CFG_INT, &users.login_window_s, 1, 86400,
      "seconds a failed login counts, from the first failure counted" },
    { 0 },
};

static const char *const consumed_topics[] = { "gavel.bids", "gavel.auctions", NULL };

static int start_events(void)
{
    char err[256];
    users.producer = ev_producer_start("users");
    char *bootstrap = users.producer != NULL ? ev_bootstrap() : NULL;
    if (bootstrap == NULL)
        return -1;
    users.relay = ev_relay_start(users.db, users.producer);
    users.part_batch = xcalloc(1, sizeof *users.part_batch);
    users.participation =
        ev_consumer_start_piped(bootstrap, "users-participation", consumed_topics, users.db,
                                participation_stmts, participation_apply,
                                participation_batch_end, users.part_batch, err, sizeof err);
    free(bootstrap);
    if (users.relay == NULL || users.participation == NULL) {
        log_error("events: %s", users.participation == NULL ? err : "relay did not start");
        return -1;
    }
    return 0;
}

int users_post_init(void)
{
    char err[512];
    users.signer = rpc_jwt_key_load(users.private_key_path, true, err, sizeof err);
    if (users.signer == NULL) {
        log_error("GAVEL_JWT_PRIVATE_KEY: %s", err);
        return -1;
    }
    users.db = db_pool_new(users.pg_dsn, (int)users.pool_size, users_stmts, err, sizeof err);
    if (users.db == NULL) {
        log_error("database: %s", err);
        return -1;
    }
    if (db_migrate(users.db, "events", ev_migrations) < 0 ||
        db_migrate(users.db, "idem", idem_migrations) < 0 ||
        db_migrate(users.db, "users", users_migrations) < 0)
        return -1;
    if (bootstrap_admin() < 0)
        return -1;
    login_throttle_init();
    return start_events();
}

void users_pre_exit(void)
{
    ev_consumer_stop(users.participation);
    free(users.part_batch);
    ev_relay_stop(users.relay);
    ev_producer_free(users.producer);
    db_pool_free(users.db);
    rpc_jwt_key_free(users.signer);
    users.participation = NULL;
    users.part_batch = NULL;
    users.relay = NULL;
    users.producer = NULL;
    users.db = NULL;
    users.signer = NULL;
}

bool users_is_healthy(void)
{
    return users.db != NULL;
}
