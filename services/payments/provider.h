/*
 * provider.h: the card provider adapter of gavel-payments.
 *
 * One interface, one real adapter (provider.c: HTTPS with libcurl to a
 * provider API of the payment-intent shape: manual capture, exact capture
 * amount, cancel, partial refunds, retrieve, payouts). The dev stack and the
 * tests point it at the simulator (deploy/dev/provider_sim.py); docs/payments-provider.md
 * describes the wire API both sides speak.
 *
 * Every mutating call takes an idempotency key that the provider stores: a
 * retry with the same key after a timeout returns the first outcome, so a
 * charge is never made twice. Calls retry network errors and 5xx with
 * exponential backoff and jitter inside the given budget; a 429 is never
 * retried here: it returns PROV_BACKOFF with the Retry-After seconds so the
 * caller can pause every worker.
 *
 * Thread safety: a provider handle may be used from several threads at once.
 */
#ifndef GAVEL_PAYMENTS_PROVIDER_H
#define GAVEL_PAYMENTS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PROV_OK = 0,         /* The call took effect (or had already, same key). */
    PROV_DECLINED,       /* The card or account refused; see err code/message. */
    PROV_REJECTED,       /* The provider refused the request (4xx other than 429). */
    PROV_NOT_FOUND,      /* No such intent/refund/payout. */
    PROV_BACKOFF,        /* 429: pause all calls for retry_after_s seconds. */
    PROV_UNAVAILABLE,    /* Network error, timeout or 5xx after the retries:
                            outcome unknown, retry later with the same key. */
} prov_status;

typedef enum {
    PROV_INTENT_UNKNOWN = 0,
    PROV_INTENT_REQUIRES_CAPTURE,   /* Authorised (held), nothing captured. */
    PROV_INTENT_SUCCEEDED,          /* Captured. */
    PROV_INTENT_CANCELED,           /* Hold released without capture. */
    PROV_INTENT_FAILED,             /* Declined. */
} prov_intent_state;

typedef struct {
    char id[64];                    /* The provider's intent id. */
    prov_intent_state state;
    int64_t amount;                 /* Authorised, minor units. */
    int64_t amount_captured;
    int64_t amount_refunded;
    char currency[4];               /* ISO 4217, upper case. */
    int64_t expires_at_s;           /* When an uncaptured hold lapses; 0 unknown. */
} prov_intent;

typedef struct {
    char id[64];                    /* Refund or payout id. */
    int64_t amount;
    char currency[4];
    char state[24];                 /* "succeeded", "pending", "failed". */
} prov_transfer;

/* Filled on every status but PROV_OK. */
typedef struct {
    int http_status;                /* 0 when no answer arrived. */
    int retry_after_s;              /* PROV_BACKOFF: seconds to pause (>= 1). */
    char code[64];                  /* Provider's error code, e.g. "card_declined". */
    char message[256];
} prov_error;

typedef struct provider provider;

/*
 * Opens an adapter for base_url (http:// or https://, no trailing slash
 * needed) with the secret API key. timeout_ms bounds one HTTP attempt;
 * budget_ms bounds one call including its retries. Returns NULL on bad
 * arguments. The strings are copied. Free with provider_close.
 */
provider *provider_open(const char *base_url, const char *api_key,
                        int timeout_ms, int budget_ms);
void provider_close(provider *p);

/* Creates an intent with manual capture: holds amount on the card token. */
prov_status provider_authorize(provider *p, const char *idem_key,
                               int64_t amount, const char *currency,
                               const char *card_token, const char *description,
                               prov_intent *out, prov_error *err);
/* Captures exactly amount (<= authorised); the rest of the hold is released. */
prov_status provider_capture(provider *p, const char *idem_key,
                             const char *intent_id, int64_t amount,
                             prov_intent *out, prov_error *err);
/* Releases an uncaptured hold. */
prov_status provider_cancel(provider *p, const char *idem_key,
                            const char *intent_id,
                            prov_intent *out, prov_error *err);
/* Refunds amount (partial allowed) of a captured intent. */
prov_status provider_refund(provider *p, const char *idem_key,
                            const char *intent_id, int64_t amount,
                            prov_transfer *out, prov_error *err);
/* Reads an intent's current state (no key: reads are safe to repeat). */
prov_status provider_retrieve(provider *p, const char *intent_id,
                              prov_intent *out, prov_error *err);
/* Reads a refund's or a payout's current record (GET /v1/refunds/{id},
 * GET /v1/payouts/{id}; no key). out->state is the provider's status as
 * sent ("succeeded", "pending", "failed", "returned", ...): a refund or a
 * payout may fail after the call that made it succeeded. PROV_NOT_FOUND
 * when the provider has no such id. */
prov_status provider_retrieve_refund(provider *p, const char *refund_id,
                                     prov_transfer *out, prov_error *err);
prov_status provider_retrieve_payout(provider *p, const char *payout_id,
                                     prov_transfer *out, prov_error *err);
/* Finds the intent created with idem_key, if any (reconciliation after an
 * unknown outcome). PROV_NOT_FOUND when the provider never saw the key. */
prov_status provider_find_by_key(provider *p, const char *idem_key,
                                 prov_intent *out, prov_error *err);
/* Pays amount out to a seller's account reference. */
prov_status provider_payout(provider *p, const char *idem_key,
                            int64_t amount, const char *currency,
                            const char *destination, prov_transfer *out,
                            prov_error *err);

/*
 * Checks a webhook signature header "t=<unix s>,v1=<hex hmac-sha256 of
 * '<t>.<body>'>" against secret. Returns 0 when valid and t is within
 * tolerance_s of now_s; -1 otherwise (missing, malformed, wrong or stale).
 * Several v1= values may appear (secret rotation); one match suffices.
 */
int provider_webhook_verify(const char *secret, const char *header,
                            const void *body, size_t len,
                            int64_t now_s, int tolerance_s);

const char *prov_status_name(prov_status s);

#endif
