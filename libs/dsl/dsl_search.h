/*
 * dsl_search: the search document's DSL schema (dsl_search.c), what
 * gavel.search.v1.SearchRequest.filter_json may name over the search
 * daemon's denormalised table (alias d). The catalog's names (dsl_catalog)
 * mean the same thing here, plus current_price and bid_count, which only
 * the index knows. Search pages with its own page tokens, so "fields",
 * "limit" and "cursor" are refused.
 */
#ifndef GAVEL_DSL_SEARCH_H
#define GAVEL_DSL_SEARCH_H

#include "dsl.h"

/* The rows, ending with { 0 }. Constant data, any thread. */
extern const dsl_field dsl_search_fields[];
/* Search's schema over "docs d". */
extern const dsl_schema dsl_search_schema;

#endif
