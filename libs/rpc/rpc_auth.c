/*
 * Who is calling. Every service verifies tokens itself, offline: people's
 * access tokens are signed by the users service's key (iss "gavel-users"),
 * daemons' own tokens by the service key (iss "gavel-service"), and a role
 * is believed only from the issuer allowed to grant it. A token id found in
 * the Redis revocation list is refused; when Redis cannot answer, the call
 * fails UNAVAILABLE rather than letting a revoked token through.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "cache/cache.h"
#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"

#define SERVICE_TOKEN_TTL_S 900

static rpc_jwt_key *users_pub, *service_pub, *service_priv;
static pthread_mutex_t mint_mu = PTHREAD_MUTEX_INITIALIZER;
static char *minted;
static int64_t minted_exp_us;
static char service_name[64] = "gavel";
static int64_t revocation_cache_us = 1000000; /* GAVEL_AUTH_REVOCATION_CACHE_MS */

static struct {
    int64_t revocation_cache_ms;
    const char *users_public_key, *service_public_key, *service_key; /* "": unset */
} auth_cfg;

const cfg_entry rpc__auth_config[] = {
    { "GAVEL_AUTH_REVOCATION_CACHE_MS", "1000", CFG_INT, &auth_cfg.revocation_cache_ms, 0,
      60000, "how long Redis's \"not revoked\" for a token is believed (0: ask every call)" },
    { "GAVEL_JWT_PUBLIC_KEY", "", CFG_STR, &auth_cfg.users_public_key, 0, 0,
      "PEM file of the users service's Ed25519 public key (unset: user tokens refused)" },
    { "GAVEL_SERVICE_PUBLIC_KEY", "", CFG_STR, &auth_cfg.service_public_key, 0, 0,
      "PEM file of the service public key (unset: service tokens refused)" },
    { "GAVEL_SERVICE_KEY", "", CFG_STR, &auth_cfg.service_key, 0, 0,
      "PEM file of the service private key that mints this daemon's service token" },
    { 0 },
};

static const struct { unsigned bit; const char *name; } role_names[] = {
    { RPC_ROLE_BIDDER, "bidder" },       { RPC_ROLE_SELLER, "seller" },
    { RPC_ROLE_MODERATOR, "moderator" }, { RPC_ROLE_ADMIN, "admin" },
    { RPC_ROLE_SERVICE, "service" },     { 0, NULL },
};

const char *rpc_role_name(unsigned role)
{
    for (int i = 0; role_names[i].name != NULL; i++)
        if (role_names[i].bit == role)
            return role_names[i].name;
    return "";
}

unsigned rpc_role_parse(const char *name)
{
    for (int i = 0; name != NULL && role_names[i].name != NULL; i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].bit;
    return 0;
}

static int load_key(rpc_jwt_key **dst, const char *env, const char *path, bool is_private)
{
    if (path[0] == '\0')
        return 0;
    char err[256];
    rpc_jwt_key *k = rpc_jwt_key_load(path, is_private, err, sizeof err);
    if (k == NULL) {
        log_error("%s: %s", env, err);
        return -1;
    }
    if (rpc_jwt_key_count(k) > 1)
        log_info("%s: %zu public keys (a rotation in progress)", env, rpc_jwt_key_count(k));
    rpc_jwt_key_free(*dst);
    *dst = k;
    return 0;
}

int rpc_auth_init(void)
{
    char err[256];
    if (cfg_load(rpc__auth_config, err, sizeof err) < 0) {
        log_error("configuration: %s", err);
        return -1;
    }
    revocation_cache_us = auth_cfg.revocation_cache_ms * 1000;
    if (load_key(&users_pub, "GAVEL_JWT_PUBLIC_KEY", auth_cfg.users_public_key, false) < 0 ||
        load_key(&service_pub, "GAVEL_SERVICE_PUBLIC_KEY", auth_cfg.service_public_key,
                 false) < 0 ||
        load_key(&service_priv, "GAVEL_SERVICE_KEY", auth_cfg.service_key, true) < 0)
        return -1;
    if (users_pub == NULL)
        log_warn("GAVEL_JWT_PUBLIC_KEY not set: every authenticated call will be refused");
    return 0;
}

void rpc__auth_set_service_name(const char *name)
{
    snprintf(service_name, sizeof service_name, "%s", name);
}

static grpc_status_code reject(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return GRPC_STATUS_UNAUTHENTICATED;
}

/* Fills p from verified claims; returns OK or UNAUTHENTICATED. */
static grpc_status_code read_claims(json_t *cl, bool is_service, rpc_principal *p, char *err,
                                    size_t errlen)
{
    const char *sub = json_string_value(json_object_get(cl, "sub"));
    const char *role = json_string_value(json_object_get(cl, "role"));
    const char *jti = json_string_value(json_object_get(cl, "jti"));
    json_t *exp = json_object_get(cl, "exp");
    if (sub == NULL || role == NULL || jti == NULL || !json_is_integer(exp))
        return reject(err, errlen, "token lacks sub, role, jti or exp");
    if (strlen(sub) >= sizeof p->subject || strlen(jti) >= sizeof p->jti)
        return reject(err, errlen, "token claims too long");
    p->role = rpc_role_parse(role);
    if (p->role == 0 || (p->role == RPC_ROLE_SERVICE) != is_service)
        return reject(err, errlen, "token role not valid for its issuer");
    p->expires_us = json_integer_value(exp) * 1000000LL;
    if (p->expires_us <= now_us())
        return reject(err, errlen, "token expired");
    snprintf(p->subject, sizeof p->subject, "%s", sub);
    snprintf(p->jti, sizeof p->jti, "%s", jti);
    p->user_id = 0;
    if (!is_service) {
        char *end = NULL;
        long long id = strtoll(sub, &end, 10);
        if (end == sub || *end != '\0' || id <= 0)
            return reject(err, errlen, "token subject is not a user id");
        p->user_id = id;
    }
    return GRPC_STATUS_OK;
}

/* The key that verifies the signature names the issuer; the claimed iss
 * must agree, so a service key can never vouch for a person and back. */
static json_t *verified_claims(const char *token, bool *is_service)
{
    json_t *cl = NULL;
    char why[64];
    const char *iss = NULL;
    if (users_pub != NULL && rpc_jwt_verify(users_pub, token, &cl, why, sizeof why) == 0)
        iss = "gavel-users";
    else if (service_pub != NULL &&
             rpc_jwt_verify(service_pub, token, &cl, why, sizeof why) == 0)
        iss = "gavel-service";
    const char *claimed = json_string_value(json_object_get(cl, "iss"));
    if (iss == NULL || claimed == NULL || strcmp(claimed, iss) != 0) {
        json_decref(cl);
        return NULL;
    }
    *is_service = strcmp(iss, "gavel-service") == 0;
    return cl;
}

/*
 * Recently verified tokens, process-wide, keyed by the token's SHA-256: a
 * client sends the same token on every call, and a signature that
 * verified once stays valid. Expiry is checked on every call. The
 * revocation list is asked again once the last answer for the token is
 * older than GAVEL_AUTH_REVOCATION_CACHE_MS (default 1000; 0 asks on every
 * call): a logout reaches every service within that time, and at once the
 * users service, which forgets everything it knows when it revokes
 * (rpc_auth_forget_all). A hot daemon thus asks Redis about each token at
 * most once a second instead of on each call.
 *
 * Set-associative: a token may sit in any of the 8 ways of its set, and a
 * full set gives up the entry used least recently. (Direct-mapped, two of
 * 64 bidders' tokens shared a slot and evicted each other on every call:
 * a signature check each time, and never the polling thread's fast path.)
 */
#define AUTH_CACHE_SETS 512
#define AUTH_CACHE_WAYS 8
typedef struct {
    uint8_t digest[SHA256_DIGEST_LENGTH];
    rpc_principal p;
    int64_t not_revoked_at_us; /* mono_us of the last "not revoked", 0 if never */
    int64_t used_at_us;        /* mono_us of the last lookup that found it */
    bool used;
} auth_entry;
static auth_entry auth_cache[AUTH_CACHE_SETS][AUTH_CACHE_WAYS];
static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t signatures_checked;

uint64_t rpc__auth_signatures_checked(void)
{
    return atomic_load(&signatures_checked);
}

static auth_entry *set_of(const uint8_t d[SHA256_DIGEST_LENGTH])
{
    uint32_t k = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;
    return auth_cache[k % AUTH_CACHE_SETS];
}

/* The entry holding d, or NULL; under auth_mu. */
static auth_entry *cache_find(const uint8_t d[SHA256_DIGEST_LENGTH])
{
    auth_entry *set = set_of(d);
    for (int w = 0; w < AUTH_CACHE_WAYS; w++)
        if (set[w].used && memcmp(set[w].digest, d, SHA256_DIGEST_LENGTH) == 0) {
            set[w].used_at_us = mono_us();
            return &set[w];
        }
    return NULL;
}

/* Where d goes: a free way of its set, else the least recently used;
 * under auth_mu. */
static auth_entry *cache_victim(const uint8_t d[SHA256_DIGEST_LENGTH])
{
    auth_entry *set = set_of(d), *v = &set[0];
    for (int w = 0; w < AUTH_CACHE_WAYS; w++) {
        if (!set[w].used)
            return &set[w];
        if (set[w].used_at_us < v->used_at_us)
            v = &set[w];
    }
    return v;
}

void rpc_auth_forget_all(void)
{
    pthread_mutex_lock(&auth_mu);
    for (size_t i = 0; i < AUTH_CACHE_SETS; i++)
        for (int w = 0; w < AUTH_CACHE_WAYS; w++)
            auth_cache[i][w].used = false;
    pthread_mutex_unlock(&auth_mu);
}

/* Fills p from the cache or a verification; *fresh says whether the
 * revocation list answered "not revoked" recently enough. */
static grpc_status_code verify_signed(const char *token, const uint8_t d[SHA256_DIGEST_LENGTH],
                                      rpc_principal *p, bool *fresh, char *err, size_t errlen)
{
    pthread_mutex_lock(&auth_mu);
    auth_entry *e = cache_find(d);
    bool hit = e != NULL;
    if (hit) {
        *p = e->p;
        *fresh = e->not_revoked_at_us != 0 &&
                 mono_us() - e->not_revoked_at_us < revocation_cache_us;
    }
    pthread_mutex_unlock(&auth_mu);
    if (hit)
        return p->expires_us > now_us() ? GRPC_STATUS_OK : reject(err, errlen, "token expired");
    *fresh = false;
    bool is_service = false;
    atomic_fetch_add(&signatures_checked, 1);
    json_t *cl = verified_claims(token, &is_service);
    if (cl == NULL)
        return reject(err, errlen, "token malformed, signature invalid or issuer unknown");
    grpc_status_code st = read_claims(cl, is_service, p, err, errlen);
    json_decref(cl);
    if (st == GRPC_STATUS_OK) {
        pthread_mutex_lock(&auth_mu);
        if ((e = cache_find(d)) == NULL) /* another thread may have added it */
            e = cache_victim(d);
        memcpy(e->digest, d, SHA256_DIGEST_LENGTH);
        e->p = *p;
        e->p.token = NULL;
        e->not_revoked_at_us = 0;
        e->used_at_us = mono_us();
        e->used = true;
        pthread_mutex_unlock(&auth_mu);
    }
    return st;
}

unsigned rpc__auth_peek(const char *token, bool *fresh)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)token, strlen(token), d);
    pthread_mutex_lock(&auth_mu);
    auth_entry *e = cache_find(d);
    unsigned role = e != NULL && e->p.expires_us > now_us() ? e->p.role : 0;
    *fresh = role != 0 && e->not_revoked_at_us != 0 &&
             mono_us() - e->not_revoked_at_us < revocation_cache_us;
    pthread_mutex_unlock(&auth_mu);
    return role;
}

/* Records that the revocation list does not hold the token now. */
static void mark_not_revoked(const uint8_t d[SHA256_DIGEST_LENGTH])
{
    pthread_mutex_lock(&auth_mu);
    auth_entry *e = cache_find(d);
    if (e != NULL)
        e->not_revoked_at_us = mono_us();
    pthread_mutex_unlock(&auth_mu);
}

grpc_status_code rpc_auth_verify(const char *token, rpc_principal *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)token, strlen(token), d);
    bool fresh = false;
    grpc_status_code st = verify_signed(token, d, p, &fresh, err, errlen);
    if (st != GRPC_STATUS_OK)
        return st;
    if (!fresh) {
        int revoked = rds_is_revoked(p->jti);
        if (revoked < 0) {
            snprintf(err, errlen, "token revocation list unreachable; try again");
            return GRPC_STATUS_UNAVAILABLE;
        }
        if (revoked)
            return reject(err, errlen, "token revoked");
        if (revocation_cache_us > 0)
            mark_not_revoked(d);
    }
    p->token = token;
    return GRPC_STATUS_OK;
}

char *rpc_service_token(void)
{
    pthread_mutex_lock(&mint_mu);
    if (service_priv != NULL && (minted == NULL || minted_exp_us - now_us() < 60000000LL)) {
        char jti[33];
        request_id_new(jti);
        int64_t now_s = now_us() / 1000000;
        json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", "gavel-service", "sub",
                               service_name, "role", "service", "jti", jti, "iat",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + SERVICE_TOKEN_TTL_S));
        char *tok = cl != NULL ? rpc_jwt_sign(service_priv, cl) : NULL;
        json_decref(cl);
        if (tok != NULL) {
            free(minted);
            minted = tok;
            minted_exp_us = (now_s + SERVICE_TOKEN_TTL_S) * 1000000LL;
        }
    }
    char *out = minted != NULL ? xstrdup(minted) : NULL;
    pthread_mutex_unlock(&mint_mu);
    return out;
}
