/*
 * payments daemon, private header. Files by mechanism: lifecycle.c
 * (settings, series, consumer, start and stop), pay_sql.c (every
 * statement), api.c (the method table), consume.c (auction.closed into a
 * settlement row), settle.c (the settlement workers and their steps),
 * pause.c (the one provider back-off every worker obeys), wallet_client.c
 * (calls into the users Wallet with the service identity),
 * auctions_client.c (a sold lot's fees from QuoteServices), ledger.c
 * (balanced transactions and the invariant check), payment_row.c (a
 * payments row to and from the proto), payments_read.c (GetPayment,
 * ListPayments), card_*.c (Authorize, Capture, Void), refund.c (Refund),
 * webhook.c (HandleProviderWebhook), reconcile.c (card payments against
 * the provider's records), reconcile_transfers.c (refunds and payouts
 * against them), ticker.c (a periodic job's thread); provider.h
 * is the provider adapter.
 */
#ifndef GAVEL_PAYMENTS_H
#define GAVEL_PAYMENTS_H

#include <pthread.h>

#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "events/events.h"
#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"
#include "gavel/payments/v1/payments.pb-c.h"
#include "provider.h"

/* Process-wide state, set up before serving and read-only afterwards
 * (prov is thread-safe). */
typedef struct {
    db_pool *db;                  /* the skeleton's (rpc_service.db) */
    ev_relay *relay;              /* the skeleton's (rpc_service.outbox) */
    provider *prov;               /* opened in post_init */
    const char *users_addr;
    const char *auctions_addr;
    const char *provider_url, *provider_key, *webhook_secret;
    const char *provider_name;    /* Payment.provider of card payments */
    const char *currencies;       /* accepted, comma-separated */
    int64_t provider_timeout_ms, provider_budget_ms;
    int64_t webhook_tolerance_s;
    int64_t workers, batch, poll_ms, lease_ms;
    int64_t retry_base_ms, retry_max_ms;
    int64_t check_interval_ms;    /* ledger invariant check period */
    int64_t reconcile_ms;         /* reconciliation period */
    int64_t reconcile_age_ms;     /* payments unchanged this long are reconciled */
    const char *fault_exit_after; /* tests: a step of pay_fault_point, or "" */
} pay_state;

extern pay_state pay;
extern const cfg_entry pay_config[];
extern const mx_entry pay_metrics[];
extern const rpc_consumer pay_consumers[];
extern const db_stmt pay_stmts[];
extern const db_migration payments_migrations[]; /* generated from migrations/ */
extern const rpc_method pay_methods[];
extern const rpc_client_method *const pay_calls[];

#define PAY_TOPIC "gavel.payments"

/* ---- lifecycle.c: series ---- */
typedef struct {
    mx_metric *closed_seen;        /* auction.closed recorded */
    mx_metric *settled;            /* settlements done, sold */
    mx_metric *released;           /* settlements done, unsold */
    mx_metric *settle_failed;      /* settlements given up (need an operator) */
    mx_metric *step_errors;        /* a step that will be retried */
    mx_metric *settle_seconds;     /* closed_at → done */
    mx_metric *provider_paused;    /* PROV_BACKOFF answers */
    mx_metric *ledger_imbalance;   /* currencies whose ledger does not sum to zero */
    mx_metric *ledger_bad_txns;    /* txns whose entries do not sum to zero */
    mx_metric *ledger_checks;      /* invariant checks run */
    mx_metric *webhooks;           /* webhooks applied */
    mx_metric *webhooks_refused;   /* bad signature or stale */
    mx_metric *webhooks_duplicate; /* replays of an event applied before */
    mx_metric *recon_runs;         /* reconciliation rounds */
    mx_metric *recon_expired;      /* mismatch: the provider dropped the hold */
    mx_metric *recon_captured;     /* mismatch: captured there, not recorded here */
    mx_metric *recon_refund_failed;   /* mismatch: a done refund failed at the provider */
    mx_metric *recon_payout_returned; /* mismatch: a done payout failed or returned there */
    mx_metric *recon_unknown;      /* mismatch without a known cause (not repaired) */
    mx_metric *recon_repaired;     /* mismatches repaired */
    mx_metric *refunds_resumed;    /* refunds completed by the resumer */
} pay_metric_set;
extern pay_metric_set pay_mx;

int pay_config_check(char *err, size_t errlen);
int pay_post_init(void);
void pay_pre_exit(void);
bool pay_is_healthy(void);

/** Tests only: exit(137) here when GAVEL_PAYMENTS_FAULT_EXIT_AFTER names
 *  step (capture, payout, withdraw, refund, reverse). lifecycle.c. */
void pay_fault_point(const char *step);

/* ---- consume.c: auction.closed → settlements ---- */
int pay_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg);

/* ---- pause.c: the provider's back-off, shared by every worker ---- */
/** Pauses every provider call until now + seconds (a later pause wins). */
void pause_provider(int seconds);
/** Microseconds left of the pause, 0 when none. Any thread. */
int64_t pause_left_us(void);

/* ---- settle.c: the settlement workers ---- */
/** Starts pay.workers threads. 0 or -1 (logged). */
int settle_start(void);
/** Stops them after their current lot; safe when not started. */
void settle_stop(void);
/** Wakes the workers (a settlement was recorded). Any thread. */
void settle_kick(void);

/* ---- wallet_client.c: users Wallet with the service identity ---- */
/**
 * One idempotent unary call to addr with a fresh service token (rpc_unary:
 * *resp is the caller's to free with protobuf_c_message_free_unpacked
 * when OK). Returns the gRPC status; err holds the server's message.
 */
grpc_status_code pay_service_call(const char *addr, const rpc_client_method *m,
                                  const ProtobufCMessage *req, ProtobufCMessage **resp,
                                  int deadline_ms, char *err, size_t errlen);
/* Each returns the gRPC status; err holds the server's message. Keys are
 * the caller's (derived from the lot), so a retry gets the first answer. */
grpc_status_code wallet_capture(const char *key, int64_t hold_id, const char *currency,
                                int64_t amount, int64_t *captured, char *err, size_t errlen);
grpc_status_code wallet_release(const char *key, int64_t hold_id, char *err, size_t errlen);
/** The ids of the holds still held on lot; *ids is malloc'ed (caller
 *  frees), *n their count. */
grpc_status_code wallet_held_on_lot(int64_t lot_id, int64_t **ids, size_t *n, char *err,
                                    size_t errlen);
grpc_status_code wallet_deposit(const char *key, int64_t user_id, const char *currency,
                                int64_t amount, const char *reference, char *err,
                                size_t errlen);
/** Wallet.Withdraw: amount leaves user_id's available balance once per
 *  key. FAILED_PRECONDITION when the available balance does not cover it
 *  (nothing changed; the same key may be tried again later). */
grpc_status_code wallet_withdraw(const char *key, int64_t user_id, const char *currency,
                                 int64_t amount, const char *reference, char *err,
                                 size_t errlen);

/* ---- auctions_client.c: the fees of a sold lot ---- */
/* A lot's settlement fees as the auctions service prices them. */
typedef struct {
    int64_t buyer_fee, seller_fee;    /* minor units, 0..CHECK_MONEY_MAX */
    int64_t buyer_rule, seller_rule;  /* the price rule of each, 0 = the base rate */
    char currency[4];
} pay_fees;

extern const rpc_client_method auctions_quote_services; /* listed in pay_calls */

/**
 * Auctions.QuoteServices(lot_id, [buyer_premium, seller_commission]) with
 * the service identity into *out. Returns the gRPC status, err the
 * server's message: NOT_FOUND (auctions does not know the lot) and
 * FAILED_PRECONDITION (the lot has no hammer price) can never change; an
 * answer without both fees in range is INTERNAL.
 */
grpc_status_code auctions_quote_fees(int64_t lot_id, pay_fees *out, char *err, size_t errlen);

/* ---- ledger.c ---- */
/* One entry of a ledger transaction. */
typedef struct {
    const char *account;  /* "buyer", "seller", "platform_fees", "provider_clearing", "payouts" */
    int64_t owner_id;     /* the user for buyer and seller, else 0 */
    int64_t amount;       /* signed; 0 entries are left out */
} ledger_leg;

/**
 * Writes one balanced txn (kind, unique ref) of n legs in currency, in the
 * caller's open transaction. The database refuses it at COMMIT unless it
 * sums to zero. Returns 0, 1 when ref was recorded before (nothing
 * written), or DB_E_*.
 */
int ledger_write(db_conn *conn, const char *kind, const char *ref, int64_t lot_id,
                 int64_t payment_id, const char *currency, const ledger_leg *legs, size_t n);
/** Runs the invariant check now and sets its series. 0 when the ledger
 *  balances, 1 when it does not (logged), DB_E_* when it could not run. */
int ledger_check(void);
/** Starts and stops the periodic check thread. */
int ledger_check_start(void);
void ledger_check_stop(void);

/* ---- ticker.c: a job run every interval on its own thread ---- */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping;
    const char *name;             /* for the log */
    const int64_t *interval_ms;
    void (*run)(void);
} pay_ticker;
/** Starts t's thread: t->run() now, then every *t->interval_ms. 0 or -1. */
int ticker_start(pay_ticker *t);
/** Stops it after the current run; safe when not started. */
void ticker_stop(pay_ticker *t);
/** True once ticker_stop was called: a long run ends early. Any thread. */
bool ticker_stopping(pay_ticker *t);

/* ---- reconcile.c: card payments against the provider's records ---- */
/** Starts and stops the reconciliation thread (a round every
 *  GAVEL_PAYMENTS_RECONCILE_MS: up to 100 payments, then
 *  reconcile_transfers_round). */
int reconcile_start(void);
void reconcile_stop(void);

/* ---- reconcile_transfers.c: refunds and payouts against the provider ---- */
/** One batch of refunds and one of payouts recorded done and not yet
 *  confirmed by the provider, compared and repaired; a part of every
 *  reconciliation round, on t's thread. Ends early on a provider pause or
 *  when t stops. */
void reconcile_transfers_round(pay_ticker *t);

/* ---- refund.c: Refund in recorded steps, and their resumer ---- */
/** Starts and stops the thread that completes refunds a call left half-way
 *  (every GAVEL_PAYMENTS_POLL_MS, rows unchanged for the lease). */
int refund_resume_start(void);
void refund_resume_stop(void);

/* ---- payment_row.c ---- */
/** The columns every payment read returns, in payment_from_row's order. */
#define PAY_COLS                                                                          \
    "id, lot_id, payer_id, payee_id, currency, amount, captured, refunded, fees, state, "  \
    "provider, provider_reference, idempotency_key, wallet_hold_id, failure_reason, "      \
    "created_at_us, updated_at_us, authorized_at_us, captured_at_us, "                     \
    "authorization_expires_at_us"
/** Row `row` of r (PAY_COLS) as a Payment in arena a. */
Gavel__Payments__V1__Payment *payment_from_row(arena *a, const PGresult *r, int row);
/** Runs stmt (n params p, RETURNING PAY_COLS) on conn and sets *pm to its
 *  row in arena a. Returns 0 or DB_E_*. */
int payment_update(db_conn *conn, arena *a, const char *stmt, int n, const char *const *p,
                   Gavel__Payments__V1__Payment **pm);
/** Adds an outbox event of the payment's state change (authorized,
 *  captured, voided, failed) for p. Returns 0 or DB_E_*. */
int payment_publish(db_conn *conn, const char *type, const Gavel__Payments__V1__Payment *p);

/* ---- handlers ---- */
int pay_get_payment(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_list_payments(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_authorize(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_capture(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_void(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_refund(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int pay_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/** Maps a provider failure to the call's status (UNAVAILABLE for back-off
 *  and unknown outcomes, FAILED_PRECONDITION for refusals), recorded on c. */
int pay_fail_provider(rpc_call *c, prov_status st, const prov_error *e, const char *what);

#endif
