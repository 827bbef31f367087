/*
 * Start-up and shut-down of the payments daemon's own parts: its settings,
 * its series, the auction.closed consumer, the provider adapter, the
 * settlement workers and the ledger check. The skeleton opens and migrates
 * the database, runs the outbox relay (payment.* and auction.settled go
 * out on gavel.payments) and starts the consumer after post_init; on the
 * way out the consumer stops first, then pre_exit stops the workers after
 * their current lot.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "payments.h"

pay_state pay;
pay_metric_set pay_mx;

const cfg_entry pay_config[] = {
    { "GAVEL_USERS_ADDR", "127.0.0.1:50051", CFG_STR, &pay.users_addr, 0, 0,
      "the users service (wallet captures, releases and deposits)" },
    { "GAVEL_AUCTIONS_ADDR", "127.0.0.1:50052", CFG_STR, &pay.auctions_addr, 0, 0,
      "the auctions service (QuoteServices: the fees of a sold lot)" },
    { "GAVEL_PAYMENTS_PROVIDER_URL", "http://127.0.0.1:51026", CFG_STR, &pay.provider_url, 0, 0,
      "the card provider's API base URL (the simulator in dev and tests)" },
    { "GAVEL_PAYMENTS_PROVIDER_KEY", "", CFG_STR, &pay.provider_key, 0, 0,
      "the provider's secret API key (required; `make run` generates one for the simulator)" },
    { "GAVEL_PAYMENTS_WEBHOOK_SECRET", "", CFG_STR, &pay.webhook_secret, 0, 0,
      "the shared secret of the provider's webhook signatures (required)" },
    { "GAVEL_PAYMENTS_PROVIDER_NAME", "sim", CFG_STR, &pay.provider_name, 0, 0,
      "Payment.provider of card payments" },
    { "GAVEL_PAYMENTS_CURRENCIES", "RUB,EUR,USD", CFG_STR, &pay.currencies, 0, 0,
      "currencies card payments accept, comma-separated" },
    { "GAVEL_PAYMENTS_PROVIDER_TIMEOUT_MS", "5000", CFG_INT, &pay.provider_timeout_ms, 100,
      120000, "one HTTP attempt to the provider" },
    { "GAVEL_PAYMENTS_PROVIDER_BUDGET_MS", "15000", CFG_INT, &pay.provider_budget_ms, 100,
      600000, "one provider call including its retries" },
    { "GAVEL_PAYMENTS_WEBHOOK_TOLERANCE_S", "300", CFG_INT, &pay.webhook_tolerance_s, 1, 3600,
      "how old (or how far ahead) a webhook signature's timestamp may be" },
    { "GAVEL_PAYMENTS_WORKERS", "2", CFG_INT, &pay.workers, 1, 32, "settlement threads" },
    { "GAVEL_PAYMENTS_BATCH", "20", CFG_INT, &pay.batch, 1, 1000,
      "settlements a worker leases per round" },
    { "GAVEL_PAYMENTS_POLL_MS", "500", CFG_INT, &pay.poll_ms, 5, 60000,
      "longest sleep of an idle worker (a recorded auction.closed wakes it at once)" },
    { "GAVEL_PAYMENTS_LEASE_MS", "30000", CFG_INT, &pay.lease_ms, 500, 3600000,
      "how long a leased settlement stays its worker's; one whose worker died is taken "
      "again after this" },
    { "GAVEL_PAYMENTS_RETRY_BASE_MS", "500", CFG_INT, &pay.retry_base_ms, 1, 3600000,
      "wait after a step's first failure; doubles per attempt" },
    { "GAVEL_PAYMENTS_RETRY_MAX_MS", "60000", CFG_INT, &pay.retry_max_ms, 1, 86400000,
      "longest wait between a step's attempts (steps are retried until they succeed)" },
    { "GAVEL_PAYMENTS_FAULT_EXIT_AFTER", "", CFG_STR, &pay.fault_exit_after, 0, 0,
      "tests only: \"capture\" or \"payout\" (settlement steps), \"withdraw\" or \"refund\" "
      "(a refund's steps), \"reverse\" (the reconciliation's wallet deposit reversing a "
      "refund the provider failed) makes the daemon exit(137) right after that step's remote "
      "call succeeded, before recording it; empty in production" },
    { "GAVEL_PAYMENTS_LEDGER_CHECK_MS", "10000", CFG_INT, &pay.check_interval_ms, 100, 86400000,
      "how often the ledger invariant check runs" },
    { "GAVEL_PAYMENTS_RECONCILE_MS", "60000", CFG_INT, &pay.reconcile_ms, 100, 86400000,
      "how often card payments still authorized, and refunds and payouts not yet confirmed, "
      "are compared with the provider's records" },
    { "GAVEL_PAYMENTS_RECONCILE_AGE_MS", "600000", CFG_INT, &pay.reconcile_age_ms, 0,
      604800000,
      "a payment, refund or payout is reconciled once unchanged this long (a client "
      "retrying its call with the same key finishes it itself before)" },
    { 0 },
};

#define MISMATCH_HELP \
    "Payments, refunds and payouts whose record here disagreed with the provider's."

const mx_entry pay_metrics[] = {
    { "gavel_payments_auctions_closed_total", mx_counter,
      "auction.closed events recorded for settlement (once per lot).", NULL,
      &pay_mx.closed_seen },
    { "gavel_payments_settlements_total", mx_counter, "Settlements finished.",
      "result=\"sold\"", &pay_mx.settled },
    { "gavel_payments_settlements_total", mx_counter, "Settlements finished.",
      "result=\"unsold\"", &pay_mx.released },
    { "gavel_payments_settlements_total", mx_counter, "Settlements finished.",
      "result=\"failed\"", &pay_mx.settle_failed },
    { "gavel_payments_settlement_step_errors_total", mx_counter,
      "Settlement steps that failed and will be retried.", NULL, &pay_mx.step_errors },
    { "gavel_payments_settlement_seconds", mx_histogram,
      "From the auction's close to its settlement's last step.", NULL, &pay_mx.settle_seconds },
    { "gavel_payments_provider_backoffs_total", mx_counter,
      "429 answers of the provider (every worker paused for Retry-After).", NULL,
      &pay_mx.provider_paused },
    { "gavel_payments_ledger_unbalanced_currencies", mx_gauge,
      "Currencies whose ledger entries do not sum to zero (0 when the ledger balances).",
      NULL, &pay_mx.ledger_imbalance },
    { "gavel_payments_ledger_unbalanced_txns", mx_gauge,
      "Ledger transactions whose entries do not sum to zero per currency.", NULL,
      &pay_mx.ledger_bad_txns },
    { "gavel_payments_ledger_checks_total", mx_counter, "Ledger invariant checks run.", NULL,
      &pay_mx.ledger_checks },
    { "gavel_payments_webhooks_total", mx_counter, "Provider webhooks.",
      "result=\"applied\"", &pay_mx.webhooks },
    { "gavel_payments_webhooks_total", mx_counter, "Provider webhooks.",
      "result=\"refused\"", &pay_mx.webhooks_refused },
    { "gavel_payments_webhooks_total", mx_counter, "Provider webhooks.",
      "result=\"duplicate\"", &pay_mx.webhooks_duplicate },
    { "gavel_payments_reconcile_runs_total", mx_counter,
      "Reconciliation rounds (card payments, refunds and payouts compared with the provider).",
      NULL, &pay_mx.recon_runs },
    { "gavel_payments_reconcile_mismatches_total", mx_counter,
      MISMATCH_HELP, "kind=\"expired\"",
      &pay_mx.recon_expired },
    { "gavel_payments_reconcile_mismatches_total", mx_counter,
      MISMATCH_HELP, "kind=\"captured\"",
      &pay_mx.recon_captured },
    { "gavel_payments_reconcile_mismatches_total", mx_counter,
      MISMATCH_HELP, "kind=\"refund_failed\"",
      &pay_mx.recon_refund_failed },
    { "gavel_payments_reconcile_mismatches_total", mx_counter,
      MISMATCH_HELP, "kind=\"payout_returned\"",
      &pay_mx.recon_payout_returned },
    { "gavel_payments_reconcile_mismatches_total", mx_counter,
      MISMATCH_HELP, "kind=\"unknown\"",
      &pay_mx.recon_unknown },
    { "gavel_payments_refunds_resumed_total", mx_counter,
      "Refunds left half-way by a call that died or failed, completed by the resumer.", NULL,
      &pay_mx.refunds_resumed },
    { "gavel_payments_reconcile_repairs_total", mx_counter,
      "Mismatches with a known cause repaired by the reconciliation.", NULL,
      &pay_mx.recon_repaired },
    { 0 },
};

static const char *const consumed_topics[] = { "gavel.auctions", NULL };

const rpc_consumer pay_consumers[] = {
    { .group = "payments", .topics = consumed_topics, .handler = pay_event_apply },
    { 0 },
};

/* The test suite's crash points: GAVEL_PAYMENTS_FAULT_EXIT_AFTER names a
 * step whose remote call, once it succeeded, makes the process die like
 * kill -9 before the step is recorded, the worst moment for exactly-once.
 * Unset in production. */
void pay_fault_point(const char *step)
{
    if (strcmp(pay.fault_exit_after, step) == 0) {
        log_warn("GAVEL_PAYMENTS_FAULT_EXIT_AFTER=%s: exiting without recording", step);
        _exit(137);
    }
}

int pay_config_check(char *err, size_t errlen)
{
    if (pay.retry_max_ms < pay.retry_base_ms) {
        snprintf(err, errlen,
                 "GAVEL_PAYMENTS_RETRY_MAX_MS=%lld is below GAVEL_PAYMENTS_RETRY_BASE_MS=%lld",
                 (long long)pay.retry_max_ms, (long long)pay.retry_base_ms);
        return -1;
    }
    if (pay.provider_budget_ms < pay.provider_timeout_ms) {
        snprintf(err, errlen,
                 "GAVEL_PAYMENTS_PROVIDER_BUDGET_MS=%lld is below "
                 "GAVEL_PAYMENTS_PROVIDER_TIMEOUT_MS=%lld",
                 (long long)pay.provider_budget_ms, (long long)pay.provider_timeout_ms);
        return -1;
    }
    if (pay.webhook_secret[0] == '\0' || pay.provider_key[0] == '\0') {
        snprintf(err, errlen, "GAVEL_PAYMENTS_PROVIDER_KEY and GAVEL_PAYMENTS_WEBHOOK_SECRET "
                              "must be set (the provider's API key and webhook secret)");
        return -1;
    }
    static const char *const fault_points[] = { "", "capture", "payout", "withdraw", "refund",
                                                "reverse" };
    bool known = false;
    for (size_t i = 0; i < sizeof fault_points / sizeof fault_points[0]; i++)
        known = known || strcmp(pay.fault_exit_after, fault_points[i]) == 0;
    if (!known) {
        snprintf(err, errlen, "GAVEL_PAYMENTS_FAULT_EXIT_AFTER=%s: allowed are capture, payout, "
                              "withdraw, refund, reverse or empty", pay.fault_exit_after);
        return -1;
    }
    return 0;
}

int pay_post_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return -1;
    }
    pay.prov = provider_open(pay.provider_url, pay.provider_key, (int)pay.provider_timeout_ms,
                             (int)pay.provider_budget_ms);
    if (pay.prov == NULL) {
        log_error("GAVEL_PAYMENTS_PROVIDER_URL=%s: cannot open the provider adapter",
                  pay.provider_url);
        curl_global_cleanup();
        return -1;
    }
    if (ledger_check_start() < 0 || settle_start() < 0 || reconcile_start() < 0 ||
        refund_resume_start() < 0) {
        pay_pre_exit();
        return -1;
    }
    return 0;
}

/* Also runs after a failed start: every stop is safe then. */
void pay_pre_exit(void)
{
    refund_resume_stop();
    reconcile_stop();
    settle_stop();
    ledger_check_stop();
    if (pay.prov != NULL) {
        provider_close(pay.prov);
        pay.prov = NULL;
        curl_global_cleanup();
    }
}

bool pay_is_healthy(void)
{
    return pay.db != NULL;
}
