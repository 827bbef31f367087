/*
 * RegisterWebhook, ListWebhooks, DeleteWebhook, and the rules for where a
 * webhook may point. A webhook belongs to one user (the owner; an admin
 * may act for anyone): its url is https to a public host (no credentials,
 * no fragment, a name with a dot or a public address literal), checked
 * again at connect time by send_http.c against the resolved address, so a
 * name that resolves to a private address is refused too. With
 * GAVEL_WEBHOOK_ALLOW_LOOPBACK (dev and tests) http:// and loopback hosts
 * are allowed as well. The secret is the partner's (32..256 bytes), sealed
 * at rest (webhook_secret.c) and never returned; a user holds at most
 * GAVEL_WEBHOOK_MAX_PER_USER webhooks. Registering a url again replaces its
 * secret, kinds and description and turns it back on.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "notif.h"

enum { URL_MAX = 2048, SECRET_MIN = 32, SECRET_MAX = 256, DESCRIPTION_MAX = 200 };

static bool v4_allowed(uint32_t a) /* host order */
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 127)
        return notif.webhook_allow_loopback;
    return !(b0 == 0 || b0 == 10 || (b0 == 100 && (b1 & 0xc0) == 64) ||
             (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
             (b0 == 192 && b1 == 168) || (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0) ||
             (b0 == 198 && (b1 & 0xfe) == 18) || b0 >= 224);
}

bool notif_addr_allowed(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_allowed(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    const uint8_t *b = a->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a))
        return v4_allowed((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                          (uint32_t)b[14] << 8 | b[15]);
    if (IN6_IS_ADDR_LOOPBACK(a))
        return notif.webhook_allow_loopback;
    return !(IN6_IS_ADDR_UNSPECIFIED(a) || (b[0] & 0xfe) == 0xfc ||
             (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff);
}

/* host as curl gives it ("[::1]" for IPv6). Loopback names count as
 * addresses. */
static bool host_allowed(const char *host, bool *loopback)
{
    char h[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof h)
        return false;
    if (host[0] == '[' && host[n - 1] == ']') {
        memcpy(h, host + 1, n - 2);
        h[n - 2] = '\0';
    } else {
        memcpy(h, host, n + 1);
    }
    struct sockaddr_in v4 = { .sin_family = AF_INET };
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
    if (inet_pton(AF_INET, h, &v4.sin_addr) == 1) {
        *loopback = (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
        return notif_addr_allowed((const struct sockaddr *)&v4);
    }
    if (inet_pton(AF_INET6, h, &v6.sin6_addr) == 1) {
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr);
        return notif_addr_allowed((const struct sockaddr *)&v6);
    }
    size_t hl = strlen(h);
    if (strcasecmp(h, "localhost") == 0 ||
        (hl > 10 && strcasecmp(h + hl - 10, ".localhost") == 0)) {
        *loopback = true;
        return notif.webhook_allow_loopback;
    }
    /* A public name has a dot and is not an internal-only suffix. */
    return strchr(h, '.') != NULL && (hl < 6 || strcasecmp(h + hl - 6, ".local") != 0) &&
           (hl < 9 || strcasecmp(h + hl - 9, ".internal") != 0);
}

static int check_url(rpc_call *c, const char *url)
{
    size_t n = strlen(url);
    if (n == 0 || n > URL_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "url must be 1 to %d bytes", URL_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "url must not hold spaces or control characters");
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *frag = NULL;
    const char *why = NULL;
    if (u == NULL)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        why = "url is not an absolute http(s) URL";
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        why = "url must not hold credentials";
    else if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
        why = "url must not hold a fragment";
    else {
        bool loopback = false, ok = host_allowed(host, &loopback);
        bool https = strcasecmp(scheme, "https") == 0;
        bool http_ok = strcasecmp(scheme, "http") == 0 && loopback &&
                       notif.webhook_allow_loopback;
        if (!https && !http_ok)
            why = "url must be https";
        else if (!ok)
            why = "url must name a public host (no loopback, private or link-local address)";
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(frag);
    curl_url_cleanup(u);
    return why != NULL ? rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why) : GRPC_STATUS_OK;
}

/* The last 4 characters (code points) of s, call-allocated. */
static char *hint_of(rpc_call *c, const char *s)
{
    size_t n = strlen(s), i = n;
    for (int chars = 0; i > 0 && chars < 4;) {
        i--;
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            chars++;
    }
    return rpc_strdup(c, s + i);
}

static Gavel__Notifications__V1__Webhook *from_row(rpc_call *c, const PGresult *r, int i)
{
    Gavel__Notifications__V1__Webhook *w =
        (void *)rpc_new(c, &gavel__notifications__v1__webhook__descriptor);
    w->id = db_get_i64(r, i, 0);
    w->user_id = db_get_i64(r, i, 1);
    w->url = rpc_strdup(c, db_get_str(r, i, 2));
    w->kinds = (void *)notif_kinds_read(c, db_get_str(r, i, 3), &w->n_kinds);
    w->description = rpc_strdup(c, db_get_str(r, i, 4));
    w->secret_hint = rpc_strdup(c, db_get_str(r, i, 5));
    w->is_active = db_get_bool(r, i, 6);
    w->created_at_us = db_get_i64(r, i, 7);
    return w;
}

static int not_configured(rpc_call *c)
{
    return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                    "webhooks are not configured on this server (GAVEL_WEBHOOK_KEY_FILE)");
}

/* The count check and the write in one transaction, serialised per user
 * (an advisory lock), so concurrent registrations cannot pass the limit.
 * The body returns 0 or DB_E_*; a refusal is x->status. */
typedef struct {
    rpc_call *c;
    int64_t user;
    const Gavel__Notifications__V1__RegisterWebhookRequest *req;
    const char *sealed, *hint;
    PGresult *row;
    int status;      /* a refusal recorded on the call (the body then commits nothing) */
} upsert_ctx;

static int upsert_tx(db_conn *conn, void *arg)
{
    upsert_ctx *x = arg;
    const Gavel__Notifications__V1__RegisterWebhookRequest *req = x->req;
    char uid[24], at[24];
    const char *cp[] = { db_i64(uid, x->user), req->url };
    int rc = 0;
    x->status = GRPC_STATUS_OK;
    PQclear(x->row);
    x->row = NULL;
    PGresult *r = db_exec(conn, "webhook_lock", 1, cp, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    if ((r = db_exec(conn, "webhook_count", 2, cp, &rc)) == NULL)
        return rc;
    bool full = db_get_i64(r, 0, 0) >= notif.webhook_max && !db_get_bool(r, 0, 1);
    PQclear(r);
    if (full) {
        x->status = rpc_fail(x->c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "a user holds at most %lld webhooks; delete one first",
                             (long long)notif.webhook_max);
        return 0;
    }
    db_array kinds;
    notif_kinds_array(&kinds, req->n_kinds, (const int *)req->kinds);
    const char *p[] = { uid, req->url, db_array_str(&kinds), req->description, x->sealed,
                        x->hint, db_i64(at, now_us()) };
    x->row = db_exec(conn, "webhook_upsert", 7, p, &rc);
    db_array_free(&kinds);
    return x->row == NULL ? rc : 0;
}

static int upsert(rpc_call *c, int64_t user,
                  const Gavel__Notifications__V1__RegisterWebhookRequest *req, PGresult **row)
{
    char *sealed = NULL;
    if (webhook_secret_seal(req->secret, strlen(req->secret), &sealed) != 0)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "the secret could not be sealed");
    upsert_ctx x = { .c = c, .user = user, .req = req, .sealed = sealed,
                     .hint = hint_of(c, req->secret) };
    int rc = db_tx(notif.db, DB_READ_COMMITTED, upsert_tx, &x);
    free(sealed);
    if (rc != 0 || x.status != GRPC_STATUS_OK || x.row == NULL) {
        PQclear(x.row);
        return x.status != GRPC_STATUS_OK ? x.status : check_fail_db(c, rc < 0 ? rc : DB_E_SQL);
    }
    *row = x.row;
    return GRPC_STATUS_OK;
}

int notif_register_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__RegisterWebhookRequest *req = (const void *)in;
    int64_t user = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_ADMIN, "webhooks", &user);
    if (rc != 0)
        return rc;
    size_t sl = strlen(req->secret);
    if ((rc = check_url(c, req->url)) != 0)
        return rc;
    if (sl < SECRET_MIN || sl > SECRET_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "secret must be %d to %d bytes",
                        SECRET_MIN, SECRET_MAX);
    if ((rc = notif_check_kinds(c, "kinds", req->n_kinds, (const int *)req->kinds)) != 0 ||
        (rc = check_prose(c, "description", req->description, 0, DESCRIPTION_MAX)) != 0)
        return rc;
    if (!webhook_secret_ready())
        return not_configured(c);
    PGresult *row = NULL;
    if ((rc = upsert(c, user, req, &row)) != 0)
        return rc;
    Gavel__Notifications__V1__RegisterWebhookResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__register_webhook_response__descriptor);
    resp->webhook = from_row(c, row, 0);
    PQclear(row);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int notif_list_webhooks(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__ListWebhooksRequest *req = (const void *)in;
    int64_t user = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_ADMIN, "webhooks", &user);
    if (rc != 0)
        return rc;
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24];
    const char *p[] = { db_i64(uid, user) };
    PGresult *r = db_exec(conn, "webhook_list", 1, p, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Notifications__V1__ListWebhooksResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__list_webhooks_response__descriptor);
    int n = PQntuples(r);
    resp->webhooks = rpc_alloc(c, sizeof *resp->webhooks * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->webhooks[resp->n_webhooks++] = from_row(c, r, i);
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int notif_delete_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__DeleteWebhookRequest *req = (const void *)in;
    if (req->webhook_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "webhook_id must be positive");
    int64_t owner = rpc_has_role(c, RPC_ROLE_ADMIN) ? 0 : rpc_caller(c)->user_id;
    if (!rpc_has_role(c, RPC_ROLE_ADMIN) && owner <= 0)
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "only a user or an admin may delete "
                                                          "webhooks");
    int rc = notif_delete_owned(c, "webhook_delete", req->webhook_id, owner, "webhook");
    if (rc != 0)
        return rc;
    *out = rpc_new(c, &gavel__notifications__v1__delete_webhook_response__descriptor);
    return GRPC_STATUS_OK;
}
