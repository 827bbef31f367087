/*
 * The catalog's DSL schema: it passes libs/dsl's check, names every
 * gavel.auctions.v1.Lot field once, sorts states in the lifecycle's order,
 * and gives ListLots the statements, messages and cursors it gave before
 * the DSL became a library — cursors handed out then still continue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auctions.h"
#include "dsl/dsl_test_util.h"

#define STATE_RANK                                                                        \
    "array_position('{draft,in_review,approved,rejected,scheduled,live,closed,cancelled}'" \
    "::text[], l.state)"

static void catalog_schema_passes_the_check(void **state)
{
    (void)state;
    char err[256];
    if (dsl_schema_check(&dsl_catalog_schema, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void field_table_names_every_lot_field_once(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &gavel__auctions__v1__lot__descriptor;
    const dsl_field *fields = dsl_catalog_schema.fields;
    int rows = 0;
    for (int i = 0; fields[i].name != NULL; i++, rows++)
        assert_non_null(protobuf_c_message_descriptor_get_field_by_name(d,
                                                                         fields[i].reply_field));
    assert_int_equal(rows, (int)d->n_fields);
    for (unsigned f = 0; f < d->n_fields; f++) {
        int named = 0;
        for (int i = 0; fields[i].name != NULL; i++)
            named += strcmp(fields[i].reply_field, d->fields[f].name) == 0;
        if (named != 1)
            fail_msg("Lot.%s is named %d times", d->fields[f].name, named);
    }
}

static void states_sort_in_the_lifecycles_order(void **state)
{
    (void)state;
    const dsl_field *f = NULL;
    for (int i = 0; dsl_catalog_schema.fields[i].name != NULL; i++)
        if (dsl_catalog_schema.fields[i].type == DSL_ENUM)
            f = &dsl_catalog_schema.fields[i];
    assert_non_null(f);
    assert_string_equal(f->name, "state");
    int n = 0;
    for (; f->names[n] != NULL; n++)
        assert_string_equal(f->names[n], lot_state_text((Gavel__Auctions__V1__LotState)(n + 1)));
    assert_int_equal(n, GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CANCELLED);
}

static void the_seed_example_and_a_state_order_build_their_statements(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *sql;
    } cases[] = {
        { .in = "[[\"fields\",\"id,title,start_time\"],[\"eq\",\"city_id\",\"671\"],"
                "[\"gt\",\"start_time\",\"now() - interval 1 minute\"],"
                "[\"order\",\"start_time desc\"],[\"limit\",\"10\"]]",
          .sql = "SELECT l.id, coalesce(l.starts_at_us, 9223372036854775807), l.id"
                 " FROM lots l WHERE (true) AND l.city_id = $1::bigint"
                 " AND l.starts_at_us > $2::bigint ORDER BY coalesce(l.starts_at_us, "
                 "9223372036854775807) DESC, l.id DESC LIMIT $3" },
        { .in = "[[\"order\",\"state DESC, mileage_km\"],[\"eq\",\"region\",\"Kazan\"]]",
          .sql = "SELECT l.id, " STATE_RANK ", l.mileage_km, l.id FROM lots l WHERE (true)"
                 " AND l.region = $1::text ORDER BY " STATE_RANK " DESC, l.mileage_km ASC,"
                 " l.id ASC LIMIT $2" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = test_parse_ok(&dsl_catalog_schema, cases[i].in, TEST_NOW);
        dsl_sql s;
        dsl_build_sql(q, "l.id", NULL, 0, NULL, &s);
        if (strcmp(s.sql, cases[i].sql) != 0)
            fail_msg("%s:\n got  %s\n want %s", cases[i].in, s.sql, cases[i].sql);
        test_assert_sql_is_ours(&dsl_catalog_schema, s.sql);
        dsl_query_free(q);
    }
}

static void messages_quote_the_catalogs_own_fields(void **state)
{
    (void)state;
    static const test_refusal cases[] = {
        { "[[\"like\",\"region\",\"%1%\"]]", DSL_E_FIELD,
          "element 0: \"like\" applies only to title, description, make and model, not region" },
        { "[[\"eq\",\"state\",\"sold\"]]", DSL_E_VALUE,
          "element 0: state must be one of draft, in_review, approved, rejected, scheduled, "
          "live, closed, cancelled; got \"sold\"" },
        { "[[\"gte\",\"state\",\"live\"]]", DSL_E_FIELD,
          "element 0: \"gte\" does not apply to state (use eq, ne or in)" },
        { "[[\"eq\",\"increments\",1]]", DSL_E_FIELD,
          "element 0: field \"increments\" can be returned but not filtered on" },
        { "[[\"order\",\"id, year\"]]", DSL_E_FIELD,
          "element 0: \"id\" must be the last order key (it is unique)" },
        { "[[\"fields\",1]]", DSL_E_VALUE,
          "element 0: \"fields\" needs a string such as \"id,title\", got 1" },
        { "[[\"order\",1]]", DSL_E_VALUE,
          "element 0: \"order\" needs a string such as \"start_time desc\", got 1" },
        { "[[\"fields\"]]", DSL_E_ELEMENT,
          "element 0: \"fields\" takes 1 item after its name, as in [\"fields\", "
          "\"id,title,...\"]; got 0" },
        { "[[\"cursor\",\"zz\"]]", DSL_E_CURSOR,
          "element 0: malformed cursor; pass next_cursor exactly as ListLots returned it" },
        { "[[\"sort\",\"id\"]]", DSL_E_ELEMENT,
          "element 0: unknown operator \"sort\" (eq, ne, gt, gte, lt, lte, in, like, fields, "
          "order, limit, cursor)" },
        { "{}", DSL_E_JSON,
          "filter_json must be a JSON array of elements, such as [[\"eq\",\"city_id\",671]]" },
    };
    test_assert_refusals(&dsl_catalog_schema, cases, sizeof cases / sizeof cases[0]);
}

/* Cursors that ListLots handed out before the DSL moved into libs/dsl: the
 * same query still makes them, byte for byte, and still continues them. */
static void cursors_handed_out_before_the_library_still_continue(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *keys[3];
        const char *cursor;
    } cases[] = {
        { .in = "[[\"eq\",\"city_id\",5],[\"in\",\"state\",[\"live\",\"closed\"]],"
                "[\"gt\",\"end_time\",\"now() - interval 1 minute\"],"
                "[\"order\",\"make, state desc\"]]",
          .keys = { "Лада", "6", "42" },
          .cursor = "01000617618cb1e80003740008d09bd0b0d0b4d0b06900000000000000066900000000"
                    "0000002adef0a6d6829233e54887e63575220ed5" },
        { .in = "[[\"like\",\"title\",\"%camry%\"],[\"order\",\"start_time desc\"]]",
          .keys = { "9223372036854775807", "12" },
          .cursor = "01000617618cb1e80002697fffffffffffffff69000000000000000ce636a52653337e4"
                    "152232615ceb6c2d4" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsl_query *q = test_parse_ok(&dsl_catalog_schema, cases[i].in, TEST_NOW);
        assert_string_equal(dsl_cursor_encode(q, cases[i].keys), cases[i].cursor);
        char err[256];
        int rc;
        dsl_query *next = test_with_cursor(&dsl_catalog_schema, cases[i].in, cases[i].cursor,
                                           TEST_NOW + 60000000, err, &rc);
        if (rc != 0)
            fail_msg("%s: %s", cases[i].in, err);
        dsl_sql s;
        dsl_build_sql(next, "l.id", NULL, 0, NULL, &s);
        int nkeys = s.nkeys, last = s.nparams - 1;
        for (int k = 0; k < nkeys; k++)
            assert_string_equal(s.params[last - nkeys + k], cases[i].keys[k]);
        dsl_query_free(next);
        dsl_query_free(q);
    }
}

int main(void)
{
    log_init("catalog-fields-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalog_schema_passes_the_check),
        cmocka_unit_test(field_table_names_every_lot_field_once),
        cmocka_unit_test(states_sort_in_the_lifecycles_order),
        cmocka_unit_test(the_seed_example_and_a_state_order_build_their_statements),
        cmocka_unit_test(messages_quote_the_catalogs_own_fields),
        cmocka_unit_test(cursors_handed_out_before_the_library_still_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
