/*
 * dsl_catalog: the lot catalog's DSL schema (dsl_catalog.c), the one table
 * of the fields a lot filter may name. auctions' ListLots turns it into
 * SQL; notifications parses saved searches with it and evaluates them
 * against new lots in memory (dsl_eval), so both read filters alike.
 */
#ifndef GAVEL_DSL_CATALOG_H
#define GAVEL_DSL_CATALOG_H

#include "dsl.h"

/* The rows, ending with { 0 }; row i is dsl_datum i of a lot for dsl_eval.
 * Constant data, any thread. */
extern const dsl_field dsl_catalog_fields[];
/* The lot states in the order "state" sorts in (gavel.auctions.v1.LotState's),
 * as the lots table and the search index spell them; NULL-terminated. */
extern const char *const dsl_lot_states[];
/* ListLots' schema over "lots l": every element allowed. */
extern const dsl_schema dsl_catalog_schema;

#endif
