/*
 * The card provider adapter's calls (provider.h): each builds its JSON
 * request, sends it through provider_http.c and checks the answer before
 * anything of it reaches the caller. Invariants:
 *   - amounts are int64 minor units both ways; a JSON amount that is not an
 *     integer (a float, a string) is a bad answer, never converted;
 *   - an answer missing a field, with a field of the wrong type, an
 *     overlong or odd id, or one that contradicts the request (another
 *     amount, currency or intent) gives PROV_UNAVAILABLE with a message
 *     naming the field: the outcome is unknown, the caller retries with the
 *     same key or reconciles; never a half-filled result;
 *   - our own bad arguments give PROV_REJECTED before anything is sent;
 *   - ids and keys that go into a path or a header are checked characters.
 * The wire API is docs/payments-provider.md.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "provider_int.h"

#define ID_MAX ((int)sizeof ((prov_intent *)0)->id - 1)

static const struct {
    const char *name;
    prov_intent_state state;
} intent_states[] = {
    { "requires_capture", PROV_INTENT_REQUIRES_CAPTURE },
    { "succeeded", PROV_INTENT_SUCCEEDED },
    { "canceled", PROV_INTENT_CANCELED },
    { "failed", PROV_INTENT_FAILED },
};

const char *prov_status_name(prov_status s)
{
    switch (s) {
    case PROV_OK: return "ok";
    case PROV_DECLINED: return "declined";
    case PROV_REJECTED: return "rejected";
    case PROV_NOT_FOUND: return "not_found";
    case PROV_BACKOFF: return "backoff";
    case PROV_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

/* ---- checks of our own arguments ---- */

/* Provider ids go into URL paths: [A-Za-z0-9_-], 1..63. */
static bool is_id(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= (size_t)ID_MAX || !(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-'))
            return false;
    return n > 0;
}

/* Keys go into a header: printable ASCII without spaces, 1..255. */
static bool is_key(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= PROV_KEY_MAX || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n > 0;
}

static bool is_currency(const char *s)
{
    return s != NULL && strlen(s) == 3 && isupper((unsigned char)s[0]) &&
           isupper((unsigned char)s[1]) && isupper((unsigned char)s[2]);
}

static bool is_text(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return s != NULL && n <= max && utf8_valid(s, n);
}

static prov_status bad_arg(prov_error *err, const char *what)
{
    return prov__fail(err, PROV_REJECTED, "invalid_argument", "%s", what);
}

/* ---- checks of the provider's answers ---- */

static prov_status bad_reply(prov_error *err, const char *what, const char *field)
{
    return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                      "the provider's %s has no valid '%s'", what, field);
}

static bool get_i64(json_t *o, const char *name, bool required, int64_t *v)
{
    json_t *j = json_object_get(o, name);
    if (j == NULL || json_is_null(j)) {
        *v = 0;
        return !required;
    }
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return false;
    *v = json_integer_value(j);
    return true;
}

static bool get_id(json_t *o, const char *name, char *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (s == NULL || !is_id(s))
        return false;
    snprintf(out, (size_t)ID_MAX + 1, "%s", s);
    return true;
}

static bool get_currency(json_t *o, char out[4])
{
    const char *s = json_string_value(json_object_get(o, "currency"));
    if (s == NULL || strlen(s) != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        if (!isalpha((unsigned char)s[i]))
            return false;
        out[i] = (char)toupper((unsigned char)s[i]);
    }
    out[3] = '\0';
    return true;
}

static prov_status intent_fields(json_t *o, prov_intent *out, prov_error *err)
{
    if (!get_id(o, "id", out->id))
        return bad_reply(err, "payment intent", "id");
    const char *st = json_string_value(json_object_get(o, "status"));
    if (st == NULL)
        return bad_reply(err, "payment intent", "status");
    /* A status this adapter does not know stays UNKNOWN: not final. */
    for (size_t i = 0; i < sizeof intent_states / sizeof *intent_states; i++)
        if (strcmp(st, intent_states[i].name) == 0)
            out->state = intent_states[i].state;
    if (!get_i64(o, "amount", true, &out->amount) || out->amount == 0)
        return bad_reply(err, "payment intent", "amount");
    if (!get_i64(o, "amount_captured", true, &out->amount_captured) ||
        out->amount_captured > out->amount)
        return bad_reply(err, "payment intent", "amount_captured");
    if (!get_i64(o, "amount_refunded", true, &out->amount_refunded) ||
        out->amount_refunded > out->amount_captured)
        return bad_reply(err, "payment intent", "amount_refunded");
    if (!get_currency(o, out->currency))
        return bad_reply(err, "payment intent", "currency");
    if (!get_i64(o, "expires_at", false, &out->expires_at_s))
        return bad_reply(err, "payment intent", "expires_at");
    return PROV_OK;
}

static prov_status transfer_fields(json_t *o, const char *what, prov_transfer *out,
                                   prov_error *err)
{
    if (!get_id(o, "id", out->id))
        return bad_reply(err, what, "id");
    if (!get_i64(o, "amount", true, &out->amount) || out->amount == 0)
        return bad_reply(err, what, "amount");
    if (!get_currency(o, out->currency))
        return bad_reply(err, what, "currency");
    const char *st = json_string_value(json_object_get(o, "status"));
    size_t n = st != NULL ? strlen(st) : 0;
    if (n == 0 || n >= sizeof out->state || strspn(st, "abcdefghijklmnopqrstuvwxyz_") != n)
        return bad_reply(err, what, "status");
    memcpy(out->state, st, n + 1);
    return PROV_OK;
}

/* All fields or none: a failed check leaves out zeroed. */
static prov_status intent_from(json_t *o, prov_intent *out, prov_error *err)
{
    memset(out, 0, sizeof *out);
    prov_status st = intent_fields(o, out, err);
    if (st != PROV_OK)
        memset(out, 0, sizeof *out);
    return st;
}

static prov_status transfer_from(json_t *o, const char *what, prov_transfer *out, prov_error *err)
{
    memset(out, 0, sizeof *out);
    prov_status st = transfer_fields(o, what, out, err);
    if (st != PROV_OK)
        memset(out, 0, sizeof *out);
    return st;
}

/* ---- one call: send, then read the answer into an intent or a transfer ---- */

typedef struct {
    prov_request req;
    json_t *body;            /* POST: the request, dumped with sorted keys */
    char path[160];
} call;

static prov_status send_call(provider *p, call *c, json_t **reply, prov_error *err)
{
    char *text = NULL;
    if (c->req.is_post) {
        /* Sorted and compact: every attempt of the key sends the same bytes. */
        text = c->body != NULL ? json_dumps(c->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(c->body);
        if (text == NULL)
            return bad_arg(err, "the request cannot be written as JSON");
        c->req.body = text;
    }
    c->req.path = c->path;
    prov_status st = prov__send(p, &c->req, reply, err);
    free(text);
    return st;
}

/* An intent call. A decline may carry the failed intent: out gets it then. */
static prov_status intent_call(provider *p, call *c, prov_intent *out, prov_error *err)
{
    json_t *reply = NULL;
    prov_status st = send_call(p, c, &reply, err);
    if (st == PROV_OK) {
        st = intent_from(reply, out, err);
    } else if (st == PROV_DECLINED) {
        json_t *pi = json_object_get(json_object_get(reply, "error"), "payment_intent");
        prov_error ignored = { 0 };
        if (pi == NULL || intent_from(pi, out, &ignored) != PROV_OK)
            memset(out, 0, sizeof *out);
    }
    json_decref(reply);
    return st;
}

static prov_status transfer_call(provider *p, call *c, const char *what, prov_transfer *out,
                                 prov_error *err)
{
    json_t *reply = NULL;
    prov_status st = send_call(p, c, &reply, err);
    if (st == PROV_OK)
        st = transfer_from(reply, what, out, err);
    json_decref(reply);
    return st;
}

/*
 * What every call does first: clears err and out, then checks the handle,
 * the idempotency key (when needed) and the intent id (when there is one),
 * which is copied into id beforehand since the caller may pass out->id.
 * PROV_OK, or PROV_REJECTED with err saying what is wrong.
 */
static prov_status begin(provider *p, const char *idem_key, bool needs_key,
                         const char *intent_id, char id[64], void *out, size_t outlen,
                         prov_error *err)
{
    bool id_ok = intent_id != NULL && is_id(intent_id);
    if (id_ok)
        snprintf(id, 64, "%s", intent_id);
    memset(err, 0, sizeof *err);
    memset(out, 0, outlen);
    if (p == NULL)
        return bad_arg(err, "no provider handle");
    if (needs_key && (idem_key == NULL || !is_key(idem_key)))
        return bad_arg(err, "the idempotency key must be 1..255 printable ASCII characters");
    if (id != NULL && !id_ok)
        return bad_arg(err, "the provider's id must be 1..63 of [A-Za-z0-9_-]");
    return PROV_OK;
}

/* An OK answer that contradicts the request: nothing of it is returned. */
static prov_status contradicts(prov_error *err, void *out, size_t outlen, const char *what,
                               long long got, long long want)
{
    memset(out, 0, outlen);
    return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                      "the provider answered %s %lld to a request for %lld", what, got, want);
}

/* ---- the calls ---- */

prov_status provider_authorize(provider *p, const char *idem_key, int64_t amount,
                               const char *currency, const char *card_token,
                               const char *description, prov_intent *out, prov_error *err)
{
    char cur[4] = "";
    if (currency != NULL && strlen(currency) == 3)
        memcpy(cur, currency, 4); /* the caller may pass out->currency */
    prov_status st = begin(p, idem_key, true, NULL, NULL, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    if (amount <= 0 || !is_currency(cur))
        return bad_arg(err, "amount must be positive and currency 3 upper-case letters");
    if (card_token == NULL || !is_key(card_token))
        return bad_arg(err, "the card token must be 1..255 printable ASCII characters");
    if (description != NULL && !is_text(description, 1000))
        return bad_arg(err, "the description must be UTF-8 of at most 1000 bytes");
    call c = { .req.is_post = true, .req.idem_key = idem_key, .path = "/v1/payment_intents" };
    c.body = json_pack("{s:I, s:s, s:s, s:s, s:s}", "amount", (json_int_t)amount, "currency",
                       cur, "payment_method", card_token, "capture_method", "manual",
                       "description", description != NULL ? description : "");
    st = intent_call(p, &c, out, err);
    if (st == PROV_OK && (out->amount != amount || strcmp(out->currency, cur) != 0))
        return contradicts(err, out, sizeof *out, "an intent of", (long long)out->amount,
                           (long long)amount);
    return st;
}

prov_status provider_capture(provider *p, const char *idem_key, const char *intent_id,
                             int64_t amount, prov_intent *out, prov_error *err)
{
    char id[64];
    prov_status st = begin(p, idem_key, true, intent_id, id, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    if (amount <= 0)
        return bad_arg(err, "the capture amount must be positive");
    call c = { .req.is_post = true, .req.idem_key = idem_key };
    snprintf(c.path, sizeof c.path, "/v1/payment_intents/%s/capture", id);
    c.body = json_pack("{s:I}", "amount", (json_int_t)amount);
    st = intent_call(p, &c, out, err);
    if (st == PROV_OK && (strcmp(out->id, id) != 0 || out->amount_captured != amount ||
                          out->state != PROV_INTENT_SUCCEEDED))
        return contradicts(err, out, sizeof *out, "a capture of",
                           (long long)out->amount_captured, (long long)amount);
    return st;
}

prov_status provider_cancel(provider *p, const char *idem_key, const char *intent_id,
                            prov_intent *out, prov_error *err)
{
    char id[64];
    prov_status st = begin(p, idem_key, true, intent_id, id, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    call c = { .req.is_post = true, .req.idem_key = idem_key, .body = json_object() };
    snprintf(c.path, sizeof c.path, "/v1/payment_intents/%s/cancel", id);
    st = intent_call(p, &c, out, err);
    if (st == PROV_OK && (strcmp(out->id, id) != 0 || out->state != PROV_INTENT_CANCELED)) {
        memset(out, 0, sizeof *out);
        return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                          "the provider answered a cancel of %s with another intent or state", id);
    }
    return st;
}

prov_status provider_refund(provider *p, const char *idem_key, const char *intent_id,
                            int64_t amount, prov_transfer *out, prov_error *err)
{
    char id[64];
    prov_status st = begin(p, idem_key, true, intent_id, id, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    if (amount <= 0)
        return bad_arg(err, "the refund amount must be positive");
    call c = { .req.is_post = true, .req.idem_key = idem_key, .path = "/v1/refunds" };
    c.body = json_pack("{s:s, s:I}", "payment_intent", id, "amount", (json_int_t)amount);
    st = transfer_call(p, &c, "refund", out, err);
    if (st == PROV_OK && out->amount != amount)
        return contradicts(err, out, sizeof *out, "a refund of", (long long)out->amount,
                           (long long)amount);
    return st;
}

prov_status provider_retrieve(provider *p, const char *intent_id, prov_intent *out,
                              prov_error *err)
{
    char id[64];
    prov_status st = begin(p, NULL, false, intent_id, id, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    call c = { 0 };
    snprintf(c.path, sizeof c.path, "/v1/payment_intents/%s", id);
    st = intent_call(p, &c, out, err);
    if (st == PROV_OK && strcmp(out->id, id) != 0) {
        memset(out, 0, sizeof *out);
        return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                          "the provider answered a read of %s with another intent", id);
    }
    return st;
}

/* A refund's or payout's current record: path is "/v1/refunds" or
 * "/v1/payouts", what its name in messages. */
static prov_status transfer_read(provider *p, const char *path, const char *what,
                                 const char *tid, prov_transfer *out, prov_error *err)
{
    char id[64];
    prov_status st = begin(p, NULL, false, tid, id, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    call c = { 0 };
    snprintf(c.path, sizeof c.path, "%s/%s", path, id);
    st = transfer_call(p, &c, what, out, err);
    if (st == PROV_OK && strcmp(out->id, id) != 0) {
        memset(out, 0, sizeof *out);
        return prov__fail(err, PROV_UNAVAILABLE, "bad_reply",
                          "the provider answered a read of %s with another %s", id, what);
    }
    return st;
}

prov_status provider_retrieve_refund(provider *p, const char *refund_id, prov_transfer *out,
                                     prov_error *err)
{
    return transfer_read(p, "/v1/refunds", "refund", refund_id, out, err);
}

prov_status provider_retrieve_payout(provider *p, const char *payout_id, prov_transfer *out,
                                     prov_error *err)
{
    return transfer_read(p, "/v1/payouts", "payout", payout_id, out, err);
}

/* The key percent-encoded for a query string (all but unreserved bytes). */
static void query_escape(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s != '\0' && n + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            dst[n++] = (char)ch;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[ch >> 4];
            dst[n++] = hex[ch & 15];
        }
    }
    dst[n] = '\0';
}

prov_status provider_find_by_key(provider *p, const char *idem_key, prov_intent *out,
                                 prov_error *err)
{
    prov_status st = begin(p, idem_key, true, NULL, NULL, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    char q[3 * PROV_KEY_MAX + 1];
    query_escape(q, sizeof q, idem_key);
    char *path = xasprintf("/v1/payment_intents?idempotency_key=%s", q);
    prov_request req = { .path = path };
    json_t *reply = NULL;
    st = prov__send(p, &req, &reply, err);
    free(path);
    if (st == PROV_OK) {
        json_t *data = json_object_get(reply, "data");
        if (!json_is_array(data) || json_array_size(data) > 1)
            st = bad_reply(err, "intent list", "data");
        else if (json_array_size(data) == 0)
            st = prov__fail(err, PROV_NOT_FOUND, "resource_missing",
                            "the provider has no intent created with this key");
        else
            st = intent_from(json_array_get(data, 0), out, err);
    }
    json_decref(reply);
    return st;
}

prov_status provider_payout(provider *p, const char *idem_key, int64_t amount,
                            const char *currency, const char *destination,
                            prov_transfer *out, prov_error *err)
{
    char cur[4] = "";
    if (currency != NULL && strlen(currency) == 3)
        memcpy(cur, currency, 4); /* the caller may pass out->currency */
    prov_status st = begin(p, idem_key, true, NULL, NULL, out, sizeof *out, err);
    if (st != PROV_OK)
        return st;
    if (amount <= 0 || !is_currency(cur))
        return bad_arg(err, "amount must be positive and currency 3 upper-case letters");
    if (destination == NULL || !is_key(destination))
        return bad_arg(err, "the destination must be 1..255 printable ASCII characters");
    call c = { .req.is_post = true, .req.idem_key = idem_key, .path = "/v1/payouts" };
    c.body = json_pack("{s:I, s:s, s:s}", "amount", (json_int_t)amount, "currency", cur,
                       "destination", destination);
    st = transfer_call(p, &c, "payout", out, err);
    if (st == PROV_OK && (out->amount != amount || strcmp(out->currency, cur) != 0))
        return contradicts(err, out, sizeof *out, "a payout of", (long long)out->amount,
                           (long long)amount);
    return st;
}
