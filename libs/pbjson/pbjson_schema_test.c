/*
 * JSON Schema for /openapi.json: a Lot reaches exactly the components it
 * uses, each scalar kind has the type the encoder writes, enums list their
 * names, a second message adds only what is new and rewrites nothing,
 * recursion ends, maps are objects (their entries are no components), and
 * well-known types are inline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "pbjson_test_util.h"

static void assert_json(const json_t *j, const char *want)
{
    char *got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got ? got : "(null)", want);
    free(got);
}

static const json_t *property(const json_t *components, const char *message, const char *name)
{
    const json_t *p = json_object_get(
        json_object_get(json_object_get(components, message), "properties"), name);
    if (p == NULL)
        fail_msg("%s has no property %s", message, name);
    return p;
}

static void a_lot_reaches_exactly_the_components_it_uses(void **state)
{
    (void)state;
    json_t *components = json_object();
    json_t *ref = pbj_schema_ref(&gavel__auctions__v1__lot__descriptor, 0, components);
    assert_json(ref, "{\"$ref\":\"#/components/schemas/gavel.auctions.v1.Lot\"}");
    json_decref(ref);
    static const char *const want[] = {
        "gavel.auctions.v1.Lot",          "gavel.auctions.v1.ConditionReport",
        "gavel.auctions.v1.DamagePoint",  "gavel.auctions.v1.DamageKind",
        "gavel.auctions.v1.DamageSeverity", "gavel.auctions.v1.TyreReport",
        "gavel.auctions.v1.TyrePosition", "gavel.auctions.v1.TyreSeason",
        "gavel.auctions.v1.DocumentCheck", "gavel.auctions.v1.DocumentKind",
        "gavel.common.v1.Money",          "gavel.auctions.v1.IncrementBand",
        "gavel.auctions.v1.LotState",     "gavel.auctions.v1.LotResult",
    };
    assert_int_equal(json_object_size(components), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (json_object_get(components, want[i]) == NULL)
            fail_msg("no component %s", want[i]);

    const char *lot = "gavel.auctions.v1.Lot";
    assert_json(property(components, lot, "id"), "{\"type\":\"string\",\"format\":\"int64\"}");
    assert_json(property(components, lot, "year"), "{\"type\":\"integer\",\"format\":\"int32\"}");
    assert_json(property(components, lot, "hasReserve"), "{\"type\":\"boolean\"}");
    assert_json(property(components, lot, "photoUrls"),
                "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}");
    assert_json(property(components, lot, "condition"),
                "{\"$ref\":\"#/components/schemas/gavel.auctions.v1.ConditionReport\"}");
    assert_json(property(components, lot, "state"),
                "{\"$ref\":\"#/components/schemas/gavel.auctions.v1.LotState\"}");
    assert_json(property(components, lot, "increments"),
                "{\"type\":\"array\",\"items\":"
                "{\"$ref\":\"#/components/schemas/gavel.auctions.v1.IncrementBand\"}}");
    assert_json(json_object_get(components, "gavel.common.v1.Money"),
                "{\"type\":\"object\",\"properties\":{\"currency\":{\"type\":\"string\"},"
                "\"units\":{\"type\":\"string\",\"format\":\"int64\"}}}");
    assert_json(json_object_get(components, "gavel.auctions.v1.DamageSeverity"),
                "{\"type\":\"string\",\"enum\":[\"DAMAGE_SEVERITY_UNSPECIFIED\","
                "\"DAMAGE_SEVERITY_MINOR\",\"DAMAGE_SEVERITY_MODERATE\","
                "\"DAMAGE_SEVERITY_SEVERE\"]}");

    /* a second message adds its own types and leaves the shared ones alone */
    json_t *money = json_object_get(components, "gavel.common.v1.Money");
    ref = pbj_schema_ref(&gavel__bids__v1__place_bid_response__descriptor, 0, components);
    json_decref(ref);
    assert_ptr_equal(json_object_get(components, "gavel.common.v1.Money"), money);
    assert_non_null(json_object_get(components, "gavel.bids.v1.Bid"));
    assert_non_null(json_object_get(components, "gavel.bids.v1.LotState"));
    assert_json(property(components, "gavel.bids.v1.Bid", "hash"),
                "{\"type\":\"string\",\"contentEncoding\":\"base64\"}");
    json_decref(components);

    components = json_object();
    json_decref(pbj_schema_ref(&gavel__auctions__v1__lot__descriptor, PBJ_ORIGINAL_NAMES,
                               components));
    property(components, lot, "seller_id");
    json_decref(components);

    json_t *not_an_object = json_array();
    assert_null(pbj_schema_ref(&gavel__auctions__v1__lot__descriptor, 0, not_an_object));
    assert_null(pbj_schema_ref(&pbjt_scalars_desc, 0, not_an_object));
    json_decref(not_an_object);
}

static void every_scalar_kind_has_the_encoders_type(void **state)
{
    (void)state;
    json_t *components = json_object();
    json_decref(pbj_schema_ref(&pbjt_scalars_desc, 0, components));
    assert_int_equal(json_object_size(components), 2); /* recursion ends: Scalars, Color */
    const char *m = "pbjt.Scalars";
    static const struct {
        const char *name, *want;
    } cases[] = {
        { "i32", "{\"type\":\"integer\",\"format\":\"int32\"}" },
        { "sf32", "{\"type\":\"integer\",\"format\":\"int32\"}" },
        { "u32", "{\"type\":\"integer\",\"format\":\"uint32\",\"minimum\":0,"
                 "\"maximum\":4294967295}" },
        { "i64", "{\"type\":\"string\",\"format\":\"int64\"}" },
        { "s64", "{\"type\":\"string\",\"format\":\"int64\"}" },
        { "u64", "{\"type\":\"string\",\"format\":\"uint64\"}" },
        { "f64", "{\"type\":\"string\",\"format\":\"uint64\"}" },
        { "fl", "{\"type\":\"number\",\"format\":\"float\"}" },
        { "db", "{\"type\":\"number\",\"format\":\"double\"}" },
        { "b", "{\"type\":\"boolean\"}" },
        { "s", "{\"type\":\"string\"}" },
        { "by", "{\"type\":\"string\",\"contentEncoding\":\"base64\"}" },
        { "color", "{\"$ref\":\"#/components/schemas/pbjt.Color\"}" },
        { "child", "{\"$ref\":\"#/components/schemas/pbjt.Scalars\"}" },
        { "rColor", "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/pbjt.Color\"}}" },
        { "optI32", "{\"type\":\"integer\",\"format\":\"int32\"}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_json(property(components, m, cases[i].name), cases[i].want);
    assert_json(json_object_get(components, "pbjt.Color"),
                "{\"type\":\"string\",\"enum\":[\"COLOR_UNSPECIFIED\",\"COLOR_RED\","
                "\"COLOR_BLUE\"]}");
    json_decref(components);
}

static void maps_are_objects_and_well_known_types_inline(void **state)
{
    (void)state;
    json_t *components = json_object();
    json_decref(pbj_schema_ref(&pbjt_maps_desc, 0, components));
    assert_json(property(components, "pbjt.Maps", "labels"),
                "{\"type\":\"object\",\"additionalProperties\":"
                "{\"type\":\"string\",\"format\":\"int64\"}}");
    assert_json(property(components, "pbjt.Maps", "byId"),
                "{\"type\":\"object\",\"additionalProperties\":"
                "{\"$ref\":\"#/components/schemas/pbjt.Scalars\"}}");
    assert_json(property(components, "pbjt.Maps", "pairs"),
                "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/pbjt.Pair\"}}");
    assert_null(json_object_get(components, "pbjt.Maps.LabelsEntry"));
    assert_non_null(json_object_get(components, "pbjt.Pair"));
    json_decref(components);

    components = json_object();
    json_decref(pbj_schema_ref(&pbjt_wkt_desc, 0, components));
    assert_int_equal(json_object_size(components), 1);
    const char *w = "pbjt.Wkt";
    assert_json(property(components, w, "ts"), "{\"type\":\"string\",\"format\":\"date-time\"}");
    assert_json(property(components, w, "dur"),
                "{\"type\":\"string\",\"pattern\":\"^-?[0-9]+(\\\\.[0-9]{1,9})?s$\"}");
    assert_json(property(components, w, "mask"), "{\"type\":\"string\"}");
    assert_json(property(components, w, "i64"),
                "{\"type\":[\"string\",\"null\"],\"format\":\"int64\"}");
    assert_json(property(components, w, "b"), "{\"type\":[\"boolean\",\"null\"]}");
    assert_json(property(components, w, "mTs"),
                "{\"type\":\"object\",\"additionalProperties\":"
                "{\"type\":\"string\",\"format\":\"date-time\"}}");
    json_t *top = pbj_schema_ref(&pbjt_duration_desc, 0, components);
    assert_json(top, "{\"type\":\"string\",\"pattern\":\"^-?[0-9]+(\\\\.[0-9]{1,9})?s$\"}");
    json_decref(top);
    json_decref(components);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_lot_reaches_exactly_the_components_it_uses),
        cmocka_unit_test(every_scalar_kind_has_the_encoders_type),
        cmocka_unit_test(maps_are_objects_and_well_known_types_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
