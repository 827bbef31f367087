/*
 * provider_int.h: inside the card provider adapter only (provider.c,
 * provider_http.c). Never included elsewhere: the daemon sees provider.h.
 */
#ifndef GAVEL_PAYMENTS_PROVIDER_INT_H
#define GAVEL_PAYMENTS_PROVIDER_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "provider.h"

/* Longest idempotency key, card token or destination sent (bytes). */
#define PROV_KEY_MAX 255
/* Longest provider answer read; a longer one is a failed attempt. */
#define PROV_REPLY_MAX (1 << 20)

/* One request to the provider: built by provider.c, sent by provider_http.c. */
typedef struct {
    bool is_post;
    const char *path;       /* from the base URL on, e.g. "/v1/refunds"; borrowed */
    const char *idem_key;   /* POST only: the Idempotency-Key; borrowed */
    const char *body;       /* POST only: JSON text; borrowed */
} prov_request;

/* ---- provider_http.c: the transport ---- */

/**
 * Sends req with retries (network errors and 5xx, exponential backoff with
 * jitter, each attempt bounded by the handle's timeout, all of them by its
 * budget) and maps the answer: 2xx PROV_OK, 402 PROV_DECLINED, 404
 * PROV_NOT_FOUND, 429 PROV_BACKOFF (never retried), other 4xx
 * PROV_REJECTED, anything else PROV_UNAVAILABLE. On PROV_OK *reply is a new
 * JSON object (caller frees with json_decref); on other statuses err is
 * filled from the provider's {"error":{"code","message"}} where there is one
 * and *reply is that parsed body or NULL. Thread-safe.
 */
prov_status prov__send(provider *p, const prov_request *req, json_t **reply, prov_error *err);

/** Fills err (code may be NULL) and returns st; for the adapter's own
 *  refusals and validation failures. */
prov_status prov__fail(prov_error *err, prov_status st, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Copies provider text into dst[cap]: control characters become spaces,
 *  truncation never splits a UTF-8 sequence, invalid UTF-8 becomes '?'. */
void prov__copy_text(char *dst, size_t cap, const char *src);

#endif
