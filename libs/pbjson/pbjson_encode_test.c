/*
 * Encoding, from messages built in C (so the decoder is not checking
 * itself): every scalar type at its edges, defaults omitted or emitted,
 * both name styles, enums known and unknown, oneof members at their
 * default, maps and their look-alike, a full gavel.auctions.v1.Lot, and
 * what encoding refuses (strings that are not UTF-8, nesting and counts
 * past the limits) with the place named. First, the hand-written test
 * descriptors are checked the way protobuf-c's own lookups use them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "gavel/notifications/v1/notifications.pb-c.h"
#include "pbjson_test_util.h"

#define LONG_JSON_NAME                                                                   \
    "theFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldField" \
    "FieldFieldFieldFieldFieldFieldFieldFieldFieldFieldNameX"

/* pbj_encode, dumped compactly; caller frees. Fails the test on error. */
static char *encoded(const void *msg, unsigned flags)
{
    char err[256];
    json_t *j = NULL;
    pbj_opts o = { .flags = flags };
    int rc = pbj_encode(msg, &o, &j, err, sizeof err);
    if (rc != 0)
        fail_msg("encode: %d %s", rc, err);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void assert_encodes(const void *msg, unsigned flags, const char *want)
{
    char *got = encoded(msg, flags);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

static void descriptors_are_sound(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pbjt_all / sizeof pbjt_all[0]; i++) {
        const ProtobufCMessageDescriptor *d = pbjt_all[i];
        assert_int_equal(d->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
        for (unsigned k = 0; k < d->n_fields; k++) {
            assert_int_equal(d->fields[k].id, k + 1);
            assert_ptr_equal(protobuf_c_message_descriptor_get_field(d, k + 1), &d->fields[k]);
            assert_ptr_equal(protobuf_c_message_descriptor_get_field_by_name(d, d->fields[k].name),
                             &d->fields[k]);
            if (k > 0)
                assert_true(strcmp(d->fields[d->fields_sorted_by_name[k - 1]].name,
                                   d->fields[d->fields_sorted_by_name[k]].name) < 0);
        }
    }
    assert_string_equal(protobuf_c_enum_descriptor_get_value(&pbjt_color_desc, 5)->name,
                        "COLOR_BLUE");
    assert_null(protobuf_c_enum_descriptor_get_value(&pbjt_color_desc, 2));
    assert_int_equal(
        protobuf_c_enum_descriptor_get_value_by_name(&pbjt_color_desc, "COLOR_RED")->value, 1);
    /* protobuf-c packs and unpacks them, so they can stand for generated ones */
    pbjt_scalars m;
    protobuf_c_message_init(&pbjt_scalars_desc, &m);
    m.i64 = -5;
    m.s = "x";
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(&m.base, buf);
    pbjt_scalars *back = (pbjt_scalars *)protobuf_c_message_unpack(&pbjt_scalars_desc, NULL, len,
                                                                    buf);
    assert_non_null(back);
    assert_int_equal(back->i64, -5);
    assert_string_equal(back->s, "x");
    protobuf_c_message_free_unpacked(&back->base, NULL);
}

static void scalars_encode_at_their_edges(void **state)
{
    (void)state;
    pbjt_scalars m;
    protobuf_c_message_init(&pbjt_scalars_desc, &m);
    m.i32 = INT32_MIN;
    m.i64 = INT64_MIN;
    m.u32 = UINT32_MAX;
    m.u64 = UINT64_MAX;
    m.s32 = INT32_MAX;
    m.s64 = INT64_MAX;
    m.f32 = UINT32_MAX;
    m.f64 = UINT64_MAX;
    m.sf32 = -1;
    m.sf64 = -1;
    m.fl = -0.0f;
    m.db = NAN;
    m.b = 1;
    m.s = "h\xc3\xa9llo \"x\"";
    m.by = (ProtobufCBinaryData){ 3, (uint8_t *)"\xfb\xff\xbf" };
    m.color = PBJT_COLOR_BLUE;
    assert_encodes(&m, 0,
                   "{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,"
                   "\"u64\":\"18446744073709551615\",\"s32\":2147483647,"
                   "\"s64\":\"9223372036854775807\",\"f32\":4294967295,"
                   "\"f64\":\"18446744073709551615\",\"sf32\":-1,\"sf64\":\"-1\",\"fl\":-0.0,"
                   "\"db\":\"NaN\",\"b\":true,\"s\":\"h\xc3\xa9llo \\\"x\\\"\",\"by\":\"+/+/\","
                   "\"color\":\"COLOR_BLUE\"}");

    pbjt_scalars z;
    protobuf_c_message_init(&pbjt_scalars_desc, &z);
    z.fl = -INFINITY;
    z.db = INFINITY;
    z.color = 7; /* a value this build does not know travels as its number */
    int64_t r_i64[] = { 0, -1, 1 };
    double r_db[] = { 1.5, -0.0, NAN };
    char *r_s[] = { "", "a" };
    ProtobufCBinaryData r_by[] = { { 0, NULL }, { 1, (uint8_t *)"f" }, { 2, (uint8_t *)"fo" } };
    pbjt_color r_color[] = { PBJT_COLOR_UNSPECIFIED, PBJT_COLOR_RED, 9 };
    int32_t r_i32[] = { 0, INT32_MIN };
    protobuf_c_boolean r_b[] = { 0, 1 };
    float r_fl[] = { 0.5f, INFINITY };
    z.n_r_i64 = 3, z.r_i64 = r_i64;
    z.n_r_db = 3, z.r_db = r_db;
    z.n_r_s = 2, z.r_s = r_s;
    z.n_r_by = 3, z.r_by = r_by;
    z.n_r_color = 3, z.r_color = r_color;
    z.n_r_i32 = 2, z.r_i32 = r_i32;
    z.n_r_b = 2, z.r_b = r_b;
    z.n_r_fl = 2, z.r_fl = r_fl;
    assert_encodes(&z, 0,
                   "{\"fl\":\"-Infinity\",\"db\":\"Infinity\",\"color\":7,"
                   "\"rI64\":[\"0\",\"-1\",\"1\"],\"rDb\":[1.5,-0.0,\"NaN\"],\"rS\":[\"\",\"a\"],"
                   "\"rBy\":[\"\",\"Zg==\",\"Zm8=\"],"
                   "\"rColor\":[\"COLOR_UNSPECIFIED\",\"COLOR_RED\",9],"
                   "\"rI32\":[0,-2147483648],\"rB\":[false,true],\"rFl\":[0.5,\"Infinity\"]}");
}

static void defaults_are_omitted_unless_asked(void **state)
{
    (void)state;
    pbjt_scalars m;
    protobuf_c_message_init(&pbjt_scalars_desc, &m);
    assert_encodes(&m, 0, "{}");
    assert_encodes(&m, PBJ_EMIT_DEFAULTS,
                   "{\"i32\":0,\"i64\":\"0\",\"u32\":0,\"u64\":\"0\",\"s32\":0,\"s64\":\"0\","
                   "\"f32\":0,\"f64\":\"0\",\"sf32\":0,\"sf64\":\"0\",\"fl\":0.0,\"db\":0.0,"
                   "\"b\":false,\"s\":\"\",\"by\":\"\",\"color\":\"COLOR_UNSPECIFIED\","
                   "\"rI64\":[],\"rDb\":[],\"rS\":[],\"rBy\":[],\"rColor\":[],\"rChild\":[],"
                   "\"rI32\":[],\"rB\":[],\"rFl\":[],\"" LONG_JSON_NAME "\":0}");
    /* explicit presence: written when set, even to its default, else never */
    m.has_opt_i32 = 1;
    m.long_name = 3;
    assert_encodes(&m, 0, "{\"optI32\":0,\"" LONG_JSON_NAME "\":3}");
    assert_encodes(&m, PBJ_ORIGINAL_NAMES, "{\"opt_i32\":0,\"" PBJT_LONG_NAME "\":3}");
    /* a message field set to an empty message is written */
    pbjt_scalars child;
    protobuf_c_message_init(&pbjt_scalars_desc, &child);
    m.has_opt_i32 = 0;
    m.long_name = 0;
    m.child = &child;
    assert_encodes(&m, 0, "{\"child\":{}}");
}

static void names_come_in_both_styles(void **state)
{
    (void)state;
    Gavel__Bids__V1__PlaceBidRequest req = GAVEL__BIDS__V1__PLACE_BID_REQUEST__INIT;
    Gavel__Common__V1__Money amount = GAVEL__COMMON__V1__MONEY__INIT;
    amount.currency = "RUB";
    amount.units = 10500;
    req.lot_id = 42;
    req.amount = &amount;
    req.idempotency_key = "k-1";
    assert_encodes(&req, 0,
                   "{\"lotId\":\"42\",\"amount\":{\"currency\":\"RUB\",\"units\":\"10500\"},"
                   "\"idempotencyKey\":\"k-1\"}");
    assert_encodes(&req, PBJ_ORIGINAL_NAMES,
                   "{\"lot_id\":\"42\",\"amount\":{\"currency\":\"RUB\",\"units\":\"10500\"},"
                   "\"idempotency_key\":\"k-1\"}");
}

static void oneof_members_are_written_when_set_even_at_default(void **state)
{
    (void)state;
    Gavel__Bids__V1__LotUpdate up = GAVEL__BIDS__V1__LOT_UPDATE__INIT;
    Gavel__Bids__V1__LotState snap = GAVEL__BIDS__V1__LOT_STATE__INIT;
    up.server_time_us = 5;
    assert_encodes(&up, 0, "{\"serverTimeUs\":\"5\"}");
    up.change_case = GAVEL__BIDS__V1__LOT_UPDATE__CHANGE_SNAPSHOT;
    up.snapshot = &snap;
    assert_encodes(&up, 0, "{\"serverTimeUs\":\"5\",\"snapshot\":{}}");

    Gavel__Auctions__V1__PriceRule rule = GAVEL__AUCTIONS__V1__PRICE_RULE__INIT;
    rule.adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_COEFFICIENT_PERMILLE;
    rule.coefficient_permille = 0;
    assert_encodes(&rule, 0, "{\"coefficientPermille\":0}");

    Gavel__Notifications__V1__Subscription sub = GAVEL__NOTIFICATIONS__V1__SUBSCRIPTION__INIT;
    sub.target_case = GAVEL__NOTIFICATIONS__V1__SUBSCRIPTION__TARGET_SEGMENT;
    sub.segment = "";
    assert_encodes(&sub, 0, "{\"segment\":\"\"}");
    assert_encodes(&sub, PBJ_EMIT_DEFAULTS,
                   "{\"id\":\"0\",\"userId\":\"0\",\"segment\":\"\",\"kinds\":[],"
                   "\"createdAtUs\":\"0\"}");
}

static void maps_are_objects_and_look_alikes_lists(void **state)
{
    (void)state;
    pbjt_maps m;
    protobuf_c_message_init(&pbjt_maps_desc, &m);
    pbjt_labels_entry l1, l2;
    protobuf_c_message_init(&pbjt_labels_entry_desc, &l1);
    protobuf_c_message_init(&pbjt_labels_entry_desc, &l2);
    l1.key = "a", l1.value = 1;
    l2.key = "b", l2.value = -2;
    pbjt_labels_entry *labels[] = { &l1, &l2 };
    pbjt_scalars inner;
    protobuf_c_message_init(&pbjt_scalars_desc, &inner);
    inner.i32 = 1;
    pbjt_by_id_entry b1, b2;
    protobuf_c_message_init(&pbjt_by_id_entry_desc, &b1);
    protobuf_c_message_init(&pbjt_by_id_entry_desc, &b2);
    b1.key = 7, b1.value = &inner;
    b2.key = -1; /* no value: the empty message */
    pbjt_by_id_entry *by_id[] = { &b1, &b2 };
    pbjt_flags_entry f1;
    protobuf_c_message_init(&pbjt_flags_entry_desc, &f1);
    f1.key = 1, f1.value = "yes";
    pbjt_flags_entry *flags[] = { &f1 };
    pbjt_big_entry g1;
    protobuf_c_message_init(&pbjt_big_entry_desc, &g1);
    g1.key = UINT64_MAX, g1.value = PBJT_COLOR_BLUE;
    pbjt_big_entry *big[] = { &g1 };
    pbjt_pair p1;
    protobuf_c_message_init(&pbjt_pair_desc, &p1);
    p1.key = "k", p1.value = "v";
    pbjt_pair *pairs[] = { &p1 };
    m.n_labels = 2, m.labels = labels;
    m.n_by_id = 2, m.by_id = by_id;
    m.n_flags = 1, m.flags = flags;
    m.n_big = 1, m.big = big;
    m.n_pairs = 1, m.pairs = pairs;
    assert_encodes(&m, 0,
                   "{\"labels\":{\"a\":\"1\",\"b\":\"-2\"},"
                   "\"byId\":{\"7\":{\"i32\":1},\"-1\":{}},\"flags\":{\"true\":\"yes\"},"
                   "\"big\":{\"18446744073709551615\":\"COLOR_BLUE\"},"
                   "\"pairs\":[{\"key\":\"k\",\"value\":\"v\"}]}");
    protobuf_c_message_init(&pbjt_maps_desc, &m);
    assert_encodes(&m, PBJ_EMIT_DEFAULTS,
                   "{\"labels\":{},\"byId\":{},\"flags\":{},\"big\":{},\"pairs\":[]}");
}

/* The canonical JSON of the Lot built by full_lot(). */
static const char lot_json[] =
    "{\"id\":\"42\",\"sellerId\":\"7\",\"title\":\"Toyota Camry 2015\",\"make\":\"Toyota\","
    "\"model\":\"Camry\",\"year\":2015,\"mileageKm\":120000,\"vin\":\"JT2BF22K1W0123456\","
    "\"region\":\"Moscow\",\"categoryId\":\"3\","
    "\"photoUrls\":[\"https://img/1.jpg\",\"https://img/2.jpg\"],"
    "\"condition\":{\"damages\":[{\"location\":\"hood\",\"kind\":\"DAMAGE_KIND_SCRATCH\","
    "\"severity\":\"DAMAGE_SEVERITY_MINOR\"},{\"location\":\"roof\",\"kind\":"
    "\"DAMAGE_KIND_DENT\",\"severity\":\"DAMAGE_SEVERITY_MODERATE\",\"note\":\"small\"}],"
    "\"tyres\":[{\"position\":\"TYRE_POSITION_FRONT_LEFT\",\"treadDepthTenthsMm\":65,"
    "\"brand\":\"Nokian\",\"season\":\"TYRE_SEASON_WINTER\",\"manufacturedYear\":2021}],"
    "\"documents\":[{\"kind\":\"DOCUMENT_KIND_VEHICLE_PASSPORT\",\"isPresent\":true}],"
    "\"inspectionNotes\":\"ok\",\"inspectorId\":\"9\",\"inspectorName\":\"I. Petrov\","
    "\"inspectedAtUs\":\"1714557600000000\"},"
    "\"startPrice\":{\"currency\":\"RUB\",\"units\":\"100000000\"},"
    "\"buyNowPrice\":{\"currency\":\"RUB\",\"units\":\"250000000\"},"
    "\"increments\":[{\"fromAmount\":{\"currency\":\"RUB\"},"
    "\"increment\":{\"currency\":\"RUB\",\"units\":\"500000\"}}],"
    "\"softCloseWindowSeconds\":120,\"maxExtensions\":10,\"state\":\"LOT_STATE_LIVE\","
    "\"sessionId\":\"5\",\"startsAtUs\":\"1714600000000000\",\"endsAtUs\":\"1714603600000000\","
    "\"createdAtUs\":\"1714500000000000\",\"updatedAtUs\":\"1714500000000001\"}";

static void a_full_lot_encodes_in_field_order(void **state)
{
    (void)state;
    Gavel__Common__V1__Money start = GAVEL__COMMON__V1__MONEY__INIT,
                             buy_now = GAVEL__COMMON__V1__MONEY__INIT,
                             from = GAVEL__COMMON__V1__MONEY__INIT,
                             step = GAVEL__COMMON__V1__MONEY__INIT;
    start.currency = buy_now.currency = from.currency = step.currency = "RUB";
    start.units = 100000000;
    buy_now.units = 250000000;
    step.units = 500000;
    Gavel__Auctions__V1__IncrementBand band = GAVEL__AUCTIONS__V1__INCREMENT_BAND__INIT;
    band.from_amount = &from;
    band.increment = &step;
    Gavel__Auctions__V1__IncrementBand *bands[] = { &band };
    Gavel__Auctions__V1__DamagePoint d1 = GAVEL__AUCTIONS__V1__DAMAGE_POINT__INIT,
                                     d2 = GAVEL__AUCTIONS__V1__DAMAGE_POINT__INIT;
    d1.location = "hood";
    d1.kind = GAVEL__AUCTIONS__V1__DAMAGE_KIND__DAMAGE_KIND_SCRATCH;
    d1.severity = GAVEL__AUCTIONS__V1__DAMAGE_SEVERITY__DAMAGE_SEVERITY_MINOR;
    d2.location = "roof";
    d2.kind = GAVEL__AUCTIONS__V1__DAMAGE_KIND__DAMAGE_KIND_DENT;
    d2.severity = GAVEL__AUCTIONS__V1__DAMAGE_SEVERITY__DAMAGE_SEVERITY_MODERATE;
    d2.note = "small";
    Gavel__Auctions__V1__DamagePoint *damages[] = { &d1, &d2 };
    Gavel__Auctions__V1__TyreReport t1 = GAVEL__AUCTIONS__V1__TYRE_REPORT__INIT;
    t1.position = GAVEL__AUCTIONS__V1__TYRE_POSITION__TYRE_POSITION_FRONT_LEFT;
    t1.tread_depth_tenths_mm = 65;
    t1.brand = "Nokian";
    t1.season = GAVEL__AUCTIONS__V1__TYRE_SEASON__TYRE_SEASON_WINTER;
    t1.manufactured_year = 2021;
    Gavel__Auctions__V1__TyreReport *tyres[] = { &t1 };
    Gavel__Auctions__V1__DocumentCheck doc = GAVEL__AUCTIONS__V1__DOCUMENT_CHECK__INIT;
    doc.kind = GAVEL__AUCTIONS__V1__DOCUMENT_KIND__DOCUMENT_KIND_VEHICLE_PASSPORT;
    doc.is_present = 1;
    Gavel__Auctions__V1__DocumentCheck *docs[] = { &doc };
    Gavel__Auctions__V1__ConditionReport cond = GAVEL__AUCTIONS__V1__CONDITION_REPORT__INIT;
    cond.n_damages = 2, cond.damages = damages;
    cond.n_tyres = 1, cond.tyres = tyres;
    cond.n_documents = 1, cond.documents = docs;
    cond.inspection_notes = "ok";
    cond.inspector_id = 9;
    cond.inspector_name = "I. Petrov";
    cond.inspected_at_us = 1714557600000000;
    char *photos[] = { "https://img/1.jpg", "https://img/2.jpg" };
    Gavel__Auctions__V1__Lot lot = GAVEL__AUCTIONS__V1__LOT__INIT;
    lot.id = 42;
    lot.seller_id = 7;
    lot.title = "Toyota Camry 2015";
    lot.make = "Toyota";
    lot.model = "Camry";
    lot.year = 2015;
    lot.mileage_km = 120000;
    lot.vin = "JT2BF22K1W0123456";
    lot.region = "Moscow";
    lot.category_id = 3;
    lot.n_photo_urls = 2, lot.photo_urls = photos;
    lot.condition = &cond;
    lot.start_price = &start;
    lot.buy_now_price = &buy_now;
    lot.n_increments = 1, lot.increments = bands;
    lot.soft_close_window_seconds = 120;
    lot.max_extensions = 10;
    lot.state = GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE;
    lot.session_id = 5;
    lot.starts_at_us = 1714600000000000;
    lot.ends_at_us = 1714603600000000;
    lot.created_at_us = 1714500000000000;
    lot.updated_at_us = 1714500000000001;
    assert_encodes(&lot, 0, lot_json);

    /* and decoding that text gives the same message, byte for byte */
    ProtobufCMessage *back = NULL;
    char err[256];
    assert_int_equal(pbj_decode(&gavel__auctions__v1__lot__descriptor, lot_json,
                                sizeof lot_json - 1, NULL, NULL, &back, err, sizeof err),
                     0);
    size_t n1 = protobuf_c_message_get_packed_size(&lot.base);
    size_t n2 = protobuf_c_message_get_packed_size(back);
    assert_int_equal(n1, n2);
    uint8_t *p1 = malloc(n1), *p2 = malloc(n2);
    protobuf_c_message_pack(&lot.base, p1);
    protobuf_c_message_pack(back, p2);
    assert_memory_equal(p1, p2, n1);
    free(p1);
    free(p2);
    protobuf_c_message_free_unpacked(back, NULL);
}

static void strings_that_are_not_utf8_are_refused_with_their_place(void **state)
{
    (void)state;
    pbjt_scalars top, item, leaf;
    protobuf_c_message_init(&pbjt_scalars_desc, &top);
    protobuf_c_message_init(&pbjt_scalars_desc, &item);
    protobuf_c_message_init(&pbjt_scalars_desc, &leaf);
    leaf.s = "bad \xff";
    item.child = &leaf;
    pbjt_scalars *items[] = { &item };
    top.n_r_child = 1, top.r_child = items;
    json_t *j = (json_t *)1;
    char err[128];
    assert_int_equal(pbj_encode(&top.base, NULL, &j, err, sizeof err), PBJ_E_TYPE);
    assert_null(j);
    assert_string_equal(err, "rChild[0].child.s: string is not UTF-8");
}

static void encoding_stops_at_the_limits(void **state)
{
    (void)state;
    enum { DEPTH = 40 };
    pbjt_scalars chain[DEPTH];
    for (int i = 0; i < DEPTH; i++) {
        protobuf_c_message_init(&pbjt_scalars_desc, &chain[i]);
        chain[i].child = i + 1 < DEPTH ? &chain[i + 1] : NULL;
    }
    json_t *j = NULL;
    char err[512];
    assert_int_equal(pbj_encode(&chain[0].base, NULL, &j, err, sizeof err), PBJ_E_LIMIT);
    assert_null(j);
    /* the 33rd object, under 32 "child" keys */
    char want[512];
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, i ? ".child" : "child");
    snprintf(want + n, sizeof want - n, ": nested deeper than 32 levels");
    assert_string_equal(err, want);
    pbj_opts deeper = { .max_depth = 64 };
    assert_int_equal(pbj_encode(&chain[0].base, &deeper, &j, err, sizeof err), 0);
    json_decref(j);

    pbjt_scalars m;
    protobuf_c_message_init(&pbjt_scalars_desc, &m);
    int64_t many[10] = { 0 };
    m.n_r_i64 = 10, m.r_i64 = many;
    pbj_opts few = { .max_elements = 5 };
    assert_int_equal(pbj_encode(&m.base, &few, &j, err, sizeof err), PBJ_E_LIMIT);
    assert_string_equal(err, "rI64[3]: more than 5 elements");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptors_are_sound),
        cmocka_unit_test(scalars_encode_at_their_edges),
        cmocka_unit_test(defaults_are_omitted_unless_asked),
        cmocka_unit_test(names_come_in_both_styles),
        cmocka_unit_test(oneof_members_are_written_when_set_even_at_default),
        cmocka_unit_test(maps_are_objects_and_look_alikes_lists),
        cmocka_unit_test(a_full_lot_encodes_in_field_order),
        cmocka_unit_test(strings_that_are_not_utf8_are_refused_with_their_place),
        cmocka_unit_test(encoding_stops_at_the_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
