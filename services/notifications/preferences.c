/*
 * GetPreferences and SetPreferences. Per kind a user may choose channels
 * (none: inbox only); a kind never chosen takes the platform default
 * (kinds.c), and GetPreferences shows every kind with the channels that
 * apply to it, so what a client reads is what happens. SetPreferences
 * changes only the fields its update_mask names, replacing repeated and
 * message fields whole, in one transaction. Quiet hours are checked and
 * stored; holding messages back during them comes later. The language
 * ("", "en" or "ru") picks the texts of email, push and Telegram.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "notif.h"

typedef Gavel__Notifications__V1__Preferences prefs;

enum { M_KINDS = 1, M_QUIET = 2, M_EMAIL = 4, M_TELEGRAM = 8, M_PUSH = 16, M_LANG = 32 };

static const struct {
    const char *name;
    unsigned bit;
} mask_names[] = {
    { "kinds", M_KINDS }, { "quiet_hours", M_QUIET }, { "email", M_EMAIL },
    { "telegram_chat_id", M_TELEGRAM }, { "push_tokens", M_PUSH }, { "language", M_LANG },
};
enum { N_MASK_NAMES = sizeof mask_names / sizeof mask_names[0] };

static int parse_mask(rpc_call *c, size_t n, char *const *names, unsigned *mask)
{
    if (n == 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "update_mask must name the fields to change (kinds, quiet_hours, email, "
                        "telegram_chat_id, push_tokens, language)");
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < N_MASK_NAMES && strcmp(mask_names[k].name, names[i]) != 0)
            k++;
        if (k == N_MASK_NAMES)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "update_mask[%zu] \"%.64s\" is not one of kinds, quiet_hours, "
                            "email, telegram_chat_id, push_tokens, language", i, names[i]);
        *mask |= mask_names[k].bit;
    }
    return GRPC_STATUS_OK;
}

static int check_kind_prefs(rpc_call *c, const prefs *p)
{
    bool seen[NOTIF_KIND_MAX + 1] = { false };
    for (size_t i = 0; i < p->n_kinds; i++) {
        const Gavel__Notifications__V1__KindPreference *k = p->kinds[i];
        if (!notif_kind_ok(k->kind))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.kinds[%zu].kind must be an EventKind other than "
                            "UNSPECIFIED", i);
        if (seen[k->kind])
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.kinds[%zu].kind %s is listed twice", i,
                            notif_kind_name(k->kind));
        seen[k->kind] = true;
        if (k->n_channels > NOTIF_CH_MAX)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.kinds[%zu].channels holds at most %d channels", i,
                            NOTIF_CH_MAX);
        for (size_t j = 0; j < k->n_channels; j++)
            if (!notif_channel_ok(k->channels[j]))
                return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                                "preferences.kinds[%zu].channels[%zu] must be a Channel other "
                                "than UNSPECIFIED", i, j);
    }
    return GRPC_STATUS_OK;
}

/* An IANA name this machine's time zone database knows. */
static bool zone_known(const char *tz)
{
    size_t n = strlen(tz);
    if (n == 0)
        return true;
    if (n > 64 || strstr(tz, "..") != NULL || tz[0] == '/' ||
        strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != n)
        return false;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

static int check_quiet(rpc_call *c, const Gavel__Notifications__V1__QuietHours *q)
{
    if (q == NULL)
        return GRPC_STATUS_OK;
    if (q->start_minute < 0 || q->start_minute > 1439 || q->end_minute < 0 ||
        q->end_minute > 1439)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "preferences.quiet_hours minutes must be 0 to 1439");
    if (!zone_known(q->time_zone))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "preferences.quiet_hours.time_zone \"%.64s\" is not a known IANA time "
                        "zone", q->time_zone);
    for (size_t i = 0; i < q->n_urgent_kinds; i++)
        if (!notif_kind_ok(q->urgent_kinds[i]))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.quiet_hours.urgent_kinds[%zu] must be an EventKind "
                            "other than UNSPECIFIED", i);
    return GRPC_STATUS_OK;
}

static int check_email_addr(rpc_call *c, const char *e)
{
    size_t n = strlen(e);
    if (n == 0)
        return GRPC_STATUS_OK;
    const char *at = strchr(e, '@');
    if (n > 254 || at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
        strchr(at + 1, '.') == NULL || strpbrk(e, " \t\r\n<>\",;()[]\\") != NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "preferences.email must be an address like name@example.com");
    return GRPC_STATUS_OK;
}

static int check_fields(rpc_call *c, const prefs *p, unsigned mask)
{
    int rc = GRPC_STATUS_OK;
    if ((mask & M_KINDS) && (rc = check_kind_prefs(c, p)) != 0)
        return rc;
    if ((mask & M_QUIET) && (rc = check_quiet(c, p->quiet_hours)) != 0)
        return rc;
    if ((mask & M_EMAIL) && (rc = check_email_addr(c, p->email)) != 0)
        return rc;
    if (mask & M_TELEGRAM) {
        size_t n = strlen(p->telegram_chat_id);
        if (n > 64 || strspn(p->telegram_chat_id, "-0123456789") != n)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.telegram_chat_id must be a Telegram chat id (digits, "
                            "at most 64)");
    }
    if (mask & M_PUSH) {
        if (p->n_push_tokens > 10)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "preferences.push_tokens holds at most 10 tokens");
        for (size_t i = 0; i < p->n_push_tokens; i++)
            if (p->push_tokens[i][0] == '\0' || strlen(p->push_tokens[i]) > 4096)
                return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                                "preferences.push_tokens[%zu] must be 1 to 4096 bytes", i);
    }
    if ((mask & M_LANG) && notif_lang_parse(p->language) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "preferences.language \"%.16s\" must be \"en\", \"ru\" or \"\" (English)",
                        p->language);
    return rc;
}

/* ---- the write: one transaction ---- */

typedef struct {
    int64_t user;
    unsigned mask;
    const prefs *p;
} set_ctx;

static const char *smallints(db_array *a, size_t n, const int *v)
{
    for (size_t i = 0; i < n; i++)
        db_array_i64(a, v[i]);
    return db_array_str(a);
}

static int set_tx(db_conn *conn, void *arg)
{
    const set_ctx *x = arg;
    const prefs *p = x->p;
    const Gavel__Notifications__V1__QuietHours *q = p->quiet_hours;
    static const Gavel__Notifications__V1__QuietHours no_quiet =
        GAVEL__NOTIFICATIONS__V1__QUIET_HOURS__INIT;
    if (q == NULL)
        q = &no_quiet;
    char uid[24], qs[24], qe[24], at[24];
    db_array push, urgent;
    db_array_init(&push);
    db_array_init(&urgent);
    for (size_t i = 0; i < p->n_push_tokens; i++)
        db_array_text(&push, p->push_tokens[i]);
    bool quiet = x->mask & M_QUIET;
    const char *v[] = {
        db_i64(uid, x->user), (x->mask & M_EMAIL) ? p->email : NULL,
        (x->mask & M_TELEGRAM) ? p->telegram_chat_id : NULL,
        (x->mask & M_PUSH) ? db_array_str(&push) : NULL,
        quiet ? db_i64(qs, q->start_minute) : NULL, quiet ? db_i64(qe, q->end_minute) : NULL,
        quiet ? q->time_zone : NULL,
        quiet ? smallints(&urgent, q->n_urgent_kinds, (const int *)q->urgent_kinds) : NULL,
        db_i64(at, now_us()), (x->mask & M_LANG) ? p->language : NULL,
    };
    int rc = 0;
    PGresult *r = db_exec(conn, "prefs_upsert", 10, v, &rc);
    db_array_free(&push);
    db_array_free(&urgent);
    if (r == NULL)
        return rc;
    PQclear(r);
    if (!(x->mask & M_KINDS))
        return 0;
    const char *u[] = { uid };
    if ((r = db_exec(conn, "prefs_kinds_clear", 1, u, &rc)) == NULL)
        return rc;
    PQclear(r);
    if (p->n_kinds == 0)
        return 0;
    db_array kinds, chans;
    db_array_init(&kinds);
    db_array_init(&chans);
    for (size_t i = 0; i < p->n_kinds; i++) {
        db_array one;
        db_array_init(&one);
        db_array_i64(&kinds, p->kinds[i]->kind);
        db_array_text(&chans, smallints(&one, p->kinds[i]->n_channels,
                                        (const int *)p->kinds[i]->channels));
        db_array_free(&one);
    }
    const char *k[] = { uid, db_array_str(&kinds), db_array_str(&chans) };
    r = db_exec(conn, "prefs_kinds_set", 3, k, &rc);
    db_array_free(&kinds);
    db_array_free(&chans);
    if (r == NULL)
        return rc;
    PQclear(r);
    return 0;
}

/* ---- the read ---- */

static int *ints_from_json(rpc_call *c, json_t *a, size_t *n)
{
    *n = json_array_size(a);
    int *v = rpc_alloc(c, sizeof *v * (*n > 0 ? *n : 1));
    for (size_t i = 0; i < *n; i++)
        v[i] = (int)json_integer_value(json_array_get(a, i));
    return v;
}

/* Every kind with the channels that apply: the user's choice or the
 * default. */
static void fill_kinds(rpc_call *c, prefs *p, const char *chosen_json)
{
    json_t *chosen = json_loads(chosen_json, 0, NULL);
    p->kinds = rpc_alloc(c, sizeof *p->kinds * NOTIF_KIND_MAX);
    for (int k = 1; k <= NOTIF_KIND_MAX; k++) {
        Gavel__Notifications__V1__KindPreference *kp =
            (void *)rpc_new(c, &gavel__notifications__v1__kind_preference__descriptor);
        kp->kind = (Gavel__Notifications__V1__EventKind)k;
        json_t *channels = NULL;
        for (size_t i = 0; i < json_array_size(chosen); i++) {
            json_t *row = json_array_get(chosen, i);
            if (json_integer_value(json_array_get(row, 0)) == k)
                channels = json_array_get(row, 1);
        }
        json_t *def = NULL;
        if (channels == NULL) {
            /* "{1,3}" → [1,3] */
            char *t = arena_strdup(rpc_arena(c), notif_default_channels(k));
            t[0] = '[';
            t[strlen(t) - 1] = ']';
            channels = def = json_loads(t, 0, NULL);
        }
        size_t n = 0;
        kp->channels = (Gavel__Notifications__V1__Channel *)ints_from_json(c, channels, &n);
        kp->n_channels = n;
        json_decref(def);
        p->kinds[p->n_kinds++] = kp;
    }
    json_decref(chosen);
}

static int load(rpc_call *c, int64_t user, prefs **out)
{
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24];
    const char *v[] = { db_i64(uid, user) };
    int rc = 0;
    PGresult *r = db_exec(conn, "prefs_get", 1, v, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    prefs *p = (void *)rpc_new(c, &gavel__notifications__v1__preferences__descriptor);
    p->user_id = user;
    p->email = rpc_strdup(c, db_get_str(r, 0, 0));
    p->telegram_chat_id = rpc_strdup(c, db_get_str(r, 0, 1));
    json_t *push = json_loads(db_get_str(r, 0, 2), 0, NULL);
    p->n_push_tokens = json_array_size(push);
    p->push_tokens = rpc_alloc(c, sizeof *p->push_tokens * (p->n_push_tokens + 1));
    for (size_t i = 0; i < p->n_push_tokens; i++)
        p->push_tokens[i] = rpc_strdup(c, json_string_value(json_array_get(push, i)));
    json_decref(push);
    int64_t qs = db_get_i64(r, 0, 3), qe = db_get_i64(r, 0, 4);
    if (qs != qe) {
        Gavel__Notifications__V1__QuietHours *q =
            (void *)rpc_new(c, &gavel__notifications__v1__quiet_hours__descriptor);
        q->start_minute = (int32_t)qs;
        q->end_minute = (int32_t)qe;
        q->time_zone = rpc_strdup(c, db_get_str(r, 0, 5));
        json_t *urgent = json_loads(db_get_str(r, 0, 6), 0, NULL);
        size_t n = 0;
        q->urgent_kinds = (Gavel__Notifications__V1__EventKind *)ints_from_json(c, urgent, &n);
        q->n_urgent_kinds = n;
        json_decref(urgent);
        p->quiet_hours = q;
    }
    p->updated_at_us = db_get_i64(r, 0, 7);
    fill_kinds(c, p, db_get_str(r, 0, 8));
    p->language = rpc_strdup(c, db_get_str(r, 0, 9));
    PQclear(r);
    *out = p;
    return GRPC_STATUS_OK;
}

int notif_get_preferences(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__GetPreferencesRequest *req = (const void *)in;
    int64_t user = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "notifications", &user);
    if (rc != 0)
        return rc;
    Gavel__Notifications__V1__GetPreferencesResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__get_preferences_response__descriptor);
    if ((rc = load(c, user, &resp->preferences)) != 0)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int notif_set_preferences(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__SetPreferencesRequest *req = (const void *)in;
    int64_t user = 0;
    unsigned mask = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_ADMIN, "notifications", &user);
    if (rc != 0 || (rc = parse_mask(c, req->n_update_mask, req->update_mask, &mask)) != 0)
        return rc;
    if (req->preferences == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "preferences is required");
    if ((rc = check_fields(c, req->preferences, mask)) != 0)
        return rc;
    set_ctx x = { .user = user, .mask = mask, .p = req->preferences };
    if ((rc = db_tx(notif.db, DB_READ_COMMITTED, set_tx, &x)) < 0)
        return check_fail_db(c, rc);
    Gavel__Notifications__V1__SetPreferencesResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__set_preferences_response__descriptor);
    if ((rc = load(c, user, &resp->preferences)) != 0)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
