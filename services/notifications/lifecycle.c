/*
 * Start-up and shut-down of the notifications daemon's own parts: its
 * settings, its series, the event consumer and the delivery workers. The
 * skeleton opens and migrates the database, runs the outbox relay (dead
 * letters go out on gavel.notifications) and starts the consumer after
 * post_init, which starts the workers; on the way out the consumer stops
 * first, then pre_exit stops the workers after their current round.
 */
#include <curl/curl.h>
#include <stdio.h>

#include "notif.h"

notif_state notif;
notif_metric_set notif_mx;

const cfg_entry notif_config[] = {
    { "GAVEL_NOTIFICATIONS_WORKERS", "2", CFG_INT, &notif.workers, 1, 32,
      "delivery threads" },
    { "GAVEL_NOTIFICATIONS_BATCH", "100", CFG_INT, &notif.batch, 1, 1000,
      "deliveries a worker leases per round" },
    { "GAVEL_NOTIFICATIONS_POLL_MS", "200", CFG_INT, &notif.poll_ms, 5, 60000,
      "longest sleep of an idle worker (new notifications wake it at once)" },
    { "GAVEL_NOTIFICATIONS_LEASE_MS", "30000", CFG_INT, &notif.lease_ms, 500, 3600000,
      "how long a leased delivery stays its worker's; a worker that died leaves it due "
      "again after this" },
    { "GAVEL_NOTIFICATIONS_COALESCE_MS", "3000", CFG_INT, &notif.coalesce_ms, 0, 3600000,
      "burst window per (user, lot, kind, channel): after a message, newer ones wait for "
      "the window's end and only the latest goes; 0: off" },
    { "GAVEL_NOTIFICATIONS_DIGEST_S", "3600", CFG_INT, &notif.digest_s, 0, 604800,
      "NEW_MATCH emails of one user wait this long after the first and go as one digest; "
      "0: one email each" },
    { "GAVEL_NOTIFICATIONS_QUIET_RECHECK_MS", "60000", CFG_INT, &notif.quiet_recheck_ms, 100,
      3600000, "a delivery held by quiet hours is looked at again after at most this long "
      "(so changed quiet hours apply), else when they end" },
    { "GAVEL_NOTIFICATIONS_MAX_ATTEMPTS", "8", CFG_INT, &notif.max_attempts, 1, 100,
      "attempts per delivery before it is dead-lettered" },
    { "GAVEL_NOTIFICATIONS_RETRY_BASE_MS", "1000", CFG_INT, &notif.retry_base_ms, 1,
      3600000, "wait after the first failed attempt; doubles per attempt, with jitter" },
    { "GAVEL_NOTIFICATIONS_RETRY_MAX_MS", "300000", CFG_INT, &notif.retry_max_ms, 1,
      86400000, "longest wait between attempts" },
    { "GAVEL_SMTP_URL", "smtp://127.0.0.1:50075", CFG_STR, &notif.smtp_url, 0, 0,
      "mail server for the email channel (smtp:// or smtps://); empty turns email off" },
    { "GAVEL_SMTP_FROM", "notifications@gavel.local", CFG_STR, &notif.smtp_from, 0, 0,
      "envelope and From address of emails" },
    { "GAVEL_SMTP_TIMEOUT_MS", "10000", CFG_INT, &notif.smtp_timeout_ms, 100, 600000,
      "one email's whole SMTP exchange" },
    { "GAVEL_WEB_URL", "http://127.0.0.1:8080", CFG_STR, &notif.web_url, 0, 0,
      "the web UI, for links in emails" },
    { "GAVEL_NOTIFICATIONS_HTTP_TIMEOUT_MS", "10000", CFG_INT, &notif.http_timeout_ms, 100,
      600000, "one webhook, Telegram or push request, connect to answer" },
    { "GAVEL_WEBHOOK_KEY_FILE", ".run/keys/webhook.key", CFG_STR, &notif.webhook_key_file, 0,
      0, "64 hex characters: the AES-256 key that seals webhook secrets at rest; "
         "unreadable turns webhooks off" },
    { "GAVEL_WEBHOOK_ALLOW_LOOPBACK", "0", CFG_BOOL, &notif.webhook_allow_loopback, 0, 0,
      "dev and tests only: webhooks may use http:// and loopback hosts" },
    { "GAVEL_WEBHOOK_MAX_PER_USER", "10", CFG_INT, &notif.webhook_max, 1, 1000,
      "webhooks one user may register" },
    { "GAVEL_WEBHOOK_DISABLE_AFTER_MS", "86400000", CFG_INT, &notif.webhook_disable_ms, 1000,
      INT64_C(31536000000), "a webhook failing without a success this long is turned off" },
    { "GAVEL_TELEGRAM_API_URL", "https://api.telegram.org", CFG_STR, &notif.telegram_url, 0,
      0, "Telegram Bot API base URL (a local receiver in dev and tests)" },
    { "GAVEL_TELEGRAM_BOT_TOKEN", "", CFG_STR, &notif.telegram_token, 0, 0,
      "the bot's token; empty turns Telegram off" },
    { "GAVEL_PUSH_URL", "", CFG_STR, &notif.push_url, 0, 0,
      "push gateway endpoint (JSON POST with the user's tokens); empty turns push off" },
    { 0 },
};

#define CH_ROWS(name, type, help, field)                                                  \
    { name, type, help, "channel=\"realtime\"", &notif_mx.field[NOTIF_CH_REALTIME] },      \
    { name, type, help, "channel=\"email\"", &notif_mx.field[NOTIF_CH_EMAIL] },            \
    { name, type, help, "channel=\"push\"", &notif_mx.field[NOTIF_CH_PUSH] },              \
    { name, type, help, "channel=\"telegram\"", &notif_mx.field[NOTIF_CH_TELEGRAM] },      \
    { name, type, help, "channel=\"webhook\"", &notif_mx.field[NOTIF_CH_WEBHOOK] }

const mx_entry notif_metrics[] = {
    { "gavel_notifications_created_total", mx_counter,
      "Notifications written to inboxes.", NULL, &notif_mx.created },
    CH_ROWS("gavel_notifications_sent_total", mx_counter,
            "Messages a channel accepted.", sent),
    CH_ROWS("gavel_notifications_failed_total", mx_counter,
            "Delivery attempts that failed.", failed),
    CH_ROWS("gavel_notifications_retried_total", mx_counter,
            "Failed deliveries scheduled for another attempt.", retried),
    CH_ROWS("gavel_notifications_dead_lettered_total", mx_counter,
            "Deliveries given up after their last attempt.", dead),
    CH_ROWS("gavel_notifications_skipped_total", mx_counter,
            "Deliveries with nowhere to send (no chat id, no push tokens, webhook gone).",
            skipped),
    { "gavel_notifications_webhooks_disabled_total", mx_counter,
      "Webhooks turned off after failing for GAVEL_WEBHOOK_DISABLE_AFTER_MS.", NULL,
      &notif_mx.webhooks_disabled },
    CH_ROWS("gavel_notifications_coalesced_total", mx_counter,
            "Deliveries folded into a newer message of the same burst.", coalesced),
    CH_ROWS("gavel_notifications_delivery_seconds", mx_histogram,
            "From the notification's creation to the channel accepting it.", latency),
    { "gavel_notifications_match_seconds", mx_histogram,
      "One scheduled or live lot run through the index of saved searches and segments.", NULL,
      &notif_mx.match_seconds },
    { "gavel_notifications_matched_total", mx_counter,
      "Users told of a new lot matching their saved search or segment (once per lot).", NULL,
      &notif_mx.matched },
    { 0 },
};

static const char *const consumed_topics[] = { "gavel.bids", "gavel.auctions", "gavel.users",
                                               "gavel.wallet", NULL };

const rpc_consumer notif_consumers[] = {
    { .group = "notifications", .topics = consumed_topics, .handler = notif_event_apply,
      .batch_end = notif_batch_end },
    { 0 },
};

int notif_config_check(char *err, size_t errlen)
{
    if (notif.retry_max_ms < notif.retry_base_ms) {
        snprintf(err, errlen,
                 "GAVEL_NOTIFICATIONS_RETRY_MAX_MS=%lld is below "
                 "GAVEL_NOTIFICATIONS_RETRY_BASE_MS=%lld",
                 (long long)notif.retry_max_ms, (long long)notif.retry_base_ms);
        return -1;
    }
    return 0;
}

int notif_post_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return -1;
    }
    webhook_secret_init(); /* failure logged: webhooks stay off */
    db_conn *conn = db_pool_get(notif.db, 10000);
    int rc = conn != NULL ? notif_match_load(conn) : DB_E_TIMEOUT;
    if (conn != NULL)
        db_pool_put(notif.db, conn);
    if (rc != 0) {
        log_error("cannot load the saved searches and segments (%d)", rc);
        curl_global_cleanup();
        return -1;
    }
    if (deliver_start() < 0) {
        notif_match_close();
        curl_global_cleanup();
        return -1;
    }
    return 0;
}

/* Also runs after a failed start: deliver_stop is safe then. */
void notif_pre_exit(void)
{
    deliver_stop();
    notif_fanout_close();
    notif_bids_close();
    notif_match_close();
    webhook_secret_close();
}

bool notif_is_healthy(void)
{
    return notif.db != NULL;
}
