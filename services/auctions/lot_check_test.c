/*
 * Field checks of a lot (lot_check.c), table-driven: one complete lot,
 * one change per row, and the field the refusal must name. Also the
 * completeness rule of SubmitLot and VIN normalisation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auctions.h"

static Gavel__Common__V1__Money money(const char *cur, int64_t units)
{
    Gavel__Common__V1__Money m = GAVEL__COMMON__V1__MONEY__INIT;
    m.currency = (char *)cur;
    m.units = units;
    return m;
}

/* Everything a lot's tests share: storage for its parts. */
typedef struct {
    Gavel__Auctions__V1__Lot lot;
    Gavel__Common__V1__Money start, reserve, buy_now, band_from[2], band_step[2];
    Gavel__Auctions__V1__IncrementBand band[2];
    Gavel__Auctions__V1__IncrementBand *bands[2];
    char vin[32];
    char *photos[1];
    Gavel__Auctions__V1__ConditionReport report;
    Gavel__Auctions__V1__DamagePoint damage;
    Gavel__Auctions__V1__DamagePoint *damages[1];
} lot_fixture;

static void complete(lot_fixture *f)
{
    memset(f, 0, sizeof *f);
    gavel__auctions__v1__lot__init(&f->lot);
    f->lot.title = (char *)"Toyota Camry";
    f->lot.make = (char *)"Toyota";
    f->lot.model = (char *)"Camry";
    f->lot.year = 2019;
    f->lot.category_id = 3;
    snprintf(f->vin, sizeof f->vin, "%s", "jtnb11hk0k3012345");
    f->lot.vin = f->vin;
    f->photos[0] = (char *)"https://img.gavel.test/1.jpg";
    f->lot.photo_urls = f->photos;
    f->lot.n_photo_urls = 1;
    f->start = money("RUB", 100000);
    f->lot.start_price = &f->start;
    for (int i = 0; i < 2; i++) {
        gavel__auctions__v1__increment_band__init(&f->band[i]);
        f->band_from[i] = money("", i == 0 ? 0 : 500000);
        f->band_step[i] = money("", i == 0 ? 1000 : 5000);
        f->band[i].from_amount = &f->band_from[i];
        f->band[i].increment = &f->band_step[i];
        f->bands[i] = &f->band[i];
    }
    f->lot.increments = f->bands;
    f->lot.n_increments = 2;
    gavel__auctions__v1__condition_report__init(&f->report);
    gavel__auctions__v1__damage_point__init(&f->damage);
    f->damage.location = (char *)"front_bumper";
    f->damage.kind = GAVEL__AUCTIONS__V1__DAMAGE_KIND__DAMAGE_KIND_SCRATCH;
    f->damage.severity = GAVEL__AUCTIONS__V1__DAMAGE_SEVERITY__DAMAGE_SEVERITY_MINOR;
    f->damages[0] = &f->damage;
    f->report.damages = f->damages;
    f->report.n_damages = 1;
    f->lot.condition = &f->report;
}

static int setup(void **state)
{
    (void)state;
    auctions.currency = "RUB";
    auctions.currencies = "RUB,EUR,USD";
    return 0;
}

typedef struct {
    const char *name;
    void (*change)(lot_fixture *f);
    const char *field; /* NULL: accepted */
} check_case;

static void nothing(lot_fixture *f) { (void)f; }
static void vin_with_o(lot_fixture *f) { f->vin[16] = 'O'; }
static void vin_short(lot_fixture *f) { f->vin[5] = '\0'; }
static void year_old(lot_fixture *f) { f->lot.year = 1899; }
static void mileage_negative(lot_fixture *f) { f->lot.mileage_km = -1; }
static void title_control(lot_fixture *f) { f->lot.title = (char *)"two\nlines"; }
static void photo_http(lot_fixture *f) { f->photos[0] = (char *)"http://img.test/a.jpg"; }
static void photo_space(lot_fixture *f) { f->photos[0] = (char *)"https://img.test/a b.jpg"; }
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static void photo_media_jpg(lot_fixture *f) { f->photos[0] = (char *)"/media/" HEX64 ".jpg"; }
static void photo_media_webp(lot_fixture *f) { f->photos[0] = (char *)"/media/" HEX64 ".webp"; }
static void photo_media_upper(lot_fixture *f)
{
    f->photos[0] = (char *)"/media/0123456789ABCDEF0123456789abcdef"
                           "0123456789abcdef0123456789abcdef.jpg";
}
static void photo_media_short(lot_fixture *f) { f->photos[0] = (char *)"/media/abc.jpg"; }
static void photo_media_gif(lot_fixture *f) { f->photos[0] = (char *)"/media/" HEX64 ".gif"; }
static void photo_media_traversal(lot_fixture *f)
{
    f->photos[0] = (char *)"/media/../" HEX64 ".jpg";
}
static void photo_media_suffix(lot_fixture *f) { f->photos[0] = (char *)"/media/" HEX64 ".jpg?x"; }
static void photo_relative(lot_fixture *f) { f->photos[0] = (char *)"/img/a.jpg"; }
static void damage_photo_media(lot_fixture *f)
{
    f->damage.photo_url = (char *)"/media/" HEX64 ".png";
}
static void damage_photo_relative(lot_fixture *f) { f->damage.photo_url = (char *)"media/a.png"; }
static void start_zero(lot_fixture *f) { f->start.units = 0; }
static void start_huge(lot_fixture *f) { f->start.units = CHECK_MONEY_MAX + 1; }
static void currency_mix(lot_fixture *f)
{
    f->reserve = money("EUR", 200000);
    f->lot.reserve_price = &f->reserve;
}
static void currency_unknown(lot_fixture *f) { f->start.currency = (char *)"GBP"; }
static void reserve_below_start(lot_fixture *f)
{
    f->reserve = money("RUB", 1);
    f->lot.reserve_price = &f->reserve;
}
static void buy_now_at_start(lot_fixture *f)
{
    f->buy_now = money("RUB", 100000);
    f->lot.buy_now_price = &f->buy_now;
}
static void buy_now_below_reserve(lot_fixture *f)
{
    f->reserve = money("RUB", 300000);
    f->lot.reserve_price = &f->reserve;
    f->buy_now = money("RUB", 200000);
    f->lot.buy_now_price = &f->buy_now;
}
static void band_not_from_zero(lot_fixture *f) { f->band_from[0].units = 10; }
static void bands_unsorted(lot_fixture *f) { f->band_from[1].units = 0; }
static void band_step_zero(lot_fixture *f) { f->band_step[1].units = 0; }
static void band_missing_part(lot_fixture *f) { f->band[1].increment = NULL; }
static void damage_no_severity(lot_fixture *f) { f->damage.severity = 0; }
static void damage_bad_location(lot_fixture *f) { f->damage.location = (char *)"Front Bumper"; }
static void soft_close_long(lot_fixture *f) { f->lot.soft_close_window_seconds = 3601; }
static void extensions_many(lot_fixture *f) { f->lot.max_extensions = 1001; }

static const check_case cases[] = {
    { .name = "complete lot", .change = nothing, .field = NULL },
    { .name = "VIN with O", .change = vin_with_o, .field = "lot.vin" },
    { .name = "VIN too short", .change = vin_short, .field = "lot.vin" },
    { .name = "year before 1900", .change = year_old, .field = "lot.year" },
    { .name = "negative mileage", .change = mileage_negative, .field = "lot.mileage_km" },
    { .name = "newline in title", .change = title_control, .field = "lot.title" },
    { .name = "photo over http", .change = photo_http, .field = "lot.photo_urls" },
    { .name = "photo with a space", .change = photo_space, .field = "lot.photo_urls" },
    { .name = "uploaded JPEG path", .change = photo_media_jpg, .field = NULL },
    { .name = "uploaded WebP path", .change = photo_media_webp, .field = NULL },
    { .name = "media path in upper-case hex", .change = photo_media_upper,
      .field = "lot.photo_urls" },
    { .name = "media path without a full hash", .change = photo_media_short,
      .field = "lot.photo_urls" },
    { .name = "media path of a GIF", .change = photo_media_gif, .field = "lot.photo_urls" },
    { .name = "media path climbing up", .change = photo_media_traversal,
      .field = "lot.photo_urls" },
    { .name = "media path with a query", .change = photo_media_suffix,
      .field = "lot.photo_urls" },
    { .name = "other relative photo", .change = photo_relative, .field = "lot.photo_urls" },
    { .name = "damage close-up uploaded", .change = damage_photo_media, .field = NULL },
    { .name = "damage close-up relative", .change = damage_photo_relative,
      .field = "lot.condition.damages.photo_url" },
    { .name = "start price 0", .change = start_zero, .field = "lot.start_price" },
    { .name = "start price over 10^15", .change = start_huge, .field = "lot.start_price" },
    { .name = "two currencies", .change = currency_mix, .field = "lot.reserve_price.currency" },
    { .name = "unknown currency", .change = currency_unknown, .field = "lot.start_price.currency" },
    { .name = "reserve below start", .change = reserve_below_start, .field = "lot.reserve_price" },
    { .name = "buy-now at start", .change = buy_now_at_start, .field = "lot.buy_now_price" },
    { .name = "buy-now below reserve", .change = buy_now_below_reserve,
      .field = "lot.buy_now_price" },
    { .name = "first band not from 0", .change = band_not_from_zero, .field = "lot.increments" },
    { .name = "bands unsorted", .change = bands_unsorted, .field = "lot.increments[1]" },
    { .name = "band step 0", .change = band_step_zero, .field = "lot.increments.increment" },
    { .name = "band without increment", .change = band_missing_part,
      .field = "lot.increments[1]" },
    { .name = "damage without severity", .change = damage_no_severity,
      .field = "lot.condition.damages[0].severity" },
    { .name = "damage location not a code", .change = damage_bad_location,
      .field = "lot.condition.damages[0].location" },
    { .name = "soft close over an hour", .change = soft_close_long,
      .field = "lot.soft_close_window_seconds" },
    { .name = "too many extensions", .change = extensions_many, .field = "lot.max_extensions" },
};

static void each_bad_field_is_refused_by_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lot_fixture f;
        complete(&f);
        cases[i].change(&f);
        rpc_call *c = rpc_call_new_detached(NULL);
        const char *cur = NULL;
        int rc = lot_check_fields(c, &f.lot, &cur);
        if (cases[i].field == NULL) {
            assert_int_equal(rc, GRPC_STATUS_OK);
            assert_string_equal(cur, "RUB");
        } else {
            if (rc != GRPC_STATUS_INVALID_ARGUMENT || !strstr(rpc_call_message(c), cases[i].field))
                fail_msg("%s: got %d \"%s\", want INVALID_ARGUMENT naming %s", cases[i].name, rc,
                         rpc_call_message(c), cases[i].field);
        }
        rpc_call_free_detached(c);
    }
}

static void vin_is_upper_cased_and_band_currencies_filled(void **state)
{
    (void)state;
    lot_fixture f;
    complete(&f);
    f.start.currency = (char *)"EUR";
    rpc_call *c = rpc_call_new_detached(NULL);
    const char *cur = NULL;
    assert_int_equal(lot_check_fields(c, &f.lot, &cur), GRPC_STATUS_OK);
    assert_string_equal(f.vin, "JTNB11HK0K3012345");
    assert_string_equal(cur, "EUR");
    assert_string_equal(f.band_from[0].currency, "EUR");
    assert_string_equal(f.band_step[1].currency, "EUR");
    rpc_call_free_detached(c);
}

static void submit_needs_the_fields_buyers_rely_on(void **state)
{
    (void)state;
    static const char *const needed[] = { "title", "make", "model", "year", "category_id",
                                          "start_price" };
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        lot_fixture f;
        complete(&f);
        switch (i) {
        case 0: f.lot.title = (char *)""; break;
        case 1: f.lot.make = (char *)""; break;
        case 2: f.lot.model = (char *)""; break;
        case 3: f.lot.year = 0; break;
        case 4: f.lot.category_id = 0; break;
        default: f.lot.start_price = NULL; break;
        }
        rpc_call *c = rpc_call_new_detached(NULL);
        assert_int_equal(lot_check_complete(c, &f.lot), GRPC_STATUS_FAILED_PRECONDITION);
        assert_non_null(strstr(rpc_call_message(c), needed[i]));
        rpc_call_free_detached(c);
    }
    lot_fixture f;
    complete(&f);
    rpc_call *c = rpc_call_new_detached(NULL);
    assert_int_equal(lot_check_complete(c, &f.lot), GRPC_STATUS_OK);
    rpc_call_free_detached(c);
}

static void default_bands_start_at_zero_and_rise(void **state)
{
    (void)state;
    const int64_t *from, *step;
    size_t n = lot_default_bands(&from, &step);
    assert_true(n >= 1);
    assert_int_equal(from[0], 0);
    for (size_t i = 1; i < n; i++) {
        assert_true(from[i] > from[i - 1]);
        assert_true(step[i] >= step[i - 1]);
    }
}

static void states_round_trip(void **state)
{
    (void)state;
    for (int s = GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_DRAFT;
         s <= GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CANCELLED; s++)
        assert_int_equal(lot_state_parse(lot_state_text((Gavel__Auctions__V1__LotState)s)), s);
    assert_null(lot_state_text(GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_UNSPECIFIED));
    assert_int_equal(lot_state_parse("sold"), GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_UNSPECIFIED);
    assert_string_equal(lot_state_upper(GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_IN_REVIEW),
                        "IN_REVIEW");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_bad_field_is_refused_by_name),
        cmocka_unit_test(vin_is_upper_cased_and_band_currencies_filled),
        cmocka_unit_test(submit_needs_the_fields_buyers_rely_on),
        cmocka_unit_test(default_bands_start_at_zero_and_rise),
        cmocka_unit_test(states_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
