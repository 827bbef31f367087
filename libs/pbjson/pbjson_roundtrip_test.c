/*
 * Round trips and abuse: real Gavel messages (a full Lot with its
 * condition report, bids with their hashes, oneofs of every member kind)
 * go JSON -> message -> JSON -> message and must pack to the same protobuf
 * bytes, with the JSON stable after one pass; then a few thousand inputs
 * mutated from those seeds and random trees built from the descriptors
 * (deterministic generator, so a failure replays) must each end in a known
 * code, a UTF-8 message and nothing allocated, or round-trip exactly; run
 * under ASan+UBSan by the asan build. Last, an informational micro
 * benchmark of encode+decode of a full Lot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"
#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/notifications/v1/notifications.pb-c.h"
#include "pbjson_int.h"
#include "pbjson_test_util.h"

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    const char *json; /* canonical: pbj_encode writes exactly this back */
} seed;

static const char full_lot[] =
    "{\"lot\":{\"id\":\"42\",\"sellerId\":\"7\",\"title\":\"Toyota Camry 2015\","
    "\"description\":\"One owner.\\nService book \\\"complete\\\" \xe2\x80\x94 "
    "\xd0\xb1\xd0\xb5\xd0\xb7 \xd0\xb4\xd1\x82\xd0\xbf\",\"make\":\"Toyota\",\"model\":\"Camry\","
    "\"year\":2015,\"mileageKm\":120000,\"vin\":\"JT2BF22K1W0123456\",\"region\":\"Moscow\","
    "\"cityId\":\"77\",\"categoryId\":\"3\","
    "\"photoUrls\":[\"https://img/1.jpg\",\"https://img/2.jpg\",\"https://img/3.jpg\"],"
    "\"condition\":{\"damages\":[{\"location\":\"hood\",\"kind\":\"DAMAGE_KIND_SCRATCH\","
    "\"severity\":\"DAMAGE_SEVERITY_MINOR\",\"photoUrl\":\"https://img/d1.jpg\"},"
    "{\"location\":\"roof\",\"kind\":\"DAMAGE_KIND_DENT\",\"severity\":"
    "\"DAMAGE_SEVERITY_MODERATE\",\"note\":\"small\"},{\"location\":\"left_front_door\","
    "\"kind\":\"DAMAGE_KIND_REPAINTED\",\"severity\":\"DAMAGE_SEVERITY_SEVERE\"}],"
    "\"tyres\":[{\"position\":\"TYRE_POSITION_FRONT_LEFT\",\"treadDepthTenthsMm\":65,"
    "\"brand\":\"Nokian\",\"season\":\"TYRE_SEASON_WINTER\",\"manufacturedYear\":2021},"
    "{\"position\":\"TYRE_POSITION_SPARE\"}],"
    "\"documents\":[{\"kind\":\"DOCUMENT_KIND_VEHICLE_PASSPORT\",\"isPresent\":true},"
    "{\"kind\":\"DOCUMENT_KIND_OTHER\",\"note\":\"winter wheels\"}],"
    "\"inspectionNotes\":\"ok\",\"inspectorId\":\"9\",\"inspectorName\":\"I. Petrov\","
    "\"inspectedAtUs\":\"1714557600000000\"},"
    "\"startPrice\":{\"currency\":\"RUB\",\"units\":\"100000000\"},"
    "\"reservePrice\":{\"currency\":\"RUB\",\"units\":\"150000000\"},"
    "\"buyNowPrice\":{\"currency\":\"RUB\",\"units\":\"250000000\"},"
    "\"increments\":[{\"fromAmount\":{\"currency\":\"RUB\"},"
    "\"increment\":{\"currency\":\"RUB\",\"units\":\"500000\"}},"
    "{\"fromAmount\":{\"currency\":\"RUB\",\"units\":\"100000000\"},"
    "\"increment\":{\"currency\":\"RUB\",\"units\":\"1000000\"}}],"
    "\"softCloseWindowSeconds\":120,\"maxExtensions\":10,\"state\":\"LOT_STATE_CLOSED\","
    "\"rejectionReason\":\"\xe2\x80\x94\",\"sessionId\":\"5\",\"startsAtUs\":\"1714600000000000\","
    "\"endsAtUs\":\"1714603600000000\",\"result\":{\"winnerId\":\"11\",\"finalPrice\":"
    "{\"currency\":\"RUB\",\"units\":\"170000000\"},\"reserveMet\":true,"
    "\"winningBidId\":\"9000000000000000001\",\"winningHoldId\":\"-1\",\"bidCount\":\"31\","
    "\"closedAtUs\":\"1714603600000001\"},\"createdAtUs\":\"1714500000000000\","
    "\"updatedAtUs\":\"1714500000000001\",\"hasReserve\":true}}";

static const seed seeds[] = {
    { &gavel__auctions__v1__create_lot_request__descriptor, full_lot },
    { &gavel__bids__v1__place_bid_request__descriptor,
      "{\"lotId\":\"42\",\"amount\":{\"currency\":\"RUB\",\"units\":\"10500\"},"
      "\"idempotencyKey\":\"k-1\"}" },
    { &gavel__bids__v1__place_bid_response__descriptor,
      "{\"bid\":{\"lotId\":\"42\",\"seq\":\"3\",\"bidId\":\"900\",\"bidderId\":\"11\","
      "\"amount\":{\"currency\":\"RUB\",\"units\":\"10500\"},\"placedAtUs\":\"1714600000000000\","
      "\"prevHash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
      "\"hash\":\"3q2+7/////8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhc=\"},"
      "\"triggeredBids\":[{\"lotId\":\"42\",\"seq\":\"4\",\"isAutobid\":true},"
      "{\"lotId\":\"42\",\"seq\":\"5\"}],\"state\":{\"lotId\":\"42\",\"bidCount\":\"5\","
      "\"extensionsUsed\":1,\"maxExtensions\":10},\"callerIsLeading\":true}" },
    { &gavel__bids__v1__lot_update__descriptor,
      "{\"serverTimeUs\":\"1\",\"bidAccepted\":{\"bid\":{\"lotId\":\"1\",\"seq\":\"2\"},"
      "\"state\":{\"leaderId\":\"3\"}}}" },
    { &gavel__bids__v1__lot_update__descriptor, "{\"heartbeat\":{\"seq\":\"9\"}}" },
    { &gavel__notifications__v1__subscription__descriptor,
      "{\"id\":\"1\",\"userId\":\"2\",\"savedSearch\":{\"name\":\"Camrys\","
      "\"filterJson\":\"[[\\\"eq\\\",\\\"make\\\",\\\"Toyota\\\"]]\"},\"kinds\":"
      "[\"EVENT_KIND_OUTBID\",\"EVENT_KIND_BID_PLACED\"],"
      "\"createdAtUs\":\"3\"}" },
    { &gavel__notifications__v1__subscription__descriptor, "{\"lotId\":\"0\"}" },
    { &gavel__auctions__v1__create_price_rule_request__descriptor,
      "{\"rule\":{\"service\":\"photo\",\"yearFrom\":2000,\"priority\":-5,"
      "\"fixedPrice\":{\"currency\":\"RUB\"},\"isActive\":true}}" },
    { &gavel__auctions__v1__quote_services_request__descriptor,
      "{\"attributes\":{\"categoryId\":\"3\",\"year\":2015},\"services\":[\"photo\",\"top\"]}" },
    { &gavel__common__v1__ping_request__descriptor, "{\"payload\":\"AP8A/w==\"}" },
    { &pbjt_scalars_desc,
      "{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,"
      "\"u64\":\"18446744073709551615\",\"s32\":-1,\"s64\":\"1\",\"f32\":1,\"f64\":\"2\","
      "\"sf32\":-3,\"sf64\":\"-4\",\"fl\":-0.0,\"db\":\"NaN\",\"b\":true,\"s\":\"x\","
      "\"by\":\"Zg==\",\"color\":7,\"rI64\":[\"1\"],\"rDb\":[\"-Infinity\",0.5],"
      "\"rS\":[\"\"],\"rBy\":[\"\"],\"rColor\":[\"COLOR_RED\"],\"child\":{\"child\":{}},"
      "\"rChild\":[{\"i32\":1},{}],\"optI32\":0,\"rI32\":[0],\"rB\":[false],\"rFl\":[1.5]}" },
    { &pbjt_maps_desc,
      "{\"labels\":{\"a\":\"1\"},\"byId\":{\"-1\":{\"s\":\"x\"}},\"flags\":{\"true\":\"\"},"
      "\"big\":{\"0\":7},\"pairs\":[{\"key\":\"k\"}]}" },
    { &pbjt_wkt_desc,
      "{\"ts\":\"2024-05-01T10:00:00.500Z\",\"dur\":\"-1.000000001s\",\"mask\":\"a.bC,d\","
      "\"d\":0.0,\"f\":1.5,\"i64\":\"-1\",\"u64\":\"0\",\"i32\":0,\"u32\":1,\"b\":true,"
      "\"s\":\"\",\"by\":\"\",\"rTs\":[\"0001-01-01T00:00:00Z\"],"
      "\"mTs\":{\"k\":\"9999-12-31T23:59:59.999999999Z\"}}" },
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* Packs m into a new buffer (caller frees) of *len bytes. */
static uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(*len);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* Encodes m and decodes that again: the JSON must decode, pack to the
 * same bytes as m and encode to itself. Returns the JSON (caller frees). */
static char *assert_round_trip(const ProtobufCMessage *m, const char *what)
{
    char err[512];
    json_t *j = NULL;
    if (pbj_encode(m, NULL, &j, err, sizeof err) != 0)
        fail_msg("%s: encode: %s", what, err);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    ProtobufCMessage *back;
    if (pbj_decode(m->descriptor, text, strlen(text), NULL, NULL, &back, err, sizeof err) != 0)
        fail_msg("%s: re-decoding %s: %s", what, text, err);
    size_t n1, n2;
    uint8_t *p1 = packed(m, &n1), *p2 = packed(back, &n2);
    if (n1 != n2 || memcmp(p1, p2, n1) != 0)
        fail_msg("%s: %s does not round-trip", what, text);
    assert_int_equal(pbj_encode(back, NULL, &j, err, sizeof err), 0);
    char *again = json_dumps(j, JSON_COMPACT);
    if (strcmp(again, text) != 0)
        fail_msg("%s: unstable:\n  %s\n  %s", what, text, again);
    json_decref(j);
    free(again);
    free(p1);
    free(p2);
    protobuf_c_message_free_unpacked(back, NULL);
    return text;
}

static void gavel_messages_round_trip_through_json_and_protobuf(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSEEDS; i++) {
        ProtobufCMessage *m;
        char err[512];
        const char *in = seeds[i].json;
        if (pbj_decode(seeds[i].desc, in, strlen(in), NULL, NULL, &m, err, sizeof err) != 0)
            fail_msg("seed %zu: %s", i, err);
        char *text = assert_round_trip(m, seeds[i].desc->name);
        if (strcmp(text, in) != 0)
            fail_msg("seed %zu is not canonical:\n  in  %s\n  out %s", i, in, text);
        free(text);
        /* and from the wire: protobuf bytes -> message -> JSON -> the same bytes */
        size_t len;
        uint8_t *wire = packed(m, &len);
        ProtobufCMessage *unpacked = protobuf_c_message_unpack(seeds[i].desc, NULL, len, wire);
        assert_non_null(unpacked);
        free(assert_round_trip(unpacked, seeds[i].desc->name));
        protobuf_c_message_free_unpacked(unpacked, NULL);
        free(wire);
        protobuf_c_message_free_unpacked(m, NULL);
    }
}

/* ---- fuzzing: a deterministic generator ---- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static size_t below(rng *r, size_t n)
{
    return n == 0 ? 0 : (size_t)(next(r) % n);
}

static const char *const tokens[] = {
    "null", "true", "false", "0", "-0", "1e400", "-1", "1.5", "2147483648", "18446744073709551616",
    "\"\"", "\"NaN\"", "\"-Infinity\"", "\"Zg==\"", "\"Zg=\"", "\"\\u0000\"", "\"\\ud800\"",
    "\"COLOR_BLUE\"", "\"LOT_STATE_LIVE\"", "\"1970-01-01T00:00:00Z\"", "\"1.5s\"", "\"a.bC\"",
    "[", "]", "{", "}", ",", ":", "[[[[[[[[[[", "{\"child\":", "\"\xff\"", "\"9223372036854775808\"",
    "\"lot\"", "\"rChild\"", "\"by_id\"", "{\"1\":{}}", "\"\xc3\xa9\"",
};
#define NTOKENS (sizeof tokens / sizeof tokens[0])

typedef struct {
    char *p;
    size_t len, cap;
} text;

static void text_insert(text *t, size_t at, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
    memmove(t->p + at + n, t->p + at, t->len - at);
    memcpy(t->p + at, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void mutate(rng *r, text *t)
{
    size_t at = below(r, t->len + 1), n = 1 + below(r, 16);
    switch (below(r, 6)) {
    case 0:
        if (t->len > 0)
            t->p[below(r, t->len)] ^= (char)(1u << below(r, 8));
        break;
    case 1:
        if (t->len > 0)
            t->p[below(r, t->len)] = "{}[]:,\"\\0123456789-.eEtrufalsn _xAZ\xff\xc3"[below(r, 38)];
        break;
    case 2:
        n = at + n > t->len ? t->len - at : n;
        memmove(t->p + at, t->p + at + n, t->len - at - n);
        t->len -= n;
        t->p[t->len] = '\0';
        break;
    case 3: {
        size_t from = below(r, t->len + 1);
        n = from + n > t->len ? t->len - from : n;
        char copy[16];
        memcpy(copy, t->p + from, n);
        text_insert(t, at, copy, n);
        break;
    }
    case 4: {
        const char *tok = tokens[below(r, NTOKENS)];
        text_insert(t, at, tok, strlen(tok));
        break;
    }
    default: /* splice: this prefix, another seed's tail */
        t->len = at;
        const char *other = seeds[below(r, NSEEDS)].json;
        size_t olen = strlen(other), from = below(r, olen + 1);
        text_insert(t, t->len, other + from, olen - from);
        break;
    }
}

/* A random value for one field: usually of the right kind, sometimes not. */
static json_t *random_value(rng *r, const ProtobufCFieldDescriptor *f, int depth);

static json_t *random_message(rng *r, const ProtobufCMessageDescriptor *d, int depth)
{
    static const char *const map_keys[] = { "1", "-5", "true", "a", "18446744073709551615" };
    json_t *obj = json_object();
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (below(r, 3) == 0)
            continue;
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char camel[256];
        pbj_json_name(f->name, camel, sizeof camel);
        const char *key = below(r, 4) == 0 ? f->name : camel;
        if (below(r, 50) == 0)
            key = "unknownField";
        json_t *v;
        if (pbj__is_map(d, f) && below(r, 8) != 0) {
            const ProtobufCMessageDescriptor *e = f->descriptor;
            v = json_object();
            for (size_t k = below(r, 3); k > 0; k--)
                json_object_set_new(v, map_keys[below(r, 5)],
                                    random_value(r, &e->fields[1], depth));
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED && below(r, 8) != 0) {
            v = json_array();
            for (size_t k = below(r, 4); k > 0; k--)
                json_array_append_new(v, random_value(r, f, depth));
        } else
            v = random_value(r, f, depth);
        json_object_set_new(obj, key, v);
    }
    return obj;
}

static json_t *random_value(rng *r, const ProtobufCFieldDescriptor *f, int depth)
{
    static const char *const strings[] = { "", "x", "COLOR_RED", "Zg==", "-1", "1e3",
                                            "1970-01-01T00:00:00Z", "2s", "aB.c", "NaN",
                                            "18446744073709551615", "\xc3\xa9" };
    switch (below(r, 40)) {
    case 0:
        return json_null();
    case 1:
        return json_integer((json_int_t)next(r));
    case 2:
        return json_real((double)(int64_t)next(r) / 1024.0);
    case 3:
        return json_string(strings[below(r, sizeof strings / sizeof strings[0])]);
    case 4:
        return json_boolean(below(r, 2));
    default:
        break;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE:
        if (pbj__wkt_of(f->descriptor) != PBJ_WKT_NONE)
            return json_string(strings[below(r, sizeof strings / sizeof strings[0])]);
        return depth < 8 ? random_message(r, f->descriptor, depth + 1) : json_object();
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        return json_string(e->values[below(r, e->n_values)].name);
    }
    case PROTOBUF_C_TYPE_STRING:
        return json_string(strings[below(r, sizeof strings / sizeof strings[0])]);
    case PROTOBUF_C_TYPE_BYTES:
        return json_string(below(r, 2) ? "Zg==" : "");
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(below(r, 2));
    default:
        return json_integer((json_int_t)below(r, 1000) - 500);
    }
}

/* One input: it ends in a known code with a clean message and nothing
 * left allocated, or it round-trips. */
static void check_input(const ProtobufCMessageDescriptor *d, const char *in, size_t len,
                        const pbj_opts *o, const char *what)
{
    pbjt_counts counts = { 0 };
    ProtobufCAllocator alloc = PBJT_COUNTING(&counts);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char err[512];
    int rc = pbj_decode(d, in, len, o, &alloc, &m, err, sizeof err);
    if (rc < PBJ_E_LIMIT || rc > 0)
        fail_msg("%s: rc %d", what, rc);
    if (rc < 0) {
        if (m != NULL || counts.live != 0 || err[0] == '\0' || !utf8_valid(err, strlen(err)))
            fail_msg("%s: refusal %d left %ld allocations or a bad message: %s", what, rc,
                     counts.live, err);
        return;
    }
    free(assert_round_trip(m, what));
    protobuf_c_message_free_unpacked(m, &alloc);
    if (counts.live != 0)
        fail_msg("%s: %ld allocations left", what, counts.live);
}

static void mutated_and_random_inputs_end_cleanly(void **state)
{
    (void)state;
    rng r = { 0x9e3779b97f4a7c15ull };
    long refused = 0, total = 0;
    text t = { 0 };
    for (int round = 0; round < 200; round++)
        for (size_t i = 0; i < NSEEDS; i++) {
            t.len = 0;
            text_insert(&t, 0, seeds[i].json, strlen(seeds[i].json));
            for (size_t k = 1 + below(&r, 4); k > 0; k--)
                mutate(&r, &t);
            pbj_opts o = { .max_depth = below(&r, 4) == 0 ? 1 + (unsigned)below(&r, 6) : 0,
                           .max_elements = below(&r, 4) == 0 ? 1 + below(&r, 40) : 0,
                           .flags = below(&r, 5) == 0 ? PBJ_IGNORE_UNKNOWN : 0 };
            char what[64];
            snprintf(what, sizeof what, "mutant %d/%zu", round, i);
            check_input(seeds[i].desc, t.p, t.len, &o, what);
            total++;
        }
    for (int n = 0; n < 600; n++) {
        const ProtobufCMessageDescriptor *d = seeds[below(&r, NSEEDS)].desc;
        json_t *tree = random_message(&r, d, 0);
        char *s = json_dumps(tree, JSON_COMPACT);
        char what[64];
        snprintf(what, sizeof what, "random %d", n);
        check_input(d, s, strlen(s), NULL, what);
        /* the same tree handed over built */
        ProtobufCMessage *m;
        char err[512];
        int rc = pbj_decode_json(d, tree, NULL, NULL, &m, err, sizeof err);
        if (rc == 0)
            protobuf_c_message_free_unpacked(m, NULL);
        refused += rc < 0;
        free(s);
        json_decref(tree);
        total += 2;
    }
    free(t.p);
    print_message("pbjson fuzz: %ld inputs, %ld random trees refused\n", total, refused);
}

static void *arena_pb_alloc(void *data, size_t n)
{
    return arena_alloc(data, n);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void a_full_lot_encodes_and_decodes_quickly(void **state)
{
    (void)state;
    arena *a = arena_new();
    ProtobufCAllocator alloc = { .alloc = arena_pb_alloc, .free = arena_pb_free,
                                 .allocator_data = a };
    long n = 0;
    int64_t start = mono_us(), elapsed;
    char err[256];
    do {
        for (int i = 0; i < 100; i++, n++) {
            ProtobufCMessage *m;
            assert_int_equal(pbj_decode(seeds[0].desc, full_lot, sizeof full_lot - 1, NULL,
                                        &alloc, &m, err, sizeof err),
                             0);
            json_t *j;
            assert_int_equal(pbj_encode(m, NULL, &j, err, sizeof err), 0);
            char *s = json_dumps(j, JSON_COMPACT);
            free(s);
            json_decref(j);
            arena_reset(a);
        }
        elapsed = mono_us() - start;
    } while (elapsed < 300000);
    print_message("pbjson: full Lot (%zu bytes) decode+encode+dump: %.0f per second\n",
                  sizeof full_lot - 1, (double)n * 1e6 / (double)elapsed);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gavel_messages_round_trip_through_json_and_protobuf),
        cmocka_unit_test(mutated_and_random_inputs_end_cleanly),
        cmocka_unit_test(a_full_lot_encodes_and_decodes_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
