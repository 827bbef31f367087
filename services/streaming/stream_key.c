/*
 * Stream keys and public names. A key is 32 bytes from OpenSSL's CSPRNG in
 * base64url (43 characters, no padding): shown to staff once, stored only
 * as the hex of its SHA-256. A key has 256 bits, so a plain hash is
 * enough (nothing to brute-force, unlike a password). The public name in
 * playback URLs is drawn separately (16 of [a-z0-9], ~82 bits), so it
 * says nothing about the key.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "streaming.h"

#define KEY_BYTES 32

int strm_key_new(char key[STRM_KEY_LEN + 1], char hash[STRM_HASH_HEX])
{
    uint8_t raw[KEY_BYTES];
    unsigned char b64[4 * ((KEY_BYTES + 2) / 3) + 1];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        log_error("RAND_bytes failed: no stream key");
        return -1;
    }
    EVP_EncodeBlock(b64, raw, sizeof raw);
    for (size_t i = 0; i < STRM_KEY_LEN; i++)
        key[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    key[STRM_KEY_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    strm_key_hash(key, STRM_KEY_LEN, hash);
    return 0;
}

void strm_key_hash(const char *key, size_t n, char hash[STRM_HASH_HEX])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_Digest(key, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        panic("EVP_Digest(SHA-256) failed");
    hex_encode(md, 32, hash);
}

static bool is_b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

bool strm_key_is_shaped(const char *s)
{
    size_t n = strnlen(s, STRM_KEY_LEN + 1);
    if (n != STRM_KEY_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_b64url(s[i]))
            return false;
    return true;
}

int strm_name_new(char name[STRM_NAME_LEN + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t have = 0;
    while (have < STRM_NAME_LEN) {
        uint8_t raw[32];
        if (RAND_bytes(raw, sizeof raw) != 1) {
            log_error("RAND_bytes failed: no stream name");
            return -1;
        }
        /* 252 = 7 * 36: dropping the rest keeps every character equally likely. */
        for (size_t i = 0; i < sizeof raw && have < STRM_NAME_LEN; i++)
            if (raw[i] < 252)
                name[have++] = alphabet[raw[i] % 36];
    }
    name[STRM_NAME_LEN] = '\0';
    return 0;
}

bool strm_name_is_shaped(const char *s)
{
    size_t n = strnlen(s, STRM_NAME_LEN + 1);
    if (n != STRM_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}
