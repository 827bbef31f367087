/*
 * Well-known types over the hand-written google.protobuf descriptors of
 * pbjson_test_util.h: Timestamp and Duration at their range edges with 0,
 * 3, 6 and 9 fractional digits out, offsets in, every malformed form
 * refused; the wrappers as their bare values (written even at the
 * default, null for unset); FieldMask paths both ways; repeated and map
 * values of a well-known type; a top-level Timestamp; and messages merely
 * named like a well-known type mapping as ordinary messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gavel/common/v1/common.pb-c.h"
#include "pbjson_test_util.h"

typedef struct {
    const char *in;
    int want_rc;
    const char *want; /* canonical JSON when accepted, else the message */
} wkt_case;

static const wkt_case cases[] = {
    { "{\"ts\":\"1972-01-01T10:00:20.021Z\"}", 0, "{\"ts\":\"1972-01-01T10:00:20.021Z\"}" },
    { "{\"ts\":\"1970-01-01T00:00:00Z\"}", 0, "{\"ts\":\"1970-01-01T00:00:00Z\"}" },
    { "{\"ts\":\"2024-05-01T12:00:00.5+02:00\"}", 0, "{\"ts\":\"2024-05-01T10:00:00.500Z\"}" },
    { "{\"ts\":\"2024-01-01T00:00:00.123456789-00:30\"}", 0,
      "{\"ts\":\"2024-01-01T00:30:00.123456789Z\"}" },
    { "{\"ts\":\"2024-02-29t00:00:00.000001z\"}", 0, "{\"ts\":\"2024-02-29T00:00:00.000001Z\"}" },
    { "{\"ts\":\"1969-12-31T23:59:59.999Z\"}", 0, "{\"ts\":\"1969-12-31T23:59:59.999Z\"}" },
    { "{\"ts\":\"0001-01-01T00:00:00Z\"}", 0, "{\"ts\":\"0001-01-01T00:00:00Z\"}" },
    { "{\"ts\":\"9999-12-31T23:59:59.999999999Z\"}", 0,
      "{\"ts\":\"9999-12-31T23:59:59.999999999Z\"}" },
    { "{\"ts\":\"1972-01-01 10:00:20Z\"}", PBJ_E_TYPE,
      "ts: \"1972-01-01 10:00:20Z\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2023-02-29T00:00:00Z\"}", PBJ_E_TYPE,
      "ts: \"2023-02-29T00:00:00Z\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:00\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:00\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:60Z\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:60Z\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:00.1234567891Z\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:00.1234567891Z\" is not a time such as "
      "\"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:00.Z\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:00.Z\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:00+0100\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:00+0100\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"2024-01-01T00:00:00Zjunk\"}", PBJ_E_TYPE,
      "ts: \"2024-01-01T00:00:00Zjunk\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"0000-12-31T23:59:59Z\"}", PBJ_E_TYPE,
      "ts: \"0000-12-31T23:59:59Z\" is not a time such as \"2024-05-01T10:00:00Z\"" },
    { "{\"ts\":\"0001-01-01T00:00:00+00:01\"}", PBJ_E_RANGE,
      "ts: \"0001-01-01T00:00:00+00:01\" is out of range for google.protobuf.Timestamp" },
    { "{\"ts\":\"9999-12-31T23:59:59-00:01\"}", PBJ_E_RANGE,
      "ts: \"9999-12-31T23:59:59-00:01\" is out of range for google.protobuf.Timestamp" },
    { "{\"ts\":1}", PBJ_E_TYPE,
      "ts: expected an RFC 3339 string for google.protobuf.Timestamp" },

    { "{\"dur\":\"1.5s\"}", 0, "{\"dur\":\"1.500s\"}" },
    { "{\"dur\":\"-0.5s\"}", 0, "{\"dur\":\"-0.500s\"}" },
    { "{\"dur\":\"0s\"}", 0, "{\"dur\":\"0s\"}" },
    { "{\"dur\":\"-0s\"}", 0, "{\"dur\":\"0s\"}" },
    { "{\"dur\":\"3s\"}", 0, "{\"dur\":\"3s\"}" },
    { "{\"dur\":\"1.000000001s\"}", 0, "{\"dur\":\"1.000000001s\"}" },
    { "{\"dur\":\"0.000001s\"}", 0, "{\"dur\":\"0.000001s\"}" },
    { "{\"dur\":\"315576000000s\"}", 0, "{\"dur\":\"315576000000s\"}" },
    { "{\"dur\":\"-315576000000.999999999s\"}", 0,
      "{\"dur\":\"-315576000000.999999999s\"}" },
    { "{\"dur\":\"315576000001s\"}", PBJ_E_RANGE,
      "dur: \"315576000001s\" is out of range for google.protobuf.Duration" },
    { "{\"dur\":\"99999999999999999999999s\"}", PBJ_E_RANGE,
      "dur: \"99999999999999999999999s\" is out of range for google.protobuf.Duration" },
    { "{\"dur\":\"1.5\"}", PBJ_E_TYPE, "dur: \"1.5\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":\"s\"}", PBJ_E_TYPE, "dur: \"s\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":\"-s\"}", PBJ_E_TYPE, "dur: \"-s\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":\"1.s\"}", PBJ_E_TYPE, "dur: \"1.s\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":\"+1s\"}", PBJ_E_TYPE, "dur: \"+1s\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":\"1.0000000001s\"}", PBJ_E_TYPE,
      "dur: \"1.0000000001s\" is not a duration such as \"1.5s\"" },
    { "{\"dur\":1.5}", PBJ_E_TYPE, "dur: expected a duration string for google.protobuf.Duration" },

    { "{\"mask\":\"user.displayName,id\"}", 0, "{\"mask\":\"user.displayName,id\"}" },
    { "{\"mask\":\"\"}", 0, "{\"mask\":\"\"}" },
    { "{\"mask\":\"a,,b,\"}", 0, "{\"mask\":\"a,b\"}" },
    { "{\"mask\":\"a,display_name\"}", PBJ_E_TYPE,
      "mask: field mask \"a,display_name\" has a \"_\": paths are lowerCamelCase" },
    { "{\"mask\":\"A.b1\"}", 0, "{\"mask\":\"A.b1\"}" },
    { "{\"mask\":5}", PBJ_E_TYPE, "mask: expected a string for google.protobuf.FieldMask" },

    /* wrappers: the bare value, written even at its default */
    { "{\"d\":1.5,\"f\":\"NaN\",\"i64\":\"-5\",\"u64\":\"18446744073709551615\",\"i32\":0,"
      "\"u32\":7,\"b\":false,\"s\":\"\",\"by\":\"Zg\"}",
      0,
      "{\"d\":1.5,\"f\":\"NaN\",\"i64\":\"-5\",\"u64\":\"18446744073709551615\",\"i32\":0,"
      "\"u32\":7,\"b\":false,\"s\":\"\",\"by\":\"Zg==\"}" },
    { "{\"ts\":null,\"dur\":null,\"mask\":null,\"d\":null,\"s\":null,\"by\":null}", 0, "{}" },
    { "{\"i32\":\"x\"}", PBJ_E_TYPE, "i32: \"x\" is not an integer" },
    { "{\"u32\":-1}", PBJ_E_RANGE, "u32: -1 is out of range for uint32" },
    { "{\"b\":\"true\"}", PBJ_E_TYPE, "b: expected true or false for bool" },
    { "{\"s\":1}", PBJ_E_TYPE, "s: expected a string" },
    { "{\"f\":1e39}", PBJ_E_RANGE, "f: 1e+39 is out of range for float" },
    { "{\"i64\":{\"value\":\"1\"}}", PBJ_E_TYPE, "i64: expected a string or number for int64" },

    /* well-known types inside lists and maps */
    { "{\"rTs\":[\"1970-01-01T00:00:01Z\",\"1970-01-01T00:00:00.000000001Z\"]}", 0,
      "{\"rTs\":[\"1970-01-01T00:00:01Z\",\"1970-01-01T00:00:00.000000001Z\"]}" },
    { "{\"rTs\":[null]}", PBJ_E_TYPE, "rTs[0]: null is not allowed in a repeated field" },
    { "{\"m_ts\":{\"a\":\"1970-01-01T00:00:00Z\",\"b\":\"2000-01-01T00:00:00Z\"}}", 0,
      "{\"mTs\":{\"a\":\"1970-01-01T00:00:00Z\",\"b\":\"2000-01-01T00:00:00Z\"}}" },
    { "{\"mTs\":{\"a\":\"yesterday\"}}", PBJ_E_TYPE,
      "mTs[\"a\"]: \"yesterday\" is not a time such as \"2024-05-01T10:00:00Z\"" },
};

static void well_known_types_decode_and_encode_in_their_json_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wkt_case *c = &cases[i];
        pbjt_counts counts = { 0 };
        ProtobufCAllocator alloc = PBJT_COUNTING(&counts);
        ProtobufCMessage *m;
        char err[256];
        int rc = pbj_decode(&pbjt_wkt_desc, c->in, strlen(c->in), NULL, &alloc, &m, err,
                            sizeof err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d, want %d: %s", c->in, rc, c->want_rc, rc ? err : "");
        if (rc < 0) {
            if (strcmp(err, c->want) != 0)
                fail_msg("%s\n  got  %s\n  want %s", c->in, err, c->want);
            assert_int_equal(counts.live, 0);
            continue;
        }
        json_t *j;
        assert_int_equal(pbj_encode(m, NULL, &j, err, sizeof err), 0);
        char *got = json_dumps(j, JSON_COMPACT);
        if (strcmp(got, c->want) != 0)
            fail_msg("%s\n  got  %s\n  want %s", c->in, got, c->want);
        free(got);
        json_decref(j);
        protobuf_c_message_free_unpacked(m, &alloc);
        assert_int_equal(counts.live, 0);
    }
}

static void timestamps_seconds_and_nanos_are_what_the_text_says(void **state)
{
    (void)state;
    const char *in = "{\"ts\":\"2024-05-01T12:00:00.5+02:00\",\"dur\":\"-1.25s\","
                     "\"mask\":\"a.fooBar,b\"}";
    ProtobufCMessage *m;
    char err[128];
    assert_int_equal(pbj_decode(&pbjt_wkt_desc, in, strlen(in), NULL, NULL, &m, err, sizeof err),
                     0);
    pbjt_wkt *w = (pbjt_wkt *)m;
    assert_int_equal(w->ts->seconds, 1714557600);
    assert_int_equal(w->ts->nanos, 500000000);
    assert_int_equal(w->dur->seconds, -1);
    assert_int_equal(w->dur->nanos, -250000000);
    assert_int_equal(w->mask->n_paths, 2);
    assert_string_equal(w->mask->paths[0], "a.foo_bar");
    assert_string_equal(w->mask->paths[1], "b");
    protobuf_c_message_free_unpacked(m, NULL);
}

static void encode_refuses_what_json_cannot_carry(void **state)
{
    (void)state;
    static const struct {
        int64_t seconds;
        int32_t nanos;
        bool is_duration;
        const char *want;
    } bad[] = {
        { 253402300800, 0, false,
          "ts: seconds 253402300800, nanos 0 is out of range for google.protobuf.Timestamp" },
        { -62135596801, 0, false,
          "ts: seconds -62135596801, nanos 0 is out of range for google.protobuf.Timestamp" },
        { 0, -1, false, "ts: seconds 0, nanos -1 is out of range for google.protobuf.Timestamp" },
        { 0, 1000000000, false,
          "ts: seconds 0, nanos 1000000000 is out of range for google.protobuf.Timestamp" },
        { 1, -1, true, "dur: seconds 1, nanos -1 is out of range for google.protobuf.Duration" },
        { -1, 1, true, "dur: seconds -1, nanos 1 is out of range for google.protobuf.Duration" },
        { 315576000001, 0, true,
          "dur: seconds 315576000001, nanos 0 is out of range for google.protobuf.Duration" },
    };
    char err[160];
    json_t *j;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pbjt_wkt w;
        pbjt_timestamp t;
        protobuf_c_message_init(&pbjt_wkt_desc, &w);
        protobuf_c_message_init(bad[i].is_duration ? &pbjt_duration_desc : &pbjt_timestamp_desc,
                                &t);
        t.seconds = bad[i].seconds;
        t.nanos = bad[i].nanos;
        if (bad[i].is_duration)
            w.dur = &t;
        else
            w.ts = &t;
        assert_int_equal(pbj_encode(&w.base, NULL, &j, err, sizeof err), PBJ_E_RANGE);
        assert_string_equal(err, bad[i].want);
    }
    static const char *const paths[] = { "displayName", "a__b", "a_1", "a_", "a.B" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        pbjt_wkt w;
        pbjt_field_mask fm;
        protobuf_c_message_init(&pbjt_wkt_desc, &w);
        protobuf_c_message_init(&pbjt_field_mask_desc, &fm);
        char *list[] = { "ok_path", (char *)paths[i] };
        fm.n_paths = 2, fm.paths = list;
        w.mask = &fm;
        assert_int_equal(pbj_encode(&w.base, NULL, &j, err, sizeof err), PBJ_E_TYPE);
        char want[160];
        snprintf(want, sizeof want,
                 "mask: field mask path \"%s\" cannot be written in JSON (lower snake_case only)",
                 paths[i]);
        assert_string_equal(err, want);
    }
}

/* Shaped like a FieldMask, named like a Timestamp: not a well-known type. */
PBJT_MESSAGE(fake_timestamp_desc, pbjt_field_mask, "google.protobuf.Timestamp", "Timestamp",
             "google.protobuf", pbjt_field_mask_fields, pbjt_sorted_1)

static void only_the_real_shapes_map_specially(void **state)
{
    (void)state;
    char err[128];
    json_t *j;
    pbjt_timestamp t;
    protobuf_c_message_init(&pbjt_timestamp_desc, &t);
    t.seconds = 1;
    assert_int_equal(pbj_encode(&t.base, NULL, &j, err, sizeof err), 0);
    assert_string_equal(json_string_value(j), "1970-01-01T00:00:01Z");
    json_decref(j);
    ProtobufCMessage *m;
    const char *top = "\"2024-01-01T00:00:00Z\"";
    assert_int_equal(
        pbj_decode(&pbjt_timestamp_desc, top, strlen(top), NULL, NULL, &m, err, sizeof err), 0);
    assert_int_equal(((pbjt_timestamp *)m)->seconds, 1704067200);
    protobuf_c_message_free_unpacked(m, NULL);

    pbjt_field_mask fake;
    protobuf_c_message_init(&fake_timestamp_desc, &fake);
    char *paths[] = { "a" };
    fake.n_paths = 1, fake.paths = paths;
    assert_int_equal(pbj_encode(&fake.base, NULL, &j, err, sizeof err), 0);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"paths\":[\"a\"]}");
    free(s);
    json_decref(j);

    Gavel__Common__V1__Timestamp ours = GAVEL__COMMON__V1__TIMESTAMP__INIT;
    ours.unix_micros = 5;
    assert_int_equal(pbj_encode(&ours.base, NULL, &j, err, sizeof err), 0);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"unixMicros\":\"5\"}");
    free(s);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_known_types_decode_and_encode_in_their_json_forms),
        cmocka_unit_test(timestamps_seconds_and_nanos_are_what_the_text_says),
        cmocka_unit_test(encode_refuses_what_json_cannot_carry),
        cmocka_unit_test(only_the_real_shapes_map_specially),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
