/*
 * Compact JWTs signed with Ed25519 ("alg":"EdDSA") through OpenSSL, claims
 * as jansson objects. Verification is strict: exactly three base64url
 * parts without padding, the one algorithm we issue, a signature of 64
 * bytes, and a JSON object as payload. What the claims mean (expiry, role,
 * revocation) is rpc_auth.c's business. A public key file may hold
 * several keys (rotation): a token verifies when one of them signed it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "rpc/rpc.h"

#define MAX_JWT 4096
/* base64url of {"alg":"EdDSA","typ":"JWT"} */
static const char jwt_header[] = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9";

/* A private key is one key; a public key file may hold several (a ring),
 * so tokens of the old and the new signing key both verify while a key is
 * rotated. */
#define RING_MAX 8

struct rpc_jwt_key {
    EVP_PKEY *pkeys[RING_MAX];
    size_t n;
};

static bool is_ed25519(const EVP_PKEY *k)
{
    return k != NULL && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519;
}

/* Reads every PEM public key of f into key, one block after another; -1
 * with err when a block is not an Ed25519 public key, something else than
 * blocks is in the file, there are more than RING_MAX, or none. */
static int read_ring(FILE *f, const char *path, rpc_jwt_key *key, char *err, size_t errlen)
{
    static const char begin[] = "-----BEGIN ", end[] = "-----END ";
    char text[64 * 1024];
    size_t len = fread(text, 1, sizeof text - 1, f);
    if (len == sizeof text - 1) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, sizeof text - 1);
        return -1;
    }
    text[len] = '\0';
    const char *at = text;
    for (;;) {
        at += strspn(at, " \t\r\n");
        if (*at == '\0')
            break;
        const char *stop = strncmp(at, begin, sizeof begin - 1) == 0 ? strstr(at, end) : NULL;
        stop = stop != NULL ? strchr(stop + sizeof end - 1, '\n') : NULL;
        if (stop == NULL && at[0] == '-')
            stop = text + len; /* the last block, without a final newline */
        BIO *b = stop != NULL ? BIO_new_mem_buf(at, (int)(stop - at)) : NULL;
        EVP_PKEY *k = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (!is_ed25519(k) || key->n == RING_MAX) {
            EVP_PKEY_free(k);
            snprintf(err, errlen, "%s: key %zu is %s", path, key->n + 1,
                     key->n == RING_MAX ? "one too many (at most 8 public keys)"
                                        : "not an Ed25519 public key in PEM");
            return -1;
        }
        key->pkeys[key->n++] = k;
        at = stop;
    }
    if (key->n == 0) {
        snprintf(err, errlen, "%s: no Ed25519 public key in PEM", path);
        return -1;
    }
    return 0;
}

rpc_jwt_key *rpc_jwt_key_load(const char *path, bool is_private, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open key %s", path);
        return NULL;
    }
    rpc_jwt_key *key = xcalloc(1, sizeof *key);
    int rc = 0;
    if (is_private) {
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        if (is_ed25519(k)) {
            key->pkeys[key->n++] = k;
        } else {
            EVP_PKEY_free(k);
            snprintf(err, errlen, "%s is not an Ed25519 private key in PEM", path);
            rc = -1;
        }
    } else {
        rc = read_ring(f, path, key, err, errlen);
    }
    fclose(f);
    ERR_clear_error();
    if (rc < 0) {
        rpc_jwt_key_free(key);
        return NULL;
    }
    return key;
}

size_t rpc_jwt_key_count(const rpc_jwt_key *k)
{
    return k->n;
}

void rpc_jwt_key_free(rpc_jwt_key *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->pkeys[i]);
    free(k);
}

/* Appends base64url(in) without padding at out; returns chars written. */
static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return (size_t)len;
}

/* Decodes base64url of length n into out; returns bytes or -1. */
static int b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap)
{
    if (n % 4 == 1 || n > MAX_JWT)
        return -1;
    char buf[MAX_JWT + 4];
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return -1;
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t pad = (4 - n % 4) % 4;
    memset(buf + n, '=', pad);
    if ((n + pad) / 4 * 3 > outcap)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)(n + pad));
    return len < 0 ? -1 : len - (int)pad;
}

char *rpc_jwt_sign(const rpc_jwt_key *k, json_t *claims)
{
    char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (payload == NULL)
        return NULL;
    size_t plen = strlen(payload);
    char *tok = xmalloc(sizeof jwt_header + 2 * plen + 200);
    size_t n = (size_t)snprintf(tok, sizeof jwt_header + 1, "%s", jwt_header);
    tok[n++] = '.';
    n += b64url_encode((const uint8_t *)payload, plen, tok + n);
    free(payload);
    uint8_t sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkeys[0]) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)tok, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        free(tok);
        return NULL;
    }
    tok[n++] = '.';
    b64url_encode(sig, siglen, tok + n);
    return tok;
}

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

int rpc_jwt_verify(const rpc_jwt_key *k, const char *token, json_t **claims, char *err,
                   size_t errlen)
{
    *claims = NULL;
    size_t len = strnlen(token, MAX_JWT + 1);
    if (len > MAX_JWT)
        return fail(err, errlen, "token too long");
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return fail(err, errlen, "token is not a JWT (three dot-separated parts)");
    if ((size_t)(dot1 - token) != strlen(jwt_header) ||
        memcmp(token, jwt_header, strlen(jwt_header)) != 0)
        return fail(err, errlen, "token header must be {\"alg\":\"EdDSA\",\"typ\":\"JWT\"}");
    uint8_t sig[72];
    int siglen = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof sig);
    if (siglen != 64)
        return fail(err, errlen, "token signature malformed");
    bool ok = false;
    for (size_t i = 0; i < k->n && !ok; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkeys[i]) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, (const uint8_t *)token,
                              (size_t)(dot2 - token)) == 1;
        EVP_MD_CTX_free(ctx);
    }
    ERR_clear_error();
    if (!ok)
        return fail(err, errlen, "token signature invalid");
    uint8_t body[MAX_JWT];
    int blen = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), body, sizeof body);
    if (blen <= 0)
        return fail(err, errlen, "token payload malformed");
    json_error_t je;
    json_t *j = json_loadb((const char *)body, (size_t)blen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return fail(err, errlen, "token payload is not a JSON object");
    }
    *claims = j;
    return 0;
}
