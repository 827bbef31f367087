/*
 * Field checks of a lot. A draft may be incomplete, but whatever it sets
 * must be valid; submitting needs the fields a buyer relies on. Every
 * message names the field and the rule, e.g. "lot.vin must be 17
 * characters of A-H, J-N, P, R-Z, 0-9".
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "auctions.h"

#define MAX_PHOTOS 50
#define MAX_URL 2048
#define MAX_BANDS 32
#define MAX_DAMAGES 200
#define MAX_TYRES 5
#define MAX_DOCUMENTS 20

lot_actor lot_actor_of(const rpc_call *c)
{
    const rpc_principal *p = rpc_caller(c);
    lot_actor a = { .id = p != NULL ? p->user_id : 0, .role = "service" };
    if (p != NULL && p->role != RPC_ROLE_SERVICE && rpc_role_name(p->role)[0] != '\0')
        a.role = rpc_role_name(p->role);
    return a;
}

static int bad(rpc_call *c, const char *fmt, const char *field)
{
    return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, fmt, field);
}

static int next_year(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900 + 1;
}

/* The gateway's own media path of an uploaded photo: exactly
 * "/media/" + 64 lower-case hex digits (its SHA-256) + ".jpg", ".png" or
 * ".webp". No other relative URL is a photo. */
static bool is_media_path(const char *url)
{
    static const char prefix[] = "/media/";
    if (strncmp(url, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = url + sizeof prefix - 1;
    for (int i = 0; i < 64; i++, p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return strcmp(p, ".jpg") == 0 || strcmp(p, ".png") == 0 || strcmp(p, ".webp") == 0;
}

static int check_url(rpc_call *c, const char *field, const char *url)
{
    if (is_media_path(url))
        return GRPC_STATUS_OK;
    size_t n = strnlen(url, MAX_URL + 1);
    if (n > MAX_URL || strncmp(url, "https://", 8) != 0 || n < 9)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s must be an https:// URL of at most %d bytes or an uploaded photo's "
                        "/media/<sha256>.<jpg|png|webp> path", field, MAX_URL);
    for (const char *p = url; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return bad(c, "%s must not contain spaces or control characters", field);
    return GRPC_STATUS_OK;
}

/* VIN: 17 of [A-HJ-NPR-Z0-9], upper-cased in place. */
static int check_vin(rpc_call *c, char *vin)
{
    if (vin[0] == '\0')
        return GRPC_STATUS_OK;
    size_t n = strnlen(vin, 18);
    bool ok = n == 17;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = (char)toupper((unsigned char)vin[i]);
        ok = (isdigit((unsigned char)ch) || (ch >= 'A' && ch <= 'Z')) && ch != 'I' &&
             ch != 'O' && ch != 'Q';
        vin[i] = ch;
    }
    return ok ? GRPC_STATUS_OK
              : bad(c, "%s must be 17 characters of A-H, J-N, P, R-Z and 0-9", "lot.vin");
}

/* One money field, optional (check_money): an empty currency is the
 * lot's (the first price seen sets it) or the platform's, and is written
 * into the field, since the lot is stored as checked; every price of a lot
 * shares its currency. */
static int check_price(rpc_call *c, const char *field, Gavel__Common__V1__Money *m,
                       const char **cur, int64_t min_units)
{
    if (m == NULL)
        return GRPC_STATUS_OK;
    const check_money_rule rule = { .min_units = min_units, .currencies = auctions.currencies,
                                    .default_currency = *cur != NULL ? *cur : auctions.currency };
    const char *currency = NULL;
    int rc = check_money(c, field, m, &rule, &currency);
    if (rc != GRPC_STATUS_OK)
        return rc;
    m->currency = (char *)currency;
    if (*cur != NULL && strcmp(*cur, m->currency) != 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s.currency %s differs from the lot's %s: all prices of a lot share "
                        "one currency", field, m->currency, *cur);
    *cur = m->currency;
    return GRPC_STATUS_OK;
}

static int check_prices(rpc_call *c, Gavel__Auctions__V1__Lot *l, const char **cur)
{
    int rc;
    if ((rc = check_price(c, "lot.start_price", l->start_price, cur, 1)) != 0 ||
        (rc = check_price(c, "lot.reserve_price", l->reserve_price, cur, 1)) != 0 ||
        (rc = check_price(c, "lot.buy_now_price", l->buy_now_price, cur, 1)) != 0)
        return rc;
    int64_t start = l->start_price != NULL ? l->start_price->units : 0;
    if (l->reserve_price != NULL && l->start_price != NULL && l->reserve_price->units < start)
        return bad(c, "%s must be at least the start price", "lot.reserve_price");
    if (l->buy_now_price != NULL) {
        if (l->start_price != NULL && l->buy_now_price->units <= start)
            return bad(c, "%s must be above the start price", "lot.buy_now_price");
        if (l->reserve_price != NULL && l->buy_now_price->units < l->reserve_price->units)
            return bad(c, "%s must be at least the reserve price", "lot.buy_now_price");
    }
    int64_t prev = -1;
    if (l->n_increments > MAX_BANDS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.increments: at most %d bands",
                        MAX_BANDS);
    for (size_t i = 0; i < l->n_increments; i++) {
        Gavel__Auctions__V1__IncrementBand *b = l->increments[i];
        if (b->from_amount == NULL || b->increment == NULL)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.increments[%zu] needs from_amount and increment", i);
        if ((rc = check_price(c, "lot.increments.from_amount", b->from_amount, cur, 0)) != 0 ||
            (rc = check_price(c, "lot.increments.increment", b->increment, cur, 1)) != 0)
            return rc;
        if (i == 0 && b->from_amount->units != 0)
            return bad(c, "%s: the first band must start at 0", "lot.increments");
        if (b->from_amount->units <= prev)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.increments[%zu]: bands must be sorted by from_amount, "
                            "strictly increasing", i);
        prev = b->from_amount->units;
    }
    return GRPC_STATUS_OK;
}

static int check_damage(rpc_call *c, size_t i, const Gavel__Auctions__V1__DamagePoint *d)
{
    size_t n = strnlen(d->location, 65);
    bool ok = n >= 1 && n <= 64;
    for (size_t k = 0; ok && k < n; k++)
        ok = islower((unsigned char)d->location[k]) || isdigit((unsigned char)d->location[k]) ||
             d->location[k] == '_';
    if (!ok)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "lot.condition.damages[%zu].location must be 1 to 64 of a-z, 0-9, _", i);
    if (d->kind <= 0 || d->kind > GAVEL__AUCTIONS__V1__DAMAGE_KIND__DAMAGE_KIND_OTHER)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "lot.condition.damages[%zu].kind is required", i);
    if (d->severity <= 0 ||
        d->severity > GAVEL__AUCTIONS__V1__DAMAGE_SEVERITY__DAMAGE_SEVERITY_SEVERE)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "lot.condition.damages[%zu].severity is required", i);
    int rc;
    if (d->photo_url[0] != '\0' &&
        (rc = check_url(c, "lot.condition.damages.photo_url", d->photo_url)) != 0)
        return rc;
    return check_prose(c, "lot.condition.damages.note", d->note, 0, 500);
}

static int check_tyres(rpc_call *c, const Gavel__Auctions__V1__ConditionReport *r, int max_year)
{
    unsigned seen = 0;
    if (r->n_tyres > MAX_TYRES)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.condition.tyres: at most %d",
                        MAX_TYRES);
    for (size_t i = 0; i < r->n_tyres; i++) {
        const Gavel__Auctions__V1__TyreReport *t = r->tyres[i];
        if (t->position <= 0 || t->position > GAVEL__AUCTIONS__V1__TYRE_POSITION__TYRE_POSITION_SPARE)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.tyres[%zu].position is required", i);
        if (seen & (1u << t->position))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.tyres[%zu]: one report per position", i);
        seen |= 1u << t->position;
        if (t->tread_depth_tenths_mm < 0 || t->tread_depth_tenths_mm > 300)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.tyres[%zu].tread_depth_tenths_mm must be 0..300", i);
        if (t->season < 0 || t->season > GAVEL__AUCTIONS__V1__TYRE_SEASON__TYRE_SEASON_ALL_SEASON)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.tyres[%zu].season is unknown", i);
        if (t->manufactured_year != 0 &&
            (t->manufactured_year < 1900 || t->manufactured_year > max_year))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.tyres[%zu].manufactured_year must be 0 or 1900..%d",
                            i, max_year);
        int rc = check_text(c, "lot.condition.tyres.brand", t->brand, 0, 64);
        if (rc != 0)
            return rc;
    }
    return GRPC_STATUS_OK;
}

static int check_documents(rpc_call *c, const Gavel__Auctions__V1__ConditionReport *r)
{
    unsigned seen = 0;
    if (r->n_documents > MAX_DOCUMENTS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.condition.documents: at most %d",
                        MAX_DOCUMENTS);
    for (size_t i = 0; i < r->n_documents; i++) {
        const Gavel__Auctions__V1__DocumentCheck *d = r->documents[i];
        if (d->kind <= 0 || d->kind > GAVEL__AUCTIONS__V1__DOCUMENT_KIND__DOCUMENT_KIND_OTHER)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.documents[%zu].kind is required", i);
        if (d->kind != GAVEL__AUCTIONS__V1__DOCUMENT_KIND__DOCUMENT_KIND_OTHER &&
            (seen & (1u << d->kind)))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.condition.documents[%zu]: one check per kind", i);
        seen |= 1u << d->kind;
        int rc = check_prose(c, "lot.condition.documents.note", d->note, 0, 500);
        if (rc != 0)
            return rc;
    }
    return GRPC_STATUS_OK;
}

static int check_condition(rpc_call *c, const Gavel__Auctions__V1__ConditionReport *r,
                           int max_year)
{
    if (r == NULL)
        return GRPC_STATUS_OK;
    int rc;
    if (r->n_damages > MAX_DAMAGES)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.condition.damages: at most %d",
                        MAX_DAMAGES);
    for (size_t i = 0; i < r->n_damages; i++)
        if ((rc = check_damage(c, i, r->damages[i])) != 0)
            return rc;
    if ((rc = check_tyres(c, r, max_year)) != 0 || (rc = check_documents(c, r)) != 0 ||
        (rc = check_prose(c, "lot.condition.inspection_notes", r->inspection_notes, 0, 10000)) !=
            0 ||
        (rc = check_text(c, "lot.condition.inspector_name", r->inspector_name, 0, 200)) != 0)
        return rc;
    if (r->inspector_id < 0)
        return bad(c, "%s must not be negative", "lot.condition.inspector_id");
    if (r->inspected_at_us < 0 || r->inspected_at_us > now_us() + 60000000LL)
        return bad(c, "%s must not be in the future", "lot.condition.inspected_at_us");
    return GRPC_STATUS_OK;
}

static int check_texts(rpc_call *c, Gavel__Auctions__V1__Lot *l)
{
    int rc;
    if ((rc = check_text(c, "lot.title", l->title, 0, 200)) != 0 ||
        (rc = check_prose(c, "lot.description", l->description, 0, 20000)) != 0 ||
        (rc = check_text(c, "lot.make", l->make, 0, 64)) != 0 ||
        (rc = check_text(c, "lot.model", l->model, 0, 64)) != 0 ||
        (rc = check_text(c, "lot.region", l->region, 0, 100)) != 0 ||
        (rc = check_vin(c, l->vin)) != 0)
        return rc;
    if (l->n_photo_urls > MAX_PHOTOS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.photo_urls: at most %d",
                        MAX_PHOTOS);
    for (size_t i = 0; i < l->n_photo_urls; i++)
        if ((rc = check_url(c, "lot.photo_urls", l->photo_urls[i])) != 0)
            return rc;
    return GRPC_STATUS_OK;
}

int lot_check_fields(rpc_call *c, Gavel__Auctions__V1__Lot *l, const char **currency)
{
    int max_year = next_year();
    int rc;
    if ((rc = check_texts(c, l)) != 0)
        return rc;
    if (l->year != 0 && (l->year < 1900 || l->year > max_year))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.year must be 1900..%d", max_year);
    if (l->mileage_km < 0 || l->mileage_km > 5000000)
        return bad(c, "%s must be 0..5000000", "lot.mileage_km");
    if (l->city_id < 0 || l->category_id < 0)
        return bad(c, "%s: ids must not be negative", "lot.city_id/category_id");
    if (l->soft_close_window_seconds < 0 || l->soft_close_window_seconds > 3600)
        return bad(c, "%s must be 0..3600", "lot.soft_close_window_seconds");
    if (l->max_extensions < 0 || l->max_extensions > 1000)
        return bad(c, "%s must be 0..1000", "lot.max_extensions");
    const char *cur = NULL;
    if ((rc = check_prices(c, l, &cur)) != 0 || (rc = check_condition(c, l->condition, max_year)))
        return rc;
    *currency = cur != NULL ? cur : auctions.currency;
    return GRPC_STATUS_OK;
}

int lot_check_complete(rpc_call *c, const Gavel__Auctions__V1__Lot *l)
{
    const char *missing = l->title[0] == '\0'       ? "title"
                          : l->make[0] == '\0'      ? "make"
                          : l->model[0] == '\0'     ? "model"
                          : l->year == 0            ? "year"
                          : l->category_id == 0     ? "category_id"
                          : l->start_price == NULL ? "start_price"
                                                    : NULL;
    if (missing != NULL)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "lot %lld cannot be submitted: %s is required", (long long)l->id,
                        missing);
    return GRPC_STATUS_OK;
}

/* The platform table (docs/auctions.md), in minor units: 100 below
 * 10,000; 500 below 100,000; 1,000 below 1,000,000; 5,000 above. */
static const int64_t default_from[] = { 0, 1000000, 10000000, 100000000 };
static const int64_t default_step[] = { 10000, 50000, 100000, 500000 };

size_t lot_default_bands(const int64_t **from, const int64_t **step)
{
    *from = default_from;
    *step = default_step;
    return sizeof default_from / sizeof default_from[0];
}
