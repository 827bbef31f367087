/*
 * Start-up and shut-down of the users daemon's own parts: the signing key
 * and the first admin. The skeleton runs the rest from the definition in
 * main.c and the tables here: the database, its migrations, the outbox
 * relay, the participation consumer (started once post_init is done,
 * stopped first on the way out) and the daemon's metrics. Start-up fails
 * loudly rather than serving half-ready.
 */
#include "users.h"

users_state users;
users_metric_set users_mx;

const cfg_entry users_config[] = {
    { "GAVEL_JWT_PRIVATE_KEY", ".run/keys/jwt.key", CFG_STR, &users.private_key_path, 0, 0,
      "Ed25519 PEM key that signs access tokens" },
    { "GAVEL_BOOTSTRAP_ADMIN_FILE", "", CFG_STR, &users.admin_file, 0, 0,
      "file with GAVEL_ADMIN_EMAIL/GAVEL_ADMIN_PASSWORD; the admin is created once" },
    { "GAVEL_CURRENCY", "RUB", CFG_STR, &users.currency, 0, 0, "platform currency" },
    { "GAVEL_CURRENCIES", "RUB,EUR,USD", CFG_STR, &users.currencies, 0, 0,
      "currencies wallets accept" },
    { "GAVEL_ACCESS_TTL_S", "900", CFG_INT, &users.access_ttl_s, 60, 86400,
      "access token lifetime" },
    { "GAVEL_REFRESH_TTL_S", "2592000", CFG_INT, &users.refresh_ttl_s, 600, 31536000,
      "refresh token lifetime" },
    { "GAVEL_ARGON2_MEMORY_KIB", "19456", CFG_INT, &users.argon_m_kib, 1024, 1048576,
      "argon2id memory cost" },
    { "GAVEL_ARGON2_ITERATIONS", "2", CFG_INT, &users.argon_t, 1, 10, "argon2id time cost" },
    LIM_LOGIN_CONFIG(users.login),
    { 0 },
};

#define LOGIN_FAILURES_HELP                                                                \
    "Logins refused, by reason: wrong email or password, or too many failures for the "   \
    "account or from the address."
const mx_entry users_metrics[] = {
    { "gavel_users_login_failures_total", mx_counter, LOGIN_FAILURES_HELP,
      "reason=\"bad_credentials\"", &users_mx.login_failures[LOGIN_BAD_CREDENTIALS] },
    { "gavel_users_login_failures_total", mx_counter, LOGIN_FAILURES_HELP,
      "reason=\"throttled_account\"", &users_mx.login_failures[LOGIN_THROTTLED_ACCOUNT] },
    { "gavel_users_login_failures_total", mx_counter, LOGIN_FAILURES_HELP,
      "reason=\"throttled_address\"", &users_mx.login_failures[LOGIN_THROTTLED_ADDRESS] },
    { 0 },
};

static const char *const consumed_topics[] = { "gavel.bids", "gavel.auctions", NULL };
static part_batch participation_batch; /* the participation consumer's thread only */

const rpc_consumer users_consumers[] = {
    { .group = "users-participation", .topics = consumed_topics,
      .handler = participation_apply, .is_piped = true, .stmts = participation_stmts,
      .batch_end = participation_batch_end, .arg = &participation_batch },
    { 0 },
};

int users_post_init(void)
{
    char err[512];
    users.signer = rpc_jwt_key_load(users.private_key_path, true, err, sizeof err);
    if (users.signer == NULL) {
        log_error("GAVEL_JWT_PRIVATE_KEY: %s", err);
        return -1;
    }
    return bootstrap_admin();
}

void users_pre_exit(void)
{
    rpc_jwt_key_free(users.signer);
    users.signer = NULL;
}

bool users_is_healthy(void)
{
    return users.db != NULL;
}
