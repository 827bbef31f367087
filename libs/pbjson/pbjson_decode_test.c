/*
 * Decoding, table-driven: each .in is JSON text for a message type and
 * either decodes and re-encodes to .want (the canonical form) or is
 * refused with .want_rc and exactly the message .want a caller would see,
 * naming the place. Every case runs on a counting allocator: a refused
 * input leaves nothing allocated, an accepted one frees completely with
 * protobuf_c_message_free_unpacked. Also: the limits on text and on trees,
 * skipping unknown fields on request, trees built by hand (strings jansson
 * never checked), and decoding into a per-call arena.
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
#include "gavel/notifications/v1/notifications.pb-c.h"
#include "pbjson_test_util.h"

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    const char *in;
    int want_rc;
    const char *want; /* the canonical JSON when accepted, else the message */
} decode_case;

#define LOT_REQ &gavel__auctions__v1__create_lot_request__descriptor
#define SCALARS &pbjt_scalars_desc
#define MAPS &pbjt_maps_desc

static const decode_case refusals[] = {
    /* the places the brief of the gateway names */
    { LOT_REQ, "{\"lot\":{\"condition\":{\"damages\":[{},{},{\"severity\":true}]}}}", PBJ_E_TYPE,
      "lot.condition.damages[2].severity: expected a string or number for enum "
      "gavel.auctions.v1.DamageSeverity" },
    { LOT_REQ, "{\"lot\":{\"colour\":\"red\"}}", PBJ_E_FIELD, "lot.colour: unknown field" },
    { LOT_REQ, "{\"lot\":{\"year\":3000000000}}", PBJ_E_RANGE,
      "lot.year: 3000000000 is out of range for int32" },
    { LOT_REQ, "{\"lot\":{\"year\":\"2015x\"}}", PBJ_E_TYPE,
      "lot.year: \"2015x\" is not an integer" },
    { LOT_REQ, "{\"lot\":{\"year\":2015.5}}", PBJ_E_TYPE, "lot.year: 2015.5 is not an integer" },
    { LOT_REQ, "{\"lot\":{\"id\":1e18}}", PBJ_E_RANGE,
      "lot.id: 1e+18 is not exact as a JSON number; write int64 values beyond 2^53 as "
      "strings" },
    { LOT_REQ, "{\"lot\":{\"id\":\"9223372036854775808\"}}", PBJ_E_RANGE,
      "lot.id: \"9223372036854775808\" is out of range for int64" },
    { LOT_REQ, "{\"lot\":{\"id\":9223372036854775808}}", PBJ_E_JSON,
      "malformed JSON at line 1, column 32 (position 32): too big integer near "
      "'9223372036854775808'" },
    { LOT_REQ, "{\"lot\":{\"title\":5}}", PBJ_E_TYPE, "lot.title: expected a string" },
    { LOT_REQ, "{\"lot\":{\"title\":\"a\\u0000b\"}}", PBJ_E_TYPE,
      "lot.title: string holds a NUL character" },
    { LOT_REQ, "{\"lot\":{\"photoUrls\":\"x\"}}", PBJ_E_TYPE,
      "lot.photoUrls: expected an array for a repeated field" },
    { LOT_REQ, "{\"lot\":{\"photo_urls\":[\"a\",null]}}", PBJ_E_TYPE,
      "lot.photo_urls[1]: null is not allowed in a repeated field" },
    { LOT_REQ, "{\"lot\":{\"state\":\"LOT_STATE_SOLD\"}}", PBJ_E_TYPE,
      "lot.state: unknown value \"LOT_STATE_SOLD\" for enum gavel.auctions.v1.LotState" },
    { LOT_REQ, "{\"lot\":{\"state\":\"lot_state_live\"}}", PBJ_E_TYPE,
      "lot.state: unknown value \"lot_state_live\" for enum gavel.auctions.v1.LotState" },
    { LOT_REQ, "{\"lot\":{\"startPrice\":\"100\"}}", PBJ_E_TYPE,
      "lot.startPrice: expected an object for message gavel.common.v1.Money" },
    { LOT_REQ, "{\"lot\":{\"startPrice\":{\"units\":\"1\",\"cur\":\"RUB\"}}}", PBJ_E_FIELD,
      "lot.startPrice.cur: unknown field" },
    { LOT_REQ, "{\"lot\":{\"sellerId\":1,\"seller_id\":2}}", PBJ_E_FIELD,
      "lot.sellerId: given twice (also as seller_id)" },
    { LOT_REQ, "{\"lot\":{\"seller_id\":null,\"sellerId\":2}}", PBJ_E_FIELD,
      "lot.seller_id: given twice (also as sellerId)" },
    { LOT_REQ, "{\"lot\":{\"hasReserve\":\"true\"}}", PBJ_E_TYPE,
      "lot.hasReserve: expected true or false for bool" },
    { LOT_REQ, "{\"lot\":[]}", PBJ_E_TYPE,
      "lot: expected an object for message gavel.auctions.v1.Lot" },
    { LOT_REQ, "[]", PBJ_E_TYPE,
      "expected an object for message gavel.auctions.v1.CreateLotRequest" },
    { LOT_REQ, "null", PBJ_E_TYPE,
      "expected an object for message gavel.auctions.v1.CreateLotRequest" },
    { LOT_REQ, "{\"lot\":{}} x", PBJ_E_JSON,
      "malformed JSON at line 1, column 12 (position 12): end of file expected near 'x'" },
    { LOT_REQ, "", PBJ_E_JSON,
      "malformed JSON at line 1, column 0 (position 0): unexpected token near end of file" },
    { LOT_REQ, "{\"lot\":{\"title\":\"x\",}}", PBJ_E_JSON,
      "malformed JSON at line 1, column 21 (position 21): string or '}' expected near '}'" },
    { LOT_REQ, "{\"lot\":\n  {\"vin\":tru}}", PBJ_E_JSON,
      "malformed JSON at line 2, column 12 (position 20): invalid token near 'tru'" },
    { LOT_REQ, "{\"lot\":{\"make\":\"a\",\"make\":\"b\"}}", PBJ_E_JSON,
      "malformed JSON at line 1, column 25 (position 25): duplicate object key near "
      "'\"make\"'" },
    { LOT_REQ, "{\"lot\":{\"make\":\"a\xff\"}}", PBJ_E_JSON,
      "malformed JSON at line 1, column 17 (position 17): unable to decode byte 0xff near "
      "'\"a'" },
    { LOT_REQ, "{\"lot\":{\"make\":\"\\ud800\"}}", PBJ_E_JSON,
      "malformed JSON at line 1, column 23 (position 23): invalid Unicode '\\uD800' near "
      "'\"\\ud800\"'" },

    /* oneofs: a second member is refused, naming the first */
    { &gavel__auctions__v1__create_price_rule_request__descriptor,
      "{\"rule\":{\"coefficientPermille\":1400,\"fixedPrice\":{\"currency\":\"RUB\"}}}",
      PBJ_E_FIELD,
      "rule.fixedPrice: another member of its oneof (coefficientPermille) is already set" },
    { &gavel__auctions__v1__quote_services_request__descriptor,
      "{\"lotId\":\"1\",\"attributes\":{\"year\":2015}}", PBJ_E_FIELD,
      "attributes: another member of its oneof (lotId) is already set" },
    { &gavel__notifications__v1__subscription__descriptor,
      "{\"segment\":\"premium\",\"lot_id\":\"5\"}", PBJ_E_FIELD,
      "lot_id: another member of its oneof (segment) is already set" },
    { &gavel__notifications__v1__subscription__descriptor,
      "{\"savedSearch\":{\"name\":\"x\"},\"segment\":\"premium\"}", PBJ_E_FIELD,
      "segment: another member of its oneof (savedSearch) is already set" },
    { &gavel__bids__v1__lot_update__descriptor,
      "{\"heartbeat\":{\"seq\":\"1\"},\"closed\":{}}", PBJ_E_FIELD,
      "closed: another member of its oneof (heartbeat) is already set" },

    /* scalars at and past their edges */
    { SCALARS, "{\"i32\":2147483648}", PBJ_E_RANGE, "i32: 2147483648 is out of range for int32" },
    { SCALARS, "{\"i32\":-2147483649}", PBJ_E_RANGE,
      "i32: -2147483649 is out of range for int32" },
    { SCALARS, "{\"s32\":\"2147483648\"}", PBJ_E_RANGE,
      "s32: \"2147483648\" is out of range for sint32" },
    { SCALARS, "{\"u32\":-1}", PBJ_E_RANGE, "u32: -1 is out of range for uint32" },
    { SCALARS, "{\"f32\":\"4294967296\"}", PBJ_E_RANGE,
      "f32: \"4294967296\" is out of range for fixed32" },
    { SCALARS, "{\"u64\":\"-1\"}", PBJ_E_RANGE, "u64: \"-1\" is out of range for uint64" },
    { SCALARS, "{\"u64\":\"18446744073709551616\"}", PBJ_E_RANGE,
      "u64: \"18446744073709551616\" is out of range for uint64" },
    { SCALARS, "{\"i64\":\"-9223372036854775809\"}", PBJ_E_RANGE,
      "i64: \"-9223372036854775809\" is out of range for int64" },
    { SCALARS, "{\"sf64\":9007199254740992.0}", PBJ_E_RANGE,
      "sf64: 9007199254740992 is not exact as a JSON number; write sfixed64 values beyond "
      "2^53 as strings" },
    { SCALARS, "{\"s64\":\"1.5\"}", PBJ_E_TYPE, "s64: \"1.5\" is not an integer" },
    { SCALARS, "{\"s64\":\" 1\"}", PBJ_E_TYPE, "s64: \" 1\" is not an integer" },
    { SCALARS, "{\"f64\":true}", PBJ_E_TYPE, "f64: expected a string or number for fixed64" },
    { SCALARS, "{\"sf32\":{}}", PBJ_E_TYPE, "sf32: expected a string or number for sfixed32" },
    { SCALARS, "{\"fl\":\"1e39\"}", PBJ_E_RANGE, "fl: \"1e39\" is out of range for float" },
    { SCALARS, "{\"fl\":3.5e38}", PBJ_E_RANGE,
      "fl: 3.5e+38 is out of range for float" },
    { SCALARS, "{\"db\":\"1e999\"}", PBJ_E_RANGE, "db: \"1e999\" is out of range for double" },
    { SCALARS, "{\"db\":\"nan\"}", PBJ_E_TYPE, "db: \"nan\" is not a number" },
    { SCALARS, "{\"db\":[]}", PBJ_E_TYPE,
      "db: expected a number, \"NaN\", \"Infinity\" or \"-Infinity\" for double" },
    { SCALARS, "{\"b\":1}", PBJ_E_TYPE, "b: expected true or false for bool" },
    { SCALARS, "{\"by\":\"Zg=\"}", PBJ_E_TYPE, "by: not base64" },
    { SCALARS, "{\"by\":\"Zm9v YmFy\"}", PBJ_E_TYPE, "by: not base64" },
    { SCALARS, "{\"by\":5}", PBJ_E_TYPE, "by: expected a base64 string for bytes" },
    { SCALARS, "{\"color\":\"RED\"}", PBJ_E_TYPE, "color: unknown value \"RED\" for enum pbjt.Color" },
    { SCALARS, "{\"color\":2147483648}", PBJ_E_RANGE,
      "color: 2147483648 is out of range for int32" },
    { SCALARS, "{\"color\":1.5}", PBJ_E_TYPE, "color: 1.5 is not an integer" },
    { SCALARS, "{\"rColor\":[\"COLOR_RED\",[]]}", PBJ_E_TYPE,
      "rColor[1]: expected a string or number for enum pbjt.Color" },
    { SCALARS, "{\"child\":{\"child\":{\"rChild\":[{},{\"i32\":\"x\"}]}}}", PBJ_E_TYPE,
      "child.child.rChild[1].i32: \"x\" is not an integer" },
    { SCALARS, "{\"rI64\":{}}", PBJ_E_TYPE, "rI64: expected an array for a repeated field" },
    { SCALARS, "{\"r_s\":[\"a\",5]}", PBJ_E_TYPE, "r_s[1]: expected a string" },
    { SCALARS, "{\"child\":5}", PBJ_E_TYPE, "child: expected an object for message pbjt.Scalars" },
    { SCALARS, "{\"a\\nb\\\"\":1}", PBJ_E_FIELD, "a\\x0ab\": unknown field" },
    { SCALARS, "{\"rChild\":[{\"\\u00e9t\\u00e9\":1}]}", PBJ_E_FIELD,
      "rChild[0].\xc3\xa9t\xc3\xa9: unknown field" },
    { SCALARS,
      "{\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":1}",
      PBJ_E_FIELD,
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: unknown field" },
    { SCALARS, "{\"I32\":1}", PBJ_E_FIELD, "I32: unknown field" },
    { SCALARS, "{\"rI_64\":[]}", PBJ_E_FIELD, "rI_64: unknown field" },
    { SCALARS, "{\"optI32\":\"x\"}", PBJ_E_TYPE, "optI32: \"x\" is not an integer" },

    /* maps */
    { MAPS, "{\"labels\":[]}", PBJ_E_TYPE, "labels: expected an object for a map field" },
    { MAPS, "{\"labels\":{\"a\":null}}", PBJ_E_TYPE,
      "labels[\"a\"]: null is not allowed as a map value" },
    { MAPS, "{\"labels\":{\"a\":\"1\",\"b\":\"x\"}}", PBJ_E_TYPE,
      "labels[\"b\"]: \"x\" is not an integer" },
    { MAPS, "{\"byId\":{\"x\":{}}}", PBJ_E_TYPE, "byId[\"x\"]: \"x\" is not an integer" },
    { MAPS, "{\"byId\":{\"2147483648\":{}}}", PBJ_E_RANGE,
      "byId[\"2147483648\"]: \"2147483648\" is out of range for int32" },
    { MAPS, "{\"byId\":{\"1\":{\"colour\":1}}}", PBJ_E_FIELD,
      "byId[\"1\"].colour: unknown field" },
    { MAPS, "{\"flags\":{\"yes\":\"a\"}}", PBJ_E_TYPE,
      "flags[\"yes\"]: a bool map key must be \"true\" or \"false\"" },
    { MAPS, "{\"big\":{\"-1\":\"COLOR_RED\"}}", PBJ_E_RANGE,
      "big[\"-1\"]: \"-1\" is out of range for uint64" },
    { MAPS, "{\"pairs\":{\"k\":\"v\"}}", PBJ_E_TYPE,
      "pairs: expected an array for a repeated field" },
};

static const decode_case accepted[] = {
    /* every integer type at its edges, in every written form */
    { SCALARS,
      "{\"i32\":\"-2147483648\",\"i64\":-9223372036854775808,\"u32\":\"4294967295\","
      "\"u64\":\"18446744073709551615\",\"s32\":1.0,\"s64\":\"1e3\",\"f32\":4294967295,"
      "\"f64\":\"0\",\"sf32\":\"-0\",\"sf64\":9007199254740991.0}",
      0,
      "{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,"
      "\"u64\":\"18446744073709551615\",\"s32\":1,\"s64\":\"1000\",\"f32\":4294967295,"
      "\"sf64\":\"9007199254740991\"}" },
    { SCALARS, "{\"i64\":\"9223372036854775807\",\"s64\":\"-9223372036854775808\","
      "\"sf64\":\"-1\",\"f64\":\"18446744073709551615\",\"u64\":\"12.5e1\"}",
      0,
      "{\"i64\":\"9223372036854775807\",\"u64\":\"125\",\"s64\":\"-9223372036854775808\","
      "\"f64\":\"18446744073709551615\",\"sf64\":\"-1\"}" },
    /* both name styles, and presence */
    { SCALARS, "{\"r_i64\":[\"1\",2],\"opt_i32\":0,\"r_child\":[{}],\"rI32\":[1e1]}", 0,
      "{\"rI64\":[\"1\",\"2\"],\"rChild\":[{}],\"optI32\":0,\"rI32\":[10]}" },
    { SCALARS, "{\"" PBJT_LONG_NAME "\":1}", 0,
      "{\"theFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldField"
      "FieldFieldFieldFieldFieldFieldFieldFieldFieldFieldFieldNameX\":1}" },
    /* floating point: negative zero, the special strings, numbers as strings */
    { SCALARS, "{\"fl\":\"-0\",\"db\":-0.0}", 0, "{\"fl\":-0.0,\"db\":-0.0}" },
    { SCALARS, "{\"fl\":\"NaN\",\"db\":\"-Infinity\",\"rDb\":[\"Infinity\",1,\"2.5\"]}", 0,
      "{\"fl\":\"NaN\",\"db\":\"-Infinity\",\"rDb\":[\"Infinity\",1.0,2.5]}" },
    { SCALARS, "{\"fl\":3.4028234663852886e38,\"rFl\":[-3.4028235e38,1e-46]}", 0,
      "{\"fl\":3.4028234663852886e38,\"rFl\":[-3.4028234663852886e38,0.0]}" },
    { SCALARS, "{\"db\":1.7976931348623157e308}", 0, "{\"db\":1.7976931348623157e308}" },
    /* bytes in either alphabet, padded or not; empty bytes */
    { SCALARS, "{\"by\":\"-_-_\",\"rBy\":[\"Zg\",\"Zg==\",\"\",\"+/+/\"]}", 0,
      "{\"by\":\"+/+/\",\"rBy\":[\"Zg==\",\"Zg==\",\"\",\"+/+/\"]}" },
    /* enums by name or number; unknown numbers kept */
    { SCALARS, "{\"color\":5,\"rColor\":[1,\"COLOR_BLUE\",7,-3]}", 0,
      "{\"color\":\"COLOR_BLUE\",\"rColor\":[\"COLOR_RED\",\"COLOR_BLUE\",7,-3]}" },
    /* null is "not set", for every kind of field */
    { SCALARS,
      "{\"i32\":null,\"s\":null,\"child\":null,\"rS\":null,\"color\":null,\"optI32\":null,"
      "\"by\":null,\"db\":null}",
      0, "{}" },
    { SCALARS, "{\"b\":false,\"s\":\"\",\"by\":\"\",\"i64\":\"0\",\"color\":\"COLOR_UNSPECIFIED\"}",
      0, "{}" },
    { SCALARS, "{\"s\":\"h\\u00e9 \\ud83d\\ude00\",\"rS\":[\"\",\"\xe2\x82\xac\"]}", 0,
      "{\"s\":\"h\xc3\xa9 \xf0\x9f\x98\x80\",\"rS\":[\"\",\"\xe2\x82\xac\"]}" },
    { SCALARS, " {\n} ", 0, "{}" },
    /* maps of every key kind */
    { MAPS,
      "{\"labels\":{\"a\":\"1\",\"b\":2},\"by_id\":{\"-5\":{\"i32\":1},\"7\":{}},"
      "\"flags\":{\"false\":\"n\",\"true\":\"y\"},"
      "\"big\":{\"18446744073709551615\":\"COLOR_BLUE\",\"0\":0}}",
      0,
      "{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"byId\":{\"-5\":{\"i32\":1},\"7\":{}},"
      "\"flags\":{\"false\":\"n\",\"true\":\"y\"},"
      "\"big\":{\"18446744073709551615\":\"COLOR_BLUE\",\"0\":\"COLOR_UNSPECIFIED\"}}" },
    { MAPS, "{\"labels\":{},\"pairs\":[{\"key\":\"k\"}]}", 0, "{\"pairs\":[{\"key\":\"k\"}]}" },
    /* oneofs: one member, even at its default; null members do not count */
    { &gavel__auctions__v1__quote_services_request__descriptor,
      "{\"lot_id\":\"9\",\"services\":[\"photo\"]}", 0,
      "{\"lotId\":\"9\",\"services\":[\"photo\"]}" },
    { &gavel__auctions__v1__quote_services_request__descriptor,
      "{\"lotId\":null,\"attributes\":{}}", 0, "{\"attributes\":{}}" },
    { &gavel__bids__v1__lot_update__descriptor, "{\"snapshot\":{}}", 0, "{\"snapshot\":{}}" },
    { &gavel__auctions__v1__create_price_rule_request__descriptor,
      "{\"rule\":{\"coefficientPermille\":0,\"isActive\":true}}", 0,
      "{\"rule\":{\"coefficientPermille\":0,\"isActive\":true}}" },
    { &gavel__notifications__v1__subscription__descriptor,
      "{\"segment\":\"\",\"kinds\":[]}", 0, "{\"segment\":\"\"}" },
    /* a bid, both spellings */
    { &gavel__bids__v1__place_bid_request__descriptor,
      "{\"lot_id\":42,\"amount\":{\"currency\":\"RUB\",\"units\":10500},"
      "\"idempotencyKey\":\"k-1\"}",
      0,
      "{\"lotId\":\"42\",\"amount\":{\"currency\":\"RUB\",\"units\":\"10500\"},"
      "\"idempotencyKey\":\"k-1\"}" },
};

static void run_case(const decode_case *c)
{
    pbjt_counts counts = { 0 };
    ProtobufCAllocator alloc = PBJT_COUNTING(&counts);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char err[512];
    int rc = pbj_decode(c->desc, c->in, strlen(c->in), NULL, &alloc, &m, err, sizeof err);
    if (rc != c->want_rc)
        fail_msg("%s\n  rc %d, want %d: %s", c->in, rc, c->want_rc, rc ? err : "");
    if (rc < 0) {
        assert_null(m);
        if (strcmp(err, c->want) != 0)
            fail_msg("%s\n  got  %s\n  want %s", c->in, err, c->want);
        if (counts.live != 0)
            fail_msg("%s\n  %ld allocations left after refusal", c->in, counts.live);
        return;
    }
    json_t *j = NULL;
    assert_int_equal(pbj_encode(m, NULL, &j, err, sizeof err), 0);
    char *got = json_dumps(j, JSON_COMPACT);
    if (strcmp(got, c->want) != 0)
        fail_msg("%s\n  got  %s\n  want %s", c->in, got, c->want);
    free(got);
    json_decref(j);
    protobuf_c_message_free_unpacked(m, &alloc);
    if (counts.live != 0)
        fail_msg("%s\n  %ld allocations left after free", c->in, counts.live);
}

static void refusals_name_the_place_and_leave_nothing_allocated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        run_case(&refusals[i]);
}

static void accepted_inputs_decode_to_their_canonical_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        run_case(&accepted[i]);
}

/* {"child":{"child":...}} n levels deep; caller frees. */
static char *nested_children(int n)
{
    size_t len = (size_t)n * 10 + 8;
    char *s = xmalloc(len);
    size_t k = 0;
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, len - k, "{\"child\":");
    k += (size_t)snprintf(s + k, len - k, "{}");
    for (int i = 0; i < n; i++)
        s[k++] = '}';
    s[k] = '\0';
    return s;
}

static void depth_is_limited_in_text_and_in_trees(void **state)
{
    (void)state;
    char err[512];
    ProtobufCMessage *m;
    char *ok = nested_children(31), *deep = nested_children(32);
    assert_int_equal(pbj_decode(SCALARS, ok, strlen(ok), NULL, NULL, &m, err, sizeof err), 0);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(pbj_decode(SCALARS, deep, strlen(deep), NULL, NULL, &m, err, sizeof err),
                     PBJ_E_LIMIT);
    assert_string_equal(err, "nested deeper than 32 levels at line 1, column 289 (position 288)");
    /* the same tree handed over built: the walk refuses it, naming the place */
    json_t *j = json_loads(deep, 0, NULL);
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), PBJ_E_LIMIT);
    assert_null(m);
    assert_true(strncmp(err, "child.child.child.", 18) == 0);
    assert_non_null(strstr(err, ".child: nested deeper than 32 levels"));
    pbj_opts deeper = { .max_depth = 40 };
    assert_int_equal(pbj_decode_json(SCALARS, j, &deeper, NULL, &m, err, sizeof err), 0);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);
    free(ok);
    free(deep);
    /* arrays count as levels too, also inside fields the walk would skip */
    pbj_opts two = { .max_depth = 2, .flags = PBJ_IGNORE_UNKNOWN };
    const char *arrays = "{\"x\":[[1]]}";
    assert_int_equal(pbj_decode(SCALARS, arrays, strlen(arrays), &two, NULL, &m, err, sizeof err),
                     PBJ_E_LIMIT);
    assert_string_equal(err, "nested deeper than 2 levels at line 1, column 7 (position 6)");
    const char *nested = "{\"rChild\":[{}]}";
    j = json_loads(nested, 0, NULL);
    two.flags = 0;
    assert_int_equal(pbj_decode_json(SCALARS, j, &two, NULL, &m, err, sizeof err), PBJ_E_LIMIT);
    assert_string_equal(err, "rChild[0]: nested deeper than 2 levels");
    json_decref(j);
}

static void element_count_is_limited_in_text_and_in_trees(void **state)
{
    (void)state;
    enum { N = 100000 };
    size_t len = 16 + (size_t)N * 2;
    char *text = xmalloc(len);
    size_t k = (size_t)snprintf(text, len, "{\"rI32\":[");
    for (int i = 0; i < N; i++) {
        text[k++] = '1';
        text[k++] = ',';
    }
    text[k - 1] = ']';
    text[k++] = '}';
    text[k] = '\0';
    char err[256];
    ProtobufCMessage *m;
    /* the root, the array and 100,000 items: one more than allowed */
    assert_int_equal(pbj_decode(SCALARS, text, k, NULL, NULL, &m, err, sizeof err), PBJ_E_LIMIT);
    assert_string_equal(err, "more than 100000 elements at line 1, column 200005 "
                             "(position 200004)");
    json_t *j = json_loads(text, 0, NULL);
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), PBJ_E_LIMIT);
    assert_string_equal(err, "rI32[99998]: more than 100000 elements");
    pbj_opts more = { .max_elements = N + 2 };
    assert_int_equal(pbj_decode(SCALARS, text, k, &more, NULL, &m, err, sizeof err), 0);
    assert_int_equal(((pbjt_scalars *)m)->n_r_i32, N);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);
    free(text);
    /* map values and object members count the same way */
    pbj_opts three = { .max_elements = 3 };
    const char *map = "{\"labels\":{\"a\":1,\"b\":2}}";
    assert_int_equal(pbj_decode(MAPS, map, strlen(map), &three, NULL, &m, err, sizeof err),
                     PBJ_E_LIMIT);
    assert_string_equal(err, "more than 3 elements at line 1, column 17 (position 16)");
    j = json_loads(map, 0, NULL);
    assert_int_equal(pbj_decode_json(MAPS, j, &three, NULL, &m, err, sizeof err), PBJ_E_LIMIT);
    assert_string_equal(err, "labels[\"b\"]: more than 3 elements");
    json_decref(j);
}

static void unknown_fields_are_skipped_on_request(void **state)
{
    (void)state;
    const char *in = "{\"lotId\":\"7\",\"colour\":{\"deep\":[1,2]},\"idempotency_key\":\"k\"}";
    pbj_opts o = { .flags = PBJ_IGNORE_UNKNOWN };
    ProtobufCMessage *m;
    char err[256];
    assert_int_equal(pbj_decode(&gavel__bids__v1__place_bid_request__descriptor, in, strlen(in),
                                &o, NULL, &m, err, sizeof err),
                     0);
    Gavel__Bids__V1__PlaceBidRequest *req = (Gavel__Bids__V1__PlaceBidRequest *)m;
    assert_int_equal(req->lot_id, 7);
    assert_string_equal(req->idempotency_key, "k");
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Trees a caller builds need not have passed jansson's checks. */
static void trees_built_by_hand_are_checked_like_text(void **state)
{
    (void)state;
    ProtobufCMessage *m = NULL;
    char err[256];
    json_t *j = json_object();
    json_object_set_new(j, "s", json_stringn_nocheck("a\xff", 2));
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), PBJ_E_TYPE);
    assert_string_equal(err, "s: string is not UTF-8");
    json_object_set_new(j, "s", json_stringn("a\0b", 3));
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), PBJ_E_TYPE);
    assert_string_equal(err, "s: string holds a NUL character");
    json_object_clear(j);
    json_object_set_new(j, "color", json_stringn("COLOR_RED\0x", 11));
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), PBJ_E_TYPE);
    assert_string_equal(err, "color: unknown value \"COLOR_RED\\x00x\" for enum pbjt.Color");
    json_object_clear(j);
    json_object_set_new(j, "db", json_real(2.5));
    json_object_set_new(j, "i64", json_integer(INT64_MIN));
    assert_int_equal(pbj_decode_json(SCALARS, j, NULL, NULL, &m, err, sizeof err), 0);
    assert_true(((pbjt_scalars *)m)->db == 2.5);
    assert_true(((pbjt_scalars *)m)->i64 == INT64_MIN);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);
    /* a message buffer of any size gets a terminated, clipped message */
    char tiny[8];
    const char *in = "{\"colour\":1}";
    assert_int_equal(pbj_decode(SCALARS, in, strlen(in), NULL, NULL, &m, tiny, sizeof tiny),
                     PBJ_E_FIELD);
    assert_string_equal(tiny, "colour:");
    assert_int_equal(pbj_decode(SCALARS, in, strlen(in), NULL, NULL, &m, NULL, 0), PBJ_E_FIELD);
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

static void messages_decode_into_a_per_call_arena(void **state)
{
    (void)state;
    arena *a = arena_new();
    ProtobufCAllocator alloc = { .alloc = arena_pb_alloc, .free = arena_pb_free,
                                 .allocator_data = a };
    const char *in = "{\"lot\":{\"title\":\"Camry\",\"photoUrls\":[\"https://a\"],"
                     "\"condition\":{\"damages\":[{\"location\":\"hood\"}]}}}";
    ProtobufCMessage *m;
    char err[256];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pbj_decode(LOT_REQ, in, strlen(in), NULL, &alloc, &m, err, sizeof err),
                         0);
        Gavel__Auctions__V1__CreateLotRequest *req = (Gavel__Auctions__V1__CreateLotRequest *)m;
        assert_string_equal(req->lot->title, "Camry");
        assert_string_equal(req->lot->condition->damages[0]->location, "hood");
        assert_string_equal(req->lot->make, ""); /* unset strings keep the shared default */
        arena_reset(a); /* what the rpc runtime does when a call ends */
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusals_name_the_place_and_leave_nothing_allocated),
        cmocka_unit_test(accepted_inputs_decode_to_their_canonical_form),
        cmocka_unit_test(depth_is_limited_in_text_and_in_trees),
        cmocka_unit_test(element_count_is_limited_in_text_and_in_trees),
        cmocka_unit_test(unknown_fields_are_skipped_on_request),
        cmocka_unit_test(trees_built_by_hand_are_checked_like_text),
        cmocka_unit_test(messages_decode_into_a_per_call_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
