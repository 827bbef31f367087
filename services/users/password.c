/*
 * Passwords: argon2id with per-password random salt, parameters from
 * configuration (default 19 MiB, 2 passes, as recommended for
 * interactive logins). Verification of an unknown account still hashes, so
 * timing does not tell which emails exist.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <argon2.h>

#include "users.h"

#define SALT_LEN 16
#define HASH_LEN 32

int password_hash(const char *pw, char *out, size_t outlen)
{
    uint8_t salt[SALT_LEN];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return -1;
    int rc = argon2id_hash_encoded((uint32_t)users.argon_t, (uint32_t)users.argon_m_kib, 1, pw,
                                   strlen(pw), salt, sizeof salt, HASH_LEN, out, outlen);
    if (rc != ARGON2_OK) {
        log_error("argon2id: %s", argon2_error_message(rc));
        return -1;
    }
    return 0;
}

static char dummy_hash[160];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy_hash(void)
{
    if (password_hash("not-a-real-password-0", dummy_hash, sizeof dummy_hash) < 0)
        dummy_hash[0] = '\0';
}

bool password_verify(const char *encoded, const char *pw)
{
    if (encoded == NULL) {
        /* Spend the same work as a real check, then fail. */
        pthread_once(&dummy_once, make_dummy_hash);
        if (dummy_hash[0] != '\0')
            argon2id_verify(dummy_hash, pw, strlen(pw));
        return false;
    }
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

const char *password_policy(const char *pw)
{
    size_t n = strlen(pw);
    if (n < 10 || n > 128)
        return "password must be 10 to 128 bytes long";
    bool letter = false, digit = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)pw[i];
        letter |= (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch >= 0x80;
        digit |= ch >= '0' && ch <= '9';
    }
    if (!letter || !digit)
        return "password must contain at least one letter and one digit";
    return NULL;
}
