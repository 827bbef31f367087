/*
 * Webhook secrets at rest and the signatures made with them. A partner's
 * secret is stored sealed with AES-256-GCM under the key in
 * GAVEL_WEBHOOK_KEY_FILE (64 hex characters, generated once per
 * deployment, readable by the daemon only): a fresh random 12-byte nonce
 * (OpenSSL RAND_bytes), the ciphertext, the 16-byte tag. A copy of the
 * database alone therefore cannot sign. Without the key file the webhook
 * methods answer FAILED_PRECONDITION and nothing is sealed or opened.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notif.h"

enum { KEY_LEN = 32, NONCE_LEN = 12, TAG_LEN = 16 };

static uint8_t key[KEY_LEN];
static bool key_ready;

int webhook_secret_init(void)
{
    const char *path = notif.webhook_key_file;
    if (path[0] == '\0') {
        log_warn("GAVEL_WEBHOOK_KEY_FILE is empty: webhooks are off");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_warn("cannot read GAVEL_WEBHOOK_KEY_FILE=%s: webhooks are off", path);
        return -1;
    }
    char hex[2 * KEY_LEN + 2] = { 0 };
    size_t n = fread(hex, 1, sizeof hex - 1, f);
    fclose(f);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        hex[--n] = '\0';
    int rc = n == 2 * KEY_LEN ? hex_decode(hex, key, KEY_LEN) : -1;
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc != 0) {
        log_warn("GAVEL_WEBHOOK_KEY_FILE=%s must hold 64 hex characters: webhooks are off",
                 path);
        return -1;
    }
    key_ready = true;
    return 0;
}

void webhook_secret_close(void)
{
    OPENSSL_cleanse(key, sizeof key);
    key_ready = false;
}

bool webhook_secret_ready(void)
{
    return key_ready;
}

int webhook_secret_seal(const char *secret, size_t n, char **out)
{
    *out = NULL;
    if (!key_ready || n == 0 || n > 4096)
        return -1;
    size_t total = NONCE_LEN + n + TAG_LEN;
    uint8_t *blob = xmalloc(total);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = ctx != NULL && RAND_bytes(blob, NONCE_LEN) == 1 &&
                      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, blob) == 1 &&
                      EVP_EncryptUpdate(ctx, blob + NONCE_LEN, &len, (const uint8_t *)secret,
                                        (int)n) == 1 &&
                      (size_t)len == n &&
                      EVP_EncryptFinal_ex(ctx, blob + NONCE_LEN + n, &len) == 1 &&
                      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
                                          blob + NONCE_LEN + n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (ok) {
        *out = xmalloc(2 * total + 3);
        memcpy(*out, "\\x", 2);
        hex_encode(blob, total, *out + 2);
    }
    free(blob);
    return ok ? 0 : -1;
}

int webhook_secret_open(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
    *n = 0;
    size_t hl = strlen(hex);
    if (!key_ready || hl % 2 != 0 || hl / 2 < NONCE_LEN + TAG_LEN + 1 ||
        hl / 2 - NONCE_LEN - TAG_LEN > cap)
        return -1;
    size_t total = hl / 2, clen = total - NONCE_LEN - TAG_LEN;
    uint8_t *blob = xmalloc(total);
    if (hex_decode(hex, blob, total) != 0) {
        free(blob);
        return -1;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = ctx != NULL &&
                      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, blob) == 1 &&
                      EVP_DecryptUpdate(ctx, out, &len, blob + NONCE_LEN, (int)clen) == 1 &&
                      (size_t)len == clen &&
                      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                                          blob + NONCE_LEN + clen) == 1 &&
                      EVP_DecryptFinal_ex(ctx, out + clen, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    free(blob);
    if (!ok) {
        OPENSSL_cleanse(out, cap);
        return -1;
    }
    *n = clen;
    return 0;
}

int webhook_sign(const uint8_t *k, size_t keylen, int64_t t, const char *body, size_t len,
                 char *out)
{
    char ts[24];
    int tl = snprintf(ts, sizeof ts, "%lld.", (long long)t);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    /* HMAC over "<t>." then the body, without copying the body. */
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end() };
    size_t outl = 0;
    if (ctx != NULL && EVP_MAC_init(ctx, k, keylen, params) == 1 &&
        EVP_MAC_update(ctx, (const uint8_t *)ts, (size_t)tl) == 1 &&
        EVP_MAC_update(ctx, (const uint8_t *)body, len) == 1 &&
        EVP_MAC_final(ctx, mac, &outl, sizeof mac) == 1)
        maclen = (unsigned)outl;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    if (maclen != 32)
        return -1;
    hex_encode(mac, 32, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}
