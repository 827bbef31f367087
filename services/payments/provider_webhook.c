/*
 * Verification of the provider's webhook signature (provider.h):
 *   Gavel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]
 * The MAC is taken over the timestamp text exactly as it appears in the
 * header, a '.', and the body bytes as received. Every v1 value is compared
 * in constant time (CRYPTO_memcmp) and one match suffices (several appear
 * while the provider rotates its secret); the timestamp must lie within
 * the tolerance of now either way, so an old delivery cannot be replayed
 * and a clock far ahead is refused too. Other keys (v0, ...) are ignored.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "provider.h"

enum { HEADER_MAX = 4096, SIG_MAX = 8, MAC_LEN = 32, TS_DIGITS_MAX = 12 };

typedef struct {
    const char *ts;          /* the t= digits, in the header */
    size_t ts_len;
    uint8_t sig[SIG_MAX][MAC_LEN];
    int n_sig;
} parsed_header;

/* Splits "k=v,k=v" items; false on anything malformed. */
static bool parse_header(const char *h, parsed_header *out)
{
    memset(out, 0, sizeof *out);
    size_t total = strnlen(h, HEADER_MAX + 1);
    if (total > HEADER_MAX)
        return false;
    const char *p = h, *end = h + total;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        if (item_end == NULL)
            item_end = end;
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        if (eq == NULL || eq == p)
            return false;
        const char *v = eq + 1;
        size_t vl = (size_t)(item_end - v), kl = (size_t)(eq - p);
        if (kl == 1 && p[0] == 't') {
            if (out->ts != NULL || vl == 0 || vl > TS_DIGITS_MAX || strspn(v, "0123456789") < vl)
                return false;
            out->ts = v;
            out->ts_len = vl;
        } else if (kl == 2 && p[0] == 'v' && p[1] == '1') {
            if (vl != 2 * MAC_LEN || out->n_sig == SIG_MAX)
                return false;
            if (hex_decode(v, out->sig[out->n_sig], MAC_LEN) != 0)
                return false;
            out->n_sig++;
        }
        p = item_end + 1;
    }
    return out->ts != NULL && out->n_sig > 0;
}

int provider_webhook_verify(const char *secret, const char *header, const void *body, size_t len,
                            int64_t now_s, int tolerance_s)
{
    parsed_header ph;
    if (secret == NULL || secret[0] == '\0' || header == NULL || (body == NULL && len > 0) ||
        tolerance_s < 0 || !parse_header(header, &ph))
        return -1;
    int64_t t = strtoll(ph.ts, NULL, 10);
    if (t > now_s + tolerance_s || t < now_s - tolerance_s)
        return -1;
    /* "<t>." then the body, in one buffer for the one-shot HMAC. */
    uint8_t *msg = xmalloc(ph.ts_len + 1 + len);
    memcpy(msg, ph.ts, ph.ts_len);
    msg[ph.ts_len] = '.';
    if (len > 0)
        memcpy(msg + ph.ts_len + 1, body, len);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    bool ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, ph.ts_len + 1 + len, mac,
                   &maclen) != NULL && maclen == MAC_LEN;
    free(msg);
    int match = 0;
    for (int i = 0; ok && i < ph.n_sig; i++)
        match |= CRYPTO_memcmp(mac, ph.sig[i], MAC_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return ok && match ? 0 : -1;
}
