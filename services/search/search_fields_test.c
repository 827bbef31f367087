/*
 * The search document's DSL schema: it passes libs/dsl's check, every
 * filterable field of the catalog's schema is there with the same type,
 * flags and enumerated names (a saved filter means the same in ListLots
 * and Search), and the refused elements are refused with their name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "search.h"
#include "dsl/dsl_catalog.h"
#include "dsl/dsl_test_util.h"

static void search_schema_passes_the_check(void **state)
{
    (void)state;
    char err[256];
    if (dsl_schema_check(&dsl_search_schema, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void catalog_filters_mean_the_same_here(void **state)
{
    (void)state;
    for (int i = 0; dsl_catalog_fields[i].name != NULL; i++) {
        const dsl_field *c = &dsl_catalog_fields[i];
        if (c->type == DSL_OUTPUT)
            continue;
        int k = dsl_field_index(&dsl_search_schema, c->name);
        if (k < 0)
            fail_msg("catalog field %s is missing from the search schema", c->name);
        const dsl_field *s = &dsl_search_fields[k];
        assert_int_equal(s->type, c->type);
        assert_int_equal(s->flags, c->flags);
        for (int n = 0; c->names != NULL && c->names[n] != NULL; n++)
            assert_string_equal(s->names[n], c->names[n]);
    }
    assert_true(dsl_field_index(&dsl_search_schema, "current_price") >= 0);
    assert_true(dsl_field_index(&dsl_search_schema, "bid_count") >= 0);
}

static void paging_elements_are_refused(void **state)
{
    (void)state;
    static const char *const refused[] = { "[[\"fields\",\"id\"]]", "[[\"limit\",5]]",
                                           "[[\"cursor\",\"00\"]]", NULL };
    for (int i = 0; refused[i] != NULL; i++) {
        char err[256] = "";
        assert_int_equal(test_parse_rc(&dsl_search_schema, refused[i], err, sizeof err),
                         DSL_E_ELEMENT);
        assert_non_null(strstr(err, "element 0"));
    }
    char err[256];
    assert_int_equal(test_parse_rc(&dsl_search_schema,
                                   "[[\"lt\",\"current_price\",100],[\"order\",\"bid_count desc\"]]",
                                   err, sizeof err),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_schema_passes_the_check),
        cmocka_unit_test(catalog_filters_mean_the_same_here),
        cmocka_unit_test(paging_elements_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
